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


def test_stream_progress_counts_the_committed_rows_of_its_own_run(tmp_path):
    import datetime as dt

    from beam_pipelines.progress import StreamProgress
    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows

    config = CatalogConfig(str(tmp_path / "warehouse"))
    now = dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)

    def commit(run_id, outcome, count, minute=0, pane=0):
        window = now + dt.timedelta(minutes=minute)
        write_rows(
            config,
            tables.STREAM_COUNTS,
            [
                {
                    "stream_id": "s",
                    "run_id": run_id,
                    "source": "twitter",
                    "outcome": outcome,
                    "reason": "",
                    "count": count,
                    "written_at": now,
                    "written_date": now.date(),
                    "window_start": window,
                    "pane_index": pane,
                }
            ],
        )

    progress = StreamProgress(str(tmp_path), "run-1")
    assert progress.refresh() is False  # no table yet
    commit("run-1", "read", 10)
    commit("run-1", "written", 9)
    commit("run-0", "read", 500)  # another run of the same stream, the same window
    partition = tmp_path / "warehouse" / "stream_counts" / "written_date=2026-11-26"
    (partition / "uncommitted.parquet").write_bytes(b"a file a writer has not committed yet")
    assert progress.refresh() is True
    assert progress.totals == {"read": 10, "written": 9, "rejected": 0, "duplicates": 0}
    assert progress.refresh() is False  # nothing new
    commit("run-1", "read", 5, minute=1)
    assert progress.refresh() is True and progress.totals["read"] == 15
    commit("run-1", "read", 7, minute=1, pane=1)  # a later firing of the same window replaces its row
    assert progress.refresh() is True and progress.totals["read"] == 17
    assert "read 17 (3/s), written 9" in progress.line(60, 3)
