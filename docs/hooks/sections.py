"""Generated sections inside hand-written pages (an MkDocs hook).

A page written by hand may hold a marker line ``<!-- generated: NAME -->``; at build time the marker is replaced
by what ``SECTIONS[NAME]`` produces from the repository, so the facts in it cannot drift from their source:

- ``benchmark-results``: every results file in ``benchmarks/results/*.json`` as tables (``docs/performance.md``);
- ``dead-letter-reasons``: every reason a record is dead-lettered for, found in the code of ``transforms/``
  (``docs/reference/outputs.md``).

A marker with no section of that name fails the build. The functions are plain, so a test can call them.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: where the benchmark scripts write their results (``benchmarks/*.py``); a build may be pointed elsewhere
RESULTS_VARIABLE = "COMPLAINTS_BENCHMARK_RESULTS"
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)


def _cell(value) -> str:
    """A value as a table cell: numbers exactly as the results file holds them (so a reader can find them in the
    file), nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return repr(value)
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")  # a message's <call> is text, not markup


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return [*lines, ""]


def leaves(document, prefix: str = ""):
    """Every scalar of a JSON document with its path (``runs[0].pipeline.seconds``), in document order."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from leaves(value, f"{prefix}[{index}]")
    else:
        yield prefix, document


# ---------------------------------------------------------------------------------------------- benchmarks
#: the steps of a batch run (``benchmarks/batch_throughput.py``), in the order the script prints them
BATCH_STEPS = (
    ("floor", "floor: read, parse, write back (benchmarks/floor.py)"),
    ("beam_floor", "Beam's floor, worker processes (benchmarks/beam_floor.py)"),
    ("beam_floor_in_process", "Beam's floor, one process"),
    ("plain_loop", "plain loop: record functions, one process (benchmarks/plain_loop.py)"),
    ("pipeline", "`complaints batch`, rules model, into empty tables"),
    ("rerun", "`complaints batch` again over the same day (every row replaced)"),
)
BATCH_RATIOS = (
    "beam_cpu_seconds",
    "marginal_records_per_s",
    "pipeline_vs_loop",
    "pipeline_vs_floor",
    "pipeline_vs_beam_floor",
    "upsert_cost",
    "enrichment_cost",
)


def _batch_run(run: dict) -> list[str]:
    heading = (
        f"#### {run.get('complaints', '?')} complaints, {run.get('raw_records', '?')} raw records, "
        f"{run.get('workers', '?')} worker processes"
    )
    lines = [heading, ""]
    rows = [
        [label, step.get("seconds"), step.get("records_per_s"), step.get("peak_rss_mb"), step.get("cpu_seconds")]
        for key, label in BATCH_STEPS
        if isinstance(step := run.get(key), dict)
    ]
    small = run.get("small_day")
    if isinstance(small, dict):
        rows.append(
            [
                f"`complaints batch`, a day of {small.get('complaints')} complaints, worker processes",
                small.get("seconds"),
                None,
                None,
                small.get("cpu_seconds"),
            ]
        )
        rows.append(
            [
                "the same day in one process (the default for a small day)",
                small.get("one_process_seconds"),
                None,
                None,
                None,
            ]
        )
    model = run.get("with_model")
    if isinstance(model, dict):
        with_models = ", ".join(map(_cell, model.get("model_seconds", [])))
        with_rules = ", ".join(map(_cell, model.get("rules_seconds", [])))
        rows.append(
            [
                f"`complaints batch`, trained models (runs: {with_models} s; rules model: {with_rules} s)",
                None,
                model.get("records_per_s"),
                None,
                None,
            ]
        )
    flink = run.get("flink")
    if isinstance(flink, dict):
        for name, figures in flink.items():
            if isinstance(figures, dict):
                rows.append([f"Flink, {name}", figures.get("seconds"), figures.get("records_per_s"), None, None])
    if rows:
        lines += _table(["step", "seconds", "raw records/s", "peak memory (MB)", "CPU seconds"], rows)
    ratios = [[name, run[name]] for name in BATCH_RATIOS if name in run]
    commit = run.get("commit")
    if isinstance(commit, dict):
        ratios += [[f"commit: {name}", value] for name, value in commit.items()]
    if isinstance(flink, dict):
        ratios += [[f"Flink: {name}", value] for name, value in flink.items() if not isinstance(value, dict)]
    if ratios:
        lines += _table(["figure", "value"], ratios)
    return lines


def _batch(document: dict) -> list[str]:
    machine = document.get("machine") or {}
    lines = [
        (
            f"Batch throughput, measured {document.get('date', 'at an unrecorded time')} "
            f"({machine.get('cpus', '?')} CPUs, Python {machine.get('python', '?')})."
        ),
        "",
    ]
    for run in document.get("runs", []):
        if isinstance(run, dict):
            lines += _batch_run(run)
    return lines


def _stream(document: dict) -> list[str]:
    machine = document.get("machine") or {}
    lines = [
        (
            f"Streaming sustained rate on {document.get('runner', 'an unrecorded runner')}, measured "
            f"{document.get('at', 'at an unrecorded time')} ({machine.get('cpus', '?')} CPUs, Python "
            f"{machine.get('python', '?')}): windows of {document.get('window_seconds')} s, "
            f"{document.get('seconds_per_rate')} s per rate, early firing after "
            f"{document.get('early_firing_count')} records; sustained: **{document.get('sustained_rate')} "
            "records/s**."
        ),
        "",
    ]
    rows = [
        [
            rate.get("target_rate"),
            rate.get("published"),
            rate.get("achieved_publish_rate"),
            rate.get("readable_within_grace"),
            rate.get("kept_up"),
            rate.get("latency_median_s"),
            rate.get("latency_p99_s"),
            rate.get("latency_median_first_third_s"),
            rate.get("latency_median_last_third_s"),
        ]
        for rate in document.get("rates", [])
        if isinstance(rate, dict)
    ]
    if rows:
        lines += _table(
            [
                "target rate (/s)",
                "published",
                "publish rate reached (/s)",
                "readable in time",
                "kept up",
                "latency median (s)",
                "p99 (s)",
                "median, first third (s)",
                "median, last third (s)",
            ],
            rows,
        )
    return lines


def _serving(document: dict) -> list[str]:
    machine = document.get("machine") or {}
    lines = [
        (
            f"API latency over {document.get('complaints')} complaints in {document.get('days')} days "
            f"({document.get('parquet_bytes')} bytes of Parquet), measured {document.get('measured_at')} "
            f"({machine.get('cpus', '?')} CPUs, Python {machine.get('python', '?')}); "
            f"command: `{document.get('command', '')}`."
        ),
        "",
    ]
    rows = []
    for request, by_clients in (document.get("results") or {}).items():
        for clients, figures in (by_clients or {}).items():
            if isinstance(figures, dict):
                rows.append(
                    [
                        request,
                        figures.get("clients", clients),
                        figures.get("requests"),
                        figures.get("median_ms"),
                        figures.get("p99_ms"),
                        figures.get("max_ms"),
                        figures.get("requests_per_s"),
                        figures.get("errors"),
                    ]
                )
    if rows:
        lines += _table(
            ["request", "clients", "requests", "median (ms)", "p99 (ms)", "max (ms)", "requests/s", "errors"], rows
        )
    return lines


def result_kind(document) -> str:
    """Which benchmark wrote a results file, by its shape: ``batch``, ``stream``, ``serving`` or ``other``."""
    if not isinstance(document, dict):
        return "other"
    if isinstance(document.get("runs"), list):
        return "batch"
    if document.get("benchmark") == "stream_throughput" or isinstance(document.get("rates"), list):
        return "stream"
    if isinstance(document.get("results"), dict) and "measured_at" in document:
        return "serving"
    return "other"


RENDERERS = {"batch": _batch, "stream": _stream, "serving": _serving}


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_VARIABLE) or REPO / "benchmarks" / "results")


def benchmark_results(directory: Path | None = None) -> str:
    """Every results file in ``directory`` (by default ``benchmarks/results/``), newest name last, as Markdown:
    the tables of its benchmark when its shape is known, then every figure it holds, so a file of another shape
    (an older script's, a new one's) still shows whole. A file that is not JSON is named, not skipped silently."""
    directory = directory or results_dir()
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not paths:
        return (
            "*No results files yet.* `make benchmark` (and the other scripts below) write them to "
            "`benchmarks/results/`; commit them and this page shows them at the next build.\n"
        )
    lines = []
    for path in paths:
        lines += [f"### {path.name}", ""]
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            lines += [f"Not readable as JSON ({type(error).__name__}: {error}); nothing of it is shown.", ""]
            continue
        kind = result_kind(document)
        if kind in RENDERERS:
            lines += RENDERERS[kind](document)
        else:
            lines += ["A results file of a shape this page does not know; every figure it holds follows.", ""]
        figures = [[f"`{name}`", value] for name, value in leaves(document)]
        if figures:
            # a collapsed block (pymdownx.details): complete, out of the way of the tables above
            table = _table(["field", "value"], figures)
            lines += [f'??? info "Every figure in {path.name}"', "", *(f"    {line}" if line else "" for line in table)]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- dead letters
#: the stage of an error whose stage is the one it happened in (an unexpected exception in our own code)
ANY_STAGE = "any"


def _stage_of(node, stages: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return stages.get(node.id)
    return None


def _text_of(node) -> str:
    """A message as the code writes it: constant parts kept, computed parts as ``…``."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(str(part.value) if isinstance(part, ast.Constant) else "…" for part in node.values)
    return "…"


def dead_letter_reasons(root: Path | None = None) -> list[dict]:
    """Every ``RecordError`` that the code under ``root`` (by default ``transforms/``) raises with a literal error
    type: its type, its stage (``parse`` unless the call names one), where it is raised and its message."""
    from transforms import records

    stages = {name: getattr(records, name) for name in ("READ", "PARSE", "CLEAN", "VALIDATE", "ENRICH", "WRITE")}
    root = root or REPO / "transforms"
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name != "RecordError" or not node.args:
                continue
            error_type = node.args[0]
            if isinstance(error_type, ast.JoinedStr):
                kind = _text_of(error_type).replace("…", "<ExceptionType>")
            elif isinstance(error_type, ast.Constant) and isinstance(error_type.value, str):
                kind = error_type.value
            else:
                continue  # a type carried in from elsewhere (a reader's attributes): documented in prose
            stage_node = (
                node.args[2]
                if len(node.args) > 2
                else next((keyword.value for keyword in node.keywords if keyword.arg == "stage"), None)
            )
            stage = records.PARSE if stage_node is None else (_stage_of(stage_node, stages) or ANY_STAGE)
            message = _text_of(node.args[1]) if len(node.args) > 1 else ""
            found.append(
                {"error_type": kind, "stage": stage, "module": path.relative_to(REPO).as_posix(), "message": message}
            )
    return found


def dead_letter_reasons_section() -> str:
    rows: dict[tuple[str, str], dict] = {}
    for reason in dead_letter_reasons():
        entry = rows.setdefault((reason["stage"], reason["error_type"]), {"modules": [], "messages": []})
        if reason["module"] not in entry["modules"]:
            entry["modules"].append(reason["module"])
        if reason["message"] and reason["message"] not in entry["messages"]:
            entry["messages"].append(reason["message"])
    order = ["read", "parse", "clean", "validate", "enrich", "write"]
    lines = ["| manifest reason | stage | raised in | message (… is filled in per record) |", "|---|---|---|---|"]
    for (stage, kind), entry in sorted(
        rows.items(), key=lambda item: (order.index(item[0][0]) if item[0][0] in order else len(order), item[0][1])
    ):
        modules = ", ".join(f"`{module}`" for module in entry["modules"])
        messages = "; ".join(_cell(message) for message in entry["messages"])
        reason = f"<stage>:{kind}" if stage == ANY_STAGE else f"{stage}:{kind}"
        lines.append(f"| `{reason}` | {stage} | {modules} | {messages} |")
    return "\n".join(lines) + "\n"


SECTIONS = {"benchmark-results": benchmark_results, "dead-letter-reasons": dead_letter_reasons_section}


def fill(markdown: str) -> str:
    """The page with each ``<!-- generated: NAME -->`` line replaced by its section; an unknown name raises."""

    def replace(match):
        name = match.group(1)
        if name not in SECTIONS:
            raise ValueError(f"no generated section {name!r} (known: {', '.join(sorted(SECTIONS))})")
        return SECTIONS[name]().rstrip("\n")

    return MARKER.sub(replace, markdown)


# ---------------------------------------------------------------------------------------------- the hook
def on_page_markdown(markdown, page, config, files):
    """MkDocs hook: fill the generated sections of a page."""
    import sys

    if sys.path[:1] != [str(REPO)]:  # the code of this checkout first, whatever the environment has installed
        sys.path.insert(0, str(REPO))
    return fill(markdown)
