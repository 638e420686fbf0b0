"""Event time for the streaming pipeline: which timestamp a complaint carries into its windows.

A complaint is timestamped with its event time from the payload (``event_time``). The transport's watermark
follows arrival time (``ingested_at``: Kafka's record timestamp, Pub/Sub's publish time), so a complaint that
arrives up to ``allowed_lateness`` after its event time is on time or late-but-allowed: it lands in its event
window, in the on-time pane or a later (late) pane. A complaint that arrives later than that would be behind
the window's garbage collection and silently dropped by Beam; instead it keeps its arrival time as its
timestamp and gets the flag ``arrived_after_window``, so it is still written (in the window of its arrival,
in its event_date partition) and counted in its true event minute. An event time in the future (beyond the
clock-skew tolerance) would hold its window open until then; it is timestamped at arrival as well.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.transforms.window import TimestampedValue

ARRIVED_AFTER_WINDOW = "arrived_after_window"


@dataclass(frozen=True)
class StreamTiming:
    """The streaming pipeline's time settings: windows, lateness, early firing, dedupe horizon, skew. Build one
    with the values you need; the ``complaints`` CLI builds it from a profile's ``[streaming]`` section and the
    ``stream`` flags."""

    window_seconds: int
    allowed_lateness_seconds: int
    early_firing_count: int
    dedupe_horizon_seconds: int
    future_tolerance_seconds: int

    def __post_init__(self):
        for name in ("window_seconds", "dedupe_horizon_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("allowed_lateness_seconds", "early_firing_count"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")


def event_timestamp(complaint: dict, timing: StreamTiming) -> tuple[dt.datetime, bool]:
    """(timestamp for windowing, whether the complaint arrived too late for its own event window)."""
    event, arrival = complaint["event_time"], complaint["ingested_at"]
    if event > arrival + dt.timedelta(seconds=timing.future_tolerance_seconds):
        return arrival, False
    if arrival - event > dt.timedelta(seconds=timing.allowed_lateness_seconds):
        return arrival, True
    return event, False


def window_start(moment: dt.datetime, seconds: int) -> dt.datetime:
    """Start of the fixed window of ``seconds`` that holds ``moment`` (windows aligned to the epoch, UTC)."""
    epoch = int(moment.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, tz=dt.UTC)


class AssignEventTime(beam.PTransform):
    """Complaints -> the same complaints, timestamped for event-time windowing (see the module docstring); one
    that arrived after its window is a new record with the ``arrived_after_window`` flag."""

    def __init__(self, timing: StreamTiming):
        super().__init__()
        self.timing = timing

    def expand(self, complaints):
        timing = self.timing

        def stamp(complaint):
            moment, too_late = event_timestamp(complaint, timing)
            if too_late:
                complaint = {**complaint, "flags": [*complaint["flags"], ARRIVED_AFTER_WINDOW]}
            return TimestampedValue(complaint, moment.timestamp())

        return complaints | "StampEventTime" >> beam.Map(stamp)


def carries_something(count: int) -> bool:
    """Whether a combined count of a firing is worth a row. An empty firing combines to 0: on Flink, a second
    on-time firing of a window whose state is already cleared (it carries pane index 0 again). Its row would
    replace the window's real total, since the aggregates keep one row per run and window, each firing
    replacing the last; a real firing of an accumulating pane never counts 0."""
    return count > 0
