"""A real Spark 3.5 (Iceberg 1.10) shares our tables (issue 29): it deletes and updates rows in merge-on-read mode,
as Trino always does, and our readers apply its delete files; our committer commits over them, counting what it
replaces exactly and leaving no delete file that names a file it removed; Spark reads what we committed; and the
Spark call our refusal of equality deletes names (Flink's upserts write them; Spark does not, so
``tests/support/iceberg_engines.py`` makes that one) removes them.

One Spark session stays open throughout, as a user's would, while we read and commit.
"""

import re

import pytest

from schemas.tables import WAREHOUSE_TABLES
from serving.query import UnreadableTable, run_query
from serving.warehouse import Warehouse
from tests.support import iceberg_engines as engines
from tests.support.iceberg_engines import alert, alerts_table
from tests.support.spark import spark_sql, table_name
from warehouse.commit import write_rows
from warehouse.read import equality_delete_files
from warehouse.uris import normalise_uri

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
ALERTS = table_name("alerts")


def ours(warehouse_dir) -> dict:
    """alert_id -> severity as `complaints query` and the server (its materialized copy) read the table."""
    sql = "SELECT alert_id, severity FROM alerts"
    queried = {row["alert_id"]: row["severity"] for row in run_query(warehouse_dir, sql).to_pylist()}
    warehouse = Warehouse(warehouse_dir, refresh_seconds=0, materialize=("alerts",))
    try:
        assert {row["alert_id"]: row["severity"] for row in warehouse.rows(sql)} == queried
    finally:
        warehouse.close()
    return queried


def theirs(spark) -> dict:
    return {row["alert_id"]: row["severity"] for row in spark.rows(f"SELECT alert_id, severity FROM {ALERTS}")}


def test_spark_and_our_readers_and_committer_share_a_table_with_delete_files(tmp_path):
    config, iceberg = alerts_table(tmp_path)
    with spark_sql(tmp_path) as spark:
        spark.execute(
            f"ALTER TABLE {ALERTS} SET TBLPROPERTIES ('write.delete.mode' = 'merge-on-read', "
            "'write.update.mode' = 'merge-on-read', 'write.merge.mode' = 'merge-on-read')"
        )
        spark.execute(
            f"INSERT INTO {ALERTS} SELECT 's1', scope, minute_start, window_seconds, complaints, "
            "baseline_mean, baseline_stddev, threshold, severity, detected_at, alert_date "
            f"FROM {ALERTS} WHERE alert_id = 'a1'"
        )
        spark.execute(f"DELETE FROM {ALERTS} WHERE alert_id IN ('a2', 's1')")
        spark.execute(f"UPDATE {ALERTS} SET severity = 'warning' WHERE alert_id = 'a3'")
        assert spark.rows(f"SELECT count(*) AS n FROM {ALERTS}.delete_files")[0]["n"] >= 1  # merge-on-read it was
        assert theirs(spark) == {"a1": "critical", "a3": "warning", "a4": "critical"}
        assert ours(tmp_path) == {"a1": "critical", "a3": "warning", "a4": "critical"}  # its file:/ files, deletes

        # a2 (deleted by Spark) comes back as a new row; a4 replaces one live row
        result = write_rows(
            config, WAREHOUSE_TABLES["alerts"], [alert("a2", severity="back"), alert("a4", severity="new")]
        )
        assert (result.rows_written, result.rows_replaced) == (2, 1)
        committed = {"a1": "critical", "a2": "back", "a3": "warning", "a4": "new"}
        assert ours(tmp_path) == committed
        assert theirs(spark) == committed  # Spark reads the snapshot we wrote
        named = {
            normalise_uri(row["file_path"])
            for row in spark.rows(f"SELECT DISTINCT file_path FROM {ALERTS}.position_deletes")
        }
        data = {normalise_uri(row["file_path"]) for row in spark.rows(f"SELECT file_path FROM {ALERTS}.data_files")}
        assert named <= data  # no delete file names a data file the table no longer has

        engines.flink_upsert(iceberg, "alert_id", [alert("a1", severity="info")], engines.ALERT_FOLDER)
        with pytest.raises(UnreadableTable) as refused:
            run_query(tmp_path, "SELECT count(*) FROM alerts")
        [call] = re.findall(r"CALL .*\)\)", str(refused.value))
        assert theirs(spark) == {**committed, "a1": "info"}  # Spark applies the equality delete
        spark.execute(call)  # as our refusal printed it
    iceberg.refresh()
    assert equality_delete_files(iceberg) == []
    assert ours(tmp_path) == {**committed, "a1": "info"}
