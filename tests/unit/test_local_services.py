"""The local services' settings from the environment: a bad value stops with one line, never a traceback."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "runners" / "local_services.py"


def status(**env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "status"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


@pytest.mark.parametrize("name, value", [("COMPLAINTS_FLINK_SLOTS", "0"), ("COMPLAINTS_FLINK_SLOTS", "four"),
                                         ("COMPLAINTS_KAFKA_PORT", "-1"), ("COMPLAINTS_FLINK_REST_PORT", "")])
def test_a_bad_number_in_the_environment_is_one_line_and_a_failure(name, value):
    result = status(**{name: value})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"local_services: {name} must be a whole number of at least 1, got {value!r}"]


def test_the_slots_come_from_the_environment():
    result = subprocess.run([sys.executable, "-c", "import local_services; print(local_services.FLINK_SLOTS)"],
                            capture_output=True, text=True, timeout=60, cwd=SCRIPT.parent,
                            env={**os.environ, "COMPLAINTS_FLINK_SLOTS": "6"})
    assert result.stdout.strip() == "6", result.stderr
