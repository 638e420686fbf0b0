"""Reading and seeding warehouse tables in tests, through their Iceberg catalog as every reader does (reading a
table's folder with pyarrow would also see data files that a later snapshot replaced)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from schemas.tables import WAREHOUSE_TABLES
from warehouse.catalog import CatalogConfig
from warehouse.commit import write_rows
from warehouse.read import read_arrow


def read_table(table_dir: Path, columns=None) -> pa.Table:
    """The current rows of the warehouse table whose folder is ``table_dir`` (``OUT/warehouse/complaints``)."""
    table_dir = Path(table_dir)
    return read_arrow(CatalogConfig(str(table_dir.parent)), table_dir.name, columns=tuple(columns) if columns else None)


def add_rows(warehouse_dir: Path, name: str, rows) -> None:
    """Commit ``rows`` (dicts or Arrow) to warehouse table ``name``, as a writer would."""
    write_rows(CatalogConfig(str(warehouse_dir)), WAREHOUSE_TABLES[name], rows)


def copy_tables(source: Path, target: Path, names=("complaints",)) -> None:
    """A new warehouse at ``target`` holding the current rows of ``source``'s tables ``names``."""
    for name in names:
        rows = read_table(Path(source) / name)
        if rows.num_rows:
            add_rows(target, name, rows)


def live_files(table_dir: Path) -> tuple[str, ...]:
    """The data files of the current snapshot of the table whose folder is ``table_dir``."""
    from schemas.tables import WAREHOUSE_TABLES
    from warehouse.catalog import load_table, open_catalog
    from warehouse.read import table_state

    table_dir = Path(table_dir)
    config = CatalogConfig(str(table_dir.parent))
    iceberg = load_table(open_catalog(config, create=False), config, WAREHOUSE_TABLES[table_dir.name])
    return table_state(iceberg, table_dir.name).files


def current_snapshots(warehouse_dir: Path) -> dict:
    """The current snapshot id of each warehouse table (None: no table or no snapshot yet)."""
    from warehouse.catalog import load_table, open_catalog

    config = CatalogConfig(str(warehouse_dir))
    catalog = open_catalog(config, create=False)
    found = {}
    for name, table in WAREHOUSE_TABLES.items():
        iceberg = load_table(catalog, config, table)
        snapshot = iceberg.current_snapshot() if iceberg is not None else None
        found[name] = snapshot.snapshot_id if snapshot else None
    return found
