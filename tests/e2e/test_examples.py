"""The examples in ``examples/`` run as a user runs them (``python examples/X.py --input-dir IN --output-dir OUT``)
on a generated day, and what they write agrees with what the generator says the day holds."""

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    from beam_pipelines.generator import generate

    input_dir = tmp_path_factory.mktemp("input")
    expected = generate(str(input_dir), dt.date(2026, 11, 20), volume=300, seed=23, defect_rate=0.1)
    return {"dir": input_dir, "expected": expected}


def run_example(name: str, input_dir, output_dir) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / name), "--input-dir", str(input_dir), "--output-dir", str(output_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]


def json_lines(paths):
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def test_one_channel_from_files_commits_its_complaints_and_dead_letters_to_the_warehouse(day, tmp_path):
    from tests.support.warehouse import read_table

    run_example("files_to_warehouse.py", day["dir"], tmp_path)
    twitter, customers = day["expected"]["twitter"], day["expected"]["customers"]
    rows = read_table(tmp_path / "warehouse" / "complaints").to_pylist()
    assert len(rows) == twitter["written"] and {row["source"] for row in rows} == {"twitter"}
    assert len({row["complaint_id"] for row in rows}) == len(rows)
    letters = read_table(tmp_path / "warehouse" / "dead_letter").to_pylist()
    assert Counter(letter["source"] for letter in letters) == {
        "twitter": twitter["rejected"],
        "customers": customers["rejected"],
    }
    (manifest_path,) = (tmp_path / "_runs").glob("*.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "succeeded" and manifest["balanced"] is True
    counts = manifest["counts"]
    assert (counts["twitter"]["read"], counts["twitter"]["in_lake"]) == (twitter["read"], twitter["read"])
    assert counts["twitter"]["duplicates"] == twitter["duplicates"]
    assert counts["customers"]["loaded"] == customers["loaded"]
    lake_lines = sum(len(path.read_text().splitlines()) for path in (tmp_path / "lake").rglob("*.jsonl"))
    assert lake_lines == twitter["read"]


def test_typed_complaints_grouped_by_category_and_by_channel_and_priority(day, tmp_path):
    run_example("typed_complaints_sql.py", day["dir"], tmp_path)
    written = {source: counts["written"] for source, counts in day["expected"].items() if source != "customers"}
    categories = json_lines(tmp_path.glob("by_category-*.jsonl"))
    assert {row["category"] for row in categories} <= {"Network", "Billing", "Customer Service", "Other"}
    assert sum(row["complaints"] for row in categories) == sum(written.values())
    assert all(-1 <= row["mean_sentiment"] <= 1 for row in categories)
    per_source = Counter()
    for path in tmp_path.glob("by_source_priority-*.csv"):
        for row in csv.DictReader(path.read_text().splitlines()):
            assert row["priority"] in ("P1", "P2", "P3", "P4")
            per_source[row["source"]] += int(row["complaints"])
    assert per_source == written
