"""The docs site builds strictly (a broken link, a missing page or a page left out is an error), and its reference
pages, generated from the code, cover every command and every configuration key."""

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys

from tests.support.paths import REPO


def reference_module():
    spec = importlib.util.spec_from_file_location("docs_reference", REPO / "docs" / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    for page in (
        "reference/cli",
        "reference/configuration",
        "reference/tables",
        "reference/http-api",
        "reference/exit-codes",
        "reference/input-formats",
        "reference/outputs",
        "performance",
        "design/staged-commit",
    ):
        assert (tmp_path / page / "index.html").stat().st_size > 2000


def test_every_command_and_its_flags_are_in_the_reference():
    """Every top-level entry, every command of every group (``model train``) and every flag of each."""
    from beam_pipelines.cli import COMMANDS, command_parser, leaf_commands

    page = reference_module().cli_page()
    for name in COMMANDS:
        assert f"## {name}\n" in page
    for path in leaf_commands():
        section = re.split(r"\n#{2,3} ", page.split(f"## {path}\n", 1)[1])[0]  # the command's own section
        assert f"usage: complaints {path} " in section, path
        for action in command_parser(path)._actions:
            for flag in action.option_strings:
                assert flag in section, f"{path} {flag}"


def test_every_configuration_key_is_in_the_reference_with_its_default():
    from beam_pipelines.config import SECTIONS

    page = reference_module().configuration_page()
    for section, cls in SECTIONS.items():
        assert f"## [{section}]" in page
        for field in dataclasses.fields(cls):
            assert f"| `{field.name}` |" in page, f"[{section}] {field.name}"


def test_every_exit_code_and_table_is_in_the_reference():
    from beam_pipelines.cli.common import EXIT_CODES
    from schemas.tables import WAREHOUSE_TABLES

    reference = reference_module()
    codes = reference.exit_codes_page()
    assert all(f"| {code} |" in codes for code in EXIT_CODES)
    tables = reference.tables_page()
    assert all(f"## {name}\n" in tables for name in WAREHOUSE_TABLES)
    assert "`complaint_id`" in tables and "## raw" in tables
