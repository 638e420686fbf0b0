"""Replay channel files into the live topics: every non-blank line of ``twitter/*.jsonl`` and
``webforms/*.jsonl|*.form`` (``.gz`` too) becomes one message, verbatim, at an optional steady rate."""

from __future__ import annotations

import codecs
import gzip
import time
from collections.abc import Iterator
from pathlib import Path

from ingest.transport import content_type_of

CHANNEL_FILES = {
    "twitter": ("twitter", ("*.jsonl", "*.jsonl.gz")),
    "webform": ("webforms", ("*.jsonl", "*.form", "*.jsonl.gz", "*.form.gz")),
}


def channel_messages(input_dir: str) -> Iterator[tuple[str, bytes, dict]]:
    """(source, payload, attributes) for every live-channel record under ``input_dir``, in file order."""
    root = Path(input_dir)
    for source, (folder, patterns) in CHANNEL_FILES.items():
        files = sorted({path for pattern in patterns for path in (root / folder).glob(pattern)})
        for path in files:
            attributes = {"content_type": content_type_of(path.name)} if source == "webform" else {}
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as handle:
                for number, line in enumerate(handle):
                    payload = line.rstrip(b"\r\n")
                    if number == 0 and payload.startswith(codecs.BOM_UTF8):  # the file's BOM, not the record's
                        payload = payload[len(codecs.BOM_UTF8) :]
                    if payload.strip():
                        yield source, payload, attributes


class RateLimiter:
    """Spaces calls to at most ``rate`` per second (no limit when rate is None)."""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
        self._next = max(self._next, now) + self.interval


def replay(input_dir: str, publisher, rate: float | None = None, limit: int | None = None) -> dict[str, int]:
    """Publish the channel files under ``input_dir``; returns messages published per source."""
    published: dict[str, int] = {}
    limiter = RateLimiter(rate)
    for source, payload, attributes in channel_messages(input_dir):
        if limit is not None and sum(published.values()) >= limit:
            break
        limiter.wait()
        publisher.publish(source, payload, attributes)
        published[source] = published.get(source, 0) + 1
    publisher.flush()
    return published
