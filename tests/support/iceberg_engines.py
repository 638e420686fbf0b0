"""Commits as other engines make them to our Iceberg tables, written with pyiceberg and pyarrow alone.

Spark, Trino and Flink share the warehouse tables. What they leave behind, and what our readers and committer
must handle, is reproduced here without a JVM:

- Spark's appends record data files as ``file:/path`` (one slash, Hadoop's spelling), ours ``file:///path``;
- merge-on-read deletes and updates (Spark in that mode, Trino always) add POSITION delete files: Parquet files
  of ``file_path``/``pos`` rows naming deleted rows of data files, in a delete manifest;
- Flink's upserts add EQUALITY delete files: Parquet files of key values whose older rows are deleted.

The files follow the Iceberg spec (v2 tables): delete files live in manifests of content ``deletes``, a position
delete file that names one data file carries that path as its ``file_path`` bounds (as Spark writes them), and
each commit is one snapshot with the operation the engine would record. ``tests/support/spark.py`` (issue 29)
checks the same behaviour against a real Spark.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.avro.file import AvroOutputFile
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
)
from pyiceberg.schema import Schema
from pyiceberg.table import Table as IcebergTable
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles
from pyiceberg.types import IntegerType, ListType, NestedField, StructType

import schemas
from tests.support.snapshot_refs import live_entries
from warehouse.catalog import writer_schema
from warehouse.replace import DeleteManifestWriter
from warehouse.uris import local_path

POSITION_DELETE_SCHEMA = pa.schema(
    [
        pa.field("file_path", pa.string(), nullable=False, metadata={b"PARQUET:field_id": b"2147483546"}),
        pa.field("pos", pa.int64(), nullable=False, metadata={b"PARQUET:field_id": b"2147483545"}),
    ]
)
FILE_PATH_FIELD_ID = 2147483546


def _int_equality_ids(schema: Schema) -> Schema:
    """The manifest entry schema with ``equality_ids`` a list of int, as the Iceberg spec has it: pyiceberg 0.12
    declares longs, which Java readers (Spark) refuse for an equality delete file. Avro writes both the same."""
    data_file = schema.find_field(2)
    fields = [
        NestedField(135, "equality_ids", ListType(136, IntegerType(), element_required=True), required=False)
        if field.field_id == 135
        else field
        for field in data_file.field_type.fields
    ]
    return Schema(
        *[
            NestedField(2, "data_file", StructType(*fields), required=True) if field.field_id == 2 else field
            for field in schema.fields
        ]
    )


class _DeleteManifestWriter(DeleteManifestWriter):
    """Our delete-manifest writer, with ``equality_ids`` declared as int lists as the spec says (pyiceberg 0.12
    declares long, which Spark cannot read)."""

    def new_writer(self) -> AvroOutputFile[ManifestEntry]:
        schema = _int_equality_ids(self._with_partition(self.version))
        return AvroOutputFile[ManifestEntry](
            output_file=self._output_file,
            file_schema=schema,
            record_schema=schema,
            schema_name="manifest_entry",
            metadata=self._meta,
        )


class _EngineCommit(_FastAppendFiles):
    """One snapshot adding data files and delete files, each kind in a manifest of its own content."""

    def _manifests(self):
        spec = self._transaction.table_metadata.spec()
        manifests = []
        for content in (ManifestContent.DATA, ManifestContent.DELETES):
            files = [
                f
                for f in self._added_data_files
                if (f.content == DataFileContent.DATA) == (content == ManifestContent.DATA)
            ]
            if not files:
                continue
            writer = (
                self.new_manifest_writer(spec)
                if content == ManifestContent.DATA
                else _DeleteManifestWriter(
                    spec, self.schema(), self.new_manifest_output(), self._snapshot_id, self._compression
                )
            )
            with writer:
                for data_file in files:
                    writer.add(
                        ManifestEntry.from_args(
                            status=ManifestEntryStatus.ADDED,
                            snapshot_id=self._snapshot_id,
                            sequence_number=None,
                            file_sequence_number=None,
                            data_file=data_file,
                        )
                    )
            manifests.append(writer.to_manifest_file())
        return manifests + self._existing_manifests()


def commit_files(iceberg: IcebergTable, files: list[DataFile], operation: Operation, engine: str = "spark") -> int:
    """Commit data and delete ``files`` to ``iceberg`` as one snapshot of ``operation`` on its latest state; its
    snapshot id."""
    iceberg.refresh()
    with iceberg.transaction() as transaction:
        producer = _EngineCommit(
            operation=operation, transaction=transaction, io=iceberg.io, snapshot_properties={"engine": engine}
        )
        with producer:
            for data_file in files:
                producer.append_data_file(data_file)
    iceberg.refresh()
    return iceberg.current_snapshot().snapshot_id


def _new_path(iceberg: IcebergTable, partition_folder: str, kind: str) -> str:
    folder = f"{local_path(iceberg.location())}/{partition_folder}"
    os.makedirs(folder, exist_ok=True)
    return f"{folder}/{kind}-{uuid.uuid4().hex}.parquet"


def spelled(path: str, spelling: str) -> str:
    """A local ``path`` as an engine spells it: ``file:/`` (Spark), ``file:///`` (pyiceberg), ``file://localhost/``
    or ``""`` (a bare path)."""
    return f"{spelling}{path.lstrip('/')}" if spelling in ("file:/", "file:///", "file://localhost/") else path


def data_file(iceberg: IcebergTable, rows, partition_folder: str, spelling: str = "file:/") -> DataFile:
    """Write ``rows`` (dicts or Arrow, the table's columns, one partition) as a data file of ``iceberg`` in
    ``partition_folder`` (``event_date=2026-11-25``); its ``DataFile``, the path spelled ``spelling``."""
    table = rows if isinstance(rows, pa.Table) else schemas.arrow_table(rows, writer_schema(iceberg))
    path = _new_path(iceberg, partition_folder, "engine-data")
    pq.write_table(table.cast(writer_schema(iceberg)), path)
    return parquet_file_to_data_file(iceberg.io, iceberg.metadata, spelled(path, spelling))


def position_delete_file(iceberg: IcebergTable, positions: dict[str, list[int]], template: DataFile) -> DataFile:
    """A position delete file deleting ``positions`` (``{data file path as the manifest spells it: [row]}``),
    all in the partition of ``template`` (a data file it deletes from)."""
    rows = sorted((path, pos) for path, found in positions.items() for pos in found)
    table = pa.table(
        {"file_path": [path for path, _ in rows], "pos": [pos for _, pos in rows]}, schema=POSITION_DELETE_SCHEMA
    )
    folder = local_path(template.file_path).rsplit("/", 2)[-2]
    path = _new_path(iceberg, folder, "engine-deletes")
    pq.write_table(table, path)
    bounds = {}
    if len(positions) == 1:  # Spark records the one data file a delete file names in its file_path bounds
        bounds = {FILE_PATH_FIELD_ID: next(iter(positions)).encode("utf-8")}
    return DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=spelled(path, "file:/"),
        file_format=FileFormat.PARQUET,
        partition=template.partition,
        record_count=len(rows),
        file_size_in_bytes=len(iceberg.io.new_input(path)),
        lower_bounds=bounds or None,
        upper_bounds=bounds or None,
        spec_id=iceberg.metadata.default_spec_id,
        equality_ids=None,
        sort_order_id=None,
        key_metadata=None,
    )


def equality_delete_file(iceberg: IcebergTable, column: str, values: list, template: DataFile) -> DataFile:
    """An equality delete file deleting every older row whose ``column`` is one of ``values``, in the partition
    of ``template``."""
    field = writer_schema(iceberg).field(column)
    table = pa.table({column: pa.array(values, field.type)}, schema=pa.schema([field]))
    folder = local_path(template.file_path).rsplit("/", 2)[-2]
    path = _new_path(iceberg, folder, "engine-eq-deletes")
    pq.write_table(table, path)
    return DataFile.from_args(
        content=DataFileContent.EQUALITY_DELETES,
        file_path=spelled(path, "file:/"),
        file_format=FileFormat.PARQUET,
        partition=template.partition,
        record_count=len(values),
        file_size_in_bytes=len(iceberg.io.new_input(path)),
        spec_id=iceberg.metadata.default_spec_id,
        equality_ids=[iceberg.schema().find_field(column).field_id],
        sort_order_id=None,
        key_metadata=None,
    )


def _positions_of(iceberg: IcebergTable, column: str, values: list) -> dict[str, tuple[DataFile, list[int]]]:
    """Where the rows whose ``column`` is in ``values`` are: {data file path: (its DataFile, row positions)}."""
    found = {}
    iceberg.refresh()
    for task in iceberg.scan().plan_files():
        with iceberg.io.new_input(task.file.file_path).open() as handle:
            keys = pq.read_table(handle, columns=[column])[column]
        rows = pc.indices_nonzero(pc.is_in(keys, value_set=pa.array(values, keys.type))).to_pylist()
        if rows:
            found[task.file.file_path] = (task.file, rows)
    return found


def spark_append(iceberg: IcebergTable, rows, partition_folder: str) -> DataFile:
    """An append as Spark commits it: one data file named ``file:/...``."""
    added = data_file(iceberg, rows, partition_folder)
    commit_files(iceberg, [added], Operation.APPEND)
    return added


def spark_delete(iceberg: IcebergTable, column: str, values: list) -> list[DataFile]:
    """``DELETE FROM t WHERE column IN values`` in merge-on-read mode: one position delete file per partition
    (naming every data file of it that holds such a row); the delete files committed."""
    by_partition = defaultdict(dict)
    for path, (target, rows) in _positions_of(iceberg, column, values).items():
        by_partition[(target.spec_id, target.partition)][path] = (target, rows)
    deletes = [
        position_delete_file(iceberg, {path: rows for path, (_, rows) in group.items()}, next(iter(group.values()))[0])
        for group in by_partition.values()
    ]
    if deletes:
        commit_files(iceberg, deletes, Operation.DELETE)
    return deletes


def spark_update(iceberg: IcebergTable, column: str, rows: list[dict], partition_folder: str) -> list[DataFile]:
    """``UPDATE``/``MERGE`` in merge-on-read mode: the old rows (by ``column``) deleted by position and the new
    versions added in a new data file, one snapshot; the files committed."""
    positions = _positions_of(iceberg, column, [row[column] for row in rows])
    deletes = [position_delete_file(iceberg, {path: found}, target) for path, (target, found) in positions.items()]
    added = data_file(iceberg, rows, partition_folder)
    commit_files(iceberg, [added, *deletes], Operation.OVERWRITE)
    return [added, *deletes]


def flink_upsert(iceberg: IcebergTable, column: str, rows: list[dict], partition_folder: str) -> list[DataFile]:
    """An upsert as Flink's Iceberg sink writes it: an equality delete of the keys and a data file of the new
    rows, one snapshot; the files committed."""
    added = data_file(iceberg, rows, partition_folder)
    delete = equality_delete_file(iceberg, column, [row[column] for row in rows], added)
    commit_files(iceberg, [added, delete], Operation.OVERWRITE, engine="flink")
    return [added, delete]


# -- a small table to try them on -------------------------------------------------------------------------------------
ALERT_DAY = "2026-11-25"
ALERT_FOLDER = f"alert_date={ALERT_DAY}"


def alert(alert_id: str, **changes) -> dict:
    """One row of the ``alerts`` table (the smallest warehouse table with a one-column key), on ``ALERT_DAY``."""
    import datetime as dt

    moment = dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
    return {
        "alert_id": alert_id,
        "scope": "all",
        "minute_start": moment,
        "window_seconds": 60,
        "complaints": 50,
        "baseline_mean": 4.0,
        "baseline_stddev": 1.0,
        "threshold": 12.0,
        "severity": "critical",
        "detected_at": moment + dt.timedelta(minutes=1),
        "alert_date": dt.date.fromisoformat(ALERT_DAY),
        **changes,
    }


def alerts_table(warehouse_dir, ids=("a1", "a2", "a3", "a4")):
    """The ``alerts`` table of the warehouse at ``warehouse_dir`` with rows ``ids`` committed by our committer:
    (its ``CatalogConfig``, its pyiceberg table)."""
    from schemas.tables import WAREHOUSE_TABLES
    from warehouse.catalog import CatalogConfig, load_table, open_catalog
    from warehouse.commit import write_rows

    config = CatalogConfig(str(warehouse_dir))
    write_rows(config, WAREHOUSE_TABLES["alerts"], [alert(alert_id) for alert_id in ids])
    return config, load_table(open_catalog(config), config, WAREHOUSE_TABLES["alerts"])


# --- the first names of these helpers (branch wh-upkeep), which tests of erasure use: thin wrappers -----------
def append_spark_style(iceberg: IcebergTable, rows, partition_folder: str, branch: str = "main") -> str:
    """:func:`spark_append` to ``branch``; the new file's path as the manifest holds it (``file:/``)."""
    from tests.support.snapshot_refs import append_to_branch

    if branch != "main":
        return append_to_branch(iceberg, rows, partition_folder, branch)
    return spark_append(iceberg, rows, partition_folder).file_path


def _live_data_file(iceberg: IcebergTable, path: str) -> DataFile:
    return next(entry.data_file for entry in live_entries(iceberg) if entry.data_file.file_path == path)


def delete_positions(iceberg: IcebergTable, data_file_path: str, positions: list[int]) -> str:
    """Delete rows ``positions`` of the live data file ``data_file_path`` (spelled as its manifest has it) by a
    position delete file, committed; the delete file's path as the manifest holds it."""
    delete = position_delete_file(iceberg, {data_file_path: positions}, _live_data_file(iceberg, data_file_path))
    commit_files(iceberg, [delete], Operation.DELETE)
    return delete.file_path


def delete_equal(iceberg: IcebergTable, data_file_path: str, column: str, values: list) -> str:
    """Delete the rows whose ``column`` is in ``values`` in the partition of the live data file ``data_file_path``
    by an equality delete file, committed; the delete file's path as the manifest holds it."""
    delete = equality_delete_file(iceberg, column, values, _live_data_file(iceberg, data_file_path))
    commit_files(iceberg, [delete], Operation.DELETE, engine="flink")
    return delete.file_path
