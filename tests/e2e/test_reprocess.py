"""``complaints batch --from-lake``: the lake's raw records of some days through the batch graph again, as a user
runs it after changing rules or models. Checked against the tables the original batches committed."""

import json

import pytest

from tests.support.cli import run_cli
from tests.support.models import write_fixture
from tests.support.warehouse import read_table

pytestmark = pytest.mark.e2e
DAYS = ("2026-11-24", "2026-11-25")


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    """Two generated days batched into one output directory."""
    import datetime as dt

    from beam_pipelines.generator import generate

    out = tmp_path_factory.mktemp("reprocess-out")
    inputs = {}
    for number, day in enumerate(DAYS):
        input_dir = tmp_path_factory.mktemp(f"input-{day}")
        generate(str(input_dir), dt.date.fromisoformat(day), volume=300, seed=40 + number, defect_rate=0.08)
        result = run_cli("batch", "--input-dir", str(input_dir), "--output-dir", str(out), "--date", day, "--quiet")
        assert result.returncode == 0, result.stderr[-2000:]
        inputs[day] = input_dir
    return {"out": out, "inputs": inputs}


def _rows(out, table="complaints", key="complaint_id"):
    return {row[key]: row for row in read_table(out / "warehouse" / table).to_pylist()}


def _batch_of(rows, day):
    return {key for key, row in rows.items() if row["batch_id"].startswith(f"b{day.replace('-', '')}")}


def test_reprocessing_a_day_gives_the_same_rows_with_the_new_run(two_days):
    out = two_days["out"]
    before, dead_before = _rows(out), _rows(out, "dead_letter", "error_id")
    day_two = _batch_of(before, DAYS[1])
    assert day_two and len(day_two) < len(before)

    result = run_cli(
        "batch",
        "--from-lake",
        "--output-dir",
        str(out),
        "--start",
        DAYS[1],
        "--end",
        DAYS[1],
        "--customers",
        str(two_days["inputs"][DAYS[1]] / "customers"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "counts balance" in result.stdout

    after, dead_after = _rows(out), _rows(out, "dead_letter", "error_id")
    assert after.keys() == before.keys() and dead_after.keys() == dead_before.keys()  # nothing new, nothing lost
    reprocess_run = {after[key]["run_id"] for key in day_two}
    assert len(reprocess_run) == 1 and reprocess_run != {before[key]["run_id"] for key in day_two}
    ignore = {"run_id", "batch_id"}
    for key, row in after.items():
        if key in day_two:
            assert {k: v for k, v in row.items() if k not in ignore} == {
                k: v for k, v in before[key].items() if k not in ignore
            }, key
        else:
            assert row == before[key]  # the other day is not touched
    # the lake is read, not written: no lake file of the reprocessing
    assert not list((out / "lake").rglob("reprocess-*"))
    manifest = json.loads((out / "_runs" / f"{reprocess_run.pop()}.json").read_text())
    assert manifest["reprocessed_from_lake"] is True and manifest["balanced"] is True


def test_reprocessing_with_another_model_changes_model_version_on_that_days_rows_only(two_days, tmp_path):
    out = two_days["out"]
    write_fixture(tmp_path / "fixture.labelled.csv")
    models = tmp_path / "models"
    trained = run_cli("model", "train", "--data", str(tmp_path), "--output-dir", str(models))
    assert trained.returncode == 0, trained.stderr[-2000:]
    version = json.loads((models / "model_card.json").read_text())["version"]
    before = _rows(out)
    day_two = {key for key, row in before.items() if row["batch_id"].startswith(("b20261125", "reprocess-20261125"))}

    result = run_cli(
        "batch",
        "--from-lake",
        "--output-dir",
        str(out),
        "--start",
        DAYS[1],
        "--end",
        DAYS[1],
        "--customers",
        str(two_days["inputs"][DAYS[1]] / "customers"),
        "--model-dir",
        str(models),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    after = _rows(out)
    assert len(after) == len(before) and after.keys() == before.keys()
    assert {after[key]["model_version"] for key in day_two} == {version}
    assert all(after[key] == before[key] for key in before.keys() - day_two)
    assert all(before[key]["model_version"] != version for key in before)


def test_bad_reprocess_requests_get_one_line_and_a_non_zero_exit(two_days, tmp_path):
    out = two_days["out"]
    cases = [
        (["--start", DAYS[1], "--end", DAYS[0]], 2, "--end is before --start"),
        (["--start", "2026-13-01", "--end", DAYS[0]], 2, "invalid date"),
        (["--start", "2020-01-01", "--end", "2020-01-02"], 3, "holds no records ingested"),
    ]
    for arguments, code, message in cases:
        result = run_cli("batch", "--from-lake", "--output-dir", str(out), *arguments)
        assert result.returncode == code, (arguments, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    result = run_cli("batch", "--from-lake", "--output-dir", str(tmp_path), "--start", DAYS[0], "--end", DAYS[0])
    assert result.returncode == 3 and "has no lake/" in result.stderr


def test_a_broken_stage_exits_4_from_a_batch_of_files_and_of_the_lake_alike(two_days, tmp_path):
    """One exit-code mapping: a model that raises on every complaint breaks the enrich stage; whether the batch read
    channel files or the lake, the run is not committed and exits 4 (a failed pipeline, which the schedules retry).
    Reprocessing used to exit 5 here (a refused run, not retried)."""
    from tests.support.models import broken_model_dir

    out = two_days["out"]
    broken = broken_model_dir(tmp_path / "broken-model")
    before = _rows(out)
    quiet = {"COMPLAINTS_LOG_LEVEL": "ERROR"}  # the stage's warning per record is not the point here
    of_files = run_cli(
        "batch",
        "--input-dir",
        str(two_days["inputs"][DAYS[0]]),
        "--output-dir",
        str(out),
        "--date",
        DAYS[0],
        "--model-dir",
        str(broken),
        "--quiet",
        env=quiet,
    )
    of_the_lake = run_cli(
        "batch",
        "--from-lake",
        "--output-dir",
        str(out),
        "--start",
        DAYS[0],
        "--end",
        DAYS[0],
        "--model-dir",
        str(broken),
        "--quiet",
        env=quiet,
    )
    for result, not_committed in ((of_files, "nothing was committed"), (of_the_lake, "that day was not committed")):
        assert result.returncode == 4, result.stderr[-2000:]
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith(f"complaints batch: the pipeline failed, {not_committed}: "), line
        assert "enrich:unexpected_TypeError" in line and "Traceback" not in result.stderr
    assert _rows(out) == before  # neither committed anything
