"""The examples of a model of one's own (``own_model_runinference.py``) and of a stream's windowed volumes
(``stream_windowed_volumes.py``) run as a user runs them, as subprocesses, on one small generated day; what they
write agrees with what the generator says the day holds, and the stream's minute windows with the batch's rows."""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.e2e

CATEGORIES = {"Network", "Billing", "Customer Service", "Other"}


def run_example(name: str, *args) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / name), *map(str, args)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def json_lines(paths):
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A generated day (the CLI, as the docs tell a user) and the own-model example's output on it."""
    input_dir, output_dir = tmp_path_factory.mktemp("input"), tmp_path_factory.mktemp("own_model")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "generate",
            "day",
            "--output-dir",
            str(input_dir),
            "--volume",
            "200",
            "--date",
            "2026-11-20",
            "--seed",
            "31",
            "--defect-rate",
            "0.05",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    expected = json.loads((input_dir / "_truth" / "expected_counts.json").read_text())["expected"]
    stdout = run_example("own_model_runinference.py", "--input-dir", input_dir, "--output-dir", output_dir)
    return {"input": input_dir, "output": output_dir, "expected": expected, "stdout": stdout}


def test_own_model_labels_every_complaint_of_the_day(day):
    rows = json_lines(day["output"].glob("complaints-*.jsonl"))
    written = {source: counts["written"] for source, counts in day["expected"].items() if source != "customers"}
    assert Counter(row["source"] for row in rows) == written
    assert len({row["complaint_id"] for row in rows}) == len(rows)
    # every row labelled by the user's model, with its own labels
    assert {row["model_version"] for row in rows} == {"keyword-example-1"}
    assert {row["category"] for row in rows} <= CATEGORIES and len({row["category"] for row in rows}) > 1
    assert {row["priority"] for row in rows} <= {"P2", "P3"}
    for row in rows:
        text = f"{row['subject'] or ''} {row['text'] or ''}".lower()
        if row["category"] == "Network":
            assert any(word in text for word in ("signal", "network", "data", "internet", "call", "5g", "4g", "slow"))
        assert (row["priority"] == "P2") == bool(row["priority_reasons"])
    # every rejected record is beside them, with its reason
    letters = json_lines(day["output"].glob("dead_letters-*.jsonl"))
    rejected = {source: counts.get("rejected", 0) for source, counts in day["expected"].items()}
    assert Counter(letter["source"] for letter in letters) == +Counter(rejected)
    assert all(letter["error_type"] for letter in letters)
    # the label counts it writes and prints are the rows' categories
    printed = dict(line.split("\t") for line in day["stdout"].splitlines() if "\t" in line)
    assert {category: int(count) for category, count in printed.items()} == Counter(row["category"] for row in rows)


def test_stream_counts_each_unique_complaint_once_in_the_minute_window_of_its_event_time(day, tmp_path):
    stdout = run_example(
        "stream_windowed_volumes.py", "--input-dir", day["input"], "--output-dir", tmp_path, "--horizon-seconds", 86400
    )
    windows = json.loads((tmp_path / "window_counts.json").read_text())
    assert all(row["window_start"].endswith(":00+00:00") for row in windows)  # whole minutes
    assert {row["category"] for row in windows} <= CATEGORIES
    # the stream reads the live channels' JSON lines: the batch's rows from those files, once each
    batch_rows = [
        row
        for row in json_lines(day["output"].glob("complaints-*.jsonl"))
        if row["source"] == "twitter" or row["source_file"].endswith(".jsonl")
    ]
    expected = Counter((row["event_time"][:16], row["category"]) for row in batch_rows)
    got = Counter({(row["window_start"][:16], row["category"]): row["complaints"] for row in windows})
    assert sum(got.values()) == len(batch_rows) > 0
    assert len({minute for minute, _ in got}) > 10  # spread over many minutes, not one window
    assert got == expected  # per minute and category, labelled by the same model of the user's
    assert len(stdout.splitlines()) == len(windows)
