"""The review queue's fixes, every hour: the raw records reviewers corrected run through the batch pipeline
(``complaints batch --from-review``), each queue item records what happened, and the reviewers' category and sentiment
corrections are written as training examples (``OUT/_review/reviews.labelled.jsonl``, which the weekly retraining
can read). Nothing pending: nothing runs but the labels file."""

from __future__ import annotations

import beejan_airflow as beejan
from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

with DAG(
    dag_id="complaints_review_reinject",
    description="Re-inject the review queue's corrected records",
    schedule=CronTriggerTimetable("20 * * * *", timezone="UTC"),
    start_date=beejan.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=beejan.DEFAULT_ARGS,
    tags=["complaints", "review"],
    doc_md=__doc__,
) as dag:

    @task
    def reinject_corrections() -> str:
        return beejan.run_complaints(
            "batch",
            "--from-review",
            "--output-dir",
            str(beejan.output_dir()),
            "--customers",
            str(beejan.landing_dir() / "customers"),
            *beejan.profile_args(),
            *beejan.current_model_args(),
            *beejan.runner_args(),
        )

    reinject_corrections()
