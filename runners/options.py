"""Pipeline options per runner.

``DirectRunner`` here means Beam's portable FnApiRunner, named explicitly: Beam 2.77's DirectRunner would
first try to download the Prism runner binary, which fails offline and then silently falls back. Batch runs
use FnApiRunner with the profile's worker count and running mode (``multi_processing`` uses both cores).
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
        raise RunnerSetupError(f"the Prism runner is not built at {location}: run "
                               "`python runners/local_services.py fetch` (or set COMPLAINTS_PRISM_LOCATION)")
    return location


def stream_pipeline(transport: str, runner: str | None, beam_args: list[str]):
    """A streaming ``beam.Pipeline`` for ``transport``. Kafka's cross-language read needs a portable runner:
    Prism locally (LOOPBACK: Python workers in this process), Flink or Dataflow on a cluster. Pub/Sub locally
    runs on Beam's streaming DirectRunner, named explicitly; ``DataflowRunner`` and others pass through."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions

    runner = runner or STREAM_RUNNER_FOR[transport]
    args = list(beam_args)
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
            raise RunnerSetupError("Kafka's cross-language read does not run on the DirectRunner: use "
                                   "--runner PrismRunner (the default), FlinkRunner or DataflowRunner")
        from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

        return beam.Pipeline(runner=BundleBasedDirectRunner(), options=options)
    return beam.Pipeline(runner=runner, options=options)
