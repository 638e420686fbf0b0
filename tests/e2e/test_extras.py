"""Each role runs with only its own extra: the API host without Beam, the Beam workers without the serving stack.

The commands run in a fresh interpreter whose import system refuses the other roles' packages, as a machine
without them installed would (``pip install .[serving]`` / ``.[pipeline]``)."""

import datetime as dt
import json
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support.paths import REPO
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e

BEAM_SIDE = ("apache_beam", "phonenumbers", "defusedxml", "vaderSentiment", "confluent_kafka", "aiohttp")
SERVING_SIDE = ("duckdb", "fastapi", "uvicorn", "starlette", "plotly")
LAUNCHER = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))
class RefuseOtherRoles(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, RefuseOtherRoles())
sys.argv = ["complaints", *sys.argv[2:]]
from beam_pipelines.cli import main
raise SystemExit(main())
"""


def complaints_without(blocked, *args, **popen):
    command = [sys.executable, "-c", LAUNCHER, ",".join(blocked), *args]
    if popen:
        return subprocess.Popen(command, cwd=REPO, text=True, **popen)
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_serve_report_and_query_run_without_beam(serving_warehouse, tmp_path):
    warehouse = str(serving_warehouse["dir"])
    port = free_port()
    server = complaints_without(
        BEAM_SIDE,
        "serve",
        "--warehouse",
        warehouse,
        "--port",
        str(port),
        "--no-auth",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/complaints?limit=3", timeout=2) as reply:
                    body = json.loads(reply.read())
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"serve did not start without Beam: {server.communicate()[1][-2000:]}")
                time.sleep(0.3)
        assert len(body["items"]) == 3
    finally:
        server.terminate()
        server.wait(timeout=15)
    report = complaints_without(
        BEAM_SIDE, "report", "--warehouse", warehouse, "--period", "daily", "--output", str(tmp_path / "reports")
    )
    assert report.returncode == 0, report.stderr
    query = complaints_without(BEAM_SIDE, "query", "SELECT count(*) AS n FROM complaints", "--warehouse", warehouse)
    assert query.returncode == 0, query.stderr
    assert f"{serving_warehouse['truth']['complaints'] + len(serving_warehouse['formula_ids'])}" in query.stdout


def test_batch_runs_without_the_serving_stack(tmp_path):
    from beam_pipelines.generator import generate

    generate(str(tmp_path / "input"), dt.date(2026, 11, 20), volume=200, seed=3, defect_rate=0.05)
    result = complaints_without(
        SERVING_SIDE,
        "batch",
        "--input-dir",
        str(tmp_path / "input"),
        "--output-dir",
        str(tmp_path / "out"),
        "--date",
        "2026-11-20",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from tests.support.warehouse import read_table

    assert read_table(tmp_path / "out" / "warehouse" / "complaints").num_rows > 150


def test_a_command_whose_extra_is_missing_says_which_to_install(serving_warehouse):
    result = complaints_without(("duckdb",), "query", "SELECT 1", "--warehouse", str(serving_warehouse["dir"]))
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "complaints query needs the 'serving' extra: pip install "
        "'beejan-complaints[serving]' (module duckdb is missing)"
    )
