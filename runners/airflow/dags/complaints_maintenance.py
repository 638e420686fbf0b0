"""Upkeep, every day, in one ``complaints warehouse maintain``: the warehouse's Iceberg tables (compaction of
crowded partitions, snapshot expiry, orphan files), then the lake's retention (ingest dates older than the
profile's ``[lake] retention_days``). Both are safe while batches and streams commit: a commit that lands during
compaction makes it redo that table."""

from __future__ import annotations

import beejan_airflow as beejan
from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

with DAG(
    dag_id="complaints_maintenance",
    description="Iceberg table upkeep and lake retention",
    schedule=CronTriggerTimetable("30 3 * * *", timezone="UTC"),
    start_date=beejan.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=beejan.DEFAULT_ARGS,
    tags=["complaints", "maintenance"],
    doc_md=__doc__,
) as dag:

    @task
    def maintain_warehouse_and_lake() -> str:
        return beejan.run_complaints(
            "warehouse",
            "maintain",
            "--warehouse",
            str(beejan.output_dir() / "warehouse"),
            "--lake",
            str(beejan.output_dir() / "lake"),
            *beejan.profile_args(),
        )

    maintain_warehouse_and_lake()
