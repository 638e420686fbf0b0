"""The reference pages of the docs site, generated from the code at build time (an MkDocs hook).

None of the pages it makes is written by hand (``input-formats.md`` and ``outputs.md`` beside them are, with
generated sections from ``sections.py``): the command line comes from the CLI's own parsers, the
configuration from the settings dataclasses (and the comments beside their fields), the tables from the table
catalog and the Avro schemas, the HTTP API from the server's OpenAPI document, the exit codes from the CLI's one
mapping. A page that drifts from the code cannot exist. ``mkdocs build --strict`` runs this hook
(``mkdocs.yml``: ``hooks``); the functions are plain, so a test can check what they produce.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import sys
import tempfile
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: generated page (under docs/) -> the function that writes it
PAGES = {}


def page(path: str):
    def register(function):
        PAGES[path] = function
        return function

    return register


def _escape(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------------- command line
@page("reference/cli.md")
def cli_page() -> str:
    """Every command of ``complaints`` with its ``--help``, from the parsers the CLI itself builds: the top-level
    entries, each group's own help, then every command (``batch``, ``model train``) with its flags."""
    from beam_pipelines.cli import COMMANDS, build_parser, command_parser, leaf_commands
    from beam_pipelines.cli.common import Group

    def anchor(path: str) -> str:
        return path.replace(" ", "-")

    lines = [
        "# Command line",
        "",
        "Generated from the CLI's own parsers (`beam_pipelines/cli/`). `complaints --help` lists the commands, "
        "`complaints GROUP --help` the commands of a group, `complaints COMMAND --help` the flags of one. Each "
        "command needs only its own extra installed (`pip install '.[EXTRA]'`). Exit codes: "
        "[Exit codes](exit-codes.md).",
        "",
        "| command | what it does | extra |",
        "|---|---|---|",
    ]
    for name, entry in COMMANDS.items():
        if isinstance(entry, Group):
            lines += [
                f"| [`{name} {command.name}`](#{anchor(name + ' ' + command.name)}) | {_escape(command.help)} "
                f"| `{command.extra}` |"
                for command in entry.commands
            ]
        else:
            lines.append(f"| [`{name}`](#{anchor(name)}) | {_escape(entry.help)} | `{entry.extra}` |")
    top = build_parser()
    top.prog = "complaints"
    lines += ["", "## complaints", "", "```text", top.format_help().rstrip(), "```"]
    groups = {name: entry for name, entry in COMMANDS.items() if isinstance(entry, Group)}
    for path, command in leaf_commands().items():
        group = path.split()[0]
        if group in groups and path.endswith(" " + groups[group].commands[0].name):  # the group's page first
            lines += ["", f"## {group}", "", "```text", command_parser(group).format_help().rstrip(), "```"]
        parser = command_parser(path)
        level = "###" if group in groups else "##"
        lines += [
            "",
            f"{level} {path}",
            "",
            command.help[0].upper() + command.help[1:] + ".",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
        ]
        if command.beam_options:
            lines += ["", "Every other `--flag` must be an Apache Beam pipeline option and is passed to the runner."]
    return "\n".join(lines) + "\n"


@page("reference/exit-codes.md")
def exit_codes_page() -> str:
    from beam_pipelines.cli.common import EXIT_CODES

    lines = [
        "# Exit codes",
        "",
        "Generated from the CLI's one mapping (`beam_pipelines/cli/common.py`, "
        "`EXIT_CODES`). A command that fails prints one line on stderr, never a traceback.",
        "",
        "| code | meaning |",
        "|---|---|",
        "| 0 | done |",
    ]
    lines += [f"| {code} | {_escape(meaning)} |" for code, meaning in sorted(EXIT_CODES.items())]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- configuration
def field_comments(cls) -> dict[str, str]:
    """The comment of each field of dataclass ``cls``: the ``#:`` lines above it and the ``#`` comment after it
    (continued on ``#``-only lines below), as the settings classes write them."""
    source = inspect.getsource(cls)
    lines = source.splitlines()
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string
    found = {}
    for node in ast.parse(source).body[0].body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        number = node.lineno
        above = []
        previous = number - 1
        while previous >= 1 and lines[previous - 1].strip().startswith("#:"):
            above.insert(0, lines[previous - 1].strip()[2:].strip())
            previous -= 1
        after = []
        if number in comments and not comments[number].startswith("#:"):
            after.append(comments[number].lstrip("#").strip())
            following = number + 1  # a comment continued on comment-only lines below
            while (
                following <= len(lines)
                and lines[following - 1].strip().startswith("#")
                and not lines[following - 1].strip().startswith("#:")
            ):
                after.append(lines[following - 1].strip().lstrip("#").strip())
                following += 1
        found[node.target.id] = " ".join(above + after).strip()
    return found


def _default(field) -> str:
    if field.default is not dataclasses.MISSING:
        return json.dumps(field.default) if not isinstance(field.default, str) else f'"{field.default}"'
    if field.default_factory is not dataclasses.MISSING:
        return json.dumps(field.default_factory())
    return "(required)"


@page("reference/configuration.md")
def configuration_page() -> str:
    """Every section and key of a profile, with its default and what it does, from the settings dataclasses."""
    from beam_pipelines.config import SECTIONS

    lines = [
        "# Configuration",
        "",
        "Generated from the settings dataclasses (`beam_pipelines/config/__init__.py`). A profile is a TOML "
        "file: `--profile dev|staging|prod` (the files in `beam_pipelines/config/`) or a path. A key not "
        "given takes the default below; an unknown section or key is refused with one line. `[runner]` holds "
        "Beam pipeline options for the local runner.",
        "",
    ]
    for section, cls in SECTIONS.items():
        doc = inspect.getdoc(cls) or ""
        comments = {}
        for klass in reversed(cls.__mro__):  # a section that extends a library dataclass: its fields' comments too
            if dataclasses.is_dataclass(klass):
                comments.update(field_comments(klass))
        lines += [f"## [{section}]", "", doc, "", "| key | default | what it does |", "|---|---|---|"]
        for field in dataclasses.fields(cls):
            if field.name.startswith("_"):
                continue
            lines.append(f"| `{field.name}` | `{_escape(_default(field))}` | {_escape(comments.get(field.name, ''))} |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- tables
def _avro_type(kind) -> str:
    if isinstance(kind, list):
        names = [_avro_type(k) for k in kind if k != "null"]
        return " or ".join(names) + (" (nullable)" if "null" in kind else "")
    if isinstance(kind, dict):
        if kind.get("logicalType"):
            return kind["logicalType"]
        if kind.get("type") == "array":
            return f"list of {_avro_type(kind['items'])}"
        if kind.get("type") == "map":
            return f"map to {_avro_type(kind['values'])}"
        if kind.get("type") == "record":
            return f"record {kind.get('name')}"
        if kind.get("type") == "enum":
            return "one of " + ", ".join(kind.get("symbols", []))
        return _avro_type(kind.get("type"))
    return str(kind)


@page("reference/tables.md")
def tables_page() -> str:
    """The lake and every warehouse table: location, partitioning, key, and columns from the Avro schemas."""
    import schemas
    from schemas import tables

    lines = [
        "# Tables",
        "",
        "Generated from the table catalog (`schemas/tables.py`) and the Avro schemas (`schemas/avro/`), "
        "the one source of truth for every record. Warehouse tables are Apache Iceberg tables (format 2) "
        "under `OUT/warehouse/`, written by upsert on their key: each key is in its table once.",
        "",
    ]
    everything = {"raw": tables.LAKE, **tables.WAREHOUSE_TABLES}
    for name, table in everything.items():
        schema = schemas.avro_schema(table.schema)
        kind = "JSON-lines lake files" if table is tables.LAKE else "Iceberg table"
        lines += [
            f"## {name}",
            "",
            schema.get("doc", ""),
            "",
            f"- {kind} at `OUT/{table.path}/`, partitioned by `{', '.join(table.partition)}`",
            f"- key: `{', '.join(table.key)}`",
            f"- record: `{table.schema}`",
            "",
            "| column | type | meaning |",
            "|---|---|---|",
        ]
        lines += [
            f"| `{f['name']}` | {_escape(_avro_type(f['type']))} | {_escape(f.get('doc', ''))} |"
            for f in schema["fields"]
        ]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- HTTP API
def openapi_document() -> dict:
    """The server's OpenAPI document, from the application itself over an empty warehouse."""
    from serving.api import create_app
    from serving.auth import ApiKeys
    from serving.warehouse import Warehouse

    with tempfile.TemporaryDirectory() as empty:
        return create_app(Warehouse(empty), ApiKeys()).openapi()


@page("reference/http-api.md")
def http_api_page() -> str:
    document = openapi_document()
    lines = [
        "# HTTP API",
        "",
        f"Generated from the server's OpenAPI document ({document['info']['title']}, version "
        f"{document['info']['version']}); `complaints serve` also serves it at `/openapi.json`. "
        "Every endpoint but `/healthz` needs an API key (`X-API-Key`) with the scope named.",
        "",
        document["info"].get("description", ""),
        "",
    ]
    for path, operations in sorted(document["paths"].items()):
        for method, operation in operations.items():
            lines += [
                f"## `{method.upper()} {path}`",
                "",
                operation.get("summary", ""),
                "",
                (operation.get("description") or "").strip(),
                "",
            ]
            parameters = operation.get("parameters", [])
            if parameters:
                lines += ["| parameter | in | type | required | meaning |", "|---|---|---|---|---|"]
                for parameter in parameters:
                    schema = parameter.get("schema", {})
                    kind = schema.get("type") or " or ".join(s.get("type", "") for s in schema.get("anyOf", []))
                    lines.append(
                        f"| `{parameter['name']}` | {parameter['in']} | {_escape(kind)} | "
                        f"{'yes' if parameter.get('required') else 'no'} | "
                        f"{_escape(parameter.get('description', ''))} |"
                    )
                lines.append("")
            codes = ", ".join(sorted(operation.get("responses", {})))
            lines += [f"Responses: {codes}.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- the hook
def on_files(files, config):
    """MkDocs hook: add the generated pages to the site."""
    from mkdocs.structure.files import File

    if sys.path[:1] != [str(REPO)]:  # the code of this checkout first, whatever the environment has installed
        sys.path.insert(0, str(REPO))
    for path, make in PAGES.items():
        files.append(File.generated(config, path, content=make()))
    return files
