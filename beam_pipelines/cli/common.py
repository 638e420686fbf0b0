"""What every command of the ``complaints`` CLI shares: the command and group records, one-line errors with the
one mapping from what went wrong to an exit code, argument types, and checks of the paths a command is given."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass

EXIT_USAGE, EXIT_INPUT, EXIT_FAILED, EXIT_UNBALANCED = 2, 3, 4, 5
EXIT_INTERRUPTED = 130
#: every exit status of the CLI and what it means (the docs' table of exit codes is generated from it)
EXIT_CODES = {
    EXIT_USAGE: "bad use: an unknown flag, a missing or malformed argument (one line says which)",
    EXIT_INPUT: "input or output: a missing input directory, an unreadable file, an unwritable output, a "
    "warehouse or catalog that cannot be opened",
    EXIT_FAILED: "the pipeline failed (a bug: too many unexpected errors in a stage), or its commit failed: "
    "nothing was committed; the schedules retry it",
    EXIT_UNBALANCED: "the counts did not balance, or the output broke a [quality] limit: nothing was committed, "
    "the staged output is kept; a retry would fail the same way",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGTERM): what had been committed stays",
}
DEFAULT_WAREHOUSE = os.environ.get("COMPLAINTS_WAREHOUSE", "out/warehouse")


class CliError(Exception):
    """Ends a command with one line on stderr and ``code`` as the exit status."""

    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message)
        self.code = code


def _failures() -> tuple:
    """(exception class, exit code) of the errors the libraries raise, most specific first. A module's classes are
    looked up only if it was loaded: otherwise none of them was raised (and ``--help`` needs no extra)."""
    found = []
    batch = sys.modules.get("beam_pipelines.batch")
    if batch is not None:
        found += [
            (batch.InputError, EXIT_INPUT),
            (batch.UnbalancedRun, EXIT_UNBALANCED),
            (batch.BrokenStage, EXIT_FAILED),  # a bug: the schedules retry it (before its base, RefusedRun)
            (batch.RefusedRun, EXIT_UNBALANCED),  # the data broke a [quality] limit: a retry fails the same
            (batch.CommitFailed, EXIT_FAILED),
        ]
    catalog = sys.modules.get("warehouse.catalog")
    if catalog is not None:
        found.append((catalog.WarehouseMoved, EXIT_INPUT))
    return tuple(found)


def exit_code(error: BaseException) -> int:
    """THE mapping from what ended a command to its exit status (``EXIT_CODES``), whichever command met it: a
    ``CliError`` carries its own, an interrupt is 130, the pipelines' and the warehouse's errors are mapped by
    their class, anything else is a failed run (4)."""
    if isinstance(error, CliError):
        return error.code
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return next((code for kind, code in _failures() if isinstance(error, kind)), EXIT_FAILED)


def pipeline_failure(error: Exception, command: str, not_committed: str) -> CliError:
    """The one line and the exit code (``exit_code``) of a pipeline run that ended in ``error``, the same for a
    batch of files, of the lake and of the review queue; ``not_committed`` says what was left uncommitted
    ("nothing was committed", "that day was not committed", "the corrections stay pending")."""
    batch = sys.modules.get("beam_pipelines.batch")
    if batch is not None and isinstance(error, (batch.InputError, batch.CommitFailed)):
        message = str(error)
    elif batch is not None and isinstance(error, batch.UnbalancedRun):
        message = f"counts did not balance, {not_committed}: {error}"
    elif batch is not None and isinstance(error, batch.RefusedRun):
        verdict = "the pipeline failed" if isinstance(error, batch.BrokenStage) else "refused to commit"
        message = f"{verdict}, {not_committed}: {error}; the staged output is kept in {error.staging}"
    else:
        logging.getLogger(__name__).debug("pipeline failed", exc_info=error)
        message = f"the pipeline failed, {not_committed}: {failure_reason(error)[:500]}"
    return CliError(f"complaints {command}: {message}", exit_code(error))


@dataclass(frozen=True)
class Command:
    """One command of the CLI: its arguments and the function that runs it (``run(args)``, or
    ``run(args, beam_args)`` when unknown ``--flags`` are Beam pipeline options). ``extra`` is the
    ``pip install`` extra whose packages it needs. ``name`` is its last word (``train`` in
    ``complaints model train``); ``args.command`` holds all of them when it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[..., int]
    extra: str
    beam_options: bool = False
    epilog: str | None = None


@dataclass(frozen=True)
class Group:
    """A top-level entry that groups commands of one job: ``complaints NAME COMMAND``."""

    name: str
    help: str
    commands: tuple[Command, ...]
    epilog: str | None = None


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise CliError(f"{self.prog}: {message} (see --help)", EXIT_USAGE)


def date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {value!r}, expected YYYY-MM-DD") from None


def _whole_number(value: str, minimum: int, requirement: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < minimum:
        raise argparse.ArgumentTypeError(f"expected {requirement}, got {number}")
    return number


def positive(value: str) -> int:
    return _whole_number(value, 1, "a positive number")


def non_negative(value: str) -> int:
    return _whole_number(value, 0, "zero or more")


def rate(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value!r}") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {number}")
    return number


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return number


def absolute(path: str) -> str:
    """A local path made absolute; a URL (``gs://...``) as given."""
    return path if "://" in path else os.path.abspath(path)


def check_writable(output_dir: str) -> None:
    """Create ``output_dir`` if needed and prove a file can be written there (URLs are left to the runner)."""
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


def failure_reason(error: Exception) -> str:
    """The line of a runner's failure that says what went wrong (a Java cause, a Python error), not the
    last line of a stack trace."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    causes = [line for line in lines if "Exception:" in line or "Error:" in line]
    if causes:
        return causes[-1].split("Exception: ", 1)[-1] if "Exception: " in causes[-1] else causes[-1]
    return lines[-1] if lines else type(error).__name__


def warehouse_catalog(args, command: str):
    """(the profile's ``[warehouse]`` settings, the catalog of the tables in ``--warehouse`` they name), for the
    commands that read or keep up the tables outside a pipeline."""
    from beam_pipelines.config import ConfigError, load_warehouse_settings
    from beam_pipelines.parameters import warehouse_catalog_config
    from warehouse.catalog import CatalogError

    try:
        settings = load_warehouse_settings(args.profile)
        return settings, warehouse_catalog_config(settings, args.warehouse)
    except (ConfigError, CatalogError) as error:
        raise CliError(f"complaints {command}: {error}") from None
