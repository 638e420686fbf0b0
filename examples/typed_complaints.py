"""Typed complaints: the curated complaints as Beam rows (a schema type derived from the Avro schema), queried
with Beam's schema transforms and with Beam's DataFrame API.

    python examples/typed_complaints.py --input-dir IN --output-dir OUT [--runner ... other Beam options]

reads a whole input directory with ``ReadFromChannelFiles``, turns the enriched complaints into
``transforms.Complaint`` rows with ``ToRows()`` and writes:

- ``OUT/by_category-*.jsonl``: complaints per category and their mean sentiment (``beam.GroupBy`` with
  ``aggregate_field``);
- ``OUT/by_source_priority-*.csv``: complaints per channel and priority (``beam.Select`` of three columns, then
  ``beam.GroupBy`` of two);
- ``OUT/by_category_priority-*.csv``: complaints and mean sentiment per category and priority, through the
  DataFrame API (``to_dataframe``, a pandas ``groupby``, ``to_csv``);
- ``OUT/network_by_region-*.csv``: Network complaints per customer region and how many of them are urgent (P1 or
  P2), through the DataFrame API (a filter with ``.loc``, then ``groupby``). Complaints from unknown customers
  have no region and are left out of this one, as pandas' ``groupby`` leaves out missing keys.

The DataFrame API is Beam's: each pandas operation becomes part of the pipeline and runs on its runner, nothing
is collected into one process. It supports most, not all, of pandas (Beam's ``apache_beam.dataframe`` docs list
what it refuses, such as ``agg`` with a list of functions; this example computes each aggregate on its own and
assigns it as a column). ``SqlTransform`` works on the same rows: see ``typed_complaints_beam_sql.py``.
"""

from __future__ import annotations

import argparse
import json

import apache_beam as beam
from apache_beam.dataframe.convert import to_dataframe
from apache_beam.io import fileio
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

    complaints = to_dataframe(rows)  # a deferred pandas DataFrame, one column per Complaint field
    by_category_priority = complaints.groupby(["category", "priority"])
    summary = by_category_priority.sentiment_score.mean().to_frame(name="mean_sentiment")
    summary["complaints"] = by_category_priority.complaint_id.count()
    summary.to_csv(
        output_dir, "WriteByCategoryPriority", file_naming=fileio.default_file_naming("by_category_priority", ".csv")
    )

    network = complaints.loc[complaints.category == "Network"]
    network = network.assign(urgent=network.priority.isin(["P1", "P2"]))
    by_region = network.groupby("region")
    regions = by_region.complaint_id.count().to_frame(name="complaints")
    regions["urgent"] = by_region.urgent.sum()
    regions.to_csv(
        output_dir, "WriteNetworkByRegion", file_naming=fileio.default_file_naming("network_by_region", ".csv")
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
