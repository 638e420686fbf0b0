"""The batch pipeline: a day's channel files -> lake, warehouse, dead letter and run manifest.

``build_batch_pipeline`` wires the graph from the composable transforms, ending in ``WriteToLake`` and
``WriteToWarehouse``, whose last step checks that the counts balance and the quality holds, commits the staged
output (one snapshot per table, by upsert) and writes the run manifest (``transforms/warehouse_io.py``).
``run_batch`` is the launcher: it discovers the input, opens the warehouse's Iceberg tables, finishes commits a
killed run left half-done, runs the graph, waits, and returns the manifest the pipeline wrote (or raises what
it says).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.runners.runner import PipelineState

import schemas
from beam_pipelines import __version__, run_records
from beam_pipelines.config import Settings
from beam_pipelines.input_days import day_named_by
from beam_pipelines.parameters import catalog_config, contact_token_key_for_workers, validation_rules
from beam_pipelines.progress import ProgressReporter
from models.rules import RulesModel
from runners.options import LOCAL_RUNNERS, build_options, local_runner_options, make_runner
from transforms import Clean, Dedupe, Enrich, ReadFromChannelFiles, Validate, run_manifests, sinks
from transforms.run_checks import (  # noqa: F401 - re-exported: the CLI's exit-code mapping and callers read them here
    BrokenStage,
    CommitFailed,
    RefusedRun,
    UnbalancedRun,
    check_quality,
    guard_verdict,
    quality_warnings,
    reject_guard,
    summarise_counts,
    unexpected_errors,
    wilson_lower_bound,
)
from transforms.sources.files import ReadRawBatches
from transforms.sources.lake import ReadLakeBatches
from transforms.sources.layout import (  # noqa: F401 - the benchmark floor's check reads them here
    BYTES_PER_SHARD,
    MIN_SHARDS,
    InputFile,
    default_batch_id,
    default_shards,
    discover_inputs,
    ignored_inputs,
)
from transforms.warehouse_io import NOT_COMMITTED, WriteToLake, WriteToWarehouse
from warehouse.runs import new_run_id

DEAD_LETTER_FILES = 2  # per ingest_date partition and batch
GZIP_RATIO = 8  # about how much larger the channels' JSON, CSV and text are than their gzip files


class InputError(Exception):
    """The input cannot be used (missing directory, no channel files)."""


@dataclass
class BatchPlan:
    input_dir: str
    output_dir: str
    batch_date: dt.date
    batch_id: str
    run_id: str
    started_at: dt.datetime
    files: list[InputFile]
    shards: int
    runner: str
    beam_args: list[str] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)  # files in the channel folders that are not read, and why
    #: the Arrow schema (with Iceberg field ids) each warehouse table's data files are written with
    table_schemas: dict = field(default_factory=dict)
    include: list[str] = field(default_factory=list)  # --include patterns that selected the files (none: all)
    #: the inputs are lake files read back (``complaints batch --from-lake``): nothing is written to the lake again
    from_lake: bool = False
    #: the local runner's options the run used (the profile's, or one process for a small input); {} elsewhere
    runner_options: dict = field(default_factory=dict)
    #: submitted without waiting (``--detach``): a run not committed fails the job, as nobody reads its manifest
    detached: bool = False

    @property
    def input_bytes(self) -> int:
        """The input's size as data: a gzip file counts ``GZIP_RATIO`` times its size on disk."""
        return sum(f.size * (GZIP_RATIO if f.path.endswith(".gz") else 1) for f in self.files)


def plan_batch(
    input_dir: str,
    output_dir: str,
    settings: Settings,
    *,
    batch_date: dt.date | None = None,
    batch_id: str | None = None,
    runner: str = "DirectRunner",
    beam_args=(),
    include: list[str] | None = None,
) -> BatchPlan:
    if "://" not in input_dir and not os.path.isdir(input_dir):
        raise InputError(f"input directory {input_dir} does not exist")
    files = discover_inputs(input_dir, include)
    if not any(f.source != "customers" for f in files):
        if include:
            raise InputError(f"no channel files under {input_dir} match --include {' '.join(include)}")
        raise InputError(f"no channel files under {input_dir} (expected twitter/, webforms/, sms/, phone_logs/)")
    started_at = dt.datetime.now(dt.UTC)
    # default: the day the channel files are named for (a day's delivery run the next morning is that day's)
    batch_date = (
        batch_date
        or day_named_by((f.display_path, f.size) for f in files if f.source != "customers")
        or started_at.date()
    )
    batch_id = batch_id or default_batch_id(input_dir, batch_date)
    return BatchPlan(
        input_dir,
        output_dir,
        batch_date,
        batch_id,
        new_run_id(started_at),
        started_at,
        files,
        shard_count(settings, files),
        runner,
        list(beam_args),
        ignored_inputs(input_dir, files, include),
        include=list(include or []),
    )


def shard_count(settings: Settings, files: list[InputFile]) -> int:
    """The profile's shards, else one per ~32 MB of input (at least ``MIN_SHARDS``, at most 256)."""
    return settings.shards or default_shards(files)


def build_batch_pipeline(pipeline: beam.Pipeline, plan: BatchPlan, settings: Settings, model_factory=RulesModel):
    """Wire the batch graph from the public transforms, from ``plan``'s input files to the commit; returns the
    PCollection of the run's manifest (one element).

    Two heavy stages: one reads and parses every input file (and writes the lake); after one shuffle into
    shards (every copy of a complaint, and every part of an SMS, in the same shard), the other joins SMS
    parts, cleans, validates, dedupes, enriches and writes the warehouse, a shard at a time. Every file goes
    to the run's staging directory; ``WriteToWarehouse``'s last step checks the balance and the quality guard,
    commits and writes the run manifest (``transforms/warehouse_io.py``).
    """
    read = pipeline | "ReadChannelFiles" >> ReadFromChannelFiles(
        plan.input_dir,
        files=plan.files,
        run_id=plan.run_id,
        batch_id=plan.batch_id,
        ingested_at=plan.started_at,
        shards=plan.shards,
        call_centre_timezone=settings.call_centre_timezone,
        chunk_size=settings.chunk_size,
        reader=ReadLakeBatches if plan.from_lake else ReadRawBatches,
    )
    if plan.from_lake:  # records read back from the lake are in it already
        in_lake = read.raw_batches | "AlreadyInLake" >> beam.FlatMap(sinks.lake_tally)
    else:
        in_lake = read.raw_batches | "WriteLake" >> WriteToLake(
            plan.output_dir, run_id=plan.run_id, batch_id=plan.batch_id, ingest_date=plan.batch_date
        )
    return (
        read
        | "Clean" >> Clean(settings.sms_timeout)
        | "Validate" >> Validate(validation_rules(settings.validation, plan.batch_date))
        | "Dedupe" >> Dedupe()
        | "Enrich"
        >> Enrich(model_factory, customers=read.customers, contact_token_key=contact_token_key_for_workers(settings))
        | "WriteWarehouse"
        >> WriteToWarehouse(
            catalog_config(settings.warehouse, plan.output_dir),
            run_id=plan.run_id,
            output_dir=plan.output_dir,
            batch_id=plan.batch_id,
            batch_date=plan.batch_date,
            lake=in_lake,
            quality=settings.quality,
            manifest=planned_manifest(plan, settings, model_version_of(model_factory)),
            table_schemas=plan.table_schemas or None,
            commit_attempts=settings.warehouse.commit_attempts,
            read_files=[f.display_path for f in plan.files],
            dead_letter_files=DEAD_LETTER_FILES,
            properties={"writer": "batch"},
            fail_pipeline=plan.detached,
        )
    )


# -- the run manifest -------------------------------------------------------------------------------------
def model_version_of(model_factory) -> str:
    return getattr(model_factory, "version", None) or getattr(model_factory(), "version", "unknown")


def planned_manifest(plan: BatchPlan, settings: Settings, model_version: str) -> dict:
    """What the run manifest says of a run from its plan; the commit step (``WriteToWarehouse``) adds the
    outcome: status, counts, balance, guard, snapshots."""
    import apache_beam
    import pyarrow

    return {
        "run_id": plan.run_id,
        "batch_id": plan.batch_id,
        "batch_date": plan.batch_date.isoformat(),
        "started_at": plan.started_at.isoformat(),
        "runner": plan.runner,
        "profile": settings.profile,
        "contact_token_key": settings.contact_token_key_source,
        "options": plan.beam_args,
        "runner_options": plan.runner_options,
        "shards": plan.shards,
        "input_dir": plan.input_dir,
        "output_dir": plan.output_dir,
        "input_files": [{"source": f.source, "path": f.display_path, "bytes": f.size} for f in plan.files],
        "include": plan.include,
        "reprocessed_from_lake": plan.from_lake,
        "ignored_files": plan.ignored,
        "versions": {
            "package": __version__,
            "schema": schemas.SCHEMA_VERSION,
            "model": model_version,
            "apache_beam": apache_beam.__version__,
            "pyarrow": pyarrow.__version__,
            "python": platform.python_version(),
        },
    }


def run_batch(
    plan: BatchPlan, settings: Settings, model_factory=RulesModel, show_progress: bool = False, wait: bool = True
) -> dict:
    """Launch the batch pipeline for ``plan``, wait for it and return the manifest its commit step wrote
    (``_runs/<run_id>.json``); a run that was not committed raises what its manifest says
    (``UnbalancedRun``, ``RefusedRun``, ``BrokenStage``, ``CommitFailed``).

    The pipeline commits by itself (``WriteToWarehouse``); this is a launcher. The manifest is written when the
    run starts (``running``) and rewritten by the pipeline when it ends, or here when the pipeline fails before
    its commit step (``beam_pipelines/run_records.py``); runs of this host that a kill left ``running`` are
    recorded as ``abandoned`` first, and commits they left half-done are finished.

    ``wait`` false (a detached launch: a Flink job, a Flex Template): submit the job and return its
    ``running`` manifest at once; the job commits and writes its manifest whether or not this process lives on.
    """
    from warehouse.catalog import writer_schemas

    # opens the catalog first: a warehouse that cannot be used (moved, unreachable) is refused before anything
    # is written, not even a run manifest
    plan.table_schemas = writer_schemas(catalog_config(settings.warehouse, plan.output_dir), list(sinks.ICEBERG_TABLES))
    plan.detached = not wait
    recover_interrupted_commits(plan.output_dir, settings)
    run_records.record_abandoned(plan.output_dir)
    run_records.record_started(plan.output_dir, run_identity(plan, settings), detached=plan.detached)
    try:
        return _launch(plan, settings, model_factory, show_progress, wait)
    except KeyboardInterrupt:
        run_records.record_ended(plan.output_dir, plan.run_id, run_records.INTERRUPTED, "stopped by an interrupt")
        raise
    except BaseException as error:
        run_records.record_ended(
            plan.output_dir, plan.run_id, run_records.FAILED, f"{type(error).__name__}: {str(error)[:1500]}"
        )
        raise


def recover_interrupted_commits(output_dir: str, settings: Settings) -> list[dict]:
    """Finish the commits that runs on this host started and did not end (killed part-way: their lake-commit
    journal is still there and their process is gone), from their journal and staged files: the lake files they
    had not moved yet, the tables they had not committed yet (a table whose snapshot the run made already is left
    as it is), then the run's manifest, marked ``recovered_by`` the process that finished it. A commit that
    cannot be finished (its staged files are gone, or a table's schema changed since) keeps its journal, so its
    lake files stay marked uncommitted, and its manifest says ``abandoned`` and why. Returns the manifests."""
    import socket

    from warehouse.catalog import writer_schemas

    recovered = []
    for journal in sinks.lake_journals(output_dir):
        run_id, journal_owner = journal.get("run_id"), journal.get("owner") or {}
        if (
            journal.get("abandoned")
            or journal_owner.get("host") != socket.gethostname()
            or sinks.process_alive(journal_owner.get("pid"))
        ):
            continue
        draft = journal.get("manifest_draft") or {"run_id": run_id, "batch_id": journal.get("batch_id")}
        catalog = catalog_config(settings.warehouse, output_dir)
        try:
            if not FileSystems.exists(sinks.staging_root(output_dir, run_id)):
                raise RuntimeError(f"its staged files ({sinks.staging_root(output_dir, run_id)}) are gone")
            committed = sinks.commit_staged(
                output_dir,
                run_id,
                journal.get("batch_id"),
                catalog,
                writer_schemas(catalog, list(sinks.ICEBERG_TABLES)),
                journal.get("properties"),
                journal.get("attempts", 8),
            )
        except Exception as error:  # noqa: BLE001 - recorded in the manifest and the journal, in one line
            reason = (
                f"its commit was interrupted and could not be finished ({type(error).__name__}: "
                f"{str(error)[:300]}); the lake files its journal lists stay marked uncommitted"
            )
            sinks.write_lake_journal(output_dir, run_id, {**journal, "abandoned": reason})
            manifest = {
                **draft,
                "status": run_records.ABANDONED,
                "reason": reason,
                "lake_journal": sinks.lake_journal_path(output_dir, run_id),
            }
        else:
            manifest = {
                **draft,
                "committed_files": committed["files"],
                "snapshots": committed["snapshots"],
                "committed_rows": committed["rows"],
                "status": "succeeded",
                "committed_at": dt.datetime.now(dt.UTC).isoformat(),
                "recovered_by": run_records.owner(),
            }
            run_manifests.write_manifest(output_dir, manifest)
            sinks.finish_lake_commit(output_dir, run_id)
            sinks.discard_staging(output_dir, run_id)
            recovered.append(manifest)
            continue
        run_manifests.write_manifest(output_dir, manifest)
        recovered.append(manifest)
    return recovered


def run_identity(plan: BatchPlan, settings: Settings) -> dict:
    """What a run manifest says of a run before it has any outcome."""
    return {
        "run_id": plan.run_id,
        "batch_id": plan.batch_id,
        "batch_date": plan.batch_date.isoformat(),
        "started_at": plan.started_at.isoformat(),
        "runner": plan.runner,
        "profile": settings.profile,
        "input_dir": plan.input_dir,
        "output_dir": plan.output_dir,
        "reprocessed_from_lake": plan.from_lake,
    }


def _launch(plan: BatchPlan, settings: Settings, model_factory, show_progress: bool, wait: bool) -> dict:
    runner_defaults = {}
    if plan.runner in LOCAL_RUNNERS:
        runner_defaults = local_runner_options(
            settings.runner_defaults, plan.beam_args, plan.input_bytes, settings.pipeline.single_process_below_mb
        )
    options = build_options(plan.runner, plan.beam_args, runner_defaults)
    in_effect = options.get_all_options()  # the command line's flags over the defaults chosen here
    plan.runner_options = {name: in_effect.get(name, value) for name, value in runner_defaults.items()}
    pipeline = beam.Pipeline(runner=make_runner(plan.runner), options=options)
    build_batch_pipeline(pipeline, plan, settings, model_factory)
    # what runs on this host left behind once their launcher and every process of their job are gone; a job that
    # runs on after its launcher was stopped keeps its staging (its workers named themselves in it)
    sinks.sweep_abandoned_staging(plan.output_dir)
    # a detached job's staging belongs to the job, not to this process: no sweep may take it when this one ends
    sinks.claim_staging(plan.output_dir, plan.run_id, detached=not wait)
    channel_files = sum(1 for f in plan.files if f.source in sinks.LAKE_SOURCES)
    progress = (
        ProgressReporter(sinks.staging_root(plan.output_dir, plan.run_id), channel_files, plan.shards)
        if show_progress and wait
        else contextlib.nullcontext()
    )
    result = None
    try:
        with progress:
            result = pipeline.run()
            if not wait:  # submitted: the job commits by itself and writes the manifest
                return run_manifests.read_manifest(plan.output_dir, plan.run_id)
            result.wait_until_finish()
    except BaseException as error:
        manifest = run_manifests.read_manifest(plan.output_dir, plan.run_id)
        if manifest is not None and manifest.get("status") in NOT_COMMITTED:
            # the commit step failed the pipeline on purpose, after recording why: its verdict, not the runner's
            # wrapping of it, is the outcome
            return run_outcome(plan.output_dir, manifest, error)
        if job_ended(result):  # a job that runs on (this launcher was interrupted) still commits its staged files
            sinks.discard_staging(plan.output_dir, plan.run_id)
        raise
    return run_outcome(plan.output_dir, run_manifests.read_manifest(plan.output_dir, plan.run_id))


def job_ended(result) -> bool:
    """Whether the job of ``result`` (None: it was never submitted) can no longer use its run's staging. A job
    whose state cannot be read counts as running: a sweep of a later run removes its staging once this process
    and every process of the job that wrote into it are gone (``sinks.sweep_abandoned_staging``)."""
    if result is None:
        return True
    try:
        return PipelineState.is_terminal(result.state)
    except Exception:  # noqa: BLE001 - the job service unreachable, or the runner gone with the interrupt
        return False


def run_outcome(output_dir: str, manifest: dict | None, cause: BaseException | None = None) -> dict:
    """The manifest of a run whose pipeline has ended, if it was committed; else the exception its status says
    (the CLI maps them to exit codes: ``UnbalancedRun`` and ``RefusedRun`` 5, ``BrokenStage`` and
    ``CommitFailed`` 4). After a failed commit the run's lake commit is marked abandoned and its staging goes
    (a rerun stages everything again); a refused or unbalanced run keeps its staging for inspection."""
    status = (manifest or {}).get("status")
    if status == "succeeded":
        return manifest
    if status == "unbalanced":
        raise UnbalancedRun(json.dumps(manifest["counts"])) from cause
    if status == "refused":
        refusal = BrokenStage if manifest.get("broken_stage") else RefusedRun
        raise refusal(manifest["refused_because"], manifest.get("staging", "")) from cause
    if status == "failed" and manifest.get("commit_failed"):
        sinks.abandon_lake_commit(output_dir, manifest["run_id"], "its commit failed; run the batch again")
        sinks.discard_staging(output_dir, manifest["run_id"])
        raise CommitFailed(manifest["reason"]) from cause
    raise RuntimeError(
        f"the pipeline ended but its commit step recorded no outcome (the run's manifest says {status!r})"
    ) from cause
