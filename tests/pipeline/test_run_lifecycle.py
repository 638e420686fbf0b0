"""Every run leaves a manifest whatever becomes of it, a commit killed part-way is finished by the next run, and
the commit guard judges a source's rejected share by what its number of records can show."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from beam_pipelines.batch import RefusedRun, check_quality, guard_verdict, reject_guard, wilson_lower_bound
from tests.support.paths import REPO
from tests.support.warehouse import current_snapshots, read_table
from transforms.run_checks import QualityLimits

DAY = dt.date(2026, 11, 20)


def counts_of(**sources):
    return {
        source: {"read": read, "rejected": rejected, "rejected_by_reason": {}}
        for source, (read, rejected) in sources.items()
    }


def test_the_wilson_bound_is_the_textbook_one():
    assert wilson_lower_bound(3, 4, 0.95) == pytest.approx(0.3006, abs=5e-4)  # 3 of 4: 30.1% to 95.4%
    assert wilson_lower_bound(0, 50, 0.95) == 0.0
    assert wilson_lower_bound(75, 100, 0.95) == pytest.approx(0.6569, abs=5e-4)


def test_three_bad_sms_of_four_in_a_quiet_hour_do_not_hold_back_the_run():
    counts = counts_of(sms=(4, 3), twitter=(900, 20))
    check_quality(counts, QualityLimits(), "staging")  # not refused
    guard = reject_guard(counts, QualityLimits())
    assert guard["sources"]["sms"]["decision"] == "too_few"
    assert "sms 3 of 4: fewer than 20 records, too few to judge" in guard_verdict(guard)


def test_a_share_just_above_the_limit_needs_more_records_to_refuse():
    quality = QualityLimits(max_reject_ratio=0.25, min_records_for_reject_ratio=20)
    check_quality(counts_of(sms=(40, 12)), quality, "staging")  # 30% of 40: could be 25% by chance
    assert "not above 25% at 95% confidence" in guard_verdict(reject_guard(counts_of(sms=(40, 12)), quality))
    with pytest.raises(RefusedRun, match=r"sms 3000 of 10000 \(30%, at least 29% at 95% confidence\)"):
        check_quality(counts_of(sms=(10000, 3000)), quality, "staging")
    with pytest.raises(RefusedRun, match="sms 30 of 40"):  # a clear excess is refused however small the run
        check_quality(counts_of(sms=(40, 30)), quality, "staging")


def test_the_guard_settings_are_checked():
    with pytest.raises(ValueError, match="reject_ratio_confidence"):
        QualityLimits(reject_ratio_confidence=1.0)
    with pytest.raises(ValueError, match="min_records_for_reject_ratio"):
        QualityLimits(min_records_for_reject_ratio=0)


# A batch run in a child process, with one step replaced so that the process kills itself (SIGKILL: nothing of
# it can record anything) at a chosen point of the commit.
KILLED_RUN = textwrap.dedent("""
    import datetime as dt, os, signal, sys
    from beam_pipelines.batch import plan_batch, run_batch
    from beam_pipelines.config import load_settings
    from models.rules import RulesModel
    from transforms import sinks
    from warehouse import commit

    input_dir, output_dir, kill_at = sys.argv[1:4]
    settings = load_settings("dev")
    plan = plan_batch(input_dir, output_dir, settings, batch_date=dt.date(2026, 11, 20), batch_id="day",
                      beam_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    print(plan.run_id, flush=True)

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if kill_at == "before-commit":
        sinks.commit_staged = die
    else:
        upsert, tables_done = commit.upsert_files, []

        def upsert_then_die(iceberg, *args, **kwargs):
            if len(tables_done) == int(kill_at.removeprefix("after-tables-")):
                die()
            tables_done.append(iceberg.name())
            return upsert(iceberg, *args, **kwargs)

        commit.upsert_files = upsert_then_die
    run_batch(plan, settings, RulesModel)
""")


def killed_run(input_dir, output_dir, kill_at: str) -> str:
    job = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(input_dir), str(output_dir), kill_at],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert job.returncode == -signal.SIGKILL, job.stderr[-2000:]
    return job.stdout.split()[0]


def run_again(input_dir, output_dir, batch_id="day"):
    from beam_pipelines.batch import plan_batch, run_batch
    from beam_pipelines.config import load_settings
    from models.rules import RulesModel

    settings = load_settings("dev")
    plan = plan_batch(
        str(input_dir),
        str(output_dir),
        settings,
        batch_date=DAY,
        batch_id=batch_id,
        beam_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    )
    return run_batch(plan, settings, RulesModel)


def manifest(output_dir, run_id) -> dict:
    return json.loads((output_dir / "_runs" / f"{run_id}.json").read_text())


@pytest.fixture(scope="module")
def small_day(tmp_path_factory):
    from beam_pipelines.generator import generate

    input_dir = tmp_path_factory.mktemp("input")
    generate(str(input_dir), DAY, volume=120, seed=5, defect_rate=0.05)
    return input_dir


def test_a_run_killed_before_its_commit_is_recorded_as_abandoned_by_the_next_run(small_day, tmp_path):
    out = tmp_path / "out"
    killed = killed_run(small_day, out, "before-commit")
    assert manifest(out, killed)["status"] == "running"  # all a killed process leaves
    assert not (out / "lake" / "_commits").exists() and not (out / "warehouse" / "catalog.db").exists()

    later = run_again(small_day, out, batch_id="other")
    record = manifest(out, killed)
    assert record["status"] == "abandoned" and "ended without recording an outcome" in record["reason"]
    assert record["finished_at"] and later["status"] == "succeeded"
    assert not (out / "_staging").exists()  # its staged files were swept


@pytest.mark.parametrize("tables_committed", [0, 1], ids=["before the tables", "between the two tables"])
def test_a_commit_killed_part_way_is_finished_by_the_next_run(small_day, tmp_path, tables_committed):
    out = tmp_path / "out"
    killed = killed_run(small_day, out, f"after-tables-{tables_committed}")
    journal = json.loads((out / "lake" / "_commits" / f"{killed}.json").read_text())
    lake_files = {target for _, target in journal["moves"]}
    assert lake_files and all(os.path.exists(path) for path in lake_files)  # moved, but marked uncommitted
    from transforms.sinks import uncommitted_lake_files

    assert uncommitted_lake_files(str(out)) == lake_files
    assert manifest(out, killed)["status"] == "running"

    # any later run on the host finishes it: here a run of another batch, which must not touch this one's rows
    run_again(small_day, out, batch_id="other")
    recovered = manifest(out, killed)
    assert recovered["status"] == "succeeded" and recovered["recovered_by"]["pid"] == os.getpid()
    assert set(recovered["snapshots"]) == {"complaints", "dead_letter"}
    assert recovered["counts"] and recovered["guard"]["verdict"]  # what the killed run had checked
    assert not (out / "lake" / "_commits" / f"{killed}.json").exists() and uncommitted_lake_files(str(out)) == set()

    # each complaint once, as if the killed run had committed and the other batch had replaced its rows
    reference = tmp_path / "reference"
    run_again(small_day, reference)
    run_again(small_day, reference, batch_id="other")
    for table in ("complaints", "dead_letter"):
        key = "complaint_id" if table == "complaints" else "error_id"
        ours = read_table(out / "warehouse" / table, [key]).column(key).to_pylist()
        assert len(ours) == len(set(ours))
        assert sorted(ours) == sorted(read_table(reference / "warehouse" / table, [key]).column(key).to_pylist())
    snapshots = current_snapshots(out / "warehouse")
    assert snapshots["complaints"] and snapshots["dead_letter"]


def test_a_commit_whose_staged_files_are_gone_is_abandoned_and_its_lake_files_stay_marked(small_day, tmp_path):
    import shutil

    out = tmp_path / "out"
    killed = killed_run(small_day, out, "after-tables-0")
    shutil.rmtree(out / "_staging" / killed)
    run_again(small_day, out, batch_id="other")
    record = manifest(out, killed)
    assert record["status"] == "abandoned" and "staged files" in record["reason"]
    journal = json.loads((out / "lake" / "_commits" / f"{killed}.json").read_text())
    assert journal["abandoned"]

    # a rerun of the batch writes its lake files again and commits them: nothing is left marked
    run_again(small_day, out)
    assert not (out / "lake" / "_commits" / f"{killed}.json").exists()


def test_every_committed_run_says_why_the_guard_let_it_pass(small_day, tmp_path):
    result = run_again(small_day, tmp_path / "out")
    guard = result["guard"]
    assert guard["max_reject_ratio"] == 0.25 and guard["min_records"] == 20
    assert set(guard["sources"]) == {"twitter", "webform", "sms", "phone"}
    assert guard["verdict"]
    assert not (tmp_path / "out" / "lake" / "_commits").exists() or not list(
        (tmp_path / "out" / "lake" / "_commits").iterdir()
    )


def test_a_launcher_interrupted_while_its_job_runs_on_leaves_the_job_its_staged_files(
    small_day, tmp_path, prism, monkeypatch
):
    """Ctrl-C in ``complaints batch`` while it waits stops the launcher, not a job on a runner of its own (Prism
    here, a Flink cluster or Dataflow alike): the job goes on and commits. The launcher must not delete the
    run's staging under it, or the job's commit step finds its files gone."""
    import time

    from apache_beam.runners.portability import portable_runner

    from beam_pipelines.batch import plan_batch, run_batch
    from beam_pipelines.config import load_settings

    out = tmp_path / "out"
    staging = out / "_staging"

    def interrupted(self, duration=None):
        deadline = time.monotonic() + 120
        while not list(staging.rglob("*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.1)  # the job is writing: its lake files are staged, its model still labelling
        raise KeyboardInterrupt  # what Ctrl-C raises in the launcher while it waits

    monkeypatch.setattr(portable_runner.PipelineResult, "wait_until_finish", interrupted)
    settings = load_settings("dev")
    plan = plan_batch(
        str(small_day),
        str(out),
        settings,
        batch_date=DAY,
        batch_id="day",
        runner="PrismRunner",
        beam_args=[f"--prism_location={prism}", "--environment_type=LOOPBACK"],
    )
    with pytest.raises(KeyboardInterrupt):
        run_batch(plan, settings, SlowRulesModel)

    deadline = time.monotonic() + 240
    while manifest(out, plan.run_id)["status"] in ("running", "interrupted") and time.monotonic() < deadline:
        time.sleep(1)
    record = manifest(out, plan.run_id)
    assert record["status"] == "succeeded", record.get("reason")
    assert record["balanced"] and record["committed_rows"]["complaints"]["written"] > 0
    assert len(read_table(out / "warehouse" / "complaints", ["complaint_id"])) == sum(
        entry["written"] for entry in record["counts"].values() if "written" in entry
    )
    lake_lines = sum(len(path.read_text().splitlines()) for path in (out / "lake" / "raw").rglob("*.jsonl"))
    assert lake_lines == sum(entry.get("in_lake", 0) for entry in record["counts"].values()) > 0


class SlowRulesModel:
    """The rules model taking its time over each batch, so a job is still running when its launcher stops."""

    version = "slow-rules"

    def __init__(self):
        from models.rules import RulesModel

        self.model = RulesModel()

    def predict(self, complaints):
        import time

        time.sleep(2)
        return self.model.predict(complaints)
