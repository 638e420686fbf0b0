"""The local services' settings from the environment: a bad value stops with one line, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runners import local_services

SCRIPT = Path(__file__).resolve().parents[2] / "runners" / "local_services.py"


def status(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "status"], capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("COMPLAINTS_FLINK_SLOTS", "0"),
        ("COMPLAINTS_FLINK_SLOTS", "four"),
        ("COMPLAINTS_KAFKA_PORT", "-1"),
        ("COMPLAINTS_FLINK_REST_PORT", ""),
    ],
)
def test_a_bad_number_in_the_environment_is_one_line_and_a_failure(name, value):
    result = status(**{name: value})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"local_services: {name} must be a whole number of at least 1, got {value!r}"
    ]


def test_the_slots_come_from_the_environment():
    result = subprocess.run(
        [sys.executable, "-c", "import local_services; print(local_services.FLINK_SLOTS)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=SCRIPT.parent,
        env={**os.environ, "COMPLAINTS_FLINK_SLOTS": "6"},
    )
    assert result.stdout.strip() == "6", result.stderr


def test_a_fetch_is_built_aside_and_stamped_with_its_sources(tmp_path):
    """A fetched folder (Spark's venv and jars) is built once per content of its sources, appears whole or not at
    all, and a failed fetch keeps the previous one."""
    from runners import local_services

    source, target, builds = tmp_path / "requirements.txt", tmp_path / "venv", []
    source.write_text("pyspark==3.5.9\n")

    def build(folder):
        builds.append(folder)
        folder.mkdir()
        (folder / "made").write_text(source.read_text())

    local_services._fetch_into(target, [source], build)
    local_services._fetch_into(target, [source], build)
    assert len(builds) == 1 and (target / "made").read_text() == "pyspark==3.5.9\n"
    source.write_text("pyspark==3.5.8\n")

    def fail(folder):
        folder.mkdir()
        raise local_services.ServiceError("no network")

    with pytest.raises(local_services.ServiceError):
        local_services._fetch_into(target, [source], fail)
    assert (target / "made").read_text() == "pyspark==3.5.9\n"
    assert [path.name for path in tmp_path.iterdir() if "fetching" in path.name] == []
    local_services._fetch_into(target, [source], build)
    assert len(builds) == 2 and (target / "made").read_text() == "pyspark==3.5.8\n"


def test_only_names_parts_and_refuses_an_unknown_one_in_one_line():
    assert local_services.parts_named("kafka, xlang,prism") == ("kafka", "xlang", "prism")
    assert local_services.parts_named(None) == tuple(local_services.PARTS)
    with pytest.raises(local_services.ServiceError, match="--only takes a comma-separated list of kafka"):
        local_services.parts_named("kafka,zookeeper")


def test_start_only_starts_the_services_of_the_parts_named(monkeypatch):
    fetched, started = [], []
    monkeypatch.setattr(local_services, "fetch", lambda parts: fetched.append(parts))
    for name in (
        "kafka",
        "java_worker",
        "expansion",
        "flink_jobmanager",
        "flink_taskmanager",
        "flink_job_server",
        "python_worker_pool",
    ):
        monkeypatch.setattr(local_services, f"start_{name}", lambda name=name: started.append(name) or True)
    assert local_services.start(("kafka", "xlang", "prism")) == ["kafka", "java-worker", "expansion"]
    assert fetched == [("kafka", "xlang", "prism")] and "flink_jobmanager" not in started


def test_a_service_that_fails_to_start_leaves_none_of_that_calls_services_running(monkeypatch):
    """``run -- pytest`` whose Flink job server cannot bind its port: the broker and expansion service it had
    started are stopped again, not left holding their ports (a service running before the call is not touched)."""
    stopped = []
    monkeypatch.setattr(local_services, "fetch", lambda parts: None)
    monkeypatch.setattr(local_services, "stop", lambda names: stopped.append(list(names)))
    monkeypatch.setattr(local_services, "start_kafka", lambda: True)
    monkeypatch.setattr(local_services, "start_java_worker", lambda: False)  # already running
    monkeypatch.setattr(local_services, "start_expansion", lambda: True)

    def refuse():
        raise local_services.ServiceError("flink-job-server: exited with 0")

    monkeypatch.setattr(local_services, "start_flink_jobmanager", refuse)
    with pytest.raises(local_services.ServiceError):
        local_services.start(("kafka", "xlang", "flink"))
    assert stopped == [["kafka", "expansion"]]


def test_only_may_follow_the_action_and_a_bad_part_is_one_line(capsys):
    assert local_services.main(["start", "--only", "kafka,nonsense"]) == 1
    assert capsys.readouterr().err.strip().startswith("local_services: --only takes a comma-separated list")
