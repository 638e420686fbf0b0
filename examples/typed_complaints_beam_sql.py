"""Typed complaints queried with Beam SQL: the curated complaints as Beam rows, summarised by Beam's Java
``SqlTransform`` (Calcite SQL) through our expansion service, on the Prism runner.

    python runners/local_services.py start --only xlang,prism   # the expansion service, Java workers, Prism
    python examples/typed_complaints_beam_sql.py --input-dir IN --output-dir OUT [--date YYYY-MM-DD]
        [--expansion-service localhost:18097] [--runner ... other Beam options]

reads a whole input directory with ``ReadFromChannelFiles``, enriches it as ``complaints batch --date`` does
(``--date`` is the batch's logical date, which late arrivals are judged against; default today) and writes
``OUT/by_day_category_priority-*.jsonl``: per event date, category and priority, the complaints, their mean
sentiment, how many are negative, matched to a customer and flagged (``QUERY``).

Beam SQL runs in Java: ``SqlTransform`` is expanded by the expansion service ``runners/local_services.py`` runs
(``beam:external:java:sql:v1``, its ``xlang`` part; ``--expansion-service`` names another) and its steps run on
the Java SDK worker pool beside it, while Prism runs the Python steps in this process (``LOOPBACK``). A runner
without cross-language support (Beam's ``FnApiRunner``/``DirectRunner``) cannot run it.

Beam's Java SQL does not read three of ``Complaint``'s fields as they are (the instants ``event_time`` and
``ingested_at``, and ``event_date``), so ``ToSqlRows()`` turns them into whole microseconds since the epoch
(``event_time_micros``, ``ingested_at_micros``) and ISO text first; ``transforms/rows.py`` says why.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.sql import SqlTransform

from runners.options import RunnerSetupError, prism_location
from transforms import Clean, Dedupe, Enrich, ReadFromChannelFiles, ToRows, ToSqlRows, Validate, ValidationRules

#: per event date, category and priority: complaints, mean sentiment, negative ones, ones matched to a customer,
#: flagged ones
QUERY = """
SELECT event_date, category, priority,
       COUNT(*) AS complaints,
       AVG(sentiment_score) AS mean_sentiment,
       SUM(CASE WHEN sentiment_label = 'negative' THEN 1 ELSE 0 END) AS negative,
       COUNT(customer_id) AS with_customer,
       SUM(CASE WHEN CARDINALITY(flags) > 0 THEN 1 ELSE 0 END) AS flagged
FROM PCOLLECTION
GROUP BY event_date, category, priority
"""


def as_json(row) -> str:
    return json.dumps(row._asdict(), sort_keys=True)


def build(pipeline: beam.Pipeline, input_dir: str, output_dir: str, batch_date: dt.date, expansion_service: str):
    read = pipeline | "Read" >> ReadFromChannelFiles(input_dir)
    rows = (
        read
        | Clean()
        | Validate(ValidationRules(batch_date=batch_date))
        | Dedupe()
        | Enrich(customers=read.customers)
        | ToRows()
    )  # PCollection[transforms.Complaint]
    (
        rows
        | ToSqlRows()  # PCollection[transforms.SqlComplaint]
        | "Summarise" >> SqlTransform(QUERY, expansion_service=expansion_service)
        | "AsJson" >> beam.Map(as_json)
        | "Write" >> beam.io.WriteToText(f"{output_dir}/by_day_category_priority", file_name_suffix=".jsonl")
    )


def expansion_service_listens(address: str) -> None:
    """Stops with one line when nothing listens at ``address`` (else Beam's gRPC error is a long traceback)."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "localhost", int(port)), timeout=5).close()
    except (OSError, ValueError):
        raise SystemExit(
            f"no expansion service at {address}: start ours with "
            "`python runners/local_services.py start --only xlang,prism`, or name another with --expansion-service"
        ) from None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True, help="a day's input directory (twitter/, webforms/, ...)")
    parser.add_argument("--output-dir", required=True, help="where the summary is written")
    parser.add_argument(
        "--date", type=dt.date.fromisoformat, default=None, help="the batch's logical date (default: today, UTC)"
    )
    parser.add_argument(
        "--expansion-service",
        default="localhost:18097",
        help="the Java expansion service that expands SqlTransform (default: runners/local_services.py's)",
    )
    args, beam_args = parser.parse_known_args(argv)
    expansion_service_listens(args.expansion_service)
    if beam_args:
        options = PipelineOptions(beam_args)
    else:  # Prism, built by runners/local_services.py, running the Python steps in this process
        try:
            prism = prism_location()
        except RunnerSetupError as error:
            raise SystemExit(str(error)) from None
        options = PipelineOptions(["--runner=PrismRunner", f"--prism_location={prism}", "--environment_type=LOOPBACK"])
    batch_date = args.date or dt.datetime.now(dt.UTC).date()
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, args.input_dir, args.output_dir, batch_date, args.expansion_service)


if __name__ == "__main__":
    main()
