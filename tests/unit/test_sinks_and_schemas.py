import datetime as dt

import pyarrow.parquet as pq

import schemas
from schemas import tables
from transforms import sinks


def test_schemas_are_derived_from_avro_with_partition_keys_in_the_path_only():
    complaint = schemas.arrow_schema("Complaint")
    assert "event_date" not in complaint.names
    assert "event_date" in schemas.arrow_schema("Complaint", include_partition_key=True).names
    assert complaint.field("event_time").type.tz == "UTC"
    assert complaint.metadata[b"schema_version"] == schemas.SCHEMA_VERSION.encode()
    assert set(schemas.Complaint.__annotations__) == set(schemas.field_names("Complaint"))
    assert schemas.beam_row_type("DeadLetter")._fields[0] == "error_id"


def _stage(output_dir, run_id, relative, content=b"x"):
    path = output_dir / "_staging" / run_id / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_commit_moves_staged_files_and_replaces_only_this_batch(tmp_path):
    _stage(tmp_path, "run1", "warehouse/complaints/event_date=2026-11-26/b1-00000.parquet", b"first")
    _stage(tmp_path, "run1", "warehouse/complaints/event_date=2026-11-25/b1-00001.parquet", b"late")
    sinks.commit_staged(str(tmp_path), "run1", "b1")
    sinks.discard_staging(str(tmp_path), "run1")
    other = tmp_path / "warehouse/complaints/event_date=2026-11-26/b2-00000.parquet"
    other.write_bytes(b"another batch")

    _stage(tmp_path, "run2", "warehouse/complaints/event_date=2026-11-26/b1-00000.parquet", b"second")
    committed = sinks.commit_staged(str(tmp_path), "run2", "b1")
    sinks.discard_staging(str(tmp_path), "run2")

    assert committed[tables.COMPLAINTS.path] == 1
    assert (tmp_path / "warehouse/complaints/event_date=2026-11-26/b1-00000.parquet").read_bytes() == b"second"
    assert not (tmp_path / "warehouse/complaints/event_date=2026-11-25").exists()  # no empty partition left
    assert other.read_bytes() == b"another batch"
    assert not (tmp_path / "_staging").exists()


def test_parquet_written_by_the_sink_reads_back_with_its_schema(tmp_path):
    row = {"error_id": "dl-1", "source": "sms", "stage": "parse", "error_type": "wrong_field_count",
           "error_message": "expected 8", "raw": "a|b", "raw_encoding": "utf-8", "source_file": "sms/x.txt",
           "message_id": None, "position": 3, "source_record_id": None,
           "failed_at": dt.datetime(2026, 11, 26, tzinfo=dt.timezone.utc), "batch_id": "b", "run_id": "r",
           "schema_version": schemas.SCHEMA_VERSION}
    path = tmp_path / "dead_letter" / "ingest_date=2026-11-26" / "b-00000.parquet"
    sinks.write_parquet(str(path), [row], schemas.arrow_schema("DeadLetter"))
    table = pq.read_table(tmp_path / "dead_letter")
    assert table.num_rows == 1
    assert table.column("ingest_date").to_pylist() == ["2026-11-26"] or \
        str(table.column("ingest_date")[0]) == "2026-11-26"
    assert table.column("raw").to_pylist() == ["a|b"]


def test_staging_left_by_a_killed_run_is_swept_but_a_kept_or_running_one_stays(tmp_path):
    import json
    import socket
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    host = socket.gethostname()
    for run_id, owner, kept in (("killed", {"host": host, "pid": dead_pid}, False),
                                ("refused", {"host": host, "pid": dead_pid}, True),
                                ("elsewhere", {"host": "another-host", "pid": dead_pid}, False)):
        staging = tmp_path / "_staging" / run_id
        staging.mkdir(parents=True)
        (staging / sinks.OWNER_FILE).write_text(json.dumps(owner))
        if kept:
            sinks.keep_staging(str(tmp_path), run_id, "refused: reject ratio")
    sinks.claim_staging(str(tmp_path), "running")
    assert sinks.sweep_abandoned_staging(str(tmp_path)) == ["killed"]
    assert sorted(p.name for p in (tmp_path / "_staging").iterdir()) == ["elsewhere", "refused", "running"]
