"""The benchmarks' own behaviour (not their timings, which `make benchmark` reports): Beam's floor does the
floor's work and no less, and the streaming benchmark refuses bad use, and follows the local services' ports,
before it starts anything."""

import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.support.paths import REPO
from tests.support.ports import free_port


def run_benchmark(script: str, *args: str, env: dict | None = None, timeout: int = 300):
    return subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def written_records(directory) -> list[tuple]:
    rows = [row for path in directory.glob("*.parquet") for row in pq.read_table(path).to_pylist()]
    return sorted((row["raw"] or "", row["fields"]) for row in rows)


@pytest.mark.parametrize(
    "runner",
    [["--mode", "in_memory"], ["--mode", "multi_processing"], ["--runner", "prism"]],
    ids=["one process", "worker processes", "prism"],
)
def test_beams_floor_writes_every_record_the_floor_writes(generated_day, tmp_path, runner, request):
    if runner == ["--runner", "prism"]:
        request.getfixturevalue("prism")  # skips (fails on CI) where Prism is not built
    floor = run_benchmark("floor.py", "--input-dir", str(generated_day["dir"]), "--output-dir", str(tmp_path / "floor"))
    assert floor.returncode == 0, floor.stderr
    beam_floor = run_benchmark(
        "beam_floor.py",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(tmp_path / "beam"),
        *runner,
        "--shards",
        "3",
    )
    assert beam_floor.returncode == 0, beam_floor.stderr[-2000:]

    expected = written_records(tmp_path / "floor")
    assert len(expected) > 1500  # the generated day's channel records, damaged lines included
    assert sorted(p.name for p in (tmp_path / "beam").glob("*.parquet")) == [
        "shard-000.parquet",
        "shard-001.parquet",
        "shard-002.parquet",
    ]
    assert written_records(tmp_path / "beam") == expected
    assert f'"read":{len(expected)}' in beam_floor.stdout


def test_beams_floor_sizes_its_shards_as_the_batch_pipeline_does():
    sys.path[:0] = [str(REPO / "benchmarks")]
    try:
        import beam_floor

        from beam_pipelines import batch
    finally:
        del sys.path[0]
    assert (beam_floor.BYTES_PER_SHARD, beam_floor.MIN_SHARDS) == (batch.BYTES_PER_SHARD, batch.MIN_SHARDS)


def test_beams_floor_refuses_an_input_without_channel_files(tmp_path):
    result = run_benchmark("beam_floor.py", "--input-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(f"error: no channel files under {tmp_path}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rates", "100,fast"], "argument --rates: expected rates like 100,200,400 (expected a number, got 'fast')"),
        (["--rates", "100,0"], "argument --rates: expected rates like 100,200,400 (expected a positive number, got 0)"),
        (["--seconds", "-3"], "argument --seconds: expected a positive number, got -3"),
        (["--parallelism", "0"], "argument --parallelism: expected a positive number, got 0"),
    ],
)
def test_the_stream_benchmark_refuses_bad_use_in_one_line(args, message):
    result = run_benchmark("stream_throughput.py", *args, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(message)
    assert "Traceback" not in result.stderr


def test_the_stream_benchmark_asks_the_flink_cluster_on_the_port_local_services_uses(tmp_path):
    port = free_port()  # nothing listens there: the benchmark must say so, naming that port, and start nothing
    result = run_benchmark(
        "stream_throughput.py", "--runner", "flink", env={"COMPLAINTS_FLINK_REST_PORT": str(port)}, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"no Flink cluster at http://localhost:{port} (<urlopen error [Errno 111] Connection refused>); start it: "
        "python runners/local_services.py start"
    ]


def test_the_benchmarks_submit_to_flink_on_the_ports_local_services_opened():
    env = {
        "COMPLAINTS_FLINK_REST_PORT": "18081",
        "COMPLAINTS_FLINK_JOB_PORT": "18099",
        "COMPLAINTS_PYTHON_POOL_PORT": "15000",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path[:0] = ['benchmarks']; import batch_throughput, stream_throughput;"
            "print(batch_throughput.FLINK == stream_throughput.FLINK); print(*stream_throughput.FLINK)",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    same, options = result.stdout.strip().splitlines()
    assert same == "True"
    assert options.split() == [
        "--runner",
        "FlinkRunner",
        "--flink_master=localhost:18081",
        "--job_endpoint=localhost:18099",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:15000",
    ]
