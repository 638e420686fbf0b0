"""A bug that makes a stage raise on every record must not pass as a run full of dead letters: the run fails,
nothing is committed, and the batch's earlier good output stays."""

import datetime as dt

import pytest

from beam_pipelines.batch import BrokenStage, check_quality, plan_batch, run_batch
from beam_pipelines.config import load_settings
from models.rules import RulesModel
from tests.support.warehouse import current_snapshots, read_table
from transforms.run_checks import QualityLimits


class ModelWithABug(RulesModel):
    """The rules model with a bug that raises on every complaint."""

    def predict(self, complaints):
        raise KeyError("category_confidence")


def test_a_stage_that_raises_on_every_record_is_refused_and_the_earlier_commit_stays(tmp_path):
    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=150, seed=2, defect_rate=0.02)
    settings = load_settings("dev")
    local = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]

    def plan():
        return plan_batch(
            str(tmp_path / "input"),
            str(tmp_path / "out"),
            settings,
            batch_date=dt.date(2026, 11, 20),
            batch_id="guarded",
            beam_args=local,
        )

    good = run_batch(plan(), settings, RulesModel)
    rows = read_table(tmp_path / "out" / "warehouse" / "complaints")
    assert good["balanced"] and rows.num_rows > 100

    with pytest.raises(BrokenStage, match=r"enrich:unexpected_KeyError \d+"):
        run_batch(plan(), settings, ModelWithABug)
    for table in ("complaints", "dead_letter"):  # still at the good run's snapshot
        assert current_snapshot(tmp_path / "out", table) == good["snapshots"][table]
    assert read_table(tmp_path / "out" / "warehouse" / "complaints").equals(rows)


def current_snapshot(out, name):
    return current_snapshots(out / "warehouse")[name]


def test_a_few_unexpected_errors_are_dead_letters_but_more_than_the_threshold_fail():
    counts = {"sms": {"read": 100, "rejected": 3, "rejected_by_reason": {"clean:unexpected_ValueError": 3}}}
    check_quality(counts, QualityLimits(max_unexpected_errors=3), "staging")
    with pytest.raises(BrokenStage):
        check_quality(counts, QualityLimits(max_unexpected_errors=2), "staging")


def test_a_commit_that_fails_leaves_the_tables_at_their_snapshot_and_says_so_in_one_line(tmp_path, monkeypatch):
    from beam_pipelines.batch import CommitFailed
    from beam_pipelines.generator import generate
    from warehouse import commit

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=60, seed=4, defect_rate=0.05)
    settings = load_settings("dev")

    def plan():
        return plan_batch(
            str(tmp_path / "input"),
            str(tmp_path / "out"),
            settings,
            batch_date=dt.date(2026, 11, 20),
            beam_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"],
        )

    good = run_batch(plan(), settings, RulesModel)

    def catalog_down(*args, **kwargs):
        raise commit.CommitConflict("beejan.complaints: other writers kept committing")

    monkeypatch.setattr(commit, "upsert_files", catalog_down)
    with pytest.raises(CommitFailed, match="tables are at their previous snapshot: run the batch again"):
        run_batch(plan(), settings, RulesModel)
    for table in ("complaints", "dead_letter"):
        assert current_snapshot(tmp_path / "out", table) == good["snapshots"][table]
    assert not (tmp_path / "out" / "_staging").exists()
