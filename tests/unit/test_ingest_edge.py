"""The ingestion edge against real local HTTP servers: the web-form endpoint (requests over a socket) and the
X filtered-stream connector (a local server that disconnects, errors, rate-limits, stalls and sends junk)."""

import asyncio
import json
import logging
import threading
import urllib.error
import urllib.request

import pytest
from aiohttp import web

from ingest.webform_endpoint import build_app
from ingest.x_stream import Backoff, Line, XStreamError, classify_line, run_connector
from tests.support.ingest import RecordingPublisher, post, serve_in_thread
from transforms.records import complaint_id

FORM = "application/x-www-form-urlencoded"


@pytest.fixture()
def endpoint():
    from tests.support.ingest import DeliveringPublisher

    publisher = DeliveringPublisher()
    with serve_in_thread(build_app(publisher)) as url:
        yield url, publisher


def test_json_submission_is_published_verbatim_and_acknowledged_with_its_complaint_id(endpoint):
    url, publisher = endpoint
    body = json.dumps(
        {"submission_id": "wf-9", "submitted_at": "2026-11-26T09:00:00Z", "fields": {"message": "no network"}}
    ).encode()
    status, answer, _ = post(f"{url}/webforms", body, "application/json; charset=utf-8")
    assert status == 202
    [(source, payload, attributes)] = publisher.messages  # acknowledged only after its own delivery report
    assert source == "webform" and payload == body
    assert attributes["content_type"] == "application/json" and attributes["received_at"]
    # a live post's identity is the endpoint's (docs/operations/webform-endpoint.md), not the bare submission id
    assert answer == {
        "status": "accepted",
        "submission_id": "wf-9",
        "complaint_id": complaint_id("webform", attributes["identity"]),
    }
    assert attributes["identity"].startswith("v1.") and answer["complaint_id"] != complaint_id("webform", "wf-9")


def test_urlencoded_submission_is_accepted(endpoint):
    url, publisher = endpoint
    body = b"submission_id=wf-10&submitted_at=2026-11-26T09%3A00%3A00Z&message=billed+twice"
    status, answer, _ = post(f"{url}/webforms", body, FORM)
    assert status == 202 and answer["submission_id"] == "wf-10"
    assert publisher.messages[0][1] == body and publisher.messages[0][2]["content_type"] == FORM


@pytest.mark.parametrize(
    "body, content_type, status, reason",
    [
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
    ],
)
def test_bad_requests_get_a_clear_4xx_and_nothing_is_published(endpoint, body, content_type, status, reason):
    url, publisher = endpoint
    got, answer, _ = post(f"{url}/webforms", body, content_type)
    assert got == status and reason in answer["error"]
    assert publisher.messages == []


def test_transport_down_is_503_with_retry_after():
    from ingest.transport import Delivery, Outcome
    from tests.support.ingest import DeliveringPublisher

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
    return (
        json.dumps(
            {"data": {"id": str(n), "text": f"post {n}", "created_at": "2026-11-26T09:00:00.000Z", "author_id": "1"}}
        ).encode()
        + b"\r\n"
    )


class FakeXServer:
    """Serves a scripted sequence of connections to /2/tweets/search/stream; records each request's
    Authorization header and query."""

    def __init__(self, script):
        self.script, self.connections, self.auth, self.queries = list(script), 0, [], []

    def app(self):
        async def stream(request):
            self.auth.append(request.headers.get("Authorization"))
            self.queries.append(dict(request.query))
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


def ids_of(publisher) -> list[str]:
    """The post ids published, in order (payloads that are not posts left out)."""
    ids = []
    for _, payload, _ in publisher.messages:
        try:
            ids.append(json.loads(payload)["data"]["id"])
        except (ValueError, KeyError, TypeError):
            pass
    return ids


async def no_sleep(seconds):
    return None


def test_connector_reconnects_with_xs_backoff_and_loses_nothing_it_was_sent(tmp_path):
    script = [
        ("lines", [b"\r\n", post_line(1), post_line(2), b"this is not json\r\n", b'{"data": {"id": "3", "te']),
        ("status", 503),
        ("status", 429),
        ("lines", [b'{"errors": [{"title": "operational-disconnect", "detail": "maintenance"}]}\r\n']),
        ("lines", [post_line(4), b"\r\n", post_line(5)]),
    ]
    server, publisher, waits = FakeXServer(script), RecordingPublisher(), []

    async def recording_sleep(seconds):
        waits.append(seconds)

    with serve_in_thread(server.app()) as url:
        stats = run_connector(
            f"{url}/2/tweets/search/stream",
            "token-123",
            publisher,
            tmp_path / "spool",
            max_posts=6,
            backoff=Backoff(),
            stall_seconds=3,
            sleep=recording_sleep,
        )
    payloads = [payload for _, payload, _ in publisher.messages]
    assert ids_of(publisher) == ["1", "2", "4", "5"]
    assert b"this is not json" in payloads and b'{"data": {"id": "3", "te' in payloads  # published, not lost
    assert all(source == "twitter" for source, _, _ in publisher.messages)
    # closed (after data: reset, then 0.25); HTTP 503; 429; the disconnect notice delivered no post, so the
    # linear network backoff goes on growing (0.5) rather than hammering a server that drops connections
    assert waits == [0.25, 5.0, 60.0, 0.5]
    assert stats.connections == 3 and stats.keep_alives == 2 and stats.operational_messages == 1
    assert stats.unparsed == 2
    assert (stats.delivery.read, stats.delivery.published, stats.delivery.lost) == (6, 6, 0)
    assert stats.delivery.balanced()
    assert set(server.auth) == {"Bearer token-123"}


def test_connector_reopens_a_stalled_connection(tmp_path):
    server, publisher = FakeXServer([("stall", [post_line(1)]), ("lines", [post_line(2)])]), RecordingPublisher()
    waits = []

    async def recording_sleep(seconds):
        waits.append(seconds)

    with serve_in_thread(server.app()) as url:
        stats = run_connector(
            f"{url}/2/tweets/search/stream",
            "t",
            publisher,
            tmp_path,
            max_posts=2,
            stall_seconds=0.5,
            sleep=recording_sleep,
        )
    assert stats.published == 2 and server.connections == 2 and waits == [0.25]


def test_bad_token_stops_with_a_clear_error(tmp_path):
    server = FakeXServer([("status", 401)])
    with serve_in_thread(server.app()) as url, pytest.raises(XStreamError, match="HTTP 401"):
        run_connector(f"{url}/2/tweets/search/stream", "bad", RecordingPublisher(), tmp_path, max_posts=1)


def test_a_refused_backfill_stops_with_a_hint(tmp_path):
    server = FakeXServer([("lines", [post_line(1)]), ("status", 403)])
    with serve_in_thread(server.app()) as url, pytest.raises(XStreamError, match="--backfill-minutes 0"):
        run_connector(f"{url}/2/tweets/search/stream", "t", RecordingPublisher(), tmp_path, max_posts=2, sleep=no_sleep)


def test_backoff_schedule_caps():
    backoff = Backoff()
    assert [backoff.after_network_error() for _ in range(70)][-1] == 16.0
    assert [backoff.after_http_error(500) for _ in range(10)][:4] == [5.0, 10.0, 20.0, 40.0]
    assert backoff.after_http_error(500) == 320.0
    backoff.reset()
    assert backoff.after_http_error(429) == 60.0


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"\r\n", Line("keep_alive")),
        (b"", Line("keep_alive")),
        (post_line(1), Line("post", "1")),
        (b'{"data": {"id": 42, "text": "x"}}', Line("post", "42")),
        (
            b'{"data": {"id": "7", "text": "x"}, "errors": [{"title": "Not Found Error", "resource_type": "user"}]}',
            Line("post", "7", "with an errors list"),
        ),
        (b'{"errors": [{"title": "ConnectionException"}]}', Line("operational")),
        (
            b'{"errors": [{"title": "operational-disconnect", "disconnect_type": "UpstreamOperationalDisconnect"}]}',
            Line("disconnect"),
        ),
        (b'{"errors": [{"disconnect_type": "UpstreamOperationalDisconnect"}]}', Line("disconnect")),
        (b'{"errors": 5}', Line("operational", note="errors is not a list of objects")),
        (b'{"errors": "stream closed"}', Line("operational", note="errors is not a list of objects")),
        (b'{"errors": [5, null]}', Line("operational", note="errors is not a list of objects")),
        (b'{"errors": null}', Line("operational", note="errors is not a list of objects")),
        (b'{"data": 5}', Line("unparsed", note="data is not a post with an id")),
        (b'{"data": {"text": "no id"}}', Line("unparsed", note="data is not a post with an id")),
        (b'{"data": {"id": true}}', Line("unparsed", note="data is not a post with an id")),
        (b'{"matching_rules": []}', Line("unparsed", note="neither data nor errors")),
        (b"[1]", Line("unparsed", note="a JSON list, not an object")),
        (b"{oops", Line("unparsed", note="not JSON")),
        (b"\xff\xfe", Line("unparsed", note="not JSON")),
    ],
)
def test_classify_line(line, expected):
    assert classify_line(line) == expected


def test_odd_lines_are_logged_and_counted_never_a_crash(tmp_path, caplog):
    odd = [
        b'{"errors": 5}\r\n',
        b'{"errors": [5]}\r\n',
        b'{"errors": null}\r\n',
        b"\r\n",
        b"\r\n",
        b'{"data": {"id": "2"}, "errors": [{"title": "Not Found Error"}]}\r\n',
        b"[1, 2]\r\n",
        b"\xff\r\n",
    ]
    server, publisher = FakeXServer([("lines", [post_line(1), *odd, post_line(3)])]), RecordingPublisher()
    with caplog.at_level(logging.INFO, logger="ingest"), serve_in_thread(server.app()) as url:
        stats = run_connector(f"{url}/2/tweets/search/stream", "t", publisher, tmp_path, max_posts=5, sleep=no_sleep)
    assert ids_of(publisher) == ["1", "2", "3"]
    assert [p for _, p, _ in publisher.messages if not p.startswith(b"{")] == [b"[1, 2]", b"\xff"]
    assert (stats.operational_messages, stats.keep_alives, stats.partial_errors, stats.unparsed) == (3, 2, 1, 2)
    assert stats.delivery.balanced() and stats.delivery.lost == 0
    assert "errors is not a list of objects" in caplog.text and '{"errors": 5}' in caplog.text


def test_every_reconnect_asks_for_backfill_and_a_replayed_post_is_a_counted_duplicate(tmp_path):
    script = [
        ("lines", [post_line(1), post_line(2), post_line(3)]),  # then the connection drops
        ("lines", [post_line(2), post_line(3), post_line(4)]),  # X's backfill replays 2 and 3
        ("lines", [post_line(4), post_line(5)]),
    ]
    server, publisher = FakeXServer(script), RecordingPublisher()
    with serve_in_thread(server.app()) as url:
        stats = run_connector(
            f"{url}/2/tweets/search/stream", "t", publisher, tmp_path, max_posts=5, sleep=no_sleep, backfill_minutes=3
        )
    assert ids_of(publisher) == ["1", "2", "3", "4", "5"]
    assert stats.delivery.duplicates == 3 and stats.delivery.read == 8 and stats.delivery.balanced()
    assert "backfill_minutes" not in server.queries[0]  # a fresh start asks for no replay
    assert [query["backfill_minutes"] for query in server.queries[1:]] == ["3", "3"]
    assert stats.backfill_requests == 2
    assert all(query["tweet.fields"] for query in server.queries)


def test_backfill_can_be_turned_off_and_is_checked(tmp_path):
    server = FakeXServer([("lines", [post_line(1)]), ("lines", [post_line(2)])])
    with serve_in_thread(server.app()) as url:
        run_connector(
            f"{url}/2/tweets/search/stream",
            "t",
            RecordingPublisher(),
            tmp_path,
            max_posts=2,
            sleep=no_sleep,
            backfill_minutes=0,
        )
    assert all("backfill_minutes" not in query for query in server.queries)
    with pytest.raises(XStreamError, match=r"0 \(off\) to 5"):
        run_connector("http://127.0.0.1:9/x", "t", RecordingPublisher(), tmp_path, backfill_minutes=6)


def spooled_ids(spool_dir) -> list[str]:
    return [
        json.loads(line)["data"]["id"]
        for path in sorted(spool_dir.glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def test_transport_down_spools_and_the_next_start_sends_the_spool(tmp_path):
    spool_dir, publisher = tmp_path / "spool", RecordingPublisher()
    publisher.down = True
    server = FakeXServer([("lines", [post_line(n) for n in range(1, 6)])])
    with serve_in_thread(server.app()) as url:
        stats = run_connector(
            f"{url}/2/tweets/search/stream", "t", publisher, spool_dir, max_posts=5, sleep=no_sleep, flush_seconds=0.5
        )
    assert publisher.messages == []
    assert (stats.delivery.published, stats.delivery.spooled, stats.delivery.lost) == (0, 5, 0)
    assert stats.delivery.balanced() and sorted(spooled_ids(spool_dir)) == ["1", "2", "3", "4", "5"]

    publisher.down = False  # the broker is back; the next start replays the spool, then reads X (6, and 3 again)
    server = FakeXServer([("lines", [post_line(3), post_line(6)])])
    with serve_in_thread(server.app()) as url:
        stats = run_connector(f"{url}/2/tweets/search/stream", "t", publisher, spool_dir, max_posts=1, sleep=no_sleep)
    assert sorted(ids_of(publisher)) == ["1", "2", "3", "4", "5", "6"]
    assert (stats.delivery.recovered, stats.delivery.read, stats.delivery.duplicates) == (5, 2, 1)
    assert (stats.delivery.published, stats.delivery.spooled) == (6, 0) and stats.delivery.balanced()
    assert list(spool_dir.glob("*.jsonl")) == []  # every segment replayed and confirmed, then deleted


def test_an_outage_mid_stream_spools_then_replays_when_the_transport_answers(tmp_path):
    publisher = RecordingPublisher()

    async def outage(request):  # posts 1-3 with the broker up, 4-6 while it is down, 7-9 after
        response = web.StreamResponse()
        await response.prepare(request)
        for n in range(1, 10):
            publisher.down = 4 <= n <= 6
            await response.write(post_line(n))
            await asyncio.sleep(0.3)
        return response

    app = web.Application()
    app.router.add_get("/2/tweets/search/stream", outage)
    with serve_in_thread(app) as url:
        stats = run_connector(
            f"{url}/2/tweets/search/stream", "t", publisher, tmp_path, max_posts=9, sleep=no_sleep, retry_seconds=0.2
        )
    assert sorted(ids_of(publisher), key=int) == [str(n) for n in range(1, 10)]
    assert stats.delivery.published == 9 and stats.delivery.spool_writes >= 3 and stats.delivery.spooled == 0
    assert list(tmp_path.glob("*.jsonl")) == []


def test_a_spool_that_cannot_be_written_makes_each_loss_counted_and_named(tmp_path, caplog):
    (tmp_path / "spool.jsonl").mkdir()  # the spool file cannot be opened for appending: every write fails
    publisher = RecordingPublisher()
    publisher.down = True
    server = FakeXServer([("lines", [post_line(11), post_line(12)])])
    with caplog.at_level(logging.ERROR, logger="ingest"), serve_in_thread(server.app()) as url:
        stats = run_connector(
            f"{url}/2/tweets/search/stream", "t", publisher, tmp_path, max_posts=2, sleep=no_sleep, flush_seconds=0.2
        )
    assert (stats.delivery.lost, stats.delivery.spooled, stats.delivery.published) == (2, 0, 0)
    assert stats.delivery.balanced()
    assert "post 11 LOST" in caplog.text and "post 12 LOST" in caplog.text


def test_the_connectors_lines_name_the_command_that_runs_it(tmp_path, caplog):
    """Every line the connector logs, and its summary, start with the command an operator runs and greps for:
    ``complaints ingest x`` (not its old name)."""
    (tmp_path / "spool.jsonl").mkdir()  # losses, the loudest lines there are
    publisher = RecordingPublisher()
    publisher.down = True
    server = FakeXServer([("lines", [post_line(11), b"not a post\n", post_line(12)])])
    with caplog.at_level(logging.DEBUG, logger="ingest"), serve_in_thread(server.app()) as url:
        stats = run_connector(
            f"{url}/2/tweets/search/stream", "t", publisher, tmp_path, max_posts=3, sleep=no_sleep, flush_seconds=0.2
        )
    lines = [record.getMessage() for record in caplog.records if record.name in ("ingest.outbox", "ingest.x_stream")]
    assert any("post 11 LOST" in line for line in lines) and any("not a post" in line for line in lines)
    assert [line for line in lines if not line.startswith("complaints ingest x: ")] == []
    assert stats.summary().startswith("complaints ingest x: read 3, ")


def test_back_pressure_stops_reading_while_too_much_awaits_confirmation(tmp_path):
    class SlowConfirmations(RecordingPublisher):
        """Confirms only what ``release`` lets through: plays a broker that is slow to acknowledge."""

        def __init__(self):
            super().__init__()
            self.waiting, self.most_waiting = [], 0

        def publish(self, source, payload, attributes=None, on_delivery=None):
            self.messages.append((source, payload, {}))
            self.waiting.append(on_delivery)
            self.most_waiting = max(self.most_waiting, len(self.waiting))

        def poll(self, timeout=0):
            if len(self.waiting) >= 3:  # confirm in batches of three, once three wait
                for report in self.waiting:
                    report(None)
                self.waiting = []

    publisher = SlowConfirmations()
    server = FakeXServer([("lines", [post_line(n) for n in range(1, 10)])])
    with serve_in_thread(server.app()) as url:
        stats = run_connector(
            f"{url}/2/tweets/search/stream", "t", publisher, tmp_path, max_posts=9, sleep=no_sleep, max_in_flight=3
        )
    assert publisher.most_waiting == 3 and stats.paused_seconds > 0
    assert stats.delivery.published == 9 and stats.delivery.balanced()


def test_stop_ends_reading_and_confirms_what_was_read(tmp_path):
    publisher, stop = RecordingPublisher(), threading.Event()

    async def endless(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for n in range(1, 1000):
            await response.write(post_line(n))
            if n == 4:
                stop.set()  # as the CLI's SIGTERM handler would
            await asyncio.sleep(0.05)
        return response

    app = web.Application()
    app.router.add_get("/2/tweets/search/stream", endless)
    with serve_in_thread(app) as url:
        stats = run_connector(f"{url}/2/tweets/search/stream", "t", publisher, tmp_path, stop=stop, sleep=no_sleep)
    assert stats.stopped and 4 <= stats.delivery.read < 10
    assert stats.delivery.published == stats.delivery.read and stats.delivery.balanced()
    assert ids_of(publisher) == [str(n) for n in range(1, stats.delivery.read + 1)]


def test_a_second_connector_on_the_same_spool_is_refused(tmp_path):
    from ingest.outbox import Spool

    spool = Spool(tmp_path)
    try:
        with pytest.raises(XStreamError, match="in use by another `complaints ingest x` process"):
            run_connector("http://127.0.0.1:9/x", "t", RecordingPublisher(), tmp_path, max_posts=1)
    finally:
        spool.close()


def test_a_spool_left_by_a_crash_mid_replay_is_sent_once_and_a_torn_last_line_is_kept(tmp_path, caplog):
    # a process died while replaying: its segment still holds 1 and 2, which it had also spooled again (2 with
    # 3) when the broker failed; and the current file's last append was cut short by the crash
    (tmp_path / "replay-1.jsonl").write_bytes(post_line(1).rstrip() + b"\n" + post_line(2).rstrip() + b"\n")
    (tmp_path / "spool.jsonl").write_bytes(
        post_line(2).rstrip() + b"\n" + post_line(3).rstrip() + b"\n" + b'{"data": {"id": "4", "te'
    )
    publisher, server = RecordingPublisher(), FakeXServer([("lines", [post_line(5)])])
    with caplog.at_level(logging.WARNING, logger="ingest"), serve_in_thread(server.app()) as url:
        stats = run_connector(f"{url}/2/tweets/search/stream", "t", publisher, tmp_path, max_posts=1, sleep=no_sleep)
    assert ids_of(publisher) == ["1", "2", "3", "5"]
    assert b'{"data": {"id": "4", "te' in [payload for _, payload, _ in publisher.messages]  # kept, verbatim
    assert (stats.delivery.recovered, stats.delivery.duplicates, stats.delivery.published) == (5, 1, 5)
    assert stats.delivery.balanced() and list(tmp_path.glob("*.jsonl")) == []
    assert "partial line" in caplog.text
