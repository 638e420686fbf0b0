"""A stream, without a broker: a day's tweets and web forms replayed as timestamped messages through Beam's
``TestStream``, labelled live, and counted per category in fixed one-minute windows.

    python examples/stream_windowed_volumes.py --input-dir IN --output-dir OUT [--horizon-seconds 86400]

Each line of ``IN/twitter/*.jsonl`` and ``IN/webforms/*.jsonl`` is a message arriving when it was posted (else
with the line before it); the watermark moves a minute at a time. The messages go through the stream's public
stages as ``complaints stream run`` composes them, ``ParseMessages | Clean | Validate | Dedupe(horizon_seconds) |
Enrich(model_handler)``, the user's ``KeywordModel`` (``own_model_runinference.py``) served by RunInference's
``ComplaintModelHandler``; each complaint is counted in the minute window of its event time, and
``OUT/window_counts.json`` gets (and stdout shows) a ``{"window_start", "category", "complaints"}`` per window and
category. The runner is named: TestStream runs on the streaming ``BundleBasedDirectRunner``; left to choose,
``DirectRunner`` would fall back to another runner without saying so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.trigger import AccumulationMode, AfterWatermark
from apache_beam.transforms.window import FixedWindows, GlobalWindows, TimestampedValue
from own_model_runinference import KeywordModel

from models.inference import ComplaintModelHandler
from transforms import Clean, Dedupe, Enrich, ParseMessages, Validate
from transforms.sources.messages import message_record

#: channel -> (files, the field of a line that says when it was posted, the message's attributes)
CHANNELS = {
    "twitter": ("twitter/*.jsonl", lambda line: line["data"]["created_at"], {}),
    "webform": ("webforms/*.jsonl", lambda line: line["submitted_at"], {"content_type": "application/json"}),
}


def posted_at(source: str, line: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(CHANNELS[source][1](json.loads(line)))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def messages(input_dir: str) -> list[TimestampedValue]:
    """Every line of the live channels' files as a raw record, timestamped with its arrival, in arrival order."""
    found = []
    for source, (pattern, _, attributes) in CHANNELS.items():
        for path in sorted(Path(input_dir).glob(pattern)):
            lines = path.read_text(encoding="utf-8-sig").splitlines()
            known = [time for time in (posted_at(source, line) for line in lines) if time]
            arrival = known[0] if known else dt.datetime.now(dt.UTC)
            for number, line in enumerate(lines, start=1):
                arrival = posted_at(source, line) or arrival
                record = message_record(
                    source,
                    line.encode("utf-8"),
                    f"{path.name}/{number}",
                    number,
                    arrival,
                    attributes,
                    "example-run",
                    "example-stream",
                )
                found.append(TimestampedValue(record, arrival.timestamp()))
    return sorted(found, key=lambda message: message.timestamp)


def replay(found: list[TimestampedValue]) -> TestStream:
    """The messages minute by minute, the watermark following."""
    stream = TestStream()
    for minute in sorted({int(message.timestamp) // 60 for message in found}):
        stream = stream.add_elements([message for message in found if int(message.timestamp) // 60 == minute])
        stream = stream.advance_watermark_to((minute + 1) * 60)
    return stream.advance_watermark_to_infinity()


def at_event_time(row: dict) -> TimestampedValue:
    return TimestampedValue(row, row["event_time"].timestamp())


def window_count(category_count: tuple[str, int], window=beam.DoFn.WindowParam) -> dict:
    start = window.start.to_utc_datetime(has_tz=True).isoformat()
    return {"window_start": start, "category": category_count[0], "complaints": category_count[1]}


def write_counts(counts: list[dict], path: str) -> None:
    counts = sorted(counts, key=lambda row: (row["window_start"], row["category"]))
    Path(path).write_text(json.dumps(counts, indent=1) + "\n", encoding="utf-8")
    for row in counts:
        print(f"{row['window_start']}  {row['category']:<17} {row['complaints']}")


def run(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True, help="a day's input directory (twitter/, webforms/, customers/)")
    parser.add_argument("--output-dir", required=True, help="where window_counts.json is written")
    parser.add_argument("--horizon-seconds", type=int, default=86400, help="how long Dedupe remembers an id")
    args = parser.parse_args(argv)
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    options = PipelineOptions([], streaming=True)
    handler = ComplaintModelHandler(model_factory=KeywordModel, min_batch_size=1, max_batch_size=64)
    with beam.Pipeline(runner=BundleBasedDirectRunner(), options=options) as pipeline:
        enriched = (
            pipeline
            | "Messages" >> replay(messages(args.input_dir))
            | ParseMessages()
            | Clean()
            | Validate()
            | Dedupe(horizon_seconds=args.horizon_seconds)
            | Enrich(handler, customers=f"{args.input_dir}/customers/customers.csv")
        )
        _ = (
            enriched.complaints
            | "AtEventTime" >> beam.Map(at_event_time)
            | "Minutes" >> beam.WindowInto(FixedWindows(60))
            | "Category" >> beam.Map(lambda row: row["category"])
            | "CountPerCategory" >> beam.combiners.Count.PerElement()
            | "WithWindow" >> beam.Map(window_count)
            # one list of every window's counts, when the input ends (the watermark reaches infinity)
            | "AllWindows"
            >> beam.WindowInto(GlobalWindows(), trigger=AfterWatermark(), accumulation_mode=AccumulationMode.DISCARDING)
            | "Collect" >> beam.CombineGlobally(beam.combiners.ToListCombineFn()).without_defaults()
            | "Write" >> beam.Map(write_counts, f"{args.output_dir}/window_counts.json")
        )


if __name__ == "__main__":
    run()
