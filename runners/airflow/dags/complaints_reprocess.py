"""Reprocessing from the lake, on demand: the raw records ingested from ``start`` to ``end`` through today's
rules, customer master and model (``complaints batch --from-lake``). Trigger it with its parameters, e.g.
``airflow dags trigger complaints_reprocess --conf '{"start": "2026-11-20", "end": "2026-11-26"}'``; without a
``model_dir`` the promoted model (or the rules model) is used. Same complaint_ids: rows are replaced, not added."""

from __future__ import annotations

import beejan_airflow as beejan
from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="complaints_reprocess",
    description="The lake's raw records of some days through the current logic again",
    schedule=None,
    start_date=beejan.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=beejan.DEFAULT_ARGS,
    params={
        "start": Param(type="string", format="date", description="first ingest date"),
        "end": Param(type="string", format="date", description="last ingest date (inclusive)"),
        "model_dir": Param("", type="string", description="model directory (default: the promoted model)"),
    },
    tags=["complaints", "reprocess"],
    doc_md=__doc__,
) as dag:

    @task
    def reprocess_from_lake(params=None) -> str:
        model = ["--model-dir", params["model_dir"]] if params.get("model_dir") else beejan.current_model_args()
        return beejan.run_complaints(
            "batch",
            "--from-lake",
            "--output-dir",
            str(beejan.output_dir()),
            "--start",
            params["start"],
            "--end",
            params["end"],
            "--customers",
            str(beejan.landing_dir() / "customers"),
            "--quiet",
            *beejan.profile_args(),
            *model,
            *beejan.runner_args(),
        )

    reprocess_from_lake()
