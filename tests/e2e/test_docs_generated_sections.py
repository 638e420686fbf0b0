"""The generated sections of hand-written pages (``docs/hooks/sections.py``): the performance page shows every
benchmark results file whole, whatever its shape, and the outputs page lists every dead-letter reason the code
raises. The site is built for real (``mkdocs build --strict``), with a results folder of the scripts' shapes."""

import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO


def sections_module():
    spec = importlib.util.spec_from_file_location("docs_sections", REPO / "docs" / "hooks" / "sections.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_site(site: Path, results: Path | None = None) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    if results is not None:
        env["COMPLAINTS_BENCHMARK_RESULTS"] = str(results)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]


def missing_figures(page_html: str, results_file: Path) -> list[str]:
    """The figures of ``results_file`` that the built page does not show beside their field's name, written as the
    file writes them (``json.dumps``: no rounding, no thousands separators)."""
    missing = []
    for name, value in sections_module().leaves(json.loads(results_file.read_text())):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        shown = html.escape(json.dumps(value), quote=False)
        if not re.search(rf"<code>{re.escape(name)}</code></td>\s*<td>{re.escape(shown)}</td>", page_html):
            missing.append(f"{name} = {value}")
    return missing


#: results files in the shapes the benchmark scripts write (benchmarks/batch_throughput.py, stream_throughput.py,
#: serving_latency.py), and one of a shape no script writes: the page must show all of them whole
BATCH_RESULTS = {
    "machine": {"cpus": 2, "python": "3.11.2"},
    "date": "2026-12-02T21:04:11+00:00",
    "runs": [
        {
            "complaints": 100000,
            "raw_records": 106506,
            "workers": 2,
            "pipeline": {"seconds": 14.4, "records_per_s": 7417, "peak_rss_mb": 1843.2, "cpu_seconds": 21.8},
            "plain_loop": {"seconds": 9.9, "records_per_s": 10769, "peak_rss_mb": 1011.0, "cpu_seconds": 9.9},
            "floor": {"seconds": 1.33, "records_per_s": 80080, "peak_rss_mb": 201.5, "cpu_seconds": 1.4},
            "rerun": {"seconds": 14.1, "records_per_s": 7532, "peak_rss_mb": 1850.7, "cpu_seconds": 21.6},
            "beam_floor": {"seconds": 11.1, "records_per_s": 9604, "peak_rss_mb": 1536.0, "cpu_seconds": 11.5},
            "beam_floor_in_process": {"seconds": 4.7, "records_per_s": 22565, "peak_rss_mb": 614.4, "cpu_seconds": 4.6},
            "beam_cpu_seconds": 11.9,
            "small_day": {
                "complaints": 1000,
                "raw_records": 1066,
                "seconds": 4.1,
                "cpu_seconds": 5.5,
                "one_process_seconds": 3.1,
            },
            "marginal_records_per_s": 10300,
            "pipeline_vs_floor": 0.093,
            "pipeline_vs_beam_floor": 0.772,
            "pipeline_vs_loop": 0.69,
            "commit": {"into_empty_seconds": 0.73, "rerun_seconds": 1.13},
            "upsert_cost": 0.08,
            "with_model": {
                "model_dir": "/tmp/m",
                "rules_seconds": [14.4],
                "model_seconds": [18.1],
                "records_per_s": 5871,
            },
            "enrichment_cost": 0.204,
            "flink": {
                "p1": {"seconds": 71.7, "records_per_s": 1486},
                "p2": {"seconds": 72.8, "records_per_s": 1463},
                "p2_vs_p1": 0.98,
            },
        }
    ],
}
STREAM_RESULTS = {
    "benchmark": "stream_throughput",
    "at": "2026-12-03T10:00:00+00:00",
    "window_seconds": 5,
    "early_firing_count": 500,
    "seconds_per_rate": 45,
    "transport": "kafka",
    "runner": "PrismRunner (LOOPBACK)",
    "machine": {"cpus": 2, "python": "3.11.2"},
    "sustained_rate": 200,
    "rates": [
        {
            "target_rate": 100,
            "published": 4501,
            "achieved_publish_rate": 100.0,
            "readable_within_grace": 4501,
            "kept_up": True,
            "latency_median_first_third_s": 3.2,
            "latency_median_last_third_s": 3.4,
            "latency_median_s": 3.3,
            "latency_p99_s": 5.9,
        },
        {
            "target_rate": 400,
            "published": 16335,
            "achieved_publish_rate": 363.0,
            "readable_within_grace": 16001,
            "kept_up": False,
            "latency_median_first_third_s": 14.7,
            "latency_median_last_third_s": 24.4,
            "latency_median_s": 19.0,
            "latency_p99_s": 32.7,
        },
    ],
}
SERVING_RESULTS = {
    "measured_at": "2026-11-26T18:00:00+00:00",
    "complaints": 1047128,
    "days": 120,
    "parquet_bytes": 107000000,
    "machine": {"cpus": 2, "python": "3.11.2"},
    "command": "benchmarks/serving_latency.py",
    "results": {
        "complaint by id": {
            "1_clients": {
                "requests": 200,
                "clients": 1,
                "errors": 0,
                "median_ms": 14.1,
                "p99_ms": 23.5,
                "max_ms": 30.2,
                "requests_per_s": 68.0,
            },
            "4_clients": {
                "requests": 200,
                "clients": 4,
                "errors": 0,
                "median_ms": 46.9,
                "p99_ms": 69.8,
                "max_ms": 80.1,
                "requests_per_s": 85.0,
            },
        }
    },
}
UNKNOWN_RESULTS = {"benchmark": "a future one", "figures": [{"name": "x", "value": 1.25}, {"value": 7}]}


def test_the_performance_page_shows_every_results_file_whole(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for name, document in (
        ("batch_20261202T210411.json", BATCH_RESULTS),
        ("stream-prism-20261203T100000.json", STREAM_RESULTS),
        ("serving_latency.json", SERVING_RESULTS),
        ("zz-unknown.json", UNKNOWN_RESULTS),
    ):
        (results / name).write_text(json.dumps(document, indent=2))
    (results / "broken.json").write_text('{"runs": [')
    for committed in sorted((REPO / "benchmarks" / "results").glob("*.json")):  # and every file the repository keeps
        shutil.copy(committed, results / committed.name)
    build_site(tmp_path / "site", results)

    page = (tmp_path / "site" / "performance" / "index.html").read_text()
    for results_file in sorted(results.glob("*.json")):
        if results_file.name == "broken.json":
            continue
        assert results_file.name in page
        assert missing_figures(page, results_file) == [], results_file.name
    # the known shapes get their own tables; the unknown one and the broken one are said to be so
    text = re.sub(r"<[^>]+>", "", page)
    assert "Batch throughput, measured 2026-12-02T21:04:11+00:00" in text
    assert "Beam's floor, one process" in text and "Flink, p2" in text
    assert "Streaming sustained rate on PrismRunner (LOOPBACK)" in text and "sustained: 200 records/s" in text
    assert "API latency over 1047128 complaints" in text and "complaint by id" in text
    assert "a shape this page does not know" in text
    assert "broken.json" in text and "Not readable as JSON" in text
    assert "No results files yet" not in text


def test_the_built_performance_page_holds_the_committed_results(tmp_path):
    build_site(tmp_path)
    page = (tmp_path / "performance" / "index.html").read_text()
    committed = sorted((REPO / "benchmarks" / "results").glob("*.json"))
    if not committed:
        assert "No results files yet" in page
    for results_file in committed:
        assert missing_figures(page, results_file) == [], results_file.name


def test_every_dead_letter_reason_raised_in_the_code_is_in_the_outputs_page(tmp_path):
    sections = sections_module()
    found = sections.dead_letter_reasons()
    # every RecordError raised with a literal type in transforms/ is found (none is missed by the AST walk)
    literal_calls = sum(
        len(re.findall(r"RecordError\(\s*f?\"", path.read_text())) for path in (REPO / "transforms").rglob("*.py")
    )
    assert len(found) == literal_calls
    section = sections.dead_letter_reasons_section()
    for reason in found:
        label = (
            f"<stage>:{reason['error_type']}"
            if reason["stage"] == "any"
            else f"{reason['stage']}:{reason['error_type']}"
        )
        assert f"| `{label}` |" in section
    assert "| `validate:text_too_long` |" in section and "| `read:invalid_utf8` |" in section
    with pytest.raises(ValueError, match="no generated section"):
        sections.fill("<!-- generated: nothing-by-that-name -->")
