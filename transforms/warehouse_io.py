"""The writers that end a batch pipeline: ``WriteToLake`` and ``WriteToWarehouse``, whose last step commits.

A run writes every file under ``OUT/_staging/<run_id>/`` first (``transforms/sinks.py``). ``WriteToWarehouse``
then runs ONE step after all of them are written (Beam's finalize pattern: the tallies every writer emits once
its files are closed are summed into a single element, so the step cannot start before the last file is
written). That step checks the balance (every record read is in the warehouse, a dead letter or a counted
duplicate, and verbatim in the lake) and the quality guard (``QualityLimits``, ``transforms/run_checks.py``),
commits the lake files and one Iceberg snapshot per table by upsert, and writes the run manifest
(``OUT/_runs/<run_id>.json``)::

    raw = p | ReadFromChannelFiles("in/")
    in_lake = raw | WriteToLake("out", run_id=run_id)
    stage | WriteToWarehouse("out/warehouse", run_id=run_id, lake=in_lake)

The commit is idempotent: each snapshot carries the run id in its summary (``sinks.snapshot_of_run``), and a
table that has the run's snapshot is not committed again; a run whose manifest says ``succeeded`` is not
committed again at all. A runner that retries the step (a worker lost after committing) or a second pipeline
run with the same run id therefore leaves each row once and one snapshot per table.

How a run that is not committed shows: its manifest says ``unbalanced``, ``refused`` (``broken_stage`` true when
the refusal is a bug's unexpected errors) or ``failed`` (``commit_failed`` true, after the catalog refused the
commit), and a refused or unbalanced run keeps its staged output for inspection. Then, by default
(``fail_pipeline``), the commit step raises the matching exception of ``transforms.run_checks``, so the pipeline
fails: ``wait_until_finish`` raises on a local runner, a Flink job ends FAILED, a Dataflow job ends Failed with
the step's error in its log (Dataflow retries a failed step: each retry reaches the same verdict and commits
nothing; a commit the catalog refused is tried again from its journal). A launcher that waits and reads the
manifest (``complaints batch``) turns that off: the job succeeds, and the launcher maps the manifest's status to
its exit code.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from schemas import tables
from transforms import run_manifests, sinks
from transforms.packing import PackByKey
from transforms.run_checks import (
    BrokenStage,
    CommitFailed,
    QualityLimits,
    RefusedRun,
    RunIdReused,
    UnbalancedRun,
    check_quality,
    guard_verdict,
    quality_warnings,
    reject_guard,
    summarise_counts,
)
from transforms.stages import (
    BATCHED,
    CHAIN,
    LIVE,
    EnrichedBatch,
    check_argument,
    merge_flattened_shards,
    refuse_other_stages,
    refuse_tallies_counted_twice,
    runs_read,
)
from warehouse.runs import new_run_id  # re-exported: the one run-id function

#: the manifest statuses of a run that ended without committing
NOT_COMMITTED = ("unbalanced", "refused", "failed")
DEFAULT_COMMIT_ATTEMPTS = 8
DEFAULT_DEAD_LETTER_FILES = 2  # per ingest_date partition


def catalog_of(catalog):
    """``catalog`` as a ``warehouse.catalog.CatalogConfig``: one already, or the directory of an embedded
    (SQLite) catalog, e.g. ``out/warehouse``."""
    from warehouse.catalog import CatalogConfig

    if isinstance(catalog, CatalogConfig):
        return catalog
    if isinstance(catalog, str) and catalog:
        return CatalogConfig(catalog.rstrip("/"))
    raise TypeError(f"catalog must be a warehouse.catalog.CatalogConfig or a warehouse directory, not {catalog!r}")


def default_table_schemas() -> dict:
    """The schema each warehouse table's data files are written with when the caller gives none: the field ids
    a new table gets from its record schema. Opens no catalog; the commit step refuses files whose ids differ
    from the table's (a table evolved since): give ``warehouse.catalog.writer_schemas`` then."""
    from warehouse.catalog import _writer_schema_of, iceberg_schema

    return {table.name: _writer_schema_of(iceberg_schema(table)) for table in sinks.ICEBERG_TABLES}


def _check_date(transform: str, name: str, value) -> None:
    """A partition date argument: a ``datetime.date`` (not a datetime, whose day depends on its zone) or None."""
    if isinstance(value, dt.datetime):
        raise TypeError(f"{transform}: {name} must be a datetime.date or None, not the datetime {value!r}")
    check_argument(transform, name, value, (dt.date, type(None)), "a datetime.date or None")


def lake_input(pvalueish) -> beam.PCollection:
    """What ``WriteToLake`` writes: a reader's ``raw_batches`` (given as such, or as the reader's result), checked
    when the pipeline is built: complaints of the chain (``read.complaints``, a Stage) are not raw records."""
    raw_batches = getattr(pvalueish, "raw_batches", pvalueish)
    given = getattr(raw_batches, "element_type", None)
    chain_types = tuple(row[column] for row in CHAIN for column in (BATCHED, LIVE))
    if not isinstance(raw_batches, beam.PCollection) or (isinstance(given, type) and issubclass(given, chain_types)):
        what = getattr(given, "__name__", None) or type(pvalueish).__name__
        raise TypeError(
            f"WriteToLake() takes the raw records a reader read (read.raw_batches, or the reader's result), "
            f"not {what}: the lake keeps records as read, before parsing"
        )
    return raw_batches


class WriteToLake(beam.PTransform):
    """Writes raw record batches to the JSON lake, staged until ``WriteToWarehouse`` commits the run.

    Takes ``transforms.packing.RecordBatch`` elements of raw records keyed ``(source, input file, chunk)`` (what
    the readers emit as ``raw_batches``; a reader's whole result is taken too, and a Stage's complaints refused
    when the pipeline is built); reference data (the customer master) is not written. Each batch becomes one JSON-lines
    file ``lake/raw/source=<source>/ingest_date=<date>/<batch_id>-<input file>-<chunk>.jsonl`` in the run's
    staging directory, records verbatim. Nothing is visible before the commit.

    Emits the tally ``((source, "in_lake", "staged"), lines written)`` of every file: hand it to
    ``WriteToWarehouse(lake=...)``, whose balance check then proves the lake holds every record read.

    Args:
      output_dir: the outputs' root (the lake goes under ``output_dir/lake``, staging under ``_staging``).
      run_id: the run whose commit makes the files visible: the same as ``WriteToWarehouse``'s.
      batch_id: names the lake files; a later run of the same batch replaces them (default: ``run_id``).
      ingest_date: the lake partition (default: today, UTC, when the pipeline is built).
    """

    def __init__(
        self, output_dir: str, *, run_id: str, batch_id: str | None = None, ingest_date: dt.date | None = None
    ):
        super().__init__()
        check_argument("WriteToLake()", "run_id", run_id, (str,), "the run's id, a str")
        _check_date("WriteToLake()", "ingest_date", ingest_date)
        self.output_dir, self.run_id = output_dir.rstrip("/"), run_id
        self.batch_id = batch_id or run_id
        self.ingest_date = ingest_date or dt.datetime.now(dt.UTC).date()

    def expand(self, raw_batches):
        raw_batches = lake_input(raw_batches)
        return raw_batches | "WriteLakeFiles" >> sinks.WriteLake(
            sinks.staging_root(self.output_dir, self.run_id), self.batch_id, self.ingest_date
        )


@dataclass(frozen=True)
class RunCommit:
    """The commit step's logic, a plain callable (``WriteToWarehouse`` runs it once, on the run's summed
    tallies): balance, quality guard, lake and table commit, run manifest. Safe to call again for the same run
    (a retried step): see ``__call__``."""

    catalog: object  # warehouse.catalog.CatalogConfig
    output_dir: str
    run_id: str
    batch_id: str
    table_schemas: dict
    quality: QualityLimits = field(default_factory=QualityLimits)  # what the run must meet to be committed
    manifest: dict = field(default_factory=dict)  # what the manifest says of the run besides its outcome
    properties: dict = field(default_factory=dict)  # the snapshots' summary properties (run_id always)
    attempts: int = DEFAULT_COMMIT_ATTEMPTS
    read_files: tuple | None = None  # the input files (display paths) whose earlier lake files the run replaces
    with_lake: bool = True
    fail_pipeline: bool = True  # a run not committed raises (fails the step), after its manifest says why

    def __call__(self, tallies) -> dict:
        """Commit the run whose tallies (``((source, outcome, reason), count)``, summed) are given; return its
        manifest. A run not committed raises ``UnbalancedRun``, ``RefusedRun`` (``BrokenStage``) or
        ``CommitFailed`` after writing a manifest that says so (with ``fail_pipeline`` false, returns that
        manifest). A run whose manifest says ``succeeded`` already is not committed again (what it staged again
        is discarded), unless its counts differ from this call's: then another run is using its id, and this
        raises ``RunIdReused`` (always), keeping what was staged; a table that has this run's snapshot is not
        committed to again."""
        staging = sinks.staging_root(self.output_dir, self.run_id)
        sinks.hold_staging(staging)  # while this step reads and commits it, no relaunch's sweep takes it
        rows = [{"source": s, "outcome": o, "reason": r, "count": n} for (s, o, r), n in sorted(tallies)]
        counts = summarise_counts(rows, self.with_lake)
        done = run_manifests.read_manifest(self.output_dir, self.run_id)
        if done is not None and done.get("status") == "succeeded":
            if json.loads(json.dumps(counts)) != done.get("counts"):  # a retry counts what the run counted
                reason = (
                    f"run {self.run_id} was committed already, with other counts: give this run a run id "
                    "of its own (transforms.warehouse_io.new_run_id)"
                )
                sinks.keep_staging(self.output_dir, self.run_id, reason)
                raise RunIdReused(reason)
            sinks.finish_lake_commit(self.output_dir, self.run_id)  # an attempt lost right after the manifest
            sinks.discard_staging(self.output_dir, self.run_id)
            return done
        quality = self.quality
        manifest = self._outcome_free_manifest(counts)
        reason = "counts did not balance"
        if sinks.read_lake_journal(self.output_dir, self.run_id) is None:  # no earlier attempt moved a file yet
            # the rows in the files are the rows counted: none lost to a file written over another
            counted = {
                tables.COMPLAINTS.name: sum(entry.get("written", 0) for entry in counts.values()),
                tables.DEAD_LETTER.name: sum(entry["rejected"] for entry in counts.values()),
            }
            staged_rows = sinks.staged_rows(self.output_dir, self.run_id)
            manifest.update(staged_rows=staged_rows, counted_rows=counted)
            if staged_rows != counted:
                manifest["balanced"] = False
                reason = (
                    f"the staged data files hold {staged_rows} rows, the writers counted {counted}: "
                    "a file was written over another (two batches of one shard?)"
                )
            # and the lines in the staged lake files are the lines WriteToLake counted
            counted_lines = {s: n for (s, o, r), n in sorted(tallies) if o == "in_lake" and r == sinks.STAGED_LAKE}
            staged_lines = sinks.staged_lake_lines(self.output_dir, self.run_id) if self.with_lake else {}
            manifest.update(staged_lake_lines=staged_lines, counted_lake_lines=counted_lines)
            if {s: n for s, n in staged_lines.items() if n} != {s: n for s, n in counted_lines.items() if n}:
                manifest["balanced"] = False
                reason = (
                    f"the staged lake files hold {staged_lines} lines, WriteToLake counted {counted_lines}: "
                    f"was it given another output directory or run id than this writer "
                    f"({self.output_dir}, {self.run_id})?"
                )
        guard = reject_guard(counts, quality)
        if not manifest["balanced"]:
            sinks.keep_staging(self.output_dir, self.run_id, reason)
            run_manifests.write_manifest(
                self.output_dir,
                {**manifest, "status": "unbalanced", "reason": reason, "guard": guard, "staging": staging},
            )
            return self._not_committed(UnbalancedRun(f"{reason}: {json.dumps(counts)}"))
        warnings = quality_warnings(counts, quality)
        try:
            check_quality(counts, quality, staging)
        except RefusedRun as refused:
            sinks.keep_staging(self.output_dir, self.run_id, str(refused))
            run_manifests.write_manifest(
                self.output_dir,
                {
                    **manifest,
                    "status": "refused",
                    "refused_because": str(refused),
                    "broken_stage": isinstance(refused, BrokenStage),
                    "guard": {**guard, "verdict": str(refused)},
                    "quality_warnings": warnings,
                    "staging": staging,
                },
            )
            return self._not_committed(refused)
        draft = {
            **manifest,
            "status": "succeeded",
            "quality_warnings": warnings,
            "guard": {**guard, "verdict": guard_verdict(guard)},
        }
        try:
            committed = sinks.commit_staged(
                self.output_dir,
                self.run_id,
                self.batch_id,
                self.catalog,
                self.table_schemas,
                {**self.properties, "run_id": self.run_id},
                self.attempts,
                read_files=self.read_files,
                manifest_draft=draft,
            )
        except Exception as error:  # noqa: BLE001 - whatever the catalog raised, the manifest says it in one line
            reason = (
                f"the pipeline ran and its counts balance, but committing to the warehouse tables failed "
                f"({type(error).__name__}: {str(error)[:300]}); the tables are at their previous snapshot: "
                "run the batch again (it replaces, never duplicates)"
            )
            run_manifests.write_manifest(
                self.output_dir, {**draft, "status": "failed", "reason": reason, "commit_failed": True}
            )
            return self._not_committed(CommitFailed(reason), error)
        final = {
            **draft,
            "committed_files": committed["files"],
            "snapshots": committed["snapshots"],
            "committed_rows": committed["rows"],
            "committed_at": dt.datetime.now(dt.UTC).isoformat(),
        }  # --as-of this reads the run
        run_manifests.write_manifest(self.output_dir, final)
        sinks.finish_lake_commit(self.output_dir, self.run_id)
        sinks.discard_staging(self.output_dir, self.run_id)
        return final

    def _not_committed(self, why: Exception, cause: Exception | None = None) -> dict:
        """The end of a run that was not committed, once its manifest says why: raise ``why`` (the step and so
        the pipeline fail), or return the manifest to a launcher that reads it (``fail_pipeline`` false)."""
        if self.fail_pipeline:
            raise why from cause
        return run_manifests.read_manifest(self.output_dir, self.run_id)

    def _outcome_free_manifest(self, counts: dict) -> dict:
        """The manifest's fields that do not depend on the outcome: the run (``manifest``), its counts, when."""
        finished_at = dt.datetime.now(dt.UTC)
        manifest = {"run_id": self.run_id, "batch_id": self.batch_id, **self.manifest}
        started = manifest.get("started_at")
        if started:
            manifest["duration_seconds"] = round((finished_at - dt.datetime.fromisoformat(started)).total_seconds(), 3)
        balanced = all(entry["balanced"] for entry in counts.values())
        return {
            **manifest,
            "finished_at": finished_at.isoformat(),
            "counts": counts,
            "balanced": balanced,
            "committed_files": {},
            "snapshots": {},
            "committed_rows": {},
        }


class WriteToWarehouse(beam.PTransform):
    """Writes a stage's complaints and dead letters to the warehouse's Iceberg tables and commits the run.

    Takes a ``transforms.stages.Stage`` (or anything with its three fields): ``complaints`` as
    ``RecordBatch`` shards of enriched complaint rows (every copy of a complaint_id in one shard),
    ``dead_letters`` as dead-letter rows, ``tallies`` as ``((source, outcome, reason), count)``. The input must
    be bounded (a batch; in any windows, the run is committed as a whole): an unbounded one is refused with
    ``ValueError`` when the pipeline is built, and so (``TypeError``) are complaints of the chain that have not
    been through ``Enrich`` (``read | Clean() | Validate() | Dedupe() | WriteToWarehouse(...)``) and (``ValueError``)
    a reader's result that reaches the writer along two paths (its records would be counted twice). Several
    chains' enriched Stages flattened are merged per shard.

    Writes the data files of the ``complaints`` table (per shard and ``event_date``) and of the ``dead_letter``
    table (a few per ``ingest_date``) into the run's staging directory, then one commit step after all of them
    are written. That step sums every tally, checks that the counts balance (with the lake's ``in_lake``
    tallies when ``lake`` is given) and the quality guard, commits the staged lake files and one snapshot per
    table by upsert on the table's key (a row of any earlier run with the same key is replaced), and writes the
    run manifest ``<output_dir>/_runs/<run_id>.json``. The snapshots carry ``run_id`` in their summary, so the
    step is idempotent: retried, or run again with the same ``run_id``, it commits nothing twice.

    A run that does not balance or that the guard refuses commits nothing, keeps its staged output for
    inspection, says why in its manifest and fails the pipeline (``UnbalancedRun``, ``RefusedRun``); a commit
    the catalog refuses fails it with ``CommitFailed``.

    Emits one element: the run manifest (a dict) of a committed run (or, ``fail_pipeline`` false, of any run).

    Args:
      catalog: the warehouse's Iceberg catalog: a ``warehouse.catalog.CatalogConfig`` (what
        ``beam_pipelines.parameters.catalog_config`` gives for a profile: the embedded one or a named, shared
        one that every worker can open), or the directory of an embedded SQLite catalog (``out/warehouse``).
        The commit step opens it on the worker that runs it; a shared catalog's password is found there
        (``CatalogConfig.password_env``, ``password_file``, libpq's own places). A URI holding a password is
        pickled with the pipeline as it is, with a warning.
      run_id: the run; the same as ``WriteToLake``'s. Default: the run id the readers stamped the records with
        (a new one for complaints that did not come from this library's readers). A run id other than the
        readers' is refused when the pipeline is built (``ValueError``), so every row and dead letter names
        the run committed. One id names one run: a pipeline reusing a committed run's id over other records
        fails its commit step (``RunIdReused``).
      output_dir: where staging, the lake and ``_runs`` are (default: the catalog directory's parent).
      batch_id: the batch the run belongs to (default: ``run_id``); names the staged files.
      batch_date: the ``ingest_date`` partition of the dead letters (default: today, UTC, at build time).
      lake: the ``in_lake`` tallies ``WriteToLake`` emitted (or, for records read back from the lake,
        their count): the run commits those lake files and its balance requires every record read in the
        lake. None: the run writes no lake and its balance does not look for one.
      quality: the limits the run must meet to be committed, a ``transforms.run_checks.QualityLimits`` (default:
        its documented defaults; a profile's ``[quality]`` section is one).
      manifest: fields the run manifest records as given (the launcher's plan: input files, options, versions).
      table_schemas: the Arrow schema each table's files are written with, by table name (default: the
        record schemas' ids, ``default_table_schemas``; a launcher gives ``warehouse.catalog.writer_schemas``).
      commit_attempts: how often a commit that another writer beat is redone from the table's new state.
      read_files: the input files (paths relative to the input directory) whose earlier lake files of the
        batch the run replaces (default: all of the batch's).
      dead_letter_files: dead-letter data files per ``ingest_date`` partition.
      properties: more snapshot summary properties (``run_id`` and ``batch_id`` are always there).
      fail_pipeline: a run not committed fails the commit step, and so the pipeline, once its manifest says
        why (default). False: the step emits that manifest and the pipeline succeeds; for a launcher that waits
        and reads the manifest itself (``complaints batch``), so the runner logs no error for a verdict.
    """

    def __init__(
        self,
        catalog,
        *,
        run_id: str | None = None,
        output_dir: str | None = None,
        batch_id: str | None = None,
        batch_date: dt.date | None = None,
        lake=None,
        quality: QualityLimits | None = None,
        manifest: dict | None = None,
        table_schemas: dict | None = None,
        commit_attempts: int = DEFAULT_COMMIT_ATTEMPTS,
        read_files=None,
        dead_letter_files: int = DEFAULT_DEAD_LETTER_FILES,
        properties: dict | None = None,
        fail_pipeline: bool = True,
    ):
        super().__init__()
        # refused here, not by the commit step once every file is written (it would fail with no manifest)
        check_argument("WriteToWarehouse()", "quality", quality, (QualityLimits, type(None)), "a QualityLimits or None")
        _check_date("WriteToWarehouse()", "batch_date", batch_date)
        if lake is not None and not run_id:
            raise ValueError(
                "WriteToWarehouse(lake=...) needs the run_id given to WriteToLake: the run's commit "
                "moves the lake files that run staged"
            )
        from warehouse.catalog import warn_if_password_travels

        self.catalog = catalog_of(catalog)
        warn_if_password_travels(self.catalog, "WriteToWarehouse")
        self._run_id_given, self._batch_id_given = run_id, batch_id
        self.run_id = run_id or new_run_id()
        warehouse_dir = self.catalog.warehouse_dir
        self.output_dir = (output_dir or (warehouse_dir.rsplit("/", 1)[0] if "/" in warehouse_dir else ".")).rstrip(
            "/"
        ) or "/"
        self.batch_id = batch_id or self.run_id
        self.batch_date = batch_date or dt.datetime.now(dt.UTC).date()
        self.lake, self.manifest = lake, dict(manifest or {})
        self.quality = quality if quality is not None else QualityLimits()
        self.table_schemas = table_schemas or default_table_schemas()
        self.commit_attempts, self.dead_letter_files = commit_attempts, dead_letter_files
        self.read_files = None if read_files is None else tuple(read_files)
        self.fail_pipeline = fail_pipeline
        self.properties = {"batch_id": self.batch_id, "batch_date": self.batch_date.isoformat(), **(properties or {})}

    def _commit_the_run_read(self, run_ids: list[str]) -> None:
        """Commit the run the records were read as (their rows and dead letters name it): without a ``run_id``,
        take the readers' one; refuse, when the pipeline is built, a ``run_id`` other than theirs, or readers of
        several runs (rows naming a run that no manifest or snapshot names)."""
        if not run_ids or run_ids == [self.run_id]:
            return
        if self._run_id_given is None and len(run_ids) == 1:
            self.run_id = run_ids[0]
            if self._batch_id_given is None:
                self.batch_id = self.run_id
                self.properties["batch_id"] = self.batch_id
            return
        raise ValueError(
            f"WriteToWarehouse would commit run {self.run_id}, but its records were read as run "
            f"{', '.join(run_ids)}: give the readers and both writers one run_id (new_run_id())"
        )

    def commit_step(self) -> RunCommit:
        """The logic of this writer's commit step (what a test or a recovery calls without a pipeline)."""
        return RunCommit(
            self.catalog,
            self.output_dir,
            self.run_id,
            self.batch_id,
            self.table_schemas,
            self.quality,
            {"batch_date": self.batch_date.isoformat(), **self.manifest},
            self.properties,
            self.commit_attempts,
            self.read_files,
            self.lake is not None,
            self.fail_pipeline,
        )

    def expand(self, stage):
        inputs = {
            "complaints": stage.complaints,
            "dead_letters": stage.dead_letters,
            "tallies": stage.tallies,
            **({"lake": self.lake} if self.lake is not None else {}),
        }
        unbounded = [name for name, pcoll in inputs.items() if not pcoll.is_bounded]
        if unbounded:  # each pane would commit part of the run, and the first one's manifest discard the rest
            raise ValueError(
                f"WriteToWarehouse commits a run once, after all of it is written: it needs a bounded "
                f"input, and {', '.join(unbounded)} is unbounded; a stream commits its windows with "
                "transforms.windowed_sinks.CommitWindowedRows"
            )
        # complaints the chain has not enriched (Enrich() forgotten) would fail only when their files are written
        refuse_other_stages(stage, "WriteToWarehouse()", EnrichedBatch)
        refuse_tallies_counted_twice(stage.tallies, "WriteToWarehouse()")
        self._commit_the_run_read(sorted(runs_read(stage.tallies)))
        staging = sinks.staging_root(self.output_dir, self.run_id)
        # several chains' Stages flattened (a model per channel, say): one batch per shard key, one file each
        complaints = merge_flattened_shards(stage.complaints)
        written = complaints | "WriteComplaints" >> sinks.WriteComplaints(
            staging, self.batch_id, self.table_schemas.get(tables.COMPLAINTS.name)
        )
        rejected = (
            stage.dead_letters
            # one file per partition and shard for the whole run, not one per window or pane of the caller's
            | "DeadLettersOfWholeRun" >> beam.WindowInto(GlobalWindows())
            | "PackDeadLetters" >> PackByKey(sinks.dead_letter_partition(self.dead_letter_files, self.batch_date))
            | "WriteDeadLetters"
            >> sinks.WriteDeadLetters(staging, self.batch_id, self.table_schemas.get(tables.DEAD_LETTER.name))
        )
        tallies = [stage.tallies, written, rejected] + ([self.lake] if self.lake is not None else [])
        # the run's tallies in one window whatever windows the caller gave them: one sum, one commit
        tallies = [pcoll | f"WholeRun{i}" >> beam.WindowInto(GlobalWindows()) for i, pcoll in enumerate(tallies)]
        return (
            tallies
            | "AllTallies" >> beam.Flatten()
            | "SumTallies" >> beam.CombinePerKey(sum)
            # one element, only once every writer above has closed its files: the commit's trigger
            | "AfterEveryFileIsWritten" >> beam.combiners.ToList()
            | "CommitRun" >> beam.Map(self.commit_step())
        )
