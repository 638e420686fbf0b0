"""The warehouse as one source of truth: Iceberg tables written by upsert, whatever the runs, dates and paths
that carry a complaint; commits that are atomic, survive a killed run and a concurrent writer; upkeep and time
travel."""

import datetime as dt
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import schemas
from schemas import tables
from tests.support.cli import run_cli
from tests.support.paths import REPO
from tests.support.warehouse import current_snapshots, read_table
from warehouse.catalog import CatalogConfig, load_table, open_catalog

pytestmark = pytest.mark.e2e

VOLATILE = {"run_id", "batch_id", "ingested_at", "failed_at"}  # which run wrote a row and when, not what it is


def rows_by_id(out: Path, name: str = "complaints", key: str = "complaint_id") -> dict:
    rows = read_table(out / "warehouse" / name).to_pylist()
    by_id = {row[key]: {k: v for k, v in row.items() if k not in VOLATILE} for row in rows}
    assert len(by_id) == len(rows), "a key is in the table more than once"
    return by_id


def snapshot_of(out: Path, name: str):
    return current_snapshots(out / "warehouse")[name]


@pytest.fixture(scope="module")
def clean_run(generated_day, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(out),
        "--date",
        generated_day["date"],
        "--quiet",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def test_another_date_and_a_symlinked_path_hold_each_complaint_and_rejection_once(generated_day, clean_run, tmp_path):
    out = tmp_path / "out"
    link = tmp_path / "link-to-input"
    link.symlink_to(generated_day["dir"])
    expected, expected_rejections = rows_by_id(clean_run), rows_by_id(clean_run, "dead_letter", "error_id")
    runs = [
        (str(generated_day["dir"]), "2026-11-21"),  # a backfill on another --date
        (os.path.relpath(link, REPO), generated_day["date"]),
    ]  # the same day through a link, relative
    for input_dir, date in runs:
        result = run_cli("batch", "--input-dir", input_dir, "--output-dir", str(out), "--date", date, "--quiet")
        assert result.returncode == 0, result.stderr[-2000:]
        assert set(rows_by_id(out)) == set(expected)  # once each, after every run
    # the last run wins: the table equals a single clean run of that day, rejections in that day's partition
    assert rows_by_id(out) == expected
    assert rows_by_id(out, "dead_letter", "error_id") == expected_rejections
    manifests = [json.loads(p.read_text()) for p in sorted((out / "_runs").glob("*.json"))]
    assert all(m["snapshots"]["complaints"] for m in manifests)
    assert manifests[-1]["committed_rows"]["complaints"]["replaced"] == len(expected)


def test_time_travel_reads_the_table_as_a_run_left_it(generated_day, clean_run, tmp_path):
    first = json.loads(next((clean_run / "_runs").glob("*.json")).read_text())
    count = len(rows_by_id(clean_run))
    for as_of in (str(first["snapshots"]["complaints"]), first["committed_at"]):
        result = run_cli(
            "query",
            "--warehouse",
            str(clean_run / "warehouse"),
            "--as-of",
            as_of,
            "SELECT count(*) AS n FROM complaints",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[-1] == str(count)
    result = run_cli(
        "query",
        "--warehouse",
        str(clean_run / "warehouse"),
        "--as-of",
        "2020-01-01T00:00:00Z",
        "SELECT count(*) AS n FROM complaints",
    )  # before the first commit: not an empty answer
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "the earliest time it can be read as of is" in result.stderr
    result = run_cli("query", "--warehouse", str(clean_run / "warehouse"), "--as-of", "42", "SELECT 1")
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "no warehouse table has a snapshot 42" in result.stderr


def test_a_batch_killed_mid_run_leaves_the_table_at_its_snapshot_and_the_rerun_completes(tmp_path):
    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=300, seed=21, defect_rate=0.0)
    out = tmp_path / "out"
    result = run_cli("batch", "--input-dir", str(tmp_path / "input"), "--output-dir", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    before, rows_before = snapshot_of(out, "complaints"), rows_by_id(out)

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=15000, seed=21, defect_rate=0.0)
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "batch",
            "--input-dir",
            str(tmp_path / "input"),
            "--output-dir",
            str(out),
            "--quiet",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not list((out / "_staging").glob("*/warehouse")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the workers have started writing data files
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=60)
    assert snapshot_of(out, "complaints") == before and rows_by_id(out) == rows_before

    result = run_cli("batch", "--input-dir", str(tmp_path / "input"), "--output-dir", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    after = rows_by_id(out)
    assert set(rows_before) <= set(after) and len(after) > 10 * len(rows_before)
    assert not list((out / "_staging").glob("*")), "the killed run's staging was swept"


def _commit_many(warehouse_dir: str, writer: str, keys: list[str], barrier) -> None:
    """One writer: commits ``keys`` in small upserts, as a stream commits its panes (run in its own process)."""
    from schemas.tables import ALERTS
    from warehouse.commit import write_rows

    barrier.wait()
    moment = dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)
    for start in range(0, len(keys), 5):
        write_rows(
            CatalogConfig(warehouse_dir),
            ALERTS,
            [
                {
                    "alert_id": key,
                    "scope": writer,
                    "minute_start": moment,
                    "window_seconds": 60,
                    "complaints": 1,
                    "baseline_mean": 0.0,
                    "baseline_stddev": 0.0,
                    "threshold": 1.0,
                    "severity": "warning",
                    "detected_at": moment,
                    "alert_date": moment.date(),
                }
                for key in keys[start : start + 5]
            ],
        )


def test_writers_in_separate_processes_committing_at_once_all_land_once(tmp_path):
    keys = {
        "a": [f"a-{n}" for n in range(40)],
        "b": [f"b-{n}" for n in range(40)],
        "both": [f"both-{n}" for n in range(20)],
    }
    barrier = multiprocessing.get_context("spawn").Barrier(2)
    writers = [
        multiprocessing.get_context("spawn").Process(
            target=_commit_many, args=(str(tmp_path), name, keys[name] + keys["both"], barrier)
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=300)
        assert writer.exitcode == 0
    rows = read_table(tmp_path / "alerts").to_pylist()
    assert sorted(row["alert_id"] for row in rows) == sorted(keys["a"] + keys["b"] + keys["both"])


def test_a_commit_that_loses_the_race_is_redone_from_the_new_state(tmp_path, monkeypatch):
    """Another writer commits between the moment a commit reads the table and the moment it commits (a writer
    on another machine, which the local lock does not hold back): the catalog refuses the commit, which is
    recomputed on the new snapshot and lands; the key both carry is in the table once, from the later commit."""
    from schemas.tables import DEAD_LETTER
    from warehouse import commit as committer
    from warehouse.catalog import ensure_table, writer_schema

    config = CatalogConfig(str(tmp_path))
    other = ensure_table(open_catalog(config), config, DEAD_LETTER)
    ours = load_table(open_catalog(config), config, DEAD_LETTER)

    def dead_letters(ids, message):
        return schemas.arrow_table(
            [
                {
                    "error_id": i,
                    "source": "sms",
                    "stage": "parse",
                    "error_type": "x",
                    "error_message": message,
                    "raw": "r",
                    "raw_encoding": "utf-8",
                    "failed_at": dt.datetime(2026, 11, 26, tzinfo=dt.UTC),
                    "batch_id": "b",
                    "run_id": message,
                    "schema_version": "1",
                    "ingest_date": dt.date(2026, 11, 26),
                }
                for i in ids
            ],
            writer_schema(other),
        )

    planned = committer._without_keys
    raced = []

    def plan_then_lose_the_race(iceberg, *args):
        plan = planned(iceberg, *args)
        if iceberg is ours and not raced:  # the other writer lands first, behind our back
            raced.append(
                committer._commit_in_turn(
                    other, DEAD_LETTER.key, *_files(other, dead_letters(["e1", "e2"], "other")), {}, 1
                )
            )
        return plan

    monkeypatch.setattr(committer, "_without_keys", plan_then_lose_the_race)
    result = committer.upsert_rows(ours, dead_letters(["e2", "e3"], "ours"), DEAD_LETTER.key)
    assert raced and result.attempts == 2 and result.rows_replaced == 1
    rows = {row["error_id"]: row["error_message"] for row in read_table(tmp_path / "dead_letter").to_pylist()}
    assert rows == {"e1": "other", "e2": "ours", "e3": "ours"}


def _files(iceberg, rows):
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    from warehouse.commit import key_values

    return list(_dataframe_to_data_files(iceberg.metadata, rows, iceberg.io)), key_values(rows, ("error_id",))


def test_maintain_compacts_expires_and_removes_orphans_without_changing_rows(tmp_path):
    from tests.support.warehouse import add_rows

    moment = dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)
    for n in range(12):  # twelve small commits to one partition, as a stream makes them
        add_rows(
            tmp_path,
            "alerts",
            [
                {
                    "alert_id": f"al-{n}-{i}",
                    "scope": "all",
                    "minute_start": moment,
                    "window_seconds": 60,
                    "complaints": 9,
                    "baseline_mean": 1.0,
                    "baseline_stddev": 1.0,
                    "threshold": 3.0,
                    "severity": "warning",
                    "detected_at": moment,
                    "alert_date": moment.date(),
                }
                for i in range(3)
            ],
        )
    add_rows(
        tmp_path,
        "alerts",
        [
            {
                "alert_id": "al-0-0",
                "scope": "all",
                "minute_start": moment,
                "window_seconds": 60,
                "complaints": 99,
                "baseline_mean": 1.0,
                "baseline_stddev": 1.0,
                "threshold": 3.0,
                "severity": "critical",
                "detected_at": moment,
                "alert_date": moment.date(),
            }
        ],
    )
    before = sorted(map(str, read_table(tmp_path / "alerts").to_pylist()))
    partition = tmp_path / "alerts" / "alert_date=2026-11-26"
    files_before = len(list(partition.glob("*.parquet")))
    assert files_before > 12
    result = run_cli(
        "warehouse",
        "maintain",
        "--warehouse",
        str(tmp_path),
        "--tables",
        "alerts",
        "--min-files",
        "4",
        "--retention-hours",
        "0",
        "--orphan-age-hours",
        "0",
    )
    assert result.returncode == 0, result.stderr
    assert "partitions compacted 1" in result.stdout
    assert sorted(map(str, read_table(tmp_path / "alerts").to_pylist())) == before  # the same rows
    assert len(list(partition.glob("*.parquet"))) == 1  # replaced and expired files are gone from the disk
    config = CatalogConfig(str(tmp_path))
    assert len(load_table(open_catalog(config), config, tables.ALERTS).snapshots()) == 1


def test_a_profile_can_name_a_shared_catalog_that_the_pipeline_and_the_readers_use(generated_day, tmp_path):
    """``[warehouse] catalog`` names a catalog configured the way pyiceberg is (here a SQL catalog given by
    PYICEBERG_CATALOG__* variables, as a REST or Glue one would be): the batch commits there, and the readers
    given the profile read there; the embedded catalog is not created."""
    profile = tmp_path / "shared.toml"
    profile.write_text(
        '[warehouse]\ncatalog = "shared"\nnamespace = "complaints_test"\n\n'
        '[security]\ncontact_token_key = "a-test-key-not-a-secret"\n'
    )
    env = {
        "PYICEBERG_CATALOG__SHARED__TYPE": "sql",
        "PYICEBERG_CATALOG__SHARED__URI": f"sqlite:///{tmp_path / 'shared-catalog.db'}",
    }
    out = tmp_path / "out"
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(out),
        "--date",
        generated_day["date"],
        "--profile",
        str(profile),
        "--quiet",
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "shared-catalog.db").exists() and not (out / "warehouse" / "catalog.db").exists()
    written = sum(
        c["written"]
        for s, c in json.loads(next((out / "_runs").glob("*.json")).read_text())["counts"].items()
        if s != "customers"
    )
    sql = "SELECT count(DISTINCT complaint_id) AS n FROM complaints"
    shared = run_cli("query", "--warehouse", str(out / "warehouse"), "--profile", str(profile), sql, env=env)
    assert shared.returncode == 0, shared.stderr
    assert shared.stdout.split()[-1] == str(written)
    embedded = run_cli("query", "--warehouse", str(out / "warehouse"), sql, env=env)
    assert embedded.returncode == 0 and embedded.stdout.split()[-1] == "0"  # nothing in an embedded catalog
