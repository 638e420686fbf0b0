"""What the Beejan complaint DAGs share: where things are, how a task runs the ``complaints`` command, which
failures are retried, the failure alert, and the markers that say which slots of which channel are done.

Airflow runs in an environment of its own (``runners/airflow/requirements.txt``): this package imports only the
standard library and Airflow. Every task runs the ``complaints`` command of the project's environment as a
subprocess, so Airflow and Beam never share an interpreter and each keeps its own pins.

Set in the scheduler's and workers' environment (read when a task runs, so a change needs no new DAG parse):

``COMPLAINTS_CLI``            the complaints command (default: the repository's ``.venv/bin/complaints``, else
                              ``complaints`` on PATH)
``COMPLAINTS_LANDING_DIR``    where the channel files arrive, in the input layout (``sms/``, ``phone_logs/``,
                              ``customers/``); default ``landing`` in the repository
``COMPLAINTS_OUTPUT_DIR``     the output of every run (``lake/``, ``warehouse/``, ``_runs/``); default ``out``
``COMPLAINTS_PROFILE``        the profile every command gets (``--profile``); default dev
``COMPLAINTS_RUNNER``         the Beam runner of the batch runs (default DirectRunner); ``COMPLAINTS_BEAM_ARGS``
                              more Beam options, e.g. ``--flink_master=... --environment_type=EXTERNAL``
``COMPLAINTS_REPORTS_DIR``    where the reports go (default ``OUTPUT/reports``)
``COMPLAINTS_MODELS_DIR``     the model registry of the retraining DAG (``current`` is what the batches use)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path

from airflow.exceptions import AirflowFailException

REPO = Path(__file__).resolve().parents[4]

#: exit codes of ``complaints`` that no retry can change: 2 bad usage (a DAG or configuration mistake), 3 the
#: input or output cannot be used, 5 the counts did not balance or the data broke a quality threshold
NOT_RETRIED = {
    2: "bad usage",
    3: "input or output cannot be used",
    5: "counts did not balance or a quality threshold was broken",
}

#: when every DAG's schedule starts (none catches up on missed intervals: backfills are asked for)
START_DATE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def sensor_timing(poke_seconds: float, wait_minutes: float, wait_variable: str) -> dict:
    """A sensor's poke interval and timeout (``wait_variable`` in the environment overrides the wait; the
    interval is never longer than half of it), in reschedule mode: a waiting sensor holds no worker slot."""
    timeout = 60 * float(os.environ.get(wait_variable, wait_minutes))
    return {"poke_interval": min(poke_seconds, max(timeout / 2, 1)), "timeout": timeout, "mode": "reschedule"}


class TransientFailure(RuntimeError):
    """A run that failed for a reason a retry may remove (a runner, broker or catalog unreachable, a crash)."""


def env_path(name: str, default: Path) -> Path:
    return Path(os.environ.get(name) or default)


def landing_dir() -> Path:
    return env_path("COMPLAINTS_LANDING_DIR", REPO / "landing")


def output_dir() -> Path:
    return env_path("COMPLAINTS_OUTPUT_DIR", REPO / "out")


def reports_dir() -> Path:
    return env_path("COMPLAINTS_REPORTS_DIR", output_dir() / "reports")


def models_dir() -> Path:
    return env_path("COMPLAINTS_MODELS_DIR", output_dir() / "models")


def profile_args() -> list[str]:
    profile = os.environ.get("COMPLAINTS_PROFILE")
    return ["--profile", profile] if profile else []


def complaints_command() -> list[str]:
    configured = os.environ.get("COMPLAINTS_CLI")
    if configured:
        return shlex.split(configured)
    local = REPO / ".venv" / "bin" / "complaints"
    return [str(local)] if local.exists() else ["complaints"]


def runner_args() -> list[str]:
    return [
        "--runner",
        os.environ.get("COMPLAINTS_RUNNER", "DirectRunner"),
        *shlex.split(os.environ.get("COMPLAINTS_BEAM_ARGS", "")),
    ]


def current_model_args() -> list[str]:
    """``--model-dir`` of the promoted model, when the retraining DAG has promoted one (else the rules model)."""
    current = models_dir() / "current"
    return ["--model-dir", str(current.resolve())] if (current / "model_card.json").exists() else []


def run_complaints(*args: str) -> str:
    """Run ``complaints ARGS``, its output going to the task log as it comes; returns its standard output.

    Exit 0 returns; exit 2, 3 or 5 (usage, input/output, unbalanced or below quality: the data or the set-up is
    wrong) fails the task for good (``AirflowFailException``, no retry); any other exit (4: the pipeline or the
    commit failed, or a crash) raises ``TransientFailure``, which Airflow retries with backoff. The message names
    the command, the exit code and the command's own last line, which says why."""
    command = [*complaints_command(), *args]
    print("running: " + shlex.join(command), flush=True)
    tail: deque[str] = deque(maxlen=20)
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=REPO)
        out = []
        for line in process.stdout:
            print(line, end="", flush=True)
            out.append(line)
        code = process.wait()
        stderr.seek(0)
        for line in stderr:
            print(line, end="", file=sys.stderr)
            if line.strip():
                tail.append(line.strip())
    if code == 0:
        return "".join(out)
    reason = tail[-1] if tail else f"exit {code}"
    name = " ".join(word for word in args[:2] if not word.startswith("-"))  # e.g. "batch", "model promote"
    if code in NOT_RETRIED:
        raise AirflowFailException(f"complaints {name} exited {code} ({NOT_RETRIED[code]}; not retried): {reason}")
    raise TransientFailure(f"complaints {name} exited {code} (retried): {reason}")


# -- alerts ------------------------------------------------------------------------------------------------
def failure_payload(context) -> dict:
    """What an alert says: the DAG, the task, the run, the try and the reason."""
    instance = context.get("task_instance") or context.get("ti")
    dag = context.get("dag")
    logical = context.get("logical_date")
    return {
        "event": "task_failed",
        "dag_id": getattr(dag, "dag_id", None) or getattr(instance, "dag_id", None),
        "task_id": getattr(instance, "task_id", None),
        "run_id": context.get("run_id") or getattr(instance, "run_id", None),
        "logical_date": logical.isoformat() if logical is not None else None,
        "try_number": getattr(instance, "try_number", None),
        "reason": str(context.get("exception") or context.get("reason") or "unknown"),
    }


def alert_on_failure(context) -> None:
    """Failure callback of every task: ``complaints alert`` sends the payload to the profile's ``[alerts]
    webhook_url`` (or prints it when none is set). If that cannot run, the alert is printed here, so a broken
    project environment still leaves the alert in the task log."""
    payload = failure_payload(context)
    body = json.dumps(payload)
    try:
        result = subprocess.run(
            [*complaints_command(), "alert", *profile_args()],
            input=body,
            text=True,
            capture_output=True,
            timeout=60,
            cwd=REPO,
        )
        print(result.stdout, end="")
        if result.returncode == 0:
            return
        print(f"complaints alert failed ({result.returncode}): {result.stderr.strip()[-300:]}", file=sys.stderr)
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"complaints alert could not run: {error}", file=sys.stderr)
    print("ALERT " + body, flush=True)


#: every task's owner, retries (exponential backoff from one minute, at most half an hour apart) and failure alert
DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": int(os.environ.get("COMPLAINTS_TASK_RETRIES", "3")),
    "retry_delay": dt.timedelta(seconds=float(os.environ.get("COMPLAINTS_RETRY_DELAY_SECONDS", "60"))),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": alert_on_failure,
}


# -- slots done and freshness --------------------------------------------------------------------------------
def marker_path(channel: str, slot: str) -> Path:
    """``OUT/_schedule/<channel>/<slot>.json``: the scheduled batch of that slot (an hour ``2026-11-26T09`` or a
    day ``2026-11-26``) succeeded and was committed."""
    return output_dir() / "_schedule" / channel / f"{slot}.json"


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2))
    temporary.replace(path)


def mark_done(channel: str, slot: str, slot_end: dt.datetime, run_summary: str) -> dict:
    """Record that ``slot`` of ``channel`` is committed, and move the channel's freshness forward (never back:
    a backfill of an older slot leaves it). Returns the freshness record."""
    run_line = next((line for line in run_summary.splitlines() if line.startswith("run ")), "")
    now = dt.datetime.now(dt.UTC).isoformat()
    _write_json(
        marker_path(channel, slot),
        {
            "channel": channel,
            "slot": slot,
            "slot_end": slot_end.isoformat(),
            "run": run_line.split(" ")[1] if run_line else None,
            "completed_at": now,
        },
    )
    freshness_file = output_dir() / "_freshness" / f"{channel}.json"
    previous = json.loads(freshness_file.read_text()) if freshness_file.exists() else {}
    complete_through = max(slot_end.isoformat(), previous.get("complete_through", ""))
    freshness = {"channel": channel, "complete_through": complete_through, "updated_at": now, "last_slot": slot}
    _write_json(freshness_file, freshness)
    print(f"{channel}: slot {slot} done; complete through {complete_through}")
    return freshness


def slots_missing(days: list[dt.date]) -> list[str]:
    """The scheduled batches that must have succeeded before a report of ``days``: each day's last SMS hour
    (each hourly run reads the whole day so far) and its call-centre export."""
    missing = []
    for day in days:
        for channel, slot in (("sms", f"{day.isoformat()}T23"), ("phone", day.isoformat())):
            if not marker_path(channel, slot).exists():
                missing.append(f"{channel} {slot}")
    return missing


def files_present(folder: Path, names: list[str]) -> list[Path]:
    return [folder / name for name in names if (folder / name).exists()]
