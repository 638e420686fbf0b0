"""Read-only SQL over the warehouse's Iceberg tables with DuckDB, for the API, the dashboard, reports and ``query``.

Each warehouse table (``complaints``, ``dead_letter``, ``complaint_volume``, ``alerts``, ``stream_counts``,
``forecast``, ``forecast_backtest``) becomes a DuckDB view over the Parquet data files of its current Iceberg
snapshot, as pyiceberg plans them (``warehouse/read.py``). Data files no delete file applies to are read
directly; the few that other engines deleted rows from (position deletes: Spark merge-on-read, Trino) are read
through pyiceberg with the deletes applied and held in DuckDB's memory. A table holding equality deletes
(Flink upserts) is refused: a query that reads it gets ``UnreadableTable``, one line saying what to run, while
the other tables are served. A reader never sees part of a commit. A table that does not exist yet is an empty
view with the table's schema, so every query works on a young warehouse too. Given ``as_of`` (a snapshot id or
a time), every table is read as it was then, and not followed; a time before the warehouse's first readable
snapshot is refused (``AsOfOutOfRange``) rather than answered with empty tables.

The views follow new snapshots (a batch commits, a streaming pane lands), checked at most every
``refresh_seconds``; queries in between reuse DuckDB's cached Parquet metadata. Tables named in
``materialize`` (the server keeps ``complaints``) are held in DuckDB's memory instead, for millisecond queries:
files a snapshot adds are appended, and the table is reloaded whole when a snapshot removes files (an upsert
that replaced rows, a compaction), while queries go on against the previous copy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
from warehouse.catalog import CatalogConfig, CatalogError, NoCatalogYet, load_table, open_catalog
from warehouse.read import EqualityDeletes, SnapshotNotFound, TableState, read_tasks, table_state
from warehouse.uris import local_path

LOG = logging.getLogger(__name__)


class WarehouseError(Exception):
    """The warehouse directory is missing or unreadable, or a query over it failed."""


class OutsideWarehouse(WarehouseError):
    """A query tried to read a file outside the warehouse directory."""


class BadQuery(WarehouseError):
    """The query names a table, column or function that does not exist (the message names the tables)."""


class UnreadableTable(WarehouseError):
    """A query reads a table that holds what this reader cannot apply (equality deletes): one line says what to
    run; the other tables are still served."""


class AsOfOutOfRange(WarehouseError):
    """``as_of`` names a snapshot no table has, or a time before the warehouse's first readable snapshot."""


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Warehouse:
    """A DuckDB connection whose views follow the warehouse's committed files."""

    def __init__(
        self,
        warehouse_dir: str | os.PathLike,
        refresh_seconds: float = 2.0,
        threads: int | None = None,
        materialize: tuple[str, ...] = (),
        catalog: CatalogConfig | None = None,
        as_of=None,
    ):
        self.root = Path(warehouse_dir)
        if not self.root.is_dir():
            raise WarehouseError(f"warehouse directory not found: {self.root}")
        self.catalog_config = catalog or CatalogConfig(str(self.root))
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
        self._states: dict[str, TableState] = {}
        self._deletes: dict[str, tuple] = {}  # table -> the (data file, delete files) its view applies
        self._applied: dict[str, str] = {}  # table -> DuckDB table of its files read with deletes applied
        self._icebergs: dict = {}
        self.refused: dict[str, WarehouseError] = {}  # table -> why it is not served (one line)
        self._parser, self._parser_lock = duckdb.connect(":memory:"), threading.Lock()
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
                state = self._live_state(table)
                files = tuple(f for f in state.plain_files if self._readable(f))
                tasks = tuple(
                    task for task in state.tasks_with_deletes if self._readable(local_path(task.file.file_path))
                )
                deletes = tuple(item for item in state.deleted if self._readable(item[0]))
                if table in self.materialize:
                    changed |= self._sync_materialized(table, schema_name, files, deletes, tasks)
                elif force or self._files.get(table) != files or self._deletes.get(table) != deletes:
                    applied = self._applied_relation(table, tasks, state.snapshot_id)
                    self._connection.execute(self._view_sql(table, schema_name, files, applied))
                    self._drop_applied(table, applied)
                    changed = True
                self._files[table] = files + tuple(path for path, _ in deletes)
                self._deletes[table] = deletes
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
        try:
            catalog = open_catalog(self.catalog_config, create=False)
        except CatalogError as error:
            raise WarehouseError(str(error)) from None
        for entry in TABLES.values():
            iceberg = load_table(catalog, self.catalog_config, entry)
            snapshot = iceberg.snapshot_by_id(as_of) if iceberg is not None else None
            if snapshot is not None:
                return dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.UTC)
        raise AsOfOutOfRange(f"no warehouse table has a snapshot {as_of} (expired, or never taken)")

    def _check_as_of(self) -> None:
        """Refuse an ``as_of`` time before every table's oldest snapshot still kept: nothing can be read then
        (the warehouse was empty, or its snapshots of then expired), and empty tables would be a wrong answer."""
        oldest = [
            min(snapshot.timestamp_ms for snapshot in iceberg.snapshots())
            for iceberg in self._icebergs.values()
            if iceberg is not None and iceberg.snapshots()
        ]
        if not oldest:
            raise AsOfOutOfRange("the warehouse has no snapshot yet: there is nothing to read as of a time")
        earliest = dt.datetime.fromtimestamp(min(oldest) / 1000, dt.UTC)
        if self.as_of < earliest:
            raise AsOfOutOfRange(
                f"as of {self.as_of.isoformat()} is before the warehouse's first readable "
                f"snapshot: the earliest time it can be read as of is {earliest.isoformat()}"
            )

    def _live_state(self, table: str) -> TableState:
        """The data files of the table's snapshot (current, or as of ``as_of``); none before the table exists.
        A table holding equality deletes, or whose snapshot of ``as_of`` has expired, is recorded in ``refused``
        and has none."""
        nothing = TableState(table, None, (), 0)
        if self.as_of is not None and table in self._states:
            return self._states[table]  # time travel: the snapshot read once is the one
        if self._catalog is None:
            try:
                self._catalog = open_catalog(self.catalog_config, create=False)
            except NoCatalogYet:
                if self.as_of is not None:
                    raise AsOfOutOfRange(
                        "the warehouse has no snapshot yet: there is nothing to read as of a time"
                    ) from None
                return nothing  # no writer has committed yet
            except CatalogError as error:  # a shared catalog that does not answer is not an empty warehouse
                raise WarehouseError(str(error)) from None
            if self.as_of is not None:
                self._icebergs = {
                    name: load_table(self._catalog, self.catalog_config, entry) for name, entry in TABLES.items()
                }
                self._check_as_of()
        iceberg = (
            self._icebergs.get(table)
            if self.as_of is not None
            else load_table(self._catalog, self.catalog_config, TABLES[table])
        )
        if iceberg is None:
            self.snapshots[table] = None
            self._states[table] = nothing
            return nothing
        self._icebergs[table] = iceberg
        snapshot = iceberg.current_snapshot()
        if self.as_of is None:
            self.snapshot_times[table] = snapshot.timestamp_ms / 1000 if snapshot else None
        if (
            self.as_of is None
            and table in self._states
            and self.snapshots.get(table) == (snapshot.snapshot_id if snapshot else None)
        ):
            return self._states[table]
        try:
            state = table_state(iceberg, table, self.as_of)
            self.refused.pop(table, None)
        except SnapshotNotFound:  # the table did not exist yet then, or its snapshots of then expired
            state = nothing
            oldest = min(iceberg.snapshots(), key=lambda kept: kept.timestamp_ms, default=None)
            # it had snapshots before this one (pyiceberg's expiry forgets the parent; the sequence number says it)
            if oldest is not None and (oldest.parent_snapshot_id is not None or (oldest.sequence_number or 0) > 1):
                earliest = dt.datetime.fromtimestamp(oldest.timestamp_ms / 1000, dt.UTC)
                self.refused[table] = AsOfOutOfRange(
                    f"table {table} as of {self.as_of.isoformat()}: its snapshots of then have expired; the earliest "
                    f"time it can be read as of is {earliest.isoformat()}"
                )
        except EqualityDeletes as error:
            if str(self.refused.get(table)) != str(error):  # a query of it gets the line itself (the API logs it)
                LOG.info("warehouse table not served: %s", error)
            self.refused[table] = UnreadableTable(str(error))
            state = TableState(table, snapshot.snapshot_id if snapshot else None, (), 0)
        self.snapshots[table] = state.snapshot_id
        self._states[table] = state
        return state

    def _applied_relation(self, table: str, tasks, snapshot_id: int | None) -> str | None:
        """A DuckDB table of the rows of ``tasks`` (data files with position deletes) with the deletes applied
        (read by pyiceberg), or None when there are none."""
        if not tasks:
            return None
        try:
            rows = read_tasks(self._icebergs[table], tasks, snapshot_id)
        except (OSError, pa.ArrowInvalid) as error:  # a delete file missing or damaged: no answer, not a wrong one
            raise WarehouseError(
                f"table {table}: its files cannot be read with their deletes applied: {str(error).splitlines()[0]}"
            ) from error
        self._generation += 1
        name = f"{table}_deletes_applied_{self._generation}"
        self._connection.register("applied_arrow", rows)
        try:
            self._connection.execute(f"CREATE TABLE {name} AS SELECT * FROM applied_arrow")
        finally:
            self._connection.unregister("applied_arrow")
        return name

    def _drop_applied(self, table: str, applied: str | None) -> None:
        """Drop the table's previous deletes-applied copy once a new view stands on ``applied``."""
        previous = self._applied.pop(table, None)
        if previous and previous != applied:
            self._connection.execute(f"DROP TABLE IF EXISTS {previous}")
        if applied:
            self._applied[table] = applied

    def _sync_materialized(
        self, table: str, schema_name: str, files: tuple[str, ...], deletes: tuple, tasks: tuple
    ) -> bool:
        """Keep ``table`` as an in-memory DuckDB table: append new files; reload whole when a file went or changed,
        or the delete files applied to it did."""
        stats = {}
        for name in files:
            try:
                info = os.stat(name)
            except FileNotFoundError:
                continue
            stats[name] = (info.st_mtime_ns, info.st_size)
        known = self._file_stats.get(table)
        same_deletes = self._deletes.get(table, ()) == deletes
        if known == stats and same_deletes:
            return False
        if known is not None and same_deletes and all(stats.get(name) == stat for name, stat in known.items()):
            added = [name for name in stats if name not in known]
            self._connection.execute(
                f"INSERT INTO {self._loaded_as[table]} BY NAME "
                f"{self._select_sql(schema_name, added)} ORDER BY {TABLES[table].order_by}"
            )
        else:
            self._generation += 1
            loaded = f"{table}_loaded_{self._generation}"
            # in time order: DuckDB then skips whole row groups for time ranges and newest-first searches
            applied = self._applied_relation(table, tasks, self._states[table].snapshot_id)
            self._connection.execute(
                f"CREATE TABLE {loaded} AS {self._select_sql(schema_name, list(stats), applied)}"
                f" ORDER BY {TABLES[table].order_by}"
            )
            self._drop_applied(table, None)
            if applied:
                self._connection.execute(f"DROP TABLE {applied}")
            self._connection.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {loaded}")
            previous = self._loaded_as.get(table)
            if previous:
                self._connection.execute(f"DROP TABLE {previous}")
            self._loaded_as[table] = loaded
        self._file_stats[table] = stats
        return True

    def _view_sql(self, table: str, schema_name: str, files, applied: str | None = None) -> str:
        return f"CREATE OR REPLACE VIEW {table} AS {self._select_sql(schema_name, files, applied)}"

    def _select_sql(self, schema_name: str, files, applied: str | None = None) -> str:
        """Every row of ``files`` (partition columns stored in them) and of the DuckDB table ``applied`` (files
        read with their deletes applied), or of an empty table of the schema."""
        parts = []
        if files:
            listing = "[" + ", ".join(_sql_string(os.path.realpath(f)) for f in files) + "]"
            parts.append(f"SELECT * FROM read_parquet({listing}, hive_partitioning = false, union_by_name = true)")
        if applied:
            parts.append(f"SELECT * FROM {applied}")
        if parts:
            return " UNION ALL BY NAME ".join(parts)
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
            if self._checked_files.get(path, (None, True))[1]:
                LOG.error("warehouse file left out, the table's snapshot names it but it is missing: %s", path)
            self._checked_files[path] = (None, False)
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
        """Committed files left out because they are missing or not readable Parquet, relative to the warehouse
        (only those the tables' snapshots still name)."""
        named = {path for files in self._files.values() for path in files} | {
            path for state in self._states.values() for path in state.files
        }
        return sorted(
            os.path.relpath(path, self.root)
            for path, (_, readable) in self._checked_files.items()
            if not readable and path in named
        )

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

    def _check_tables(self, sql: str) -> None:
        """Refuse a query that reads a table this warehouse does not serve (``refused``), with why."""
        if not self.refused:
            return
        try:  # parsed on a connection without the views: on this one DuckDB names the tables under them
            with self._parser_lock:
                named = {name.lower() for name in self._parser.get_table_names(sql)}
        except duckdb.Error:
            return  # the query itself will say what is wrong with it
        for table in sorted(named & set(self.refused)):
            refusal = self.refused[table]
            raise type(refusal)(str(refusal))

    def _query_error(self, error: duckdb.Error) -> WarehouseError:
        """The one-line error a failed query raises: an unknown table, column or function is the query's
        fault (``BadQuery``, naming the tables for an unknown one); reading outside the warehouse is refused."""
        line = str(error).splitlines()[0]
        if isinstance(error, duckdb.PermissionException):
            return OutsideWarehouse(line)
        if isinstance(error, duckdb.CatalogException) and line.startswith("Catalog Error: Table with name"):
            unknown = line.split("Table with name ", 1)[1].split(" does not exist", 1)[0]
            return BadQuery(f"no table {unknown}; the tables are {', '.join(TABLES)}")
        if isinstance(error, (duckdb.CatalogException, duckdb.BinderException)):
            return BadQuery(line)
        return WarehouseError(line)

    def rows(self, sql: str, parameters: list | None = None) -> list[dict]:
        """Run ``sql`` and return its rows as dicts."""
        self.refresh()
        self._check_tables(sql)
        try:
            relation = self.cursor().execute(sql, parameters or [])
            columns = [d[0] for d in relation.description]
            return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
        except duckdb.Error as error:
            raise self._query_error(error) from error

    def arrow(self, sql: str, parameters: list | None = None) -> pa.Table:
        """Run ``sql`` and return an Arrow table."""
        self.refresh()
        self._check_tables(sql)
        try:
            return self.cursor().sql(sql, params=parameters or None).to_arrow_table()
        except duckdb.Error as error:
            raise self._query_error(error) from error

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

        try:
            write_rows(self.catalog_config, table, rows, properties=properties)
        except EqualityDeletes as error:
            raise UnreadableTable(str(error)) from None
        self.refresh(force=True)

    def close(self) -> None:
        self._connection.close()
        self._parser.close()


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
