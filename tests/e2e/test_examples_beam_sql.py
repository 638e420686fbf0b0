"""``examples/typed_complaints_beam_sql.py`` runs as a user runs it: typed complaints summarised by Beam's Java
``SqlTransform``, expanded by the real expansion service and run on the real Java worker pool and Prism
(``runners/local_services.py start --only xlang,prism``), and every number it writes equals the same number
computed here from the complaints ``complaints batch`` committed to the warehouse for that day."""

import datetime as dt
import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest

from tests.support.cli import run_cli
from tests.support.paths import REPO
from tests.support.ports import listening
from tests.support.services import SERVICE_PORTS, unavailable
from tests.support.warehouse import read_table

pytestmark = [pytest.mark.e2e, pytest.mark.xlang]

DATE = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def expansion_service(prism) -> str:
    """The expansion service and the Java worker pool it sends Java steps to, as local_services.py runs them."""
    missing = [name for name in ("the expansion service", "the Java worker pool") if not listening(SERVICE_PORTS[name])]
    if missing:
        unavailable(f"not running: {', '.join(missing)} (python runners/local_services.py start --only xlang,prism)")
    return f"localhost:{SERVICE_PORTS['the expansion service']}"


@pytest.fixture(scope="module")
def day(tmp_path_factory, expansion_service):
    """A small generated day with defects, committed by ``complaints batch`` and summarised by the example."""
    from beam_pipelines.generator import generate

    input_dir = tmp_path_factory.mktemp("input")
    generate(str(input_dir), DATE, volume=300, seed=29, defect_rate=0.1)
    batch_dir = tmp_path_factory.mktemp("batch")
    batch = run_cli("batch", "--input-dir", str(input_dir), "--output-dir", str(batch_dir), "--date", str(DATE))
    assert batch.returncode == 0, batch.stderr[-3000:]
    summary_dir = tmp_path_factory.mktemp("summary")
    example = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "typed_complaints_beam_sql.py"),
            "--input-dir",
            str(input_dir),
            "--output-dir",
            str(summary_dir),
            "--date",
            str(DATE),
            "--expansion-service",
            expansion_service,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert example.returncode == 0, example.stderr[-3000:]
    lines = [
        line for path in summary_dir.glob("by_day_category_priority-*.jsonl") for line in path.read_text().splitlines()
    ]
    return {"warehouse": read_table(batch_dir / "warehouse" / "complaints").to_pylist(), "summary": lines}


def summarised(rows: list[dict]) -> dict:
    """The example's query computed over warehouse rows: (event date, category, priority) -> its numbers."""
    groups = defaultdict(list)
    for row in rows:
        groups[(row["event_date"].isoformat(), row["category"], row["priority"])].append(row)
    return {
        key: {
            "complaints": len(group),
            "mean_sentiment": sum(row["sentiment_score"] for row in group) / len(group),
            "negative": sum(row["sentiment_label"] == "negative" for row in group),
            "with_customer": sum(row["customer_id"] is not None for row in group),
            "flagged": sum(bool(row["flags"]) for row in group),
        }
        for key, group in groups.items()
    }


def test_beam_sql_summary_equals_the_same_numbers_computed_from_the_committed_warehouse(day):
    expected = summarised(day["warehouse"])
    got = {}
    for line in day["summary"]:
        row = json.loads(line)
        key = (row.pop("event_date"), row.pop("category"), row.pop("priority"))
        assert key not in got, f"group {key} written twice"
        got[key] = row
    # every committed complaint is counted once, in its own group, and each group's numbers are the warehouse's
    assert sum(numbers["complaints"] for numbers in got.values()) == len(day["warehouse"]) > 250
    assert got.keys() == expected.keys()
    for key, numbers in expected.items():
        assert got[key] == {**numbers, "mean_sentiment": pytest.approx(numbers["mean_sentiment"], abs=1e-9)}, key
    # the day is varied enough for the query's columns to mean something
    assert len({key[1] for key in got}) >= 3 and len({key[2] for key in got}) >= 3
    assert 0 < sum(numbers["flagged"] for numbers in got.values()) < len(day["warehouse"])
    assert 0 < sum(numbers["with_customer"] for numbers in got.values()) < len(day["warehouse"])
