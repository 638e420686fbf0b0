"""Progress of a running batch job, read from what it has staged so far.

Beam's local runner reports no progress of its own, and a remote runner's progress lives in its UI. What every
runner does is write staged files as it goes, with names that say which input file (lake chunks) and which
shard (warehouse files) they belong to, so counting them tells how far the job has come.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from schemas import tables


def staged_progress(staging: str) -> tuple[int, int]:
    """(input files with at least one lake chunk staged, warehouse shards with a file staged)."""
    inputs, shards = set(), set()
    for root, _, names in os.walk(staging):
        for name in names:
            if name.endswith(".jsonl"):
                inputs.add(name.rsplit("-", 1)[0])
            elif name.endswith(".parquet") and tables.COMPLAINTS.path in root.replace(os.sep, "/"):
                shards.add(name)
    return len(inputs), len(shards)


class _PollingReporter:
    """Runs ``_run`` in a daemon thread while the ``with`` block lasts (local output only: no listing calls
    against object stores)."""

    def __init__(self, path: str, stream=None):
        self._path = path
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def __enter__(self):
        if "://" not in self._path:
            self._started = time.monotonic()
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        return False


class ProgressReporter(_PollingReporter):
    """Prints a line to ``stream`` whenever the staged output has grown, at most every ``interval`` seconds."""

    def __init__(self, staging: str, input_files: int, shards: int, interval: float = 10.0, stream=None):
        super().__init__(staging, stream)
        self.staging, self.input_files, self.shards, self.interval = staging, input_files, shards, interval
        self._last = (0, 0)

    def _run(self):
        while not self._stop.wait(self.interval):
            current = staged_progress(self.staging)
            if current != self._last:
                self._last = current
                elapsed = time.monotonic() - self._started
                print(
                    f"  {elapsed:5.0f} s: {current[0]} of {self.input_files} channel files read, "
                    f"{min(current[1], self.shards)} of {self.shards} shards written",
                    file=self.stream,
                    flush=True,
                )


class StreamProgress(_PollingReporter):
    """Prints a streaming job's running totals (from its ``stream_counts`` table) every ``interval`` seconds
    while they change: read, written, rejected and duplicates, and the read rate since the last line. Data files
    never change, so each is read once and the cost stays flat however long the job runs."""

    def __init__(self, output_dir: str, run_id: str, interval: float = 30.0, stream=None, catalog=None):
        from warehouse.catalog import CatalogConfig

        self.root = os.path.join(output_dir, tables.STREAM_COUNTS.path)
        super().__init__(self.root, stream)
        self.catalog = catalog or CatalogConfig.of_output(output_dir)
        self.run_id, self.interval = run_id, interval
        self.totals = {"read": 0, "written": 0, "rejected": 0, "duplicates": 0}
        self._file_totals: dict[str, dict] = {}

    def refresh(self) -> bool:
        """Bring the totals up to the table's current snapshot; True if they changed."""
        import pyarrow.parquet as pq

        from warehouse.catalog import CatalogError, load_table, open_catalog
        from warehouse.read import read_tasks, table_state

        columns = ("run_id", "outcome", "count")
        try:
            iceberg = load_table(open_catalog(self.catalog, create=False), self.catalog, tables.STREAM_COUNTS)
            state = table_state(iceberg, tables.STREAM_COUNTS.name)
        except CatalogError:  # not committed to yet, not answering, or unreadable: the next line will tell
            return False
        deletes = dict(state.deleted)
        tasks = dict(zip(state.files, state.tasks, strict=True))
        totals = dict.fromkeys(self.totals, 0)
        for path in state.files:
            seen = (path, deletes.get(path, ()))  # a file another engine deleted rows from is read anew
            if seen not in self._file_totals:
                counted = self._file_totals[seen] = dict.fromkeys(self.totals, 0)
                rows = (
                    read_tasks(iceberg, [tasks[path]], columns=columns)
                    if path in deletes
                    else pq.read_table(path, columns=list(columns))
                )
                for row in rows.to_pylist():
                    if row["run_id"] == self.run_id and row["outcome"] in counted:
                        counted[row["outcome"]] += row["count"]
            for outcome, count in self._file_totals[seen].items():
                totals[outcome] += count
        changed, self.totals = totals != self.totals, totals
        return changed

    def line(self, elapsed: float, rate: float) -> str:
        t = self.totals
        return (
            f"  {elapsed:6.0f} s: read {t['read']:,} ({rate:,.0f}/s), written {t['written']:,}, "
            f"rejected {t['rejected']:,}, duplicates {t['duplicates']:,}"
        )

    def _run(self):
        last_read, last_time = 0, time.monotonic()
        while not self._stop.wait(self.interval):
            if self.refresh():
                now = time.monotonic()
                rate = (self.totals["read"] - last_read) / max(now - last_time, 1e-9)
                last_read, last_time = self.totals["read"], now
                print(self.line(now - self._started, rate), file=self.stream, flush=True)
