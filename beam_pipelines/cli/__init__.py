"""The ``complaints`` command line (also ``python -m beam_pipelines``).

At most a dozen top-level entries, one per job (``COMMANDS``); a job with several commands is a group of them
(``complaints model train``). One module per job, each thin over a library function: ``generate`` (``generate
day|history``), ``pipelines`` (``batch``: a day of files, the lake's days again or the review queue's corrections;
``stream run|supervise``), ``ingest`` (``ingest publish|webform|x``), ``models`` (``model train|evaluate|promote|
rollback|forecast``), ``warehouse`` with ``upkeep`` and ``privacy`` (``warehouse maintain|relocate|erase``),
``serving`` (``query``, ``serve``, ``report``) and ``operations`` (``alert``). Command modules import their
libraries only when they run, so each command needs only its own extra installed.

Bad arguments, a missing input directory or an unwritable output give one clear line on stderr and a
non-zero exit, never a traceback (2 usage, 3 input/output, 4 pipeline failed, 5 counts did not balance: the one
mapping is ``common.exit_code``).
"""

from __future__ import annotations

import logging
import os
import sys

from beam_pipelines.cli import generate, ingest, models, operations, pipelines, serving
from beam_pipelines.cli import warehouse as warehouse_commands
from beam_pipelines.cli.common import EXIT_USAGE, CliError, Command, Group, Parser, exit_code
from beam_pipelines.cli.log_filters import keep_runner_noise_off_the_terminal
from transforms.garbage_collection import ask_workers_to_tune, skip_collections_at_exit

#: The top-level entries of the CLI (a command, or a group of commands), in the order ``--help`` lists them.
COMMANDS: dict[str, Command | Group] = {
    entry.name: entry
    for entry in (
        generate.GROUP,
        pipelines.BATCH,
        pipelines.STREAM,
        ingest.GROUP,
        models.GROUP,
        warehouse_commands.GROUP,
        serving.QUERY,
        serving.SERVE,
        serving.REPORT,
        operations.ALERT,
    )
}
#: The top-level packages of each extra, to name what is missing when a command's extra is not installed.
EXTRA_PACKAGES = {
    "pipeline": ("apache_beam", "phonenumbers", "defusedxml", "sklearn", "vaderSentiment"),
    "serving": ("duckdb", "fastapi", "uvicorn", "plotly", "holidays", "sklearn", "pandas"),
    "ingest": ("confluent_kafka", "aiohttp", "google"),
    "warehouse": ("pyiceberg", "sqlalchemy"),
}


def leaf_commands() -> dict[str, Command]:
    """Every command that runs, by the words that name it after ``complaints`` (``batch``, ``model train``)."""
    found = {}
    for name, entry in COMMANDS.items():
        if isinstance(entry, Group):
            found.update({f"{name} {command.name}": command for command in entry.commands})
        else:
            found[name] = entry
    return found


def build_parser(selected: str | None = None) -> Parser:
    """The parser of every command; only ``selected``'s arguments are added (its words, e.g. ``model train``: a
    command's arguments may need its extra installed, e.g. the pipelines' options are Beam ``PipelineOptions``),
    so ``--help`` needs none."""
    parser = Parser(
        prog="complaints",
        description="Beejan complaint data platform: pipelines and tools.",
        epilog="`complaints COMMAND --help` says more of one; exit codes: 2 bad use, 3 input or "
        "output, 4 the pipeline failed, 5 counts or quality refused the commit.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, entry in COMMANDS.items():
        if isinstance(entry, Group):
            group = subparsers.add_parser(
                name,
                help=entry.help,
                description=entry.help[0].upper() + entry.help[1:] + ".",
                epilog=entry.epilog or f"`complaints {name} COMMAND --help` says more of one.",
            )
            commands = group.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=Parser)
            for command in entry.commands:
                _add_command(commands, command, f"{name} {command.name}", selected)
        else:
            _add_command(subparsers, entry, name, selected)
    return parser


def _add_command(subparsers, command: Command, path: str, selected: str | None) -> None:
    subparser = subparsers.add_parser(
        command.name,
        help=command.help,
        epilog=command.epilog,
        description=command.help[0].upper() + command.help[1:] + ".",
    )
    if path == selected:
        command.add_arguments(subparser)


def command_parser(path: str):
    """The parser of the command named by ``path`` (``model train``), with its arguments: for ``--help`` pages."""
    parser = build_parser(path)
    for word in path.split():
        parser = next(action for action in parser._subparsers._group_actions).choices[word]
    return parser


def selected_command(argv: list[str]) -> str | None:
    """The command named on the command line: its first word that is not an option, and the next one when the
    first names a group (``model train``)."""
    words = [word for word in argv if not word.startswith("-")][:2]
    if not words:
        return None
    if isinstance(COMMANDS.get(words[0]), Group):
        return " ".join(words)
    return words[0]


def run(command: Command, args, extra: list[str]) -> int:
    if command.beam_options:
        return command.run(args, extra)
    if extra:
        raise CliError(f"complaints {args.command}: unrecognised arguments: {' '.join(extra)} (see --help)", EXIT_USAGE)
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
    path = selected_command(argv)
    selected = leaf_commands().get(path)
    try:
        try:
            parser = build_parser(path if selected else None)
            args, extra = parser.parse_known_args(argv)
            if args.command is None:
                parser.print_help(sys.stderr)
                return EXIT_USAGE
            if isinstance(COMMANDS[args.command], Group):
                if args.subcommand is None:
                    names = ", ".join(command.name for command in COMMANDS[args.command].commands)
                    raise CliError(
                        f"complaints {args.command}: name one of its commands: {names} (see --help)", EXIT_USAGE
                    )
                args.command = f"{args.command} {args.subcommand}"
            command = leaf_commands()[args.command]
            if command.beam_options:  # a pipeline: this process and its workers do record work
                ask_workers_to_tune()
            return run(command, args, extra)
        except ModuleNotFoundError as error:
            if selected and error.name and error.name.split(".")[0] in EXTRA_PACKAGES[selected.extra]:
                raise CliError(
                    f"complaints {path} needs the '{selected.extra}' extra: pip install "
                    f"'beejan-complaints[{selected.extra}]' (module {error.name} is missing)"
                ) from None
            raise
    except Exception as error:  # a moved warehouse is one line whatever the command; others as before
        moved = moved_warehouse(error)
        if moved is not None:
            print(f"complaints {path}: {moved}", file=sys.stderr)
            return exit_code(moved)
        if not isinstance(error, CliError):
            raise
        print(str(error), file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt as interrupt:
        # to the process's own stderr: a stopped stream has set sys.stderr aside for good (see stop_on_signals)
        print("complaints: interrupted", file=sys.__stderr__ or sys.stderr, flush=True)
        return exit_code(interrupt)
