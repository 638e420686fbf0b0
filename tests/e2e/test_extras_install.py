"""The serving extra, installed for real in a fresh environment, runs the serving commands without Beam (an
import-blocking test cannot see a package that only Beam brought in, such as DuckDB's ``pytz``)."""

import subprocess
import sys

import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.e2e


def test_pip_install_serving_extra_runs_query_and_report_without_beam(serving_warehouse, tmp_path):
    venv = tmp_path / "serving-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-c", str(REPO / "constraints.txt"), f"{REPO}[serving]"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import apache_beam"], capture_output=True).returncode != 0
    complaints = str(venv / "bin" / "complaints")
    warehouse = str(serving_warehouse["dir"])
    query = subprocess.run(
        [complaints, "query", "SELECT count(*) AS n FROM complaints", "--warehouse", warehouse],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert query.returncode == 0, query.stderr
    expected = serving_warehouse["truth"]["complaints"] + len(serving_warehouse["formula_ids"])
    assert str(expected) in query.stdout
    report = subprocess.run(
        [complaints, "report", "--warehouse", warehouse, "--period", "weekly", "--output", str(tmp_path / "reports")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    batch = subprocess.run(
        [complaints, "batch", "--input-dir", ".", "--output-dir", "out"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert batch.returncode == 3 and "needs the 'pipeline' extra" in batch.stderr
