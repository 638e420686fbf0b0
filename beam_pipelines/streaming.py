"""The streaming pipeline: live Twitter/X and web-form messages -> lake, warehouse, dead letter, live aggregates.

It is the batch pipeline's public transforms with streaming edges: ``ParseMessages() | Clean() | Validate() |
Dedupe(horizon) | Enrich(model_handler)``, which work one complaint at a time on a stream (``transforms.stages``).
``build_stream_graph`` takes raw records timestamped with their arrival (from any edge: Kafka, Pub/Sub, or a
TestStream in tests) and wires:

    raw records ──► lake (windows by arrival)
         ▼
    parse ► clean ► validate ► dedupe by complaint_id within a horizon ► enrich (RunInference)
         ▼
    event time ► windows with early/on-time/late panes ► warehouse complaints, complaint_volume, alerts
    every failure ► dead letter;  every outcome ► stream_counts and Beam counters

The edges are ``transforms/sources/live.py`` (Kafka, Pub/Sub readers); ``run_stream`` puts an edge and the graph
together.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

import apache_beam as beam

from beam_pipelines.config import Settings, StreamingSettings
from beam_pipelines.parameters import contact_token_key_for_workers, stream_timing, validation_rules
from beam_pipelines.progress import StreamProgress
from models.inference import ComplaintModelHandler
from schemas import tables
from transforms import Clean, Dedupe, Enrich, Validate
from transforms import windowed_sinks as sinks
from transforms.aggregates import CountVolumes, DetectSpikes, SpikeRules
from transforms.event_time import AssignEventTime, StreamTiming
from transforms.sources.messages import ParseMessages
from warehouse.catalog import CatalogConfig
from warehouse.runs import new_run_id


@dataclass
class StreamPlan:
    output_dir: str
    stream_id: str
    timing: StreamTiming = field(default_factory=lambda: stream_timing(StreamingSettings()))
    spike_rules: SpikeRules = field(default_factory=SpikeRules)
    customers_path: str | None = None
    model_dir: str | None = None
    model_watch: str | None = None  # e.g. MODELS/*/model_card.json: swap in each new model while running
    model_watch_seconds: int = 60
    shards: int = 1
    bounded: bool = False  # the input ends (--max-records): a backfill or a test
    catalog: CatalogConfig | None = None  # the warehouse tables' catalog; None: the embedded one in OUT/warehouse
    commit_attempts: int = 8
    run_id: str = field(default_factory=new_run_id)


def build_stream_graph(raw_records, plan: StreamPlan, settings: Settings, model_handler=None) -> dict:
    """Wire the streaming graph onto ``raw_records`` (raw records of live channels, timestamped with their
    arrival). Returns the PCollections of write results, for tests and for the runner to wait on."""
    timing, out = plan.timing, plan.output_dir
    writer = {"stream_id": plan.stream_id, "run_id": plan.run_id}
    committer = {**writer, "catalog": plan_catalog(plan), "attempts": plan.commit_attempts}
    model_handler = model_handler or ComplaintModelHandler(
        plan.model_dir,
        min_batch_size=1,
        max_batch_size=256,
        watch=plan.model_watch,
        watch_seconds=plan.model_watch_seconds,
    )

    lake = (
        raw_records
        | sinks.stream_windowing(timing, "LakeWindows")
        | "WriteLake" >> sinks.WriteWindowedFiles(out, sinks.LAKE, shards=plan.shards, **writer)
    )

    # Live records have no batch date: 'late' and 'future' are judged against their arrival. A bounded run
    # remembers every id until its input ends: expiry timers would only all fire at once when the end of input
    # moves the watermark to infinity, and a copy still on its way would then pass as new.
    enriched = (
        raw_records
        | "ParseMessages" >> ParseMessages()
        | "Clean" >> Clean()
        | "Validate" >> Validate(validation_rules(settings.validation, None))
        | "Dedupe" >> Dedupe(None if plan.bounded else timing.dedupe_horizon_seconds)
        | "Enrich"
        >> Enrich(
            model_handler, customers=plan.customers_path, contact_token_key=contact_token_key_for_workers(settings)
        )
    )
    rows = enriched.complaints | "EventTime" >> AssignEventTime(timing)
    windowed_rows = rows | sinks.stream_windowing(timing, "ComplaintWindows")

    written = windowed_rows | "WriteComplaints" >> sinks.CommitWindowedRows(layout=sinks.COMPLAINTS, **committer)
    volumes = (
        rows
        | sinks.stream_windowing(timing, "VolumeWindows", accumulating=True)
        | "CountVolumes" >> CountVolumes(timing.window_seconds)
        | sinks.stream_windowing(timing, "VolumeRowWindows")  # each firing's rows committed once
        | "WriteVolumes" >> sinks.CommitWindowedRows(layout=sinks.VOLUMES, **committer)
    )
    alerts = (
        rows
        | "DetectSpikes" >> DetectSpikes(timing.window_seconds, plan.spike_rules)
        | sinks.stream_windowing(timing, "AlertWindows")
        | "WriteAlerts" >> sinks.CommitWindowedRows(layout=sinks.ALERTS, **committer)
    )

    rejected = (
        enriched.dead_letters
        | sinks.stream_windowing(timing, "DeadLetterWindows")
        | "WriteDeadLetters" >> sinks.CommitWindowedRows(layout=sinks.DEAD_LETTERS, **committer)
    )

    counts = (
        (enriched.tallies, written, rejected)
        | "AllTallies" >> beam.Flatten()
        | "WriteStreamCounts"
        >> sinks.WriteStreamCounts(committer["catalog"], plan.stream_id, plan.run_id, timing, plan.commit_attempts)
    )
    return {"lake": lake, "counts": counts, "volumes": volumes, "alerts": alerts}


def plan_catalog(plan: StreamPlan) -> CatalogConfig:
    return plan.catalog or CatalogConfig.of_output(plan.output_dir)


def read_messages(pipeline: beam.Pipeline, transport: str, transport_config, plan: StreamPlan):
    """The streaming edge: raw records of the live channels from Kafka or Pub/Sub."""
    from transforms.sources.live import ReadKafkaMessages, ReadPubSubMessages

    read = ReadKafkaMessages if transport == "kafka" else ReadPubSubMessages
    return pipeline | "ReadMessages" >> read(transport_config, plan.run_id, plan.stream_id)


def prepare_edge(transport: str, transport_config, runner: str | None) -> None:
    """Check, before a job starts, what the edge needs: for Kafka on Prism the Prism binary, and for Kafka a
    broker that answers, with the channel topics created if missing (KafkaIO refuses a missing topic).
    Raises ``RunnerSetupError`` or ``TransportError`` with a line that says what to do."""
    if transport != "kafka":
        return
    from ingest.transport import publisher_for
    from runners.options import prism_location

    if (runner or "PrismRunner") == "PrismRunner":
        prism_location()
    publisher_for(transport_config).ensure_topics()


class StopRequests:
    """How the owner of a running stream asks it to stop (the CLI does, from its Ctrl-C and SIGTERM handlers; a
    program of its own from wherever it likes): the first ``request()`` cancels the job and lets the files in
    flight finish, a second one stops waiting for the runner at once. Thread-safe; ``run_stream`` installs no
    signal handler and touches no stream of the process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0

    def request(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count


class StreamStopped(Exception):
    """The stream ended because its owner asked it to stop (``StopRequests``); what it had committed stays."""


def run_stream(
    plan: StreamPlan,
    settings: Settings,
    transport: str,
    transport_config,
    *,
    runner=None,
    beam_args=(),
    model_handler=None,
    show_progress: bool = False,
    stop: StopRequests | None = None,
    on_job_started=None,
) -> dict:
    """Run the streaming pipeline until it is stopped through ``stop`` (or, with a bounded read, until it has read
    it all); returns this run's outcome totals from ``stream_counts``. A stop raises ``StreamStopped`` once the
    cancelled job has ended (or after ``CANCEL_GRACE_SECONDS``, or at a second request). ``on_job_started()`` is
    called once the runner has the job: the place for an owner to install its own signal handlers, after those
    a runner's job server installs as it starts."""
    from runners.options import stream_pipeline
    from warehouse.catalog import open_tables

    open_tables(plan_catalog(plan), ["complaints", "dead_letter", "complaint_volume", "alerts", "stream_counts"])
    from apache_beam.options.pipeline_options import PipelineOptions

    stop = stop or StopRequests()
    beam_args = list(beam_args)
    on_flink = runner == "FlinkRunner"
    job_name = PipelineOptions(beam_args).get_all_options().get("job_name")
    if on_flink and not job_name:  # a name to find the job by on the cluster
        job_name = f"complaints-{plan.stream_id}-{plan.run_id}".lower()
        beam_args.append(f"--job_name={job_name}")
    pipeline = stream_pipeline(transport, runner, beam_args, bounded=plan.bounded)
    build_stream_graph(read_messages(pipeline, transport, transport_config, plan), plan, settings, model_handler)
    result = pipeline.run()
    if on_job_started:
        on_job_started()

    def cancel() -> None:
        # on Flink, the REST cancel first: the job server's cancel leaves a job on a remote cluster running, and
        # it can be slow to answer while the cluster recovers from a lost TaskManager
        if on_flink:
            from runners.options import cancel_flink_job

            with contextlib.suppress(OSError, ValueError):
                cancel_flink_job(beam_args, job_name)
        with contextlib.suppress(Exception):  # a runner that has already stopped refuses the cancel
            result.cancel()

    progress = (
        StreamProgress(plan.output_dir, plan.run_id, catalog=plan_catalog(plan))
        if show_progress
        else contextlib.nullcontext()
    )
    with progress:
        cancelling = _wait_for_the_job(result, stop, cancel)
    if cancelling is not None and stop.count == 1:  # the runner's own clean-up (in its cancel) ends before we do,
        cancelling.join(CANCEL_GRACE_SECONDS)  # so no worker of this process is torn down mid-bundle
    if stop.count:
        raise StreamStopped(f"stream {plan.stream_id} run {plan.run_id} stopped on request")
    return stream_totals(plan.output_dir, plan.run_id, plan_catalog(plan))


CANCEL_GRACE_SECONDS = 60


def _wait_for_the_job(result, stop: StopRequests, cancel) -> threading.Thread | None:
    """Wait until the job ends. The runner's wait runs in a thread, so a stop request is honoured even when the
    runner never reports the cancelled job's end: the first request starts ``cancel`` in a thread (returned), and
    after ``CANCEL_GRACE_SECONDS``, or at a second request, this stops waiting. A job that fails on its own
    raises; one that fails because it was cancelled does not."""
    failure: list[BaseException] = []

    def wait() -> None:
        try:
            result.wait_until_finish()
        except Exception as error:  # noqa: BLE001 - re-raised below unless the job was cancelled
            failure.append(error)

    waiter = threading.Thread(target=wait, name="wait-for-stream", daemon=True)
    waiter.start()
    stop_seen, cancelling = None, None
    while waiter.is_alive():
        waiter.join(0.2)
        if stop.count and stop_seen is None:
            stop_seen = time.monotonic()
            cancelling = threading.Thread(target=cancel, name="cancel-stream", daemon=True)
            cancelling.start()
        if stop_seen is not None and (stop.count > 1 or time.monotonic() - stop_seen > CANCEL_GRACE_SECONDS):
            return cancelling
    if failure and not stop.count:
        raise failure[0]
    return cancelling


def stream_totals(output_dir: str, run_id: str | None = None, catalog: CatalogConfig | None = None) -> dict:
    """Outcome totals per source from ``stream_counts`` (of one run, or of all): read, written, rejected,
    duplicates, and whether they balance."""
    from warehouse.read import read_arrow

    catalog = catalog or CatalogConfig.of_output(output_dir)
    table = read_arrow(catalog, tables.STREAM_COUNTS.name, columns=("run_id", "source", "outcome", "count"))
    totals: dict = {}
    for row in table.to_pylist():
        if run_id and row["run_id"] != run_id:
            continue
        entry = totals.setdefault(row["source"], {"read": 0, "written": 0, "rejected": 0, "duplicates": 0})
        if row["outcome"] in entry:
            entry[row["outcome"]] += row["count"]
    for entry in totals.values():
        entry["balanced"] = entry["read"] == entry["written"] + entry["rejected"] + entry["duplicates"]
    return totals
