"""Your own model in the public chain: a keyword classifier of your own labels every complaint of a day's files.

    python examples/own_model_runinference.py --input-dir IN --output-dir OUT [--runner ... other Beam options]

reads every channel of ``IN`` (``ReadFromChannelFiles``), then ``Clean | Validate | Dedupe | Enrich(model=...)``
with ``KeywordModel`` below, and writes:

- ``OUT/complaints-*.jsonl``: one row per complaint (``ToRows``), labelled by ``KeywordModel`` (its version is
  every row's ``model_version``);
- ``OUT/dead_letters-*.jsonl``: every record rejected on the way, with its reason;
- ``OUT/label_counts-*.txt``: complaints per category, which it also prints.

A model is any object with a ``version`` and a ``predict(complaints) -> list[Prediction]``
(``models.base.ComplaintModel``). A batch hands it to ``Enrich`` as is (or a class, made once per worker); a
stream labels through Beam's RunInference, so there the same class goes in a ``ModelHandler``:
``Enrich(ComplaintModelHandler(model_factory=KeywordModel))``, as ``examples/stream_windowed_volumes.py`` does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import ClassVar

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from models.base import Prediction
from transforms import Clean, Dedupe, Enrich, ReadFromChannelFiles, ToRows, Validate
from transforms.records import new_run_id


class KeywordModel:
    """Labels a complaint by the first category whose keywords its text holds; angry words make it urgent."""

    version = "keyword-example-1"
    KEYWORDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "Network": ("signal", "network", "data", "internet", "call", "5g", "4g", "slow"),
        "Billing": ("bill", "charge", "debit", "refund", "airtime", "recharge", "money", "tariff"),
        "Customer Service": ("staff", "agent", "support", "ticket", "shop", "rude", "unhelpful"),
    }
    ANGRY = ("terrible", "worst", "useless", "again", "still", "never")

    def predict(self, complaints) -> list[Prediction]:
        return [self.label(complaint) for complaint in complaints]

    def label(self, complaint: dict) -> Prediction:
        text = " ".join(str(complaint.get(field) or "") for field in ("subject", "text")).lower()
        category = next((name for name, words in self.KEYWORDS.items() if any(w in text for w in words)), "Other")
        angry = [word for word in self.ANGRY if word in text]
        return Prediction(
            category=category,
            category_confidence=0.9 if category != "Other" else 0.5,
            sentiment_score=-0.8 if angry else -0.3,
            sentiment_label="negative",
            priority="P2" if angry else "P3",
            priority_reasons=[f"keyword:{word}" for word in angry],
        )


def as_json(row) -> str:
    """A typed row or a dict as one JSON line (dates and times as ISO text)."""
    values = row._asdict() if hasattr(row, "_asdict") else row
    return json.dumps(values, default=iso_text)


def iso_text(value) -> str:
    if hasattr(value, "to_utc_datetime"):  # a Beam Timestamp (the typed rows' times)
        value = value.to_utc_datetime(has_tz=True)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def build(pipeline: beam.Pipeline, input_dir: str, output_dir: str) -> None:
    read = pipeline | "ReadDay" >> ReadFromChannelFiles(input_dir, run_id=new_run_id())
    enriched = read | Clean() | Validate() | Dedupe() | Enrich(model=KeywordModel(), customers=read.customers)
    rows = enriched | ToRows()
    _ = (
        rows
        | "RowsToJson" >> beam.Map(as_json)
        | "WriteRows" >> beam.io.WriteToText(f"{output_dir}/complaints", file_name_suffix=".jsonl")
    )
    _ = (
        enriched.dead_letters
        | "LettersToJson" >> beam.Map(as_json)
        | "WriteDeadLetters" >> beam.io.WriteToText(f"{output_dir}/dead_letters", file_name_suffix=".jsonl")
    )
    _ = (
        rows
        | "Category" >> beam.Map(lambda row: row.category)
        | "CountPerCategory" >> beam.combiners.Count.PerElement()
        | "Format" >> beam.MapTuple(lambda category, count: f"{category}\t{count}")
        | "WriteCounts" >> beam.io.WriteToText(f"{output_dir}/label_counts", file_name_suffix=".txt")
    )


def run(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True, help="a day's input directory (twitter/, sms/, customers/...)")
    parser.add_argument("--output-dir", required=True, help="where the rows, dead letters and counts are written")
    args, beam_args = parser.parse_known_args(argv)
    # the local runner unless another is asked for (Beam's default would first try to download Prism)
    with beam.Pipeline(options=PipelineOptions(beam_args or ["--runner=FnApiRunner"])) as pipeline:
        build(pipeline, args.input_dir, args.output_dir)
    for path in sorted(Path(args.output_dir).glob("label_counts-*.txt")):
        print(path.read_text(), end="")


if __name__ == "__main__":
    run()
