"""Batches from the lake: the verbatim raw records of some days, through today's batch graph.

The lake keeps every raw record as it arrived, so a change of rules, reference data or model can be applied to
the past: ``complaints batch --from-lake --start D --end D`` reads the lake's ``ingest_date`` partitions of those
days and runs them through the same graph as a batch of channel files (``beam_pipelines/batch.py``), one run per
day, with that day as the batch date (so validation judges lateness as the day's own batch did, and dead letters land in
the same ``ingest_date``). Identity is deterministic, so the complaints and dead letters get the ids they had and
the commit replaces those rows (their ``run_id`` and ``model_version`` say which processing wrote them); nothing
is written to the lake again. The review queue's corrections (``review.py``) are re-injected the same way: a
batch of lake files (``plan_from_lake``), run by ``batch.run_batch``.
"""

from __future__ import annotations

import datetime as dt
import os

from apache_beam.io.filesystems import FileSystems

from beam_pipelines.batch import BatchPlan, InputError, InputFile, recover_interrupted_commits, run_batch, shard_count
from beam_pipelines.config import Settings
from schemas import tables
from transforms import sinks
from transforms.sources.lake import LAKE
from warehouse.runs import new_run_id
from warehouse.uris import normalise_uri

LAKE_PATTERNS = ("*.jsonl", "*.jsonl.gz")


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def lake_files(output_dir: str, day: dt.date) -> list[InputFile]:
    """The committed lake files of every channel in ``day``'s ingest_date partition, in a stable order: files
    that a lake-commit journal lists (a commit in progress, or one that could not be finished) are not read."""
    root = FileSystems.join(output_dir, tables.LAKE.path)
    partition = f"ingest_date={day.isoformat()}"
    uncommitted = {normalise_uri(path) for path in sinks.uncommitted_lake_files(output_dir)}
    found = {}
    for pattern in LAKE_PATTERNS:
        for match in FileSystems.match([FileSystems.join(root, "source=*", partition, pattern)])[0].metadata_list:
            if normalise_uri(match.path) in uncommitted:
                continue
            display = match.path[len(FileSystems.join(output_dir, "")) :].lstrip("/")
            found[match.path] = InputFile(LAKE, match.path, display, match.size_in_bytes)
    return sorted(found.values(), key=lambda f: f.display_path)


def customer_files(customers: str | None) -> list[InputFile]:
    """The customer master to link with: a CSV file, or a folder of them (a batch input's ``customers/``)."""
    if not customers:
        return []
    if "://" not in customers and os.path.isdir(customers):
        pattern = FileSystems.join(customers, "*.csv")
    else:
        pattern = customers
    matches = FileSystems.match([pattern])[0].metadata_list
    if not matches:
        raise InputError(f"customer master {customers} does not exist (a CSV file or a folder of them)")
    return [
        InputFile("customers", m.path, f"customers/{m.path.rsplit('/', 1)[-1]}", m.size_in_bytes)
        for m in sorted(matches, key=lambda m: m.path)
    ]


def plan_from_lake(
    output_dir: str,
    settings: Settings,
    day: dt.date,
    files: list[InputFile],
    batch_id: str,
    *,
    runner: str = "DirectRunner",
    beam_args=(),
    run_id: str | None = None,
) -> BatchPlan:
    """The batch plan that runs lake ``files`` (records as the lake keeps them, e.g. a day's partition or reviewed
    copies of some of its records, plus any customer master) as the batch of ``day``: the one plan of every batch
    from the lake. Nothing is written to the lake again."""
    started_at = dt.datetime.now(dt.UTC)
    lake = [f for f in files if f.source == LAKE]
    return BatchPlan(
        output_dir,
        output_dir,
        day,
        batch_id,
        run_id or new_run_id(started_at),
        started_at,
        files,
        shard_count(settings, lake),
        runner,
        list(beam_args),
        from_lake=True,
    )


def plan_reprocess(
    output_dir: str,
    settings: Settings,
    day: dt.date,
    customers: list[InputFile],
    *,
    runner: str = "DirectRunner",
    beam_args=(),
    batch_id: str | None = None,
) -> BatchPlan | None:
    """The batch plan that reprocesses ``day``'s lake partition, or None when the lake holds nothing that day."""
    files = lake_files(output_dir, day)
    if not files:
        return None
    return plan_from_lake(
        output_dir,
        settings,
        day,
        files + customers,
        batch_id or f"reprocess-{day:%Y%m%d}",
        runner=runner,
        beam_args=beam_args,
    )


def run_reprocess(
    output_dir: str,
    settings: Settings,
    start: dt.date,
    end: dt.date,
    model_factory,
    *,
    customers: str | None = None,
    runner: str = "DirectRunner",
    beam_args=(),
    on_day=None,
) -> list:
    """Reprocess each day from ``start`` to ``end``; returns ``(day, manifest or None)`` per day (None: the lake
    holds nothing that day). ``on_day(day, plan)`` is called before each day's run. A day that fails raises
    (``batch.UnbalancedRun``, ``RefusedRun``, ``CommitFailed``...): the days before it are committed, it and the
    days after it are not."""
    master = customer_files(customers)
    recover_interrupted_commits(output_dir, settings)  # so the days' lake files are what was committed
    results = []
    for day in days_between(start, end):
        plan = plan_reprocess(output_dir, settings, day, master, runner=runner, beam_args=beam_args)
        if on_day:
            on_day(day, plan)
        results.append((day, run_batch(plan, settings, model_factory) if plan else None))
    if not any(manifest for _, manifest in results):
        raise InputError(f"the lake under {output_dir} holds no records ingested from {start} to {end}")
    return results
