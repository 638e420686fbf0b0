"""Upkeep of the warehouse tables (``complaints warehouse maintain``): compaction, snapshot expiry, orphan removal.

The tables are shared with other engines (Spark, Trino, Flink): upkeep must never destroy what any of them
still reads. So:

- **Compaction** rewrites each partition that has collected many small data files (a streamed day commits a
  few files per bundle) into as few files as the target size allows, as one snapshot: the rows are the same,
  readers go on with the old snapshot until the new one is committed, and a writer committing meanwhile makes
  the compaction start that partition again from the new state (the committer's turn and retry). Data files
  that delete files (another engine's merge-on-read deletes or updates) apply to are left as they are, and a
  table with equality deletes is not compacted at all: rewriting them could bring deleted rows back.
- **Expiry** drops snapshots older than the retention from the table's history through pyiceberg's own
  ``ExpireSnapshots`` (time travel reaches back so far). Never expired: the head of every branch and tag, the
  ancestors a branch's own retention (``min-snapshots-to-keep``, ``max-snapshot-age-ms``) or the table's
  ``history.expire.*`` settings keep. No branch or tag is ever removed.
- **Orphan removal** deletes files under a table's (local) location that nothing references and that are
  older than a safety age (so a writer's files that are not committed yet are left alone): data files replaced
  by upserts or compactions, files of killed runs, manifests of expired snapshots. Referenced means: by any
  snapshot still in the metadata (every branch, every tag), as a data file, position or equality delete file,
  manifest or manifest list; the metadata file the catalog points to and every one in its metadata log;
  statistics files. Paths are compared through ``warehouse.uris.normalise_uri`` (``file:/x`` is ``file:///x``)
  and, for local files, their real path (symbolic links resolved).
  When a manifest list or manifest cannot be read, nothing is removed (:class:`UnreadableMetadata`). Files that
  are not named like Iceberg's files (``version-hint.text``, ``.crc`` checksums, ``_temporary/``, hidden
  files, the committer's lock) are always kept; an orphan's ``.NAME.crc`` checksum goes with it.

Every step has a dry run (``dry_run=True``; ``complaints warehouse maintain --dry-run``) that lists what it would do and
changes nothing.
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
from pyiceberg.manifest import DataFileContent, ManifestFile, read_manifest_list
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import Table as IcebergTable
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.update import AssertRefSnapshotId

from warehouse.commit import _RETRYABLE, CommitConflict, _turn
from warehouse.uris import is_local, local_path, normalise_uri

# what Iceberg writers name their files: data (Parquet, ORC, Avro), manifests and manifest lists (Avro),
# metadata (JSON, maybe compressed), statistics (Puffin). Anything else under a table is kept.
ICEBERG_FILE_SUFFIXES = (".parquet", ".orc", ".avro", ".metadata.json", ".metadata.json.gz", ".puffin", ".stats")
# a Hadoop catalog's pointer to its current metadata file; never an orphan
VERSION_HINT = "version-hint.text"
MIN_SNAPSHOTS_PROPERTY = "history.expire.min-snapshots-to-keep"
MAX_SNAPSHOT_AGE_PROPERTY = "history.expire.max-snapshot-age-ms"


class UnreadableMetadata(Exception):
    """A metadata file, manifest list or manifest of the table could not be read (missing, corrupt, a URI
    scheme this table's storage does not serve): what it references is unknown, so nothing may be removed.
    The message names the file."""


@dataclass
class TableUpkeep:
    """What maintenance did (or, in a dry run, would do) to one table."""

    table: str
    files_before: int = 0
    files_after: int = 0
    delete_files: int = 0
    rows: int = 0
    partitions_compacted: int = 0
    files_compacted: int = 0
    snapshots_expired: int = 0
    orphans_removed: int = 0
    snapshot_id: int | None = None
    dry_run: bool = False
    expired_ids: list[int] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    crowded_partitions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# Reading what a table references, every file named by its file_key


def _readable(path: str, table_is_local: bool) -> str:
    """``path`` as the table's FileIO should open it; a local table's file in another scheme is unreadable."""
    if table_is_local and not is_local(path):
        raise UnreadableMetadata(f"cannot read {path}: not a local file (the table is on the local disk)")
    return path


def _manifests_of(iceberg: IcebergTable, manifest_list: str, table_is_local: bool) -> list[ManifestFile]:
    """The manifests a manifest list names, read afresh (no cache); ``UnreadableMetadata`` when it cannot be."""
    path = _readable(manifest_list, table_is_local)
    try:
        return list(read_manifest_list(iceberg.io.new_input(path)))
    except Exception as error:  # missing, truncated, not Avro: all mean "unknown references"
        raise UnreadableMetadata(f"cannot read manifest list {manifest_list}: {_reason(error)}") from error


def _entries_of(iceberg: IcebergTable, manifest: ManifestFile, table_is_local: bool) -> list:
    """The live entries (added or existing files) of a manifest; ``UnreadableMetadata`` when it cannot be read."""
    _readable(manifest.manifest_path, table_is_local)
    try:
        return manifest.fetch_manifest_entry(iceberg.io, discard_deleted=True)
    except Exception as error:
        raise UnreadableMetadata(f"cannot read manifest {manifest.manifest_path}: {_reason(error)}") from error


def file_key(uri: str) -> str:
    """The key two spellings of one file share: ``normalise_uri``'s, and for a local file the real path (a
    warehouse reached through a symbolic link is one set of files, whichever path an engine wrote down)."""
    key = normalise_uri(uri)
    return os.path.realpath(key) if is_local(uri) else key


def _reason(error: Exception) -> str:
    return (f"{type(error).__name__}: {error}".splitlines() or [type(error).__name__])[0][:200]


def _metadata_at(iceberg: IcebergTable, path: str, table_is_local: bool) -> TableMetadata:
    try:
        return FromInputFile.table_metadata(iceberg.io.new_input(_readable(path, table_is_local)))
    except UnreadableMetadata:
        raise
    except Exception as error:
        raise UnreadableMetadata(f"cannot read metadata file {path}: {_reason(error)}") from error


def _hadoop_current_metadata(root: str) -> str | None:
    """The metadata file a Hadoop catalog's ``metadata/version-hint.text`` under ``root`` names, if any."""
    hint = os.path.join(root, "metadata", VERSION_HINT)
    if not os.path.isfile(hint):
        return None
    with open(hint, encoding="utf-8") as handle:
        version = handle.read().strip()
    for name in (f"v{version}.metadata.json", f"v{version}.gz.metadata.json", f"v{version}.metadata.json.gz"):
        if os.path.isfile(os.path.join(root, "metadata", name)):
            return os.path.join(root, "metadata", name)
    return None


def files_of_metadata(
    iceberg: IcebergTable, metadata: TableMetadata, skip_snapshots=frozenset(), table_is_local: bool = True
) -> set[str]:
    """Every file ``metadata`` references (normalised keys): the metadata files of its log, its statistics
    files, and for each snapshot not in ``skip_snapshots`` (whatever branch, tag or none holds it) the manifest
    list, its manifests and their live data and delete files (position and equality).

    Raises ``UnreadableMetadata`` (naming the file) when a manifest list or manifest cannot be read."""
    found = {file_key(entry.metadata_file) for entry in metadata.metadata_log}
    found.update(file_key(statistics.statistics_path) for statistics in metadata.statistics)
    found.update(file_key(statistics.statistics_path) for statistics in metadata.partition_statistics)
    manifests_read: set[str] = set()
    for snapshot in metadata.snapshots:
        if snapshot.snapshot_id in skip_snapshots:
            continue
        if not snapshot.manifest_list:
            raise UnreadableMetadata(
                f"snapshot {snapshot.snapshot_id} has no manifest list (a format this upkeep does not read)"
            )
        found.add(file_key(snapshot.manifest_list))
        for manifest in _manifests_of(iceberg, snapshot.manifest_list, table_is_local):
            key = file_key(manifest.manifest_path)
            found.add(key)
            if key in manifests_read:
                continue
            manifests_read.add(key)
            found.update(
                file_key(entry.data_file.file_path) for entry in _entries_of(iceberg, manifest, table_is_local)
            )
    return found


def referenced_files(iceberg: IcebergTable, skip_snapshots=frozenset()) -> set[str]:
    """Every file the table references as its catalog has it now (normalised keys): the metadata file the
    catalog points to and everything :func:`files_of_metadata` finds from it; for a table a Hadoop catalog also
    tracks (``metadata/version-hint.text``), that catalog's current metadata file and what it references too.

    ``skip_snapshots``: snapshots to leave out (a dry run's snapshots that expiry would remove first).
    Raises ``UnreadableMetadata`` when any manifest list or manifest cannot be read."""
    table_is_local = is_local(iceberg.location())
    found = {file_key(iceberg.metadata_location)}
    found |= files_of_metadata(iceberg, iceberg.metadata, skip_snapshots, table_is_local)
    hadoop = _hadoop_current_metadata(local_path(iceberg.location())) if table_is_local else None
    if hadoop is not None and file_key(hadoop) != file_key(iceberg.metadata_location):
        found.add(file_key(hadoop))
        found |= files_of_metadata(iceberg, _metadata_at(iceberg, hadoop, table_is_local), (), table_is_local)
    return found


# ---------------------------------------------------------------------------------------------------------------
# Orphan files


def _is_iceberg_file_name(name: str) -> bool:
    return name.endswith(ICEBERG_FILE_SUFFIXES) and not name.startswith((".", "_"))


def _candidate_files(root: str, older_than: dt.datetime) -> list[str]:
    """Files under ``root`` named like Iceberg files and last modified before ``older_than`` (no symbolic links).
    Hidden and ``_``-prefixed folders (``_temporary``, ``.staging``) are not entered."""
    limit = older_than.timestamp()
    candidates = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not name.startswith((".", "_"))]
        for name in filter(_is_iceberg_file_name, names):
            path = os.path.join(directory, name)
            try:
                if os.lstat(path).st_mtime < limit and os.path.isfile(path) and not os.path.islink(path):
                    candidates.append(path)
            except FileNotFoundError:  # removed meanwhile by its writer
                continue
    return sorted(candidates)


def find_orphans(iceberg: IcebergTable, older_than: dt.datetime, skip_snapshots=frozenset()) -> list[str]:
    """The local paths of files under the table's location that no snapshot, metadata file or statistics file
    of the table references and that were last modified before ``older_than``; removes nothing.

    The files are listed before the table is read from its catalog, and the catalog's pointer is read again
    after: a commit that lands meanwhile is seen (its files are referenced, or younger than the listing).
    Returns [] for a table that is not on the local disk. Raises ``UnreadableMetadata`` when a manifest list
    or manifest cannot be read. Takes no commit turn: a caller that deletes what it finds holds the table's
    turn around both (as :func:`remove_orphans` does)."""
    location = iceberg.location()
    if not is_local(location):
        return []
    root = local_path(location)
    candidates = _candidate_files(root, older_than)
    for _ in range(8):
        iceberg.refresh()
        pointer = iceberg.metadata_location
        keep = referenced_files(iceberg, skip_snapshots)
        iceberg.refresh()
        if iceberg.metadata_location == pointer:
            keep.add(file_key(pointer))
            break
    else:
        raise CommitConflict(f"{'.'.join(iceberg.name())}: the table kept changing while its files were read")
    return [path for path in candidates if file_key(path) not in keep]


def _checksum_of(path: str) -> str:
    """The checksum file Hadoop's local file system writes next to a file (``.NAME.crc``): of no use without it."""
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.crc")


def remove_orphans(iceberg: IcebergTable, older_than: dt.datetime, dry_run: bool = False) -> list[str]:
    """Delete the files :func:`find_orphans` finds (nothing when ``dry_run``) with their Hadoop checksum files
    (``.NAME.crc``, which Spark writes), in this process's and machine's commit turn, then the partition folders
    left empty; returns their local paths (removed, or to remove).

    All references are read before the first file is removed: ``UnreadableMetadata`` means nothing was."""
    if not is_local(iceberg.location()):
        return []
    if dry_run:  # no turn taken: a dry run writes nothing, not even the lock file
        return find_orphans(iceberg, older_than)
    root = local_path(iceberg.location())
    with _turn(iceberg):
        orphans = find_orphans(iceberg, older_than)
        for path in orphans:
            for doomed in (path, _checksum_of(path)):
                try:
                    os.remove(doomed)
                except FileNotFoundError:
                    pass
        for directory, subdirectories, names in sorted(os.walk(root), reverse=True):
            if directory != root and not names and not subdirectories and "=" in os.path.basename(directory):
                try:
                    os.rmdir(directory)
                except OSError:
                    pass
    return orphans


# ---------------------------------------------------------------------------------------------------------------
# Snapshot expiry


def protected_snapshots(metadata: TableMetadata, now: dt.datetime | None = None) -> set[int]:
    """The snapshots expiry must keep: every branch's and tag's head, and the ancestors of a branch that its
    ``min-snapshots-to-keep`` / ``max-snapshot-age-ms`` (or the table's ``history.expire.min-snapshots-to-keep``
    / ``history.expire.max-snapshot-age-ms``, which other engines' users set) keeps."""
    now_ms = (now or dt.datetime.now(dt.UTC)).timestamp() * 1000
    table_minimum = int(metadata.properties.get(MIN_SNAPSHOTS_PROPERTY, "1"))
    table_max_age = int(metadata.properties.get(MAX_SNAPSHOT_AGE_PROPERTY, "0")) or None
    by_id = {snapshot.snapshot_id: snapshot for snapshot in metadata.snapshots}
    kept: set[int] = set()
    for ref in metadata.refs.values():
        kept.add(ref.snapshot_id)
        if ref.snapshot_ref_type != SnapshotRefType.BRANCH:
            continue
        minimum = max(ref.min_snapshots_to_keep or 1, table_minimum)
        max_age = ref.max_snapshot_age_ms or table_max_age
        snapshot, depth, seen = by_id.get(ref.snapshot_id), 0, set()
        while snapshot is not None and snapshot.snapshot_id not in seen:
            young = max_age is not None and now_ms - snapshot.timestamp_ms < max_age
            if depth >= minimum and not young:
                break
            kept.add(snapshot.snapshot_id)
            seen.add(snapshot.snapshot_id)
            snapshot, depth = by_id.get(snapshot.parent_snapshot_id), depth + 1
    return kept


def snapshots_to_expire(metadata: TableMetadata, older_than: dt.datetime, now: dt.datetime | None = None) -> list[int]:
    """The ids of the snapshots older than ``older_than`` that :func:`protected_snapshots` does not keep."""
    limit = older_than.timestamp() * 1000
    kept = protected_snapshots(metadata, now)
    return sorted(
        snapshot.snapshot_id
        for snapshot in metadata.snapshots
        if snapshot.timestamp_ms < limit and snapshot.snapshot_id not in kept
    )


def expire_snapshots(
    iceberg: IcebergTable, older_than: dt.datetime, dry_run: bool = False, attempts: int = 8
) -> list[int]:
    """Drop the snapshots :func:`snapshots_to_expire` names from the table's metadata with pyiceberg's
    ``table.maintenance.expire_snapshots()`` (which itself refuses to expire a branch or tag head); returns
    their ids (to expire, when ``dry_run``: nothing changes). Removes no file: their files become orphans.

    The commit requires every branch and tag to still be where it was when the snapshots were chosen; when
    another engine moved one meanwhile, the choice is made again from the new state."""
    if dry_run:
        iceberg.refresh()
        return snapshots_to_expire(iceberg.metadata, older_than)
    for attempt in range(1, attempts + 1):
        with _turn(iceberg):
            iceberg.refresh()
            expired = snapshots_to_expire(iceberg.metadata, older_than)
            if not expired:
                return expired
            expiry = iceberg.maintenance.expire_snapshots().by_ids(expired)
            # pyiceberg's expiry applies to the catalog's newest metadata and would drop a ref that points at an
            # expired snapshot; require the refs it was planned against (its builder has no public way to)
            expiry._requirements = tuple(
                AssertRefSnapshotId(ref=name, snapshot_id=ref.snapshot_id)
                for name, ref in iceberg.metadata.refs.items()
            )
            try:
                expiry.commit()
                return expired
            except _RETRYABLE:
                pass
        time.sleep(min(5.0, 0.05 * 2**attempt))
    raise CommitConflict(f"{'.'.join(iceberg.name())}: snapshot expiry kept meeting other writers' commits")


def expire_and_remove_orphans(
    iceberg: IcebergTable, expire_before: dt.datetime, orphans_before: dt.datetime, dry_run: bool = False
) -> tuple[list[int], list[str]]:
    """Expire the snapshots older than ``expire_before`` (:func:`expire_snapshots`), then remove the files
    older than ``orphans_before`` that nothing references any more (:func:`remove_orphans`); returns
    (expired snapshot ids, removed local paths). With ``dry_run`` nothing changes and both lists are what the
    real run would give: the orphans are found as if those snapshots were already expired.

    Raises ``UnreadableMetadata`` (nothing removed) when a manifest list or manifest cannot be read."""
    if not dry_run:
        return expire_snapshots(iceberg, expire_before), remove_orphans(iceberg, orphans_before)
    expired = expire_snapshots(iceberg, expire_before, dry_run=True)
    return expired, find_orphans(iceberg, orphans_before, frozenset(expired))


# ---------------------------------------------------------------------------------------------------------------
# Compaction


@dataclass
class CompactionPlan:
    """Which files compaction would rewrite: ``crowded`` holds one list of scan tasks per partition."""

    crowded: list[list] = field(default_factory=list)
    with_deletes: int = 0  # data files left alone because delete files apply to them
    refused: str = ""  # why the table is not compacted at all ("" when it is)

    @property
    def files(self) -> int:
        return sum(len(tasks) for tasks in self.crowded)

    def partitions(self, iceberg: IcebergTable) -> list[str]:
        """The crowded partitions as paths (``alert_date=2026-11-26``), each with its number of files."""
        specs = iceberg.metadata.specs()
        return [
            f"{specs[tasks[0].file.spec_id].partition_to_path(tasks[0].file.partition, iceberg.schema())} "
            f"({len(tasks)} files)"
            for tasks in self.crowded
        ]


def compaction_plan(iceberg: IcebergTable, min_files: int) -> CompactionPlan:
    """Group the current snapshot's data files by partition and keep the partitions with at least ``min_files``
    files that no delete file applies to. A table with equality delete files is not compacted (pyiceberg cannot
    apply them; a rewritten file would escape them)."""
    plan = CompactionPlan()
    if iceberg.current_snapshot() is None:
        return plan
    try:
        tasks = list(iceberg.scan().plan_files())
    except (ValueError, NotImplementedError) as error:
        if "equality delete" not in str(error):
            raise
        plan.refused = "not compacted: the table has equality delete files (another engine's deletes)"
        return plan
    by_partition: dict = {}
    for task in tasks:
        if task.delete_files:
            plan.with_deletes += 1
            continue
        by_partition.setdefault(repr(task.file.partition), []).append(task)
    plan.crowded = [group for group in by_partition.values() if len(group) >= min_files]
    return plan


def compact(iceberg: IcebergTable, min_files: int, attempts: int = 8) -> CompactionPlan:
    """Rewrite every partition :func:`compaction_plan` finds crowded as few files, in one snapshot; returns
    the plan that was carried out (its ``crowded`` is empty when nothing was)."""
    for attempt in range(1, attempts + 1):
        with _turn(iceberg):
            iceberg.refresh()
            plan = compaction_plan(iceberg, min_files)
            if not plan.crowded:
                return plan
            write_uuid, counter, written = uuid.uuid4(), itertools.count(0), []  # file names never repeat
            try:
                with iceberg.transaction() as transaction:
                    with transaction.update_snapshot(snapshot_properties={"writer": "maintain"}).overwrite() as rewrite:
                        for tasks in plan.crowded:
                            rows = ArrowScan(
                                table_metadata=iceberg.metadata,
                                io=iceberg.io,
                                projected_schema=iceberg.schema(),
                                row_filter=AlwaysTrue(),
                            ).to_table(tasks=tasks)
                            new_files = list(
                                _dataframe_to_data_files(
                                    iceberg.metadata, rows, iceberg.io, write_uuid=write_uuid, counter=counter
                                )
                            )
                            written.extend(new_files)
                            for task in tasks:
                                rewrite.delete_data_file(task.file)
                            for data_file in new_files:
                                rewrite.append_data_file(data_file)
                return plan
            except _RETRYABLE:
                for data_file in written:
                    iceberg.io.delete(data_file.file_path)
        time.sleep(min(5.0, 0.05 * 2**attempt))
    raise CommitConflict(f"{'.'.join(iceberg.name())}: compaction kept meeting other writers' commits")


# ---------------------------------------------------------------------------------------------------------------
# One table


def _current_files(iceberg: IcebergTable) -> tuple[int, int, int]:
    """(data files, rows they hold before deletes, delete files) of the current snapshot, from its manifests."""
    snapshot = iceberg.current_snapshot()
    if snapshot is None:
        return 0, 0, 0
    table_is_local = is_local(iceberg.location())
    data = rows = deletes = 0
    for manifest in _manifests_of(iceberg, snapshot.manifest_list, table_is_local):
        for entry in _entries_of(iceberg, manifest, table_is_local):
            if entry.data_file.content == DataFileContent.DATA:
                data, rows = data + 1, rows + entry.data_file.record_count
            else:
                deletes += 1
    return data, rows, deletes


def maintain_table(
    iceberg: IcebergTable,
    *,
    min_files: int,
    retention: dt.timedelta,
    orphan_age: dt.timedelta,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> TableUpkeep:
    """Compact, expire and remove orphans in one table, in that order (compaction's replaced files become
    orphans once the snapshots that still reference them expire).

    Every manifest list and manifest is read first: when one cannot be, ``UnreadableMetadata`` is raised and
    nothing has changed. With ``dry_run`` nothing changes at all; the result lists the partitions, snapshots
    and files the run would compact, expire and remove (orphans as they would be once those snapshots expired;
    files a compaction would replace are not among them: they are still referenced until a later run)."""
    now = now or dt.datetime.now(dt.UTC)
    upkeep = TableUpkeep(iceberg.name()[-1], dry_run=dry_run)
    iceberg.refresh()
    referenced_files(iceberg)  # every reference readable, or stop before anything changes
    upkeep.files_before, rows_before, upkeep.delete_files = _current_files(iceberg)
    plan = compaction_plan(iceberg, min_files) if dry_run else compact(iceberg, min_files)
    upkeep.expired_ids, upkeep.orphans = expire_and_remove_orphans(
        iceberg, now - retention, now - orphan_age, dry_run=dry_run
    )
    upkeep.partitions_compacted, upkeep.files_compacted = len(plan.crowded), plan.files
    upkeep.crowded_partitions = plan.partitions(iceberg)
    upkeep.snapshots_expired, upkeep.orphans_removed = len(upkeep.expired_ids), len(upkeep.orphans)
    if plan.refused:
        upkeep.notes.append(plan.refused)
    if plan.with_deletes:
        upkeep.notes.append(
            f"{plan.with_deletes} data file(s) with delete files not compacted (other engines' "
            "deletes apply to them; their engine's rewrite handles them)"
        )
    if not is_local(iceberg.location()):
        upkeep.notes.append("orphan files not looked for: the table is not on the local disk")
    upkeep.files_after, upkeep.rows, upkeep.delete_files = _current_files(iceberg)
    if upkeep.rows != rows_before and not upkeep.delete_files:  # a writer committed meanwhile: nothing was lost
        upkeep.notes.append(f"rows {rows_before:,} -> {upkeep.rows:,}: other writers committed meanwhile")
    snapshot = iceberg.current_snapshot()
    upkeep.snapshot_id = snapshot.snapshot_id if snapshot else None
    return upkeep
