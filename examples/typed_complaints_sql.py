"""Typed complaints: the curated complaints as Beam rows (a schema type derived from the Avro schema), queried
with Beam's schema transforms.

    python examples/typed_complaints_sql.py --input-dir IN --output-dir OUT [--runner ... other Beam options]

reads a whole input directory with ``ReadFromChannelFiles`` and writes:

- ``OUT/by_category-*.jsonl``: complaints per category and their mean sentiment (``beam.GroupBy`` with
  ``aggregate_field``);
- ``OUT/by_source_priority-*.csv``: complaints per channel and priority (``beam.Select`` of three columns, then
  ``beam.GroupBy`` of two).

``SqlTransform`` works on the same rows; it runs Beam SQL in Java, so it needs a Java expansion service, which
this example does not assume. Beam 2.77's DataFrame API (``to_dataframe``) takes them too, but does not import with
the pandas this project pins (3.x).
"""

from __future__ import annotations

import argparse
import json

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from transforms import Clean, Dedupe, Enrich, ReadFromChannelFiles, ToRows, Validate


def build(pipeline: beam.Pipeline, input_dir: str, output_dir: str) -> None:
    read = pipeline | "Read" >> ReadFromChannelFiles(input_dir)
    rows = (
        read | Clean() | Validate() | Dedupe() | Enrich(customers=read.customers) | ToRows()
    )  # PCollection[transforms.Complaint]

    (
        rows
        | "ByCategory"
        >> beam.GroupBy("category")
        .aggregate_field("complaint_id", beam.combiners.CountCombineFn(), "complaints")
        .aggregate_field("sentiment_score", beam.combiners.MeanCombineFn(), "mean_sentiment")
        | "CategoryAsJson" >> beam.Map(lambda row: json.dumps(row._asdict(), sort_keys=True))
        | "WriteByCategory" >> beam.io.WriteToText(f"{output_dir}/by_category", file_name_suffix=".jsonl")
    )

    (
        rows
        | "SourceAndPriority" >> beam.Select("source", "priority", "complaint_id")
        | "BySourcePriority"
        >> beam.GroupBy("source", "priority").aggregate_field(
            "complaint_id", beam.combiners.CountCombineFn(), "complaints"
        )
        | "PriorityAsCsv" >> beam.Map(lambda row: f"{row.source},{row.priority},{row.complaints}")
        | "WriteBySourcePriority"
        >> beam.io.WriteToText(
            f"{output_dir}/by_source_priority", file_name_suffix=".csv", header="source,priority,complaints"
        )
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True, help="a day's input directory (twitter/, webforms/, ...)")
    parser.add_argument("--output-dir", required=True, help="where the files are written")
    args, beam_args = parser.parse_known_args(argv)
    # the local runner unless another is asked for (Beam's default would first try to download Prism)
    options = PipelineOptions(beam_args or ["--runner=FnApiRunner"])
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, args.input_dir, args.output_dir)


if __name__ == "__main__":
    main()
