"""Call-centre exports, every day: wait for the day's CSV or XML export, run the batch for the day, publish
freshness.

The export of day D (``phone_logs/calls_YYYYMMDD.csv`` or ``.xml``, ``.gz`` too) arrives after the day ends; the
sensor waits at most ``COMPLAINTS_CALLS_WAIT_MINUTES`` (720) and then fails and alerts. The batch reads that day's
export files (``--batch-id calls-YYYYMMDD``); a rerun or backfill replaces, never duplicates.
"""

from __future__ import annotations

import beejan_airflow as beejan
from airflow.sdk import DAG, PokeReturnValue, task
from airflow.timetables.interval import CronDataIntervalTimetable

EXPORTS = ("calls_{day}.csv", "calls_{day}.xml", "calls_{day}.csv.gz", "calls_{day}.xml.gz")

with DAG(
    dag_id="complaints_call_centre_daily",
    description="Call-centre exports: the day's batch, then freshness",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=beejan.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=beejan.DEFAULT_ARGS,
    tags=["complaints", "batch", "call-centre"],
    doc_md=__doc__,
) as dag:

    @task.sensor(**beejan.sensor_timing(600, 720, "COMPLAINTS_CALLS_WAIT_MINUTES"))
    def wait_for_call_export(data_interval_start=None) -> PokeReturnValue:
        names = [name.format(day=f"{data_interval_start:%Y%m%d}") for name in EXPORTS]
        present = beejan.files_present(beejan.landing_dir() / "phone_logs", names)
        return PokeReturnValue(is_done=bool(present), xcom_value=[path.name for path in present])

    @task
    def run_call_centre_batch(data_interval_start=None) -> str:
        day = data_interval_start.date()
        includes = [arg for name in EXPORTS for arg in ("--include", "phone_logs/" + name.format(day=f"{day:%Y%m%d}"))]
        return beejan.run_complaints(
            "batch",
            "--input-dir",
            str(beejan.landing_dir()),
            "--output-dir",
            str(beejan.output_dir()),
            "--date",
            day.isoformat(),
            "--batch-id",
            f"calls-{day:%Y%m%d}",
            *includes,
            "--quiet",
            *beejan.profile_args(),
            *beejan.current_model_args(),
            *beejan.runner_args(),
        )

    @task
    def publish_call_centre_freshness(summary: str, data_interval_start=None, data_interval_end=None) -> dict:
        return beejan.mark_done("phone", f"{data_interval_start:%Y-%m-%d}", data_interval_end, summary)

    batch = run_call_centre_batch()
    wait_for_call_export() >> batch
    publish_call_centre_freshness(batch)
