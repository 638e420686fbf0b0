"""Where each post the X connector reads ends up: confirmed on the topic, a counted duplicate, in a durable local
spool while the transport is down, or (only when the spool itself cannot be written) lost, logged by id.

- ``Spool``: an append-only file of undelivered payloads (one per line, flushed and fsynced per append) in a
  directory of its own. Replaying takes the file aside as a *segment* (an atomic rename; appends go on into a
  fresh file) and deletes the segment only when every payload in it is confirmed or appended again. A process
  that dies leaves the file and its segments, and the next start replays them: posts are never dropped, a
  payload whose delivery was in doubt may reach the topic twice (the pipeline dedupes by ``complaint_id``).
- ``Outbox``: publishes each payload with a per-message delivery report and keeps it until the report comes.
  A failed report spools the payload; while the spool holds anything, new payloads go behind it (to the
  spool), and a probe of the transport every ``retry_seconds`` starts a replay once the broker answers again.
  ``can_accept()`` is the back-pressure: false while ``max_in_flight`` payloads await their reports or the
  spool has reached ``spool_max_bytes``; the connector then stops reading the stream.
- Duplicates: post ids seen within ``dedupe_seconds`` (X's backfill replays the last minutes on a reconnect)
  are counted and not published again.

All state changes on the caller's event loop thread: delivery reports (which Pub/Sub's client gives on its own
threads) are queued and applied by ``pump()``.
"""

from __future__ import annotations

import asyncio
import collections
import fcntl
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)
CURRENT, SEGMENT_PREFIX = "spool.jsonl", "replay-"


class SpoolBusy(Exception):
    """Another process holds the spool directory."""


class Spool:
    """The durable, append-only store of undelivered payloads under ``directory`` (created if missing), locked
    for this process (``SpoolBusy`` if another holds it). ``count`` and ``bytes`` cover the current file only:
    what segments hold is the caller's to track."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.directory / "lock", "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise SpoolBusy(f"the spool {self.directory} is in use by another `complaints ingest x` process") from None
        self.path = self.directory / CURRENT
        self.count, self.bytes = 0, 0

    def append(self, payload: bytes) -> None:
        """Add one payload durably (on disk when this returns); raises ``OSError`` if it cannot."""
        with open(self.path, "ab") as spool:
            spool.write(payload + b"\n")
            spool.flush()
            os.fsync(spool.fileno())
        self.count += 1
        self.bytes += len(payload) + 1

    def take(self) -> list[tuple[Path, list[bytes]]]:
        """Every segment to replay, oldest first, with its payloads: those left by an earlier process and the
        current file (renamed into a segment; the current file starts empty)."""
        if self.path.is_file() and self.path.stat().st_size:
            self.path.rename(self.directory / f"{SEGMENT_PREFIX}{time.time_ns()}.jsonl")
        self.count = self.bytes = 0
        segments = []
        for segment in sorted(path for path in self.directory.glob(f"{SEGMENT_PREFIX}*.jsonl") if path.is_file()):
            data = segment.read_bytes()
            if data and not data.endswith(b"\n"):
                LOG.warning(
                    "complaints ingest x: spool segment %s ends in a partial line (a crash while writing?); it is "
                    "replayed as it is, and the pipeline dead-letters it if it is not a post",
                    segment,
                )
            segments.append((segment, [line for line in data.split(b"\n") if line]))
        return segments

    def release(self, segment: Path) -> None:
        """Delete a segment whose every payload was confirmed or appended again (the caller's guarantee)."""
        segment.unlink()

    def close(self) -> None:
        self._lock.close()


@dataclass
class DeliveryCounts:
    """What became of the payloads: ``read + recovered == published + duplicates + spooled + lost``."""

    read: int = 0  # payloads read from X (posts and lines that are not posts, published verbatim)
    recovered: int = 0  # found in the spool at start: an earlier run's undelivered payloads
    published: int = 0  # confirmed by the transport
    duplicates: int = 0  # a post id seen again within the dedupe window (X's backfill); counted, not published
    spooled: int = 0  # in the spool at exit: undelivered, replayed by the next start
    lost: int = 0  # neither confirmed nor spooled (the spool could not be written); each logged by id
    spool_writes: int = 0  # payloads that went through the spool during the run (a transport outage)

    def balanced(self) -> bool:
        return self.read + self.recovered == self.published + self.duplicates + self.spooled + self.lost

    def summary(self) -> str:
        return (
            f"read {self.read}, recovered from the spool {self.recovered}, published {self.published}, "
            f"duplicates {self.duplicates}, spooled {self.spooled}, lost {self.lost}"
        )


@dataclass
class _Message:
    post_id: str | None
    payload: bytes
    segment: Path | None = None  # the spool segment it is replayed from


class Outbox:
    """Delivers payloads to ``source``'s topic through ``publisher`` (which must take ``on_delivery``), with
    ``spool`` as the fallback; see the module's docstring. Call ``pump()`` often (it applies delivery reports,
    starts probes and replays) and ``finish()`` once at the end."""

    def __init__(
        self,
        publisher,
        spool: Spool,
        source: str = "twitter",
        *,
        max_in_flight: int = 1000,
        spool_max_bytes: int = 1 << 30,
        dedupe_seconds: float = 600.0,
        retry_seconds: float = 5.0,
        probe_timeout: float = 5.0,
        counts: DeliveryCounts | None = None,
    ):
        self.publisher, self.spool, self.source = publisher, spool, source
        self.max_in_flight, self.spool_max_bytes = max_in_flight, spool_max_bytes
        self.dedupe_seconds, self.retry_seconds, self.probe_timeout = dedupe_seconds, retry_seconds, probe_timeout
        self.counts = counts if counts is not None else DeliveryCounts()
        self._in_flight: dict[int, _Message] = {}
        self._tickets = 0
        self._reports: collections.deque = collections.deque()
        self._replay: collections.deque[_Message] = collections.deque()
        self._segments: dict[Path, int] = {}  # segment -> its payloads not yet resolved
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._probe: asyncio.Future | None = None
        self._next_probe = 0.0
        self._outage_logged = False
        self.distinct_read = 0  # payloads read from X that were not duplicates

    # -- intake ------------------------------------------------------------------------------------------------
    def recover(self) -> int:
        """Queue what an earlier run left in the spool for replay (first thing, before any new payload); returns
        how many payloads that is."""
        recovered = self._queue_segments(self.spool.take(), dedupe=True)
        self.counts.recovered += recovered
        if recovered:
            LOG.warning(
                "complaints ingest x: %d undelivered posts from an earlier run found in %s; replaying them",
                recovered,
                self.spool.directory,
            )
        return recovered

    def is_duplicate(self, post_id: str | None) -> bool:
        """Whether ``post_id`` was seen within the dedupe window (and remember it if not)."""
        if post_id is None:
            return False
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < now - self.dedupe_seconds:
            self._seen.popitem(last=False)
        if post_id in self._seen:
            return True
        self._seen[post_id] = now
        return False

    def submit(self, post_id: str | None, payload: bytes) -> None:
        """Take one payload read from X: a duplicate is counted; while the spool holds anything it goes behind
        it; otherwise it is published."""
        self.counts.read += 1
        if self.is_duplicate(post_id):
            self.counts.duplicates += 1
            LOG.info(
                "complaints ingest x: post %s again (a backfill replay); counted as a duplicate, not published", post_id
            )
            return
        self.distinct_read += 1
        message = _Message(post_id, payload)
        if self._spool_busy():
            self._to_spool(message, "queued behind the spool while the transport is down")
        else:
            self._publish(message)

    def can_accept(self) -> bool:
        """False while the connector should stop reading: too many payloads await their reports, or the spool
        is full."""
        return len(self._in_flight) < self.max_in_flight and self.spool.bytes < self.spool_max_bytes

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def idle(self) -> bool:
        """Nothing awaits a report, a replay or the spool."""
        return not (self._in_flight or self._replay or self._segments or self.spool.count)

    # -- delivery ----------------------------------------------------------------------------------------------
    def _spool_busy(self) -> bool:
        return bool(self.spool.count or self._replay or self._segments)

    def _publish(self, message: _Message) -> None:
        self._tickets += 1
        ticket = self._tickets
        self._in_flight[ticket] = message
        reports = self._reports

        def on_delivery(error, ticket=ticket):  # may run on another thread (Pub/Sub): only queue the report
            reports.append((ticket, error))

        self.publisher.publish(self.source, message.payload, {}, on_delivery=on_delivery)

    def _to_spool(self, message: _Message, why: str) -> None:
        try:
            self.spool.append(message.payload)
        except OSError as error:
            self.counts.lost += 1
            LOG.error(
                "complaints ingest x: post %s LOST: %s and the spool %s cannot be written (%s)",
                message.post_id or "(no id)",
                why,
                self.spool.path,
                error,
            )
        else:
            self.counts.spool_writes += 1
            LOG.debug("complaints ingest x: post %s spooled (%s)", message.post_id, why)
        self._resolved(message)

    def _resolved(self, message: _Message) -> None:
        """``message`` is confirmed, spooled again or lost: release its segment when it was the last one."""
        if message.segment is None:
            return
        self._segments[message.segment] -= 1
        if not self._segments[message.segment]:
            del self._segments[message.segment]
            self.spool.release(message.segment)

    def _queue_segments(self, segments, dedupe: bool = False) -> int:
        """Queue the payloads of spool segments for replay; with ``dedupe`` (an earlier run's spool, which a
        crash mid-replay may have left with a post twice) a post id seen already is a counted duplicate."""
        queued = 0
        for segment, payloads in segments:
            if not payloads:
                self.spool.release(segment)
                continue
            self._segments[segment] = len(payloads)
            for payload in payloads:
                message = _Message(post_id_of(payload), payload, segment)
                if dedupe and self.is_duplicate(message.post_id):
                    self.counts.duplicates += 1
                    self._resolved(message)
                else:
                    self._replay.append(message)
                queued += 1
        return queued

    def pump(self) -> None:
        """Apply the delivery reports that came, spool the failures, probe the transport while the spool holds
        payloads, and publish queued replays as far as ``max_in_flight`` allows. Never blocks."""
        self._apply_reports()
        self._probe_and_replay()
        while self._replay and len(self._in_flight) < self.max_in_flight:
            self._publish(self._replay.popleft())

    def _probe_and_replay(self) -> None:
        if not self.spool.count or self._replay or self._segments:
            return
        if self._probe is None:
            if time.monotonic() >= self._next_probe:
                self._probe = asyncio.ensure_future(asyncio.to_thread(self.publisher.check, self.probe_timeout))
            return
        if not self._probe.done():
            return
        probe, self._probe = self._probe, None
        if probe.exception() is not None:
            self._next_probe = time.monotonic() + self.retry_seconds
            return
        queued = self._queue_segments(self.spool.take())
        self._outage_logged = False
        LOG.warning("complaints ingest x: the transport answers again; replaying %d spooled posts", queued)

    async def finish(self, seconds: float) -> None:
        """Wait up to ``seconds`` for every report, replay and the spool to drain (while the transport is up);
        then spool what is still unconfirmed, and count what the spool holds as ``spooled``."""
        deadline = time.monotonic() + seconds
        while not self.idle and time.monotonic() < deadline:
            self.pump()
            await asyncio.sleep(0.05)
        if self._probe is not None:
            self._probe.cancel()
        self._apply_reports()
        unconfirmed = list(self._in_flight.values()) + list(self._replay)
        self._in_flight.clear()
        self._replay.clear()
        for message in unconfirmed:
            self._to_spool(message, "not confirmed before the connector stopped")
        if unconfirmed:
            LOG.warning(
                "complaints ingest x: %d posts not confirmed before stopping were written to the spool %s",
                len(unconfirmed),
                self.spool.directory,
            )
        self.counts.spooled = self.spool.count + sum(self._segments.values())

    def _apply_reports(self) -> None:
        """Serve the transport's delivery reports and apply them: a confirmed payload is published, a failed one
        spooled (the first failure of an outage is logged)."""
        poll = getattr(self.publisher, "poll", None)
        if poll is not None:
            poll(0)
        while self._reports:
            ticket, error = self._reports.popleft()
            message = self._in_flight.pop(ticket, None)
            if message is None:
                continue
            if error is None:
                self.counts.published += 1
                self._resolved(message)
                continue
            if not self._outage_logged:
                self._outage_logged = True
                LOG.warning(
                    "complaints ingest x: the transport did not take post %s (%s); spooling undelivered posts to %s "
                    "and retrying every %g s",
                    message.post_id or "(no id)",
                    error,
                    self.spool.directory,
                    self.retry_seconds,
                )
            self._to_spool(message, f"the transport did not take it ({error})")


def post_id_of(payload: bytes) -> str | None:
    """The post id of an X payload (``data.id``), or None for a payload that is not a post."""
    import orjson

    try:
        data = orjson.loads(payload).get("data")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    post_id = data.get("id") if isinstance(data, dict) else None
    return str(post_id) if isinstance(post_id, (str, int)) and not isinstance(post_id, bool) else None
