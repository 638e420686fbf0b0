"""A batch on a real Flink cluster commits by itself, exactly once, to the shared Iceberg catalog on PostgreSQL
(``tests/e2e/test_shared_catalog.py``): its launcher killed right after the job was submitted; a TaskManager
killed while the commit step is half-way through the tables. The rows are compared with the same day run on the
direct runner (``batch_output``).

Both run on a private cluster (``tests/support/flink_cluster.py``), started once for the module: the second test
kills its TaskManager, which must not break the jobs of others on the shared one; and its Python worker pool runs
in this checkout, so the commit step that runs on the workers is this checkout's code (the shared pool imports the
code of the checkout that started it).
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from schemas import tables
from tests.support import flink_cluster
from tests.support.paths import REPO
from tests.support.postgres import catalog_rows, fresh_catalog_database
from warehouse.catalog import DEFAULT_PASSWORD_ENV, CatalogConfig, load_table, open_catalog, split_password

pytestmark = [pytest.mark.e2e, pytest.mark.flink, pytest.mark.postgres]

VOLATILE = ("run_id", "ingested_at", "failed_at")  # which run wrote a row and when
KEYS = {"complaints": "complaint_id", "dead_letter": "error_id"}


@pytest.fixture
def catalog_uri():
    with fresh_catalog_database() as uri:
        yield uri


def launch_batch(
    day: dict, out, catalog_uri: str, flink_options: list[str], job_name: str, *extra: str
) -> subprocess.Popen:
    """``complaints batch`` of ``day`` into ``out`` on a Flink cluster, its tables in the PostgreSQL catalog at
    ``catalog_uri``, the job named ``job_name``; in a process group of its own (so it can be killed whole). As in
    production, the launcher is given the URI without the password and the password apart; the job carries
    neither, and the cluster's Python workers have their own (``local_services.start_python_worker_pool``)."""
    uri, password = split_password(catalog_uri)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "batch",
            "--input-dir",
            str(day["dir"]),
            "--output-dir",
            str(out),
            "--date",
            day["date"],
            "--quiet",
            *extra,
            *flink_options,
            f"--job_name={job_name}",
        ],
        cwd=REPO,
        env={**os.environ, "COMPLAINTS_CATALOG_URI": uri, DEFAULT_PASSWORD_ENV: password},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def the_run(out) -> dict:
    """The run's manifest (``OUT/_runs/<run_id>.json``); there is one run in ``out``."""
    manifests = list((out / "_runs").glob("*.json"))
    assert len(manifests) == 1, manifests
    return json.loads(manifests[0].read_text())


def table_of(out, catalog_uri: str, name: str):
    config = CatalogConfig(str(out / "warehouse"), uri=catalog_uri)
    return load_table(open_catalog(config, create=False), config, tables.WAREHOUSE_TABLES[name])


def stable_rows(table, key: str) -> list[dict]:
    volatile = [name for name in VOLATILE if name in table.column_names]
    return table.drop_columns(volatile).sort_by(key).to_pylist()


def assert_committed_once(out, catalog_uri: str, direct_out, run_id: str) -> None:
    """Each table has exactly one snapshot, the run's, and the rows of the direct runner's run of the day, each
    once."""
    from warehouse.read import read_arrow

    for name, key in KEYS.items():
        iceberg = table_of(out, catalog_uri, name)
        snapshots = iceberg.snapshots()
        assert len(snapshots) == 1, (name, [snapshot.summary for snapshot in snapshots])
        assert snapshots[0].summary["run_id"] == run_id
        ours = read_arrow(CatalogConfig(str(out / "warehouse"), uri=catalog_uri), name)
        ids = ours.column(key).to_pylist()
        assert len(ids) == len(set(ids))
        assert stable_rows(ours, key) == stable_rows(
            read_arrow(CatalogConfig(str(direct_out / "warehouse")), name), key
        )


@pytest.fixture(scope="module")
def private_flink():
    """A private Flink cluster: one TaskManager with one slot; a job that loses its TaskManager is restarted up to
    twice."""
    try:
        cluster = flink_cluster.PrivateFlinkCluster(slots=1, restart_attempts=2)
    except FileNotFoundError as missing:
        if os.environ.get("COMPLAINTS_REQUIRE_SERVICES"):
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_a_detached_batch_whose_launcher_is_killed_after_submission_commits_exactly_once(
    private_flink, catalog_uri, generated_day, batch_output, tmp_path
):
    """``complaints batch --detach``, ``kill -9``-ed as soon as its job is on the cluster (unless it has already
    exited, as a detached launcher does once the job is submitted). At that moment nothing is committed: what is
    committed afterwards, the snapshot of each table and the run manifest, the job's own commit step writes."""
    rest = private_flink.rest
    out, job_name = tmp_path / "out", f"detached-{uuid.uuid4().hex[:10]}"
    launcher = launch_batch(generated_day, out, catalog_uri, private_flink.submit_options(), job_name, "--detach")
    try:
        deadline = time.monotonic() + 300
        while launcher.poll() is None and flink_cluster.job_named(rest, job_name) is None:
            assert time.monotonic() < deadline, "the job did not reach the cluster within 300 s"
            time.sleep(0.2)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
    assert launcher.returncode in (0, -signal.SIGKILL), launcher.stderr.read()[-3000:]
    assert the_run(out)["status"] == "running"  # the launcher is gone, and it committed nothing
    assert catalog_rows(catalog_uri) == []
    job = flink_cluster.wait_for_job(rest, job_name, ("FINISHED", "FAILED", "CANCELED"), timeout=600)
    assert job["state"] == "FINISHED", flink_cluster.job_detail(rest, job["jid"])
    manifest = the_run(out)
    assert manifest["status"] == "succeeded" and manifest["runner"] == "FlinkRunner"
    assert manifest["counts"] == batch_output["manifest"]["counts"]
    assert_committed_once(out, catalog_uri, batch_output["dir"], manifest["run_id"])


def _lock_the_catalog_row(catalog_uri: str, table: str):
    """An open transaction holding the catalog row of ``table`` ``FOR UPDATE``: a commit to that table waits for
    it, in PostgreSQL, until the transaction ends (closing the returned connection ends it)."""
    import psycopg

    connection = psycopg.connect(catalog_uri.replace("postgresql+psycopg://", "postgresql://", 1))
    rows = connection.execute(
        "select table_name from iceberg_tables where table_name = %s for update", (table,)
    ).fetchall()
    assert rows == [(table,)]
    return connection


def _sessions_waiting_for_a_lock(catalog_uri: str) -> int:
    import psycopg

    with psycopg.connect(catalog_uri.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
        return connection.execute(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
        ).fetchone()[0]


def test_a_taskmanager_killed_during_the_commit_step_leaves_each_row_once(
    private_flink, catalog_uri, generated_day, batch_output, tmp_path
):
    """The tables exist (empty) before the run, and the test holds the catalog row of the table committed last
    (the dead letters) locked: the commit step commits the complaints, then waits in PostgreSQL to commit the
    dead letters. Then the TaskManager (with its Python workers) is killed and a new one started; the lock is let
    go. Flink restarts the job; its commit step finds the complaints already committed by this run and commits
    the dead letters: one snapshot per table, each row once, the manifest balanced."""
    from transforms.sinks import ICEBERG_TABLES
    from warehouse.catalog import ensure_table

    out, job_name = tmp_path / "out", f"tm-kill-{uuid.uuid4().hex[:10]}"
    config = CatalogConfig(str(out / "warehouse"), uri=catalog_uri)
    catalog = open_catalog(config)
    for table in ICEBERG_TABLES:
        ensure_table(catalog, config, table)
    *first, last = [table.name for table in ICEBERG_TABLES]  # the commit step commits them in this order
    lock = _lock_the_catalog_row(catalog_uri, last)
    launcher = launch_batch(generated_day, out, catalog_uri, private_flink.submit_options(), job_name)
    try:
        deadline = time.monotonic() + 600
        while _sessions_waiting_for_a_lock(catalog_uri) == 0:  # the commit step is at the last table
            assert launcher.poll() is None, launcher.stderr.read()[-3000:]
            assert time.monotonic() < deadline, f"the commit step never reached table {last}"
            time.sleep(0.25)
        # half-way: the tables before the last are committed, the last not
        assert [len(table_of(out, catalog_uri, name).snapshots()) for name in first] == [1] * len(first)
        assert table_of(out, catalog_uri, last).snapshots() == []
        job = flink_cluster.job_named(private_flink.rest, job_name)
        private_flink.kill_taskmanager()
        lock.close()  # the killed worker's session ends; nothing it had not committed is kept
        private_flink.replace_taskmanager()
        _, stderr = launcher.communicate(timeout=600)
        assert launcher.returncode == 0, stderr[-4000:]
    finally:
        lock.close()
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    assert flink_cluster.failures(private_flink.rest, job["jid"]), "the job never lost its TaskManager"
    assert flink_cluster.job_named(private_flink.rest, job_name)["state"] == "FINISHED"
    manifest = the_run(out)
    assert manifest["status"] == "succeeded"
    assert manifest["counts"] == batch_output["manifest"]["counts"]
    assert_committed_once(out, catalog_uri, batch_output["dir"], manifest["run_id"])
