"""The ``complaints`` command line (also ``python -m beam_pipelines``).

One table of commands (``COMMANDS``), one module per group of them, each thin over a library function:
``generate`` (sample input, history), ``pipelines`` (batch, stream), ``models`` (train, evaluate), ``ingest``
(publish, webform-endpoint, x-stream), ``serving`` (serve, report, query, forecast), ``upkeep`` (maintain,
warehouse-import), ``warehouse`` (relocate) and ``operations`` (alert, promote-model, rollback-model, expire-lake:
what the schedules run). Command modules import their libraries only when they run, so each command needs only its
own extra installed.

Bad arguments, a missing input directory or an unwritable output give one clear line on stderr and a
non-zero exit, never a traceback (2 usage, 3 input/output, 4 pipeline failed, 5 counts did not balance).
"""
from __future__ import annotations

import logging
import os
import sys

from beam_pipelines.cli import generate, ingest, models, operations, pipelines, privacy, serving, upkeep
from beam_pipelines.cli import warehouse as warehouse_commands
from beam_pipelines.cli.common import EXIT_INPUT, EXIT_USAGE, CliError, Command, Parser
from beam_pipelines.cli.log_filters import keep_runner_noise_off_the_terminal
from transforms.garbage_collection import ask_workers_to_tune, skip_collections_at_exit

#: Every command of the CLI, in the order ``--help`` lists them.
COMMANDS: dict[str, Command] = {command.name: command for module in (generate, pipelines, models, ingest, serving,
                                                                          upkeep, warehouse_commands, operations,
                                                                          privacy)
                                for command in module.COMMANDS}
#: The top-level packages of each extra, to name what is missing when a command's extra is not installed.
EXTRA_PACKAGES = {"pipeline": ("apache_beam", "phonenumbers", "defusedxml", "sklearn", "vaderSentiment"),
                  "serving": ("duckdb", "fastapi", "uvicorn", "plotly", "holidays", "sklearn", "pandas"),
                  "ingest": ("confluent_kafka", "aiohttp", "google"),
                  "warehouse": ("pyiceberg", "sqlalchemy")}


def build_parser(selected: str | None = None) -> Parser:
    """The parser of every command; only ``selected``'s arguments are added (a command's arguments may need its
    extra installed, e.g. the pipelines' options are Beam ``PipelineOptions``), so ``--help`` needs none."""
    parser = Parser(prog="complaints", description="Beejan complaint data platform: pipelines and tools.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS.values():
        subparser = subparsers.add_parser(command.name, help=command.help, epilog=command.epilog)
        if command.name == selected:
            command.add_arguments(subparser)
    return parser


def selected_command(argv: list[str]) -> str | None:
    """The command named on the command line: its first word that is not an option."""
    return next((word for word in argv if not word.startswith("-")), None)


def run(command: Command, args, extra: list[str]) -> int:
    if command.beam_options:
        return command.run(args, extra)
    if extra:
        raise CliError(f"complaints {command.name}: unrecognised arguments: {' '.join(extra)} (see --help)",
                       EXIT_USAGE)
    return command.run(args)


def moved_warehouse(error: BaseException | None) -> Exception | None:
    """The ``warehouse.catalog.WarehouseMoved`` behind ``error`` (itself, or what it was raised from or while
    handling), or None. A command may wrap it in its own error; whichever command met it, the user gets its line
    and the input/output exit code. Looked up only if the catalog module was loaded: otherwise none was raised."""
    catalog = sys.modules.get("warehouse.catalog")
    seen = set()
    while catalog is not None and error is not None and id(error) not in seen:
        if isinstance(error, catalog.WarehouseMoved):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def main(argv: list[str] | None = None) -> int:
    level = os.environ.get("COMPLAINTS_LOG_LEVEL", "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keep_runner_noise_off_the_terminal()  # beam_pipelines/cli/log_filters.py says which notices and why
    if "COMPLAINTS_LOG_LEVEL" not in os.environ:
        # Beam's local job service relays its SDK workers' start-up warnings; they are not the user's concern.
        logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    argv = sys.argv[1:] if argv is None else list(argv)
    skip_collections_at_exit()  # a command's process ends without a collection over every module it loaded
    try:
        selected = COMMANDS.get(selected_command(argv))
        try:
            parser = build_parser(selected.name if selected else None)
            args, extra = parser.parse_known_args(argv)
            if args.command is None:
                parser.print_help(sys.stderr)
                return EXIT_USAGE
            command = COMMANDS[args.command]
            if command.beam_options:  # a pipeline: this process and its workers do record work
                ask_workers_to_tune()
            return run(command, args, extra)
        except ModuleNotFoundError as error:
            if selected and error.name and error.name.split(".")[0] in EXTRA_PACKAGES[selected.extra]:
                raise CliError(f"complaints {selected.name} needs the '{selected.extra}' extra: pip install "
                               f"'beejan-complaints[{selected.extra}]' (module {error.name} is missing)") from None
            raise
    except Exception as error:  # noqa: BLE001 - a moved warehouse is one line whatever the command; others as before
        moved = moved_warehouse(error)
        if moved is not None:
            print(f"complaints {selected_command(argv)}: {moved}", file=sys.stderr)
            return EXIT_INPUT
        if not isinstance(error, CliError):
            raise
        print(str(error), file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        # to the process's own stderr: a stopped stream has set sys.stderr aside for good (see stop_on_signals)
        print("complaints: interrupted", file=sys.__stderr__ or sys.stderr, flush=True)
        return 130
