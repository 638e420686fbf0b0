"""The web-form endpoint on a real Kafka broker that goes away under load and comes back: a PRIVATE broker
(tests/support/kafka_broker.py: own ports, own data), stopped and started by the test; the shared broker is
never touched. What the endpoint answered is checked against what is on the topic afterwards."""

import collections
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from ingest.transport import KafkaConfig, KafkaPublisher
from ingest.webform_endpoint import EndpointConfig, build_app
from tests.support.ingest import serve_in_thread
from tests.support.kafka_broker import consume_all
from transforms.records import complaint_id

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
KEY = b"outage-test-key"


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/webforms", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def health(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout:.0f} s"
        time.sleep(0.2)


class Load:
    """``senders`` threads posting distinct submissions until stopped; every answer is kept with its body."""

    def __init__(self, url: str, senders: int = 8):
        self.url, self.answers, self._stop = url, [], threading.Event()
        self._lock, self._count = threading.Lock(), 0
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(senders)]

    def _next(self) -> bytes:
        with self._lock:
            self._count += 1
            n = self._count
        return json.dumps(
            {
                "submission_id": f"wf-{n:06d}",
                "form_id": "complaint-v3",
                "submitted_at": "2026-11-26T09:00:00Z",
                "fields": {"message": f"complaint number {n}: no signal"},
            }
        ).encode()

    def _send(self):
        while not self._stop.is_set():
            body = self._next()
            status, answer = post(self.url, body)
            with self._lock:
                self.answers.append((body, status, answer))
            if status == 503:  # a sender backs off (Retry-After says 5 s; a tenth of a second keeps the test short)
                time.sleep(0.1)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(90)

    def statuses(self) -> collections.Counter:
        with self._lock:
            return collections.Counter(status for _, status, _ in self.answers)


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_kafka_stopped_and_restarted_under_load_every_202_is_on_the_topic_once_and_no_503_not_queued_is(
    private_kafka, outage
):
    """``stop``: a clean shutdown (SIGTERM); ``kill``: a crash (SIGKILL), in-flight requests unanswered."""
    topic = f"complaints.webforms.outage-{outage}"
    private_kafka.create_topic(topic)
    publisher = KafkaPublisher(
        KafkaConfig(bootstrap_servers=private_kafka.bootstrap_servers, topics={"twitter": "unused", "webform": topic}),
        message_timeout=4,
    )
    config = EndpointConfig(identity_key=KEY, delivery_timeout=4)
    try:
        with serve_in_thread(build_app(publisher, config)) as url, Load(url) as load:
            wait_for(lambda: load.statuses()[202] >= 50, 60, "50 posts accepted before the outage")
            getattr(private_kafka, outage)()
            wait_for(lambda: health(url) == 503, 30, "/healthz 503 with the broker down")
            wait_for(
                lambda: (
                    sum(1 for _, status, answer in load.answers if status == 503 and answer.get("queued") is False)
                    >= 50
                ),
                60,
                "50 posts refused as not queued while the broker is down",
            )
            private_kafka.start()
            wait_for(lambda: health(url) == 200, 60, "/healthz 200 after the broker came back")
            accepted_before = load.statuses()[202]
            wait_for(lambda: load.statuses()[202] >= accepted_before + 50, 60, "50 posts accepted after it")
    finally:
        publisher.close(10)

    on_topic = consume_all(private_kafka.bootstrap_servers, topic, timeout=60, idle=5)
    copies = collections.Counter(message.value() for message in on_topic)
    identities = {message.value(): dict(message.headers())["identity"].decode() for message in on_topic}
    outcomes = collections.defaultdict(list)
    for body, status, answer in load.answers:
        kind = {
            202: "accepted",
            503: {False: "not_queued", "unknown": "unknown"}.get(answer.get("queued"), "down"),
        }.get(status, status)
        outcomes[kind].append((body, answer))
    assert set(outcomes) <= {"accepted", "not_queued", "unknown", "down"}, set(outcomes)
    # every 202 is on the topic exactly once, byte for byte, with the identity whose complaint_id it answered
    for body, answer in outcomes["accepted"]:
        assert copies[body] == 1, (body, copies[body])
        assert complaint_id("webform", identities[body]) == answer["complaint_id"]
    # no 503 that said "not queued" (known down at the door, or refused) is there
    assert not [body for body, _ in outcomes["not_queued"] + outcomes["down"] if copies[body]]
    # an unknown outcome may be there, once at most (a retry of it would be the same complaint)
    assert all(copies[body] <= 1 for body, _ in outcomes["unknown"])
    # nothing is on the topic that the endpoint did not accept or call unknown
    answered = {body for body, _ in outcomes["accepted"] + outcomes["unknown"]}
    assert set(copies) <= answered
    assert len(outcomes["accepted"]) >= 100 and len(outcomes["not_queued"]) >= 50
