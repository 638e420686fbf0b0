"""The upkeep tests' table: rows of ``alerts`` on one day, files aged as after a day, a file a killed writer
left, and ``complaints warehouse maintain`` run on it."""

import datetime as dt
import os
import time
from pathlib import Path

from schemas import tables
from tests.support.cli import run_cli
from warehouse.catalog import CatalogConfig, load_table, open_catalog

DAY = dt.date(2026, 11, 26)
PARTITION = f"alert_date={DAY.isoformat()}"
MOMENT = dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)


def alert(alert_id: str, complaints: int = 9) -> dict:
    """One row of the ``alerts`` table on ``DAY``."""
    return {
        "alert_id": alert_id,
        "scope": "all",
        "minute_start": MOMENT,
        "window_seconds": 60,
        "complaints": complaints,
        "baseline_mean": 1.0,
        "baseline_stddev": 1.0,
        "threshold": 3.0,
        "severity": "warning",
        "detected_at": MOMENT,
        "alert_date": DAY,
    }


def alerts_table(warehouse: Path):
    """The ``alerts`` table of the warehouse at ``warehouse``, as pyiceberg loads it from the catalog."""
    config = CatalogConfig(str(warehouse))
    return load_table(open_catalog(config, create=False), config, tables.ALERTS)


def rows(iceberg, snapshot_id=None) -> list[dict]:
    """The rows of a snapshot (default: current) with delete files applied, by alert id."""
    data = iceberg.scan(snapshot_id=snapshot_id).to_arrow().to_pylist()
    return sorted(data, key=lambda row: row["alert_id"])


def age_files(warehouse: Path, hours: float = 72) -> None:
    """Make every file under ``warehouse`` look ``hours`` old (as the daily upkeep finds yesterday's files)."""
    moment = time.time() - hours * 3600
    for path in warehouse.rglob("*"):
        if path.is_file():
            os.utime(path, (moment, moment))


def stray_file(warehouse: Path) -> Path:
    """A data file a killed writer left behind: no snapshot references it."""
    path = warehouse / "alerts" / PARTITION / "killed-run-00000.parquet"
    path.write_bytes(b"PAR1 left by a killed run")
    return path


def maintain(warehouse: Path, *extra: str, retention: str = "0", orphan_age: str = "0", min_files: str = "100"):
    """``complaints warehouse maintain`` on the ``alerts`` table of ``warehouse``, by default removing whatever
    it may."""
    return run_cli(
        "warehouse",
        "maintain",
        "--warehouse",
        str(warehouse),
        "--tables",
        "alerts",
        "--retention-hours",
        retention,
        "--orphan-age-hours",
        orphan_age,
        "--min-files",
        min_files,
        *extra,
    )
