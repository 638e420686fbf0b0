"""Other engines commit to our Iceberg tables (issue 29): every reader and the committer must stay right.

The other engines' commits are made by ``tests/support/iceberg_engines.py`` (pyiceberg + pyarrow, the files
Spark, Trino and Flink write); ``tests/support/spark.py`` checks the same against a real Spark.
"""

import datetime as dt
import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyiceberg.manifest import DataFileContent

from schemas.tables import WAREHOUSE_TABLES
from serving.query import AsOfOutOfRange, QueryRefused, UnreadableTable, run_query
from serving.warehouse import Warehouse
from tests.support import iceberg_engines as engines
from tests.support.cli import run_cli
from tests.support.iceberg_engines import alert, alerts_table
from warehouse.catalog import CatalogConfig, load_table, open_catalog
from warehouse.commit import write_rows
from warehouse.read import EqualityDeletes, read_arrow, table_state
from warehouse.uris import normalise_uri

DAY = dt.date.fromisoformat(engines.ALERT_DAY)
FOLDER = engines.ALERT_FOLDER
ALERTS = WAREHOUSE_TABLES["alerts"]


def served(warehouse_dir: Path, sql: str, **options) -> list[tuple]:
    warehouse = Warehouse(warehouse_dir, refresh_seconds=0, **options)
    try:
        return sorted(tuple(row.values()) for row in warehouse.rows(sql))
    finally:
        warehouse.close()


def severities(config) -> dict:
    return {row["alert_id"]: row["severity"] for row in read_arrow(config, "alerts").to_pylist()}


def dangling_deletes(iceberg) -> list[str]:
    """Data files that live position delete files of the current snapshot name but the snapshot no longer has."""
    iceberg.refresh()
    live = {normalise_uri(task.file.file_path) for task in iceberg.scan().plan_files()}
    named = set()
    for manifest in iceberg.current_snapshot().manifests(iceberg.io):
        for entry in manifest.fetch_manifest_entry(iceberg.io):
            if entry.data_file.content == DataFileContent.POSITION_DELETES:
                with iceberg.io.new_input(entry.data_file.file_path).open() as handle:
                    named.update(normalise_uri(path) for path in pq.read_table(handle)["file_path"].to_pylist())
    return sorted(named - live)


# -- reads ------------------------------------------------------------------------------------------------------------
def test_a_spark_append_named_file_colon_slash_is_read_and_a_missing_file_is_reported(tmp_path, caplog):
    config, iceberg = alerts_table(tmp_path, ids=("a1",))
    added = engines.spark_append(iceberg, [alert("s1")], FOLDER)
    assert added.file_path.startswith("file:/") and not added.file_path.startswith("file://")
    assert sorted(severities(config)) == ["a1", "s1"]
    assert run_query(tmp_path, "SELECT alert_id FROM alerts ORDER BY 1").column("alert_id").to_pylist() == ["a1", "s1"]
    assert served(tmp_path, "SELECT alert_id FROM alerts") == [("a1",), ("s1",)]
    Path(added.file_path[len("file:") :]).unlink()  # gone from disk, still in the snapshot
    warehouse = Warehouse(tmp_path, refresh_seconds=0)
    with caplog.at_level(logging.ERROR, logger="serving.warehouse"):
        warehouse.refresh(force=True)
    assert warehouse.rows("SELECT alert_id FROM alerts") == [{"alert_id": "a1"}]
    assert warehouse.unreadable_files() == [f"alerts/{FOLDER}/{Path(added.file_path).name}"]  # not silent
    assert "missing" in caplog.text


def test_position_deletes_and_updates_of_other_engines_are_applied_by_every_reader(tmp_path):
    config, iceberg = alerts_table(tmp_path)
    engines.spark_append(iceberg, [alert("s1"), alert("s2")], FOLDER)
    before_delete = iceberg.current_snapshot().snapshot_id
    engines.spark_delete(iceberg, "alert_id", ["a2", "s1"])  # DELETE FROM ... in merge-on-read mode (Trino too)
    engines.spark_update(iceberg, "alert_id", [alert("a3", severity="warning")], FOLDER)  # UPDATE, merge-on-read
    expected = {"a1": "critical", "a3": "warning", "a4": "critical", "s2": "critical"}
    assert severities(config) == expected
    state = table_state(load_table(open_catalog(config), config, ALERTS), "alerts")
    assert state.deleted and set(state.plain_files) < set(state.files)
    sql = "SELECT alert_id, severity FROM alerts"
    assert dict(tuple(row.values()) for row in run_query(tmp_path, sql).to_pylist()) == expected
    assert dict(served(tmp_path, sql)) == expected
    # the fast path stays: a data file no delete names is read by DuckDB directly, the rest arrives deletes applied
    plain = Warehouse(tmp_path, refresh_seconds=0)
    assert set(state.plain_files) <= set(plain._files["alerts"])
    assert plain.scalar("SELECT count(*) FROM alerts") == 4
    # time travel: as of the snapshot before the delete, the deleted rows are there and the update is not
    as_then = dict(tuple(row.values()) for row in run_query(tmp_path, sql, as_of=before_delete).to_pylist())
    assert as_then == {
        "a1": "critical",
        "a2": "critical",
        "a3": "critical",
        "a4": "critical",
        "s1": "critical",
        "s2": "critical",
    }


def test_the_materialized_table_follows_deletes_added_to_files_it_already_holds(tmp_path):
    from beam_pipelines.generator.history import write_history
    from serving.report import write_report

    write_history(str(tmp_path), DAY, days=2, per_day=30, seed=3)
    config = CatalogConfig(str(tmp_path))
    iceberg = load_table(open_catalog(config), config, WAREHOUSE_TABLES["complaints"])
    warehouse = Warehouse(tmp_path, refresh_seconds=0, materialize=("complaints",))
    total = warehouse.scalar("SELECT count(*) FROM complaints")
    rows = read_arrow(config, "complaints").to_pylist()
    gone = [row["complaint_id"] for row in rows if row["event_date"] == DAY][:3]
    changed = next(row for row in rows if row["event_date"] == DAY and row["complaint_id"] not in gone)
    engines.spark_delete(iceberg, "complaint_id", gone)
    engines.spark_update(iceberg, "complaint_id", [{**changed, "text": "updated by spark"}], f"event_date={DAY}")
    assert warehouse.scalar("SELECT count(*) FROM complaints") == total - 3
    assert warehouse.scalar("SELECT count(*) FROM complaints WHERE complaint_id IN (?, ?, ?)", gone) == 0
    assert warehouse.rows("SELECT text FROM complaints WHERE complaint_id = ?", [changed["complaint_id"]]) == [
        {"text": "updated by spark"}
    ]
    warehouse.close()
    on_day = sum(1 for row in rows if row["event_date"] == DAY)
    report = write_report(str(tmp_path), "daily", DAY, str(tmp_path / "reports"))
    assert report.complaints == on_day - 3


def test_equality_deletes_are_refused_in_one_line_by_every_reader_and_the_committer(tmp_path):
    from fastapi.testclient import TestClient

    from serving.api import create_app
    from serving.auth import ApiKeys

    config, iceberg = alerts_table(tmp_path)
    write_rows(config, WAREHOUSE_TABLES["dead_letter"], [])  # another table, still served
    engines.flink_upsert(iceberg, "alert_id", [alert("a1", severity="info")], FOLDER)
    with pytest.raises(UnreadableTable) as refused:
        run_query(tmp_path, "SELECT count(*) FROM alerts")
    message = str(refused.value)
    assert "\n" not in message and "beejan.alerts" in message and "rewrite_data_files" in message
    assert run_query(tmp_path, "SELECT count(*) AS n FROM complaints").column("n").to_pylist() == [0]
    with pytest.raises(EqualityDeletes, match=r"beejan\.alerts"):
        read_arrow(config, "alerts")
    files_before = sorted(p.name for p in (tmp_path / "alerts" / FOLDER).iterdir())
    with pytest.raises(EqualityDeletes, match="rewrite_data_files"):  # committing past them could revive rows
        write_rows(config, ALERTS, [alert("a2", severity="warning")])
    assert sorted(p.name for p in (tmp_path / "alerts" / FOLDER).iterdir()) == files_before  # nothing left behind
    client = TestClient(create_app(Warehouse(tmp_path, refresh_seconds=0), ApiKeys()))
    response = client.get("/api/v1/alerts", params={"start": str(DAY), "end": str(DAY)})
    assert response.status_code == 503 and response.json()["detail"] == message
    assert client.get("/healthz").json()["refused_tables"] == {"alerts": message}
    result = run_cli("query", "--warehouse", str(tmp_path), "SELECT * FROM alerts")
    assert result.returncode == 3 and result.stderr.strip() == f"complaints query: {message}"


# -- the committer ----------------------------------------------------------------------------------------------------
def test_the_committer_keeps_other_engines_deletes_counts_replacements_exactly_and_leaves_no_dangling_delete(tmp_path):
    config, iceberg = alerts_table(tmp_path)
    engines.spark_append(iceberg, [alert("s1"), alert("s2")], FOLDER)
    engines.spark_delete(iceberg, "alert_id", ["a2", "s1"])  # one delete file naming both data files
    # a2 was deleted by Spark: delivered again it is a new row, not a replacement; a3 replaces one live row
    result = write_rows(config, ALERTS, [alert("a2", severity="back"), alert("a3", severity="new")])
    assert (result.rows_written, result.rows_replaced) == (2, 1)
    assert severities(config) == {"a1": "critical", "a2": "back", "a3": "new", "a4": "critical", "s2": "critical"}
    assert dangling_deletes(iceberg) == []
    assert table_state(iceberg, "alerts").deleted == ()  # the delete file left with the files it named
    summary = iceberg.current_snapshot().summary
    assert summary["total-position-deletes"] == "0" and summary["total-records"] == "5"


def test_a_file_whose_live_rows_are_all_replaced_goes_with_its_delete_file_and_other_files_keep_theirs(tmp_path):
    config, iceberg = alerts_table(tmp_path, ids=("a1", "a2"))
    second = FOLDER.replace("25", "26")
    engines.spark_append(
        iceberg, [alert("s1", alert_date=dt.date(2026, 11, 26)), alert("s2", alert_date=dt.date(2026, 11, 26))], second
    )
    engines.spark_delete(iceberg, "alert_id", ["a2", "s2"])  # one delete file per partition
    result = write_rows(config, ALERTS, [alert("a1", severity="new")])  # a1 is the only live row of its file
    assert (result.rows_replaced, result.files_removed) == (1, 1)
    assert severities(config) == {"a1": "new", "s1": "critical"}
    assert dangling_deletes(iceberg) == []
    deleted = table_state(iceberg, "alerts").deleted  # the other partition's delete file stays: it is still right
    assert len(deleted) == 1 and second in deleted[0][0]


# -- the query command ------------------------------------------------------------------------------------------------
def test_query_names_the_tables_for_an_unknown_one_and_the_earliest_time_for_an_as_of_before_it(tmp_path):
    alerts_table(tmp_path)
    with pytest.raises(QueryRefused, match="no table complains; the tables are complaints, "):
        run_query(tmp_path, "SELECT * FROM complains")
    with pytest.raises(AsOfOutOfRange, match="earliest time it can be read as of is 20"):
        run_query(tmp_path, "SELECT count(*) FROM alerts", as_of=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    result = run_cli("query", "--warehouse", str(tmp_path), "SELECT * FROM complains")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "the tables are complaints, dead_letter" in result.stderr
    result = run_cli("query", "--warehouse", str(tmp_path), "--as-of", "2020-01-01T00:00:00Z", "SELECT 1")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "earliest time it can be read as of is" in result.stderr


def test_a_table_whose_snapshots_of_then_expired_is_refused_not_answered_empty(tmp_path):
    import time

    count = {
        "stream_id": "s1",
        "run_id": "r1",
        "source": "sms",
        "outcome": "written",
        "reason": "",
        "count": 3,
        "written_at": dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC),
        "written_date": DAY,
    }
    write_rows(CatalogConfig(str(tmp_path)), WAREHOUSE_TABLES["stream_counts"], [count])  # kept: it is older
    config, iceberg = alerts_table(tmp_path, ids=("a1",))
    first = iceberg.current_snapshot()
    time.sleep(0.05)
    write_rows(config, ALERTS, [alert("a2")])
    iceberg.refresh()
    iceberg.maintenance.expire_snapshots().by_id(first.snapshot_id).commit()
    then = dt.datetime.fromtimestamp(first.timestamp_ms / 1000 + 0.01, dt.UTC)  # alerts held a1 then
    assert run_query(tmp_path, "SELECT count(*) AS n FROM stream_counts", as_of=then).column("n").to_pylist() == [1]
    with pytest.raises(AsOfOutOfRange, match=r"table alerts as of .* its snapshots of then have expired"):
        run_query(tmp_path, "SELECT count(*) FROM alerts", as_of=then)


def test_a_commit_refused_because_another_process_holds_the_catalog_leaves_no_phantom_state(tmp_path):
    import sqlite3

    from warehouse.commit import CommitConflict

    config, _ = alerts_table(tmp_path)
    reader = sqlite3.connect(tmp_path / "catalog.db", isolation_level=None)
    reader.execute("BEGIN")  # a reader that keeps its transaction open (as an open Spark session's JDBC does)
    reader.execute("SELECT * FROM iceberg_tables").fetchall()
    try:
        with pytest.raises(CommitConflict, match="database is locked"):
            write_rows(config, ALERTS, [alert("a1", severity="new")], attempts=2)
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    assert severities(config) == dict.fromkeys(["a1", "a2", "a3", "a4"], "critical")  # nothing of it landed
    assert write_rows(config, ALERTS, [alert("a1", severity="new")]).rows_replaced == 1  # and the next one does
    assert severities(config)["a1"] == "new"
