"""One Iceberg snapshot that replaces data files and drops the position delete files that named them.

Other engines delete rows by position (Spark merge-on-read, Trino): a delete file names rows of data files by
path. When our committer or maintenance rewrites such a data file (its live rows, deletes applied, into a new
file), the delete file must leave the table with it, or it would point at a file the table no longer has (and
count as live deletes in every later snapshot). pyiceberg 0.12 has no operation for that: its overwrite removes
data files only (``_OverwriteFiles`` rewrites a touched delete manifest as a data manifest, and requires every
removed file to be a data file). ``ReplaceFiles`` is its overwrite with delete manifests handled too: a delete
manifest that holds a dropped delete file is rewritten as a delete manifest, the file recorded as deleted.

``delete_files_to_drop`` plans which delete files go and which other data files must be rewritten with them (a
delete file may name several data files of a partition: it can only go once none it names stays live);
``stage_replacement`` stages the snapshot in a transaction. The committer (``warehouse/commit.py``) uses both;
so should anything else that rewrites data files (compaction, erasure).
"""

from __future__ import annotations

from pyiceberg.exceptions import ValidationException
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestWriterV2,
)
from pyiceberg.table import FileScanTask
from pyiceberg.table import Table as IcebergTable
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _OverwriteFiles
from pyiceberg.typedef import KeyDefaultDict

from warehouse.uris import normalise_uri


class DeleteManifestWriter(ManifestWriterV2):
    """pyiceberg's (format version 2) manifest writer for a delete manifest: pyiceberg 0.12 writes only data
    manifests itself; a delete manifest is the same file with ``content`` ``deletes``. The committer, relocation
    and the tests' engine commits all write delete manifests with it."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


class ReplaceFiles(_OverwriteFiles):
    """pyiceberg's overwrite (``delete_data_file``, ``append_data_file``) where a removed file may also be a
    position delete file. Use it like ``update_snapshot().overwrite()``: ``with ReplaceFiles(transaction,
    properties) as replace: ...`` inside ``with table.transaction() as transaction``."""

    def __init__(self, transaction, snapshot_properties: dict[str, str]):
        super().__init__(
            operation=Operation.OVERWRITE,
            transaction=transaction,
            io=transaction._table.io,
            snapshot_properties=snapshot_properties,
        )

    def _manifest_writer(self, manifest) -> ManifestWriterV2:
        spec = self.spec(manifest.partition_spec_id)
        if manifest.content == ManifestContent.DATA:
            return self.new_manifest_writer(spec)
        return DeleteManifestWriter(
            spec, self.schema(), self.new_manifest_output(), self._snapshot_id, self._compression
        )

    def _existing_manifests(self) -> list:
        """The parent's manifests, those holding a removed file rewritten without it (a data file's deleted entry
        is written by ``_deleted_entries``; a delete file's stays in its rewritten delete manifest)."""
        snapshot = self._transaction.table_metadata.snapshot_by_name(name=self._target_branch)
        if snapshot is None:
            return []
        evaluators = KeyDefaultDict(self._build_manifest_evaluator)
        kept_manifests = []
        for manifest in snapshot.manifests(io=self._io):
            if not evaluators[manifest.partition_spec_id](manifest):
                kept_manifests.append(manifest)
                continue
            entries = manifest.fetch_manifest_entry(io=self._io, discard_deleted=True)
            gone = [entry for entry in entries if entry.data_file in self._deleted_data_files]
            if not gone:
                kept_manifests.append(manifest)
                continue
            kept = [entry for entry in entries if entry.data_file not in self._deleted_data_files]
            if manifest.content == ManifestContent.DATA and not kept:
                continue
            with self._manifest_writer(manifest) as writer:
                for entry in kept:
                    writer.existing(entry)
                if manifest.content == ManifestContent.DELETES:
                    for entry in gone:
                        writer.delete(entry)
            kept_manifests.append(writer.to_manifest_file())
        return kept_manifests

    def _deleted_entries(self) -> list[ManifestEntry]:
        """Deleted entries for the removed data files; every removed file must be live in the parent."""
        snapshot = (
            self._transaction.table_metadata.snapshot_by_id(self._parent_snapshot_id)
            if self._parent_snapshot_id is not None
            else None
        )
        deleted, found = [], set()
        evaluators = KeyDefaultDict(self._build_manifest_evaluator)
        for manifest in snapshot.manifests(self._io) if snapshot else []:
            if not evaluators[manifest.partition_spec_id](manifest):
                continue
            for entry in manifest.fetch_manifest_entry(self._io, discard_deleted=True):
                if entry.data_file not in self._deleted_data_files:
                    continue
                found.add(entry.data_file.file_path)
                if entry.data_file.content == DataFileContent.DATA:
                    deleted.append(
                        ManifestEntry.from_args(
                            status=ManifestEntryStatus.DELETED,
                            snapshot_id=self._snapshot_id,
                            sequence_number=entry.sequence_number,
                            file_sequence_number=entry.file_sequence_number,
                            data_file=entry.data_file,
                        )
                    )
        missing = sorted(f.file_path for f in self._deleted_data_files if f.file_path not in found)
        if missing:
            raise ValidationException(f"Missing required files to delete: {', '.join(missing)}")
        return deleted


def stage_replacement(
    transaction,
    removed: list[DataFile],
    added: list[DataFile],
    dropped_deletes: list[DataFile],
    properties: dict[str, str],
) -> None:
    """Stage in ``transaction`` (``with table.transaction() as transaction``) one snapshot that removes the data
    files ``removed`` and the position delete files ``dropped_deletes`` (from ``delete_files_to_drop``) and adds
    the data files ``added``: pyiceberg's own overwrite when no delete file goes, ``ReplaceFiles`` otherwise."""
    if dropped_deletes:
        operation = ReplaceFiles(transaction, properties)
    else:
        operation = transaction.update_snapshot(snapshot_properties=properties).overwrite()
    with operation as overwrite:
        for data_file in [*removed, *dropped_deletes]:
            overwrite.delete_data_file(data_file)
        for data_file in added:
            overwrite.append_data_file(data_file)


def _named_data_files(iceberg: IcebergTable, delete_file: DataFile, cache: dict) -> frozenset[str]:
    """The data files (normalised URIs) a position delete file names."""
    import pyarrow.parquet as pq

    if delete_file.file_path not in cache:
        with iceberg.io.new_input(delete_file.file_path).open() as handle:
            paths = pq.read_table(handle, columns=["file_path"])["file_path"].unique().to_pylist()
        cache[delete_file.file_path] = frozenset(normalise_uri(path) for path in paths)
    return cache[delete_file.file_path]


def delete_files_to_drop(
    iceberg: IcebergTable, tasks: list[FileScanTask], removed: set[str], cache: dict | None = None
) -> tuple[list[DataFile], list[FileScanTask]]:
    """Which position delete files leave the table when the data files ``removed`` (normalised URIs) do.

    ``tasks``: the snapshot's scan tasks (``warehouse.read.scan_tasks``). A delete file applied to a removed data
    file goes; if it also names a data file that stays, that file must be rewritten too (deletes applied), and
    so on. Returns (the delete files to drop, the tasks of the further data files to rewrite: their rows all
    stay). ``cache`` keeps what delete files name across calls (delete files never change)."""
    cache = {} if cache is None else cache
    by_path = {normalise_uri(task.file.file_path): task for task in tasks}
    removed, more, drop = set(removed), [], {}
    pending = [task for path, task in by_path.items() if path in removed]
    while pending:
        task = pending.pop()
        for delete_file in task.delete_files:
            if delete_file.content != DataFileContent.POSITION_DELETES or delete_file.file_path in drop:
                continue
            drop[delete_file.file_path] = delete_file
            for path in _named_data_files(iceberg, delete_file, cache):
                if path in by_path and path not in removed:
                    removed.add(path)
                    more.append(by_path[path])
                    pending.append(by_path[path])
    return list(drop.values()), more
