"""The ingestion edge with the real Kafka broker: what the web-form endpoint and the X connector accept is on
the topic, verbatim, with its content type."""

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from aiohttp import web

from ingest.transport import KafkaConfig, KafkaPublisher
from ingest.webform_endpoint import build_app
from ingest.x_stream import run_connector
from tests.support.ingest import serve_in_thread
from transforms.sources.messages import kafka_record, parse_message

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
REPO = Path(__file__).resolve().parents[2]


def consume(bootstrap: str, topic: str, expected: int, timeout: float = 30.0):
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    consumer.subscribe([topic])
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            messages.append(message)
    consumer.close()
    return messages


def test_webform_endpoint_publishes_to_kafka(kafka_services):
    topic = f"t{uuid.uuid4().hex[:8]}.webforms"
    config = KafkaConfig(
        bootstrap_servers=kafka_services["bootstrap_servers"], topics={"twitter": "unused", "webform": topic}
    )
    body = b"submission_id=wf-77&submitted_at=2026-11-26T09%3A00%3A00Z&message=no+signal"
    with serve_in_thread(build_app(KafkaPublisher(config))) as url:
        request = urllib.request.Request(
            f"{url}/webforms", data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
            answer = json.loads(response.read())
    [message] = consume(kafka_services["bootstrap_servers"], topic, 1)
    assert message.value() == body
    headers = dict(message.headers())
    assert headers["content_type"] == b"application/x-www-form-urlencoded"
    assert headers["client_ip"] == b"127.0.0.1" and headers["identity"].startswith(b"v1.")
    # the pipeline's live reader makes the record from the Kafka record and gives it the id the sender was told
    from types import SimpleNamespace

    row = SimpleNamespace(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp=message.timestamp()[1],
        value=message.value(),
        headers=message.headers(),
    )
    complaint = parse_message(kafka_record(row, {topic: "webform"}, "run-1", "b1"))
    assert complaint["complaint_id"] == answer["complaint_id"] and complaint["source_record_id"] == "wf-77"


def test_x_connector_publishes_to_kafka(kafka_services, tmp_path):
    topic = f"t{uuid.uuid4().hex[:8]}.twitter"
    lines = [
        json.dumps({"data": {"id": str(n), "text": "no signal", "created_at": "2026-11-26T09:00:00Z"}}).encode()
        for n in range(3)
    ]

    async def stream(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for line in lines:
            await response.write(line + b"\r\n")
        return response

    app = web.Application()
    app.router.add_get("/2/tweets/search/stream", stream)
    config = KafkaConfig(
        bootstrap_servers=kafka_services["bootstrap_servers"], topics={"twitter": topic, "webform": "unused"}
    )
    with serve_in_thread(app) as url:
        stats = run_connector(f"{url}/2/tweets/search/stream", "t", KafkaPublisher(config), tmp_path, max_posts=3)
    assert stats.published == 3
    # two partitions: Kafka orders within a partition only
    assert sorted(m.value() for m in consume(kafka_services["bootstrap_servers"], topic, 3)) == sorted(lines)


# -- the X connector when Kafka goes away: a private broker this test stops and restarts ------------------------
@pytest.fixture()
def private_kafka(tmp_path):
    """A broker of the test's own (own ports and data directory), never the shared one on 9092."""
    from tests.support.kafka_broker import PrivateKafka
    from tests.support.services import unavailable

    kafka = PrivateKafka(tmp_path / "kafka")
    if kafka.available():
        unavailable(kafka.available())
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()


def post(n: int) -> bytes:
    return (
        json.dumps(
            {
                "data": {
                    "id": str(n),
                    "text": f"no signal {n}",
                    "created_at": "2026-11-26T09:00:00.000Z",
                    "author_id": "1",
                }
            }
        ).encode()
        + b"\r\n"
    )


def ids_on(bootstrap: str, topic: str, expected: int, timeout: float = 60.0, quiet: float = 3.0) -> list[str]:
    """Every post id on ``topic``: read until ``expected`` came, then until ``quiet`` s pass with nothing new (so
    a duplicate beyond the expected count would be seen)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"ids-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    consumer.subscribe([topic])
    ids, deadline, last_new = [], time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline and (len(ids) < expected or time.monotonic() - last_new < quiet):
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            ids.append(json.loads(message.value())["data"]["id"])
            last_new = time.monotonic()
    consumer.close()
    return ids


def keep_alives_until_closed(response, seconds: float = 60):
    """Hold a stream open with X's keep-alives until the client goes (or ``seconds``)."""

    async def hold():
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                await response.write(b"\r\n")
                await asyncio.sleep(0.3)
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    return hold()


def test_x_connector_loses_nothing_when_kafka_is_down_longer_than_the_producer_timeout(private_kafka, tmp_path):
    """Kafka stops after posts 0-3 are on the topic, for longer than the producer's 30 s message timeout, while X
    goes on sending (an ``{"errors": 5}`` line among the posts); then X disconnects and the reconnect's backfill
    replays five posts. Every post id is on the topic exactly once, the replays are counted duplicates, nothing
    is lost or left in the spool."""
    topic, queries, before_stop = f"t{uuid.uuid4().hex[:8]}.twitter", [], []
    sent_four, broker_down = threading.Event(), threading.Event()

    async def stream(request):
        queries.append(dict(request.query))
        response = web.StreamResponse()
        await response.prepare(request)
        if len(queries) == 1:
            for n in range(80):
                await response.write(post(n))
                if n == 3:  # Kafka stops once 0-3 are on the topic: no post is in flight at that moment
                    sent_four.set()
                    while not broker_down.is_set():
                        await asyncio.sleep(0.1)
                if n == 5:
                    await response.write(b'{"errors": 5}\r\n')
                if n % 10 == 9:
                    await response.write(b"\r\n")
                await asyncio.sleep(0.5)
            await response.write(
                b'{"errors": [{"title": "operational-disconnect", "disconnect_type": '
                b'"UpstreamOperationalDisconnect", "detail": "maintenance"}]}\r\n'
            )
            return response
        for n in [*range(75, 80), *range(80, 100)]:  # the backfill (75-79 again), then new posts
            await response.write(post(n))
            await asyncio.sleep(0.5)
        return await keep_alives_until_closed(response)

    def outage():
        sent_four.wait(60)
        before_stop.extend(
            json.loads(m.value())["data"]["id"] for m in consume(private_kafka.bootstrap_servers, topic, 4, timeout=60)
        )
        private_kafka.stop()
        broker_down.set()
        time.sleep(38)  # longer than the producer's message.timeout.ms (30 s)
        private_kafka.start()

    app = web.Application()
    app.router.add_get("/2/tweets/search/stream", stream)
    config = KafkaConfig(bootstrap_servers=private_kafka.bootstrap_servers, topics={"twitter": topic, "webform": "w"})
    private_kafka.create_topic(topic)
    publisher = KafkaPublisher(config)
    spool = tmp_path / "spool"
    outage_thread = threading.Thread(target=outage, daemon=True)
    outage_thread.start()
    with serve_in_thread(app) as url:
        stats = run_connector(
            f"{url}/2/tweets/search/stream", "t", publisher, spool, max_posts=100, flush_seconds=120, retry_seconds=1
        )
    outage_thread.join(60)
    delivery = stats.delivery
    ids = ids_on(private_kafka.bootstrap_servers, topic, 100)
    twice = sorted(n for n, times in collections.Counter(ids).items() if times > 1)
    assert sorted(ids, key=int) == [str(n) for n in range(100)], (stats, twice, before_stop)  # each exactly once
    assert (delivery.read, delivery.published, delivery.duplicates, delivery.spooled, delivery.lost) == (
        105,
        100,
        5,
        0,
        0,
    ), stats
    assert delivery.spool_writes > 0 and delivery.balanced()  # the outage did hit, and the spool carried it
    assert stats.operational_messages == 2 and stats.connections == 2, stats
    assert "backfill_minutes" not in queries[0] and queries[1]["backfill_minutes"] == "5"
    assert list(spool.glob("*.jsonl")) == []


def run_cli(*arguments: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "beam_pipelines", "ingest", "x", *arguments],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_x_stream_sigterm_flushes_spools_the_undelivered_and_the_next_start_sends_them(private_kafka, tmp_path):
    """``complaints ingest x`` publishes posts 1-5; Kafka stops; posts 6-15 are read; SIGTERM: it stops reading,
    waits ``--flush-seconds``, writes 6-15 to the spool, prints the summary and exits 0. Kafka back, the next
    start sends the spool: 1-16 are on the topic exactly once."""
    topic, spool = f"t{uuid.uuid4().hex[:8]}.twitter", tmp_path / "spool"
    more, sent = threading.Event(), threading.Event()

    async def first(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for n in range(1, 6):
            await response.write(post(n))
        while not more.is_set():
            await response.write(b"\r\n")
            await asyncio.sleep(0.2)
        for n in range(6, 16):
            await response.write(post(n))
        sent.set()
        return await keep_alives_until_closed(response)

    async def second(request):
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(post(16))
        return await keep_alives_until_closed(response)

    private_kafka.create_topic(topic)
    env = {**os.environ, "PYTHONPATH": str(REPO), "X_BEARER_TOKEN": "t"}
    flags = [
        "--transport",
        "kafka",
        "--bootstrap-servers",
        private_kafka.bootstrap_servers,
        "--twitter-topic",
        topic,
        "--spool-dir",
        str(spool),
    ]
    app = web.Application()
    app.router.add_get("/2/tweets/search/stream", first)
    with serve_in_thread(app) as url:
        cli = run_cli("--url", f"{url}/2/tweets/search/stream", "--flush-seconds", "3", *flags, env=env)
        try:
            assert len(consume(private_kafka.bootstrap_servers, topic, 5, timeout=60)) == 5
            private_kafka.stop()
            more.set()
            assert sent.wait(30)
            time.sleep(2)  # the connector reads the ten posts (they wait on the producer's queue)
            cli.send_signal(signal.SIGTERM)
            out, err = cli.communicate(timeout=60)
        finally:
            if cli.poll() is None:
                cli.kill()
    assert cli.returncode == 0, err
    assert "SIGTERM: stopping" in err and "Traceback" not in err
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith(
            "complaints ingest x: read 15, recovered from the spool 0, published 5, duplicates 0, spooled 10, lost 0"
        )
    )
    spooled = [
        json.loads(line)["data"]["id"] for path in spool.glob("*.jsonl") for line in path.read_text().splitlines()
    ]
    assert sorted(spooled, key=int) == [str(n) for n in range(6, 16)]

    private_kafka.start()
    app = web.Application()
    app.router.add_get("/2/tweets/search/stream", second)
    with serve_in_thread(app) as url:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "beam_pipelines",
                "ingest",
                "x",
                "--url",
                f"{url}/2/tweets/search/stream",
                "--max-posts",
                "1",
                "--flush-seconds",
                "60",
                *flags,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith(
            "complaints ingest x: read 1, recovered from the spool 10, published 11, duplicates 0, spooled 0, lost 0"
        )
    )
    ids = ids_on(private_kafka.bootstrap_servers, topic, 16)
    assert sorted(ids, key=int) == [str(n) for n in range(1, 17)]  # each exactly once
    assert list(spool.glob("*.jsonl")) == []
