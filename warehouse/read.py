"""Reading the warehouse tables: the live data files of a snapshot, and a table as Arrow.

The committer rewrites files instead of writing delete files, so the data files a scan plans hold exactly the
table's rows: DuckDB, pandas or pyarrow can read them directly (``serving/warehouse.py`` does).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.table import Table as IcebergTable

import schemas
from schemas.tables import WAREHOUSE_TABLES
from warehouse.catalog import CatalogConfig, CatalogError, NoCatalogYet, load_table, local_path, open_catalog


class SnapshotNotFound(CatalogError):
    """No snapshot of the table matches the ``as of`` given."""


@dataclass(frozen=True)
class TableState:
    """What a reader sees of a table: its current (or chosen) snapshot and that snapshot's data files."""

    name: str
    snapshot_id: int | None   # None: the table does not exist yet, or has no snapshot
    files: tuple[str, ...]    # local paths (or URIs of remote files)
    rows: int


def parse_as_of(text: str) -> int | dt.datetime:
    """``--as-of`` as a snapshot id (digits) or a time (ISO 8601; UTC when it has no offset)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--as-of {text!r} is neither a snapshot id nor an ISO time (2026-11-26T12:00:00Z)") \
            from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


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


def table_state(iceberg: IcebergTable | None, name: str, as_of=None) -> TableState:
    if iceberg is None:
        return TableState(name, None, (), 0)
    snapshot_id = snapshot_id_as_of(iceberg, as_of)
    if snapshot_id is None:
        return TableState(name, None, (), 0)
    tasks = list(iceberg.scan(snapshot_id=snapshot_id).plan_files())
    return TableState(name, snapshot_id, tuple(sorted(local_path(task.file.file_path) for task in tasks)),
                      sum(task.file.record_count for task in tasks))


def read_arrow(config: CatalogConfig, name: str, as_of=None, columns: tuple[str, ...] | None = None) -> pa.Table:
    """Table ``name`` (as of a snapshot id or time) as Arrow; an empty table of its schema when it does not
    exist yet."""
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
    return iceberg.scan(snapshot_id=snapshot_id_as_of(iceberg, as_of), selected_fields=columns or ("*",)).to_arrow()
