"""The streaming job, every five minutes: is it running on Flink? If not, start it again from its last retained
checkpoint (``complaints stream supervise``, ``runners/flink_supervisor.py``), with the same run id so its
windows' counts are replaced, not added. Flink restarts a job after a lost TaskManager by itself; this covers a
job that was cancelled, failed for good or was lost with its cluster.

Set ``COMPLAINTS_STREAM_ARGS`` to the ``complaints stream run`` flags of the job (``--transport kafka --output-dir OUT
--runner FlinkRunner --flink_master=... --job_endpoint=... --environment_type=EXTERNAL ...``), and
``COMPLAINTS_FLINK_REST`` (default ``http://localhost:8081``) and ``COMPLAINTS_STREAM_ID`` (default
``stream-kafka``). A restart alerts like any failure would not: the task log and the supervisor's log
(``OUT/_streams/<stream id>.log``) say what it did."""

from __future__ import annotations

import os
import shlex

import beejan_airflow as beejan
from airflow.exceptions import AirflowFailException
from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

with DAG(
    dag_id="complaints_stream_supervisor",
    description="Keeps the streaming job running on Flink, restarting it from its last checkpoint",
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
    start_date=beejan.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={**beejan.DEFAULT_ARGS, "retries": 1},
    tags=["complaints", "streaming", "flink"],
    doc_md=__doc__,
) as dag:

    @task
    def keep_stream_alive() -> str:
        stream_args = shlex.split(os.environ.get("COMPLAINTS_STREAM_ARGS", ""))
        if not stream_args:
            raise AirflowFailException("COMPLAINTS_STREAM_ARGS is not set: the stream's flags are not known")
        return beejan.run_complaints(
            "stream",
            "supervise",
            "--flink-rest",
            os.environ.get("COMPLAINTS_FLINK_REST", "http://localhost:8081"),
            "--stream-id",
            os.environ.get("COMPLAINTS_STREAM_ID", "stream-kafka"),
            "--",
            *stream_args,
        )

    keep_stream_alive()
