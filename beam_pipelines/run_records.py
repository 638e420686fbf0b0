"""A launcher's records of its runs in their manifests (``OUT/_runs/<run_id>.json``), including the runs that
never finish. The manifests are read and written by the library (``transforms/run_manifests.py``).

``complaints batch`` writes a run's manifest when it starts (``status: running``, with the host and process that
run it); the run's commit step (``WriteToWarehouse``) rewrites it when the run ends: ``succeeded``, ``refused``,
``unbalanced`` or ``failed``. What the commit step never reaches is recorded here: a run that fails before it is
``failed`` with the error; a run stopped by Ctrl-C is recorded as ``interrupted`` by the command's interrupt
handler; a run whose process was killed (``kill -9``, a lost machine) cannot record anything itself, so the next
run on the same host records it as ``abandoned`` before it starts: its process is gone and its manifest still
says ``running``. Monitoring (``/metrics``' ``complaints_batch_runs{status=...}``) then sees every run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket

from transforms.run_manifests import read_manifest, write_manifest
from transforms.sinks import process_alive

# a run's states; ``running`` is the only one a later run may change
RUNNING, INTERRUPTED, ABANDONED, FAILED = "running", "interrupted", "abandoned", "failed"


def owner() -> dict:
    """This process, as a run manifest names the process that runs it."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def record_started(output_dir: str, manifest: dict, detached: bool = False) -> str:
    """Write the manifest of a run that starts now: ``manifest`` (its identity and plan) with status ``running``
    and this process as its owner. A ``detached`` run (a job submitted without waiting) is owned by its job, not
    by this process, so it is never taken for abandoned when this process ends: its commit step writes its
    outcome."""
    run_owner = {**owner(), "pid": None, "detached": True} if detached else owner()
    return write_manifest(output_dir, {**manifest, "status": RUNNING, "owner": run_owner, "counts": {}})


def record_ended(output_dir: str, run_id: str, status: str, reason: str, replaces=(RUNNING,)) -> dict | None:
    """Mark a run whose manifest says one of ``replaces`` (``running``) as ended with ``status`` (``failed``,
    ``interrupted`` or ``abandoned``) and ``reason``; any other run keeps its manifest. Returns the manifest
    written, or None."""
    manifest = read_manifest(output_dir, run_id)
    if manifest is None or manifest.get("status") not in replaces:
        return None
    finished = dt.datetime.now(dt.UTC)
    manifest.update({"status": status, "reason": reason[:2000], "finished_at": finished.isoformat()})
    started = _parse_time(manifest.get("started_at"))
    if started:
        manifest["duration_seconds"] = round((finished - started).total_seconds(), 3)
    write_manifest(output_dir, manifest)
    return manifest


def manifests_in(output_dir: str, statuses=(RUNNING,)) -> list[dict]:
    """The manifests under ``OUT/_runs`` whose status is one of ``statuses`` (local output only)."""
    runs = os.path.join(output_dir, "_runs")
    if "://" in output_dir or not os.path.isdir(runs):
        return []
    found = []
    for name in sorted(os.listdir(runs)):
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(runs, name), encoding="utf-8") as handle:
                manifest = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("status") in statuses and manifest.get("run_id"):
            found.append(manifest)
    return found


def mark_interrupted(output_dir: str) -> list[str]:
    """Record this process's runs under ``output_dir`` that are still ``running``, or that it has just recorded
    as ``failed`` (a local runner reports an interrupt inside a step as that step's failure), as
    ``interrupted``. The interrupt handler of a command calls it before it exits; returns their run ids."""
    me = owner()
    marked = []
    for manifest in manifests_in(output_dir, (RUNNING, FAILED)):
        if manifest.get("owner") == me and record_ended(
            output_dir,
            manifest["run_id"],
            INTERRUPTED,
            "stopped by an interrupt (Ctrl-C or SIGINT) before its commit",
            replaces=(RUNNING, FAILED),
        ):
            marked.append(manifest["run_id"])
    return marked


def record_abandoned(output_dir: str) -> list[str]:
    """Record as ``abandoned`` every run under ``output_dir`` that still says ``running`` but whose process, on
    this host, is gone (killed, or its machine restarted). Runs of other hosts are never judged. Returns their
    run ids."""
    me = owner()
    marked = []
    for manifest in manifests_in(output_dir):
        owner_of_run = manifest.get("owner") or {}
        if (
            owner_of_run.get("host") != me["host"]
            or owner_of_run.get("pid") == me["pid"]
            or process_alive(owner_of_run.get("pid"))
        ):
            continue
        if record_ended(
            output_dir,
            manifest["run_id"],
            ABANDONED,
            f"its process ({owner_of_run.get('pid')}) ended without recording an outcome (killed, or "
            "its machine stopped); found by a later run",
        ):
            marked.append(manifest["run_id"])
    return marked


def _parse_time(text):
    try:
        return dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
