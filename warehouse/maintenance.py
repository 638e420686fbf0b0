"""Upkeep of the warehouse tables (``complaints maintain``): compaction, snapshot expiry, orphan removal.

- **Compaction** rewrites each partition that has collected many small data files (a streamed day commits a
  few files per bundle) into as few files as the target size allows, as one snapshot: the rows are the same,
  readers go on with the old snapshot until the new one is committed, and a writer committing meanwhile makes
  the compaction start that partition again from the new state (the committer's turn and retry).
- **Expiry** drops snapshots older than the retention from the table's history (time travel reaches back so
  far; the current snapshot is always kept).
- **Orphan removal** deletes files under a table's location that no remaining snapshot references and that are
  older than a safety age (so a writer's files that are not committed yet are left alone): data files replaced
  by upserts or compactions, files of killed runs, manifests of expired snapshots. Local tables only.
"""
from __future__ import annotations

import datetime as dt
import itertools
import os
import time
import uuid
from dataclasses import dataclass, field

from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table import Table as IcebergTable

from warehouse.commit import _RETRYABLE, CommitConflict, _turn
from warehouse.catalog import local_path


@dataclass
class TableUpkeep:
    """What maintenance did to one table."""

    table: str
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    partitions_compacted: int = 0
    snapshots_expired: int = 0
    orphans_removed: int = 0
    snapshot_id: int | None = None
    notes: list[str] = field(default_factory=list)


def _live_tasks(iceberg: IcebergTable) -> list:
    return list(iceberg.scan().plan_files()) if iceberg.current_snapshot() else []


def compact(iceberg: IcebergTable, min_files: int, attempts: int = 8) -> int:
    """Rewrite every partition with at least ``min_files`` data files as few files; returns how many partitions
    were rewritten."""
    compacted = 0
    for attempt in range(1, attempts + 1):
        with _turn(iceberg):
            iceberg.refresh()
            by_partition: dict = {}
            for task in _live_tasks(iceberg):
                by_partition.setdefault(repr(task.file.partition), []).append(task)
            crowded = [tasks for tasks in by_partition.values() if len(tasks) >= min_files]
            if not crowded:
                return compacted
            write_uuid, counter, written = uuid.uuid4(), itertools.count(0), []  # file names never repeat
            try:
                with iceberg.transaction() as transaction:
                    with transaction.update_snapshot(snapshot_properties={"writer": "maintain"}).overwrite() as rewrite:
                        for tasks in crowded:
                            rows = ArrowScan(table_metadata=iceberg.metadata, io=iceberg.io,
                                             projected_schema=iceberg.schema(), row_filter=AlwaysTrue()
                                             ).to_table(tasks=tasks)
                            new_files = list(_dataframe_to_data_files(iceberg.metadata, rows, iceberg.io,
                                                                      write_uuid=write_uuid, counter=counter))
                            written.extend(new_files)
                            for task in tasks:
                                rewrite.delete_data_file(task.file)
                            for data_file in new_files:
                                rewrite.append_data_file(data_file)
                return compacted + len(crowded)
            except _RETRYABLE:
                for data_file in written:
                    iceberg.io.delete(data_file.file_path)
        time.sleep(min(5.0, 0.05 * 2 ** attempt))
    raise CommitConflict(f"{'.'.join(iceberg.name())}: compaction kept meeting other writers' commits")


def expire_snapshots(iceberg: IcebergTable, older_than: dt.datetime) -> int:
    """Drop the snapshots older than ``older_than`` (never the current one); returns how many."""
    current = iceberg.current_snapshot()
    expired = [s.snapshot_id for s in iceberg.snapshots()
               if s.timestamp_ms < older_than.timestamp() * 1000 and (current is None or s.snapshot_id != current.snapshot_id)]
    if not expired:
        return 0
    with _turn(iceberg):
        iceberg.refresh()
        iceberg.maintenance.expire_snapshots().older_than(older_than).commit()
    return len(expired)


def referenced_files(iceberg: IcebergTable) -> set[str]:
    """Every file a remaining snapshot or the metadata log references: data files, manifests, manifest lists,
    metadata files (local paths)."""
    found = {local_path(iceberg.metadata_location)}
    found.update(local_path(entry.metadata_file) for entry in iceberg.metadata.metadata_log)
    for snapshot in iceberg.snapshots():
        found.add(local_path(snapshot.manifest_list))
        for manifest in snapshot.manifests(iceberg.io):
            found.add(local_path(manifest.manifest_path))
            for entry in manifest.fetch_manifest_entry(iceberg.io, discard_deleted=True):
                found.add(local_path(entry.data_file.file_path))
    return found


def remove_orphans(iceberg: IcebergTable, older_than: dt.datetime) -> int:
    """Delete files under the table's (local) location that nothing references and that were last modified
    before ``older_than``; returns how many."""
    location = iceberg.location()
    if not location.startswith("file://"):
        return 0
    root = local_path(location)
    with _turn(iceberg):
        iceberg.refresh()
        keep = referenced_files(iceberg)
        removed = 0
        for directory, _, names in os.walk(root):
            for name in names:
                path = os.path.join(directory, name)
                if path in keep or name.startswith(".") or name.endswith(".lock"):
                    continue
                if os.path.getmtime(path) < older_than.timestamp():
                    os.remove(path)
                    removed += 1
        for directory, subdirectories, names in sorted(os.walk(root), reverse=True):
            if directory != root and not names and not subdirectories:
                try:
                    os.rmdir(directory)
                except OSError:
                    pass
    return removed


def maintain_table(iceberg: IcebergTable, *, min_files: int, retention: dt.timedelta, orphan_age: dt.timedelta,
                   now: dt.datetime | None = None) -> TableUpkeep:
    """Compact, expire and remove orphans in one table, in that order (compaction's replaced files become
    orphans once the snapshots that still reference them expire)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    upkeep = TableUpkeep(iceberg.name()[-1])
    before = _live_tasks(iceberg)
    upkeep.files_before = len(before)
    rows_before = sum(task.file.record_count for task in before)
    upkeep.partitions_compacted = compact(iceberg, min_files)
    upkeep.snapshots_expired = expire_snapshots(iceberg, now - retention)
    upkeep.orphans_removed = remove_orphans(iceberg, now - orphan_age)
    after = _live_tasks(iceberg)
    upkeep.files_after, upkeep.rows = len(after), sum(task.file.record_count for task in after)
    if upkeep.rows != rows_before:  # a writer committed meanwhile: the table moved on, nothing was lost
        upkeep.notes.append(f"rows {rows_before:,} -> {upkeep.rows:,}: other writers committed meanwhile")
    snapshot = iceberg.current_snapshot()
    upkeep.snapshot_id = snapshot.snapshot_id if snapshot else None
    return upkeep
