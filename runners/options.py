"""Pipeline options per runner.

``DirectRunner`` here means Beam's portable FnApiRunner, named explicitly: Beam 2.77's DirectRunner would
first try to download the Prism runner binary, which fails offline and then silently falls back. Batch runs
use FnApiRunner with the profile's worker count and running mode (``multi_processing`` uses both cores).
Any other runner name (``FlinkRunner``, ``DataflowRunner``, ``PortableRunner``...) is passed to Beam as is.
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

LOCAL_RUNNERS = ("DirectRunner", "FnApiRunner")


def make_runner(name: str):
    if name in LOCAL_RUNNERS:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return name


def build_options(runner: str, beam_args: list[str], runner_defaults: dict) -> PipelineOptions:
    """Options from the command line's Beam flags, with the profile's DirectRunner defaults underneath."""
    args = list(beam_args)
    if runner in LOCAL_RUNNERS:
        given = " ".join(args)
        for name, value in runner_defaults.items():
            if f"--{name}" not in given:
                args.append(f"--{name}={value}")
    return PipelineOptions(args)
