"""The pipelines on a real Flink 1.19 cluster (``runners/local_services.py``): Beam's Flink job server, the
Python SDK workers of an external worker pool, two task slots."""
import pytest

from tests.conftest import run_cli
from tests.warehouse_helpers import read_table

pytestmark = [pytest.mark.e2e, pytest.mark.flink]

VOLATILE = {"run_id", "ingested_at", "failed_at"}  # which run wrote a row and when


def rows(out, name, key):
    table = read_table(out / "warehouse" / name).to_pylist()
    by_key = {row[key]: {k: v for k, v in row.items() if k not in VOLATILE} for row in table}
    assert len(by_key) == len(table)
    return by_key


def test_batch_on_flink_at_parallelism_2_gives_the_rows_of_the_direct_runner(flink_services, generated_day,
                                                                            batch_output, tmp_path):
    out = tmp_path / "flink"
    result = run_cli("batch", "--input-dir", str(generated_day["dir"]), "--output-dir", str(out),
                     "--date", generated_day["date"], "--quiet", *flink_services, "--parallelism=2")
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    manifest = json.loads(next((out / "_runs").glob("*.json")).read_text())
    direct = json.loads(sorted((batch_output["dir"] / "_runs").glob("*.json"))[0].read_text())
    assert manifest["runner"] == "FlinkRunner" and manifest["balanced"]
    assert manifest["counts"] == direct["counts"]
    assert rows(out, "complaints", "complaint_id") == rows(batch_output["dir"], "complaints", "complaint_id")
    assert rows(out, "dead_letter", "error_id") == rows(batch_output["dir"], "dead_letter", "error_id")
