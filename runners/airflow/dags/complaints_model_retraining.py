"""Models, every week: train on the labelled data (``COMPLAINTS_TRAINING_DATA``, folders separated by ``:``) and
the reviewers' corrections (``OUT/_review``, when there are some), then promote the new model only if it scores
at least as well on the held-out file (``COMPLAINTS_HOLDOUT_FILE``, columns ``COMPLAINTS_HOLDOUT_TEXT_COLUMN`` /
``..._LABEL_COLUMN``, default ``text`` / ``category``) as the serving one. The registry
(``COMPLAINTS_MODELS_DIR``, ``models/registry.py``) keeps every version; ``current`` is what the scheduled batches
use from their next run, ``previous`` is one ``complaints model rollback`` away."""

from __future__ import annotations

import os

import beejan_airflow as beejan
from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

with DAG(
    dag_id="complaints_model_retraining",
    description="Weekly training; promotion only if at least as good on held-out data",
    schedule=CronTriggerTimetable("0 4 * * 0", timezone="UTC"),
    start_date=beejan.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=beejan.DEFAULT_ARGS,
    tags=["complaints", "models"],
    doc_md=__doc__,
) as dag:

    @task
    def train_candidate(run_id=None) -> str:
        data = [path for path in os.environ.get("COMPLAINTS_TRAINING_DATA", "").split(os.pathsep) if path]
        labels = beejan.output_dir() / "_review" / "reviews.labelled.jsonl"  # from complaints_review_reinject
        if data and labels.is_file() and labels.stat().st_size:
            data.append(str(labels.parent))
        if not data:
            from airflow.exceptions import AirflowFailException

            raise AirflowFailException("COMPLAINTS_TRAINING_DATA is not set: no labelled data to train on")
        candidate = beejan.models_dir() / "candidates" / "".join(ch if ch.isalnum() else "-" for ch in run_id)
        beejan.run_complaints(
            "model", "train", *[arg for path in data for arg in ("--data", path)], "--output-dir", str(candidate)
        )
        return str(candidate)

    @task
    def promote_if_as_good(candidate: str) -> str:
        return beejan.run_complaints(
            "model",
            "promote",
            "--candidate",
            candidate,
            "--registry",
            str(beejan.models_dir()),
            "--holdout",
            os.environ.get("COMPLAINTS_HOLDOUT_FILE", ""),
            "--text-column",
            os.environ.get("COMPLAINTS_HOLDOUT_TEXT_COLUMN", "text"),
            "--label-column",
            os.environ.get("COMPLAINTS_HOLDOUT_LABEL_COLUMN", "category"),
            *(
                ["--label-map", os.environ["COMPLAINTS_HOLDOUT_LABEL_MAP"]]
                if os.environ.get("COMPLAINTS_HOLDOUT_LABEL_MAP")
                else []
            ),
        )

    promote_if_as_good(train_candidate())
