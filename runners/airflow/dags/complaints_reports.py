"""Reports, daily, weekly (ISO weeks) and monthly: each waits until the scheduled batches of every day of its
period have succeeded (the SMS day's last hour and the call-centre export, from the markers those DAGs write in
``OUT/_schedule/``), then writes ``complaints report`` for the period to ``COMPLAINTS_REPORTS_DIR``. The wait
(12 h, 24 h, 48 h; ``COMPLAINTS_REPORT_WAIT_MINUTES`` overrides it) ends in a failure and an alert.
"""

from __future__ import annotations

import datetime as dt

import beejan_airflow as beejan
from airflow.sdk import DAG, PokeReturnValue, task
from airflow.timetables.interval import CronDataIntervalTimetable

PERIODS = {  # period -> (cron of the interval boundaries, minutes to wait for the period's batches)
    "daily": ("0 0 * * *", 12 * 60),
    "weekly": ("0 0 * * 1", 24 * 60),
    "monthly": ("0 0 1 * *", 48 * 60),
}


def report_dag(period: str, cron: str, wait_minutes: float) -> DAG:
    with DAG(
        dag_id=f"complaints_report_{period}",
        description=f"The {period} report, once the period's batches have succeeded",
        schedule=CronDataIntervalTimetable(cron, timezone="UTC"),
        start_date=beejan.START_DATE,
        catchup=False,
        default_args=beejan.DEFAULT_ARGS,
        tags=["complaints", "report"],
        doc_md=__doc__,
    ) as dag:

        @task.sensor(
            task_id="wait_for_period_batches",
            **beejan.sensor_timing(600, wait_minutes, "COMPLAINTS_REPORT_WAIT_MINUTES"),
        )
        def wait_for_period_batches(data_interval_start=None, data_interval_end=None) -> PokeReturnValue:
            days = [
                data_interval_start.date() + dt.timedelta(days=n)
                for n in range((data_interval_end.date() - data_interval_start.date()).days)
            ]
            missing = beejan.slots_missing(days)
            if missing:
                print(f"waiting for {len(missing)} batches: {', '.join(missing[:10])}")
            return PokeReturnValue(is_done=not missing)

        @task(task_id=f"write_{period}_report")
        def write_report(data_interval_start=None) -> str:
            return beejan.run_complaints(
                "report",
                "--warehouse",
                str(beejan.output_dir() / "warehouse"),
                "--period",
                period,
                "--date",
                data_interval_start.date().isoformat(),
                "--output",
                str(beejan.reports_dir()),
                *beejan.profile_args(),
            )

        wait_for_period_batches() >> write_report()
    return dag


for _period, (_cron, _wait) in PERIODS.items():
    globals()[f"report_{_period}"] = report_dag(_period, _cron, _wait)
