"""Commits shaped like other engines' (Spark, Trino, Flink) to a warehouse table, made with pyiceberg and
pyarrow so tests need no Spark: data files spelled ``file:/path`` (Hadoop's spelling), position delete files
(merge-on-read deletes and updates), data files only a branch holds, tags.

Each helper commits to a pyiceberg ``Table`` and returns what a test needs to check afterwards."""
from __future__ import annotations

import os
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.manifest import (DataFile, DataFileContent, FileFormat, ManifestContent, ManifestEntry,
                                ManifestEntryStatus, ManifestWriterV2)
from pyiceberg.table import Table as IcebergTable
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles

from warehouse.catalog import writer_schema
from warehouse.uris import local_path

# the reserved field ids of a position delete file's columns (Iceberg spec)
DELETE_FILE_PATH_ID, DELETE_POS_ID = 2147483546, 2147483545


def spark_path(path: str) -> str:
    """A local path as Spark (Hadoop's ``Path``) spells it in a manifest: ``file:/abs/path``."""
    return "file:" + os.path.abspath(local_path(path))


def append_spark_style(iceberg: IcebergTable, rows: list[dict], partition_folder: str,
                       branch: str = "main") -> str:
    """Write ``rows`` (one partition's, as dicts of the table's columns) as one Parquet file under the table's
    ``partition_folder`` and commit it to ``branch`` by ``add_files`` with its ``file:/`` spelling; returns
    the path as the manifest holds it."""
    folder = os.path.join(local_path(iceberg.location()), partition_folder)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"00000-0-{uuid.uuid4()}-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=writer_schema(iceberg)), path)
    iceberg.add_files([spark_path(path)], branch=branch)
    iceberg.refresh()
    return spark_path(path)


def live_entries(iceberg: IcebergTable, snapshot_id: int | None = None) -> list[ManifestEntry]:
    """The live manifest entries (data and delete files) of a snapshot (default: the current one)."""
    snapshot = iceberg.snapshot_by_id(snapshot_id) if snapshot_id else iceberg.current_snapshot()
    return [entry for manifest in snapshot.manifests(iceberg.io)
            for entry in manifest.fetch_manifest_entry(iceberg.io, discard_deleted=True)]


class _DeleteManifestWriter(ManifestWriterV2):
    """A v2 manifest of delete files (pyiceberg writes data manifests only)."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


class _AddDeleteFiles(_FastAppendFiles):
    """A snapshot that adds delete files (in a delete manifest of their own) and keeps every existing
    manifest, as a merge-on-read ``DELETE`` of another engine commits it."""

    def __init__(self, delete_files: list[DataFile], **arguments) -> None:
        super().__init__(**arguments)
        self._delete_files = delete_files

    def _process_manifests(self, manifests):
        specs = self._transaction.table_metadata.specs()
        writer = _DeleteManifestWriter(specs[self._delete_files[0].spec_id], self.schema(),
                                       self.new_manifest_output(), self._snapshot_id, self._compression)
        with writer:
            for delete_file in self._delete_files:
                writer.add_entry(ManifestEntry.from_args(status=ManifestEntryStatus.ADDED,
                                                         snapshot_id=self._snapshot_id, sequence_number=None,
                                                         file_sequence_number=None, data_file=delete_file))
        return [*manifests, writer.to_manifest_file()]


def _commit_delete_file(iceberg: IcebergTable, path: str, content: DataFileContent, target: DataFile,
                        record_count: int, equality_ids: list[int] | None = None, bounds: dict | None = None) -> str:
    """Commit the delete file at local ``path`` (in ``target``'s partition; ``bounds``: its column bounds) in a
    delete manifest of a new snapshot, spelled ``file:/``; returns that spelling."""
    delete_file = DataFile.from_args(content=content, file_path=spark_path(path), file_format=FileFormat.PARQUET,
                                     partition=target.partition, record_count=record_count,
                                     file_size_in_bytes=os.path.getsize(path), column_sizes={}, value_counts={},
                                     null_value_counts={}, nan_value_counts={}, lower_bounds=bounds or {},
                                     upper_bounds=bounds or {},
                                     split_offsets=None, equality_ids=equality_ids, sort_order_id=None)
    delete_file.spec_id = target.spec_id
    with iceberg.transaction() as transaction:
        _AddDeleteFiles([delete_file], operation=Operation.OVERWRITE, transaction=transaction, io=iceberg.io,
                        snapshot_properties={"engine": "test-merge-on-read"}).commit()
    iceberg.refresh()
    return spark_path(path)


def _live_data_file(iceberg: IcebergTable, data_file_path: str) -> DataFile:
    return next(entry.data_file for entry in live_entries(iceberg) if entry.data_file.file_path == data_file_path)


def delete_positions(iceberg: IcebergTable, data_file_path: str, positions: list[int]) -> str:
    """Delete the rows at ``positions`` of the live data file ``data_file_path`` (spelled as the manifest has it)
    the way a merge-on-read engine does: a position delete file next to it, committed in a delete manifest of a
    new snapshot. Returns the delete file's path as the manifest holds it (``file:/``)."""
    target = _live_data_file(iceberg, data_file_path)
    path = os.path.join(os.path.dirname(local_path(data_file_path)), f"00000-0-{uuid.uuid4()}-00001-deletes.parquet")
    schema = pa.schema([pa.field("file_path", pa.string(), nullable=False,
                                 metadata={b"PARQUET:field_id": str(DELETE_FILE_PATH_ID).encode()}),
                        pa.field("pos", pa.int64(), nullable=False,
                                 metadata={b"PARQUET:field_id": str(DELETE_POS_ID).encode()})])
    pq.write_table(pa.table({"file_path": [data_file_path] * len(positions), "pos": sorted(positions)},
                            schema=schema), path)
    # one data file's deletes: its path is both bounds of file_path, as Spark writes them (readers match by it)
    return _commit_delete_file(iceberg, path, DataFileContent.POSITION_DELETES, target, len(positions),
                               bounds={DELETE_FILE_PATH_ID: data_file_path.encode()})


def delete_equal(iceberg: IcebergTable, data_file_path: str, column: str, values: list[str]) -> str:
    """Delete the rows whose ``column`` is one of ``values`` in the partition of the live data file
    ``data_file_path`` the way Flink's upserts do: an equality delete file, committed in a delete manifest of
    a new snapshot. Returns the delete file's path as the manifest holds it (``file:/``)."""
    target = _live_data_file(iceberg, data_file_path)
    field_id = iceberg.schema().find_field(column).field_id
    path = os.path.join(os.path.dirname(local_path(data_file_path)), f"00000-0-{uuid.uuid4()}-00001-eq-deletes.parquet")
    schema = pa.schema([pa.field(column, pa.string(), metadata={b"PARQUET:field_id": str(field_id).encode()})])
    pq.write_table(pa.table({column: values}, schema=schema), path)
    return _commit_delete_file(iceberg, path, DataFileContent.EQUALITY_DELETES, target, len(values), [field_id])


def tag(iceberg: IcebergTable, name: str, snapshot_id: int | None = None) -> int:
    """Tag ``snapshot_id`` (default: the current snapshot) as ``name``; returns the snapshot id."""
    snapshot_id = snapshot_id or iceberg.current_snapshot().snapshot_id
    iceberg.manage_snapshots().create_tag(snapshot_id, name).commit()
    iceberg.refresh()
    return snapshot_id


def branch(iceberg: IcebergTable, name: str, snapshot_id: int | None = None) -> int:
    """Start branch ``name`` at ``snapshot_id`` (default: the current snapshot); returns the snapshot id."""
    snapshot_id = snapshot_id or iceberg.current_snapshot().snapshot_id
    iceberg.manage_snapshots().create_branch(snapshot_id, name).commit()
    iceberg.refresh()
    return snapshot_id
