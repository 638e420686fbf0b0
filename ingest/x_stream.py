"""The X API v2 filtered-stream connector: keeps one streaming connection open, publishes each post's JSON line
verbatim to the Twitter topic, and reconnects as X asks clients to.

- Keep-alives: X sends a blank line about every 20 s; no bytes for ``stall_seconds`` (90) means the
  connection is dead, and it is reopened.
- Backoff (X's reconnection guidance): network errors and dropped connections back off linearly by 250 ms up
  to 16 s; HTTP errors exponentially from 5 s up to 320 s; 429 (too many requests) exponentially from 60 s.
  A connection that delivered data resets the backoff. 401 and 403 stop the connector: a bad token or a
  missing entitlement does not heal by retrying.
- Lines: a JSON object with ``data`` is a post and is published; one with only ``errors`` is X's operational
  message (logged; a disconnect notice makes the connector reconnect). A line that is not JSON (cut by a
  disconnect, or corrupt) is published as it is: the pipeline keeps it in the lake and dead-letters it with
  its reason, so nothing X sent is lost.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

LOG = logging.getLogger(__name__)
DEFAULT_QUERY = {"tweet.fields": "created_at,lang,author_id,referenced_tweets", "expansions": "author_id",
                 "user.fields": "username"}


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
    published: int = 0
    keep_alives: int = 0
    operational_messages: int = 0
    connections: int = 0
    waits: list = field(default_factory=list)


def classify_line(line: bytes) -> str:
    """``keep_alive``, ``post``, ``disconnect``, ``operational`` or ``unparsed`` (published as is)."""
    if not line.strip():
        return "keep_alive"
    try:
        payload = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "unparsed"
    if not isinstance(payload, dict):
        return "unparsed"
    if "data" in payload:
        return "post"
    if "errors" in payload:
        titles = " ".join(str(e.get("title", "")) + str(e.get("type", "")) for e in payload["errors"]
                          if isinstance(e, dict)).lower()
        return "disconnect" if "disconnect" in titles else "operational"
    return "unparsed"


async def _read_stream(session, url, token, publisher, stats, backoff, max_posts, stall_seconds) -> str:
    """Read one connection until it ends; returns why: ``done``, ``stalled``, ``closed`` or ``disconnect``."""
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "beejan-complaints-x-connector"}
    params = None if "?" in url else DEFAULT_QUERY
    async with session.get(url, headers=headers, params=params) as response:
        if response.status in (401, 403):
            detail = (await response.text())[:200]
            raise XStreamError(f"X refused the stream with HTTP {response.status}: {detail}")
        if response.status != 200:
            raise aiohttp.ClientResponseError(response.request_info, (), status=response.status,
                                              message=response.reason or "")
        stats.connections += 1
        got_data = False
        while True:
            try:
                line = await asyncio.wait_for(response.content.readline(), timeout=stall_seconds)
            except asyncio.TimeoutError:
                return "stalled"
            if not line:
                return "closed"
            kind = classify_line(line)
            if kind == "keep_alive":
                stats.keep_alives += 1
                continue
            if kind in ("operational", "disconnect"):
                stats.operational_messages += 1
                LOG.warning("X stream message: %s", line[:300].decode("utf-8", "replace"))
                if kind == "disconnect":
                    return "disconnect"
                continue
            publisher.publish("twitter", line.rstrip(b"\r\n"), {})
            stats.published += 1
            if not got_data:
                got_data = True
                backoff.reset()
            if max_posts is not None and stats.published >= max_posts:
                return "done"


async def _run(url, token, publisher, max_posts, backoff, stall_seconds, max_connections, sleep) -> ConnectorStats:
    stats = ConnectorStats()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
    attempts = 0
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            attempts += 1
            try:
                outcome = await _read_stream(session, url, token, publisher, stats, backoff, max_posts,
                                             stall_seconds)
                if outcome == "done":
                    return stats
                wait = backoff.after_network_error()
            except aiohttp.ClientResponseError as error:
                LOG.warning("X stream HTTP %s; backing off", error.status)
                wait = backoff.after_http_error(error.status)
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as error:
                LOG.warning("X stream network error (%s); backing off", error)
                wait = backoff.after_network_error()
            if max_connections is not None and attempts >= max_connections:
                return stats
            stats.waits.append(wait)
            await sleep(wait)


def run_connector(url: str, token: str, publisher, *, max_posts: int | None = None, backoff: Backoff | None = None,
                  stall_seconds: float = 90.0, max_connections: int | None = None,
                  sleep=asyncio.sleep) -> ConnectorStats:
    """Run the connector until ``max_posts`` posts (or ``max_connections`` connections; default: forever);
    everything published is flushed to the transport before it returns."""
    started = time.monotonic()
    try:
        stats = asyncio.run(_run(url, token, publisher, max_posts, backoff or Backoff(), stall_seconds,
                                 max_connections, sleep))
    finally:
        publisher.flush()
    LOG.info("x-stream: %d posts over %d connections in %.0f s", stats.published, stats.connections,
             time.monotonic() - started)
    return stats
