"""The batch pipeline: a day's channel files -> lake, warehouse, dead letter and run manifest.

``build_batch_pipeline`` wires the graph from the composable transforms (and is what pipeline tests use);
``run_batch`` discovers the input, opens the warehouse's Iceberg tables, runs the graph, checks that the counts
balance and the quality holds, commits the staged output (one snapshot per table, by upsert) and writes the
run manifest with the snapshot ids it committed.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import statistics
from dataclasses import dataclass, field

import apache_beam as beam
import orjson
from apache_beam.io.filesystems import FileSystems

import schemas
from beam_pipelines import __version__, run_records
from beam_pipelines.config import Settings
from beam_pipelines.parameters import catalog_config, validation_rules
from beam_pipelines.progress import ProgressReporter
from beam_pipelines.run_records import write_manifest
from models.rules import RulesModel
from runners.options import LOCAL_RUNNERS, build_options, local_runner_options, make_runner
from transforms import Clean, Dedupe, Enrich, ReadFromChannelFiles, Validate, sinks
from transforms.packing import PackByKey
from transforms.records import new_run_id
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
    #: the inputs are lake files read back (``complaints reprocess``): nothing is written to the lake again
    from_lake: bool = False
    #: the local runner's options the run used (the profile's, or one process for a small input); {} elsewhere
    runner_options: dict = field(default_factory=dict)

    @property
    def input_bytes(self) -> int:
        """The input's size as data: a gzip file counts ``GZIP_RATIO`` times its size on disk."""
        return sum(f.size * (GZIP_RATIO if f.path.endswith(".gz") else 1) for f in self.files)


def plan_batch(input_dir: str, output_dir: str, settings: Settings, *, batch_date: dt.date | None = None,
               batch_id: str | None = None, runner: str = "DirectRunner", beam_args=(),
               include: list[str] | None = None) -> BatchPlan:
    if "://" not in input_dir and not os.path.isdir(input_dir):
        raise InputError(f"input directory {input_dir} does not exist")
    files = discover_inputs(input_dir, include)
    if not any(f.source != "customers" for f in files):
        if include:
            raise InputError(f"no channel files under {input_dir} match --include {' '.join(include)}")
        raise InputError(f"no channel files under {input_dir} (expected twitter/, webforms/, sms/, phone_logs/)")
    started_at = dt.datetime.now(dt.timezone.utc)
    batch_date = batch_date or started_at.date()
    batch_id = batch_id or default_batch_id(input_dir, batch_date)
    return BatchPlan(input_dir, output_dir, batch_date, batch_id, new_run_id(started_at), started_at, files,
                     shard_count(settings, files), runner, list(beam_args), ignored_inputs(input_dir, files, include),
                     include=list(include or []))


def shard_count(settings: Settings, files: list[InputFile]) -> int:
    """The profile's shards, else one per ~32 MB of input (at least ``MIN_SHARDS``, at most 256)."""
    return settings.shards or default_shards(files)


def _sum_tallies(pcolls):
    return (pcolls
            | "AllTallies" >> beam.Flatten()
            | "SumTallies" >> beam.CombinePerKey(sum)
            | "TallyList" >> beam.combiners.ToList())


def write_counts(path: str):
    def write(tallies):
        rows = [{"source": s, "outcome": o, "reason": r, "count": n} for (s, o, r), n in sorted(tallies)]
        with FileSystems.create(path) as handle:
            handle.write(orjson.dumps(rows))
        return len(rows)

    return write


def build_batch_pipeline(pipeline: beam.Pipeline, plan: BatchPlan, settings: Settings, model_factory=RulesModel):
    """Wire the batch graph from the public transforms; every output goes to ``plan``'s staging directory.

    Two heavy stages: one reads and parses every input file (and writes the lake); after one shuffle into
    shards (every copy of a complaint, and every part of an SMS, in the same shard), the other joins SMS
    parts, cleans, validates, dedupes, enriches and writes the warehouse, a shard at a time.
    """
    staging = sinks.staging_root(plan.output_dir, plan.run_id)
    read = pipeline | "ReadChannelFiles" >> ReadFromChannelFiles(
        plan.input_dir, files=plan.files, run_id=plan.run_id, batch_id=plan.batch_id, ingested_at=plan.started_at,
        shards=plan.shards, call_centre_timezone=settings.call_centre_timezone, chunk_size=settings.chunk_size,
        reader=ReadLakeBatches if plan.from_lake else ReadRawBatches)
    if plan.from_lake:  # records read back from the lake are in it already
        in_lake = read.raw_batches | "AlreadyInLake" >> beam.FlatMap(sinks.lake_tally)
    else:
        in_lake = read.raw_batches | "WriteLake" >> sinks.WriteLake(staging, plan.batch_id, plan.batch_date)

    enriched = (read
                | "Clean" >> Clean(settings.sms_timeout)
                | "Validate" >> Validate(validation_rules(settings.validation, plan.batch_date))
                | "Dedupe" >> Dedupe()
                | "Enrich" >> Enrich(model_factory, customers=read.customers,
                                     contact_token_key=settings.contact_token_key))
    written = enriched.complaints | "WriteWarehouse" >> sinks.WriteComplaints(
        staging, plan.batch_id, plan.table_schemas.get("complaints"))

    # Dead letters are packed to bytes before they are written (transforms/packing.py).
    to_dead_letter_files = sinks.dead_letter_partition(DEAD_LETTER_FILES, plan.batch_date)
    rejected = (enriched.dead_letters
                | "PackDeadLetters" >> PackByKey(to_dead_letter_files)
                | "WriteDeadLetter" >> sinks.WriteDeadLetters(staging, plan.batch_id,
                                                             plan.table_schemas.get("dead_letter")))

    counts = (_sum_tallies([enriched.tallies, in_lake, written, rejected])
              | "WriteCounts" >> beam.Map(write_counts(FileSystems.join(staging, "_counts.json"))))
    return {"in_lake": in_lake, "counts": counts}


# -- the run manifest -------------------------------------------------------------------------------------
def summarise_counts(rows: list[dict]) -> dict:
    """Tally rows -> per-source counts with rejections by reason, flags by flag, and the balance check."""
    sources: dict[str, dict] = {}
    for row in rows:
        entry = sources.setdefault(row["source"], {"read": 0, "written": 0, "rejected": 0, "duplicates": 0,
                                                   "merged_parts": 0, "rejected_by_reason": {},
                                                   "duplicates_by_reason": {}, "flagged": {}})
        outcome, reason, count = row["outcome"], row["reason"], row["count"]
        if outcome == "rejected":
            entry["rejected"] += count
            entry["rejected_by_reason"][reason] = count
        elif outcome == "duplicates":
            entry["duplicates"] += count
            entry["duplicates_by_reason"][reason] = count
        elif outcome == "flagged":
            entry["flagged"][reason] = count
        elif outcome == "conflict":
            entry.setdefault("conflicts", {})[reason] = count
        else:
            entry[outcome] = entry.get(outcome, 0) + count
    for source, entry in sources.items():
        if source == "customers":
            accounted = entry.get("loaded", 0) + entry["rejected"]
        else:
            accounted = entry["written"] + entry["rejected"] + entry["duplicates"] + entry["merged_parts"]
            early = sum(n for reason, n in entry["rejected_by_reason"].items()
                        if reason.startswith(("read:", "parse:")))
            entry["parsed"] = entry["read"] - early
            entry.setdefault("in_lake", 0)
        # every record read is accounted for in the tables, and (for the channels) verbatim in the lake
        entry["balanced"] = entry["read"] == accounted and entry.get("in_lake", entry["read"]) == entry["read"]
    return sources


def build_manifest(plan: BatchPlan, settings: Settings, counts: dict, finished_at: dt.datetime,
                   committed: dict, model_version: str) -> dict:
    import apache_beam
    import pyarrow

    return {
        "run_id": plan.run_id,
        "batch_id": plan.batch_id,
        "batch_date": plan.batch_date.isoformat(),
        "status": "succeeded" if all(c["balanced"] for c in counts.values()) else "unbalanced",
        "started_at": plan.started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "duration_seconds": round((finished_at - plan.started_at).total_seconds(), 3),
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
        "versions": {"package": __version__, "schema": schemas.SCHEMA_VERSION, "model": model_version,
                     "apache_beam": apache_beam.__version__, "pyarrow": pyarrow.__version__,
                     "python": platform.python_version()},
        "counts": counts,
        "balanced": all(c["balanced"] for c in counts.values()),
        "committed_files": committed.get("files", {}),
        "snapshots": committed.get("snapshots", {}),
        "committed_rows": committed.get("rows", {}),
    }


class UnbalancedRun(Exception):
    """The counts did not balance: nothing was committed; the staged output is kept for inspection."""


class RefusedRun(Exception):
    """The run's output breaks the profile's ``[quality]`` thresholds: nothing was committed; the staged output
    is kept for inspection (``staging``) and the run manifest says why."""

    def __init__(self, message: str, staging: str):
        super().__init__(message)
        self.staging = staging


class CommitFailed(Exception):
    """The run succeeded but its output could not be committed to the tables (the catalog unreachable, other
    writers committing without end): the tables are at their previous snapshot; a rerun is idempotent."""


class BrokenStage(RefusedRun):
    """Too many records hit an unexpected exception in our own code: a bug, so the run failed."""


def unexpected_errors(counts: dict) -> dict[str, int]:
    """``stage:unexpected_<Type>`` rejections over every source: exceptions in our code, not bad data."""
    found: dict[str, int] = {}
    for entry in counts.values():
        for reason, n in entry["rejected_by_reason"].items():
            if reason.split(":", 1)[-1].startswith("unexpected_"):
                found[reason] = found.get(reason, 0) + n
    return found


def wilson_lower_bound(successes: int, trials: int, confidence: float) -> float:
    """The lower bound of the Wilson score interval of a proportion ``successes / trials`` at ``confidence``
    (two-sided): the share that the data show with that confidence, wider apart from the observed share the
    fewer the trials."""
    if trials <= 0:
        return 0.0
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    share = successes / trials
    centre = share + z * z / (2 * trials)
    spread = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - spread) / (1 + z * z / trials))


def reject_guard(counts: dict, quality) -> dict:
    """The commit guard's judgement of each source's rejected share, as the run manifest records it: per
    source its records read and rejected, the share, the share's lower bound at ``[quality]
    reject_ratio_confidence`` and the decision, ``refuse`` (the lower bound is above ``max_reject_ratio``),
    ``pass``, or ``too_few`` (fewer records than ``min_records_for_reject_ratio``: not judged)."""
    sources = {}
    for source, entry in sorted(counts.items()):
        read, rejected = entry.get("read", 0), entry.get("rejected", 0)
        if source == "customers" or not read:
            continue
        lower = wilson_lower_bound(rejected, read, quality.reject_ratio_confidence)
        if read < quality.min_records_for_reject_ratio:
            decision = "too_few"
        elif lower > quality.max_reject_ratio:
            decision = "refuse"
        else:
            decision = "pass"
        sources[source] = {"read": read, "rejected": rejected, "reject_ratio": round(rejected / read, 6),
                           "lower_bound": round(lower, 6), "decision": decision}
    return {"max_reject_ratio": quality.max_reject_ratio, "confidence": quality.reject_ratio_confidence,
            "min_records": quality.min_records_for_reject_ratio, "sources": sources}


def guard_verdict(guard: dict) -> str:
    """One sentence on why the guard refused the run or let it pass, for the manifest and the summary."""
    limit, confidence = guard["max_reject_ratio"], guard["confidence"]
    refused = {s: e for s, e in guard["sources"].items() if e["decision"] == "refuse"}
    if refused:
        listed = ", ".join(f"{source} {e['rejected']} of {e['read']} ({e['reject_ratio']:.0%}, at least "
                           f"{e['lower_bound']:.0%} at {confidence:.0%} confidence)" for source, e in refused.items())
        return f"rejected share above {limit:.0%} ([quality] max_reject_ratio): {listed}"
    above = {s: e for s, e in guard["sources"].items() if e["reject_ratio"] > limit}
    if not above:
        return f"every source's rejected share is within {limit:.0%} ([quality] max_reject_ratio)"
    reasons = []
    for source, e in above.items():
        if e["decision"] == "too_few":
            reasons.append(f"{source} {e['rejected']} of {e['read']}: fewer than {guard['min_records']} records, "
                           "too few to judge ([quality] min_records_for_reject_ratio)")
        else:
            reasons.append(f"{source} {e['rejected']} of {e['read']} ({e['reject_ratio']:.0%}): not above "
                           f"{limit:.0%} at {confidence:.0%} confidence (at least {e['lower_bound']:.0%})")
    return "committed although above the rejected share's limit: " + "; ".join(reasons)


def quality_warnings(counts: dict, quality) -> list[str]:
    """What breaks the profile's soft ``[quality]`` limits (the run is committed; the manifest and the alerts say
    so): sources whose flagged / written is above ``max_flagged_ratio``."""
    warnings = []
    for source, entry in sorted(counts.items()):
        flagged = sum(entry.get("flagged", {}).values())
        if source != "customers" and entry.get("written") and flagged / entry["written"] > quality.max_flagged_ratio:
            # flags are counted by reason and a complaint may carry several, so this is not a share of complaints
            warnings.append(f"{source}: {flagged / entry['written']:.2f} flags per written complaint, above "
                            f"{quality.max_flagged_ratio:.2f} ([quality] max_flagged_ratio)")
    return warnings


def check_quality(counts: dict, quality, staging: str) -> None:
    """Refuse to commit a run that a bug broke or whose inputs are mostly unusable (``RefusedRun``)."""
    unexpected = unexpected_errors(counts)
    if sum(unexpected.values()) > quality.max_unexpected_errors:
        listed = ", ".join(f"{reason} {n}" for reason, n in sorted(unexpected.items(), key=lambda i: -i[1]))
        raise BrokenStage(f"{sum(unexpected.values())} records hit unexpected errors in the pipeline's code "
                          f"({listed}; at most {quality.max_unexpected_errors} allowed by [quality] "
                          "max_unexpected_errors)", staging)
    guard = reject_guard(counts, quality)
    if any(entry["decision"] == "refuse" for entry in guard["sources"].values()):
        raise RefusedRun(guard_verdict(guard), staging)


def run_batch(plan: BatchPlan, settings: Settings, model_factory=RulesModel, show_progress: bool = False) -> dict:
    """Run the batch pipeline for ``plan`` and return the manifest (also written to ``_runs/<run_id>.json``).

    The manifest is written when the run starts (``running``) and rewritten when it ends, whatever the outcome
    (``beam_pipelines/run_records.py``); runs of this host that a kill left ``running`` are recorded as
    ``abandoned`` first."""
    from warehouse.catalog import writer_schemas

    # opens the catalog first: a warehouse that cannot be used (moved, unreachable) is refused before anything
    # is written, not even a run manifest
    plan.table_schemas = writer_schemas(catalog_config(settings.warehouse, plan.output_dir),
                                        list(sinks.ICEBERG_TABLES))
    recover_interrupted_commits(plan.output_dir, settings)
    run_records.record_abandoned(plan.output_dir)
    run_records.record_started(plan.output_dir, run_identity(plan, settings))
    try:
        return _run_and_commit(plan, settings, model_factory, show_progress)
    except KeyboardInterrupt:
        run_records.record_ended(plan.output_dir, plan.run_id, run_records.INTERRUPTED, "stopped by an interrupt")
        raise
    except BaseException as error:
        run_records.record_ended(plan.output_dir, plan.run_id, run_records.FAILED,
                                 f"{type(error).__name__}: {str(error)[:1500]}")
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
        if journal.get("abandoned") or journal_owner.get("host") != socket.gethostname() \
                or sinks.process_alive(journal_owner.get("pid")):
            continue
        draft = journal.get("manifest_draft") or {"run_id": run_id, "batch_id": journal.get("batch_id")}
        catalog = catalog_config(settings.warehouse, output_dir)
        try:
            if not FileSystems.exists(sinks.staging_root(output_dir, run_id)):
                raise RuntimeError(f"its staged files ({sinks.staging_root(output_dir, run_id)}) are gone")
            committed = sinks.commit_staged(output_dir, run_id, journal.get("batch_id"), catalog,
                                            writer_schemas(catalog, list(sinks.ICEBERG_TABLES)),
                                            journal.get("properties"), journal.get("attempts", 8))
        except Exception as error:  # noqa: BLE001 - recorded in the manifest and the journal, in one line
            reason = (f"its commit was interrupted and could not be finished ({type(error).__name__}: "
                      f"{str(error)[:300]}); the lake files its journal lists stay marked uncommitted")
            sinks.write_lake_journal(output_dir, run_id, {**journal, "abandoned": reason})
            manifest = {**draft, "status": run_records.ABANDONED, "reason": reason,
                        "lake_journal": sinks.lake_journal_path(output_dir, run_id)}
        else:
            manifest = {**draft, **{key: value for key, value in (
                ("committed_files", committed["files"]), ("snapshots", committed["snapshots"]),
                ("committed_rows", committed["rows"]))}, "status": "succeeded",
                "committed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                "recovered_by": run_records.owner()}
            run_records.write_manifest(output_dir, manifest)
            sinks.finish_lake_commit(output_dir, run_id)
            sinks.discard_staging(output_dir, run_id)
            recovered.append(manifest)
            continue
        run_records.write_manifest(output_dir, manifest)
        recovered.append(manifest)
    return recovered


def run_identity(plan: BatchPlan, settings: Settings) -> dict:
    """What a run manifest says of a run before it has any outcome."""
    return {"run_id": plan.run_id, "batch_id": plan.batch_id, "batch_date": plan.batch_date.isoformat(),
            "started_at": plan.started_at.isoformat(), "runner": plan.runner, "profile": settings.profile,
            "input_dir": plan.input_dir, "output_dir": plan.output_dir, "reprocessed_from_lake": plan.from_lake}


def _run_and_commit(plan: BatchPlan, settings: Settings, model_factory, show_progress: bool) -> dict:
    catalog = catalog_config(settings.warehouse, plan.output_dir)
    runner_defaults = {}
    if plan.runner in LOCAL_RUNNERS:
        runner_defaults = local_runner_options(settings.runner_defaults, plan.beam_args, plan.input_bytes,
                                               settings.pipeline.single_process_below_mb)
    options = build_options(plan.runner, plan.beam_args, runner_defaults)
    in_effect = options.get_all_options()  # the command line's flags over the defaults chosen here
    plan.runner_options = {name: in_effect.get(name, value) for name, value in runner_defaults.items()}
    pipeline = beam.Pipeline(runner=make_runner(plan.runner), options=options)
    build_batch_pipeline(pipeline, plan, settings, model_factory)
    sinks.sweep_abandoned_staging(plan.output_dir)  # what killed runs on this host left behind
    sinks.claim_staging(plan.output_dir, plan.run_id)
    channel_files = sum(1 for f in plan.files if f.source in sinks.LAKE_SOURCES)
    progress = (ProgressReporter(sinks.staging_root(plan.output_dir, plan.run_id), channel_files, plan.shards)
                if show_progress else contextlib.nullcontext())
    try:
        with progress:
            pipeline.run().wait_until_finish()
    except BaseException:
        sinks.discard_staging(plan.output_dir, plan.run_id)
        raise
    staging = sinks.staging_root(plan.output_dir, plan.run_id)
    with FileSystems.open(FileSystems.join(staging, "_counts.json")) as handle:
        counts = summarise_counts(json.loads(handle.read()))
    finished_at = dt.datetime.now(dt.timezone.utc)
    model_version = getattr(model_factory, "version", None) or getattr(model_factory(), "version", "unknown")
    guard = reject_guard(counts, settings.quality)
    if not all(c["balanced"] for c in counts.values()):
        manifest = build_manifest(plan, settings, counts, finished_at, {}, model_version)
        sinks.keep_staging(plan.output_dir, plan.run_id, "counts did not balance")
        write_manifest(plan.output_dir, {**manifest, "guard": guard, "staging": staging})
        raise UnbalancedRun(json.dumps(manifest["counts"]))
    try:
        check_quality(counts, settings.quality, staging)
    except RefusedRun as refused:
        sinks.keep_staging(plan.output_dir, plan.run_id, str(refused))
        manifest = build_manifest(plan, settings, counts, finished_at, {}, model_version)
        write_manifest(plan.output_dir, {**manifest, "status": "refused", "refused_because": str(refused),
                                         "guard": {**guard, "verdict": str(refused)},
                                         "quality_warnings": quality_warnings(counts, settings.quality),
                                         "staging": staging})
        raise
    try:
        committed = sinks.commit_staged(plan.output_dir, plan.run_id, plan.batch_id, catalog, plan.table_schemas,
                                        {"run_id": plan.run_id, "batch_id": plan.batch_id,
                                         "batch_date": plan.batch_date.isoformat(), "writer": "batch"},
                                        settings.warehouse.commit_attempts,
                                        read_files=[f.display_path for f in plan.files],
                                        manifest_draft={**build_manifest(plan, settings, counts, finished_at, {},
                                                                         model_version),
                                                        "quality_warnings": quality_warnings(counts, settings.quality),
                                                        "guard": {**guard, "verdict": guard_verdict(guard)}})
    except Exception as error:  # noqa: BLE001 - whatever the catalog raised, the user gets one line
        sinks.abandon_lake_commit(plan.output_dir, plan.run_id, f"its commit failed ({type(error).__name__}); "
                                  "run the batch again")
        sinks.discard_staging(plan.output_dir, plan.run_id)
        raise CommitFailed(f"the pipeline ran and its counts balance, but committing to the warehouse tables "
                           f"failed ({type(error).__name__}: {str(error)[:300]}); the lake files of batch "
                           f"{plan.batch_id} were moved into place, the tables are at their previous snapshot: "
                           "run the batch again (it replaces, never duplicates)") from error
    manifest = build_manifest(plan, settings, counts, finished_at, committed, model_version)
    manifest["committed_at"] = dt.datetime.now(dt.timezone.utc).isoformat()  # --as-of this reads the run's output
    manifest["quality_warnings"] = quality_warnings(counts, settings.quality)
    manifest["guard"] = {**guard, "verdict": guard_verdict(guard)}
    write_manifest(plan.output_dir, manifest)
    sinks.finish_lake_commit(plan.output_dir, plan.run_id)
    sinks.discard_staging(plan.output_dir, plan.run_id)
    return manifest
