"""The table catalog: every table of the lake and the warehouse, where it lives, how it is partitioned, which
record schema its rows follow and what identifies a row. Every writer (batch and streaming sinks, the forecast
job, the history generator) and every reader (serving, progress, stream totals) takes these from here.

Locations are relative: a table's ``path`` is under a run's output directory (``OUT/warehouse/complaints``),
its ``name`` is its directory under the warehouse root (``OUT/warehouse``) that the serving side is given, and
its name in the Iceberg catalog (``warehouse/catalog.py``). The lake is JSON-lines files whose partition
columns are Hive-style directories (``source=sms/ingest_date=2026-11-26``); the warehouse tables are Iceberg
tables with identity partitions on the same columns, which are columns of the data files too. ``key`` is what
the committer upserts by: a row with the key of an existing one replaces it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WAREHOUSE_DIR = "warehouse"
LAKE_DIR = "lake"


@dataclass(frozen=True)
class Table:
    name: str  # directory under its root, and the SQL name readers give it
    schema: str  # record schema in schemas/avro (see schemas.avro_schema)
    partition: tuple[str, ...]  # Hive partition columns, outermost first
    key: tuple[str, ...]  # what identifies one row
    order_by: str  # the column a reader holding the table in memory sorts by
    root: str = WAREHOUSE_DIR

    @property
    def path(self) -> str:
        """The table's directory relative to an output directory, e.g. ``warehouse/complaints``."""
        return f"{self.root}/{self.name}"

    def partition_path(self, *values) -> str:
        """``event_date=2026-11-26`` (or ``source=sms/ingest_date=...``) for the partition values given."""
        if len(values) != len(self.partition):
            raise ValueError(f"{self.name} is partitioned by {self.partition}, got {values}")
        return "/".join(
            f"{column}={_partition_value(value)}" for column, value in zip(self.partition, values, strict=True)
        )


def _partition_value(value) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


LAKE = Table(
    "raw",
    "RawRecord",
    ("source", "ingest_date"),
    ("source", "source_file", "source_position"),
    "ingested_at",
    root=LAKE_DIR,
)
COMPLAINTS = Table("complaints", "Complaint", ("event_date",), ("complaint_id",), "event_time")
DEAD_LETTER = Table("dead_letter", "DeadLetter", ("ingest_date",), ("error_id",), "failed_at")
COMPLAINT_VOLUME = Table(
    "complaint_volume",
    "ComplaintVolume",
    ("event_date",),
    ("stream_id", "run_id", "window_start", "minute_start", "source", "category", "priority"),
    "minute_start",
)
ALERTS = Table("alerts", "Alert", ("alert_date",), ("alert_id",), "minute_start")
STREAM_COUNTS = Table(
    "stream_counts",
    "StreamCount",
    ("written_date",),
    ("stream_id", "run_id", "window_start", "source", "outcome", "reason"),
    "written_at",
)
COMPLAINT_EVENTS = Table("complaint_events", "ComplaintEvent", ("event_date",), ("event_id",), "occurred_at")
REVIEWS = Table("reviews", "ReviewItem", ("review_date",), ("item_id",), "updated_at")
FORECAST = Table(
    "forecast", "Forecast", ("forecast_run",), ("forecast_run", "forecast_date", "category", "source"), "forecast_date"
)
FORECAST_BACKTEST = Table(
    "forecast_backtest", "ForecastBacktest", ("forecast_run",), ("forecast_run", "scope", "method"), "scope"
)

#: The warehouse tables by name, in the order readers list them.
WAREHOUSE_TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        COMPLAINTS,
        DEAD_LETTER,
        COMPLAINT_VOLUME,
        ALERTS,
        STREAM_COUNTS,
        FORECAST,
        FORECAST_BACKTEST,
        COMPLAINT_EVENTS,
        REVIEWS,
    )
}
