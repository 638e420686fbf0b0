"""The commit inside the pipeline: a pipeline composed by hand (not through ``run_batch``) that ends in
``WriteToLake`` and ``WriteToWarehouse`` commits the lake and one Iceberg snapshot per table, with its run id in
the snapshot's summary, and writes its run manifest; a commit step run again for the same run (a runner's retry
after a worker was lost, or a second pipeline run with the same run id) commits nothing twice; a run whose
counts do not balance commits nothing. Runs on Beam's FnApiRunner, named explicitly."""

import datetime as dt
import json
import re
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from models.rules import RulesModel
from tests.support.warehouse import read_table
from transforms import Clean, Dedupe, Enrich, ReadFromTwitter, Stage, Validate, ValidationRules, sinks, warehouse_io
from transforms.records import dead_letter
from transforms.warehouse_io import WriteToLake, WriteToWarehouse
from warehouse.catalog import CatalogConfig, load_table, open_catalog

DAY = dt.date(2026, 11, 20)
STARTED = dt.datetime(2026, 11, 21, 2, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def tweets(tmp_path_factory) -> list[str]:
    """The Twitter/X files of a small generated day."""
    from beam_pipelines.generator import generate

    input_dir = tmp_path_factory.mktemp("input")
    generate(str(input_dir), DAY, volume=120, seed=7, defect_rate=0.03)
    files = sorted(str(path) for path in (input_dir / "twitter").iterdir())
    assert files
    return files


def compose(
    pipeline, tweets, out: Path, run_id: str, extra_tallies=(), split_shards=False, lake_dir: Path | None = None
) -> WriteToWarehouse:
    """tweets -> lake and warehouse, from the public transforms, as a Beam user composes them; returns the writer.
    ``split_shards``: each shard of enriched complaints reaches the writer as two batches with its key.
    ``lake_dir``: the output directory given to ``WriteToLake`` (default: ``out``, the warehouse writer's)."""
    pattern = str(Path(tweets[0]).parent / "*.jsonl")
    read = pipeline | ReadFromTwitter(
        pattern, run_id=run_id, batch_id="hand", ingested_at=STARTED, chunk_size=40, shards=3
    )
    in_lake = read.raw_batches | WriteToLake(str(lake_dir or out), run_id=run_id, batch_id="hand", ingest_date=DAY)
    enriched = (
        read
        | Clean()
        | Validate(ValidationRules(batch_date=DAY))
        | Dedupe()
        | Enrich(RulesModel, contact_token_key=b"a-key-for-this-test")
    )
    complaints = enriched.complaints
    if split_shards:
        complaints = complaints | "SplitShards" >> beam.FlatMap(
            lambda batch: [type(batch)(batch.key, batch.records[::2]), type(batch)(batch.key, batch.records[1::2])]
        ).with_output_types(complaints.element_type)
    more = pipeline | "MoreTallies" >> beam.Create(list(extra_tallies))
    tallies = [enriched.tallies, more] | "AllTallies" >> beam.Flatten()
    writer = WriteToWarehouse(str(out / "warehouse"), run_id=run_id, batch_id="hand", batch_date=DAY, lake=in_lake)
    Stage(complaints, enriched.dead_letters, tallies) | writer
    return writer


def run_pipeline(tweets, out: Path, run_id: str, extra_tallies=()) -> WriteToWarehouse:
    pipeline = beam.Pipeline(runner=FnApiRunner())
    writer = compose(pipeline, tweets, out, run_id, extra_tallies)
    pipeline.run().wait_until_finish()
    return writer


def run_snapshots(out: Path, run_id: str) -> dict:
    """Per warehouse table: the ids of its snapshots whose summary names ``run_id``, and of all its snapshots."""
    config = CatalogConfig(str(out / "warehouse"))
    catalog = open_catalog(config, create=False)
    found = {}
    for table in sinks.ICEBERG_TABLES:
        iceberg = load_table(catalog, config, table)
        every = [s.snapshot_id for s in iceberg.metadata.snapshots]
        ours = [s.snapshot_id for s in iceberg.metadata.snapshots if s.summary.get("run_id") == run_id]
        found[table.name] = {"run": ours, "all": every}
    return found


def manifest(out: Path, run_id: str) -> dict:
    return json.loads((out / "_runs" / f"{run_id}.json").read_text())


def keys(out: Path, table: str) -> list[str]:
    key = "complaint_id" if table == "complaints" else "error_id"
    return read_table(out / "warehouse" / table, [key]).column(key).to_pylist()


def test_a_hand_composed_pipeline_commits_one_snapshot_per_table_and_writes_its_manifest(tweets, tmp_path):
    out = tmp_path / "out"
    run_pipeline(tweets, out, "run-a")

    record = manifest(out, "run-a")
    assert record["status"] == "succeeded" and record["balanced"]
    twitter = record["counts"]["twitter"]
    assert twitter["read"] == twitter["in_lake"] > 30
    assert twitter["read"] == twitter["written"] + twitter["rejected"] + twitter["duplicates"]
    snapshots = run_snapshots(out, "run-a")
    for table in ("complaints", "dead_letter"):
        assert snapshots[table]["run"] == snapshots[table]["all"] == [record["snapshots"][table]]
    assert sorted(keys(out, "complaints")) == sorted(set(keys(out, "complaints")))
    assert len(keys(out, "complaints")) == twitter["written"]
    assert len(keys(out, "dead_letter")) == twitter["rejected"]
    lake_lines = sum(len(path.read_text().splitlines()) for path in (out / "lake").rglob("*.jsonl"))
    assert lake_lines == twitter["read"]
    assert not (out / "_staging").exists() and not list((out / "lake" / "_commits").glob("*.json"))
    assert record["guard"]["verdict"] and record["finished_at"]


class WorkerLost(BaseException):
    """The worker running the commit step is gone (raised where a SIGKILL would have struck)."""


def test_a_commit_step_run_again_after_a_lost_worker_commits_once(tweets, tmp_path, monkeypatch):
    out = tmp_path / "out"
    # the pipeline writes every file; its commit step only hands over the tallies it was given
    given = []
    monkeypatch.setattr(warehouse_io.RunCommit, "__call__", lambda self, tallies: given.append(tallies) or {})
    writer = run_pipeline(tweets, out, "run-b")
    monkeypatch.undo()
    [tallies] = given
    assert list((out / "_staging" / "run-b").rglob("*.parquet"))

    # the first attempt commits both tables, and its worker is lost before the run manifest is written
    from transforms import run_manifests

    write_manifest = run_manifests.write_manifest

    def lost_before_the_manifest(output_dir, document):
        if document.get("status") == "succeeded":
            raise WorkerLost()
        return write_manifest(output_dir, document)

    monkeypatch.setattr(run_manifests, "write_manifest", lost_before_the_manifest)
    with pytest.raises(WorkerLost):
        writer.commit_step()(tallies)
    monkeypatch.undo()
    committed = run_snapshots(out, "run-b")
    assert all(len(committed[table]["run"]) == 1 for table in ("complaints", "dead_letter"))
    rows_after_first = {table: sorted(keys(out, table)) for table in ("complaints", "dead_letter")}

    # the runner retries the step: nothing is committed again, the manifest is written
    retried = writer.commit_step()(tallies)
    assert retried["status"] == "succeeded"
    assert run_snapshots(out, "run-b") == committed
    assert {table: retried["snapshots"][table] for table in committed} == {
        table: committed[table]["run"][0] for table in committed
    }
    # and once more, after the manifest: the same manifest, still one snapshot per table
    assert writer.commit_step()(tallies) == manifest(out, "run-b") == retried
    assert run_snapshots(out, "run-b") == committed
    for table, rows in rows_after_first.items():
        assert sorted(keys(out, table)) == rows and len(rows) == len(set(rows))
    assert not (out / "_staging").exists()


def test_a_second_pipeline_run_with_the_same_run_id_commits_nothing_more(tweets, tmp_path):
    out = tmp_path / "out"
    run_pipeline(tweets, out, "run-c")
    first = run_snapshots(out, "run-c")
    rows = {table: sorted(keys(out, table)) for table in ("complaints", "dead_letter")}

    run_pipeline(tweets, out, "run-c")
    assert run_snapshots(out, "run-c") == first
    for table, committed in rows.items():
        assert sorted(keys(out, table)) == committed
    assert manifest(out, "run-c")["status"] == "succeeded"
    assert not (out / "_staging").exists()  # what the second run staged again is gone


def test_a_run_whose_counts_do_not_balance_commits_nothing_and_keeps_its_staging(tweets, tmp_path):
    out = tmp_path / "out"
    lost_record = (("twitter", "read", ""), 1)  # a record read that ends nowhere
    with pytest.raises(Exception, match=r"UnbalancedRun|balance"):
        run_pipeline(tweets, out, "run-d", extra_tallies=[lost_record])
    record = manifest(out, "run-d")
    assert record["status"] == "unbalanced" and not record["balanced"] and not record["snapshots"]
    assert record["counts"]["twitter"]["balanced"] is False
    assert not (out / "warehouse" / "catalog.db").exists()  # no table was even created
    assert not list((out / "lake").rglob("*.jsonl"))  # the lake files stay staged
    staging = Path(record["staging"])
    assert list(staging.rglob("*.parquet")) and list(staging.rglob("*.jsonl"))
    assert json.loads((staging / sinks.KEPT_FILE).read_text())["reason"] == "counts did not balance"


def test_two_attempts_of_one_runs_commit_racing_each_other_commit_once(tweets, tmp_path):
    """A retried commit step beside the attempt it retries (a worker thought lost, or the recovery of a later run
    on the host): each loads the table itself and commits the same files for the same run; one snapshot wins."""
    import threading

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from schemas import tables
    from warehouse.catalog import ensure_table, file_uri, local_path, writer_schema
    from warehouse.commit import upsert_files

    run_pipeline(tweets, tmp_path / "source", "run-e")
    rows = read_table(tmp_path / "source" / "warehouse" / "complaints")
    day = rows["event_date"][0]
    rows = rows.filter(pc.equal(rows["event_date"], day))  # a data file holds one partition

    config = CatalogConfig(str(tmp_path / "warehouse"))
    iceberg = ensure_table(open_catalog(config), config, tables.COMPLAINTS)
    folder = Path(local_path(iceberg.location())) / f"event_date={day.as_py().isoformat()}"
    folder.mkdir(parents=True)
    pq.write_table(rows.select(writer_schema(iceberg).names).cast(writer_schema(iceberg)), folder / "run-f-0.parquet")

    results, start = [], threading.Barrier(2)

    def attempt():
        table = load_table(open_catalog(config), config, tables.COMPLAINTS)  # each attempt its own view
        start.wait()
        results.append(
            upsert_files(
                table,
                [file_uri(str(folder / "run-f-0.parquet"))],
                tables.COMPLAINTS.key,
                {"run_id": "run-f"},
                once_per_run=True,
            )
        )

    attempts = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in attempts:
        thread.start()
    for thread in attempts:
        thread.join()
    assert len(results) == 2 and results[0].snapshot_id == results[1].snapshot_id
    iceberg = load_table(open_catalog(config), config, tables.COMPLAINTS)
    assert [s.summary.get("run_id") for s in iceberg.metadata.snapshots] == ["run-f"]
    assert read_table(tmp_path / "warehouse" / "complaints").num_rows == rows.num_rows


def test_a_detached_runs_manifest_and_staging_belong_to_its_job_not_to_the_launcher(tmp_path):
    """A launcher that submits a job and ends (``complaints batch --detach``, killed or not) leaves a run that a
    later run on the host must neither record as abandoned nor sweep: the job commits it."""
    import subprocess
    import sys

    from beam_pipelines import run_records
    from tests.support.paths import REPO

    launcher = (
        "import sys; from beam_pipelines import run_records; from transforms import sinks; "
        "out = sys.argv[1]; "
        "run_records.record_started(out, {'run_id': 'detached', 'batch_id': 'b'}, detached=True); "
        "run_records.record_started(out, {'run_id': 'waited', 'batch_id': 'b'}); "
        "[sinks.claim_staging(out, run, detached=run == 'detached') for run in ('detached', 'waited')]"
    )
    subprocess.run([sys.executable, "-c", launcher, str(tmp_path)], cwd=REPO, check=True, timeout=120)

    assert run_records.record_abandoned(str(tmp_path)) == ["waited"]  # its launcher's process is gone
    assert manifest(tmp_path, "detached")["status"] == "running"
    assert sinks.sweep_abandoned_staging(str(tmp_path)) == ["waited"]
    assert (tmp_path / "_staging" / "detached").is_dir()


def test_a_relaunch_leaves_the_staging_of_a_job_that_runs_on_after_its_launcher_died(tweets, tmp_path):
    """A waiting launcher stopped by Ctrl-C (or killed) while its job runs on elsewhere (Prism, Flink): its
    process is gone, the job's worker is not, and has staged files it has not committed. A relaunch on the host
    sweeps abandoned staging before it starts: it must leave this one, or the job ends ``unbalanced``. Once the
    job is gone, what it left is swept."""
    import subprocess
    import sys
    import time

    from tests.support.paths import REPO

    out, gate = tmp_path / "out", tmp_path / "gate"
    gate.mkdir()
    support = "tests.support.staging_race"
    launcher = f"import sys; from {support} import claim_as_a_launcher; claim_as_a_launcher(*sys.argv[1:3])"
    subprocess.run([sys.executable, "-c", launcher, str(out), "ran-on"], cwd=REPO, check=True, timeout=120)
    pattern = str(Path(tweets[0]).parent / "*.jsonl")
    job = subprocess.Popen(
        [sys.executable, "-m", support, pattern, str(out), "ran-on", str(gate)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not (gate / "ready").exists():
            assert job.poll() is None, job.stderr.read()[-3000:]
            time.sleep(0.1)
        staged = out / "_staging" / "ran-on"
        assert list((staged / "lake").rglob("*.jsonl"))  # the job's staged lake files, not committed yet

        assert sinks.sweep_abandoned_staging(str(out)) == []  # the relaunch: its launcher is gone, its job is not
        assert list((staged / "lake").rglob("*.jsonl"))

        (gate / "go").touch()
        assert job.wait(timeout=600) == 0, job.stderr.read()[-3000:]
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    record = manifest(out, "ran-on")
    assert record["status"] == "succeeded", record.get("reason")
    twitter = record["counts"]["twitter"]
    assert twitter["read"] == twitter["in_lake"] > 30
    assert len(keys(out, "complaints")) == twitter["written"]
    assert not (out / "_staging").exists()


def test_the_warehouse_writer_needs_only_a_warehouse_directory_and_takes_the_documented_quality_limits():

    from beam_pipelines.config import QualitySettings, load_settings
    from transforms import QualityLimits

    writer = WriteToWarehouse("out/warehouse")
    assert writer.output_dir == "out" and writer.catalog == CatalogConfig("out/warehouse")
    assert writer.batch_id == writer.run_id and writer.fail_pipeline
    assert set(writer.table_schemas) == {"complaints", "dead_letter"}
    assert writer.quality == QualityLimits()
    # the profile's [quality] is the library's limits (one home of their defaults) plus the alerts' own
    assert issubclass(QualitySettings, QualityLimits)
    assert writer.quality == QualityLimits(
        **{f: getattr(QualitySettings(), f) for f in QualityLimits.__dataclass_fields__}
    )
    assert isinstance(load_settings("dev").quality, QualityLimits)
    with pytest.raises(ValueError, match="run_id given to WriteToLake"):
        WriteToWarehouse("out/warehouse", lake=object())


@pytest.mark.parametrize(
    "writer, message",
    [
        # before: the pipeline ran, wrote every file, then its commit step failed ("'dict' object has no
        # attribute 'reject_ratio_confidence'") with no manifest to say why, staging left behind
        (
            lambda: WriteToWarehouse("out/warehouse", quality={"max_reject_ratio": 0.5}),
            "WriteToWarehouse(): quality must be a QualityLimits or None, not {'max_reject_ratio': 0.5}",
        ),
        (
            lambda: WriteToWarehouse("out/warehouse", batch_date="2026-11-20"),
            "WriteToWarehouse(): batch_date must be a datetime.date or None, not '2026-11-20'",
        ),
        (
            lambda: WriteToLake("out", run_id="r", ingest_date=dt.datetime(2026, 11, 20, 23, tzinfo=dt.UTC)),
            "WriteToLake(): ingest_date must be a datetime.date or None, not the datetime",
        ),
        (lambda: WriteToLake("out", run_id=None), "WriteToLake(): run_id must be the run's id, a str, not None"),
    ],
)
def test_a_writer_given_an_argument_of_the_wrong_kind_fails_when_it_is_constructed(writer, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        writer()


def test_the_lake_writer_takes_a_readers_result_and_refuses_complaints_at_construction(tweets, tmp_path):
    """``read | WriteToLake(...)`` writes the reader's raw records (before: Beam's AttributeError, ``'ChannelRead'
    object has no attribute 'is_bounded'``); ``read.complaints | WriteToLake(...)`` is refused when built (before:
    it was built, then failed on the workers, ``cannot unpack non-iterable int object``)."""
    out = tmp_path / "out"
    pattern = str(Path(tweets[0]).parent / "*.jsonl")
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        read = pipeline | ReadFromTwitter(pattern, run_id="whole-read", ingested_at=STARTED)
        in_lake = read | WriteToLake(str(out), run_id="whole-read", ingest_date=DAY)
        enriched = read | Clean() | Validate(ValidationRules(batch_date=DAY)) | Dedupe() | Enrich()
        enriched | WriteToWarehouse(str(out / "warehouse"), run_id="whole-read", batch_date=DAY, lake=in_lake)
    record = manifest(out, "whole-read")
    assert record["status"] == "succeeded"
    assert record["counts"]["twitter"]["in_lake"] == record["counts"]["twitter"]["read"] > 0

    read = beam.Pipeline(runner=FnApiRunner()) | ReadFromTwitter(pattern)
    for label, parsed in (("Complaints", read.complaints), ("Stage", read.stage)):
        with pytest.raises(TypeError, match=r"WriteToLake\(\) takes the raw records a reader read"):
            _ = parsed | label >> WriteToLake(str(out), run_id="parsed")


def test_the_warehouse_writer_refuses_an_unbounded_stage_at_construction(tmp_path):
    """A stream's panes would each reach the commit step: the first would commit part of the run and write its
    manifest, and every later pane's files would be discarded as a run already committed. So an unbounded input
    is refused when the pipeline is built, with a sentence that says why, whatever its windowing or trigger."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.testing.test_stream import TestStream
    from apache_beam.transforms import trigger, window

    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=options)
    live = (
        pipeline
        | TestStream().add_elements([(("twitter", "read", ""), 1)]).advance_watermark_to_infinity()
        | beam.WindowInto(
            window.GlobalWindows(),
            trigger=trigger.Repeatedly(trigger.AfterCount(1)),
            accumulation_mode=trigger.AccumulationMode.DISCARDING,
        )
    )
    nothing = [pipeline | f"Empty{i}" >> beam.Create([]) for i in range(2)]
    with pytest.raises(ValueError, match="needs a bounded input, and tallies is unbounded"):
        Stage(nothing[0], nothing[1], live) | WriteToWarehouse(str(tmp_path / "warehouse"), run_id="live")


def test_a_windowed_batch_stage_is_committed_once_for_the_whole_run(tmp_path):
    """A batch whose tallies and dead letters a user windowed (for windowed volumes, say) still has one commit
    step after every file: the writer takes its inputs back into the global window."""
    from apache_beam.transforms import window

    pipeline = beam.Pipeline(runner=FnApiRunner())
    tallies = (
        pipeline
        | "Tallies" >> beam.Create([(("twitter", "read", ""), 4), (("twitter", "duplicates", "copy"), 2)])
        | "Stamp" >> beam.Map(lambda tally: window.TimestampedValue(tally, 100))
        | "Minutes" >> beam.WindowInto(window.FixedWindows(60))
    )
    complaints = pipeline | "NoComplaints" >> beam.Create([])
    # two dead letters of one file (one ingest_date, one shard) in two different minutes
    rejected = [
        dead_letter(
            {
                "source": "twitter",
                "source_file": "t.jsonl",
                "line": line,
                "raw": "{",
                "batch_id": "b",
                "raw_encoding": "utf-8",
                "ingested_at": "2026-11-20T02:00:00+00:00",
                "run_id": "w",
            },
            "parse",
            "json",
            "not JSON",
        )
        for line in (1, 2)
    ]
    dead_letters = (
        pipeline
        | "DeadLetters" >> beam.Create(rejected)
        | "StampDead" >> beam.Map(lambda record: window.TimestampedValue(record, 60 * record["position"]))
        | "DeadMinutes" >> beam.WindowInto(window.FixedWindows(60))
    )
    Stage(complaints, dead_letters, tallies) | WriteToWarehouse(
        str(tmp_path / "warehouse"), run_id="windowed", dead_letter_files=1
    )
    pipeline.run().wait_until_finish()

    record = manifest(tmp_path, "windowed")
    assert record["status"] == "succeeded" and record["counts"]["twitter"]["duplicates"] == 2
    assert record["counts"]["twitter"]["rejected"] == 2 and record["balanced"]
    assert sorted(keys(tmp_path, "dead_letter")) == sorted(r["error_id"] for r in rejected)
    assert list((tmp_path / "_runs").glob("*.json")) == [tmp_path / "_runs" / "windowed.json"]


def test_rows_the_writers_counted_but_a_later_file_overwrote_make_the_run_unbalanced(tweets, tmp_path):
    """Two batches of one shard (a caller's own batching) write the same staged file, the second over the first,
    while the writer's tallies count both: the commit step counts the rows in the staged files, so the run does
    not balance and commits nothing, instead of a balanced manifest over a table short of complaints."""
    out = tmp_path / "out"
    pipeline = beam.Pipeline(runner=FnApiRunner())
    compose(pipeline, tweets, out, "split", split_shards=True)
    with pytest.raises(Exception, match=r"UnbalancedRun|staged data files"):
        pipeline.run().wait_until_finish()

    record = manifest(out, "split")
    assert record["status"] == "unbalanced" and not record["balanced"]
    assert record["staged_rows"]["complaints"] < record["counted_rows"]["complaints"]
    assert not (out / "warehouse" / "complaints").exists()


def test_a_second_run_reusing_a_committed_run_id_over_other_records_fails_instead_of_vanishing(tweets, tmp_path):
    """A run id names one run: a retried commit step has the same tallies as the run it retries. A pipeline
    that reuses a committed run's id (a run id written into the code, a template built once and run daily) over
    other records is refused, its staged files kept, instead of being taken for a retry and discarded unseen."""
    out = tmp_path / "out"
    run_pipeline(tweets, out, "run-e")
    first = manifest(out, "run-e")
    committed = {table: sorted(keys(out, table)) for table in ("complaints", "dead_letter")}

    one_more = [(("twitter", "read", ""), 1), (("twitter", "duplicates", "seen_before"), 1)]  # balanced
    with pytest.raises(Exception, match="run-e was committed already"):
        run_pipeline(tweets, out, "run-e", extra_tallies=one_more)
    assert manifest(out, "run-e") == first
    assert {table: sorted(keys(out, table)) for table in committed} == committed
    assert (out / "_staging" / "run-e" / sinks.KEPT_FILE).exists()


def test_a_commit_step_retried_after_its_manifest_was_written_finishes_the_lake_commit(tweets, tmp_path, monkeypatch):
    """The worker is lost between writing the run's manifest and removing its lake-commit journal: the retry
    sees a succeeded run, and must still remove the journal, or the run's lake files stay listed as uncommitted
    (reprocessing skips them) and the next launch on the host, finding the journal's owner gone, rewrites the
    committed run's manifest as abandoned."""
    out = tmp_path / "out"
    given = []
    monkeypatch.setattr(warehouse_io.RunCommit, "__call__", lambda self, tallies: given.append(tallies) or {})
    writer = run_pipeline(tweets, out, "run-f")
    monkeypatch.undo()
    [tallies] = given

    def lost_after_the_manifest(output_dir, run_id):
        raise WorkerLost()

    monkeypatch.setattr(sinks, "finish_lake_commit", lost_after_the_manifest)
    with pytest.raises(WorkerLost):
        writer.commit_step()(tallies)
    monkeypatch.undo()
    assert manifest(out, "run-f")["status"] == "succeeded" and sinks.uncommitted_lake_files(str(out))

    assert writer.commit_step()(tallies)["status"] == "succeeded"  # the runner's retry
    assert sinks.uncommitted_lake_files(str(out)) == set()
    assert not list((out / "lake" / "_commits").glob("*.json"))


def test_lake_files_staged_where_the_commit_step_does_not_look_make_the_run_unbalanced(tweets, tmp_path):
    """``WriteToLake`` given another output directory than ``WriteToWarehouse``: its tallies count every record
    in the lake, but the commit step finds none of its staged lake files, so it would commit the tables and a
    balanced manifest over a lake without the run. The commit step counts the staged lake files' lines."""
    out = tmp_path / "out"
    pipeline = beam.Pipeline(runner=FnApiRunner())
    compose(pipeline, tweets, out, "elsewhere", lake_dir=tmp_path / "other")
    with pytest.raises(Exception, match="staged lake files"):
        pipeline.run().wait_until_finish()

    record = manifest(out, "elsewhere")
    assert record["status"] == "unbalanced" and not record["balanced"]
    assert record["staged_lake_lines"] == {} and record["counted_lake_lines"]["twitter"] > 0
    assert not (out / "warehouse" / "complaints").exists() and not (out / "lake" / "raw").exists()
