"""``complaints batch`` and ``complaints stream run|supervise``: the Beam pipelines (``beam_pipelines/batch.py``,
``beam_pipelines/streaming.py``). Every other ``--flag`` of these commands is a Beam pipeline option.

A batch reads one of three inputs and runs them through the same batch graph, commit and checks: a day of channel
files (``--input-dir``), the lake's raw records of some days again (``--from-lake``: ``beam_pipelines/reprocess.py``)
or the review queue's corrected records (``--from-review``: ``beam_pipelines/review.py``); whichever it was, a
failure is reported in one line with the exit code of ``common.exit_code``."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import select
import signal
import sys
import threading

from beam_pipelines.cli.common import (
    EXIT_FAILED,
    EXIT_UNBALANCED,
    EXIT_USAGE,
    CliError,
    Command,
    Group,
    absolute,
    check_writable,
    date,
    exit_code,
    failure_reason,
    pipeline_failure,
)
from beam_pipelines.cli.ingest import transport_config

BEAM_OPTIONS_EPILOG = "Other --flags are Beam pipeline options and pass through unchanged."


def settings_for_pipeline(args, beam_args: list[str], runner: str):
    """The profile's settings, after checking the runner and that every argument left for Beam is a Beam option
    (on a runner that forwards options to a runner of its own, an option Python does not know is noted and
    passed on)."""
    from beam_pipelines.config import ConfigError, load_settings
    from beam_pipelines.options import FORWARDING_RUNNERS, OptionsError, check_runner, unknown_options

    try:
        check_runner(runner)
    except OptionsError as error:
        raise CliError(f"complaints {args.command}: {error}", EXIT_USAGE) from None
    for flag, close in unknown_options(beam_args, also_known=("--runner", "--quiet")):
        if runner in FORWARDING_RUNNERS:
            print(
                f"complaints {args.command}: passing {flag} to {runner} as is (not a Python option of Beam's)",
                file=sys.stderr,
            )
            continue
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise CliError(
            f"complaints {args.command}: unknown option {flag}{hint}: neither ours nor a Beam "
            f"pipeline option (see --help)",
            EXIT_USAGE,
        )
    for flag in beam_args:
        if not flag.startswith("--"):
            raise CliError(f"complaints {args.command}: unexpected argument {flag!r} (see --help)", EXIT_USAGE)
    try:
        settings = load_settings(args.profile)
    except ConfigError as error:
        raise CliError(f"complaints {args.command}: {error}") from None
    warn_if_password_not_sent(settings, runner, beam_args, args.command)
    warn_if_key_not_sent(settings, runner, beam_args, args.command)
    return settings


#: runners whose workers run in this process or in processes it starts (unless an --environment_type says otherwise)
RUNNERS_WITH_OWN_WORKERS = ("DirectRunner", "FnApiRunner", "PrismRunner")


def workers_started_here(runner: str, beam_args: list[str]) -> bool:
    """True when the pipeline's workers run in this process or in processes it starts, and so see its
    environment: a local runner's, or any runner's ``--environment_type=LOOPBACK``."""
    environment = None
    for n, flag in enumerate(beam_args):
        if flag.startswith("--environment_type="):
            environment = flag.split("=", 1)[1]
        elif flag == "--environment_type" and n + 1 < len(beam_args):
            environment = beam_args[n + 1]
    if environment is not None:
        return environment.upper() == "LOOPBACK"
    return runner in RUNNERS_WITH_OWN_WORKERS


def warn_if_password_not_sent(settings, runner: str, beam_args: list[str], command: str) -> None:
    """One line when the catalog URI holds a password that workers elsewhere will not get: the launcher keeps it
    out of the job (``beam_pipelines.parameters.warehouse_catalog_config``), so they must find it themselves."""
    from beam_pipelines.parameters import configured_catalog_uri
    from warehouse.catalog import split_password

    warehouse = settings.warehouse
    if not warehouse.catalog_password_env or workers_started_here(runner, beam_args):
        return
    if split_password(configured_catalog_uri(warehouse))[1] is not None:
        places = ", ".join(
            place for place in (f"${warehouse.catalog_password_env}", warehouse.catalog_password_file) if place
        )
        print(
            f"complaints {command}: the catalog URI's password is not sent with the job: {runner}'s workers "
            f"must find it themselves ({places}, PGPASSWORD or ~/.pgpass; docs/operations/shared-catalog.md)",
            file=sys.stderr,
        )


def warn_if_key_not_sent(settings, runner: str, beam_args: list[str], command: str) -> None:
    """One line when the contact-token key is written in the profile file and workers elsewhere will not get it:
    the launcher hands it only to the workers it starts (``beam_pipelines.parameters.contact_token_key_for_workers``),
    and the job carries no key. (The dev profile's own key needs no handing over: a worker that finds none takes it.)"""
    from transforms.enrichment import DEVELOPMENT_TOKEN_KEY

    if settings.contact_token_key_source != "profile file" or settings.contact_token_key == DEVELOPMENT_TOKEN_KEY:
        return
    if workers_started_here(runner, beam_args):
        return
    security = settings.security
    env, file = security.contact_token_key_env, security.contact_token_key_file
    places = " or ".join(place for place in (f"${env}" if env else "", file) if place) or "nowhere named"
    print(
        f"complaints {command}: the profile's contact-token key is not sent with the job: {runner}'s workers must "
        f"find the same key themselves ({places}), or the job fails as they set up",
        file=sys.stderr,
    )


PUBLIC_KEY_WARNING = (
    "complaints {command}: WARNING: contact tokens are made with the {profile} profile's public "
    "key, so anyone with this repository can reverse them to phone numbers and e-mails: set "
    "COMPLAINTS_CONTACT_TOKEN_KEY to a secret for real data (this run's manifest records it; "
    "`complaints serve` refuses such a warehouse beyond loopback)"
)


def warn_if_public_key(settings, command: str) -> None:
    if settings.public_contact_token_key:
        print(PUBLIC_KEY_WARNING.format(command=command, profile=settings.profile), file=sys.stderr)


@contextlib.contextmanager
def one_line_on_interrupt(command: str, output_dir: str | None = None):
    """Ctrl-C ends the command with one line, ``complaints <command>: interrupted, nothing was committed``, and
    exit 130, instead of the many tracebacks a local runner's threads and worker processes print as they stop.
    The runs it interrupted under ``output_dir`` are recorded as ``interrupted`` in their manifests first.

    While the pipeline runs, this process's stderr (which the worker processes it starts inherit) is a pipe that
    a thread copies to the terminal as it comes. The interrupt is seen by that thread at once, through the
    signal wake-up fd (written when the signal arrives, before any worker can print), and from then on nothing is
    copied, so what the stopping runner and workers print goes nowhere."""
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    done_read, done_write = os.pipe()  # readable once the command has finished: no interrupt to wait for
    os.dup2(write_end, 2)
    os.close(write_end)
    silenced = threading.Event()

    def woken(timeout: float | None) -> bool:
        """Whether SIGINT arrived (within ``timeout``, cut short when the command has finished); the wake-up fd
        carries the numbers of signals caught."""
        ready, _, _ = select.select([wake_read, done_read], [], [], timeout)
        if wake_read in ready and signal.SIGINT in os.read(wake_read, 512):
            silenced.set()
            stop_workers()  # now, before the main thread's handler runs: they print as they stop
        return silenced.is_set()

    def relay():
        while True:
            ready, _, _ = select.select([read_end, wake_read], [], [])
            if wake_read in ready:
                woken(0)
            if read_end in ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    return
                # a chunk goes out only if no interrupt follows within 0.2 s: a worker that got the same
                # Ctrl-C may have printed before this process's handler ran
                if not silenced.is_set() and not woken(0.2):
                    os.write(terminal, chunk)

    def stop_workers():
        for pid in _descendants(os.getpid()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def interrupted(_signum, _frame):
        silenced.set()
        logging.disable(logging.CRITICAL)
        threading.excepthook = lambda _args: None
        raise KeyboardInterrupt

    copier = threading.Thread(target=relay, name="stderr-relay", daemon=True)
    copier.start()
    previous_wakeup = signal.set_wakeup_fd(wake_write)
    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    except BaseException:
        # after a Ctrl-C, whatever comes out is the interrupt: run in this process (a small batch), a DoFn's
        # KeyboardInterrupt reaches here wrapped by Beam as the step's failure
        if not silenced.is_set():
            raise
        stop_workers()
        if output_dir:
            with contextlib.suppress(Exception):  # the one line and exit 130 come whatever the manifest does
                from beam_pipelines.run_records import mark_interrupted

                mark_interrupted(output_dir)
        os.write(terminal, f"complaints {command}: interrupted, nothing was committed\n".encode())
        os._exit(130)  # the runner's threads may still be stopping: leave without waiting for them
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.set_wakeup_fd(previous_wakeup)
        sys.stderr.flush()
        os.write(done_write, b"x")  # what is left in the pipe goes out without the 0.2 s wait for an interrupt
        os.dup2(terminal, 2)  # the pipe's last writer closes: the relay copies what is left and ends
        copier.join(timeout=2)
        for fd in (terminal, read_end, wake_read, wake_write, done_read, done_write):
            os.close(fd)


def _descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and theirs (Linux ``/proc``; nothing elsewhere)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children.get(child, []))
    return found


def checked_model_factory(model_dir: str | None):
    """The model factory for ``model_dir`` (None: the rules model), loaded once here so that a bad model
    directory fails now, not on a worker mid-run."""
    from models.sklearn_model import ModelDirectoryError, ModelFactory

    factory = ModelFactory(model_dir)
    try:
        factory()
    except ModelDirectoryError as error:
        raise CliError(f"complaints: {error}") from None
    return factory


BATCH_EPILOG = (
    "One of --input-dir (a day of channel files), --from-lake (the lake's raw records of the days "
    "--start to --end, through today's rules and models: same complaint_ids, rows replaced) or "
    "--from-review (the review queue's corrected records). " + BEAM_OPTIONS_EPILOG
)


def batch_arguments(parser) -> None:
    from beam_pipelines.options import BatchOptions, ComplaintsOptions

    ComplaintsOptions.add_arguments(parser, required=True)
    files = parser.add_argument_group("a day of channel files")
    BatchOptions.add_arguments(files)
    lake = parser.add_argument_group("the lake's days again, or the review queue's corrections (OUT/lake)")
    lake.add_argument(
        "--from-lake",
        action="store_true",
        help="reprocess the raw records the lake under --output-dir received from --start to --end, one run per day",
    )
    lake.add_argument("--start", type=date, metavar="YYYY-MM-DD", help="with --from-lake: first ingest date")
    lake.add_argument("--end", type=date, metavar="YYYY-MM-DD", help="with --from-lake: last ingest date (inclusive)")
    lake.add_argument(
        "--from-review",
        action="store_true",
        help="re-inject the review queue's corrected records (their originals found in the lake), one "
        "run per original batch day; also writes the reviewers' labels for `complaints model "
        "train`",
    )
    lake.add_argument(
        "--customers",
        help="customer master to link with: a CSV file or a folder of them, e.g. the "
        "batch input's customers/ (default: none, every complaint is flagged "
        "unknown_customer)",
    )
    parser.add_argument(
        "--runner",
        default="DirectRunner",
        help="DirectRunner (default, local), FlinkRunner, DataflowRunner or any Beam runner",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    parser.add_argument(
        "--detach",
        action="store_true",
        help="submit the job and exit without waiting (Flink, Dataflow): the job commits by itself "
        "and writes its manifest, OUT/_runs/RUN_ID.json, whose status says how it ended",
    )


def checked(check, args):
    """Run an options check of ``beam_pipelines.options``; a problem is bad usage (exit 2)."""
    from beam_pipelines.options import OptionsError

    try:
        return check(args)
    except OptionsError as error:
        raise CliError(f"complaints {args.command}: {error}", EXIT_USAGE) from None


def batch_input(args) -> str:
    """Which input the batch reads, ``files``, ``lake`` or ``review``, after checking that exactly one is named
    and that the flags given belong to it."""
    named = [
        flag
        for flag, given in (
            ("--input-dir", args.input_dir),
            ("--from-lake", args.from_lake),
            ("--from-review", args.from_review),
        )
        if given
    ]
    if len(named) != 1:
        raise CliError(
            f"complaints batch: {'give only one of' if named else 'name the input:'} --input-dir, "
            "--from-lake or --from-review (see --help)",
            EXIT_USAGE,
        )
    kind = {"--input-dir": "files", "--from-lake": "lake", "--from-review": "review"}[named[0]]
    belongs = {
        "--date": ("files", args.date),
        "--batch-id": ("files", args.batch_id),
        "--include": ("files", args.include),
        "--start": ("lake", args.start),
        "--end": ("lake", args.end),
        "--customers": ("lake review", args.customers),
    }
    for flag, (kinds, given) in belongs.items():
        if given is not None and kind not in kinds.split():
            raise CliError(f"complaints batch: {flag} does not go with {named[0]} (see --help)", EXIT_USAGE)
    if kind == "lake":
        if args.start is None or args.end is None:
            raise CliError("complaints batch: --from-lake needs --start and --end", EXIT_USAGE)
        if args.end < args.start:
            raise CliError("complaints batch: --end is before --start", EXIT_USAGE)
        if (args.end - args.start).days > 366:
            raise CliError("complaints batch: at most 367 days at once (one run per day)", EXIT_USAGE)
    return kind


def run_batch_command(args, beam_args: list[str]) -> int:
    """A batch of channel files, of the lake's days or of the review queue's corrections: checked, planned, run and
    reported the same way, failures through the one mapping (``pipeline_failure``)."""
    kind = batch_input(args)
    settings = settings_for_pipeline(args, beam_args, args.runner)
    output_dir = absolute(args.output_dir)
    if kind == "files":
        return _batch_of_files(args, beam_args, settings, output_dir)
    if "://" not in output_dir and not os.path.isdir(os.path.join(output_dir, "lake")):
        whose = (
            "the batches and streams whose records to reprocess"
            if kind == "lake"
            else "whose review queue to re-inject"
        )
        raise CliError(f"complaints batch: {args.output_dir} has no lake/ (the --output-dir of {whose})")
    if kind == "review" and "://" in output_dir:
        raise CliError("complaints batch: --from-review works on a local --output-dir", EXIT_USAGE)
    check_writable(output_dir)
    model_factory = checked_model_factory(os.path.abspath(args.model_dir) if args.model_dir else None)
    warn_if_public_key(settings, "batch")
    if kind == "lake":
        return _batch_of_the_lake(args, beam_args, settings, output_dir, model_factory)
    return _batch_of_the_review_queue(args, beam_args, settings, output_dir, model_factory)


def _batch_of_files(args, beam_args: list[str], settings, output_dir: str) -> int:
    from beam_pipelines.batch import plan_batch, run_batch
    from beam_pipelines.input_days import day_in_name
    from beam_pipelines.options import check_batch
    from beam_pipelines.summary import format_summary
    from transforms import run_manifests

    batch_date = checked(check_batch, args)
    input_dir = absolute(args.input_dir)
    if "://" not in input_dir and not os.path.isdir(input_dir):
        raise CliError(f"complaints batch: input directory {args.input_dir} does not exist")
    model_factory = checked_model_factory(os.path.abspath(args.model_dir) if args.model_dir else None)
    try:
        plan = plan_batch(
            input_dir,
            output_dir,
            settings,
            batch_date=batch_date,
            batch_id=args.batch_id,
            runner=args.runner,
            beam_args=beam_args,
            include=args.include,
        )
    except Exception as error:  # noqa: BLE001 - an unusable input: one line, exit 3 (the one mapping)
        raise pipeline_failure(error, "batch", "nothing was committed") from None
    check_writable(output_dir)  # only once there is something to write: a bad input leaves no empty folder
    if plan.ignored:
        listed = "; ".join(f"{entry['path']} ({entry['reason']})" for entry in plan.ignored[:5])
        more = f"; and {len(plan.ignored) - 5} more" if len(plan.ignored) > 5 else ""
        print(
            f"complaints batch: {len(plan.ignored)} files in the channel folders are not read (listed in the "
            f"manifest as ignored_files): {listed}{more}",
            file=sys.stderr,
        )
    warn_if_public_key(settings, "batch")
    if batch_date is None:
        named = sorted(
            {
                day
                for day in (day_in_name(f.display_path) for f in plan.files if f.source != "customers")
                if day is not None
            }
        )
        if len(named) > 1:
            print(
                f"complaints batch: the input files are named for {len(named)} days ({named[0]} to {named[-1]}); "
                f"the batch is filed under {plan.batch_date} (--date D to choose)",
                file=sys.stderr,
            )
    if not any(f.source == "customers" for f in plan.files):
        print(
            f"complaints batch: no customer master under {args.input_dir}/customers/: every complaint will be "
            "flagged unknown_customer",
            file=sys.stderr,
        )
    if not args.quiet:
        total = sum(f.size for f in plan.files)
        print(
            f"run {plan.run_id}: batch {plan.batch_id}, {len(plan.files)} input files ({total / 1e6:.1f} MB), "
            f"{plan.shards} shards, runner {plan.runner}; running...",
            file=sys.stderr,
            flush=True,
        )
    try:
        with one_line_on_interrupt("batch", output_dir):
            manifest = run_batch(
                plan, settings, model_factory, show_progress=not (args.quiet or args.detach), wait=not args.detach
            )
    except Exception as error:  # noqa: BLE001 - a failed run is reported in one line; details are logged
        raise pipeline_failure(error, "batch", "nothing was committed") from None
    if args.detach:
        print(
            f"run {plan.run_id}: submitted to {plan.runner}; the job commits by itself and its manifest "
            f"{run_manifests.manifest_path(output_dir, plan.run_id)} says how it ended"
        )
        return 0
    print(format_summary(manifest))
    return 0


def _batch_of_the_lake(args, beam_args: list[str], settings, output_dir: str, model_factory) -> int:
    from beam_pipelines.reprocess import run_reprocess
    from beam_pipelines.summary import format_summary

    if not args.customers:
        print("complaints batch: no --customers: every complaint will be flagged unknown_customer", file=sys.stderr)

    def on_day(day, plan):
        if args.quiet:
            return
        if plan is None:
            print(f"{day}: the lake holds no records ingested that day; nothing to reprocess", file=sys.stderr)
        else:
            print(
                f"{day}: run {plan.run_id}, {sum(1 for f in plan.files if f.source == 'lake')} lake files; running...",
                file=sys.stderr,
                flush=True,
            )

    try:
        with one_line_on_interrupt("batch", output_dir):
            results = run_reprocess(
                output_dir,
                settings,
                args.start,
                args.end,
                model_factory,
                customers=args.customers,
                runner=args.runner,
                beam_args=beam_args,
                on_day=on_day,
            )
    except Exception as error:  # noqa: BLE001 - a failed run is reported in one line; details are logged
        raise pipeline_failure(error, "batch", "that day was not committed") from None
    for day, manifest in results:
        if manifest is not None:
            print(f"== {day} (reprocessed from the lake)")
            print(format_summary(manifest))
    return 0


def _batch_of_the_review_queue(args, beam_args: list[str], settings, output_dir: str, model_factory) -> int:
    from beam_pipelines.review import LABELS_FILE, REVIEW_DIR, run_reinjection

    def on_run(day, plan, items):
        if not args.quiet:
            print(f"{day}: run {plan.run_id}, {items} corrected records; running...", file=sys.stderr, flush=True)

    try:
        with one_line_on_interrupt("batch", output_dir):
            result = run_reinjection(
                output_dir,
                settings,
                model_factory,
                customers=args.customers,
                runner=args.runner,
                beam_args=beam_args,
                on_run=on_run,
            )
    except Exception as error:  # noqa: BLE001 - a failed run is reported in one line; details are logged
        raise pipeline_failure(error, "batch", "the corrections stay pending") from None
    outcomes: dict[str, int] = {}
    for item_id, outcome in result["items"]:
        outcomes[outcome["result"]] = outcomes.get(outcome["result"], 0) + 1
        print(
            f"{item_id}: {outcome['result']}"
            + (
                f" {outcome.get('complaint_id') or outcome.get('reason', '')}"
                if outcome["result"] in ("written", "rejected")
                else ""
            )
        )
    summary = ", ".join(f"{n} {result_}" for result_, n in sorted(outcomes.items())) or "nothing pending"
    print(
        f"re-injected {len(result['items'])} corrections ({summary}) in {len(result['runs'])} runs; "
        f"{result['labels']} labelled examples in {os.path.join(output_dir, REVIEW_DIR, LABELS_FILE)}"
    )
    return 0


def stream_arguments(parser) -> None:
    from beam_pipelines.options import ComplaintsOptions, StreamOptions

    StreamOptions.add_arguments(parser, required=True)
    ComplaintsOptions.add_arguments(parser, required=True)
    parser.add_argument(
        "--runner",
        help="PrismRunner (default for kafka), DirectRunner (default for pubsub), FlinkRunner, DataflowRunner",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines, only the final totals")


def run_stream_command(args, beam_args: list[str]) -> int:
    from beam_pipelines.options import check_stream
    from beam_pipelines.parameters import catalog_config, stream_timing
    from beam_pipelines.streaming import StopRequests, StreamPlan, StreamStopped, prepare_edge, run_stream
    from models.sklearn_model import ModelDirectoryError, newest_model_dir
    from runners.options import STREAM_RUNNER_FOR, RunnerSetupError
    from transforms.sources.transport import TransportError

    checked(check_stream, args)
    settings = settings_for_pipeline(args, beam_args, args.runner or STREAM_RUNNER_FOR[args.transport])
    output_dir = absolute(args.output_dir)
    check_writable(output_dir)
    if args.customers and "://" not in args.customers and not os.path.isfile(args.customers):
        raise CliError(f"complaints stream run: customer file {args.customers} does not exist")
    model_dir = os.path.abspath(args.model_dir) if args.model_dir else None
    if args.model_watch:
        try:
            model_dir = model_dir or newest_model_dir(args.model_watch)
        except ModelDirectoryError as error:
            raise CliError(f"complaints stream run: --model-watch {error}") from None
    checked_model_factory(model_dir)
    timing = stream_timing(
        settings.streaming,
        window_seconds=args.window_seconds,
        allowed_lateness_seconds=args.allowed_lateness,
        early_firing_count=args.early_firing_count,
        dedupe_horizon_seconds=args.dedupe_horizon,
    )
    plan = StreamPlan(
        output_dir,
        args.stream_id or f"stream-{args.transport}",
        timing,
        customers_path=absolute(args.customers) if args.customers else None,
        model_dir=model_dir,
        shards=args.shards,
        model_watch=args.model_watch,
        model_watch_seconds=args.model_watch_seconds,
        bounded=args.max_records is not None,
        catalog=catalog_config(settings.warehouse, output_dir),
        commit_attempts=settings.warehouse.commit_attempts,
    )
    if args.run_id:
        plan.run_id = args.run_id
    config = transport_config(args)
    try:
        prepare_edge(args.transport, config, args.runner)
    except (RunnerSetupError, TransportError) as error:
        raise CliError(f"complaints stream run: {error}") from None
    warn_if_public_key(settings, "stream run")
    print(
        f"stream {plan.stream_id} run {plan.run_id}: reading {args.transport} topics "
        f"{', '.join(sorted(config.topics.values()))}; writing to {output_dir} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    stop = StopRequests()
    try:
        with stop_on_signals(stop) as listen:
            totals = run_stream(
                plan,
                settings,
                args.transport,
                config,
                runner=args.runner,
                beam_args=beam_args,
                show_progress=not args.quiet,
                stop=stop,
                on_job_started=listen,
            )
    except (RunnerSetupError, TransportError) as error:
        raise CliError(f"complaints stream run: {error}") from None
    except (KeyboardInterrupt, StreamStopped):
        raise KeyboardInterrupt from None
    except Exception as error:  # reported in one line; details are logged
        logging.getLogger(__name__).debug("stream failed", exc_info=True)
        raise CliError(
            f"complaints stream run: the streaming pipeline failed: {failure_reason(error)[:500]}", exit_code(error)
        ) from None
    for source, entry in sorted(totals.items()):
        print(
            f"{source:<8} read {entry['read']:>7}  written {entry['written']:>7}  rejected {entry['rejected']:>6}"
            f"  duplicates {entry['duplicates']:>6}  {'balanced' if entry['balanced'] else 'NOT BALANCED'}"
        )
    return 0 if all(entry["balanced"] for entry in totals.values()) else EXIT_UNBALANCED


@contextlib.contextmanager
def stop_on_signals(stop):
    """While a stream runs, Ctrl-C and SIGTERM ask it to stop (``stop.request()``: cancel the job, let files in
    flight finish; a second one stops waiting). What a cancelled job's workers and runner log as they stop
    ("Bundle failed", cancelled RPCs) is the stop the user asked for, not an error: the command says
    "interrupted" in one line instead. Beam's SDK worker also prints the traceback of a bundle cut short straight
    to stderr, so from the first stop this process's ``sys.stderr`` is set aside for good (an in-process SDK
    worker, Prism's loopback, can still be finishing such a bundle as the interpreter shuts down); the CLI
    reports the stop on the process's own stderr. The CLI's business, not the library's.

    Yields ``listen``, which installs the handlers: ``run_stream`` calls it once the runner has the job, after the
    handler Beam's job server wrapper installs as it starts (which would stop the runner at once on Ctrl-C)."""
    previous = {}

    def requested(_signum, _frame):
        if not stop.count:
            logging.disable(logging.CRITICAL)
            sys.stderr = io.StringIO()
        stop.request()

    def listen():
        previous.update({sig: signal.signal(sig, requested) for sig in (signal.SIGINT, signal.SIGTERM)})

    try:
        yield listen
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def supervise_arguments(parser) -> None:
    import argparse

    parser.add_argument("--flink-rest", default="http://localhost:8081", help="Flink's REST API (the JobManager)")
    parser.add_argument("--stream-id", default="stream-kafka", help="the stream to keep alive (its --stream-id)")
    parser.add_argument(
        "--log",
        help="where the started stream's output goes (default OUT/_streams/<id>.log, "
        "OUT from the stream's --output-dir)",
    )
    parser.add_argument("--wait-seconds", type=int, default=180, help="how long a started job may take to run")
    parser.add_argument(
        "stream_args",
        nargs=argparse.REMAINDER,
        metavar="-- STREAM ARGS",
        help="the `complaints stream run` flags the job runs with (FlinkRunner, EXTERNAL or PROCESS "
        "workers); --run-id, --job_name and --savepoint_path are added",
    )


def _flag_value(arguments: list[str], *spellings: str) -> str | None:
    """The value of a flag in ``arguments`` (``--flag VALUE`` or ``--flag=VALUE``, any of its spellings)."""
    for index, argument in enumerate(arguments):
        name, equals, value = argument.partition("=")
        if name in spellings:
            return value if equals else (arguments[index + 1] if index + 1 < len(arguments) else None)
    return None


def run_supervise_command(args) -> int:
    from runners.flink_supervisor import SupervisorError, supervise

    stream_args = args.stream_args[1:] if args.stream_args[:1] == ["--"] else args.stream_args
    output = _flag_value(stream_args, "--output-dir", "--output_dir")
    if not output:
        raise CliError(
            "complaints stream supervise: give the stream's flags after --, with --output-dir "
            "(e.g. -- --transport kafka --output-dir OUT --runner FlinkRunner ...)",
            EXIT_USAGE,
        )
    for owned in ("--run-id", "--run_id", "--savepoint_path", "--job_name", "--stream-id", "--stream_id"):
        if any(arg.split("=", 1)[0] == owned for arg in stream_args):
            raise CliError(f"complaints stream supervise: {owned} is chosen by the supervisor", EXIT_USAGE)
    log = args.log or os.path.join(output, "_streams", f"{args.stream_id}.log")
    try:
        decision = supervise(
            args.flink_rest,
            args.stream_id,
            [sys.executable, "-m", "beam_pipelines", "stream", "run", *stream_args],
            log,
            args.wait_seconds,
        )
    except SupervisorError as error:
        raise CliError(f"complaints stream supervise: {error}", EXIT_FAILED) from None
    print(decision.describe())
    return 0


BATCH = Command(
    "batch",
    "run the batch pipeline: a day of channel files, the lake's days again, or the review queue's corrections",
    batch_arguments,
    run_batch_command,
    extra="pipeline",
    beam_options=True,
    epilog=BATCH_EPILOG,
)
STREAM = Group(
    "stream",
    "the streaming pipeline on the live channels, and its keeper on Flink",
    (
        Command(
            "run",
            "run the streaming pipeline on the live channels (Kafka or Pub/Sub)",
            stream_arguments,
            run_stream_command,
            extra="pipeline",
            beam_options=True,
            epilog=BEAM_OPTIONS_EPILOG + " Kafka runs on Prism by default (start the local services with "
            "`python runners/local_services.py start`).",
        ),
        Command(
            "supervise",
            "start a Flink streaming job again (from its last checkpoint) if it is not running",
            supervise_arguments,
            run_supervise_command,
            extra="pipeline",
        ),
    ),
)
