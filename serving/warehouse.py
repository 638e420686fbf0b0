"""Read-only SQL over the warehouse's Iceberg tables with DuckDB, for the API, the dashboard, reports and ``query``.

Each warehouse table (``complaints``, ``dead_letter``, ``complaint_volume``, ``alerts``, ``stream_counts``,
``forecast``, ``forecast_backtest``) becomes a DuckDB view over the Parquet data files of its current Iceberg
snapshot, as pyiceberg plans them (``warehouse/read.py``): exactly the table's rows, since the committer
rewrites files instead of writing delete files. A reader never sees part of a commit. A table that does not
exist yet is an empty view with the table's schema, so every query works on a young warehouse too. Given
``as_of`` (a snapshot id or a time), every table is read as it was then, and not followed.

The views follow new snapshots (a batch commits, a streaming pane lands), checked at most every
``refresh_seconds``; queries in between reuse DuckDB's cached Parquet metadata. Tables named in
``materialize`` (the server keeps ``complaints``) are held in DuckDB's memory instead, for millisecond queries:
files a snapshot adds are appended, and the table is reloaded whole when a snapshot removes files (an upsert
that replaced rows, a compaction), while queries go on against the previous copy.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

import schemas
from schemas.tables import WAREHOUSE_TABLES as TABLES
from warehouse.catalog import CATALOG_FILE, CatalogConfig, CatalogError, NoCatalogYet, load_table, open_catalog
from warehouse.migrate import plain_tables
from warehouse.read import SnapshotNotFound, TableState, table_state

LOG = logging.getLogger(__name__)


class WarehouseError(Exception):
    """The warehouse directory is missing or unreadable, or a query over it failed."""


class OutsideWarehouse(WarehouseError):
    """A query tried to read a file outside the warehouse directory."""


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Warehouse:
    """A DuckDB connection whose views follow the warehouse's committed files."""

    def __init__(self, warehouse_dir: str | os.PathLike, refresh_seconds: float = 2.0, threads: int | None = None,
                 materialize: tuple[str, ...] = (), catalog: CatalogConfig | None = None, as_of=None):
        self.root = Path(warehouse_dir)
        if not self.root.is_dir():
            raise WarehouseError(f"warehouse directory not found: {self.root}")
        self.catalog_config = catalog or CatalogConfig(str(self.root))
        if self.catalog_config.embedded and not (self.root / CATALOG_FILE).exists() and plain_tables(self.root):
            raise WarehouseError(f"{self.root} is a plain Parquet warehouse of an earlier version: import it into "
                                 "Iceberg tables with `complaints warehouse-import`")
        self._catalog = None
        self.as_of = self._as_of_time(as_of)
        self.snapshots: dict[str, int | None] = {}
        self.snapshot_times: dict[str, float | None] = {}  # when each table's current snapshot was committed (Unix)
        self.refresh_seconds = refresh_seconds
        self.materialize = frozenset(materialize)
        self._connection = duckdb.connect(":memory:")
        self._connection.execute("SET parquet_metadata_cache = true")
        self._connection.execute("SET TimeZone = 'UTC'")
        if threads:
            self._connection.execute(f"SET threads = {int(threads)}")
        # Reads stay inside the warehouse: no other file on the host (/proc/self/environ, /etc/passwd, another
        # warehouse) and no extension or URL, whatever a query asks; and no query can lift that again.
        self._connection.execute(f"SET allowed_directories = [{_sql_string(os.path.realpath(self.root) + os.sep)}]")
        self._connection.execute("SET enable_external_access = false")
        self._connection.execute("SET lock_configuration = true")
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._files: dict[str, tuple[str, ...]] = {}
        self._file_stats: dict[str, dict[str, tuple[int, int]]] = {}
        self._checked_files: dict[str, tuple[tuple[int, int], bool]] = {}
        self._loaded_as: dict[str, str] = {}
        self._generation = 0
        self.version = 0  # goes up whenever any table changes: a key for caches built on top
        self._checked_at = 0.0
        self._local = threading.local()
        self.refresh(force=True)

    # -- views ------------------------------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Bring the views up to the committed files; return whether any table changed.

        Checked at most every ``refresh_seconds``. A thread that finds another one refreshing goes on with the
        current views rather than waiting.
        """
        if not force and time.monotonic() - self._checked_at < self.refresh_seconds:
            return False
        if not self._lock.acquire(blocking=force):
            return False
        try:
            changed = False
            for table, entry in TABLES.items():
                schema_name = entry.schema
                files = tuple(f for f in self._live_files(table) if self._readable(f))
                if table in self.materialize:
                    changed |= self._sync_materialized(table, schema_name, files)
                elif force or self._files.get(table) != files:
                    self._connection.execute(self._view_sql(table, schema_name, files))
                    changed = True
                self._files[table] = files
            self._checked_at = time.monotonic()
            self.version += changed
            return changed
        except duckdb.Error as error:  # e.g. a file replaced between listing and reading: next time will do
            LOG.warning("warehouse refresh deferred: %s", str(error).splitlines()[0])
            return False
        finally:
            self._lock.release()

    def _as_of_time(self, as_of):
        """``as_of`` as a time: a snapshot id (of any table) stands for the moment it was committed, so every
        table is read as it was then."""
        if not isinstance(as_of, int):
            return as_of
        import datetime as dt

        try:
            catalog = open_catalog(self.catalog_config, create=False)
        except CatalogError as error:
            raise WarehouseError(str(error)) from None
        for entry in TABLES.values():
            iceberg = load_table(catalog, self.catalog_config, entry)
            snapshot = iceberg.snapshot_by_id(as_of) if iceberg is not None else None
            if snapshot is not None:
                return dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.timezone.utc)
        raise WarehouseError(f"no warehouse table has a snapshot {as_of} (expired, or never taken)")

    def _live_files(self, table: str) -> tuple[str, ...]:
        """The data files of the table's snapshot (current, or as of ``as_of``); none before the table exists."""
        if self.as_of is not None and table in self.snapshots and table in self._files:
            return self._files[table]  # time travel: the snapshot read once is the one
        if self._catalog is None:
            try:
                self._catalog = open_catalog(self.catalog_config, create=False)
            except NoCatalogYet:
                return ()  # no writer has committed yet
            except CatalogError as error:  # a shared catalog that does not answer is not an empty warehouse
                raise WarehouseError(str(error)) from None
        iceberg = load_table(self._catalog, self.catalog_config, TABLES[table])
        if iceberg is None:
            self.snapshots[table] = None
            return ()
        snapshot = iceberg.current_snapshot()
        if self.as_of is None:
            self.snapshot_times[table] = snapshot.timestamp_ms / 1000 if snapshot else None
        if self.as_of is None and table in self._files and self.snapshots.get(table) == (
                snapshot.snapshot_id if snapshot else None):
            return self._files[table]
        try:
            state = table_state(iceberg, table, self.as_of)
        except SnapshotNotFound:  # the table did not exist yet then
            state = TableState(table, None, (), 0)
        self.snapshots[table] = state.snapshot_id
        return state.files

    def _sync_materialized(self, table: str, schema_name: str, files: tuple[str, ...]) -> bool:
        """Keep ``table`` as an in-memory DuckDB table: append new files; reload whole when a file went or changed."""
        stats = {}
        for name in files:
            try:
                info = os.stat(name)
            except FileNotFoundError:
                continue
            stats[name] = (info.st_mtime_ns, info.st_size)
        known = self._file_stats.get(table)
        if known == stats:
            return False
        if known is not None and all(stats.get(name) == stat for name, stat in known.items()):
            added = [name for name in stats if name not in known]
            self._connection.execute(f"INSERT INTO {self._loaded_as[table]} BY NAME "
                                     f"{self._select_sql(schema_name, added)} ORDER BY {TABLES[table].order_by}")
        else:
            self._generation += 1
            loaded = f"{table}_loaded_{self._generation}"
            # in time order: DuckDB then skips whole row groups for time ranges and newest-first searches
            self._connection.execute(f"CREATE TABLE {loaded} AS {self._select_sql(schema_name, list(stats))} "
                                     f"ORDER BY {TABLES[table].order_by}")
            self._connection.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {loaded}")
            previous = self._loaded_as.get(table)
            if previous:
                self._connection.execute(f"DROP TABLE {previous}")
            self._loaded_as[table] = loaded
        self._file_stats[table] = stats
        return True

    def _view_sql(self, table: str, schema_name: str, files) -> str:
        return f"CREATE OR REPLACE VIEW {table} AS {self._select_sql(schema_name, files)}"

    def _select_sql(self, schema_name: str, files) -> str:
        """Every row of ``files`` (partition columns from their paths), or of an empty table of the schema."""
        if files:
            listing = "[" + ", ".join(_sql_string(f) for f in files) + "]"
            return f"SELECT * FROM read_parquet({listing}, hive_partitioning = false, union_by_name = true)"
        return f"SELECT * FROM {self._empty_relation(schema_name)}"

    def _empty_relation(self, schema_name: str) -> str:
        schema = table_schema(schema_name)
        name = f"empty_{schema_name.lower()}"
        self._connection.register("empty_arrow", pa.Table.from_pylist([], schema=schema))
        self._connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM empty_arrow")
        self._connection.unregister("empty_arrow")
        return name

    def _readable(self, path: str) -> bool:
        """Whether a committed file is Parquet that can be read (its footer parses); checked once per version of
        the file. An unreadable file is left out of its table and reported, so one corrupt file does not take
        every query down with it."""
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return False
        stamp = (info.st_mtime_ns, info.st_size)
        known = self._checked_files.get(path)
        if known is None or known[0] != stamp:
            try:
                pq.read_metadata(path)
                readable = True
            except (OSError, pa.ArrowInvalid) as error:
                LOG.error("warehouse file left out, it is not readable Parquet: %s (%s)", path, error)
                readable = False
            known = self._checked_files[path] = (stamp, readable)
        return known[1]

    def unreadable_files(self) -> list[str]:
        """Committed files left out because they are not readable Parquet, relative to the warehouse."""
        return sorted(os.path.relpath(path, self.root) for path, (_, readable) in self._checked_files.items()
                      if not readable and os.path.exists(path))

    def file_counts(self) -> dict[str, int]:
        """Live data files per table, as of the last refresh."""
        return {table: len(files) for table, files in self._files.items()}

    # -- queries ----------------------------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for the calling thread (DuckDB connections are not shared across threads)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._connection.cursor()
            self._local.cursor = cursor
        return cursor

    def rows(self, sql: str, parameters: list | None = None) -> list[dict]:
        """Run ``sql`` and return its rows as dicts."""
        self.refresh()
        try:
            relation = self.cursor().execute(sql, parameters or [])
            columns = [d[0] for d in relation.description]
            return [dict(zip(columns, row)) for row in relation.fetchall()]
        except duckdb.Error as error:
            raise WarehouseError(str(error).splitlines()[0]) from error

    def arrow(self, sql: str, parameters: list | None = None) -> pa.Table:
        """Run ``sql`` and return an Arrow table."""
        self.refresh()
        try:
            return self.cursor().sql(sql, params=parameters or None).to_arrow_table()
        except duckdb.PermissionException as error:
            raise OutsideWarehouse(str(error).splitlines()[0]) from error
        except duckdb.Error as error:
            raise WarehouseError(str(error).splitlines()[0]) from error

    def scalar(self, sql: str, parameters: list | None = None):
        rows = self.rows(sql, parameters)
        return next(iter(rows[0].values())) if rows else None

    # -- writes (the API's few: CRM events, review decisions) ----------------------------------------------------
    @contextlib.contextmanager
    def writing(self):
        """One read-check-write at a time in this server, on the tables as committed now: a check made inside
        (an id already recorded, an item already claimed) still holds when the write inside commits."""
        with self._write_lock:
            self.refresh(force=True)
            yield self

    def upsert(self, table, rows: list[dict], properties: dict) -> None:
        """Commit ``rows`` to ``table`` (a ``schemas.tables.Table``) through the warehouse's committer (upsert
        by its key), then follow the new snapshot. Call it inside ``writing()``."""
        from warehouse.commit import write_rows

        write_rows(self.catalog_config, table, rows, properties=properties)
        self.refresh(force=True)

    def close(self) -> None:
        self._connection.close()


def runs_with_public_token_key(warehouse_dir: str | os.PathLike) -> list[str]:
    """Runs (from the run manifests beside the warehouse, ``OUT/_runs``) whose contact tokens were made with the
    dev profile's public key, so they can be reversed: such a warehouse must not be served beyond loopback."""
    import json

    runs = Path(warehouse_dir).resolve().parent / "_runs"
    found = []
    for path in sorted(runs.glob("*.json")) if runs.is_dir() else []:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if manifest.get("contact_token_key") == "profile file" and manifest.get("status") == "succeeded":
            found.append(manifest.get("run_id", path.stem))
    return found


def table_schema(schema_name: str) -> pa.Schema:
    """The Arrow schema of a warehouse table, partition key included."""
    return schemas.arrow_schema(schema_name, include_partition_key=True)
