"""Sinks of the batch: the JSON data lake, and the data files of the warehouse and dead-letter tables, staged
until the run is committed.

Every file of a run is first written under ``OUT/_staging/<run_id>/``. Only when the whole pipeline has
succeeded, its counts balance and its quality holds does ``commit_staged`` make it visible:
- lake files (named ``<batch_id>-<input-file>-<chunk>.jsonl``) move into place, each an atomic rename, and
  files of the same batch that the run did not write again are deleted, so a rerun replaces its lake files;
- warehouse data files move into their Iceberg table's partition folder under a name of this run and are
  committed as one snapshot per table by upsert (``warehouse/commit.py``): a row with the same key from any
  earlier run, date or path is replaced, so each complaint and each dead letter is in its table once.
A failed or refused run leaves the visible output as it was. Paths go through Beam's ``FileSystems``.

Layout (OUTPUTS.md; locations and partitions from the table catalog, ``schemas/tables.py``):
  lake/raw/source=<source>/ingest_date=YYYY-MM-DD/<batch_id>-<input-file>-<chunk>.jsonl
  warehouse/complaints/event_date=YYYY-MM-DD/<run_id>-<shard>.parquet     (Iceberg data files)
  warehouse/dead_letter/ingest_date=YYYY-MM-DD/<run_id>-<shard>.parquet
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
from collections import Counter

import apache_beam as beam
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import BeamIOError, CompressionTypes
from apache_beam.io.filesystems import FileSystems

import schemas
from schemas import tables
from schemas.tables import Table
from transforms.outcomes import count_tally
from transforms.packing import GroupPacked

#: The tables a batch run writes and commits: the lake as files, the others as Iceberg tables.
LAKE_TABLES = (tables.LAKE,)
ICEBERG_TABLES = (tables.COMPLAINTS, tables.DEAD_LETTER)
LAKE_FIELDS = schemas.field_names("RawRecord")
LAKE_SOURCES = ("twitter", "webform", "sms", "phone")
#: the reason of the ``in_lake`` tallies of lake files a run staged (records read back from the lake have "")
STAGED_LAKE = "staged"


def staging_root(output_dir: str, run_id: str) -> str:
    return FileSystems.join(output_dir, "_staging", run_id)


def _slug(path: str) -> str:
    """A file-name-safe, unique form of an input path (extension kept: calls.csv and calls.xml differ). A path
    that had to be changed gets a digest of the original, so ``t 1.jsonl``, ``t-1.jsonl`` and ``t_1.jsonl`` keep
    three lake files instead of overwriting one."""
    slug = re.sub(r"[^A-Za-z0-9_.]+", "_", path).strip("_") or "input"
    if slug == path.replace("/", "_"):
        return slug
    return f"{slug}-{hashlib.sha256(path.encode('utf-8')).hexdigest()[:8]}"


def lake_line(raw_record: dict) -> bytes:
    return orjson.dumps(dict(zip(LAKE_FIELDS, map(raw_record.get, LAKE_FIELDS), strict=True))) + b"\n"


def write_parquet(path: str, rows: list[dict], schema: pa.Schema, constants: dict | None = None) -> None:
    """Write ``rows`` as a Parquet file of ``schema``. ``constants``: columns of the schema that hold one value
    in every row (a partition key), given here instead of in each row."""
    constants = constants or {}
    columns = [name for name in schema.names if name not in constants]
    table = schemas.arrow_table(rows, pa.schema([schema.field(name) for name in columns], metadata=schema.metadata))
    for name, value in sorted(constants.items(), key=lambda item: schema.get_field_index(item[0])):
        field = schema.field(name)
        table = table.add_column(schema.get_field_index(name), field, pa.array([value] * table.num_rows, field.type))
    with FileSystems.create(path) as handle:
        pq.write_table(table, handle, compression="snappy")


def lake_tally(raw_batch):
    """The ``in_lake`` tally of a batch of raw records that are in the lake already (read back from it)."""
    source = raw_batch.key[0]
    if source in LAKE_SOURCES:
        yield count_tally((source, "in_lake", ""), len(raw_batch.records))


class WriteLake(beam.PTransform):
    """Raw batches -> one JSON-lines lake file per input file chunk, verbatim records (staged); emits the tally
    ``((source, in_lake, STAGED_LAKE), lines written)`` of each file, so the manifest checks the lake holds every
    record read."""

    def __init__(self, staging: str, batch_id: str, ingest_date: dt.date):
        super().__init__()
        self.staging, self.batch_id, self.ingest_date = staging, batch_id, ingest_date

    def expand(self, raw_batches):
        staging, batch_id, ingest_date = self.staging, self.batch_id, self.ingest_date

        def write(batch):
            source, source_file, chunk = batch.key
            if source not in LAKE_SOURCES:
                return None  # reference data (the customer master) is not a channel record
            path = FileSystems.join(
                staging,
                tables.LAKE.path,
                tables.LAKE.partition_path(source, ingest_date),
                f"{batch_id}-{_slug(source_file)}-{chunk:05d}.jsonl",
            )
            lines = [lake_line(record) for record in batch.records]
            hold_staging(staging)
            with FileSystems.create(path) as handle:
                handle.write(b"".join(lines))
            return count_tally((source, "in_lake", STAGED_LAKE), len(lines))

        return (
            raw_batches
            | "WriteLakeFile" >> beam.Map(write)
            | "DropReferenceData" >> beam.Filter(lambda tally: tally is not None)
        )


def write_complaint_files(staging: str, batch_id: str, schema: pa.Schema, shard: int, rows: list[dict]) -> Counter:
    """Write one shard's warehouse rows as data files of the complaints table under ``staging``, one per
    ``event_date`` partition (the UTC date of ``event_time``), rows in ``complaint_id`` order; return the tallies
    (``(source, "written", "")`` and ``(source, "flagged", flag)``). The rows are read, never changed: the
    partition value goes into the file's column, not into the row."""
    hold_staging(staging)
    by_date: dict[dt.date, list[dict]] = {}
    for row in rows:
        by_date.setdefault(row["event_time"].date(), []).append(row)
    for event_date, date_rows in by_date.items():
        date_rows.sort(key=lambda row: row["complaint_id"])
        path = FileSystems.join(
            staging,
            tables.COMPLAINTS.path,
            tables.COMPLAINTS.partition_path(event_date),
            f"{batch_id}-{shard:05d}.parquet",
        )
        write_parquet(path, date_rows, schema, constants={"event_date": event_date})
    tallies: Counter = Counter()
    for row in rows:
        tallies[(row["source"], "written", "")] += 1
        for flag in row["flags"]:
            tallies[(row["source"], "flagged", flag)] += 1
    return tallies


class WriteComplaints(beam.PTransform):
    """(shard, [warehouse rows]) -> a data file of the complaints table per event_date partition and shard
    (staged), written with the table's ``schema``; emits tallies. Its input rows are left as they are."""

    def __init__(self, staging: str, batch_id: str, schema: pa.Schema | None = None):
        super().__init__()
        self.staging, self.batch_id = staging, batch_id
        self.schema = schema or schemas.arrow_schema("Complaint", include_partition_key=True)

    def expand(self, shards):
        staging, batch_id, schema = self.staging, self.batch_id, self.schema

        def write(keyed):
            tallies = write_complaint_files(staging, batch_id, schema, *keyed)
            yield from (count_tally(key, count) for key, count in tallies.items())

        return shards | "WriteComplaintFiles" >> beam.FlatMap(write)


def dead_letter_partition(shards: int, ingest_date: dt.date | None = None):
    """Dead letter -> (ingest_date, shard): its file. A batch gives its logical date, so its rejections land
    in the same day as its lake records whatever the wall clock; a stream leaves each record's own."""
    if ingest_date is not None:
        day = ingest_date.isoformat()
        return lambda record: (day, int(record["error_id"][-6:], 16) % shards)
    return lambda record: (record["ingest_date"].isoformat(), int(record["error_id"][-6:], 16) % shards)


class WriteDeadLetters(beam.PTransform):
    """(partition, packed dead letter) from ``PackByKey(dead_letter_partition(shards))`` -> a data file of the
    dead_letter table in its ingest_date partition, a few per run (staged); emits tallies. Packing happens
    before the Flatten of the many dead-letter outputs, so they cross it as bytes."""

    def __init__(self, staging: str, batch_id: str, schema: pa.Schema | None = None):
        super().__init__()
        self.staging, self.batch_id = staging, batch_id
        self.schema = schema or schemas.arrow_schema("DeadLetter", include_partition_key=True)

    def expand(self, packed_dead_letters):
        staging, batch_id, schema = self.staging, self.batch_id, self.schema

        def write(keyed):
            (ingest_date, shard), records = keyed
            day = dt.date.fromisoformat(ingest_date)
            records = sorted(records, key=lambda record: record["error_id"])
            for record in records:
                record["ingest_date"] = day
            path = FileSystems.join(
                staging,
                tables.DEAD_LETTER.path,
                tables.DEAD_LETTER.partition_path(ingest_date),
                f"{batch_id}-{shard:05d}.parquet",
            )
            hold_staging(staging)
            write_parquet(path, records, schema)
            tallies = Counter((r["source"], "rejected", f"{r['stage']}:{r['error_type']}") for r in records)
            yield from (count_tally(key, count) for key, count in tallies.items())

        return packed_dead_letters | "GroupByPartition" >> GroupPacked() | "WriteDeadLetterFiles" >> beam.FlatMap(write)


def _match(pattern: str) -> list[str]:
    try:
        return [metadata.path for metadata in FileSystems.match([pattern])[0].metadata_list]
    except BeamIOError:
        return []


def _mkdirs(path: str) -> None:
    try:
        FileSystems.mkdirs(path)
    except (BeamIOError, OSError):
        pass  # exists already (local), or a flat object store without directories


def committed_files(output_dir: str, table: Table, batch_id: str) -> list[str]:
    """The visible lake files of ``batch_id``, across all the lake's partitions."""
    partitions = "/".join(["*"] * len(table.partition))
    return sorted(_match(FileSystems.join(output_dir, table.path, partitions, f"{batch_id}-*")))


#: ``OUT/lake/_commits/<run_id>.json``: the journal of a run's lake commit, there from before its first lake file
#: moves until its run manifest is written. The lake files it lists are not committed while it is there: a run
#: killed during its commit leaves it behind, and the next run on the host finishes that commit from it.
LAKE_JOURNAL_DIR = "_commits"


def lake_journal_path(output_dir: str, run_id: str) -> str:
    return FileSystems.join(output_dir, tables.LAKE_DIR, LAKE_JOURNAL_DIR, f"{run_id}.json")


def plan_lake_commit(output_dir: str, staging: str, batch_id: str, read_files=None) -> dict:
    """The moves of a run's lake commit, decided once before anything moves: each staged lake file and the
    place it goes (``moves``), and the batch's earlier lake files that it replaces (``replaces``): those of the
    input files this run read (``read_files``, display paths; None: every input file of the batch) that the run
    did not write again (chunks it no longer has, or files in another ``ingest_date`` after a change of
    ``--date``). Lake files of the batch's other input files stay, so a run over part of a batch's inputs
    (``--include``) loses none of the rest."""
    prefixes = None if read_files is None else tuple(f"{batch_id}-{_slug(path)}-" for path in read_files)
    moves, replaces, counts = [], [], {}
    for table in LAKE_TABLES:
        partitions = "/".join(["*"] * len(table.partition))
        staged = sorted(_match(FileSystems.join(staging, table.path, partitions, "*")))
        targets = [
            FileSystems.join(output_dir, table.path, path[len(FileSystems.join(staging, table.path)) :].lstrip("/"))
            for path in staged
        ]
        previous = {
            path
            for path in committed_files(output_dir, table, batch_id)
            if prefixes is None or path.rsplit("/", 1)[-1].startswith(prefixes)
        }
        moves += [[source, target] for source, target in zip(staged, targets, strict=True)]
        replaces += sorted(previous - set(targets))
        counts[table.path] = len(targets)
    return {"moves": moves, "replaces": replaces, "counts": counts}


def apply_lake_commit(journal: dict) -> dict[str, int]:
    """Carry out a planned lake commit (``plan_lake_commit``); safe to repeat after an interruption: a file
    already moved is no longer staged, and a replaced file already deleted is gone."""
    pending = [(source, target) for source, target in journal["moves"] if FileSystems.exists(source)]
    for _, target in pending:
        _mkdirs(target.rsplit("/", 1)[0])
    if pending:
        FileSystems.rename([source for source, _ in pending], [target for _, target in pending])
    obsolete = [path for path in journal["replaces"] if FileSystems.exists(path)]
    if obsolete:
        FileSystems.delete(obsolete)
        _remove_empty_partitions(obsolete)
    return journal["counts"]


def write_json(path: str, document: dict, indent: int = 1) -> None:
    """Write (or replace) a JSON document atomically: a temporary file renamed over ``path``, so a reader sees
    the old document or the new one, never half of one."""
    import json

    temporary = path + ".tmp"
    with FileSystems.create(temporary) as handle:
        handle.write(json.dumps(document, indent=indent).encode("utf-8"))
    FileSystems.rename([temporary], [path])


def read_json(path: str) -> dict | None:
    """The JSON document at ``path``; None when it is missing (Beam's BeamIOError is an OSError), being written,
    or damaged."""
    import json

    try:
        with FileSystems.open(path) as handle:
            return json.loads(handle.read())
    except (OSError, ValueError):
        return None


def write_lake_journal(output_dir: str, run_id: str, journal: dict) -> None:
    path = lake_journal_path(output_dir, run_id)
    _mkdirs(path.rsplit("/", 1)[0])
    write_json(path, journal)


def read_lake_journal(output_dir: str, run_id: str) -> dict | None:
    return read_json(lake_journal_path(output_dir, run_id))


def finish_lake_commit(output_dir: str, run_id: str) -> None:
    """The run's manifest is written: its lake files are committed, and its journal goes. Files it wrote or
    replaced are no longer claimed by the journal of an earlier commit of the batch that was abandoned."""
    journal = read_lake_journal(output_dir, run_id)
    path = lake_journal_path(output_dir, run_id)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    if journal is None:
        return
    settled = {target for _, target in journal.get("moves", [])} | set(journal.get("replaces", []))
    for other in lake_journals(output_dir):
        if not other.get("abandoned"):
            continue
        left = [move for move in other.get("moves", []) if move[1] not in settled]
        if not left:
            FileSystems.delete([lake_journal_path(output_dir, other["run_id"])])
        elif len(left) < len(other.get("moves", [])):
            write_lake_journal(output_dir, other["run_id"], {**other, "moves": left})


def abandon_lake_commit(output_dir: str, run_id: str, reason: str) -> None:
    """Mark the run's lake commit as one that will not be finished (its table commit failed): its journal stays,
    so the lake files it lists stay marked uncommitted until a later commit of the batch writes them again."""
    journal = read_lake_journal(output_dir, run_id)
    if journal is not None:
        write_lake_journal(output_dir, run_id, {**journal, "abandoned": reason})


def lake_journals(output_dir: str) -> list[dict]:
    """Every lake-commit journal under ``OUT/lake/_commits`` (local output only), oldest run first."""
    import json

    root = os.path.join(output_dir, tables.LAKE_DIR, LAKE_JOURNAL_DIR)
    if "://" in output_dir or not os.path.isdir(root):
        return []
    found = []
    for name in sorted(os.listdir(root)):
        if name.endswith(".json"):
            try:
                with open(os.path.join(root, name), encoding="utf-8") as handle:
                    found.append(json.load(handle))
            except (OSError, ValueError):
                continue
    return found


def uncommitted_lake_files(output_dir: str) -> set[str]:
    """The lake files that journals list as not committed (a commit in progress, or one that could not be
    finished), as the paths ``FileSystems.match`` gives."""
    return {target for journal in lake_journals(output_dir) for _, target in journal.get("moves", [])}


def staged_data_files(output_dir: str, run_id: str, table: Table) -> list[str]:
    staging = staging_root(output_dir, run_id)
    partitions = "/".join(["*"] * len(table.partition))
    return sorted(_match(FileSystems.join(staging, table.path, partitions, "*.parquet")))


def staged_rows(output_dir: str, run_id: str) -> dict[str, int]:
    """The rows in a run's staged data files, per warehouse table (from the files' Parquet footers)."""
    rows = {}
    for table in ICEBERG_TABLES:
        rows[table.name] = 0
        for path in staged_data_files(output_dir, run_id, table):
            with FileSystems.open(path) as handle:
                rows[table.name] += pq.read_metadata(handle).num_rows
    return rows


def staged_lake_lines(output_dir: str, run_id: str) -> dict[str, int]:
    """The lines in a run's staged lake files, per source (read through, a buffer at a time)."""
    staging = staging_root(output_dir, run_id)
    lines: dict[str, int] = {}
    for table in LAKE_TABLES:
        partitions = "/".join(["*"] * len(table.partition))
        for path in _match(FileSystems.join(staging, table.path, partitions, "*")):
            source = path.rsplit("/", 3)[-3].split("=", 1)[-1]
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                while buffer := handle.read(1 << 20):
                    lines[source] = lines.get(source, 0) + buffer.count(b"\n")
    return lines


def commit_staged(
    output_dir: str,
    run_id: str,
    batch_id: str,
    catalog,
    table_schemas: dict,
    properties: dict | None = None,
    attempts: int = 8,
    read_files=None,
    manifest_draft: dict | None = None,
) -> dict:
    """Make a run's staged output visible: the lake files (replacing the batch's earlier lake files of the input
    files in ``read_files``, see ``plan_lake_commit``), then each warehouse table's data files as one
    Iceberg snapshot (upsert by the table's key) in ``catalog`` (a ``warehouse.catalog.CatalogConfig``),
    creating a table on its first commit. ``table_schemas`` are the schemas the files were written with.

    Before the first lake file moves, the commit's journal (``OUT/lake/_commits/<run_id>.json``) records every
    move, the commit's arguments and ``manifest_draft`` (the run manifest to write once committed); it stays
    until the caller has written the run manifest (``finish_lake_commit``), so a reader of the lake can tell the
    files of a commit in progress, or of one killed part-way, from committed ones. Calling this again for the
    same run (``recover_commit``) carries out the same journal: safe after an interruption at any point.

    Returns ``{"files": {table path: files committed}, "snapshots": {table: snapshot id}, "rows": ...}``.
    A data file moved but not committed is an orphan that ``complaints warehouse maintain`` removes.
    """
    from warehouse.catalog import (
        close_catalog,
        ensure_table,
        field_ids,
        file_uri,
        local_path,
        open_catalog,
        writer_schema,
    )
    from warehouse.commit import upsert_files

    staging = staging_root(output_dir, run_id)
    hold_staging(staging)
    journal = read_lake_journal(output_dir, run_id)
    if journal is None:
        import socket

        journal = {
            **plan_lake_commit(output_dir, staging, batch_id, read_files),
            "run_id": run_id,
            "batch_id": batch_id,
            "properties": properties or {},
            "attempts": attempts,
            "owner": {"host": socket.gethostname(), "pid": os.getpid()},
            "manifest_draft": manifest_draft or {},
        }
        write_lake_journal(output_dir, run_id, journal)
    files = apply_lake_commit(journal)
    snapshots, rows = {}, {}
    opened = open_catalog(catalog)
    try:
        for table in ICEBERG_TABLES:
            iceberg = ensure_table(opened, catalog, table)
            if field_ids(writer_schema(iceberg)) != field_ids(table_schemas[table.name]):
                raise RuntimeError(f"table {table.name} changed its schema while the run wrote its files: run it again")
            committed_before = snapshot_of_run(iceberg, run_id)
            if committed_before is not None:  # a commit of this run that was interrupted after this table's snapshot
                files[table.path] = int(committed_before.summary.get("added-data-files") or 0)
                snapshots[table.name] = committed_before.snapshot_id
                rows[table.name] = {
                    "written": int(committed_before.summary.get("added-records") or 0),
                    "replaced": int(committed_before.summary.get("deleted-records") or 0),
                }
                continue
            location = local_path(iceberg.location())
            staged = staged_data_files(output_dir, run_id, table)
            # an interrupted commit of this run may have moved some files already; they are not in the table yet
            targets = sorted(
                _match(FileSystems.join(location, "/".join(["*"] * len(table.partition)), f"{run_id}-*.parquet"))
            )
            moves = []
            for path in staged:
                partition, name = path.rsplit("/", 2)[-2:]
                target = FileSystems.join(location, partition, f"{run_id}-{name.split('-')[-1]}")
                _mkdirs(target.rsplit("/", 1)[0])
                moves.append(target)
            if staged:
                FileSystems.rename(staged, moves)
            targets = sorted(set(targets) | set(moves))
            result = upsert_files(
                iceberg,
                [file_uri(target) for target in targets],
                table.key,
                {**(properties or {}), "run_id": run_id},
                attempts,
                once_per_run=True,
            )
            files[table.path] = result.files_added
            snapshots[table.name] = result.snapshot_id
            rows[table.name] = {"written": result.rows_written, "replaced": result.rows_replaced}
    finally:  # once per run on a long-lived worker: its database connection goes now, not at the next collection
        close_catalog(opened)
    return {"files": files, "snapshots": snapshots, "rows": rows}


def snapshot_of_run(iceberg, run_id: str):
    """The snapshot of ``iceberg`` that run ``run_id`` committed (its ``run_id`` summary property), or None."""
    from warehouse.commit import snapshot_of_run as of_run

    return of_run(iceberg, run_id)


def _remove_empty_partitions(removed_files: list[str]) -> None:
    """Partition directories (local ones; object stores have none) that the removed files left empty."""
    for directory in sorted({path.rsplit("/", 1)[0] for path in removed_files if "://" not in path}, reverse=True):
        try:
            os.rmdir(directory)
        except OSError:
            pass  # not empty: other batches' files live there


OWNER_FILE = "_owner.json"  # in a run's staging directory: which process on which host launched it
KEPT_FILE = "_kept.json"  # in a refused or unbalanced run's staging directory: kept for inspection, and why
#: in a run's staging directory: one file per process that writes into it (``<host>-<pid>.json``)
HOLDERS_DIR = "_holders"


def claim_staging(output_dir: str, run_id: str, detached: bool = False) -> None:
    """Mark a run's staging directory as launched by this process, so a later run can tell an abandoned one; a
    ``detached`` run's (a job submitted without waiting) as its job's, which no sweep takes for abandoned: the
    job's commit step removes it."""
    import json

    owner = {**_this_process(), "detached": detached}
    if detached:
        owner["pid"] = None
    path = FileSystems.join(staging_root(output_dir, run_id), OWNER_FILE)
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(owner).encode("utf-8"))


def hold_staging(staging: str) -> None:
    """Name this process (host, pid namespace and pid) in ``staging`` as one of the job's that write into it or
    commit it, before it does: while it lives, no sweep takes the staging for abandoned, whether or not the
    launcher lives on (``sweep_abandoned_staging``). Once per process and staging directory; staging on object
    storage is never swept, so nothing is written there."""
    import json

    if "://" in staging:
        return
    me = _this_process()
    path = os.path.join(staging, HOLDERS_DIR, f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', me['host'])}-{me['pid']}.json")
    for _ in range(3):  # a sweep that moved a dead job's staging aside just now: this process starts it again
        if os.path.exists(path):
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(me, handle)
            return
        except FileNotFoundError:
            continue
    raise OSError(f"could not name this process in the staging directory {staging}")


def _this_process() -> dict:
    """This process as a staging directory names its holders: a pid means this process only on this host and in
    this pid namespace (a container's pids are not its host's)."""
    import socket

    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = None
    return {"host": socket.gethostname(), "pid_namespace": namespace, "pid": os.getpid()}


def keep_staging(output_dir: str, run_id: str, reason: str) -> None:
    """Keep a run's staged output for inspection (a refused or unbalanced run): sweeps leave it alone."""
    import json

    path = FileSystems.join(staging_root(output_dir, run_id), KEPT_FILE)
    with FileSystems.create(path) as handle:
        handle.write(json.dumps({"reason": reason[:2000]}).encode("utf-8"))


def sweep_abandoned_staging(output_dir: str) -> list[str]:
    """Remove the staging directories of runs that no process can still use, except those kept for inspection;
    returns the run ids removed. Local output only.

    A run's staging is abandoned when its launcher (``claim_staging``) and every process of its job that wrote
    into it (``hold_staging``) ran on this host and are gone, and no lake commit of it is to be finished (its
    journal). A launcher stopped by Ctrl-C or killed while its job runs on (Prism, Flink) leaves the job's
    workers alive: their staging stays. A detached run's, a process of another host's, or one whose liveness
    cannot be judged (someone else's) stays too. A staging directory is moved aside before it is removed and
    judged again there, so a process that names itself in it meanwhile gets it back."""
    root = os.path.join(output_dir, "_staging")
    if "://" in output_dir or not os.path.isdir(root):
        return []
    removed = []
    for run_id in sorted(os.listdir(root)):
        if run_id.startswith("."):
            continue  # a sweep's own directory
        staging = os.path.join(root, run_id)
        if not _abandoned(output_dir, run_id, staging):
            continue
        aside = os.path.join(root, f".sweeping-{run_id}-{os.getpid()}")
        try:
            os.rename(staging, aside)
        except OSError:
            continue  # gone already (another sweep), or not movable: leave it
        if _abandoned(output_dir, run_id, aside):
            shutil.rmtree(aside, ignore_errors=True)
            removed.append(run_id)
        else:
            _move_back(aside, staging)
    return removed


def _abandoned(output_dir: str, run_id: str, staging: str) -> bool:
    """Whether no process can still use ``staging`` (see ``sweep_abandoned_staging``)."""
    import json

    if os.path.exists(os.path.join(staging, KEPT_FILE)):
        return False
    processes = []
    holders = os.path.join(staging, HOLDERS_DIR)
    names = [OWNER_FILE] + (
        [os.path.join(HOLDERS_DIR, name) for name in os.listdir(holders)] if os.path.isdir(holders) else []
    )
    for name in names:
        try:
            with open(os.path.join(staging, name), encoding="utf-8") as handle:
                processes.append(json.load(handle))
        except (OSError, ValueError):
            return False  # not claimed (yet, or by an older version), or being written: leave it
    if not all(isinstance(p, dict) and _gone_from_here(p) for p in processes):
        return False
    journal = read_lake_journal(output_dir, run_id)
    # a commit in progress or to be finished (``batch.recover_interrupted_commits``) needs it
    return journal is None or bool(journal.get("abandoned"))


def _gone_from_here(process: dict) -> bool:
    """Whether ``process`` (``{"host", "pid", "pid_namespace"}``) ran here and has ended; one of another host, or
    of another pid namespace (a launcher's older record has none), cannot be judged: it is not gone."""
    me = _this_process()
    if process.get("host") != me["host"]:
        return False
    if "pid_namespace" in process and process["pid_namespace"] != me["pid_namespace"]:
        return False
    return not process_alive(process.get("pid"))


def _move_back(aside: str, staging: str) -> None:
    """Put a staging directory that a sweep had moved aside back where its job writes. If the job has written
    there meanwhile, each file goes back beside those; one it has written again stays aside (never deleted)."""
    try:
        os.rename(aside, staging)
        return
    except OSError:
        pass  # the job made the directory again meanwhile
    for directory, _, files in os.walk(aside):
        for name in files:
            source = os.path.join(directory, name)
            target = os.path.join(staging, os.path.relpath(source, aside))
            if not os.path.exists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.rename(source, target)
    for directory, _, _ in sorted(os.walk(aside), key=lambda entry: -len(entry[0])):
        try:
            os.rmdir(directory)
        except OSError:
            pass  # a file the job wrote again: it stays aside


def process_alive(pid) -> bool:
    """Whether process ``pid`` runs on this host; one that cannot be judged (someone else's, not a pid) counts
    as alive, so nothing of it is taken for abandoned. A zombie (ended, not yet reaped: a killed launcher's
    worker whose new parent has not waited for it) has ended: it writes nothing more."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError, OverflowError):
        return True
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]  # the field after the command name in parentheses
    except (OSError, IndexError):
        return True  # no /proc (not Linux): alive, as os.kill said
    return state != "Z"


def discard_staging(output_dir: str, run_id: str) -> None:
    staging = staging_root(output_dir, run_id)
    if FileSystems.exists(staging):
        FileSystems.delete([staging])
    parent = FileSystems.join(output_dir, "_staging")
    if "://" not in parent:
        try:
            os.rmdir(parent)  # only when no other run is staging
        except OSError:
            pass
