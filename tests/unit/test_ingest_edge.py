"""The ingestion edge against real local HTTP servers: the web-form endpoint (requests over a socket) and the
X filtered-stream connector (a local server that disconnects, errors, rate-limits, stalls and sends junk)."""
import asyncio
import json
import urllib.error
import urllib.request

import pytest
from aiohttp import web

from ingest.webform_endpoint import build_app
from ingest.x_stream import Backoff, XStreamError, classify_line, run_connector
from ingest.transport import TransportError
from tests.ingest_helpers import RecordingPublisher, serve_in_thread
from transforms.records import complaint_id

FORM = "application/x-www-form-urlencoded"


def post(url, body: bytes, content_type: str | None):
    request = urllib.request.Request(url, data=body, method="POST")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


@pytest.fixture()
def endpoint():
    from tests.ingest_helpers import DeliveringPublisher

    publisher = DeliveringPublisher()
    with serve_in_thread(build_app(publisher)) as url:
        yield url, publisher


def test_json_submission_is_published_verbatim_and_acknowledged_with_its_complaint_id(endpoint):
    url, publisher = endpoint
    body = json.dumps({"submission_id": "wf-9", "submitted_at": "2026-11-26T09:00:00Z",
                       "fields": {"message": "no network"}}).encode()
    status, answer, _ = post(f"{url}/webforms", body, "application/json; charset=utf-8")
    assert status == 202
    [(source, payload, attributes)] = publisher.messages  # acknowledged only after its own delivery report
    assert source == "webform" and payload == body
    assert attributes["content_type"] == "application/json" and attributes["received_at"]
    # a live post's identity is the endpoint's (docs/operations/webform-endpoint.md), not the bare submission id
    assert answer == {"status": "accepted", "submission_id": "wf-9",
                      "complaint_id": complaint_id("webform", attributes["identity"])}
    assert attributes["identity"].startswith("v1.") and answer["complaint_id"] != complaint_id("webform", "wf-9")


def test_urlencoded_submission_is_accepted(endpoint):
    url, publisher = endpoint
    body = b"submission_id=wf-10&submitted_at=2026-11-26T09%3A00%3A00Z&message=billed+twice"
    status, answer, _ = post(f"{url}/webforms", body, FORM)
    assert status == 202 and answer["submission_id"] == "wf-10"
    assert publisher.messages[0][1] == body and publisher.messages[0][2]["content_type"] == FORM


@pytest.mark.parametrize("body, content_type, status, reason", [
    (b"", "application/json", 400, "empty body"),
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"[1, 2]", "application/json", 400, "JSON object"),
    (b'{"submitted_at": "2026-11-26T09:00:00Z"}', "application/json", 400, "missing submission_id"),
    (b'{"submission_id": "x", "submitted_at": ""}', "application/json", 400, "missing submitted_at"),
    (b'{"submission_id": {"a": 1}, "submitted_at": "t"}', "application/json", 400, "must be text"),
    (b"submission_id=1&submitted_at=%ZZ&x", FORM, 400, "urlencoded"),
    (b"submission_id=1", "text/plain", 415, "unsupported content type"),
    (b"submission_id=1", "multipart/form-data; boundary=x", 415, "unsupported content type"),
    (b"x" * (70 * 1024), FORM, 413, "larger than"),
])
def test_bad_requests_get_a_clear_4xx_and_nothing_is_published(endpoint, body, content_type, status, reason):
    url, publisher = endpoint
    got, answer, _ = post(f"{url}/webforms", body, content_type)
    assert got == status and reason in answer["error"]
    assert publisher.messages == []


def test_transport_down_is_503_with_retry_after():
    from ingest.transport import Delivery, Outcome
    from tests.ingest_helpers import DeliveringPublisher

    publisher = DeliveringPublisher(outcome=Delivery(Outcome.NOT_DELIVERED, "_ALL_BROKERS_DOWN"))
    with serve_in_thread(build_app(publisher)) as url:
        body = b'{"submission_id": "wf-1", "submitted_at": "2026-11-26T09:00:00Z"}'
        status, answer, headers = post(f"{url}/webforms", body, "application/json")
    assert status == 503 and "retry" in answer["error"] and headers["Retry-After"] == "5"
    assert answer["queued"] is False and publisher.messages == []


def test_health_and_unknown_routes(endpoint):
    url, _ = endpoint
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
        assert json.loads(response.read()) == {"status": "ok"}
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{url}/nowhere", timeout=5)
    assert error.value.code == 404


# -- the X connector ----------------------------------------------------------------------------------------
def post_line(n: int) -> bytes:
    return json.dumps({"data": {"id": str(n), "text": f"post {n}", "created_at": "2026-11-26T09:00:00.000Z",
                                "author_id": "1"}}).encode() + b"\r\n"


class FakeXServer:
    """Serves a scripted sequence of connections to /2/tweets/search/stream."""

    def __init__(self, script):
        self.script, self.connections, self.auth = list(script), 0, []

    def app(self):
        async def stream(request):
            self.auth.append(request.headers.get("Authorization"))
            self.connections += 1
            step = self.script.pop(0) if self.script else ("stall", [])
            kind, lines = step
            if kind == "status":
                return web.Response(status=lines, text="nope")
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await response.prepare(request)
            for line in lines:
                await response.write(line)
                await asyncio.sleep(0.01)
            if kind == "stall":
                await asyncio.sleep(5)
            return response  # ends the chunked body: the connection closes

        app = web.Application()
        app.router.add_get("/2/tweets/search/stream", stream)
        return app


def test_connector_reconnects_with_xs_backoff_and_loses_nothing_it_was_sent():
    script = [
        ("lines", [b"\r\n", post_line(1), post_line(2), b"this is not json\r\n", b'{"data": {"id": "3", "te']),
        ("status", 503),
        ("status", 429),
        ("lines", [b'{"errors": [{"title": "operational-disconnect", "detail": "maintenance"}]}\r\n']),
        ("lines", [post_line(4), b"\r\n", post_line(5)]),
    ]
    server, publisher, waits = FakeXServer(script), RecordingPublisher(), []

    async def no_sleep(seconds):
        waits.append(seconds)

    with serve_in_thread(server.app()) as url:
        stats = run_connector(f"{url}/2/tweets/search/stream", "token-123", publisher, max_posts=6,
                              backoff=Backoff(), stall_seconds=3, sleep=no_sleep)
    payloads = [payload for _, payload, _ in publisher.messages]
    assert [json.loads(p)["data"]["id"] for p in payloads if p.startswith(b'{"data": {"id": "') and
            p.endswith(b"}")] == ["1", "2", "4", "5"]
    assert b"this is not json" in payloads and b'{"data": {"id": "3", "te' in payloads  # published, not lost
    assert all(source == "twitter" for source, _, _ in publisher.messages)
    # closed (after data: reset, then 0.25); HTTP 503; 429; the disconnect notice delivered no post, so the
    # linear network backoff goes on growing (0.5) rather than hammering a server that drops connections
    assert waits == [0.25, 5.0, 60.0, 0.5]
    assert stats.connections == 3 and stats.keep_alives == 2 and stats.operational_messages == 1
    assert set(server.auth) == {"Bearer token-123"}
    assert publisher.flushes == 1


def test_connector_reopens_a_stalled_connection():
    server, publisher, waits = FakeXServer([("stall", [post_line(1)]), ("lines", [post_line(2)])]), \
        RecordingPublisher(), []

    async def no_sleep(seconds):
        waits.append(seconds)

    with serve_in_thread(server.app()) as url:
        stats = run_connector(f"{url}/2/tweets/search/stream", "t", publisher, max_posts=2, stall_seconds=0.5,
                              sleep=no_sleep)
    assert stats.published == 2 and server.connections == 2 and waits == [0.25]


def test_bad_token_stops_with_a_clear_error():
    server = FakeXServer([("status", 401)])
    with serve_in_thread(server.app()) as url, pytest.raises(XStreamError, match="HTTP 401"):
        run_connector(f"{url}/2/tweets/search/stream", "bad", RecordingPublisher(), max_posts=1)


def test_backoff_schedule_caps():
    backoff = Backoff()
    assert [backoff.after_network_error() for _ in range(70)][-1] == 16.0
    assert [backoff.after_http_error(500) for _ in range(10)][:4] == [5.0, 10.0, 20.0, 40.0]
    assert backoff.after_http_error(500) == 320.0
    backoff.reset()
    assert backoff.after_http_error(429) == 60.0


@pytest.mark.parametrize("line, kind", [(b"\r\n", "keep_alive"), (post_line(1), "post"),
                                        (b'{"errors": [{"title": "ConnectionException"}]}', "operational"),
                                        (b"[1]", "unparsed"), (b"{oops", "unparsed")])
def test_classify_line(line, kind):
    assert classify_line(line) == kind
