"""``complaints warehouse maintain`` after a real Spark 3.5 with Iceberg 1.10 has written to our table (appends spelled
``file:/``, merge-on-read deletes and updates writing position delete files, a tag, a branch, its own manifests
and metadata files): the case that once destroyed a table for every reader. Spark's own orphan finder
(``remove_orphan_files``, dry run) is the oracle: ours never lists a file Spark's would keep. Runs on the Spark
harness (``tests/support/spark.py``): skipped where Spark is not fetched, failed under CI."""

import datetime as dt

import pytest

from tests.support import spark as spark_support
from tests.support.upkeep import age_files, alert, alerts_table, maintain, rows, stray_file
from tests.support.warehouse import add_rows
from warehouse.maintenance import file_key

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

WHEN = "TIMESTAMP '2026-11-26 09:00:00'"


def _values(alert_id: str, complaints: int) -> str:
    return f"('{alert_id}', 'all', {WHEN}, 60, {complaints}, 1.0, 1.0, 3.0, 'warning', {WHEN}, DATE '2026-11-26')"


def test_maintain_after_real_spark_commits_removes_no_file_spark_needs_and_every_reader_still_works(tmp_path):
    for n in range(3):
        add_rows(tmp_path, "alerts", [alert(f"ours-{n}", complaints=n)])
    table = spark_support.table_name("alerts")
    query = f"SELECT alert_id, complaints FROM {table} ORDER BY alert_id"
    with spark_support.spark_sql(tmp_path) as spark:
        spark.execute(
            f"ALTER TABLE {table} SET TBLPROPERTIES ('write.delete.mode'='merge-on-read', "
            "'write.update.mode'='merge-on-read')"
        )
        spark.execute(f"INSERT INTO {table} VALUES {', '.join(_values(f'spark-{n}', 9) for n in range(5))}")
        spark.execute(f"DELETE FROM {table} WHERE alert_id = 'spark-1'")
        spark.execute(f"UPDATE {table} SET complaints = 42 WHERE alert_id = 'spark-2'")
        spark.execute(f"ALTER TABLE {table} CREATE TAG `before-upkeep`")
        spark.execute(f"ALTER TABLE {table} CREATE BRANCH `audit`")
        spark.execute(f"INSERT INTO {table}.branch_audit VALUES {_values('only-on-audit', 1)}")
        spark.execute(f"DELETE FROM {table} WHERE alert_id = 'spark-3'")  # main moves on from the tag
        expected = spark.rows(query)
        tagged = spark.rows(f"{query.replace('ORDER BY', 'VERSION AS OF ' + repr('before-upkeep') + ' ORDER BY')}")
        audit = spark.rows(f"{query.replace('ORDER BY', 'VERSION AS OF ' + repr('audit') + ' ORDER BY')}")
        assert "spark-3" in {row["alert_id"] for row in tagged} and "only-on-audit" in {r["alert_id"] for r in audit}
        stray = stray_file(tmp_path)  # a killed writer's file: both finders must name it
        age_files(tmp_path, hours=48)
        # Spark refuses an orphan age under 24 h; both finders get 25 h (every file is 48 h old)
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)).strftime("%Y-%m-%d %H:%M:%S")
        sparks = spark.rows(
            f"CALL {spark_support.CATALOG}.system.remove_orphan_files(table => 'beejan.alerts', "
            f"older_than => TIMESTAMP '{cutoff}', dry_run => true)"
        )

        dry = maintain(tmp_path, "--dry-run", retention="100000", orphan_age="25")  # no expiry, as Spark's

        assert dry.returncode == 0, dry.stderr
        ours = {line.split("would remove ", 1)[1] for line in dry.stdout.splitlines() if "would remove " in line}
        assert file_key(str(stray)) in {file_key(path) for path in ours}
        assert {file_key(path) for path in ours} <= {file_key(row["orphan_file_location"]) for row in sparks}

        result = maintain(tmp_path, min_files="2")  # retention and orphan age 0: what once broke the table

        assert result.returncode == 0, result.stderr
        assert not stray.exists()
        assert spark.rows(query) == expected
        assert (
            spark.rows(f"{query.replace('ORDER BY', 'VERSION AS OF ' + repr('before-upkeep') + ' ORDER BY')}") == tagged
        )
        assert spark.rows(f"{query.replace('ORDER BY', 'VERSION AS OF ' + repr('audit') + ' ORDER BY')}") == audit
    assert [(row["alert_id"], row["complaints"]) for row in rows(alerts_table(tmp_path))] == [
        (row["alert_id"], row["complaints"]) for row in expected
    ]
