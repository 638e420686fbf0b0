"""Reading the warehouse tables: the live data files of a snapshot, and a table as Arrow, deletes applied.

Our committer rewrites files instead of writing delete files, but other engines share the tables: Spark in
merge-on-read mode and Trino (always) delete and update rows by adding POSITION delete files, Flink's upserts add
EQUALITY delete files. So a snapshot's rows are its data files minus what its delete files delete:

- a data file without delete files may be read directly (DuckDB, pyarrow): ``TableState.plain_files``;
- the other data files are read through pyiceberg, which applies position deletes: ``read_tasks``;
- a table holding equality delete files (pyiceberg 0.12 cannot apply them) is refused with ``EqualityDeletes``,
  whose one line says what to run, never read wrong.

What other modules call: ``scan_tasks`` (the planned files of a snapshot, each with ``.delete_files``),
``read_tasks`` / ``read_iceberg`` / ``read_arrow`` (rows with deletes applied), ``equality_delete_files`` and
``refuse_equality_deletes`` (the check), ``table_state`` (what a reader sees).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFileContent, ManifestContent
from pyiceberg.table import FileScanTask
from pyiceberg.table import Table as IcebergTable

import schemas
from schemas.tables import WAREHOUSE_TABLES
from warehouse.catalog import CatalogConfig, CatalogError, NoCatalogYet, load_table, local_path, open_catalog


class SnapshotNotFound(CatalogError):
    """No snapshot of the table matches the ``as of`` given."""


class EqualityDeletes(CatalogError):
    """The table holds equality delete files, which this reader cannot apply: it is refused, not read wrong."""


SPARK_CATALOG = "embedded"  # the name Spark jobs give our catalog (spark.sql.catalog.embedded), see DESIGN.md


@dataclass(frozen=True)
class TableState:
    """What a reader sees of a table: its current (or chosen) snapshot and that snapshot's data files.

    ``files`` are all its data files (local paths, or URIs of remote files), ``deleted`` the ones of them that
    delete files delete rows from, as ``(data file, (its delete files...))``; ``plain_files`` (the others) hold
    exactly their live rows and may be read directly, the rest only through ``read_tasks(iceberg, tasks)``.
    ``rows`` counts the rows of the data files before deletes."""

    name: str
    snapshot_id: int | None  # None: the table does not exist yet, or has no snapshot
    files: tuple[str, ...]
    rows: int
    deleted: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tasks: tuple[FileScanTask, ...] = field(default=(), compare=False, repr=False)

    @property
    def plain_files(self) -> tuple[str, ...]:
        """The data files no delete file applies to: their rows are all live."""
        with_deletes = {path for path, _ in self.deleted}
        return tuple(path for path in self.files if path not in with_deletes)

    @property
    def tasks_with_deletes(self) -> tuple[FileScanTask, ...]:
        """The scan tasks of the data files that delete files apply to (read them with ``read_tasks``)."""
        return tuple(task for task in self.tasks if task.delete_files)


def parse_as_of(text: str) -> int | dt.datetime:
    """``--as-of`` as a snapshot id (digits) or a time (ISO 8601; UTC when it has no offset)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--as-of {text!r} is neither a snapshot id nor an ISO time (2026-11-26T12:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def snapshot_id_as_of(iceberg: IcebergTable, as_of: int | dt.datetime | None) -> int | None:
    """The snapshot a read ``as_of`` a snapshot id or a time sees (None: the current one)."""
    if as_of is None:
        snapshot = iceberg.current_snapshot()
        return snapshot.snapshot_id if snapshot else None
    if isinstance(as_of, int):
        if iceberg.snapshot_by_id(as_of) is None:
            raise SnapshotNotFound(f"{iceberg.name()[-1]} has no snapshot {as_of}")
        return as_of
    snapshot = iceberg.snapshot_as_of_timestamp(int(as_of.timestamp() * 1000))
    if snapshot is None:
        raise SnapshotNotFound(f"{iceberg.name()[-1]} had no snapshot yet at {as_of.isoformat()}")
    return snapshot.snapshot_id


def equality_delete_files(iceberg: IcebergTable, snapshot_id: int | None = None) -> list[str]:
    """The equality delete files live in a snapshot of ``iceberg`` (default: the current one), as the manifests
    spell them; empty when it has none (reading only the manifest list when it has no delete manifests)."""
    snapshot = iceberg.snapshot_by_id(snapshot_id) if snapshot_id is not None else iceberg.current_snapshot()
    if snapshot is None:
        return []
    found = []
    for manifest in snapshot.manifests(iceberg.io):
        if manifest.content != ManifestContent.DELETES:
            continue
        found.extend(
            entry.data_file.file_path
            for entry in manifest.fetch_manifest_entry(iceberg.io)
            if entry.data_file.content == DataFileContent.EQUALITY_DELETES
        )
    return sorted(found)


def refuse_equality_deletes(iceberg: IcebergTable, snapshot_id: int | None = None) -> None:
    """Raise ``EqualityDeletes`` (one line: the table, how many files, the Spark call that removes them) when a
    snapshot of ``iceberg`` (default: the current one) holds equality delete files."""
    found = equality_delete_files(iceberg, snapshot_id)
    if found:
        name = ".".join(iceberg.name())
        raise EqualityDeletes(
            f"table {name} holds {len(found)} equality delete file(s) (Flink upserts write them) that this reader "
            f"cannot apply, so it is not read rather than read wrong; apply them in Spark: CALL {SPARK_CATALOG}."
            f"system.rewrite_data_files(table => '{name}', options => map('rewrite-all', 'true', "
            f"'remove-dangling-deletes', 'true'))"
        )


def scan_tasks(iceberg: IcebergTable, snapshot_id: int | None = None) -> list[FileScanTask]:
    """The data files of a snapshot of ``iceberg`` (default: the current one; none before its first), each as a
    pyiceberg ``FileScanTask`` whose ``.delete_files`` are the position delete files that apply to it. Raises
    ``EqualityDeletes`` when the snapshot holds equality deletes."""
    if snapshot_id is None and iceberg.current_snapshot() is None:
        return []
    refuse_equality_deletes(iceberg, snapshot_id)
    return list(iceberg.scan(snapshot_id=snapshot_id).plan_files())


def read_tasks(
    iceberg: IcebergTable, tasks, snapshot_id: int | None = None, columns: tuple[str, ...] | None = None
) -> pa.Table:
    """The live rows of the data files of ``tasks`` (from ``scan_tasks``): each file's position deletes applied
    (pyiceberg's reader), columns as of the snapshot's schema (``columns``: only those)."""
    projected = iceberg.scan(snapshot_id=snapshot_id, selected_fields=columns or ("*",)).projection()
    return ArrowScan(
        table_metadata=iceberg.metadata, io=iceberg.io, projected_schema=projected, row_filter=AlwaysTrue()
    ).to_table(tasks=list(tasks))


def read_iceberg(
    iceberg: IcebergTable, snapshot_id: int | None = None, columns: tuple[str, ...] | None = None
) -> pa.Table:
    """Every live row of a snapshot of ``iceberg`` (default: the current one), deletes applied; raises
    ``EqualityDeletes`` for a snapshot it cannot read right."""
    refuse_equality_deletes(iceberg, snapshot_id)
    return iceberg.scan(snapshot_id=snapshot_id, selected_fields=columns or ("*",)).to_arrow()


def table_state(iceberg: IcebergTable | None, name: str, as_of=None) -> TableState:
    """What a reader of table ``name`` sees now or ``as_of`` a snapshot id or time (``SnapshotNotFound`` when
    there was no snapshot then); raises ``EqualityDeletes`` for a snapshot it cannot read right."""
    if iceberg is None:
        return TableState(name, None, (), 0)
    snapshot_id = snapshot_id_as_of(iceberg, as_of)
    if snapshot_id is None:
        return TableState(name, None, (), 0)
    tasks = sorted(scan_tasks(iceberg, snapshot_id), key=lambda task: local_path(task.file.file_path))
    deleted = tuple(
        (local_path(task.file.file_path), tuple(sorted(local_path(delete.file_path) for delete in task.delete_files)))
        for task in tasks
        if task.delete_files
    )
    return TableState(
        name,
        snapshot_id,
        tuple(local_path(task.file.file_path) for task in tasks),
        sum(task.file.record_count for task in tasks),
        deleted,
        tuple(tasks),
    )


def read_arrow(config: CatalogConfig, name: str, as_of=None, columns: tuple[str, ...] | None = None) -> pa.Table:
    """Table ``name`` (as of a snapshot id or time) as Arrow, deletes applied; an empty table of its schema when
    it does not exist yet. Raises ``EqualityDeletes`` for a table it cannot read right."""
    table = WAREHOUSE_TABLES[name]
    try:
        iceberg = load_table(open_catalog(config, create=False), config, table)
    except NoCatalogYet:
        if as_of is not None:
            raise
        iceberg = None
    if iceberg is None:
        empty = pa.Table.from_pylist([], schema=schemas.arrow_schema(table.schema, include_partition_key=True))
        return empty.select(list(columns)) if columns else empty
    return read_iceberg(iceberg, snapshot_id_as_of(iceberg, as_of), columns)
