"""A batch job that runs on after its launcher died, held at a gate before its commit step.

``python -m tests.support.staging_race TWEETS_GLOB OUT RUN_ID GATE_DIR`` runs the public transforms (tweets ->
lake and warehouse) on Beam's FnApiRunner in this process, the job's worker: as a job on Prism or Flink whose
``complaints batch`` launcher was stopped by Ctrl-C or killed. Once its lake files are staged it writes
``GATE_DIR/ready`` and waits for ``GATE_DIR/go`` before the commit step may run, so a test can relaunch (sweep)
while the job still holds staged files it has not committed.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

DAY = dt.date(2026, 11, 20)
STARTED = dt.datetime(2026, 11, 21, 2, tzinfo=dt.UTC)
GATE_TIMEOUT_SECONDS = 300


def claim_as_a_launcher(out: str, run_id: str) -> None:
    """What a waiting ``complaints batch`` does with the run's staging before it submits the job."""
    from transforms import sinks

    sinks.claim_staging(out, run_id)


def wait_at_gate(_, lake_tallies, gate: str):
    """Say the lake files are staged (``lake_tallies`` is every one of them), then wait to be let through."""
    assert lake_tallies, "the job staged no lake file"
    (Path(gate) / "ready").touch()
    deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
    while not (Path(gate) / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"nobody opened the gate {gate}")
        time.sleep(0.1)
    return []


def run_job(tweets_glob: str, out: str, run_id: str, gate: str) -> None:
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from models.rules import RulesModel
    from transforms import Clean, Dedupe, Enrich, ReadFromTwitter, Stage, Validate, ValidationRules
    from transforms.warehouse_io import WriteToLake, WriteToWarehouse

    pipeline = beam.Pipeline(runner=FnApiRunner())
    read = pipeline | ReadFromTwitter(tweets_glob, run_id=run_id, batch_id="held", ingested_at=STARTED, shards=2)
    in_lake = read.raw_batches | WriteToLake(out, run_id=run_id, batch_id="held", ingest_date=DAY)
    enriched = (
        read
        | Clean()
        | Validate(ValidationRules(batch_date=DAY))
        | Dedupe()
        | Enrich(RulesModel, contact_token_key=b"a-key-for-this-test")
    )
    held = (
        pipeline
        | "Gate" >> beam.Create([None])
        | "WaitAtGate" >> beam.FlatMap(wait_at_gate, beam.pvalue.AsList(in_lake), gate)
    )
    tallies = [enriched.tallies, held] | "TalliesAndGate" >> beam.Flatten()
    Stage(enriched.complaints, enriched.dead_letters, tallies) | WriteToWarehouse(
        f"{out}/warehouse", run_id=run_id, batch_id="held", batch_date=DAY, lake=in_lake
    )
    pipeline.run().wait_until_finish()


if __name__ == "__main__":
    run_job(*sys.argv[1:5])
