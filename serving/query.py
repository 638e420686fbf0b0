"""``complaints query "SQL"``: ad-hoc read-only SQL over the warehouse tables, shown or exported.

The tables are DuckDB views named like the warehouse directories (``complaints``, ``dead_letter``,
``complaint_volume``, ``alerts``, ``stream_counts``, ``forecast``, ``forecast_backtest``). Only one read
statement (``SELECT`` / ``WITH`` ... ``SELECT``) is accepted, so a typo cannot write or delete anything.
Reads are confined to the warehouse directory (``serving.warehouse``): a query cannot read other files on the
host. Exports: ``.csv`` (formula-safe cells, like the reports) or ``.parquet``.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from serving.files import published
from serving.report import write_csv
from serving.warehouse import (
    TABLES,
    AsOfOutOfRange,
    BadQuery,
    OutsideWarehouse,
    UnreadableTable,
    Warehouse,
    WarehouseError,
)


class QueryRefused(ValueError):
    """Not a single read-only statement, or one that reads a table, column or function there is not."""


def check_read_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryRefused(f"the SQL does not parse: {str(error).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryRefused(f"give exactly one statement, not {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryRefused(f"only SELECT queries are allowed here, not {statements[0].type.name}")


def run_query(warehouse_dir: str | os.PathLike, sql: str, as_of=None, catalog=None) -> pa.Table:
    """Run one read-only ``sql`` over the warehouse, now or ``as_of`` a snapshot id or a time (time travel);
    ``catalog``: the tables' ``CatalogConfig`` (default: the embedded catalog in ``warehouse_dir``).

    Raises ``QueryRefused`` for a query that is not one read or names what is not there, ``AsOfOutOfRange`` for
    an ``as_of`` nothing can be read at, ``UnreadableTable`` when it reads a table holding deletes this reader
    cannot apply, ``WarehouseError`` otherwise."""
    check_read_only(sql)
    warehouse = Warehouse(warehouse_dir, as_of=as_of, catalog=catalog)
    try:
        return warehouse.arrow(sql)
    except OutsideWarehouse as error:
        raise QueryRefused(f"queries read only the warehouse's tables ({error})") from None
    except BadQuery as error:
        raise QueryRefused(str(error)) from None
    finally:
        warehouse.close()


def export_format(path: str) -> str:
    """``.csv`` or ``.parquet``, from the export file's name (checked before the query runs)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise QueryRefused(f"export to .csv or .parquet, not '{suffix or path}'")
    return suffix


def export(table: pa.Table, path: str) -> Path:
    """Write the result as CSV or Parquet, chosen by the file's extension."""
    suffix = export_format(path)
    target = Path(path)
    with published(target) as hidden:
        if suffix == ".parquet":
            pq.write_table(table, hidden)
        else:
            write_csv(hidden, table.to_pylist(), table.column_names)
    return target


def format_table(table: pa.Table, max_rows: int) -> str:
    """The first ``max_rows`` rows, aligned for a terminal."""
    frame = table.slice(0, max_rows).to_pandas()
    text = frame.to_string(index=False, max_colwidth=60) if len(frame) else "(no rows)"
    if table.num_rows > max_rows:
        text += f"\n... {table.num_rows - max_rows:,} more rows (export with --output FILE.csv|.parquet)"
    return text


__all__ = [
    "TABLES",
    "AsOfOutOfRange",
    "QueryRefused",
    "UnreadableTable",
    "WarehouseError",
    "check_read_only",
    "export",
    "export_format",
    "format_table",
    "run_query",
]
