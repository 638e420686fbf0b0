"""One channel from files, through the public transforms: tweets -> cleaned, validated, deduplicated, enriched
complaints, with every rejected record beside them.

    python examples/files_to_warehouse.py --input-dir IN --output-dir OUT [--runner ... other Beam options]

reads ``IN/twitter/*.jsonl`` and the customer master ``IN/customers/*.csv`` and writes:

- ``OUT/complaints-*.parquet``: the curated complaints, in the warehouse table's Arrow schema (``schemas``);
- ``OUT/dead_letters-*.jsonl``: every record that was rejected, with its stage and reason;
- ``OUT/tallies-*.jsonl``: what was counted but is no row (records read, retweets and repeated copies).

The last step into the Iceberg warehouse (one snapshot per table, committed by the pipeline) is the warehouse
writer's; until it is in ``transforms`` this example stops at the Parquet files the warehouse is made of.
"""

from __future__ import annotations

import argparse
import json

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

import schemas
from transforms import Clean, Dedupe, Enrich, ReadCustomers, ReadFromTwitter, Validate


def build(pipeline: beam.Pipeline, input_dir: str, output_dir: str) -> None:
    customers = pipeline | "ReadCustomers" >> ReadCustomers(f"{input_dir}/customers/*.csv")
    enriched = (
        pipeline
        | "ReadTweets" >> ReadFromTwitter(f"{input_dir}/twitter/*.jsonl")
        | Clean()
        | Validate()
        | Dedupe()
        | Enrich(customers=customers)
    )
    (
        enriched.complaints
        | "Rows" >> beam.FlatMap(lambda batch: batch.records)
        | "WriteComplaints"
        >> beam.io.WriteToParquet(
            f"{output_dir}/complaints", schemas.arrow_schema("Complaint"), file_name_suffix=".parquet"
        )
    )
    (
        enriched.dead_letters
        | "DeadLettersAsJson" >> beam.Map(lambda letter: json.dumps(letter, default=str, sort_keys=True))
        | "WriteDeadLetters" >> beam.io.WriteToText(f"{output_dir}/dead_letters", file_name_suffix=".jsonl")
    )
    (
        enriched.tallies
        | "SumTallies" >> beam.CombinePerKey(sum)
        | "TalliesAsJson"
        >> beam.MapTuple(
            lambda key, count: json.dumps({"source": key[0], "outcome": key[1], "reason": key[2], "count": count})
        )
        | "WriteTallies" >> beam.io.WriteToText(f"{output_dir}/tallies", file_name_suffix=".jsonl")
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True, help="a day's input directory (twitter/, customers/)")
    parser.add_argument("--output-dir", required=True, help="where the files are written")
    args, beam_args = parser.parse_known_args(argv)
    # the local runner unless another is asked for (Beam's default would first try to download Prism)
    options = PipelineOptions(beam_args or ["--runner=FnApiRunner"])
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, args.input_dir, args.output_dir)


if __name__ == "__main__":
    main()
