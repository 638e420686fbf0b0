import io

from beam_pipelines.progress import ProgressReporter, staged_progress


def test_progress_counts_input_files_and_shards_from_staged_names(tmp_path):
    lake = tmp_path / "lake/raw/source=sms/ingest_date=2026-11-26"
    lake.mkdir(parents=True)
    for name in ("b1-sms_a.txt-00000.jsonl", "b1-sms_a.txt-00001.jsonl", "b1-sms_b.txt-00000.jsonl"):
        (lake / name).write_text("{}\n")
    warehouse = tmp_path / "warehouse/complaints/event_date=2026-11-26"
    warehouse.mkdir(parents=True)
    (warehouse / "b1-00003.parquet").write_bytes(b"")
    assert staged_progress(str(tmp_path)) == (2, 1)


def test_reporter_prints_when_the_staged_output_grows(tmp_path):
    stream = io.StringIO()
    lake = tmp_path / "lake/raw/source=sms/ingest_date=2026-11-26"
    lake.mkdir(parents=True)
    with ProgressReporter(str(tmp_path), input_files=4, shards=8, interval=0.05, stream=stream):
        (lake / "b1-sms_a.txt-00000.jsonl").write_text("{}\n")
        import time
        deadline = time.monotonic() + 5
        while "1 of 4 channel files read" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "1 of 4 channel files read, 0 of 8 shards written" in stream.getvalue()
