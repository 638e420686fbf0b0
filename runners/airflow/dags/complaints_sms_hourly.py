"""SMS, every hour: wait for the gateway's export of the hour, run the batch for the day so far, publish freshness.

Each run reads every SMS export of its day that has arrived (``--include sms/sms_YYYYMMDD*``) as one batch of the
day (``--batch-id sms-YYYYMMDD``): the parts of a long message split across hourly files are joined, a rerun or a
backfill of any hour, in any order, leaves the same warehouse (upserts by complaint_id) and the same lake (each
file's lake records replaced, the other hours' kept). The cost is reading the day's earlier files again each
hour, small at SMS volumes. Parts split across midnight stay two complaints flagged ``partial_sms``.

The sensor waits for ``sms/sms_YYYYMMDDHH.txt`` (or ``.txt.gz``) of the hour, or for a later hour's file (an hour
without messages may have no file), at most ``COMPLAINTS_SMS_WAIT_MINUTES`` (180); a timeout fails the run and
alerts (the feed is silent).
"""

from __future__ import annotations

import beejan_airflow as beejan
from airflow.sdk import DAG, PokeReturnValue, task
from airflow.timetables.interval import CronDataIntervalTimetable

with DAG(
    dag_id="complaints_sms_hourly",
    description="SMS gateway exports: the hour's batch, then freshness",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=beejan.START_DATE,
    catchup=False,
    max_active_runs=1,  # hours in order: each run reads the day so far
    default_args=beejan.DEFAULT_ARGS,
    tags=["complaints", "batch", "sms"],
    doc_md=__doc__,
) as dag:

    @task.sensor(**beejan.sensor_timing(300, 180, "COMPLAINTS_SMS_WAIT_MINUTES"))
    def wait_for_sms_export(data_interval_start=None) -> PokeReturnValue:
        hour = f"{data_interval_start:%Y%m%d%H}"
        folder = beejan.landing_dir() / "sms"
        arrived = sorted(path.name for path in folder.glob("sms_??????????.txt*")) if folder.is_dir() else []
        this_hour = [name for name in arrived if name[4:14] == hour]
        later = [name for name in arrived if name[4:14] > hour]
        if not this_hour and later:
            print(f"no export for {hour}, but {later[0]} has arrived: the hour had no messages")
        return PokeReturnValue(is_done=bool(this_hour or later), xcom_value=this_hour)

    @task
    def run_sms_batch(data_interval_start=None) -> str:
        day = data_interval_start.date()
        return beejan.run_complaints(
            "batch",
            "--input-dir",
            str(beejan.landing_dir()),
            "--output-dir",
            str(beejan.output_dir()),
            "--date",
            day.isoformat(),
            "--batch-id",
            f"sms-{day:%Y%m%d}",
            "--include",
            f"sms/sms_{day:%Y%m%d}??.txt",
            "--include",
            f"sms/sms_{day:%Y%m%d}??.txt.gz",
            "--quiet",
            *beejan.profile_args(),
            *beejan.current_model_args(),
            *beejan.runner_args(),
        )

    @task
    def publish_sms_freshness(summary: str, data_interval_start=None, data_interval_end=None) -> dict:
        return beejan.mark_done("sms", f"{data_interval_start:%Y-%m-%dT%H}", data_interval_end, summary)

    batch = run_sms_batch()
    wait_for_sms_export() >> batch
    publish_sms_freshness(batch)
