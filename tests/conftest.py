import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"
INGESTED_AT = "2026-11-26T12:00:00.000000+00:00"


def make_raw(source: str, raw: str | bytes, *, source_file: str = "file.jsonl", line: int | None = 1,
             offset: int | None = None, attributes: dict | None = None) -> dict:
    """A raw record as the readers produce it."""
    from transforms.records import decode_raw

    text, encoding = decode_raw(raw) if isinstance(raw, bytes) else (raw, "utf-8")
    return {"source": source, "source_file": source_file, "message_id": None, "line": line, "offset": offset,
            "ingested_at": INGESTED_AT, "run_id": "run-test", "batch_id": "btest", "raw": text,
            "raw_encoding": encoding, "attributes": attributes or {}}


def run_cli(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the installed ``complaints`` command as a user would."""
    return subprocess.run([sys.executable, "-m", "beam_pipelines", *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="session")
def generated_day(tmp_path_factory):
    """A generated day (2026-11-20) with a high defect rate, and its truth."""
    from beam_pipelines.generator import generate

    input_dir = tmp_path_factory.mktemp("input")
    expected = generate(str(input_dir), dt.date(2026, 11, 20), volume=1500, seed=11, defect_rate=0.12)
    defects = [json.loads(line) for line in (input_dir / "_truth" / "defects.jsonl").read_text().splitlines()]
    return {"dir": input_dir, "expected": expected, "defects": defects, "date": "2026-11-20"}


def latest_manifest(output_dir: Path) -> dict:
    manifests = sorted((output_dir / "_runs").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(manifests[-1].read_text())


@pytest.fixture(scope="session")
def batch_output(generated_day, tmp_path_factory):
    """The generated day run through ``complaints batch`` once."""
    output_dir = tmp_path_factory.mktemp("output")
    result = run_cli("batch", "--input-dir", str(generated_day["dir"]), "--output-dir", str(output_dir),
                     "--date", generated_day["date"])
    assert result.returncode == 0, result.stderr[-3000:]
    return {"dir": output_dir, "manifest": latest_manifest(output_dir), "stdout": result.stdout}


SERVICE_PORTS = {"Kafka": int(os.environ.get("COMPLAINTS_KAFKA_PORT", "9092")),
                 "the expansion service": int(os.environ.get("COMPLAINTS_EXPANSION_PORT", "18097")),
                 "the Java worker pool": int(os.environ.get("COMPLAINTS_JAVA_WORKER_PORT", "18098"))}


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def kafka_services():
    """The real Kafka broker, Beam's expansion service and Java worker pool, and Prism, as started by
    ``python runners/local_services.py start``. Missing services skip the test on a laptop; under
    ``COMPLAINTS_REQUIRE_SERVICES=1`` (set by ``.ci/run``) they fail it, so CI cannot pass by skipping."""
    missing = [name for name, port in SERVICE_PORTS.items() if not _listening(port)]
    if not (REPO / ".services" / "bin" / "prism").exists() and not os.environ.get("COMPLAINTS_PRISM_LOCATION"):
        missing.append("the Prism runner")
    if missing:
        message = f"not running: {', '.join(missing)} (python runners/local_services.py start)"
        if os.environ.get("COMPLAINTS_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return {"bootstrap_servers": f"localhost:{SERVICE_PORTS['Kafka']}",
            "expansion_service": f"localhost:{SERVICE_PORTS['the expansion service']}"}
