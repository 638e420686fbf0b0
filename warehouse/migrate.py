"""Import a warehouse written by versions before the Iceberg tables: Hive-partitioned Parquet folders
(``complaints/event_date=2026-11-26/*.parquet``) without a catalog.

Each table found is read whole (its partition column from the folder names), given the columns of the current
schema (a column the old files lack is null), and upserted into the Iceberg table of the same name, so an
import that is run again, or that overlaps rows already in the new warehouse, holds each key once.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

import schemas
from schemas.tables import WAREHOUSE_TABLES
from warehouse.catalog import CatalogConfig
from warehouse.commit import CommitResult, write_rows


class NothingToImport(Exception):
    """The source folder holds no plain Parquet table."""


def plain_tables(source: Path) -> list[str]:
    """Tables of an earlier version's plain Parquet warehouse under ``source`` (Parquet files, no Iceberg
    metadata)."""
    return [name for name in WAREHOUSE_TABLES if (source / name).is_dir() and not (source / name / "metadata").is_dir()
            and any((source / name).rglob("*.parquet"))]


def _read_plain(source: Path, name: str) -> pa.Table:
    table = WAREHOUSE_TABLES[name]
    files = sorted(str(path) for path in (source / name).rglob("*.parquet")
                   if not any(part.startswith((".", "_")) for part in path.relative_to(source / name).parts))
    data = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(source / name)).to_table()
    target = schemas.arrow_schema(table.schema, include_partition_key=True)
    columns = {}
    for field in target:
        if field.name not in data.column_names:
            columns[field.name] = pa.nulls(data.num_rows, field.type)
            continue
        column = data[field.name]
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_date(field.type) and not pa.types.is_date(column.type):
            column = pa.array([dt.date.fromisoformat(str(value)) for value in column.to_pylist()], field.type)
        columns[field.name] = pc.cast(column, field.type)
    return pa.table(columns, schema=target)


def import_plain_warehouse(source: Path, config: CatalogConfig) -> dict[str, CommitResult]:
    """Import every plain Parquet table under ``source`` into the warehouse of ``config``."""
    source = Path(source)
    names = plain_tables(source)
    if not names:
        raise NothingToImport(f"no plain Parquet warehouse tables under {source} "
                              f"(looked for {', '.join(WAREHOUSE_TABLES)})")
    results = {}
    for name in names:
        results[name] = write_rows(config, WAREHOUSE_TABLES[name], _read_plain(source, name),
                                   {"writer": "import", "source": str(source)})
    return results
