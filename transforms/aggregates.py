"""Live aggregates of the streaming pipeline: complaint volume per minute, and spike alerts.

``complaint_volume`` rows count complaints per event minute, source, category and priority, one row per window
that counted them: each firing of a window carries the window so far (accumulating panes) and replaces the row,
so the row ends at the window's total however a restore replays it. A complaint too late for its own minute's
window is counted in its minute by the window it arrived in, so the volume of a minute is ``SUM(complaints)``
over its rows.

``alerts`` rows are spikes: a minute whose volume (all complaints, or one category) jumps far above its
trailing baseline, the shape of a network outage. A spike is judged when the minute's window closes (its
on-time pane), from the minutes before it; complaints that arrive after that still count in the volume but do
not re-judge a minute that has already been judged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.transforms.window import FixedWindows, GlobalWindows, TimestampedValue
from apache_beam.utils.windowed_value import PaneInfoTiming

from transforms.event_time import carries_something, window_start

ALL_COMPLAINTS = "all"


@dataclass(frozen=True)
class SpikeRules:
    """When a minute is a spike: at least ``min_complaints``, at least ``ratio`` times the trailing mean and
    ``sigmas`` standard deviations above it, after ``warmup_minutes`` of history."""

    baseline_minutes: int = 30
    warmup_minutes: int = 5
    ratio: float = 3.0
    sigmas: float = 4.0
    min_complaints: int = 20


def volume_key(row: dict, window_seconds: int) -> tuple:
    return (
        window_start(row["event_time"], window_seconds).isoformat(),
        row["source"],
        row["category"],
        row["priority"],
    )


def volume_row(key: tuple, count: int, pane: str, pane_index: int, window_seconds: int) -> dict:
    minute, source, category, priority = key
    start = dt.datetime.fromisoformat(minute)
    return {
        "minute_start": start,
        "window_seconds": window_seconds,
        "source": source,
        "category": category,
        "priority": priority,
        "complaints": int(count),
        "pane": pane,
        "pane_index": int(pane_index),
        "written_at": dt.datetime.now(dt.UTC),
        "event_date": start.date(),
    }


def spike_scopes(row: dict) -> list[str]:
    """The series a complaint counts in for spike detection: all complaints, and its category."""
    return [ALL_COMPLAINTS, f"category:{row['category']}"]


def detect_spike(
    scope: str,
    minute: int,
    complaints: int,
    history: dict[int, int],
    first_minute: int,
    window_seconds: int,
    rules: SpikeRules,
) -> dict | None:
    """An alert row if ``complaints`` in the window starting at epoch second ``minute`` is a spike against
    ``history`` (window start -> complaints; missing windows had none), else None."""
    if (minute - first_minute) // window_seconds < rules.warmup_minutes:
        return None
    before = [
        history.get(minute - step * window_seconds, 0)
        for step in range(1, rules.baseline_minutes + 1)
        if minute - step * window_seconds >= first_minute
    ]
    if not before:
        return None
    mean = sum(before) / len(before)
    stddev = math.sqrt(sum((value - mean) ** 2 for value in before) / len(before))
    threshold = max(rules.min_complaints, rules.ratio * mean, mean + rules.sigmas * stddev)
    if complaints < threshold:
        return None
    start = dt.datetime.fromtimestamp(minute, tz=dt.UTC)
    return {
        "alert_id": "al-" + hashlib.sha256(f"{scope}|{minute}".encode()).hexdigest()[:20],
        "scope": scope,
        "minute_start": start,
        "window_seconds": window_seconds,
        "complaints": int(complaints),
        "baseline_mean": round(mean, 3),
        "baseline_stddev": round(stddev, 3),
        "threshold": round(threshold, 3),
        "severity": "critical" if complaints >= 2 * threshold else "warning",
        "detected_at": dt.datetime.now(dt.UTC),
        "alert_date": start.date(),
    }


class CountDistinct(beam.CombineFn):
    """How many different values: a complaint counts once in a firing however many copies of it reach here
    (the warehouse writer keeps one per file too, see ``windowed_sinks.first_copies``)."""

    def create_accumulator(self):
        return set()

    def add_input(self, accumulator, value):
        accumulator.add(value)
        return accumulator

    def merge_accumulators(self, accumulators):
        return set().union(*accumulators)

    def extract_output(self, accumulator):
        return len(accumulator)


class CountVolumes(beam.PTransform):
    """Warehouse rows in accumulating event-time windows -> ``complaint_volume`` rows, one per (minute, source,
    category, priority) and firing, counting each complaint_id once in the window."""

    def __init__(self, window_seconds: int):
        super().__init__()
        self.window_seconds = window_seconds

    def expand(self, windowed_rows):
        seconds = self.window_seconds

        def to_row(keyed, pane=beam.DoFn.PaneInfoParam):
            key, count = keyed
            if carries_something(count):
                yield volume_row(key, count, pane_timing(pane), pane.index, seconds)

        return (
            windowed_rows
            | "KeyByMinute" >> beam.Map(lambda row: (volume_key(row, seconds), row["complaint_id"]))
            | "CountPerMinute" >> beam.CombinePerKey(CountDistinct())
            | "VolumeRows" >> beam.FlatMap(to_row)
        )


def pane_timing(pane) -> str:
    """``early``, ``on_time``, ``late`` or ``unknown``: which firing of its window a pane is."""
    return PaneInfoTiming.to_string(pane.timing).lower()


class SpikeDetectorFn(beam.DoFn):
    """(scope, (window start, complaints)) -> alert rows; keeps each scope's recent history in state."""

    HISTORY = ReadModifyWriteStateSpec("history", PickleCoder())

    def __init__(self, window_seconds: int, rules: SpikeRules):
        self.window_seconds, self.rules = window_seconds, rules

    def process(self, keyed, history_state=beam.DoFn.StateParam(HISTORY)):
        scope, (minute, complaints) = keyed
        state = history_state.read() or {"first": minute, "counts": {}}
        state["first"] = min(state["first"], minute)
        counts = state["counts"]
        alert = detect_spike(scope, minute, complaints, counts, state["first"], self.window_seconds, self.rules)
        counts[minute] = counts.get(minute, 0) + complaints
        horizon = max(counts) - (self.rules.baseline_minutes + 1) * self.window_seconds
        state["counts"] = {m: n for m, n in counts.items() if m >= horizon}
        history_state.write(state)
        if alert is not None:
            yield TimestampedValue(alert, minute)


class DetectSpikes(beam.PTransform):
    """Warehouse rows (event-timestamped) -> alert rows, judged once per closed window per scope."""

    def __init__(self, window_seconds: int, rules: SpikeRules):
        super().__init__()
        self.window_seconds, self.rules = window_seconds, rules

    def expand(self, rows):
        seconds = self.window_seconds

        def with_start(keyed, window=beam.DoFn.WindowParam):
            scope, complaints = keyed
            if carries_something(complaints):
                yield scope, (int(window.start), complaints)

        return (
            rows
            | "Scopes" >> beam.FlatMap(lambda row: [(scope, 1) for scope in spike_scopes(row)])
            | "MinuteWindows" >> beam.WindowInto(FixedWindows(seconds))
            | "CountPerScope" >> beam.CombinePerKey(sum)
            | "WithWindowStart" >> beam.FlatMap(with_start)
            | "History" >> beam.WindowInto(GlobalWindows())
            | "Detect" >> beam.ParDo(SpikeDetectorFn(seconds, self.rules))
        )
