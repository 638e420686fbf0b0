"""A private Flink 1.19 cluster for a test that must kill a TaskManager: its own JobManager, TaskManager, Beam job
server and Python worker pool on free ports, with its own configuration, logs and pid files in a folder of its
own, started and stopped with ``runners/local_services.py``'s own functions (the Flink distribution and the job
server's jars are the shared ``.services`` ones, linked, not fetched again). The shared cluster is never touched.
And the REST look-ups the Flink tests make of a cluster's jobs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from runners import local_services

REPO = Path(__file__).resolve().parents[2]


def free_port(run: int = 1) -> int:
    """A port that is free, with the ``run - 1`` ports below it free too (the job server takes three)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port - run + 1 > 1024 and all(_free(port - n) for n in range(1, run)):
            return port
    raise RuntimeError("no run of free ports found")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def jobs(rest: str) -> list[dict]:
    """Every job of the cluster whose REST API is at ``rest`` (``http://localhost:PORT``): name, jid, state..."""
    with urllib.request.urlopen(f"{rest}/jobs/overview", timeout=5) as response:
        return json.load(response)["jobs"]


def job_named(rest: str, name: str) -> dict | None:
    """The latest job called ``name`` (Beam's ``--job_name``), or None."""
    found = [job for job in jobs(rest) if job["name"] == name]
    return max(found, key=lambda job: job["start-time"]) if found else None


def wait_for_job(rest: str, name: str, states: tuple[str, ...], timeout: float, alive=None) -> dict:
    """The job called ``name`` once it is in one of ``states``; ``alive()`` (if given) is asked each round and
    may raise to stop waiting. Raises ``TimeoutError`` with the job's last state."""
    deadline, job = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        job = job_named(rest, name)
        if job is not None and job["state"] in states:
            return job
        if alive is not None:
            alive()
        time.sleep(0.5)
    raise TimeoutError(f"job {name} not {'/'.join(states)} within {timeout:.0f} s (last seen: {job})")


def job_detail(rest: str, job_id: str) -> dict:
    with urllib.request.urlopen(f"{rest}/jobs/{job_id}", timeout=5) as response:
        return json.load(response)


def failures(rest: str, job_id: str) -> list[str]:
    """The failures the cluster restarted the job after (its exception history; a lost TaskManager is one), as
    their exception names, latest first."""
    with urllib.request.urlopen(f"{rest}/jobs/{job_id}/exceptions?maxExceptions=20", timeout=5) as response:
        history = json.load(response).get("exceptionHistory", {}).get("entries", [])
    return [entry.get("exceptionName", "") for entry in history]


class PrivateFlinkCluster:
    """JobManager + one TaskManager (``slots``) + Beam's job server + a Python worker pool, all on free ports, in
    a temporary services folder. ``restart_attempts``: how often a job that lost its TaskManager is restarted."""

    def __init__(self, slots: int = 1, restart_attempts: int = 2):
        shared = local_services.HOME / "flink"
        if not (shared / "dist" / "pyflink" / "bin" / "jobmanager.sh").exists() or not (shared / "job-server").is_dir():
            raise FileNotFoundError(
                f"Flink is not fetched into {shared} (python runners/local_services.py fetch --only flink)"
            )
        self.home = Path(tempfile.mkdtemp(prefix="complaints-flink-"))
        (self.home / "flink").mkdir()
        for name in ("dist", "job-server"):  # read only: the private cluster writes its conf, logs and pids here
            (self.home / "flink" / name).symlink_to(shared / name)
        job_port = free_port(run=3)
        self.ports = {
            "COMPLAINTS_FLINK_REST_PORT": free_port(),
            "COMPLAINTS_FLINK_RPC_PORT": free_port(),
            "COMPLAINTS_FLINK_JOB_PORT": job_port,
            "COMPLAINTS_PYTHON_POOL_PORT": free_port(),
        }
        self.env = {
            **os.environ,
            **{name: str(port) for name, port in self.ports.items()},
            "COMPLAINTS_SERVICES_DIR": str(self.home),
            "COMPLAINTS_FLINK_SLOTS": str(slots),
            "COMPLAINTS_FLINK_RESTART_ATTEMPTS": str(restart_attempts),
        }
        self.rest = f"http://localhost:{self.ports['COMPLAINTS_FLINK_REST_PORT']}"

    def _services(self, *calls: str) -> None:
        """Call ``local_services`` functions in a process that has this cluster's folder and ports."""
        code = "from runners import local_services as s\n" + "\n".join(f"s.{call}" for call in calls)
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"private Flink cluster: {calls} failed:\n{result.stderr[-3000:]}\nlogs in {self.home / 'logs'}"
            )

    def start(self) -> PrivateFlinkCluster:
        self._services(
            "start_flink_jobmanager()",
            "start_flink_taskmanager()",
            "start_flink_job_server()",
            "start_python_worker_pool()",
        )
        return self

    def submit_options(self) -> list[str]:
        """The Beam options that submit a pipeline to this cluster."""
        return [
            "--runner",
            "FlinkRunner",
            f"--flink_master=localhost:{self.ports['COMPLAINTS_FLINK_REST_PORT']}",
            f"--job_endpoint=localhost:{self.ports['COMPLAINTS_FLINK_JOB_PORT']}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{self.ports['COMPLAINTS_PYTHON_POOL_PORT']}",
        ]

    def _pid(self, service: str) -> int | None:
        path = self.home / "run" / f"{service}.pid"
        return int(path.read_text()) if path.exists() else None

    def kill_taskmanager(self) -> None:
        """``kill -9`` of the TaskManager and of the Python SDK workers that ran its tasks (the worker pool
        and every worker it started: on a real cluster they live and die with the TaskManager's machine)."""
        for service in ("flink-taskmanager", "python-worker-pool"):
            pid = self._pid(service)
            if pid is not None:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def taskmanagers(self) -> int:
        with urllib.request.urlopen(f"{self.rest}/overview", timeout=5) as response:
            return json.load(response)["taskmanagers"]

    def replace_taskmanager(self, timeout: float = 60) -> None:
        """Once the JobManager has noticed the lost TaskManager, a new one (and a new worker pool)."""
        deadline = time.monotonic() + timeout
        while self.taskmanagers() and time.monotonic() < deadline:
            time.sleep(0.25)
        self._services("start_python_worker_pool()", "start_flink_taskmanager()")

    def stop(self) -> None:
        subprocess.run(
            [sys.executable, "runners/local_services.py", "stop"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(self.home, ignore_errors=True)
