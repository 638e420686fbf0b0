"""Pipeline options per runner.

``DirectRunner`` here means Beam's portable FnApiRunner, named explicitly: Beam 2.77's DirectRunner would
first try to download the Prism runner binary, which fails offline and then silently falls back. Batch runs
use FnApiRunner with the profile's worker count and running mode (``multi_processing`` uses both cores), or in
one process for a small input (``local_runner_options``).
Any other runner name (``FlinkRunner``, ``DataflowRunner``, ``PortableRunner``...) is passed to Beam as is.
"""

from __future__ import annotations

import os
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

LOCAL_RUNNERS = ("DirectRunner", "FnApiRunner")


def make_runner(name: str):
    if name in LOCAL_RUNNERS:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return name


def build_options(runner: str, beam_args: list[str], runner_defaults: dict) -> PipelineOptions:
    """Options from the command line's Beam flags, with the profile's local-runner options underneath: the
    profile's come first as flags, so Beam's parser lets a flag given on the command line win."""
    defaults = runner_defaults if runner in LOCAL_RUNNERS else {}
    return PipelineOptions([*_as_flags(defaults), *beam_args])


#: what the local runner runs a small batch with (``local_runner_options``)
SINGLE_PROCESS = {"direct_num_workers": 1, "direct_running_mode": "in_memory"}


def local_runner_options(
    runner_defaults: dict, beam_args: list[str], input_bytes: int, single_process_below_mb: int
) -> dict:
    """The local runner's options for a batch of ``input_bytes``: the profile's, except that an input smaller
    than ``single_process_below_mb`` runs in this process. Worker processes each import Beam and every record
    travels to them and back, which below about 30,000 complaints costs more than the second core gains
    (README, "Performance"). A running mode or worker count on the command line is never overridden."""
    chosen = any(arg.startswith(("--direct_running_mode", "--direct_num_workers")) for arg in beam_args)
    if chosen or input_bytes >= single_process_below_mb * 2**20:
        return dict(runner_defaults)
    return {**runner_defaults, **SINGLE_PROCESS}


def _as_flags(options: dict) -> list[str]:
    flags = []
    for name, value in options.items():
        if value is True:
            flags.append(f"--{name}")
        elif isinstance(value, list):
            flags.extend(f"--{name}={item}" for item in value)
        elif value is not False and value is not None:
            flags.append(f"--{name}={value}")
    return flags


# -- streaming ---------------------------------------------------------------------------------------------
STREAM_RUNNER_FOR = {"kafka": "PrismRunner", "pubsub": "DirectRunner"}


class RunnerSetupError(Exception):
    """A runner that cannot start here; the message says what to do."""


def prism_location() -> str:
    """The Prism binary: ``COMPLAINTS_PRISM_LOCATION``, else the one ``runners/local_services.py`` builds into
    its services directory (``COMPLAINTS_SERVICES_DIR``, by default ``.services`` in the current directory, the
    checkout it is run from). Nothing is looked up relative to where this package is installed."""
    services = Path(os.environ.get("COMPLAINTS_SERVICES_DIR", ".services"))
    location = os.environ.get("COMPLAINTS_PRISM_LOCATION") or str((services / "bin" / "prism").absolute())
    if not os.path.exists(location):
        raise RunnerSetupError(
            f"the Prism runner is not built at {location}: run "
            "`python runners/local_services.py fetch` (or set COMPLAINTS_PRISM_LOCATION)"
        )
    return location


#: How often a streaming job on Flink checkpoints unless ``--checkpointing_interval`` says otherwise. It also sets
#: the stream's latency there: the watermark after the Kafka read moves on in steps of about this interval, so a
#: record becomes readable about a window plus one interval after it was published (measurements: README,
#: "Streaming latency on Flink").
FLINK_CHECKPOINT_MS = 10_000


def flink_rest_address(beam_args: list[str]) -> str:
    """The Flink REST address of ``--flink_master`` (``host:port``, ``http://host:port`` or ``[auto]``)."""
    master = PipelineOptions(beam_args).get_all_options().get("flink_master") or "[auto]"
    master = "localhost:8081" if master in ("[auto]", "[local]") else master
    return master if master.startswith(("http://", "https://")) else f"http://{master}"


def cancel_flink_job(beam_args: list[str], job_name: str) -> list[str]:
    """Cancel the running Flink jobs named ``job_name`` through Flink's REST API; returns their ids. Beam's Flink
    job server, asked to cancel, only stops waiting for a job on a remote cluster: the job would run on."""
    import json
    import urllib.request

    rest = flink_rest_address(beam_args)
    with urllib.request.urlopen(f"{rest}/jobs/overview", timeout=10) as response:
        jobs = [
            job["jid"]
            for job in json.load(response)["jobs"]
            if job["name"] == job_name and job["state"] not in ("FINISHED", "CANCELED", "FAILED")
        ]
    for job_id in jobs:
        request = urllib.request.Request(f"{rest}/jobs/{job_id}?mode=cancel", method="PATCH")
        urllib.request.urlopen(request, timeout=10).close()
    return jobs


def flink_stream_flags(beam_args: list[str], bounded: bool) -> list[str]:
    """What a streaming job on Flink needs besides the user's flags (the job server reads them):

    - checkpoints (every ``FLINK_CHECKPOINT_MS``), which is what makes a TaskManager's loss safe;
    - ``--finish_bundle_before_checkpointing``: without it Beam 2.70's Flink runner, checkpointing a portable
      job, holds back the output of its Python stages (no window ever fires);
    - for a bounded run (``--max-records``), ``--shutdown_sources_after_idle_ms``: with checkpoints on, Flink
      keeps the job's Impulse source alive for ever, so the job would not end when its input does."""
    given = " ".join(beam_args)
    flags = []
    if "--checkpointing_interval" not in given:
        flags.append(f"--checkpointing_interval={FLINK_CHECKPOINT_MS}")
    if "--finish_bundle_before_checkpointing" not in given:
        flags.append("--finish_bundle_before_checkpointing")
    if bounded and "--shutdown_sources_after_idle_ms" not in given:
        flags.append("--shutdown_sources_after_idle_ms=5000")
    return flags


def _quiet_about(flags: list[str]) -> None:
    """Python's option parser warns "Unparseable argument" about each flag only the job server reads; the
    ones added here are meant, so that warning would only alarm."""
    import logging

    meant = tuple(f"Unparseable argument: {flag}" for flag in flags)

    def not_meant(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(meant) if meant else True

    logging.getLogger("apache_beam.options.pipeline_options").addFilter(not_meant)


def stream_pipeline(transport: str, runner: str | None, beam_args: list[str], bounded: bool = False):
    """A streaming ``beam.Pipeline`` for ``transport``. Kafka's cross-language read needs a portable runner:
    Prism locally (LOOPBACK: Python workers in this process), Flink or Dataflow on a cluster. Pub/Sub locally
    runs on Beam's streaming DirectRunner, named explicitly; ``DataflowRunner`` and others pass through, Flink
    with the flags of ``flink_stream_flags``."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions

    runner = runner or STREAM_RUNNER_FOR[transport]
    args = list(beam_args)
    if runner == "FlinkRunner":
        added = flink_stream_flags(args, bounded)
        args += added
        _quiet_about(added)
    if runner == "PrismRunner":
        given = " ".join(args)
        if "--prism_location" not in given:
            args.append(f"--prism_location={prism_location()}")
        if "--environment_type" not in given:
            args.append("--environment_type=LOOPBACK")
        args.append("--runner=PrismRunner")
        options = PipelineOptions(args)
        options.view_as(StandardOptions).streaming = True
        return beam.Pipeline(options=options)
    options = PipelineOptions(args)
    options.view_as(StandardOptions).streaming = True
    if runner in LOCAL_RUNNERS:
        if transport == "kafka":
            raise RunnerSetupError(
                "Kafka's cross-language read does not run on the DirectRunner: use "
                "--runner PrismRunner (the default), FlinkRunner or DataflowRunner"
            )
        from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

        return beam.Pipeline(runner=BundleBasedDirectRunner(), options=options)
    return beam.Pipeline(runner=runner, options=options)
