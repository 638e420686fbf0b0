"""The ``complaints`` command line (also ``python -m beam_pipelines``).

Bad arguments, a missing input directory or an unwritable output give one clear line on stderr and a
non-zero exit, never a traceback. Unknown ``--flags`` of ``batch`` pass through to Beam unchanged.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import uuid

EXIT_USAGE, EXIT_INPUT, EXIT_FAILED, EXIT_UNBALANCED = 2, 3, 4, 5


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise CliError(f"{self.prog}: {message} (see --help)", EXIT_USAGE)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {value!r}, expected YYYY-MM-DD") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {number}")
    return number


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value!r}") from None
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {rate}")
    return rate


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="complaints", description="Beejan complaint data platform: pipelines and tools.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    generate = commands.add_parser("generate", help="write a realistic day of sample input for every channel")
    generate.add_argument("--output-dir", required=True, help="directory to write twitter/, webforms/, sms/, ...")
    generate.add_argument("--date", type=_date, help="the day (YYYY-MM-DD); default yesterday (UTC)")
    generate.add_argument("--volume", type=_positive, default=10_000, help="number of complaints (default 10000)")
    generate.add_argument("--seed", type=int, default=7, help="random seed: same seed, same files")
    generate.add_argument("--defect-rate", type=_rate, default=0.03,
                          help="share of records with a realistic defect (default 0.03)")

    batch = commands.add_parser("batch", help="run the batch pipeline on a directory of channel files",
                                epilog="Other --flags are Beam pipeline options and pass through unchanged.")
    batch.add_argument("--input-dir", required=True, help="input laid out as twitter/, webforms/, sms/, ...")
    batch.add_argument("--output-dir", required=True, help="where lake/, warehouse/ and _runs/ go")
    batch.add_argument("--date", type=_date, help="logical date of the batch (ingest_date); default today (UTC)")
    batch.add_argument("--batch-id", help="identity of the batch; a rerun with the same id replaces its output "
                                          "(default: from the date and the input directory)")
    batch.add_argument("--runner", default="DirectRunner",
                       help="DirectRunner (default, local), FlinkRunner, DataflowRunner or any Beam runner")
    batch.add_argument("--profile", help="configuration profile: dev (default), staging, prod, or a .toml file")
    batch.add_argument("--quiet", action="store_true", help="print only the summary")
    return parser


def _check_writable(output_dir: str) -> None:
    if "://" in output_dir:
        return
    try:
        os.makedirs(output_dir, exist_ok=True)
        probe = os.path.join(output_dir, f".write-test-{uuid.uuid4().hex}")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError as error:
        raise CliError(f"complaints: output directory {output_dir} is not writable: {error.strerror}") from None


def cmd_generate(args) -> int:
    from beam_pipelines.generator import generate

    _check_writable(args.output_dir)
    args.date = args.date or dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    expected = generate(args.output_dir, args.date, args.volume, args.seed, args.defect_rate)
    records = sum(counts.get("read", 0) for source, counts in expected.items() if source != "customers")
    print(f"wrote {args.volume} complaints ({records} raw records, defect rate {args.defect_rate}) for "
          f"{args.date} to {args.output_dir}; injected defects in {args.output_dir}/_truth/")
    return 0


def cmd_batch(args, beam_args: list[str]) -> int:
    from beam_pipelines.batch import InputError, UnbalancedRun, plan_batch, run_batch
    from beam_pipelines.config import ConfigError, load_settings
    from beam_pipelines.summary import format_summary

    for flag in beam_args:
        if not flag.startswith("--"):
            raise CliError(f"complaints batch: unexpected argument {flag!r} (see --help)", EXIT_USAGE)
    try:
        settings = load_settings(args.profile)
    except ConfigError as error:
        raise CliError(f"complaints: {error}") from None
    input_dir = args.input_dir if "://" in args.input_dir else os.path.abspath(args.input_dir)
    output_dir = args.output_dir if "://" in args.output_dir else os.path.abspath(args.output_dir)
    if "://" not in input_dir and not os.path.isdir(input_dir):
        raise CliError(f"complaints: input directory {args.input_dir} does not exist")
    _check_writable(output_dir)
    try:
        plan = plan_batch(input_dir, output_dir, settings, batch_date=args.date, batch_id=args.batch_id,
                          runner=args.runner, beam_args=beam_args)
    except InputError as error:
        raise CliError(f"complaints: {error}") from None
    if not args.quiet:
        total = sum(f.size for f in plan.files)
        print(f"run {plan.run_id}: batch {plan.batch_id}, {len(plan.files)} input files ({total / 1e6:.1f} MB), "
              f"{plan.shards} shards, runner {plan.runner}; running...", file=sys.stderr, flush=True)
    try:
        manifest = run_batch(plan, settings, show_progress=not args.quiet)
    except UnbalancedRun as error:
        raise CliError(f"complaints: counts did not balance, nothing committed: {error}", EXIT_UNBALANCED) from None
    except Exception as error:  # noqa: BLE001 - a failed run is reported in one line; details are logged
        logging.getLogger(__name__).debug("pipeline failed", exc_info=True)
        message = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise CliError(f"complaints: the pipeline failed, nothing was committed: {message[:500]}",
                       EXIT_FAILED) from None
    print(format_summary(manifest))
    return 0


def main(argv: list[str] | None = None) -> int:
    level = os.environ.get("COMPLAINTS_LOG_LEVEL", "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if "COMPLAINTS_LOG_LEVEL" not in os.environ:
        # Beam's local job service relays its SDK workers' start-up warnings; they are not the user's concern.
        logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.command == "batch":
            return cmd_batch(args, extra)
        if extra:
            raise CliError(f"complaints {args.command}: unrecognised arguments: {' '.join(extra)} (see --help)",
                           EXIT_USAGE)
        return cmd_generate(args)
    except CliError as error:
        print(str(error), file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("complaints: interrupted", file=sys.stderr)
        return 130
