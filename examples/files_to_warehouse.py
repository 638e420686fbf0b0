"""One channel from files to the warehouse, through the public transforms: tweets -> cleaned, validated,
deduplicated, enriched complaints committed to the warehouse's Iceberg tables, every rejected record beside them.

    python examples/files_to_warehouse.py --input-dir IN --output-dir OUT [--runner ... other Beam options]

reads ``IN/twitter/*.jsonl`` and the customer master ``IN/customers/*.csv`` and writes, in one commit at the end
of the pipeline (``WriteToWarehouse``: the counts must balance and the quality guard pass, or nothing is
committed and the pipeline fails saying why):

- ``OUT/lake/raw/source=twitter/...``: every record read, verbatim (``WriteToLake``);
- the ``complaints`` and ``dead_letter`` tables of the warehouse ``OUT/warehouse`` (an embedded Iceberg catalog);
- ``OUT/_runs/<run_id>.json``: the run manifest, with the counts (retweets and repeated copies as duplicates).
"""

from __future__ import annotations

import argparse
import datetime as dt

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from transforms import Clean, Dedupe, Enrich, ReadCustomers, ReadFromTwitter, Validate, WriteToLake, WriteToWarehouse
from transforms.records import new_run_id


def build(pipeline: beam.Pipeline, input_dir: str, output_dir: str, run_id: str) -> None:
    today = dt.datetime.now(dt.UTC).date()
    customers = pipeline | "ReadCustomers" >> ReadCustomers(f"{input_dir}/customers/*.csv", run_id=run_id)
    read = pipeline | "ReadTweets" >> ReadFromTwitter(f"{input_dir}/twitter/*.jsonl", run_id=run_id)
    in_lake = read.raw_batches | "WriteLake" >> WriteToLake(output_dir, run_id=run_id, ingest_date=today)
    (
        read
        | Clean()
        | Validate()
        | Dedupe()
        | Enrich(customers=customers)
        | WriteToWarehouse(f"{output_dir}/warehouse", run_id=run_id, batch_date=today, lake=in_lake)
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True, help="a day's input directory (twitter/, customers/)")
    parser.add_argument("--output-dir", required=True, help="where the files are written")
    args, beam_args = parser.parse_known_args(argv)
    # the local runner unless another is asked for (Beam's default would first try to download Prism)
    options = PipelineOptions(beam_args or ["--runner=FnApiRunner"])
    run_id = new_run_id()
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, args.input_dir, args.output_dir, run_id)
    print(f"run {run_id}: manifest {args.output_dir}/_runs/{run_id}.json")


if __name__ == "__main__":
    main()
