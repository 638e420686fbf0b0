"""Keeping a streaming job alive on Flink: is it running, and if not, start it again from where it stopped.

A streaming job on Flink outlives the command that submitted it (with EXTERNAL or PROCESS workers), and Flink
restarts it after a lost TaskManager by itself; what it does not do is start a job that was cancelled, failed for
good (its restart attempts used up) or lost with its cluster. ``supervise`` is one check, for a scheduler to run
every few minutes (``complaints stream supervise``, the ``complaints_stream_supervisor`` DAG):

- a job of the stream (named ``complaints-<stream id>-<run id>`` by ``complaints stream run``) is running: nothing
  to do;
- otherwise the newest job of the stream is found in Flink's REST API with its latest retained checkpoint or
  savepoint (the cluster keeps them on cancellation: ``execution.checkpointing.externalized-checkpoint-retention:
  RETAIN_ON_CANCELLATION``), and ``complaints stream run`` is started again, detached, from it (``--savepoint_path``)
  with the same run id (``--run-id``), so its windows' counts are replaced, not added;
- no earlier job (or none with a retained checkpoint): a new run starts from the consumer group's offsets.
Standard library only (and the project's run ids): it talks HTTP to Flink's REST API.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from dataclasses import dataclass

from warehouse.runs import new_run_id
from warehouse.uris import is_local, local_path

ALIVE_STATES = ("CREATED", "RUNNING", "RESTARTING", "INITIALIZING", "RECONCILING", "FAILING", "CANCELLING")


class SupervisorError(Exception):
    """The stream could not be checked or started; the message says why."""


@dataclass
class Decision:
    action: str  # "alive", "restarted", "started"
    job_name: str | None = None
    run_id: str | None = None
    restored_from: str | None = None
    job_id: str | None = None

    def describe(self) -> str:
        if self.action == "alive":
            return f"alive: job {self.job_name} ({self.job_id}) is running"
        origin = f"from {self.restored_from}" if self.restored_from else "without a checkpoint (a new run)"
        return f"{self.action}: job {self.job_name} {origin}"


def _get(rest: str, path: str, timeout: float = 10) -> dict:
    try:
        with urllib.request.urlopen(f"{rest.rstrip('/')}{path}", timeout=timeout) as response:
            return json.loads(response.read())
    except OSError as error:
        raise SupervisorError(f"Flink's REST API at {rest} cannot be reached: {error}") from None


def job_prefix(stream_id: str) -> str:
    return f"complaints-{stream_id}-".lower()


def stream_jobs(rest: str, stream_id: str) -> list[dict]:
    """The jobs of ``stream_id`` on the cluster, newest first."""
    jobs = _get(rest, "/jobs/overview").get("jobs", [])
    mine = [job for job in jobs if job.get("name", "").startswith(job_prefix(stream_id))]
    return sorted(mine, key=lambda job: job.get("start-time", 0), reverse=True)


def restore_point(rest: str, job_id: str) -> str | None:
    """The newest retained checkpoint or savepoint of a job (a path Flink can restore from), or None."""
    latest = _get(rest, f"/jobs/{job_id}/checkpoints").get("latest") or {}
    candidates = [
        entry
        for entry in (latest.get("savepoint"), latest.get("completed"))
        if entry and entry.get("external_path") and not entry.get("discarded")
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda entry: entry.get("latest_ack_timestamp", 0))
    path = newest["external_path"]
    local = local_path(path) if is_local(path) else None  # Flink writes file:/x; file:///x is the same file
    if local is not None and not os.path.exists(local):
        return None  # removed since (not retained on cancellation, or cleaned up)
    return path


_GENERATED_RUN_ID = re.compile(r"(\d{8})t(\d{6})z-([0-9a-f]{6})")


def run_id_of(job_name: str, stream_id: str) -> str:
    """The run id a job name carries. Flink's names are lower case: a run id made by ``warehouse.runs.new_run_id``
    (``20261202T133629Z-96bc5e``, by ``complaints stream run`` or by the supervisor) is given its capitals back, so
    the restored job's rows keep its key."""
    run_id = job_name[len(job_prefix(stream_id)) :]
    generated = _GENERATED_RUN_ID.fullmatch(run_id)
    return f"{generated[1]}T{generated[2]}Z-{generated[3]}" if generated else run_id


def supervise(
    rest: str, stream_id: str, stream_command: list[str], log_path: str, wait_seconds: float = 180
) -> Decision:
    """One check of ``stream_id``; starts ``stream_command`` (``complaints stream run ...`` without ``--run-id`` and
    ``--savepoint_path``, which are added) if no job of the stream is alive, and waits until Flink runs it."""
    jobs = stream_jobs(rest, stream_id)
    alive = [job for job in jobs if job.get("state") in ALIVE_STATES]
    if alive:
        return Decision("alive", alive[0]["name"], run_id_of(alive[0]["name"], stream_id), job_id=alive[0]["jid"])
    restored, run_id = None, None
    for job in jobs:  # the newest job that left a checkpoint to restore from
        restored = restore_point(rest, job["jid"])
        if restored:
            run_id = run_id_of(job["name"], stream_id)
            break
    run_id = run_id or new_run_id()
    job_name = f"{job_prefix(stream_id)}{run_id}"
    command = [*stream_command, "--stream-id", stream_id, "--run-id", run_id, f"--job_name={job_name}"]
    if restored:
        command.append(f"--savepoint_path={restored}")
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {' '.join(command)}\n".encode())
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        running = [
            job for job in stream_jobs(rest, stream_id) if job["name"] == job_name and job.get("state") == "RUNNING"
        ]
        if running:
            return Decision("restarted" if restored else "started", job_name, run_id, restored, running[0]["jid"])
        if process.poll() is not None:
            raise SupervisorError(
                f"the stream command exited {process.returncode} before its job ran: {_last_line(log_path)}"
            )
        time.sleep(2)
    raise SupervisorError(f"job {job_name} was not running {wait_seconds:.0f} s after it was submitted; see {log_path}")


def _last_line(path: str) -> str:
    with open(path, "rb") as handle:
        lines = [line.strip() for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"
