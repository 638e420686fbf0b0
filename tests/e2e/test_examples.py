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


@pytest.fixture(scope="module")
def committed_complaints(day, tmp_path_factory):
    """The complaint rows ``complaints batch`` commits for the day: what the typed examples' queries must equal."""
    from tests.support.cli import run_cli
    from tests.support.warehouse import read_table

    out = tmp_path_factory.mktemp("batch")
    result = run_cli("batch", "--input-dir", str(day["dir"]), "--output-dir", str(out), "--date", "2026-11-20")
    assert result.returncode == 0, result.stderr[-2000:]
    return read_table(out / "warehouse" / "complaints").to_pylist()


def csv_rows(paths):
    return [row for path in sorted(paths) for row in csv.DictReader(path.read_text().splitlines())]


def test_typed_complaints_grouped_by_category_and_by_channel_and_priority(day, tmp_path, committed_complaints):
    run_example("typed_complaints.py", day["dir"], tmp_path)
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

    # the DataFrame API's answers equal the same questions asked of the committed warehouse rows
    expected = {}
    for row in committed_complaints:
        count, total = expected.get((row["category"], row["priority"]), (0, 0.0))
        expected[(row["category"], row["priority"])] = (count + 1, total + row["sentiment_score"])
    summary = {(row["category"], row["priority"]): row for row in csv_rows(tmp_path.glob("by_category_priority-*.csv"))}
    assert summary.keys() == expected.keys()
    for key, (count, total) in expected.items():
        assert int(summary[key]["complaints"]) == count
        assert float(summary[key]["mean_sentiment"]) == pytest.approx(total / count)

    network = [row for row in committed_complaints if row["category"] == "Network" and row["region"] is not None]
    regions = {row["region"]: row for row in csv_rows(tmp_path.glob("network_by_region-*.csv"))}
    assert {region: int(row["complaints"]) for region, row in regions.items()} == Counter(
        row["region"] for row in network
    )
    assert {region: int(row["urgent"]) for region, row in regions.items()} == {
        region: sum(1 for row in network if row["region"] == region and row["priority"] in ("P1", "P2"))
        for region in regions
    }
    assert sum(int(row["urgent"]) for row in regions.values()) > 0
