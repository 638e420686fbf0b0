"""The pipelines on a real Flink 1.19 cluster (``runners/local_services.py``): Beam's Flink job server, the
Python SDK workers of an external worker pool, two task slots."""

import uuid

import pytest

from tests.support.cli import run_cli
from tests.support.warehouse import read_table

pytestmark = [pytest.mark.e2e, pytest.mark.flink]

VOLATILE = {"run_id", "ingested_at", "failed_at"}  # which run wrote a row and when


def rows(out, name, key):
    table = read_table(out / "warehouse" / name).to_pylist()
    by_key = {row[key]: {k: v for k, v in row.items() if k not in VOLATILE} for row in table}
    assert len(by_key) == len(table)
    return by_key


def test_batch_on_flink_at_parallelism_2_gives_the_rows_of_the_direct_runner(
    flink_services, generated_day, batch_output, tmp_path
):
    out = tmp_path / "flink"
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(out),
        "--date",
        generated_day["date"],
        "--quiet",
        *flink_services,
        "--parallelism=2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    manifest = json.loads(next((out / "_runs").glob("*.json")).read_text())
    direct = json.loads(sorted((batch_output["dir"] / "_runs").glob("*.json"))[0].read_text())
    assert manifest["runner"] == "FlinkRunner" and manifest["balanced"]
    assert manifest["counts"] == direct["counts"]
    assert rows(out, "complaints", "complaint_id") == rows(batch_output["dir"], "complaints", "complaint_id")
    assert rows(out, "dead_letter", "error_id") == rows(batch_output["dir"], "dead_letter", "error_id")


# -- streaming from the real Kafka broker on Flink, with checkpoints -----------------------------------------
LIVE = ("twitter", "webform")


def _topics_and_transport(kafka_services):
    topics = {"twitter": f"f{uuid.uuid4().hex[:8]}.twitter", "webform": f"f{uuid.uuid4().hex[:8]}.webforms"}
    return [
        "--transport",
        "kafka",
        "--bootstrap-servers",
        kafka_services["bootstrap_servers"],
        "--twitter-topic",
        topics["twitter"],
        "--webform-topic",
        topics["webform"],
        "--expansion-service",
        kafka_services["expansion_service"],
    ]


def _published(result) -> int:
    assert result.returncode == 0, result.stderr[-2000:]
    return sum(int(n) for n in result.stdout.split() if n.isdigit())


def _assert_matches_the_truth(output_dir, expected):
    """stream_counts balance per source and equal what the generator says one pass of its day gives; the
    warehouse holds each complaint once, as many as were written."""
    from beam_pipelines.streaming import stream_totals

    totals = stream_totals(str(output_dir))
    for source in LIVE:
        entry, truth = totals[source], expected[source]
        assert entry["balanced"], (source, entry)
        assert (entry["read"], entry["written"], entry["rejected"], entry["duplicates"]) == (
            truth["read"],
            truth["written"],
            truth.get("rejected", 0),
            truth.get("duplicates", 0),
        ), (source, entry)
    ids = [row["complaint_id"] for row in read_table(output_dir / "warehouse" / "complaints").to_pylist()]
    assert len(ids) == len(set(ids)) == sum(totals[source]["written"] for source in LIVE)
    volume = read_table(output_dir / "warehouse" / "complaint_volume").to_pylist()
    assert sum(row["complaints"] for row in volume) == len(ids)


@pytest.mark.kafka
def test_stream_on_flink_with_checkpoints_balances_per_source(flink_services, kafka_services, generated_day, tmp_path):
    transport = _topics_and_transport(kafka_services)
    published = _published(run_cli("ingest", "publish", "--from", str(generated_day["dir"]), *transport[:8]))
    customers = next((generated_day["dir"] / "customers").glob("*.csv"))
    result = run_cli(
        "stream",
        "run",
        *transport,
        "--output-dir",
        str(tmp_path),
        "--max-records",
        str(published),
        "--customers",
        str(customers),
        "--group-id",
        f"flink-{uuid.uuid4().hex[:6]}",
        *flink_services,
        "--checkpointing_interval=2000",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "balanced" in result.stdout and "NOT BALANCED" not in result.stdout
    _assert_matches_the_truth(tmp_path, generated_day["expected"])


def _running_job(rest: str) -> dict | None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{rest}/jobs/overview", timeout=5) as response:
        jobs = [job for job in json.load(response)["jobs"] if job["state"] == "RUNNING"]
    return jobs[0] if jobs else None


def _overview(rest: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{rest}/overview", timeout=5) as response:
        return json.load(response)


def _checkpoints(rest: str, job_id: str) -> dict:
    """The job's checkpoint counts: completed, failed, restored, ..."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{rest}/jobs/{job_id}/checkpoints", timeout=5) as response:
        return json.load(response)["counts"]


@pytest.mark.kafka
def test_a_taskmanager_killed_mid_stream_loses_nothing_and_counts_nothing_twice(
    flink_services, kafka_services, generated_day, tmp_path
):
    """``kill -9`` of the TaskManager while a live stream runs, then a new TaskManager: Flink restores the job
    from its last checkpoint and replays Kafka from the offsets in it. The warehouse ends with every complaint
    once and stream_counts with exactly one pass of the day: the rows replayed after the checkpoint replace,
    not add to, what the lost TaskManager had committed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from beam_pipelines.streaming import stream_totals
    from runners import local_services
    from tests.support.paths import REPO
    from tests.support.services import FLINK_PORTS

    rest = f"http://localhost:{FLINK_PORTS['the Flink JobManager']}"
    assert _running_job(rest) is None, "another job runs on the cluster"
    transport = _topics_and_transport(kafka_services)
    expected = generated_day["expected"]
    total = sum(expected[source]["read"] for source in LIVE)
    customers = next((generated_day["dir"] / "customers").glob("*.csv"))
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "stream",
            "run",
            *transport,
            "--output-dir",
            str(tmp_path),
            "--customers",
            str(customers),
            "--window-seconds",
            "5",
            "--allowed-lateness",
            "60",
            "--group-id",
            f"kill-{uuid.uuid4().hex[:6]}",
            "--quiet",
            *flink_services,
            "--checkpointing_interval=2000",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    publisher = None

    def committed() -> int:
        complaints = tmp_path / "warehouse" / "complaints"
        return read_table(complaints).num_rows if (complaints / "metadata").exists() else 0

    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # publish once the job runs and has checkpointed (a cold start is slow)
            running = _running_job(rest)
            if running and _checkpoints(rest, running["jid"])["completed"] >= 1:
                break
            assert job.poll() is None, job.stderr.read()[-3000:]
            time.sleep(0.5)
        # 834 messages at 10/s: 80 s of input, room for the first commit on a loaded machine before the kill
        publisher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "beam_pipelines",
                "ingest",
                "publish",
                "--from",
                str(generated_day["dir"]),
                *transport[:8],
                "--rate",
                "10",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # mid-stream: rows committed and a checkpoint taken, input still coming
            running = _running_job(rest)
            if running and committed() and _checkpoints(rest, running["jid"])["completed"] >= 1:
                break
            assert job.poll() is None, job.stderr.read()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail("the stream committed nothing within 180 s")
        assert publisher.poll() is None, "the publisher finished before the kill: raise its volume or lower --rate"
        before = committed()
        os.killpg(int(local_services._pid_file("flink-taskmanager").read_text()), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while _overview(rest)["taskmanagers"] and time.monotonic() < deadline:  # until the loss is noticed
            time.sleep(0.5)
        assert _overview(rest)["taskmanagers"] == 0
        assert local_services.start_flink_taskmanager() is True  # a new one, with 2 slots
        assert publisher.wait(timeout=300) == 0, publisher.stderr.read()[-2000:]
        deadline, totals = time.monotonic() + 300, {}
        while time.monotonic() < deadline:  # until every message is counted and every window has closed
            totals = stream_totals(str(tmp_path))
            if sum(entry["read"] for entry in totals.values()) >= total and all(
                entry["balanced"] for entry in totals.values()
            ):
                break
            assert job.poll() is None, job.stderr.read()[-3000:]
            time.sleep(1)
        time.sleep(5)  # a copy counted twice would show now
    finally:
        for process in (publisher, job):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
        try:
            job.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            job.kill()
    assert 0 < before < sum(expected[source]["written"] for source in LIVE)  # the kill came mid-stream
    assert job.returncode == 130  # Ctrl-C: interrupted, and the job on the cluster cancelled with it
    deadline = time.monotonic() + 30
    while _running_job(rest) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _running_job(rest) is None
    assert _checkpoints(rest, _last_job(rest))["restored"] >= 1  # it did come back from a checkpoint
    _assert_matches_the_truth(tmp_path, expected)


@pytest.mark.kafka
def test_a_partition_that_gets_nothing_does_not_hold_the_windows_on_flink(
    flink_services, kafka_services, generated_day, tmp_path
):
    """On Flink, checkpointed: see ``stream_with_a_partition_that_gets_nothing``. This is the stall CI saw in
    the supervisor test: a topic partition left empty by the producer kept every window open."""
    from tests.support.streams import stream_with_a_partition_that_gets_nothing

    stream_with_a_partition_that_gets_nothing(
        kafka_services, generated_day, tmp_path, [*flink_services, "--checkpointing_interval=2000"]
    )


def _last_job(rest: str) -> str:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{rest}/jobs/overview", timeout=5) as response:
        return max(json.load(response)["jobs"], key=lambda job: job["start-time"])["jid"]


def _cancel(rest: str, job_id: str) -> None:
    import time
    import urllib.request

    request = urllib.request.Request(f"{rest}/jobs/{job_id}?mode=cancel", method="PATCH")
    urllib.request.urlopen(request, timeout=10).close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not any(job["jid"] == job_id and job["state"] != "CANCELED" for job in _jobs(rest)):
            return
        time.sleep(0.5)
    pytest.fail(f"job {job_id} was not cancelled within 60 s")


def _jobs(rest: str) -> list[dict]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{rest}/jobs/overview", timeout=5) as response:
        return json.load(response)["jobs"]


@pytest.mark.kafka
def test_the_supervisor_starts_a_lost_stream_again_from_its_last_checkpoint(
    flink_services, kafka_services, generated_day, tmp_path
):
    """``complaints stream supervise`` (what the stream-supervisor DAG runs every few minutes): a stream that is
    not running is started; a running one is left alone; a cancelled one is started again from its retained
    checkpoint with the same run id, and what arrives afterwards is counted into the same run: the warehouse
    holds both days once and stream_counts equal one pass of each."""
    import datetime as dt
    import time

    from beam_pipelines.generator import generate
    from beam_pipelines.streaming import stream_totals
    from tests.support.services import FLINK_PORTS

    rest = f"http://localhost:{FLINK_PORTS['the Flink JobManager']}"
    assert _running_job(rest) is None, "another job runs on the cluster"
    transport = _topics_and_transport(kafka_services)
    second_day = tmp_path / "second-day"
    truths = [
        generated_day["expected"],
        generate(str(second_day), dt.date(2026, 11, 21), volume=300, seed=5, defect_rate=0.05),
    ]
    written = sum(truth[source]["written"] for truth in truths for source in LIVE)
    customers = next((generated_day["dir"] / "customers").glob("*.csv"))
    stream_id = f"sup-{uuid.uuid4().hex[:6]}"
    out = tmp_path / "out"
    stream_args = [
        *transport,
        "--output-dir",
        str(out),
        "--customers",
        str(customers),
        "--window-seconds",
        "5",
        "--allowed-lateness",
        "60",
        "--group-id",
        f"sup-{uuid.uuid4().hex[:6]}",
        "--quiet",
        *flink_services,
        "--checkpointing_interval=2000",
    ]

    def supervise():
        result = run_cli(
            "stream", "supervise", "--flink-rest", rest, "--stream-id", stream_id, "--", *stream_args, timeout=400
        )
        assert result.returncode == 0, (
            result.stderr[-3000:] + (out / "_streams" / f"{stream_id}.log").read_text()[-3000:]
        )
        return result.stdout.strip()

    def committed() -> int:
        complaints = out / "warehouse" / "complaints"
        return read_table(complaints).num_rows if (complaints / "metadata").exists() else 0

    def mine() -> list[dict]:
        return [job for job in _jobs(rest) if job["name"].startswith(f"complaints-{stream_id}-")]

    try:
        _published(run_cli("ingest", "publish", "--from", str(generated_day["dir"]), *transport[:8]))
        started = supervise()
        assert started.startswith(f"started: job complaints-{stream_id}-") and "without a checkpoint" in started
        assert supervise().startswith("alive: ")
        assert len(mine()) == 1
        first_job = mine()[0]
        first_day_written = sum(generated_day["expected"][source]["written"] for source in LIVE)
        deadline = time.monotonic() + 300
        while committed() < first_day_written and time.monotonic() < deadline:
            time.sleep(1)
        assert committed() == first_day_written
        checkpoints = _checkpoints(rest, first_job["jid"])["completed"]
        while _checkpoints(rest, first_job["jid"])["completed"] <= checkpoints and time.monotonic() < deadline:
            time.sleep(0.5)  # a checkpoint taken after the day was committed

        _cancel(rest, first_job["jid"])  # the job is lost (cancelled by hand, or failed for good)
        restarted = supervise()
        assert restarted.startswith(f"restarted: job {first_job['name']} from file:"), restarted
        second_job = next(job for job in mine() if job["state"] == "RUNNING")
        assert second_job["name"] == first_job["name"]  # the same run id carries on
        assert _checkpoints(rest, second_job["jid"])["restored"] == 1

        _published(run_cli("ingest", "publish", "--from", str(second_day), *transport[:8]))
        reads = sum(truth[source]["read"] for truth in truths for source in LIVE)
        deadline, totals = time.monotonic() + 300, {}
        while time.monotonic() < deadline:
            totals = stream_totals(str(out))
            if (
                sum(entry["read"] for entry in totals.values()) >= reads
                and committed() >= written
                and all(entry["balanced"] for entry in totals.values())
            ):
                break
            time.sleep(1)
        time.sleep(5)  # a copy counted twice would show now
    finally:
        for job in mine():
            if job["state"] == "RUNNING":
                _cancel(rest, job["jid"])
    totals = stream_totals(str(out))
    for source in LIVE:
        expected = {
            outcome: sum(truth[source].get(outcome, 0) for truth in truths)
            for outcome in ("read", "written", "rejected", "duplicates")
        }
        assert {outcome: totals[source][outcome] for outcome in expected} == expected, (source, totals[source])
    ids = [row["complaint_id"] for row in read_table(out / "warehouse" / "complaints").to_pylist()]
    assert len(ids) == len(set(ids)) == written


def test_the_stream_benchmark_refuses_more_parallelism_than_the_cluster_has_slots(flink_services):
    """A job that asks for more slots than the cluster has would wait for them forever: the benchmark asks the
    cluster's REST API first and stops before it publishes anything."""
    import subprocess
    import sys

    from runners import local_services
    from tests.support.paths import REPO

    too_many = local_services.FLINK_SLOTS + 1
    result = subprocess.run(
        [sys.executable, "benchmarks/stream_throughput.py", "--runner", "flink", "--parallelism", str(too_many)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            f"error: --parallelism {too_many} is more than the cluster's {local_services.FLINK_SLOTS} task slots "
            "(start it with COMPLAINTS_FLINK_SLOTS=N python runners/local_services.py start)"
        )
    )
