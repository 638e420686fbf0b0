"""The web-form endpoint against a real HTTP server on localhost, driven over raw sockets where the way the bytes
arrive matters (bodies in pieces, bodies that never come, 100-continue). The transport is a recording publisher
here; the real broker, stopped and restarted under load, is in tests/e2e/test_webform_kafka_outage.py."""

import datetime as dt
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from ingest.transport import Delivery, Outcome
from ingest.webform_endpoint import (
    BadSubmission,
    EndpointConfig,
    RateLimiter,
    build_app,
    client_ip,
    issue_form_token,
    submission_identity,
    verify_form_token,
)
from tests.support.ingest import DeliveringPublisher, serve_in_thread
from tests.support.ingest import post as post_to
from tests.support.records import make_raw
from transforms.records import RecordError, complaint_id
from transforms.sources.messages import message_record, parse_message
from transforms.sources.webforms import parse_webform

FORM, JSON = "application/x-www-form-urlencoded", "application/json"
KEY = b"test-identity-key"


def submission(n="wf-1", message="no network since morning", **extra) -> bytes:
    return json.dumps(
        {
            "submission_id": n,
            "form_id": "complaint-v3",
            "submitted_at": "2026-11-26T09:00:00Z",
            "fields": {"message": message, "email": "ada@example.com"},
            **extra,
        }
    ).encode()


@pytest.fixture()
def serve():
    """serve(publisher=None, **config) -> (url, publisher): the endpoint on a real port for this test."""
    stack = []

    def start(publisher=None, **config):
        publisher = publisher or DeliveringPublisher()
        context = serve_in_thread(build_app(publisher, EndpointConfig(identity_key=KEY, **config)))
        stack.append(context)
        return context.__enter__(), publisher

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


def post(url, body: bytes, content_type: str | None = JSON, headers: dict | None = None, path="/webforms"):
    return post_to(f"{url}{path}", body, content_type, headers)


class Raw:
    """One HTTP/1.1 connection driven by hand."""

    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=20)

    def send(self, data: bytes, pause: float = 0.0):
        self.sock.sendall(data)
        time.sleep(pause)

    def response(self) -> tuple[int, dict, bytes]:
        """The next response (status, headers, body), skipping nothing: an interim 100 is returned as is."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {data!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        status = int(lines[0].split()[1])
        length = int(headers.get("content-length", 0))
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.leftover = rest[length:]
        return status, headers, rest[:length]

    def closed_by_server(self, within: float = 5.0) -> bool:
        self.sock.settimeout(within)
        try:
            return self.sock.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            return False

    def close(self):
        self.sock.close()


@pytest.fixture()
def connect():
    """connect(url) -> a Raw connection, closed when the test ends."""
    opened = []

    def open_one(url: str) -> Raw:
        opened.append(Raw(url))
        return opened[-1]

    yield open_one
    for raw in opened:
        raw.close()


def head(length, content_type=JSON, extra: str = "") -> bytes:
    return (
        f"POST /webforms HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


# -- whole bodies, whatever the segments ------------------------------------------------------------------------
def test_a_form_body_in_two_segments_50_ms_apart_is_published_whole(serve, connect):
    url, publisher = serve()
    body = b"submission_id=wf-1&submitted_at=2026-11-26T09%3A00%3A00Z&message=hello+world+and+more"
    cut = body.index(b"+world")
    raw = connect(url)
    raw.send(head(len(body), FORM) + body[:cut], pause=0.05)
    raw.send(body[cut:])
    status, _, answer = raw.response()
    raw.close()
    assert status == 202, answer
    assert [payload for _, payload, _ in publisher.messages] == [body]


def test_a_json_body_in_many_1448_byte_segments_with_delays_is_published_whole(serve, connect):
    url, publisher = serve()
    body = submission(message="the network drops every evening " * 300)  # ~10 KB: seven segments
    raw = connect(url)
    raw.send(head(len(body)))
    for start in range(0, len(body), 1448):
        raw.send(body[start : start + 1448], pause=0.02)
    status, _, answer = raw.response()
    raw.close()
    assert status == 202, answer
    assert publisher.messages[0][1] == body


def test_a_body_shorter_than_its_content_length_is_408_after_the_body_timeout_and_not_published(serve, connect):
    url, publisher = serve(body_timeout=1.0)
    body = b'{"submission_id": "wf-2", "submitted_at": "2026-11-26T09:00:00Z"}'
    raw = connect(url)
    raw.send(head(500) + body)
    status, headers, answer = raw.response()
    assert status == 408 and "did not arrive" in json.loads(answer)["error"]
    assert headers["connection"] == "close" and raw.closed_by_server()  # the connection is freed
    assert publisher.handed == []


def test_headers_without_a_body_get_408_and_the_connection_is_freed(serve, connect):
    url, publisher = serve(body_timeout=1.0)
    raw = connect(url)
    raw.send(head(60))
    status, _, _ = raw.response()
    assert status == 408 and raw.closed_by_server()
    # a chunked body that never ends is the same
    raw = connect(url)
    raw.send(
        b"POST /webforms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n'
    )
    status, _, _ = raw.response()
    assert status == 408 and raw.closed_by_server()
    assert publisher.handed == []


def test_a_client_that_goes_away_mid_body_is_one_log_line_not_a_traceback(serve, connect, caplog):
    url, publisher = serve()
    with caplog.at_level(logging.INFO):
        raw = connect(url)
        raw.send(head(300) + b'{"submission_id": "wf-3"', pause=0.2)
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        raw.close()
        time.sleep(0.5)
        status, _, _ = post(url, submission("wf-4"))  # the server goes on
    assert status == 202 and [m[1] for m in publisher.messages] == [submission("wf-4")]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert any("went away" in r.getMessage() for r in caplog.records)


def test_the_64_kib_limit_holds_for_a_chunked_body_too(serve, connect):
    url, publisher = serve()
    raw = connect(url)
    raw.send(
        b"POST /webforms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n" + (b"8000\r\n" + b"x" * 0x8000 + b"\r\n") * 3 + b"0\r\n\r\n"
    )
    status, _, answer = raw.response()
    assert status == 413 and "larger than 65536" in json.loads(answer)["error"]
    assert publisher.handed == []


# -- refusals before 100 Continue ---------------------------------------------------------------------------------
def test_expect_100_continue_gets_413_at_once_and_never_100_for_a_body_too_large(serve, connect):
    url, _ = serve()
    raw = connect(url)
    raw.send(head(900_000, extra="Expect: 100-continue\r\n"))
    status, headers, _ = raw.response()
    assert status == 413 and headers["connection"] == "close"


def test_expect_100_continue_from_a_refused_origin_gets_403_and_never_100(serve, connect):
    url, _ = serve(allowed_origins=frozenset({"https://www.beejan.example"}))
    raw = connect(url)
    raw.send(head(100, extra="Expect: 100-continue\r\nOrigin: https://evil.example\r\n"))
    status, _, answer = raw.response()
    assert status == 403 and "evil.example" in json.loads(answer)["error"]


def test_expect_100_continue_for_an_acceptable_post_gets_100_then_202(serve, connect):
    url, publisher = serve()
    body = submission("wf-5")
    raw = connect(url)
    raw.send(head(len(body), extra="Expect: 100-continue\r\n"))
    assert raw.response()[0] == 100
    raw.send(body)
    assert raw.response()[0] == 202
    assert publisher.messages[0][1] == body


# -- what the pipeline would dead-letter is refused at the edge -----------------------------------------------------
@pytest.mark.parametrize(
    "payload, reason",
    [
        ({"submission_id": True, "submitted_at": "2026-11-26T09:00:00Z"}, "submission_id must be text"),
        ({"submission_id": "x" * 5000, "submitted_at": "2026-11-26T09:00:00Z"}, "invalid_record_id"),
        ({"submission_id": "wf-1\nwf-2", "submitted_at": "2026-11-26T09:00:00Z"}, "invalid_record_id"),
        ({"submission_id": "wf-1", "submitted_at": "not a date"}, "submitted_at"),
        ({"submission_id": 1.5e18, "submitted_at": "2026-11-26T09:00:00Z"}, "must be text"),
        ({"submission_id": "wf-1", "submitted_at": "2026-11-26T09:00:00Z", "fields": [1]}, "'fields' is not an object"),
        (
            {"submission_id": "wf-1", "submitted_at": "2026-11-26T09:00:00Z", "fields": {"phone": True}},
            "phone is not text",
        ),
    ],
)
def test_what_the_pipeline_would_dead_letter_is_400_with_its_reason(serve, payload, reason):
    url, publisher = serve()
    status, answer, _ = post(url, json.dumps(payload).encode())
    assert status == 400 and reason in answer["error"], answer
    assert publisher.handed == []
    # the pipeline's parser agrees: the same body from a file is a dead letter
    with pytest.raises(RecordError):
        parse_webform(make_raw("webform", json.dumps(payload), source_file="w.jsonl"))


def test_a_form_post_with_a_bad_date_is_400(serve):
    url, publisher = serve()
    status, answer, _ = post(url, b"submission_id=wf-1&submitted_at=yesterday&message=x", FORM)
    assert status == 400 and "submitted_at" in answer["error"] and publisher.handed == []


# -- identity ------------------------------------------------------------------------------------------------------
def metrics(url) -> dict:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if not line.startswith("#")}


def test_a_retry_is_one_complaint_an_edit_or_a_claimed_id_is_another_and_collisions_are_counted(serve):
    url, _ = serve()
    first = post(url, submission("wf-7", "charged twice"))[1]
    retry = post(url, submission("wf-7", "charged twice"))[1]
    edited = post(url, submission("wf-7", "charged twice for November"))[1]
    claimed = post(url, submission("wf-7", "spam claiming the id first"))[1]
    assert first["complaint_id"] == retry["complaint_id"]
    assert len({first["complaint_id"], edited["complaint_id"], claimed["complaint_id"]}) == 3
    counted = metrics(url)
    assert counted["webform_identity_collisions_total"] == 2 and counted["webform_retries_total"] == 1
    # the same fields in another order, and another client block (IP, user agent), are the same content
    reordered = json.dumps(
        {
            "submitted_at": "2026-11-26T09:00:00Z",
            "form_id": "complaint-v3",
            "fields": {"email": "ada@example.com", "message": "charged twice"},
            "submission_id": "wf-7",
            "client": {"ip": "198.51.100.9"},
        }
    ).encode()
    assert post(url, reordered)[1]["complaint_id"] == first["complaint_id"]
    # another form's wf-7 is another submission
    assert (
        post(url, submission("wf-7", "charged twice", form_id="other-form"))[1]["complaint_id"] != first["complaint_id"]
    )


def test_the_pipeline_gives_a_live_post_the_complaint_id_the_endpoint_answered(serve):
    url, publisher = serve()
    body = submission("wf-8")
    answer = post(url, body)[1]
    [(_, payload, attributes)] = publisher.messages
    record = message_record(
        "webform",
        payload,
        "complaints.webforms/0/17",
        17,
        dt.datetime(2026, 11, 26, 9, 0, 1, tzinfo=dt.UTC),
        attributes,
        "run-1",
        "b1",
    )
    complaint = parse_message(record)
    assert complaint["complaint_id"] == answer["complaint_id"]
    assert complaint["source_record_id"] == "wf-8"
    # a web-form FILE keeps the contract's identity: the submission id, whatever its attributes say
    from_file = parse_webform(
        make_raw(
            "webform", body.decode(), source_file="webforms/day.jsonl", attributes={"identity": attributes["identity"]}
        )
    )
    assert from_file["complaint_id"] == complaint_id("webform", "wf-8")
    # a replayed message without the endpoint's attribute (complaints ingest publish) is identified as a file is
    assert parse_message({**record, "attributes": {"content_type": JSON}})["complaint_id"] == complaint_id(
        "webform", "wf-8"
    )


def test_an_identity_attribute_the_endpoint_does_not_make_is_a_dead_letter_not_a_silent_fallback():
    record = message_record(
        "webform",
        submission("wf-9"),
        "t/0/1",
        1,
        dt.datetime(2026, 11, 26, tzinfo=dt.UTC),
        {"content_type": JSON, "identity": "wf-9"},
        "run-1",
        "b1",
    )
    with pytest.raises(Exception, match="identity attribute"):
        parse_message(record)


def test_submission_identity_depends_on_key_form_id_content_and_token():
    base = submission_identity(KEY, "f", "wf-1", "d1", "")
    assert base == submission_identity(KEY, "f", "wf-1", "d1", "")
    assert (
        len(
            {
                base,
                submission_identity(b"other", "f", "wf-1", "d1", ""),
                submission_identity(KEY, "g", "wf-1", "d1", ""),
                submission_identity(KEY, "f", "wf-2", "d1", ""),
                submission_identity(KEY, "f", "wf-1", "d2", ""),
                submission_identity(KEY, "f", "wf-1", "d1", "n"),
            }
        )
        == 6
    )


# -- origin, CORS, rate limit, form token, client IP, access log -------------------------------------------------
ALLOWED = "https://www.beejan.example"


def test_a_cross_site_post_is_refused_and_an_allowed_origin_gets_cors_headers(serve):
    url, publisher = serve(allowed_origins=frozenset({ALLOWED}))
    status, answer, _ = post(url, submission("wf-10"), headers={"Origin": "https://evil.example"})
    assert status == 403 and "evil.example" in answer["error"] and publisher.handed == []
    status, _, headers = post(url, submission("wf-11"), headers={"Origin": ALLOWED})
    assert status == 202 and headers["Access-Control-Allow-Origin"] == ALLOWED and headers["Vary"] == "Origin"
    status, _, headers = post(url, submission("wf-12"))  # a server-to-server webhook sends no Origin
    assert status == 202 and "Access-Control-Allow-Origin" not in headers


def test_require_origin_refuses_a_post_without_one(serve):
    url, publisher = serve(allowed_origins=frozenset({ALLOWED}), require_origin=True)
    assert post(url, submission("wf-13"))[0] == 403 and publisher.handed == []


def options(url, origin, method="POST"):
    request = urllib.request.Request(
        f"{url}/webforms",
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_a_preflight_is_answered_for_allowed_origins_only(serve):
    url, _ = serve(allowed_origins=frozenset({ALLOWED}))
    status, headers = options(url, ALLOWED)
    assert status == 204 and headers["Access-Control-Allow-Origin"] == ALLOWED
    assert headers["Access-Control-Allow-Methods"] == "POST"
    assert "Content-Type" in headers["Access-Control-Allow-Headers"]
    assert options(url, "https://evil.example")[0] == 403
    assert options(url, ALLOWED, method="DELETE")[0] == 403


def test_the_rate_limit_is_per_client_ip_and_x_forwarded_for_counts_only_from_a_trusted_proxy(serve):
    url, publisher = serve(rate_per_minute=1, rate_burst=2)
    spoofed = [post(url, submission(f"wf-r{n}"), headers={"X-Forwarded-For": f"203.0.113.{n}"})[0] for n in range(3)]
    assert spoofed == [202, 202, 429]  # a forged header from an untrusted peer buys no new bucket
    status, answer, headers = post(url, submission("wf-r9"))
    assert status == 429 and int(headers["Retry-After"]) >= 1 and "too many" in answer["error"]

    import ipaddress

    url, publisher = serve(rate_per_minute=1, rate_burst=2, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    behind_proxy = [
        post(url, submission(f"wf-p{n}"), headers={"X-Forwarded-For": f"203.0.113.{n % 2}"})[0] for n in range(5)
    ]
    assert behind_proxy == [202, 202, 202, 202, 429]  # two clients, two buckets of two
    assert [attributes["client_ip"] for _, _, attributes in publisher.messages] == [
        "203.0.113.0",
        "203.0.113.1",
        "203.0.113.0",
        "203.0.113.1",
    ]


def test_client_ip_believes_only_trusted_proxies():
    import ipaddress

    proxies = (ipaddress.ip_network("10.0.0.0/8"),)
    assert client_ip("198.51.100.1", "203.0.113.5", proxies) == "198.51.100.1"  # not a proxy: header ignored
    assert client_ip("10.0.0.2", "203.0.113.5", proxies) == "203.0.113.5"
    # the client can write anything left of what the proxy appended: the right-most untrusted entry counts
    assert client_ip("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.0.0.9", proxies) == "203.0.113.5"
    assert client_ip("10.0.0.2", "not-an-ip", proxies) == "10.0.0.2"
    assert client_ip("10.0.0.2", None, proxies) == "10.0.0.2"


def test_rate_limiter_refills_at_its_rate():
    limiter = RateLimiter(per_minute=60, burst=2)
    assert [limiter.allow("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.allow("a", now=1.0) == 0.0 and limiter.allow("b", now=1.0) == 0.0
    assert RateLimiter(per_minute=0, burst=1).allow("a") == 0.0  # 0: no limit


def test_a_signed_form_token_is_needed_when_configured_and_scopes_the_identity(serve):
    token_key = b"form-token-key"
    url, _ = serve(form_token_key=token_key)
    assert post(url, submission("wf-20"))[0] == 403
    assert post(url, submission("wf-20"), headers={"X-Form-Token": "1.2.3"})[0] == 403
    expired = issue_form_token(token_key, now=time.time() - 3601)  # the endpoint's default ttl is an hour
    assert "expired" in post(url, submission("wf-20"), headers={"X-Form-Token": expired})[1]["error"]
    token, other = issue_form_token(token_key), issue_form_token(token_key)
    first = post(url, submission("wf-20"), headers={"X-Form-Token": token})
    again = post(url, submission("wf-20"), headers={"X-Form-Token": token})
    someone_else = post(url, submission("wf-20"), headers={"X-Form-Token": other})
    assert first[0] == again[0] == someone_else[0] == 202
    assert first[1]["complaint_id"] == again[1]["complaint_id"] != someone_else[1]["complaint_id"]
    forged = token.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAA"
    assert post(url, submission("wf-20"), headers={"X-Form-Token": forged})[0] == 403


def test_the_endpoint_refuses_a_form_token_older_than_its_ttl_and_says_why(serve):
    """How long a form token is good is the endpoint's setting (``[webform] form_token_ttl_seconds``), not the
    page's that issued it: a token issued two minutes ago is refused where tokens are good for one minute."""
    from beam_pipelines.config import WebformSettings

    token_key = b"form-token-key"
    config = EndpointConfig.from_settings(WebformSettings(form_token_ttl_seconds=60), b"identity", token_key)
    assert config.form_token_ttl == 60
    url, _ = serve(form_token_key=token_key, form_token_ttl=config.form_token_ttl)
    stale = issue_form_token(token_key, now=time.time() - 120)
    status, answer, _ = post(url, submission("wf-21"), headers={"X-Form-Token": stale})
    assert status == 403
    assert re.fullmatch(
        r"expired X-Form-Token: issued 12\d s ago, and form tokens are good for 60 s "
        r"\(\[webform\] form_token_ttl_seconds\): load the form again",
        answer["error"],
    )
    fresh = issue_form_token(token_key, now=time.time() - 30)
    assert post(url, submission("wf-21"), headers={"X-Form-Token": fresh})[0] == 202


def test_verify_form_token():
    token = issue_form_token(b"k", now=1000)
    assert verify_form_token(b"k", token, ttl_seconds=60, now=1060)
    with pytest.raises(BadSubmission, match="expired"):
        verify_form_token(b"k", token, ttl_seconds=60, now=1061)
    with pytest.raises(BadSubmission, match="invalid"):
        verify_form_token(b"other", token, ttl_seconds=60, now=1000)
    assert verify_form_token(b"k", token, ttl_seconds=60, now=940)  # the page's clock a minute fast
    with pytest.raises(BadSubmission, match="issued 61 s in the future"):
        verify_form_token(b"k", token, ttl_seconds=60, now=939)


def test_one_access_log_line_per_request_without_body_content(serve, caplog):
    from ingest.webform_endpoint import ACCESS_LOG, AccessLogger

    publisher = DeliveringPublisher()
    app = build_app(publisher, EndpointConfig(identity_key=KEY))
    runner_kwargs = {"access_log": ACCESS_LOG, "access_log_class": AccessLogger}
    with caplog.at_level(logging.INFO, logger=ACCESS_LOG.name), serve_in_thread(app, **runner_kwargs) as url:
        post(url, submission("wf-30", "my secret account details"))
        post(url, b"{", JSON)
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOG.name]
    assert len(lines) == 2
    assert lines[0].startswith('127.0.0.1 "POST /webforms" 202')
    assert lines[1].startswith('127.0.0.1 "POST /webforms" 400')
    assert "reason=invalid" in lines[1]
    assert not any("secret" in line or "wf-30" in line for line in lines)


# -- the transport's answers -------------------------------------------------------------------------------------
def test_an_unknown_delivery_is_503_that_says_so_and_that_a_retry_is_safe(serve):
    url, _ = serve(DeliveringPublisher(report=False), delivery_timeout=0.2)
    status, answer, headers = post(url, submission("wf-40"))
    assert status == 503 and answer["queued"] == "unknown" and "safe" in answer["error"]
    assert answer["complaint_id"] and headers["Retry-After"] == "5"


def test_a_known_down_transport_fails_fast_and_health_says_so(serve):
    publisher = DeliveringPublisher()
    url, _ = serve(publisher)
    publisher.state.mark(False, "_ALL_BROKERS_DOWN: 1/1 brokers are down")
    status, answer, headers = post(url, submission("wf-41"))
    assert status == 503 and headers["Retry-After"] == "5" and "transport down" in answer["error"]
    assert publisher.handed == []
    with pytest.raises(urllib.error.HTTPError) as health:
        urllib.request.urlopen(f"{url}/healthz", timeout=5)
    assert health.value.code == 503 and "brokers are down" in json.loads(health.value.read())["transport"]
    assert metrics(url)["webform_transport_up"] == 0
    publisher.state.mark(True)
    assert post(url, submission("wf-41"))[0] == 202


def test_many_concurrent_posts_each_get_their_own_outcome(serve):
    """The old endpoint flushed the whole producer per request, so one request could get another's failure."""

    class Alternating(DeliveringPublisher):
        def deliver(self, source, payload, attributes, done):
            n = int(json.loads(payload)["submission_id"].removeprefix("wf-c"))
            self.outcome = Delivery(Outcome.DELIVERED if n % 2 else Outcome.NOT_DELIVERED, "refused")
            super().deliver(source, payload, attributes, done)

    url, _ = serve(Alternating())
    results = {}

    def one(n):
        results[n] = post(url, submission(f"wf-c{n}"))[0]

    threads = [threading.Thread(target=one, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: 202 if n % 2 else 503 for n in range(40)}


def test_the_command_without_its_identity_key_is_one_line_and_exit_2():
    import os
    import subprocess
    import sys

    from tests.support.paths import REPO

    env = {k: v for k, v in os.environ.items() if k != "COMPLAINTS_WEBFORM_IDENTITY_KEY"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "ingest",
            "webform",
            "--transport",
            "kafka",
            "--profile",
            "prod",
            "--bootstrap-servers",
            "localhost:1",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "complaints ingest webform: the web-form endpoint needs its identity key: set the environment variable "
        "COMPLAINTS_WEBFORM_IDENTITY_KEY"
    ]


def test_fifty_posts_wait_for_their_reports_at_once_with_no_pool_to_queue_behind(serve):
    """The old endpoint waited in the default executor (6 threads): 50 posts waiting on a slow broker queued
    behind each other. Here the broker answers only once all 50 messages are in its hands."""

    class Gate(DeliveringPublisher):
        def __init__(self, count):
            super().__init__(report=False)
            self.count, self.waiting = count, []

        def deliver(self, source, payload, attributes, done):
            super().deliver(source, payload, attributes, done)
            self.waiting.append(done)
            if len(self.waiting) == self.count:
                for report in self.waiting:
                    report(Delivery(Outcome.DELIVERED))

    url, publisher = serve(Gate(50), delivery_timeout=30)
    results = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(post(url, submission(f"wf-g{n}"))[0])) for n in range(50)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [202] * 50 and len(publisher.handed) == 50


@pytest.mark.parametrize(
    "payload, reason",
    [
        ({"submission_id": "wf-1", "submitted_at": "1970-01-01T00:00:00Z"}, "event_time_out_of_range"),
        (
            {"submission_id": "wf-1", "submitted_at": "2026-11-26T09:00:00Z", "fields": {"message": "x" * 20_001}},
            "text_too_long",
        ),
    ],
)
def test_what_the_pipeline_s_validation_would_reject_is_400_too(serve, payload, reason):
    url, publisher = serve()
    status, answer, _ = post(url, json.dumps(payload).encode())
    assert status == 400 and answer["error"].startswith(reason), answer
    assert publisher.handed == []


def test_delivery_reports_are_classified_by_what_they_prove():
    from confluent_kafka import KafkaError
    from google.api_core import exceptions

    from ingest.transport import kafka_delivery, pubsub_delivery

    assert kafka_delivery(None).outcome is Outcome.DELIVERED
    # librdkafka gave up on a message that may have reached the broker: nobody can say
    assert kafka_delivery(KafkaError(KafkaError._MSG_TIMED_OUT)).outcome is Outcome.UNKNOWN
    assert kafka_delivery(KafkaError(KafkaError.REQUEST_TIMED_OUT)).outcome is Outcome.UNKNOWN
    # refused, locally or by the broker: certainly not on the topic
    assert kafka_delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)).outcome is Outcome.NOT_DELIVERED
    assert kafka_delivery(KafkaError(KafkaError._PURGE_QUEUE)).outcome is Outcome.NOT_DELIVERED
    assert "MSG_SIZE_TOO_LARGE" in kafka_delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)).detail
    assert pubsub_delivery(exceptions.NotFound("no topic")).outcome is Outcome.NOT_DELIVERED
    assert pubsub_delivery(exceptions.PermissionDenied("no")).outcome is Outcome.NOT_DELIVERED
    assert pubsub_delivery(exceptions.DeadlineExceeded("slow")).outcome is Outcome.UNKNOWN
    assert pubsub_delivery(exceptions.ServiceUnavailable("down")).outcome is Outcome.UNKNOWN


def test_a_live_post_reprocessed_from_the_lake_keeps_its_complaint_id(serve, tmp_path):
    import orjson

    from transforms.sources.lake import lake_records

    url, publisher = serve()
    answer = post(url, submission("wf-50", "billed twice"))[1]
    [(_, payload, attributes)] = publisher.messages
    record = message_record(
        "webform",
        payload,
        "complaints.webforms/1/5",
        5,
        dt.datetime(2026, 11, 26, 9, 0, 1, tzinfo=dt.UTC),
        attributes,
        "run-1",
        "b1",
    )
    lake_file = tmp_path / "source=webform" / "ingest_date=2026-11-26" / "b1-live-0.jsonl"
    lake_file.parent.mkdir(parents=True)
    lake_file.write_bytes(orjson.dumps(record) + b"\n")
    [again] = lake_records(
        str(lake_file), str(lake_file), run_id="run-2", batch_id="b2", ingested_at="2026-12-01T00:00:00+00:00"
    )
    assert parse_message(again)["complaint_id"] == answer["complaint_id"]


def test_a_transport_without_a_probe_reads_as_up_again_after_its_recheck_time():
    from ingest.transport import BrokerState

    state = BrokerState(recheck_after=0.2)
    state.mark(False, "DeadlineExceeded")
    assert state.snapshot() == (False, "DeadlineExceeded")
    time.sleep(0.3)
    assert state.snapshot() == (True, "")
    state.mark(False, "DeadlineExceeded again")  # the recheck failed: down for another while
    assert state.snapshot() == (False, "DeadlineExceeded again")
    assert BrokerState().snapshot() == (True, "")


def test_the_rate_limiter_stays_bounded_under_a_flood_from_many_addresses_and_counts_ipv6_by_64():
    from ingest.webform_endpoint import rate_key

    limiter = RateLimiter(per_minute=1, burst=1, max_clients=1000)
    for n in range(10_000):
        limiter.allow(f"client-{n}", now=0.0)  # each bucket just emptied: nothing is full to drop
    assert len(limiter) <= 1000
    assert limiter.allow("client-9999", now=0.0) > 0  # the most recent clients are still limited
    assert rate_key("2001:db8:1:2:aaaa::1") == rate_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("203.0.113.7") == "203.0.113.7" and rate_key("::ffff:203.0.113.7") == "203.0.113.7"
