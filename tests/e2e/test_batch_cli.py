"""End to end: ``complaints generate day`` + ``complaints batch`` as a user runs them, outputs read back with pyarrow
and checked against what the generator says it injected."""

import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import schemas
from tests.support.cli import latest_manifest, run_cli

pytestmark = pytest.mark.e2e
OUTCOMES = ("read", "written", "rejected", "duplicates", "merged_parts")


from tests.support.warehouse import read_table  # noqa: E402 - the warehouse tables through their catalog


def test_manifest_counts_balance_and_equal_what_was_injected(generated_day, batch_output):
    counts = batch_output["manifest"]["counts"]
    assert batch_output["manifest"]["balanced"] is True
    for source, expected in generated_day["expected"].items():
        if source == "customers":
            assert counts[source]["loaded"] == expected["loaded"]
            assert counts[source]["rejected"] == expected.get("rejected", 0)
            continue
        got = {outcome: counts[source][outcome] for outcome in OUTCOMES}
        assert got == {outcome: expected.get(outcome, 0) for outcome in OUTCOMES}, source
        assert counts[source]["read"] == (
            counts[source]["written"]
            + counts[source]["rejected"]
            + counts[source]["duplicates"]
            + counts[source]["merged_parts"]
        )
        for flag in ("late_arrival", "empty_text", "partial_sms", "implausible_call_duration", "unknown_customer"):
            assert counts[source]["flagged"].get(flag, 0) == expected.get(f"flag:{flag}", 0), (source, flag)


def test_warehouse_reads_back_with_the_schema_and_unique_ids(batch_output):
    out = batch_output["dir"]
    table = read_table(out / "warehouse" / "complaints")
    manifest = batch_output["manifest"]
    assert table.num_rows == sum(c["written"] for s, c in manifest["counts"].items() if s != "customers")
    ids = table.column("complaint_id").to_pylist()
    assert len(ids) == len(set(ids))
    file_schema = pq.read_schema(next((out / "warehouse" / "complaints").rglob("*.parquet")))
    expected = schemas.arrow_schema("Complaint", include_partition_key=True)
    assert pa.schema([field.remove_metadata() for field in file_schema]).equals(expected.remove_metadata())
    dates = {p.name for p in (out / "warehouse" / "complaints").iterdir()}
    assert "event_date=2026-11-20" in dates and "event_date=2026-11-17" in dates  # late records
    for row in table.select(["event_time", "event_date"]).to_pylist()[:500]:
        assert str(row["event_date"]) == row["event_time"].date().isoformat()
    assert set(table.column("category").to_pylist()) <= {"Network", "Billing", "Customer Service", "Other"}
    assert set(table.column("priority").to_pylist()) <= {"P1", "P2", "P3", "P4"}


def test_no_raw_contact_details_reach_the_warehouse(batch_output):
    table = read_table(batch_output["dir"] / "warehouse" / "complaints")
    email = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
    phone = re.compile(r"(?:\+?234|0)[789]\d{9}")
    for text in table.column("text").to_pylist():
        assert not email.search(text) and not phone.search(text.replace(" ", "").replace("-", "")), text
    tokens = [t for t in table.column("contact_token").to_pylist() if t]
    assert tokens and all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens)


def test_every_injected_defect_lands_where_it_should(generated_day, batch_output):
    out = batch_output["dir"]
    warehouse = {row["complaint_id"]: row for row in read_table(out / "warehouse" / "complaints").to_pylist()}
    by_record = {(row["source"], row["source_record_id"]): row for row in warehouse.values()}
    dead = read_table(out / "warehouse" / "dead_letter").to_pylist()
    dead_at = {(row["source_file"], row["position"]): row for row in dead}
    checked = 0
    for defect in generated_day["defects"]:
        if defect["expect"] == "dead_letter":
            position = defect.get("line", defect.get("offset"))
            row = dead_at.get((defect["source_file"], position))
            assert row is not None, defect
            assert (row["stage"], row["error_type"]) == (defect["stage"], defect["error_type"]), defect
            assert row["raw"], defect
        elif defect["expect"] == "written":
            row = by_record.get((defect["source"], defect["source_record_id"]))
            assert row is not None, defect
            assert set(defect["flags"]) <= set(row["flags"]), (defect, row["flags"])
            if defect["defect"] == "odd_timezone":
                assert row["event_time"].isoformat() == defect["event_time"]
        checked += 1
    assert checked > 50


def test_lake_keeps_every_raw_record_verbatim(generated_day, batch_output):
    out = batch_output["dir"]
    lines = [
        json.loads(line)
        for path in (out / "lake" / "raw").rglob("*.jsonl")
        for line in path.read_bytes().decode("utf-8").split("\n")
        if line
    ]
    counts = batch_output["manifest"]["counts"]
    assert len(lines) == sum(c["read"] for s, c in counts.items() if s != "customers")
    assert {line["source"] for line in lines} == {"twitter", "webform", "sms", "phone"}
    assert {"base64"} <= {line["raw_encoding"] for line in lines}
    sample = next(line for line in lines if line["source"] == "twitter" and line["raw_encoding"] == "utf-8")
    source_file = generated_day["dir"] / sample["source_file"]
    original = source_file.read_bytes().split(b"\n")[sample["line"] - 1].rstrip(b"\r").lstrip(b"\xef\xbb\xbf")
    assert original.decode("utf-8") == sample["raw"]
    partitions = {p.relative_to(out / "lake" / "raw").parts[:2] for p in (out / "lake" / "raw").rglob("*.jsonl")}
    assert ("source=sms", "ingest_date=2026-11-20") in partitions


def test_rerun_of_the_same_input_replaces_its_output_with_the_same_rows(generated_day, batch_output, tmp_path):
    from schemas import tables
    from warehouse.catalog import CatalogConfig, load_table, open_catalog
    from warehouse.read import table_state

    out = batch_output["dir"]
    config = CatalogConfig(str(out / "warehouse"))

    def live_files():
        iceberg = load_table(open_catalog(config), config, tables.COMPLAINTS)
        state = table_state(iceberg, "complaints")
        return state.snapshot_id, sorted(Path(f).parent.name for f in state.files), set(state.files)

    before_snapshot, before_partitions, before_files = live_files()
    volatile = {"run_id", "ingested_at"}

    def rows():
        table = read_table(out / "warehouse" / "complaints")
        return sorted(tuple((k, str(v)) for k, v in sorted(r.items()) if k not in volatile) for r in table.to_pylist())

    before = rows()
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
    assert rows() == before
    after_snapshot, after_partitions, after_files = live_files()
    # one new snapshot whose files replace the earlier run's, in the same partitions
    assert after_snapshot != before_snapshot and after_partitions == before_partitions
    assert not after_files & before_files
    manifests = [json.loads(p.read_text()) for p in (out / "_runs").glob("*.json")]
    assert len(manifests) == 2 and {m["snapshots"]["complaints"] for m in manifests} == {
        before_snapshot,
        after_snapshot,
    }
    assert not (out / "_staging").exists()


def test_a_small_day_runs_in_one_process_and_worker_processes_give_the_same_rows(generated_day, batch_output, tmp_path):
    """The generated day is below [pipeline] single_process_below_mb, so the default run had no worker processes;
    the same day in the profile's two worker processes (as a large day runs) writes the same rows and counts."""
    default = json.loads(sorted((batch_output["dir"] / "_runs").glob("*.json"))[0].read_text())
    assert default["runner_options"] == {"direct_num_workers": 1, "direct_running_mode": "in_memory"}
    out = tmp_path / "workers"
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(out),
        "--date",
        generated_day["date"],
        "--quiet",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads(next((out / "_runs").glob("*.json")).read_text())
    assert manifest["runner_options"] == {"direct_num_workers": 2, "direct_running_mode": "multi_processing"}
    assert manifest["counts"] == default["counts"] and manifest["balanced"]
    volatile = {"run_id", "ingested_at", "failed_at"}
    for table, key in (("complaints", "complaint_id"), ("dead_letter", "error_id")):

        def rows(root, table=table, key=key):
            return {
                row[key]: {k: v for k, v in row.items() if k not in volatile}
                for row in read_table(root / "warehouse" / table).to_pylist()
            }

        assert rows(out) == rows(batch_output["dir"]), table


def test_summary_names_the_outputs(batch_output):
    assert "counts balance" in batch_output["stdout"]
    for name in ("lake:", "warehouse:", "dead letter:", "manifest:"):
        assert name in batch_output["stdout"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["batch", "--output-dir", "/tmp/x"], "name the input"),
        (["batch", "--input-dir", "."], "required: --output-dir"),
        (["batch", "--input-dir", "/definitely/missing", "--output-dir", "/tmp/x"], "does not exist"),
        (["batch", "--input-dir", ".", "--output-dir", "/tmp/x", "--date", "26/11/2026"], "invalid date"),
        (["generate", "day", "--output-dir", "/tmp/x", "--volume", "-3"], "positive"),
        (["frobnicate"], "invalid choice"),
        (["batch", "--input-dir", "tests", "--output-dir", "/tmp/x"], "no channel files"),
        (
            ["batch", "--input-dir", ".", "--output-dir", "/tmp/x", "--modle-dir=models_out"],
            "unknown option --modle-dir (did you mean --model-dir",
        ),
        (["batch", "--input-dir", ".", "--output-dir", "/tmp/x", "--direct_num_wrkers", "2"], "unknown option"),
        (["batch", "--input-dir", ".", "--output-dir", "/tmp/x", "--runner", "NoSuchRunner"], "unknown runner"),
        (["batch", "--input-dir", ".", "--output-dir", "/tmp/x", "--batch-id", "../../x"], "--batch-id"),
    ],
)
def test_bad_command_lines_give_one_clear_line_and_non_zero_exit(args, message):
    result = run_cli(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_output_is_one_line(tmp_path, generated_day):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("batch", "--input-dir", str(generated_day["dir"]), "--output-dir", str(blocker / "out"))
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "not writable" in result.stderr


def test_prod_profile_refuses_to_run_without_the_token_key(generated_day, tmp_path):
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(tmp_path),
        "--profile",
        "prod",
        env={"COMPLAINTS_CONTACT_TOKEN_KEY": ""},
    )
    assert result.returncode == 3 and "COMPLAINTS_CONTACT_TOKEN_KEY" in result.stderr
    assert not list(tmp_path.rglob("*.parquet"))


def test_a_launcher_that_speaks_beam_flags_runs_the_same_batch(tmp_path):
    """``python -m beam_pipelines batch`` with Beam's spellings of the options (as a Flex Template or a Flink
    submission passes them) runs the same pipeline as ``complaints batch --input-dir ...``."""
    import subprocess
    import sys

    from beam_pipelines.generator import generate
    from tests.support.paths import REPO

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=150, seed=5, defect_rate=0.05)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "batch",
            f"--input_dir={tmp_path / 'input'}",
            f"--output_dir={tmp_path / 'out'}",
            "--date=2026-11-20",
            "--batch_id=launcher-1",
            "--direct_num_workers=1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = latest_manifest(tmp_path / "out")
    assert manifest["batch_id"] == "launcher-1" and manifest["balanced"]
    assert manifest["options"] == ["--direct_num_workers=1"]
    assert manifest["runner_options"]["direct_num_workers"] == 1  # what ran, the flag over the profile's 2


def test_rejections_land_in_the_batch_date_and_the_daily_report_for_it_shows_them(batch_output, tmp_path):
    out = batch_output["dir"]
    dates = set(read_table(out / "warehouse" / "dead_letter", ["ingest_date"])["ingest_date"].to_pylist())
    assert dates == {dt.date(2026, 11, 20)}  # the batch's --date, not the day it ran
    rejected = sum(c["rejected"] for c in batch_output["manifest"]["counts"].values())  # customer rows too
    result = run_cli(
        "report",
        "--warehouse",
        str(out / "warehouse"),
        "--period",
        "daily",
        "--date",
        "2026-11-20",
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv_rows(next(tmp_path.glob("*/rejections.csv"))))
    assert sum(int(row["records"]) for row in rows) == rejected > 0


def csv_rows(path):
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def test_a_batch_whose_channel_is_mostly_unusable_is_refused_and_kept_for_inspection(tmp_path):
    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=200, seed=4, defect_rate=0.02)
    for tweets in (tmp_path / "input" / "twitter").glob("*.jsonl"):  # a feed that sent mostly junk
        lines = tweets.read_text().splitlines()
        tweets.write_text("\n".join(lines[:3] + ["{not json"] * (len(lines) - 3)) + "\n")
    result = run_cli(
        "batch",
        "--input-dir",
        str(tmp_path / "input"),
        "--output-dir",
        str(tmp_path / "out"),
        "--date",
        "2026-11-20",
        "--quiet",
        env={"COMPLAINTS_CONTACT_TOKEN_KEY": "a-real-secret"},
    )
    assert result.returncode == 5, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "refused to commit" in line and "twitter" in line and "max_reject_ratio" in line
    assert not (tmp_path / "out" / "warehouse").exists()
    manifest = latest_manifest(tmp_path / "out")
    assert manifest["status"] == "refused" and manifest["committed_files"] == {}
    assert list(Path(manifest["staging"]).rglob("*.parquet"))  # the staged output, kept for inspection


def test_bad_input_creates_no_output_folder_and_a_missing_customer_master_is_named(tmp_path):
    from beam_pipelines.generator import generate

    (tmp_path / "empty").mkdir()
    result = run_cli("batch", "--input-dir", str(tmp_path / "empty"), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 3 and "no channel files" in result.stderr
    assert not (tmp_path / "out").exists()

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=100, seed=8, defect_rate=0.0)
    for path in (tmp_path / "input" / "customers").iterdir():
        path.unlink()
    result = run_cli(
        "batch",
        "--input-dir",
        str(tmp_path / "input"),
        "--output-dir",
        str(tmp_path / "out"),
        "--date",
        "2026-11-20",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert "no customer master" in result.stderr and "unknown_customer" in result.stderr


def test_files_the_layout_does_not_read_are_named_and_a_link_out_of_the_input_is_not_followed(tmp_path):
    import os

    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=100, seed=9, defect_rate=0.0)
    twitter = tmp_path / "input" / "twitter"
    secret = tmp_path / "secret.jsonl"
    secret.write_text(
        '{"data": {"id": "1", "text": "a file outside the input", "created_at": "2026-11-20T10:00:00Z"}}\n'
    )
    os.symlink(secret, twitter / "linked.jsonl")
    (twitter / "shouty.JSONL").write_text(next(twitter.glob("*.jsonl")).read_text())
    (twitter / "archive").mkdir()
    (twitter / "archive" / "old.jsonl").write_text("{}\n")
    result = run_cli(
        "batch",
        "--input-dir",
        str(tmp_path / "input"),
        "--output-dir",
        str(tmp_path / "out"),
        "--date",
        "2026-11-20",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert "3 files in the channel folders are not read" in result.stderr
    ignored = {entry["path"]: entry["reason"] for entry in latest_manifest(tmp_path / "out")["ignored_files"]}
    assert set(ignored) == {"twitter/linked.jsonl", "twitter/shouty.JSONL", "twitter/archive/old.jsonl"}
    assert "outside the input directory" in ignored["twitter/linked.jsonl"]
    lake = "".join(p.read_text() for p in (tmp_path / "out" / "lake").rglob("*.jsonl"))
    assert "a file outside the input" not in lake


def test_input_files_whose_names_differ_only_in_punctuation_each_keep_their_lake_records(tmp_path):
    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=120, seed=6, defect_rate=0.0)
    twitter = tmp_path / "input" / "twitter"
    lines = [line for path in sorted(twitter.glob("*.jsonl")) for line in path.read_text().splitlines() if line]
    for path in twitter.glob("*.jsonl"):
        path.unlink()
    names = ["t 1.jsonl", "t_1.jsonl", "t-1.jsonl"]
    for index, name in enumerate(names):
        (twitter / name).write_text("\n".join(lines[index::3]) + "\n")
    result = run_cli(
        "batch",
        "--input-dir",
        str(tmp_path / "input"),
        "--output-dir",
        str(tmp_path / "out"),
        "--date",
        "2026-11-20",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    lake = [
        json.loads(line)
        for path in (tmp_path / "out" / "lake" / "raw" / "source=twitter").rglob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    per_file = {name: sum(1 for record in lake if record["source_file"] == f"twitter/{name}") for name in names}
    assert per_file == {name: len(lines[index::3]) for index, name in enumerate(names)}
    assert latest_manifest(tmp_path / "out")["counts"]["twitter"]["read"] == len(lake) == len(lines)


def test_records_of_every_bad_kind_among_good_ones_are_dead_letters_and_the_run_succeeds(tmp_path):
    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=150, seed=12, defect_rate=0.0)
    base = {"text": "no signal in Ikeja since morning", "created_at": "2026-11-20T10:00:00Z"}
    bad = [
        {"data": {**base, "id": "b1", "lang": False}},
        {"data": {**base, "id": "b2", "lang": {}}},
        {"data": {**base, "id": 1.9000000000000005e18}},
        {"data": {**base, "id": True}},
        {"data": {**base, "id": ["b5"]}},
        {"data": {**base, "id": "b6", "text": ["x"]}},
        {"data": {**base, "id": "b7", "referenced_tweets": 5}},
        {"data": "not an object"},
        [1, 2],
    ]
    with open(tmp_path / "input" / "twitter" / "bad.jsonl", "w") as handle:
        handle.write("\n".join(json.dumps(record) for record in bad) + "\n")
    result = run_cli(
        "batch",
        "--input-dir",
        str(tmp_path / "input"),
        "--output-dir",
        str(tmp_path / "out"),
        "--date",
        "2026-11-20",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    manifest = latest_manifest(tmp_path / "out")
    dead = [
        row
        for row in read_table(tmp_path / "out" / "warehouse" / "dead_letter").to_pylist()
        if row["source_file"] == "twitter/bad.jsonl"
    ]
    assert len(dead) == len(bad) and all(not row["error_type"].startswith("unexpected") for row in dead)
    expected = json.loads((tmp_path / "input" / "_truth" / "expected_counts.json").read_text())["expected"]
    assert manifest["counts"]["twitter"]["written"] == expected["twitter"]["written"]


def test_gzipped_channel_files_give_the_same_warehouse_and_a_corrupt_one_is_a_dead_letter(tmp_path):
    import gzip

    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=150, seed=13, defect_rate=0.0)
    expected = json.loads((tmp_path / "input" / "_truth" / "expected_counts.json").read_text())["expected"]
    for folder in ("twitter", "webforms", "sms", "phone_logs", "customers"):
        for path in list((tmp_path / "input" / folder).iterdir()):
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
    broken = tmp_path / "input" / "phone_logs" / "broken.xml.gz"
    broken.write_bytes(gzip.compress(b"<calls>" + b"<call><call_id>x</call_id></call>" * 300 + b"</calls>")[:50])
    result = run_cli(
        "batch",
        "--input-dir",
        str(tmp_path / "input"),
        "--output-dir",
        str(tmp_path / "out"),
        "--date",
        "2026-11-20",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    counts = latest_manifest(tmp_path / "out")["counts"]
    for source in ("twitter", "webform", "sms", "phone"):
        assert counts[source]["written"] == expected[source]["written"], source
    assert counts["phone"]["rejected_by_reason"] == {"read:unreadable_file": 1}


def test_call_centre_exports_cut_off_keep_the_calls_before_the_cut_and_dead_letter_the_cut_in_balance(tmp_path):
    """A transfer that stopped: the XML export ends right after a ``</call>`` (its last call and ``</calls>`` are
    gone), the CSV export in the middle of its last line. The complete calls are written, each cut is one
    read:truncated_export dead letter, and the manifest still balances."""
    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=150, seed=15, defect_rate=0.0)
    expected = json.loads((tmp_path / "input" / "_truth" / "expected_counts.json").read_text())["expected"]
    xml = tmp_path / "input" / "phone_logs" / "calls_20261120.xml"
    document = xml.read_bytes()
    last_call_end = document.rindex(b"</call>", 0, document.rindex(b"</call>")) + len(b"</call>")
    xml.write_bytes(document[:last_call_end])  # the last call is lost with the cut
    exported = tmp_path / "input" / "phone_logs" / "calls_20261120.csv"
    text = exported.read_bytes().rstrip(b"\r\n")
    last_line = text.rindex(b"\n") + 1
    exported.write_bytes(text[: last_line + 40])  # call id, start and part of the end time: 3 of 11 fields
    result = run_cli(
        "batch",
        "--input-dir",
        str(tmp_path / "input"),
        "--output-dir",
        str(tmp_path / "out"),
        "--date",
        "2026-11-20",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    phone = latest_manifest(tmp_path / "out")["counts"]["phone"]
    assert phone["balanced"] and phone["rejected_by_reason"] == {"read:truncated_export": 2}
    assert phone["written"] == expected["phone"]["written"] - 2
    cuts = {
        row["source_file"]: row
        for row in read_table(tmp_path / "out" / "warehouse" / "dead_letter").to_pylist()
        if row["error_type"] == "truncated_export"
    }
    assert set(cuts) == {"phone_logs/calls_20261120.xml", "phone_logs/calls_20261120.csv"}
    assert "</calls>" in cuts["phone_logs/calls_20261120.xml"]["error_message"]
    assert cuts["phone_logs/calls_20261120.csv"]["raw"] == text[last_line : last_line + 40].decode()


def test_the_dev_profiles_public_token_key_is_warned_about_recorded_and_not_served_beyond_loopback(
    batch_output, tmp_path
):
    manifest = batch_output["manifest"]
    assert manifest["profile"] == "dev" and manifest["contact_token_key"] == "profile file"
    result = run_cli(
        "serve",
        "--warehouse",
        str(batch_output["dir"] / "warehouse"),
        "--host",
        "0.0.0.0",
        "--api-keys",
        str(tmp_path / "keys.toml"),
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "public key" in line and "loopback" in line


def test_a_secret_token_key_from_the_environment_gives_no_warning(generated_day, tmp_path):
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(tmp_path / "out"),
        "--date",
        generated_day["date"],
        "--quiet",
        env={"COMPLAINTS_CONTACT_TOKEN_KEY": "a-real-secret"},
    )
    assert result.returncode == 0, result.stderr
    assert "public key" not in result.stderr
    assert latest_manifest(tmp_path / "out")["contact_token_key"] == "environment"


def test_conflicts_in_the_customer_master_are_counted_in_the_manifest(tmp_path):
    import csv

    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=100, seed=14, defect_rate=0.0)
    master = next((tmp_path / "input" / "customers").glob("*.csv"))
    with open(master, newline="") as handle:
        rows = list(csv.DictReader(handle))
    first, second = rows[0], rows[1]
    extra = [
        {**first, "segment": "vip" if first["segment"] != "vip" else "consumer"},
        {**second, "account_number": "BJN-99999999", "email": "", "twitter_handle": ""},
    ]
    with open(master, "a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(rows[0])).writerows(extra)
    result = run_cli(
        "batch", "--input-dir", str(tmp_path / "input"), "--output-dir", str(tmp_path / "out"), "--date", "2026-11-20"
    )
    assert result.returncode == 0, result.stderr
    customers = latest_manifest(tmp_path / "out")["counts"]["customers"]
    assert customers["conflicts"] == {"account_repeated_with_other_values": 1, "msisdn_shared": 1}
    assert customers["balanced"] and "conflicts in the master" in result.stdout


def test_the_lake_holds_every_record_read_per_input_file_and_the_manifest_checks_it(batch_output):
    import collections

    out, manifest = batch_output["dir"], batch_output["manifest"]
    per_file = collections.Counter(
        json.loads(line)["source_file"]
        for path in (out / "lake" / "raw").rglob("*.jsonl")
        for line in path.read_text().splitlines()
    )
    dead = read_table(out / "warehouse" / "dead_letter").to_pylist()
    for source in ("twitter", "webform", "sms", "phone"):
        counts = manifest["counts"][source]
        assert counts["in_lake"] == counts["read"] and counts["balanced"], source
    assert sum(per_file.values()) == sum(manifest["counts"][s]["read"] for s in ("twitter", "webform", "sms", "phone"))
    # every dead letter's input file is one the lake has records of
    assert {row["source_file"] for row in dead if row["source"] != "customers"} <= set(per_file)


def test_a_run_whose_lake_misses_a_record_does_not_balance():
    from beam_pipelines.batch import summarise_counts

    rows = [
        {"source": "sms", "outcome": "read", "reason": "", "count": 10},
        {"source": "sms", "outcome": "written", "reason": "", "count": 10},
        {"source": "sms", "outcome": "in_lake", "reason": "", "count": 9},
    ]
    assert not summarise_counts(rows)["sms"]["balanced"]
    rows[2]["count"] = 10
    assert summarise_counts(rows)["sms"]["balanced"]


@pytest.mark.parametrize(
    "local_runner",
    [
        ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        ["--direct_num_workers=1", "--direct_running_mode=in_memory"],
    ],
    ids=["worker processes", "one process"],
)
def test_ctrl_c_stops_a_batch_with_one_line_and_commits_nothing(tmp_path, local_runner):
    """As a terminal's Ctrl-C does: SIGINT to the whole process group, the runner's worker processes included
    (a large day's run), or to the one process a small day runs in."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from beam_pipelines.generator import generate
    from tests.support.paths import REPO

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=40000, seed=15, defect_rate=0.0)
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "batch",
            "--input-dir",
            str(tmp_path / "input"),
            "--output-dir",
            str(tmp_path / "out"),
            "--quiet",
            *local_runner,
        ],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "COMPLAINTS_CONTACT_TOKEN_KEY": "a-real-secret"},
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "out" / "_staging").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # the workers are running
    os.killpg(job.pid, signal.SIGINT)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 130
    assert stderr.strip().splitlines() == ["complaints batch: interrupted, nothing was committed"]
    assert not (tmp_path / "out" / "warehouse").exists() and not (tmp_path / "out" / "_staging").exists()
    manifests = [json.loads(path.read_text()) for path in (tmp_path / "out" / "_runs").glob("*.json")]
    assert [m["status"] for m in manifests] == ["interrupted"]  # monitoring sees the run, and that it stopped
    assert manifests[0]["finished_at"] and "interrupt" in manifests[0]["reason"]


def test_include_that_matches_no_channel_file_is_one_line_and_exit_3(generated_day, tmp_path):
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(tmp_path / "out"),
        "--include",
        "sms/sms_1999*.txt",
    )
    assert result.returncode == 3 and "match --include sms/sms_1999*.txt" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "out").exists()
