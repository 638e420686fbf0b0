"""The X API v2 filtered-stream connector: keeps one streaming connection open, publishes each post's JSON line
verbatim to the Twitter topic, and reconnects as X asks clients to.

- Keep-alives: X sends a blank line about every 20 s; no bytes for ``stall_seconds`` (90) means the
  connection is dead, and it is reopened.
- Backoff (X's reconnection guidance): network errors and dropped connections back off linearly by 250 ms up
  to 16 s; HTTP errors exponentially from 5 s up to 320 s; 429 (too many requests) exponentially from 60 s.
  A connection that delivered data resets the backoff. 400, 401 and 403 stop the connector: a request X
  rejects, a bad token or a missing entitlement does not heal by retrying.
- Backfill: every reconnect asks for ``backfill_minutes`` (1-5, X's limit; 0 turns it off for access levels
  without it) of the posts matched meanwhile. X replays them without deduplicating; the outbox counts a post
  id seen again within the window as a duplicate and does not publish it twice.
- Lines (``classify_line``): a JSON object whose ``data`` is an object with an ``id`` is a post (an ``errors``
  list beside it is X's partial-error note, logged); one with ``errors`` and no ``data`` is X's operational
  message, whatever shape ``errors`` has (logged and counted; a disconnect notice makes the connector
  reconnect). A line that is not JSON, or JSON that is not one of those (cut by a disconnect, or corrupt), is
  published as it is: the pipeline keeps it in the lake and dead-letters it with its reason, so nothing X sent
  is lost. Each kind is counted in ``ConnectorStats``.
- Delivery (``ingest/outbox.py``): each payload is kept until the transport confirms it; when the transport is
  down, payloads go to a durable spool and are replayed when it answers again; the connector stops reading
  (back-pressure) while too many payloads await confirmation or the spool is full.
- Stopping: ``stop`` (a ``threading.Event`` the caller sets, e.g. from a signal handler the CLI installs) ends
  the reading; what is unconfirmed after ``flush_seconds`` is written to the spool.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import aiohttp
import orjson
from yarl import URL

from ingest.outbox import DeliveryCounts, Outbox, Spool, SpoolBusy

LOG = logging.getLogger(__name__)
DEFAULT_QUERY = {
    "tweet.fields": "created_at,lang,author_id,referenced_tweets",
    "expansions": "author_id",
    "user.fields": "username",
}
MAX_BACKFILL_MINUTES = 5  # X's limit for backfill_minutes
TICK = 0.1  # seconds between checks of the stop flag, the stall timer and the outbox


class XStreamError(Exception):
    """The stream cannot be read (bad credentials, no entitlement); retrying will not help."""


@dataclass
class Backoff:
    """X's reconnection schedule: the next wait, in seconds, after each kind of failure."""

    network_step: float = 0.25
    network_max: float = 16.0
    http_start: float = 5.0
    http_max: float = 320.0
    rate_limit_start: float = 60.0
    _network: float = field(default=0.0, init=False)
    _http: float = field(default=0.0, init=False)

    def after_network_error(self) -> float:
        self._network = min(self._network + self.network_step, self.network_max)
        return self._network

    def after_http_error(self, status: int) -> float:
        start = self.rate_limit_start if status == 429 else self.http_start
        self._http = min(max(self._http * 2, start), self.http_max if status != 429 else float("inf"))
        return self._http

    def reset(self) -> None:
        self._network = self._http = 0.0


@dataclass
class ConnectorStats:
    """What the connector saw on X's side; ``delivery`` says where the payloads went."""

    keep_alives: int = 0
    operational_messages: int = 0  # X's ``errors`` lines without a post (disconnect notices included)
    partial_errors: int = 0  # posts that came with an ``errors`` list (published)
    unparsed: int = 0  # lines that are not a post (published verbatim for the pipeline to dead-letter)
    connections: int = 0
    backfill_requests: int = 0
    paused_seconds: float = 0.0  # time spent not reading the stream (back-pressure)
    stopped: bool = False  # ended by ``stop`` (a signal), not by ``max_posts`` or ``max_connections``
    waits: list = field(default_factory=list)
    delivery: DeliveryCounts = field(default_factory=DeliveryCounts)

    @property
    def published(self) -> int:
        return self.delivery.published

    def summary(self) -> str:
        return (
            f"complaints ingest x: {self.delivery.summary()}; {self.connections} connections, {self.keep_alives} "
            f"keep-alives, {self.operational_messages} X messages, {self.unparsed} lines not posts"
        )


class Line(NamedTuple):
    """One line of the stream: ``kind`` is ``keep_alive``, ``post``, ``disconnect``, ``operational`` or
    ``unparsed``; ``post_id`` is the post's id (posts only); ``note`` says what is odd about it, if anything."""

    kind: str
    post_id: str | None = None
    note: str = ""


def _error_text(errors) -> str:
    """The titles and types of X's ``errors`` entries, lower case, for spotting a disconnect notice."""
    if not isinstance(errors, list):
        return ""
    return " ".join(
        str(entry.get(key, ""))
        for entry in errors
        if isinstance(entry, dict)
        for key in ("title", "type", "disconnect_type")
    ).lower()


def classify_line(line: bytes) -> Line:
    """What one line of the filtered stream is (see the module's docstring); never raises."""
    if not line.strip():
        return Line("keep_alive")
    try:
        payload = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Line("unparsed", note="not JSON")
    if not isinstance(payload, dict):
        return Line("unparsed", note=f"a JSON {type(payload).__name__}, not an object")
    if "data" in payload:
        data = payload["data"]
        post_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(post_id, (str, int)) or isinstance(post_id, bool):
            return Line("unparsed", note="data is not a post with an id")
        note = "with an errors list" if "errors" in payload else ""
        return Line("post", str(post_id), note)
    if "errors" in payload:
        errors = payload["errors"]
        note = (
            ""
            if isinstance(errors, list) and all(isinstance(e, dict) for e in errors)
            else "errors is not a list of objects"
        )
        kind = "disconnect" if "disconnect" in _error_text(errors) else "operational"
        return Line(kind, note=note)
    return Line("unparsed", note="neither data nor errors")


def _shown(line: bytes) -> str:
    return line[:300].decode("utf-8", "replace").rstrip()


class _Connector:
    """One run of the connector (see ``run_connector``)."""

    def __init__(
        self,
        url,
        token,
        outbox: Outbox,
        stats: ConnectorStats,
        *,
        max_posts,
        backoff,
        stall_seconds,
        max_connections,
        sleep,
        backfill_minutes,
        stop: threading.Event,
    ):
        self.url, self.token, self.outbox, self.stats = url, token, outbox, stats
        self.max_posts, self.backoff, self.stall_seconds = max_posts, backoff, stall_seconds
        self.max_connections, self.sleep, self.backfill_minutes, self.stop = (
            max_connections,
            sleep,
            backfill_minutes,
            stop,
        )

    def stream_url(self, reconnect: bool) -> URL:
        """The endpoint with the default fields (unless the URL names its own) and, on a reconnect,
        ``backfill_minutes``."""
        url = URL(self.url)
        if not url.query:
            url = url.with_query(DEFAULT_QUERY)
        if reconnect and self.backfill_minutes:
            url = url.update_query(backfill_minutes=str(self.backfill_minutes))
        return url

    def enough(self) -> bool:
        return self.max_posts is not None and self.outbox.distinct_read >= self.max_posts

    async def pump_forever(self) -> None:
        while True:
            self.outbox.pump()
            await asyncio.sleep(TICK)

    async def wait_until_deliverable(self) -> None:
        """Back-pressure: do not read on while the outbox cannot take more (X's stream buffers, then drops us;
        the reconnect's backfill brings back what it sent meanwhile)."""
        if self.outbox.can_accept():
            return
        started = time.monotonic()
        LOG.warning(
            "complaints ingest x: pausing the stream: %d posts await the transport's confirmation, "
            "the spool holds %d bytes",
            self.outbox.in_flight,
            self.outbox.spool.bytes,
        )
        while not self.outbox.can_accept() and not self.stop.is_set():
            await asyncio.sleep(TICK)
        paused = time.monotonic() - started
        self.stats.paused_seconds += paused
        LOG.warning(
            "complaints ingest x: reading again after %.0f s%s",
            paused,
            "; X's backfill covers at most 5 minutes: posts of the rest of the pause may be missing"
            if paused > MAX_BACKFILL_MINUTES * 60
            else "",
        )

    async def read_connection(self, session, reconnect: bool) -> str:
        """Read one connection until it ends; returns why: ``done``, ``stopped``, ``stalled``, ``closed`` or
        ``disconnect``."""
        headers = {"Authorization": f"Bearer {self.token}", "User-Agent": "beejan-complaints-x-connector"}
        url = self.stream_url(reconnect)
        if "backfill_minutes" in url.query:
            self.stats.backfill_requests += 1
        async with session.get(url, headers=headers) as response:
            if response.status in (400, 401, 403):
                detail = (await response.text())[:200]
                hint = (
                    " (an access level without backfill refuses backfill_minutes: try --backfill-minutes 0)"
                    if "backfill_minutes" in url.query
                    else ""
                )
                raise XStreamError(f"X refused the stream with HTTP {response.status}: {detail}{hint}")
            if response.status != 200:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message=response.reason or ""
                )
            self.stats.connections += 1
            got_data, reading, read_before = False, None, self.stats.delivery.read
            try:
                last_bytes = time.monotonic()
                while True:
                    if self.stop.is_set():
                        return "stopped"
                    if not self.outbox.can_accept():
                        await self.wait_until_deliverable()
                        last_bytes = time.monotonic()
                        continue
                    # a read is never cancelled while it may hold part of a line, except when the connection
                    # is given up (stalled, stopped)
                    reading = reading or asyncio.ensure_future(response.content.readline())
                    done, _ = await asyncio.wait({reading}, timeout=TICK)
                    if not done:
                        if time.monotonic() - last_bytes > self.stall_seconds:
                            return "stalled"
                        continue
                    line, reading, last_bytes = reading.result(), None, time.monotonic()
                    if not line:
                        return "closed"
                    outcome = self.take_line(line)
                    if outcome:
                        return outcome
                    if not got_data and self.stats.delivery.read > read_before:
                        got_data = True
                        self.backoff.reset()
            finally:
                if reading is not None and not reading.done():
                    reading.cancel()

    def take_line(self, line: bytes) -> str | None:
        """Count, log and hand one line to the outbox; returns ``disconnect`` or ``done`` when reading should end
        here."""
        kind, post_id, note = classify_line(line)
        if kind == "keep_alive":
            self.stats.keep_alives += 1
            return None
        if kind in ("operational", "disconnect"):
            self.stats.operational_messages += 1
            LOG.warning("complaints ingest x: X stream message%s: %s", f" ({note})" if note else "", _shown(line))
            return "disconnect" if kind == "disconnect" else None
        if kind == "unparsed":
            self.stats.unparsed += 1
            LOG.warning(
                "complaints ingest x: a line that is not a post (%s), published as it is for the pipeline "
                "to dead-letter: %s",
                note,
                _shown(line),
            )
        elif note:
            self.stats.partial_errors += 1
            LOG.info("complaints ingest x: post %s came %s: %s", post_id, note, _shown(line))
        self.outbox.submit(post_id, line.rstrip(b"\r\n"))
        return "done" if self.enough() else None

    async def pause(self, seconds: float) -> None:
        """The backoff wait: ``sleep`` when one was given (tests), else until ``seconds`` pass or ``stop``."""
        if self.sleep is not None:
            await self.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stop.is_set():
            await asyncio.sleep(min(TICK, deadline - time.monotonic()))

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
        attempts = 0
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self.stop.is_set():
                attempts += 1
                try:
                    outcome = await self.read_connection(session, reconnect=attempts > 1)
                    if outcome in ("done", "stopped"):
                        return
                    LOG.warning(
                        "complaints ingest x: the connection %s; reconnecting",
                        {
                            "stalled": f"sent nothing for {self.stall_seconds:.0f} s",
                            "closed": "was closed",
                            "disconnect": "was ended by X",
                        }[outcome],
                    )
                    wait = self.backoff.after_network_error()
                except aiohttp.ClientResponseError as error:
                    LOG.warning("complaints ingest x: X stream HTTP %s; backing off", error.status)
                    wait = self.backoff.after_http_error(error.status)
                except (TimeoutError, aiohttp.ClientError, ConnectionError) as error:
                    LOG.warning("complaints ingest x: X stream network error (%s); backing off", error)
                    wait = self.backoff.after_network_error()
                if self.max_connections is not None and attempts >= self.max_connections:
                    return
                self.stats.waits.append(wait)
                await self.pause(wait)


async def _run(connector: _Connector, outbox: Outbox, flush_seconds: float) -> None:
    outbox.recover()
    pumping = asyncio.ensure_future(connector.pump_forever())
    try:
        await connector.run()
    finally:
        pumping.cancel()
        await outbox.finish(flush_seconds)


def run_connector(
    url: str,
    token: str,
    publisher,
    spool_dir,
    *,
    max_posts: int | None = None,
    backoff: Backoff | None = None,
    stall_seconds: float = 90.0,
    max_connections: int | None = None,
    sleep=None,
    backfill_minutes: int = MAX_BACKFILL_MINUTES,
    stop: threading.Event | None = None,
    flush_seconds: float = 10.0,
    max_in_flight: int = 1000,
    spool_max_bytes: int = 1 << 30,
    retry_seconds: float = 5.0,
) -> ConnectorStats:
    """Run the connector until ``max_posts`` distinct posts were read, ``max_connections`` connections were made
    or ``stop`` is set (default: forever). ``publisher`` must take ``on_delivery`` (``ingest.transport``'s do);
    ``spool_dir`` holds the spool. Before it returns, it waits up to ``flush_seconds`` for what is unconfirmed
    and writes what still is to the spool. Returns the counts, ``stats.delivery`` balanced: every payload read
    is published, a counted duplicate, spooled or (only if the spool cannot be written) lost, each loss logged
    with its post id. Raises ``XStreamError`` when X refuses the token or the spool is another process's."""
    if not 0 <= backfill_minutes <= MAX_BACKFILL_MINUTES:
        raise XStreamError(f"backfill_minutes must be 0 (off) to {MAX_BACKFILL_MINUTES}, got {backfill_minutes}")
    try:
        spool = Spool(spool_dir)
    except SpoolBusy as error:
        raise XStreamError(str(error)) from None
    stats = ConnectorStats()
    # a backfill replays at most backfill_minutes before the reconnect; keep ids twice that (at least 10 min)
    outbox = Outbox(
        publisher,
        spool,
        max_in_flight=max_in_flight,
        spool_max_bytes=spool_max_bytes,
        dedupe_seconds=max(600.0, 2 * 60.0 * backfill_minutes),
        retry_seconds=retry_seconds,
        counts=stats.delivery,
    )
    stop = stop or threading.Event()
    connector = _Connector(
        url,
        token,
        outbox,
        stats,
        max_posts=max_posts,
        backoff=backoff or Backoff(),
        stall_seconds=stall_seconds,
        max_connections=max_connections,
        sleep=sleep,
        backfill_minutes=backfill_minutes,
        stop=stop,
    )
    started = time.monotonic()
    try:
        asyncio.run(_run(connector, outbox, flush_seconds))
    finally:
        spool.close()
    stats.stopped = stop.is_set()
    LOG.info("%s in %.0f s", stats.summary(), time.monotonic() - started)
    return stats
