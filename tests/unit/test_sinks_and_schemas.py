import datetime as dt

import pyarrow.parquet as pq

import schemas
from schemas import tables
from transforms import sinks


def test_schemas_are_derived_from_avro_and_the_tables_hold_their_partition_column():
    complaint = schemas.arrow_schema("Complaint")
    assert "event_date" not in complaint.names  # what the stages pass along
    assert "event_date" in schemas.arrow_schema("Complaint", include_partition_key=True).names
    assert complaint.field("event_time").type.tz == "UTC"
    assert complaint.metadata[b"schema_version"] == schemas.SCHEMA_VERSION.encode()
    assert set(schemas.Complaint.__annotations__) == set(schemas.field_names("Complaint"))


def _stage(output_dir, run_id, relative, content=b"x"):
    path = output_dir / "_staging" / run_id / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


LAKE_PARTITION = "lake/raw/source=sms/ingest_date=2026-11-26"


def _no_warehouse_files(tmp_path):
    from warehouse.catalog import CatalogConfig, writer_schemas

    return CatalogConfig(str(tmp_path / "warehouse")), writer_schemas(
        CatalogConfig(str(tmp_path / "warehouse")), list(sinks.ICEBERG_TABLES)
    )


def test_commit_moves_staged_lake_files_and_replaces_only_this_batch(tmp_path):
    catalog, schemas_by_table = _no_warehouse_files(tmp_path)
    _stage(tmp_path, "run1", f"{LAKE_PARTITION}/b1-sms_a.txt-00000.jsonl", b"first")
    _stage(tmp_path, "run1", "lake/raw/source=sms/ingest_date=2026-11-25/b1-sms_b.txt-00000.jsonl", b"late")
    sinks.commit_staged(str(tmp_path), "run1", "b1", catalog, schemas_by_table)
    sinks.discard_staging(str(tmp_path), "run1")
    other = tmp_path / LAKE_PARTITION / "b2-sms_a.txt-00000.jsonl"
    other.write_bytes(b"another batch")

    _stage(tmp_path, "run2", f"{LAKE_PARTITION}/b1-sms_a.txt-00000.jsonl", b"second")
    committed = sinks.commit_staged(str(tmp_path), "run2", "b1", catalog, schemas_by_table)
    sinks.discard_staging(str(tmp_path), "run2")

    assert committed["files"][tables.LAKE.path] == 1
    assert (tmp_path / LAKE_PARTITION / "b1-sms_a.txt-00000.jsonl").read_bytes() == b"second"
    assert not (tmp_path / "lake/raw/source=sms/ingest_date=2026-11-25").exists()  # no empty partition left
    assert other.read_bytes() == b"another batch"
    assert not (tmp_path / "_staging").exists()


def test_a_run_over_part_of_a_batch_replaces_the_lake_files_of_what_it_read_and_keeps_the_rest(tmp_path):
    """The hourly SMS schedule reruns a day's batch over the files that have arrived so far; a rerun of an
    earlier hour (fewer files) must not remove the lake files of the later hours."""
    catalog, schemas_by_table = _no_warehouse_files(tmp_path)
    _stage(tmp_path, "run1", f"{LAKE_PARTITION}/sms-d-sms_sms_09.txt-00000.jsonl", b"09 first")
    _stage(tmp_path, "run1", f"{LAKE_PARTITION}/sms-d-sms_sms_10.txt-00000.jsonl", b"10")
    _stage(tmp_path, "run1", f"{LAKE_PARTITION}/sms-d-sms_sms_10.txt-00001.jsonl", b"10 second chunk")
    sinks.commit_staged(
        str(tmp_path), "run1", "sms-d", catalog, schemas_by_table, read_files=["sms/sms_09.txt", "sms/sms_10.txt"]
    )
    _stage(tmp_path, "run2", f"{LAKE_PARTITION}/sms-d-sms_sms_09.txt-00000.jsonl", b"09 again")
    sinks.commit_staged(str(tmp_path), "run2", "sms-d", catalog, schemas_by_table, read_files=["sms/sms_09.txt"])
    assert (tmp_path / LAKE_PARTITION / "sms-d-sms_sms_09.txt-00000.jsonl").read_bytes() == b"09 again"
    assert (tmp_path / LAKE_PARTITION / "sms-d-sms_sms_10.txt-00001.jsonl").read_bytes() == b"10 second chunk"

    # a rerun of file 10 that now makes one chunk removes its stale second chunk
    _stage(tmp_path, "run3", f"{LAKE_PARTITION}/sms-d-sms_sms_10.txt-00000.jsonl", b"10 again")
    sinks.commit_staged(str(tmp_path), "run3", "sms-d", catalog, schemas_by_table, read_files=["sms/sms_10.txt"])
    assert sorted(p.name for p in (tmp_path / LAKE_PARTITION).iterdir()) == [
        "sms-d-sms_sms_09.txt-00000.jsonl",
        "sms-d-sms_sms_10.txt-00000.jsonl",
    ]


def _dead_letter(error_id, message, day="2026-11-26"):
    return {
        "error_id": error_id,
        "source": "sms",
        "stage": "parse",
        "error_type": "wrong_field_count",
        "error_message": message,
        "raw": "a|b",
        "raw_encoding": "utf-8",
        "source_file": "sms/x.txt",
        "message_id": None,
        "position": 3,
        "source_record_id": None,
        "failed_at": dt.datetime(2026, 11, 26, tzinfo=dt.UTC),
        "batch_id": "b",
        "run_id": "r",
        "schema_version": schemas.SCHEMA_VERSION,
        "ingest_date": dt.date.fromisoformat(day),
    }


def test_commit_upserts_the_staged_data_files_by_key_as_one_snapshot_per_table(tmp_path):
    from tests.support.warehouse import read_table

    catalog, schemas_by_table = _no_warehouse_files(tmp_path)
    staged = tmp_path / "_staging" / "run1" / "warehouse" / "dead_letter" / "ingest_date=2026-11-26"
    sinks.write_parquet(
        str(staged / "b1-00000.parquet"),
        [_dead_letter("dl-1", "first"), _dead_letter("dl-2", "x")],
        schemas_by_table["dead_letter"],
    )
    first = sinks.commit_staged(str(tmp_path), "run1", "b1", catalog, schemas_by_table)
    # another run (another batch id, another --date) carries dl-1 again: it replaces the row, in its own date
    staged = tmp_path / "_staging" / "run2" / "warehouse" / "dead_letter" / "ingest_date=2026-11-27"
    sinks.write_parquet(
        str(staged / "b2-00000.parquet"),
        [_dead_letter("dl-1", "second", "2026-11-27")],
        schemas_by_table["dead_letter"],
    )
    second = sinks.commit_staged(str(tmp_path), "run2", "b2", catalog, schemas_by_table)

    rows = {row["error_id"]: row for row in read_table(tmp_path / "warehouse" / "dead_letter").to_pylist()}
    assert sorted(rows) == ["dl-1", "dl-2"]
    assert rows["dl-1"]["error_message"] == "second" and rows["dl-1"]["ingest_date"] == dt.date(2026, 11, 27)
    assert second["rows"]["dead_letter"] == {"written": 1, "replaced": 1}
    assert first["snapshots"]["dead_letter"] != second["snapshots"]["dead_letter"]
    assert first["snapshots"]["complaints"] is None  # nothing staged for it: no empty snapshot


def test_parquet_written_by_the_sink_reads_back_with_its_schema(tmp_path):
    path = tmp_path / "dead_letter" / "ingest_date=2026-11-26" / "b-00000.parquet"
    sinks.write_parquet(
        str(path), [_dead_letter("dl-1", "expected 8")], schemas.arrow_schema("DeadLetter", include_partition_key=True)
    )
    table = pq.read_table(path)
    assert table.num_rows == 1
    assert table.column("ingest_date").to_pylist() == [dt.date(2026, 11, 26)]
    assert table.column("raw").to_pylist() == ["a|b"]


def test_staging_left_by_a_killed_run_is_swept_but_a_kept_or_running_one_stays(tmp_path):
    import json
    import socket
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    host = socket.gethostname()
    for run_id, owner, kept in (
        ("killed", {"host": host, "pid": dead_pid}, False),
        ("refused", {"host": host, "pid": dead_pid}, True),
        ("elsewhere", {"host": "another-host", "pid": dead_pid}, False),
    ):
        staging = tmp_path / "_staging" / run_id
        staging.mkdir(parents=True)
        (staging / sinks.OWNER_FILE).write_text(json.dumps(owner))
        if kept:
            sinks.keep_staging(str(tmp_path), run_id, "refused: reject ratio")
    sinks.claim_staging(str(tmp_path), "running")
    assert sinks.sweep_abandoned_staging(str(tmp_path)) == ["killed"]
    assert sorted(p.name for p in (tmp_path / "_staging").iterdir()) == ["elsewhere", "refused", "running"]


def test_a_runs_staging_is_swept_only_once_its_launcher_and_every_process_that_wrote_it_are_gone(tmp_path):
    """A launcher stopped or killed while its job runs on: the job's workers named themselves in the staging
    before writing (``hold_staging``); a relaunch's sweep leaves it while one of them lives, or is of another host,
    or cannot be read, and takes it once all of them are gone."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    def dead_pid() -> int:
        ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        return int(ended.stdout)

    host = socket.gethostname()
    launcher = {"host": host, "pid": dead_pid()}
    # a worker ended and not reaped yet (a killed launcher's, whose new parent has not waited for it)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 60
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    holders = {
        "worker-alive": [{"host": host, "pid": dead_pid()}, None],  # None: this process, alive, holds it
        "worker-elsewhere": [{"host": "another-host", "pid": dead_pid()}],
        # same host name, another pid namespace (a container's): its pid says nothing here
        "worker-in-a-container": [{"host": host, "pid_namespace": "pid:[1]", "pid": dead_pid()}],
        "worker-unreadable": ["{not json"],
        "workers-gone": [{"host": host, "pid": dead_pid()}, {"host": host, "pid": zombie.pid}],
    }
    for run_id, processes in holders.items():
        staging = tmp_path / "_staging" / run_id
        (staging / "lake").mkdir(parents=True)
        (staging / "lake" / "part.jsonl").write_text("{}\n")
        (staging / sinks.OWNER_FILE).write_text(json.dumps(launcher))
        for n, process in enumerate(processes):
            if process is None:
                sinks.hold_staging(str(staging))
                continue
            (staging / sinks.HOLDERS_DIR).mkdir(exist_ok=True)
            text = process if isinstance(process, str) else json.dumps(process)
            (staging / sinks.HOLDERS_DIR / f"w{n}.json").write_text(text)
    assert sinks.sweep_abandoned_staging(str(tmp_path)) == ["workers-gone"]
    zombie.wait()
    left = sorted(p.name for p in (tmp_path / "_staging").iterdir())
    # nothing moved aside is left there
    assert left == ["worker-alive", "worker-elsewhere", "worker-in-a-container", "worker-unreadable"]
    for run_id in left:
        assert (tmp_path / "_staging" / run_id / "lake" / "part.jsonl").read_text() == "{}\n"
    mine = json.loads(
        next((tmp_path / "_staging" / "worker-alive" / sinks.HOLDERS_DIR).glob(f"*-{os.getpid()}.json")).read_text()
    )
    assert mine == {"host": host, "pid_namespace": os.readlink("/proc/self/ns/pid"), "pid": os.getpid()}


def test_a_staging_directory_a_sweep_moved_aside_goes_back_beside_what_its_job_wrote_meanwhile(tmp_path):
    """A job's process named itself while a sweep was moving its staging aside: the sweep puts every file back,
    beside the ones the job has written again since in a fresh directory; a file the job wrote again there
    wins, and the older copy stays aside: nothing is deleted."""
    aside, staging = tmp_path / ".sweeping-run-1", tmp_path / "run"
    for name, text in (("lake/a.jsonl", "a"), ("lake/b.jsonl", "old b"), (f"{sinks.HOLDERS_DIR}/w.json", "{}")):
        (aside / name).parent.mkdir(parents=True, exist_ok=True)
        (aside / name).write_text(text)
    (staging / "lake").mkdir(parents=True)
    (staging / "lake" / "b.jsonl").write_text("new b")
    (staging / "lake" / "c.jsonl").write_text("c")

    sinks._move_back(str(aside), str(staging))

    assert {p.relative_to(staging).as_posix(): p.read_text() for p in staging.rglob("*") if p.is_file()} == {
        "lake/a.jsonl": "a",
        "lake/b.jsonl": "new b",
        "lake/c.jsonl": "c",
        f"{sinks.HOLDERS_DIR}/w.json": "{}",
    }
    assert [p.read_text() for p in aside.rglob("*") if p.is_file()] == ["old b"]

    sinks._move_back(str(staging), str(tmp_path / "nothing-there"))  # no directory there: moved back whole
    assert not staging.exists() and (tmp_path / "nothing-there" / "lake" / "c.jsonl").read_text() == "c"


def _enriched_row(complaint_id: str, event_time: dt.datetime, flags=()) -> dict:
    """A warehouse row as ``Enrich`` emits it: every field of the Complaint schema but the partition key."""
    return {
        "complaint_id": complaint_id,
        "source": "twitter",
        "source_record_id": complaint_id,
        "source_file": "twitter/a.jsonl",
        "source_position": 1,
        "event_time": event_time,
        "ingested_at": event_time + dt.timedelta(minutes=5),
        "customer_id": None,
        "customer_match": "none",
        "contact_token": None,
        "language": "en",
        "text": "charged twice",
        "subject": None,
        "customer_topic": None,
        "category": "Billing",
        "category_confidence": 0.9,
        "sentiment_score": -0.5,
        "sentiment_label": "negative",
        "priority": "P2",
        "priority_reasons": [],
        "route_queue": "billing",
        "flags": list(flags),
        **dict.fromkeys(("segment", "region", "plan", "agent_id", "call_queue", "wrap_up_code", "disposition"), None),
        **dict.fromkeys(("call_duration_seconds", "sms_parts_expected", "sms_parts_received"), None),
        "model_version": "rules-1",
        "batch_id": "b1",
        "run_id": "r1",
        "schema_version": schemas.SCHEMA_VERSION,
    }


def test_writing_complaint_files_leaves_its_input_rows_as_they_were(tmp_path):
    """Beam hands a DoFn's input to every consumer of its PCollection: ``WriteComplaints`` computes each row's
    ``event_date`` partition without writing it into the row. A sibling step fused with it (here one applied
    before and one after it, whichever the runner calls last) sees the rows as ``Enrich`` emitted them; the
    files hold the partition column all the same."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.testing.util import assert_that, equal_to

    utc = dt.UTC
    rows = [
        _enriched_row("c2", dt.datetime(2026, 11, 20, 23, 59, tzinfo=utc), ["late_arrival"]),
        _enriched_row("c1", dt.datetime(2026, 11, 21, 0, 1, tzinfo=utc)),
        _enriched_row("c3", dt.datetime(2026, 11, 20, 8, 0, tzinfo=utc)),
    ]
    staging = str(tmp_path / "staging")

    def fields_added(shard):
        return [sorted(set(row) - set(rows[0])) for row in shard[1]]

    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        shards = pipeline | beam.Create([(7, rows)])
        before = shards | "AddedBefore" >> beam.FlatMap(fields_added)
        tallies = shards | sinks.WriteComplaints(staging, "b1")
        after = shards | "AddedAfter" >> beam.FlatMap(fields_added)
        assert_that(before, equal_to([[]] * 3), label="NothingAddedBefore")
        assert_that(after, equal_to([[]] * 3), label="NothingAddedAfter")
        assert_that(
            tallies,
            equal_to([(("twitter", "written", ""), 3), (("twitter", "flagged", "late_arrival"), 1)]),
            label="Tallies",
        )
    written = {
        path.parent.name: pq.read_table(path).to_pylist()
        for path in (tmp_path / "staging" / tables.COMPLAINTS.path).rglob("*.parquet")
    }
    assert sorted(written) == ["event_date=2026-11-20", "event_date=2026-11-21"]
    assert [(r["complaint_id"], r["event_date"]) for r in written["event_date=2026-11-20"]] == [
        ("c2", dt.date(2026, 11, 20)),
        ("c3", dt.date(2026, 11, 20)),
    ]
    assert [(r["complaint_id"], r["event_date"]) for r in written["event_date=2026-11-21"]] == [
        ("c1", dt.date(2026, 11, 21))
    ]


def test_the_complaint_files_function_leaves_its_rows_as_they_were(tmp_path):
    import copy

    rows = [_enriched_row(f"c{n}", dt.datetime(2026, 11, 20 + n % 2, n, tzinfo=dt.UTC)) for n in range(4)]
    given = copy.deepcopy(rows)
    schema = schemas.arrow_schema("Complaint", include_partition_key=True)
    tallies = sinks.write_complaint_files(str(tmp_path), "b1", schema, 0, rows)
    assert rows == given
    assert tallies == {("twitter", "written", ""): 4}
    partitions = sorted(path.parent.name for path in tmp_path.rglob("*.parquet"))
    assert partitions == ["event_date=2026-11-20", "event_date=2026-11-21"]
