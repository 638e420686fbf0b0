"""``make demo`` as a user runs it: ``complaints generate day`` (yesterday, by default) then ``complaints batch`` (no
``--date``) file the data, the lake and the dead letters under one day, so that day's report tells the truth."""

import datetime as dt
import json
import re

import pytest

from beam_pipelines.input_days import day_in_name, day_named_by
from tests.support.cli import latest_manifest, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small ``make demo``: generate (default date) and batch (default date), exactly as the Makefile does."""
    sample, out = tmp_path_factory.mktemp("sample"), tmp_path_factory.mktemp("out")
    generated = run_cli("generate", "day", "--output-dir", str(sample), "--volume", "300", "--defect-rate", "0.1")
    assert generated.returncode == 0, generated.stderr[-2000:]
    batch = run_cli("batch", "--input-dir", str(sample), "--output-dir", str(out), "--quiet")
    assert batch.returncode == 0, batch.stderr[-2000:]
    truth = json.loads((sample / "_truth" / "expected_counts.json").read_text())
    return {
        "sample": sample,
        "out": out,
        "day": truth["date"],
        "manifest": latest_manifest(out),
        "stdout": batch.stdout,
    }


def test_the_batch_takes_the_day_the_generated_files_are_named_for(demo):
    assert demo["manifest"]["batch_date"] == demo["day"]
    for source in ("twitter", "webform", "sms", "phone"):
        partitions = {p.name for p in (demo["out"] / "lake" / "raw" / f"source={source}").iterdir()}
        assert partitions == {f"ingest_date={demo['day']}"}, source


def test_the_daily_report_of_the_demo_day_counts_its_dead_letters(demo, tmp_path):
    rejected = sum(counts["rejected"] for counts in demo["manifest"]["counts"].values())
    assert rejected > 0
    result = run_cli(
        "report",
        "--warehouse",
        str(demo["out"] / "warehouse"),
        "--period",
        "daily",
        "--date",
        demo["day"],
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    page = (tmp_path / f"complaints-daily-{demo['day']}.html").read_text()
    assert f"<b>{rejected:,}</b>" in page and "Nothing was rejected." not in page


def test_the_summary_points_at_the_query_the_report_and_the_manifest_not_a_table_folder(demo):
    stdout, out = demo["stdout"], str(demo["out"])
    assert f"batch date:  {demo['day']}" in stdout
    warehouse_lines = [line for line in stdout.splitlines() if line.startswith(("warehouse:", "dead letter:"))]
    assert len(warehouse_lines) == 2
    for line in warehouse_lines:
        assert "complaints query --warehouse" in line
        assert not re.search(r"warehouse/(complaints|dead_letter)\b", line)  # a table's folder is not for people
    dead_letter_query = re.search(r'complaints query --warehouse \S+ "(.*)"', warehouse_lines[1]).group(1)
    counted = run_cli("query", "--warehouse", f"{out}/warehouse", dead_letter_query, "--output", f"{out}/dl.csv")
    assert counted.returncode == 0, counted.stderr[-2000:]
    rows = (demo["out"] / "dl.csv").read_text().splitlines()[1:]
    assert sum(int(row.rsplit(",", 1)[1]) for row in rows) == sum(
        counts["rejected"] for counts in demo["manifest"]["counts"].values()
    )
    assert f"--period daily --date {demo['day']}" in stdout
    assert f"manifest:    {out}/_runs/{demo['manifest']['run_id']}.json" in stdout


def test_the_day_named_by_files_weighs_them_by_size_and_ignores_undated_names():
    assert day_in_name("sms/sms_2026112609.txt") == dt.date(2026, 11, 26)
    assert day_in_name("phone_logs/calls_20261126.xml.gz") == dt.date(2026, 11, 26)
    assert day_in_name("phone_logs/export.csv") is None and day_in_name("sms/sms_2026134509.txt") is None
    delivery = [(f"sms/sms_20261126{hour:02d}.txt", 5000) for hour in range(1, 24)] + [("sms/sms_2026112700.txt", 90)]
    assert day_named_by(delivery) == dt.date(2026, 11, 26)  # a stray early-hours file of the next day
    two_days = [(f"twitter/tweets_20261125{h:02d}.jsonl", 900) for h in range(24)] + [
        (f"twitter/tweets_20261126{h:02d}.jsonl", 1000) for h in range(24)
    ]
    assert day_named_by(two_days) == dt.date(2026, 11, 26)  # a folder of two whole days: the newest
    assert day_named_by(two_days[:24] + two_days[24:26]) == dt.date(2026, 11, 25)  # a day and two stray hours
    assert day_named_by([("webforms/export.jsonl", 10)]) is None
