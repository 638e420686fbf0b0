"""The command line in groups: at most a dozen top-level entries, each group's commands listed by its own --help,
one line and exit 2 for a group without its command or with a wrong one (the old names included: no aliases), and
one mapping from what went wrong to the exit code, whichever command met it."""

import re

import pytest

from beam_pipelines.cli import COMMANDS, command_parser, leaf_commands
from beam_pipelines.cli.common import EXIT_CODES, CliError, Group, exit_code
from tests.support.cli import run_cli

GROUPS = {name: entry for name, entry in COMMANDS.items() if isinstance(entry, Group)}


def listed_commands(help_text: str) -> list[str]:
    """The command names an argparse --help lists under COMMAND (one per line, indented by four spaces)."""
    section = help_text.split("COMMAND\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^    (\S+)", section, re.MULTILINE)


def test_the_top_level_help_lists_at_most_twelve_entries_and_each_group_its_commands():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    top = listed_commands(result.stdout)
    assert top == list(COMMANDS) and len(top) <= 12
    assert set(GROUPS) == {"generate", "stream", "ingest", "model", "warehouse"}
    for name, group in GROUPS.items():
        result = run_cli(name, "--help")
        assert result.returncode == 0, result.stderr
        assert listed_commands(result.stdout) == [command.name for command in group.commands], name
    assert [command.name for command in GROUPS["model"].commands] == [
        "train",
        "evaluate",
        "promote",
        "rollback",
        "forecast",
    ]
    assert [command.name for command in GROUPS["warehouse"].commands] == ["maintain", "relocate", "erase"]


def test_every_command_has_a_help_of_its_own_under_its_whole_name():
    for path, command in leaf_commands().items():
        text = command_parser(path).format_help()
        assert text.startswith(f"usage: complaints {path} "), path
        assert command.help[0].upper() + command.help[1:] in " ".join(text.split()), path
    result = run_cli("model", "train", "--help")  # as a user types it
    assert result.returncode == 0 and result.stdout.startswith("usage: complaints model train ")
    assert "--data" in result.stdout and "--no-refit" in result.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["model"], "complaints model: name one of its commands: train, evaluate, promote, rollback, forecast"),
        (["warehouse"], "complaints warehouse: name one of its commands: maintain, relocate, erase"),
        (["model", "trian"], "invalid choice: 'trian'"),
        (["ingest", "webform-endpoint", "--port", "1"], "invalid choice: 'webform-endpoint'"),
        (
            ["stream", "--transport", "kafka"],
            "invalid choice: 'kafka' (choose from 'run', 'supervise')",
        ),  # was a stream
        # the old names are gone, with no alias
        (["reprocess", "--start", "2026-11-20"], "invalid choice: 'reprocess'"),
        (["review-reinject"], "invalid choice: 'review-reinject'"),
        (["promote-model"], "invalid choice: 'promote-model'"),
        (["expire-lake", "--lake", "x"], "invalid choice: 'expire-lake'"),
        (["warehouse-import"], "invalid choice: 'warehouse-import'"),
        (["generate-history"], "invalid choice: 'generate-history'"),
        # one batch, one input
        (["batch", "--output-dir", "/tmp/x", "--from-lake", "--from-review"], "give only one of --input-dir"),
        (
            ["batch", "--output-dir", "/tmp/x", "--from-lake", "--start", "2026-11-20"],
            "--from-lake needs --start and --end",
        ),
        (
            ["batch", "--output-dir", "/tmp/x", "--input-dir", ".", "--start", "2026-11-20"],
            "--start does not go with --input-dir",
        ),
        (
            ["batch", "--output-dir", "/tmp/x", "--from-review", "--include", "sms/*"],
            "--include does not go with --from-review",
        ),
        (["warehouse", "maintain", "--today", "26/11/2026"], "--today: invalid date"),
    ],
)
def test_a_wrong_or_missing_command_is_one_line_and_exit_2(args, message):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert message in line and "Traceback" not in result.stderr, line


def test_one_mapping_gives_every_error_its_exit_code():
    from beam_pipelines.batch import BrokenStage, CommitFailed, InputError, RefusedRun, UnbalancedRun
    from warehouse.catalog import WarehouseMoved

    assert exit_code(BrokenStage("a bug", "staging")) == 4  # retried by the schedules
    assert exit_code(RefusedRun("mostly junk", "staging")) == 5  # not retried: it would fail the same way
    assert exit_code(UnbalancedRun("{}")) == 5
    assert exit_code(CommitFailed("catalog unreachable")) == 4
    assert exit_code(InputError("no channel files")) == 3
    assert exit_code(WarehouseMoved("/copy", "/original")) == 3
    assert exit_code(CliError("bad flag", 2)) == 2
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(RuntimeError("job server unreachable")) == 4
    assert {4, 5, 3, 2, 130} <= set(EXIT_CODES)
