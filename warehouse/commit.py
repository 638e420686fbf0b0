"""The committer: new rows land in a warehouse table as one Iceberg snapshot, replacing the rows with the same key.

Workers write data files; one commit per batch (``upsert_files``) or per window pane (``upsert_rows``) makes
them visible at once, so a reader sees all of a run or none of it. Within the commit every current data file
that holds one of the new keys is rewritten without those rows (copy on write: we write no delete files). Other
engines may have deleted rows by position (Spark merge-on-read, Trino): a file is judged and rewritten by its
live rows (deletes applied, so a row they deleted stays deleted and a key they deleted comes back as a new row,
not a replaced one), and the delete files naming a file the commit removes leave the table with it
(``warehouse/replace.py``). A table holding equality deletes (Flink) is refused (``EqualityDeletes``): they
cannot be applied here, and committing past them could bring deleted rows back. The row that wins is the one
committed last: a rerun,
a backfill or a reprocessing with a newer model replaces the earlier version of each row, and however many
runs, days, paths or channels carry a complaint, the table holds it once.

When another writer commits first (a stream and a batch writing one table), the commit is refused by the
catalog or by Iceberg's serializable validation (files were added meanwhile); it is then recomputed from the
table's new state and tried again, with a growing pause, up to ``attempts`` times. Writers on one machine
(the threads of a worker, a batch beside a stream on the embedded catalog) take turns instead: a lock per
table, held from reading the table's state to committing, so they do not refuse each other at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import random
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.io.pyarrow import _dataframe_to_data_files, parquet_file_to_data_file
from pyiceberg.table import Table as IcebergTable

import schemas
from warehouse.catalog import ensure_table, open_catalog, writer_schema
from warehouse.read import read_tasks, scan_tasks
from warehouse.replace import delete_files_to_drop, stage_replacement
from warehouse.uris import is_local, local_path, normalise_uri

try:  # the embedded SQLite catalog reports a writer holding its lock this way
    from sqlalchemy.exc import OperationalError as _CatalogBusy
except ImportError:  # pragma: no cover - pyiceberg[sql-sqlite] is a dependency
    _CatalogBusy = CommitFailedException

KEY_SEPARATOR = "\x1f"
DEFAULT_ATTEMPTS = 8
_RETRYABLE = (CommitFailedException, ValidationException, _CatalogBusy)


class CommitConflict(Exception):
    """The table kept changing under the commit: it was refused ``attempts`` times. Nothing was committed."""


class DuplicateKeys(Exception):
    """The new data files hold a key more than once: committing them would put a row in the table twice."""


@dataclass(frozen=True)
class CommitResult:
    table: str
    snapshot_id: int | None  # None when there was nothing to commit
    rows_written: int  # rows the commit added (new or replacing)
    rows_replaced: int  # earlier versions of those rows it removed
    files_added: int
    files_removed: int
    attempts: int


def key_values(data: pa.Table, key: tuple[str, ...]) -> pa.Array:
    """One comparable value per row for the table's key (the key columns joined as text when there are several;
    a null part counts as empty text, so rows written before a key column existed still have a key)."""
    if len(key) == 1 and pa.types.is_string(data.schema.field(key[0]).type):
        return data[key[0]].combine_chunks()
    if len(key) == 1:
        return pc.cast(data[key[0]], pa.string()).combine_chunks()
    parts = [pc.fill_null(pc.cast(data[column], pa.string()), "") for column in key]
    return pc.binary_join_element_wise(*parts, KEY_SEPARATOR).combine_chunks()


class _FileKeyCache:
    """The key values of the live rows of data files already read: a data file never changes, nor does a delete
    file, so a committer that runs again (the next window, a retry) reads only files that are new since, or
    that gained delete files."""

    def __init__(self, capacity: int = 4096):
        self.capacity, self._entries = capacity, OrderedDict()

    def get(self, iceberg: IcebergTable, path: str, key: tuple[str, ...], task=None) -> pa.Array:
        """Key values of data file ``path``; of its live rows when ``task`` (its scan task) carries deletes."""
        deletes = tuple(sorted(d.file_path for d in task.delete_files)) if task is not None else ()
        entry = self._entries.get((path, key, deletes))
        if entry is None:
            if deletes:
                entry = key_values(read_tasks(iceberg, [task], columns=key), key)
            else:
                with iceberg.io.new_input(path).open() as handle:
                    entry = key_values(pq.read_table(handle, columns=list(key)), key)
            self._entries[(path, key, deletes)] = entry
            if len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end((path, key, deletes))
        return entry


_FILE_KEYS = _FileKeyCache()
_NAMED_BY_DELETES: dict[str, frozenset[str]] = {}  # delete file -> the data files it names (files never change)


@dataclass
class _Replacement:
    """What one attempt of a commit changes besides adding the new files."""

    removed: list  # data files leaving the table
    rewritten: list  # data files holding the rows of removed ones that stay
    dropped_deletes: list  # position delete files naming removed data files
    replaced: int  # live rows the new files replace


def _without_keys(iceberg: IcebergTable, key: tuple[str, ...], new_keys: pa.Array, skip: set[str]) -> _Replacement:
    """The current data files that hold any of ``new_keys`` among their live rows, the files that replace them
    (their other live rows), and the delete files that leave with them."""
    tasks = scan_tasks(iceberg)
    removed, rewrite, replaced = [], [], 0
    for task in tasks:
        if task.file.file_path in skip:
            continue
        live_keys = _FILE_KEYS.get(iceberg, task.file.file_path, key, task)
        hits = pc.sum(pc.is_in(live_keys, value_set=new_keys)).as_py() or 0
        if not hits:
            continue
        replaced += hits
        removed.append(task)
        if hits < len(live_keys):
            rewrite.append((task, new_keys))
    dropped = []
    if any(task.delete_files for task in removed):
        dropped, more = delete_files_to_drop(
            iceberg, tasks, {normalise_uri(t.file.file_path) for t in removed}, _NAMED_BY_DELETES
        )
        removed.extend(more)
        rewrite.extend((task, None) for task in more)
    write_uuid, counter = uuid.uuid4(), itertools.count(0)  # one name sequence: files of one commit never collide
    rewritten = []
    for task, drop_keys in rewrite:
        current = read_tasks(iceberg, [task])  # deletes applied: rows another engine deleted stay deleted
        kept = (
            current
            if drop_keys is None
            else current.filter(pc.invert(pc.is_in(key_values(current, key), value_set=drop_keys)))
        )
        if kept.num_rows:
            rewritten.extend(
                _dataframe_to_data_files(iceberg.metadata, kept, iceberg.io, write_uuid=write_uuid, counter=counter)
            )
    return _Replacement([task.file for task in removed], rewritten, dropped, replaced)


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _turn(iceberg: IcebergTable):
    """This process's and (for a table on the local disk) this machine's turn to commit to the table."""
    location = normalise_uri(iceberg.location())  # Spark and pyiceberg spell one table's location differently
    with _THREAD_LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault(location, threading.Lock())
    with lock:
        if not is_local(iceberg.location()):
            yield
            return
        path = os.path.join(local_path(iceberg.location()), "metadata", ".commit.lock")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _commit(
    iceberg: IcebergTable,
    key: tuple[str, ...],
    new_files: list,
    new_keys: pa.Array,
    properties: dict,
    attempts: int,
    once_per_run: bool = False,
) -> CommitResult:
    with _turn(iceberg):
        return _commit_in_turn(iceberg, key, new_files, new_keys, properties, attempts, once_per_run)


def snapshot_of_run(iceberg: IcebergTable, run_id: str):
    """The snapshot of ``iceberg`` that run ``run_id`` committed (its ``run_id`` summary property), or None."""
    for snapshot in iceberg.metadata.snapshots:
        if snapshot.summary is not None and snapshot.summary.get("run_id") == run_id:
            return snapshot
    return None


def _commit_in_turn(
    iceberg: IcebergTable,
    key: tuple[str, ...],
    new_files: list,
    new_keys: pa.Array,
    properties: dict,
    attempts: int,
    once_per_run: bool = False,
) -> CommitResult:
    own = {data_file.file_path for data_file in new_files}
    rows_written = sum(data_file.record_count for data_file in new_files)
    last_error = None
    for attempt in range(1, attempts + 1):
        iceberg.refresh()  # the state the last writer left
        done = snapshot_of_run(iceberg, properties["run_id"]) if once_per_run else None
        if done is not None:  # another attempt of this run's commit (a retried step) committed it meanwhile
            summary = done.summary
            return CommitResult(
                iceberg.name()[-1],
                done.snapshot_id,
                int(summary.get("added-records") or 0),
                int(summary.get("deleted-records") or 0),
                int(summary.get("added-data-files") or 0),
                int(summary.get("deleted-data-files") or 0),
                attempt,
            )
        change = _without_keys(iceberg, key, new_keys, own)
        if not new_files and not change.removed:
            return CommitResult(iceberg.name()[-1], None, 0, 0, 0, 0, attempt)
        try:
            with iceberg.transaction() as transaction:
                stage_replacement(
                    transaction, change.removed, [*new_files, *change.rewritten], change.dropped_deletes, properties
                )
        except _RETRYABLE as error:
            last_error = str(error).splitlines()[0][:200]
            if isinstance(error, _CatalogBusy):
                _drop_catalog_connections(iceberg)
            for data_file in change.rewritten:
                iceberg.io.delete(data_file.file_path)
            if attempt == attempts:
                break
            time.sleep(min(5.0, 0.05 * 2**attempt) * (0.5 + random.random()))
            continue
        snapshot = iceberg.current_snapshot()
        return CommitResult(
            iceberg.name()[-1],
            snapshot.snapshot_id if snapshot else None,
            rows_written,
            change.replaced,
            len(new_files) + len(change.rewritten),
            len(change.removed),
            attempt,
        )
    raise CommitConflict(
        f"{'.'.join(iceberg.name())}: other writers kept committing or holding the catalog; gave "
        f"up after {attempts} attempts (nothing of this commit is in the table; last: {last_error})"
    )


def _drop_catalog_connections(iceberg: IcebergTable) -> None:
    """After the embedded catalog's database refused our commit as busy (another process, e.g. a Spark session,
    held it), close its pooled connections: SQLite keeps a transaction whose COMMIT failed open, so the next read
    on that connection would see our uncommitted commit as the table's state, and a later statement could still
    commit it, after its files were deleted."""
    engine = getattr(iceberg.catalog, "engine", None)
    if engine is not None:
        engine.dispose()


def _properties(properties: dict | None) -> dict[str, str]:
    return {name: str(value) for name, value in (properties or {}).items()}


def upsert_files(
    iceberg: IcebergTable,
    paths: list[str],
    key: tuple[str, ...],
    properties: dict | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    once_per_run: bool = False,
) -> CommitResult:
    """Commit data files that workers wrote (each within one partition, columns by the table's schema) as one
    snapshot; rows of the table with the same key are replaced. The files must hold each key once.

    ``once_per_run``: ``properties["run_id"]`` commits at most once; when the table has a snapshot of that run
    already (another attempt of the same commit got there first: a retried step, a recovery beside it), nothing
    is committed and that snapshot is returned. Checked in the commit's turn and again after every refused
    attempt, so two attempts racing each other commit once."""
    data_files = [parquet_file_to_data_file(iceberg.io, iceberg.metadata, path) for path in paths]
    keys = [_FILE_KEYS.get(iceberg, path, key) for path in paths]
    new_keys = pa.concat_arrays(keys) if keys else pa.array([], pa.string())
    if len(new_keys) != len(pc.unique(new_keys)):
        counts = pc.value_counts(new_keys)
        twice = [str(item["values"]) for item in counts.to_pylist() if item["counts"] > 1][:3]
        raise DuplicateKeys(
            f"{'.'.join(iceberg.name())}: the new files hold these keys more than once: {', '.join(twice)}"
        )
    return _commit(iceberg, key, data_files, new_keys, _properties(properties), attempts, once_per_run)


def last_per_key(rows: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """``rows`` with one row per key: the last one given."""
    keys = key_values(rows, key)
    if len(pc.unique(keys)) == len(keys):
        return rows
    positions = pa.table({"k": keys, "i": pa.array(range(len(keys)), pa.int64())})
    last = positions.group_by("k").aggregate([("i", "max")])["i_max"]
    return rows.take(pc.take(last, pc.sort_indices(last)))  # in the order given


def upsert_rows(
    iceberg: IcebergTable,
    rows: pa.Table,
    key: tuple[str, ...],
    properties: dict | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
) -> CommitResult:
    """Write ``rows`` (the table's columns) as data files and commit them as one snapshot, replacing the rows
    with the same key; of several given rows with one key, the last wins."""
    rows = last_per_key(rows, key)
    if not len(rows):
        return CommitResult(iceberg.name()[-1], None, 0, 0, 0, 0, 0)
    rows = rows.cast(_schema_for(iceberg, rows))
    data_files = list(_dataframe_to_data_files(iceberg.metadata, rows, iceberg.io))
    try:
        return _commit(iceberg, key, data_files, key_values(rows, key), _properties(properties), attempts)
    except BaseException:
        for data_file in data_files:
            iceberg.io.delete(data_file.file_path)
        raise


def _schema_for(iceberg: IcebergTable, rows: pa.Table) -> pa.Schema:
    """The table's writer schema for the columns ``rows`` has (a column the table has and rows lack stays null)."""
    schema = writer_schema(iceberg)
    return pa.schema([schema.field(name) for name in rows.schema.names])


def write_rows(config, table, rows, properties: dict | None = None, attempts: int = DEFAULT_ATTEMPTS) -> CommitResult:
    """Upsert ``rows`` (record dicts or Arrow, the table's columns) into warehouse table ``table``
    (a ``schemas.tables.Table``), creating the table when it does not exist: for writers outside Beam
    (the forecast job, the history generator, imports)."""
    iceberg = ensure_table(open_catalog(config), config, table)
    if not isinstance(rows, pa.Table):
        rows = schemas.arrow_table(rows, writer_schema(iceberg))
    return upsert_rows(iceberg, rows, table.key, properties, attempts)
