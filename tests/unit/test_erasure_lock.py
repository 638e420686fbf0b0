"""An erasure holds the committer's turn of every table it erases: a writer committing meanwhile waits, then
commits on top of the erasure's snapshot (its rows kept, the erased ones not brought back)."""

import threading
import time

from schemas import tables
from tests.support.erasure import OTHER, PERSON, complaint, complaints_table
from warehouse.catalog import CatalogConfig
from warehouse.commit import write_rows
from warehouse.erasure import Matcher, Subject, erase_tables


class SignallingMatcher(Matcher):
    """A matcher that says when the erasure has started reading (it holds the turns by then)."""

    def __init__(self, subject, reading: threading.Event):
        super().__init__(subject)
        self.reading = reading

    def names(self, text):
        if not self.reading.is_set():
            self.reading.set()
            time.sleep(1)  # long enough for the writer to commit first, were the turn not held
        return super().names(text)


def test_a_writer_waits_for_the_erasure_and_commits_on_top_of_it(tmp_path):
    config = CatalogConfig(str(tmp_path / "warehouse"))
    write_rows(config, tables.COMPLAINTS, [complaint("c1", PERSON), complaint("c2", OTHER, "about BJN-00000002")])
    iceberg = complaints_table(tmp_path)
    first = iceberg.current_snapshot().snapshot_id
    reading, written = threading.Event(), {}

    def writer():
        reading.wait(timeout=60)
        written["result"] = write_rows(config, tables.COMPLAINTS, [complaint("c3", OTHER)])

    thread = threading.Thread(target=writer)
    thread.start()
    results, _ = erase_tables(
        {"complaints": iceberg}, SignallingMatcher(Subject.of(b"k", [PERSON]), reading), "erasure-test"
    )
    thread.join(timeout=120)
    erasure_snapshot = results["complaints"].snapshots["main"]
    iceberg.refresh()
    assert reading.is_set() and iceberg.snapshot_by_id(erasure_snapshot).parent_snapshot_id == first
    assert iceberg.snapshot_by_id(written["result"].snapshot_id).parent_snapshot_id == erasure_snapshot
    assert sorted(iceberg.scan().to_arrow()["complaint_id"].to_pylist()) == ["c2", "c3"]
