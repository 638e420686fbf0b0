"""The pipelines' own options, as Beam ``PipelineOptions`` subclasses: what ``complaints batch`` and
``complaints stream run`` take, and what a launcher that speaks Beam's flags (a Dataflow Flex Template, a Flink
submission, ``python -m beam_pipelines.batch``) passes as ``--input_dir=...``. Each option has both spellings,
``--input-dir`` and ``--input_dir``; ``check_*`` validate them up front, before a pipeline is built.

The options are defined once here; the CLI adds the same definitions to its subcommands (``required=True``
there, since Beam's own parser must accept a command line without them).
"""

from __future__ import annotations

import datetime as dt
import os
import re

from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines.config import StreamingSettings
from ingest.transport import add_transport_arguments

BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class OptionsError(ValueError):
    """An option that cannot be used; the message names it and says why."""


def _flag(parser, name: str, **kwargs) -> None:
    """``--name-with-dashes`` and its Beam spelling ``--name_with_dashes``."""
    spellings = dict.fromkeys([f"--{name}", f"--{name.replace('-', '_')}"])
    parser.add_argument(*spellings, dest=name.replace("-", "_"), **kwargs)


class ComplaintsOptions(PipelineOptions):
    """Options every complaint pipeline takes: where its output goes, the profile, the models."""

    @staticmethod
    def add_arguments(parser, required: bool = False) -> None:
        _flag(parser, "output-dir", required=required, help="where lake/, warehouse/ and _runs/ go")
        _flag(parser, "profile", help="configuration profile: dev (default), staging, prod, or a .toml file")
        _flag(parser, "model-dir", help="trained models from `complaints model train` (default: the rules model)")

    @classmethod
    def _add_argparse_args(cls, parser):
        cls.add_arguments(parser)


class BatchOptions(PipelineOptions):
    """The batch pipeline's input and identity (``beam_pipelines/batch.py``)."""

    @staticmethod
    def add_arguments(parser, required: bool = False) -> None:
        _flag(parser, "input-dir", required=required, help="input laid out as twitter/, webforms/, sms/, ...")
        _flag(
            parser,
            "date",
            help="logical date of the batch (ingest_date, YYYY-MM-DD); default the day the "
            "channel files are named for (sms_YYYYMMDDHH.txt, calls_YYYYMMDD.csv), "
            "else today (UTC)",
        )
        _flag(
            parser,
            "batch-id",
            help="identity of the batch; a rerun with the same id replaces its output "
            "(default: from the date and the input directory)",
        )
        _flag(
            parser,
            "include",
            action="append",
            metavar="GLOB",
            help="read only the channel files whose path under the input directory matches, e.g. "
            "'sms/sms_20261126*.txt' or 'phone_logs/calls_20261126.*' (repeat for more; default: every "
            "file); the customer master (customers/) is read whatever the patterns",
        )

    @classmethod
    def _add_argparse_args(cls, parser):
        cls.add_arguments(parser)


class StreamOptions(PipelineOptions):
    """The streaming pipeline's edge and timing (``beam_pipelines/streaming.py``); unset timing options take
    the profile's ``[streaming]`` settings."""

    @staticmethod
    def add_arguments(parser, required: bool = False) -> None:
        defaults = StreamingSettings()
        add_transport_arguments(parser, required)
        _flag(parser, "group-id", default="complaints-stream", help="Kafka consumer group")
        _flag(
            parser,
            "expansion-service",
            default=os.environ.get("COMPLAINTS_EXPANSION_SERVICE", "localhost:18097"),
            help="address of the Java expansion service that serves the Kafka read",
        )
        _flag(
            parser,
            "max-records",
            type=int,
            help="stop after reading this many messages (a bounded run: tests, backfills)",
        )
        _flag(parser, "customers", help="customer master CSV for linking (default: none, all unknown)")
        _flag(
            parser,
            "model-watch",
            metavar="PATTERN",
            help="swap in new models while running: a glob of model cards, e.g. 'MODELS/*/model_card.json' "
            "(each new directory from `complaints model train`)",
        )
        _flag(
            parser, "model-watch-seconds", type=int, default=60, help="how often to look for a new model (default 60)"
        )
        _flag(
            parser,
            "stream-id",
            help="name of this stream in file names and stream_counts (default: stream-<transport>)",
        )
        _flag(
            parser,
            "run-id",
            help="carry on a run: the run id of the job whose Flink savepoint this one "
            "restores, so its windows' counts are replaced, not added (default: a new run)",
        )
        _flag(
            parser,
            "window-seconds",
            type=int,
            help=f"event-time window (default: the profile's, {defaults.window_seconds})",
        )
        _flag(
            parser,
            "allowed-lateness",
            type=int,
            help="seconds after a window closes that late records still join it "
            f"(default: the profile's, {defaults.allowed_lateness_seconds})",
        )
        _flag(
            parser,
            "early-firing-count",
            type=int,
            help="write an open window early once this many records wait, 0: never "
            f"(default: the profile's, {defaults.early_firing_count})",
        )
        _flag(
            parser,
            "dedupe-horizon",
            type=int,
            help="seconds a complaint_id is remembered for dedup "
            f"(default: the profile's, {defaults.dedupe_horizon_seconds})",
        )
        _flag(parser, "shards", type=int, default=1, help="files per partition and pane (default 1)")

    @classmethod
    def _add_argparse_args(cls, parser):
        cls.add_arguments(parser)


def _positive(values, name: str, minimum: int = 1) -> None:
    value = getattr(values, name, None)
    if value is not None and value < minimum:
        raise OptionsError(
            f"--{name.replace('_', '-')}: expected {'a positive number' if minimum else 'zero or more'}, got {value}"
        )


def check_batch(values) -> dt.date | None:
    """Validate batch options (an argparse namespace or ``options.view_as(BatchOptions)``); returns the date."""
    for name in ("input_dir", "output_dir"):
        if not getattr(values, name, None):
            raise OptionsError(f"--{name.replace('_', '-')} is required")
    if values.batch_id is not None and not BATCH_ID.fullmatch(values.batch_id):
        raise OptionsError(
            f"--batch-id {values.batch_id!r}: use letters, digits, '.', '_' and '-' (at most 100, "
            "starting with a letter or digit)"
        )
    if values.date is None:
        return None
    try:
        return dt.date.fromisoformat(values.date)
    except ValueError:
        raise OptionsError(f"--date: invalid date {values.date!r}, expected YYYY-MM-DD") from None


def check_stream(values) -> None:
    """Validate stream options (an argparse namespace or ``options.view_as(StreamOptions)``)."""
    if not getattr(values, "output_dir", None):
        raise OptionsError("--output-dir is required")
    if values.transport not in ("kafka", "pubsub"):
        raise OptionsError(f"--transport: expected kafka or pubsub, got {values.transport!r}")
    for name in ("max_records", "model_watch_seconds", "window_seconds", "dedupe_horizon", "shards"):
        _positive(values, name)
    for name in ("allowed_lateness", "early_firing_count"):
        _positive(values, name, minimum=0)
    run_id = getattr(values, "run_id", None)
    if run_id is not None and not BATCH_ID.fullmatch(run_id):
        raise OptionsError(
            f"--run-id {run_id!r}: use letters, digits, '.', '_' and '-' (at most 100, starting with a letter or digit)"
        )


#: Runners that hand on the options Python does not know to a runner of their own (Flink's and Spark's job
#: servers, Prism): an unknown ``--flag`` may be a real option there, e.g. Flink's ``--checkpointing_interval``.
FORWARDING_RUNNERS = ("FlinkRunner", "PortableRunner", "SparkRunner", "PrismRunner")


def check_runner(name: str) -> None:
    """Refuse a runner Beam does not know (a dotted class path of a runner of one's own is accepted)."""
    from apache_beam.options.pipeline_options import StandardOptions

    known = {path.rsplit(".", 1)[-1] for path in StandardOptions.ALL_KNOWN_RUNNERS} | {"FnApiRunner", "PrismRunner"}
    lowered = {runner.lower() for runner in known}
    if "." in name or name.lower() in lowered or f"{name.lower()}runner" in lowered:
        return
    raise OptionsError(f"--runner: unknown runner {name!r} (known: {', '.join(sorted(known))}, or a class path)")


def beam_option_names() -> list[str]:
    """Every ``--flag`` that a registered ``PipelineOptions`` class defines: Beam's and ours."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(cls): cls for cls in PipelineOptions.__subclasses__()}.values():
        try:
            cls._add_argparse_args(parser)
        except Exception:  # noqa: BLE001 - a third-party options class that clashes is not ours to judge
            continue
    return sorted({string for action in parser._actions for string in action.option_strings})


def unknown_options(beam_args: list[str], also_known: tuple[str, ...] = ()) -> list[tuple[str, list[str]]]:
    """The ``--flags`` of ``beam_args`` that no options class knows, each with the known flags it is close to."""
    import difflib

    known = set(beam_option_names()) | set(also_known)
    found = []
    for arg in beam_args:
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            if flag not in known:
                found.append((flag, difflib.get_close_matches(flag, sorted(known), n=2, cutoff=0.75)))
    return found
