import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runners import local_services

REPO = Path(__file__).resolve().parents[1]
# the real data beside the repository (a worktree elsewhere names it with COMPLAINTS_REAL_DATA)
SHARED_REAL = Path(os.environ.get("COMPLAINTS_REAL_DATA") or REPO.parent / "shared" / "data" / "real")
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


# the ports runners/local_services.py opens the services on (its COMPLAINTS_*_PORT overrides included)
SERVICE_PORTS = {"Kafka": local_services.KAFKA_PORT, "the expansion service": local_services.EXPANSION_PORT,
                 "the Java worker pool": local_services.JAVA_WORKER_PORT}


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def unavailable(message: str):
    """A service or tool a test needs is missing: skip it on a laptop, fail it under
    ``COMPLAINTS_REQUIRE_SERVICES=1`` (set by ``.ci/run``), so CI cannot pass by skipping."""
    if os.environ.get("COMPLAINTS_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def prism() -> str:
    """The Prism binary ``runners/local_services.py fetch`` builds (or ``COMPLAINTS_PRISM_LOCATION``)."""
    from runners.options import RunnerSetupError, prism_location

    try:
        return prism_location()
    except RunnerSetupError as error:
        unavailable(str(error))


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
        unavailable(message)
    return {"bootstrap_servers": f"localhost:{SERVICE_PORTS['Kafka']}",
            "expansion_service": f"localhost:{SERVICE_PORTS['the expansion service']}"}


FLINK_PORTS = {"the Flink JobManager": local_services.FLINK_REST_PORT,
               "Beam's Flink job server": local_services.FLINK_JOB_PORT,
               "the Python SDK worker pool": local_services.PYTHON_POOL_PORT}


@pytest.fixture(scope="session")
def flink_services():
    """The real local Flink cluster (JobManager, a TaskManager with 2 slots), Beam's Flink job server and the
    Python SDK worker pool, as ``python runners/local_services.py start`` runs them; missing ones skip (fail
    under ``COMPLAINTS_REQUIRE_SERVICES=1``). Returns the Beam options that submit a pipeline there."""
    missing = [name for name, port in FLINK_PORTS.items() if not _listening(port)]
    if missing:
        message = f"not running: {', '.join(missing)} (python runners/local_services.py start)"
        unavailable(message)
    return local_services.flink_submit_options()


MONITORING_TOOLS = {"promtool": "promtool", "prometheus": "prometheus", "amtool": "amtool",
                    "alertmanager": "prometheus-alertmanager"}


@pytest.fixture(scope="session")
def monitoring_tools():
    """Debian's Prometheus 2.42 and Alertmanager 0.25 (``apt-get install prometheus prometheus-alertmanager``,
    as ``.ci/run`` does): the paths of their programs. Missing ones skip the test on a laptop (fail under
    ``COMPLAINTS_REQUIRE_SERVICES=1``)."""
    import shutil

    found = {name: shutil.which(program) for name, program in MONITORING_TOOLS.items()}
    missing = [MONITORING_TOOLS[name] for name, path in found.items() if path is None]
    if missing:
        message = f"not installed: {', '.join(missing)} (apt-get install prometheus prometheus-alertmanager)"
        unavailable(message)
    return found


# -- serving: a warehouse with weeks of history, and the real server over it ------------------------------------
SERVING_END = dt.date(2026, 11, 25)
FORMULA_TEXTS = ['=HYPERLINK("http://evil.example","refund")', "+1 if you fix it today", "@SUM(A1:A9)",
                 "-1+1 my data", "\tTabbed start"]
API_KEYS = {"ops": "ops-key-7f3a", "wallboard": "wallboard-key-91c2"}


def _write_stream_tables(warehouse: Path) -> dict:
    """A few streaming aggregates (complaint_volume rows, alerts) as the streaming job commits them."""
    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows

    minute = dt.datetime(2026, 11, 25, 23, 50, tzinfo=dt.timezone.utc)
    written = minute + dt.timedelta(minutes=2)
    volume_rows = []
    for step in range(6):
        start = minute + dt.timedelta(minutes=step)
        for category, count in (("Network", 5 + step), ("Billing", 2)):
            volume_rows.append({"minute_start": start, "window_seconds": 60, "source": "twitter", "category": category,
                                "priority": "P3", "complaints": count, "pane": "ON_TIME", "pane_index": 0,
                                "written_at": written, "event_date": start.date()})
    # a late pane of the last Network minute's window: 4 more, the row replaced by the window's new total
    volume_rows[-2] = {**volume_rows[-2], "complaints": volume_rows[-2]["complaints"] + 4, "pane": "LATE",
                       "pane_index": 1}
    config = CatalogConfig(str(warehouse))
    write_rows(config, tables.COMPLAINT_VOLUME, volume_rows)
    alert_rows = [{"alert_id": f"al-{n}", "scope": scope, "minute_start": minute + dt.timedelta(minutes=n),
                   "window_seconds": 60, "complaints": 90 + n, "baseline_mean": 6.5, "baseline_stddev": 2.0,
                   "threshold": 19.5, "severity": "critical" if n else "warning",
                   "detected_at": minute + dt.timedelta(minutes=n + 1), "alert_date": minute.date()}
                  for n, scope in enumerate(("all", "category:Network"))]
    write_rows(config, tables.ALERTS, alert_rows)
    # a data file a writer has written but not committed (yet): never read
    (warehouse / "alerts" / "alert_date=2026-11-25" / "uncommitted-stream-test-1.parquet").write_bytes(b"not parquet")
    return {"volume": volume_rows, "alerts": alert_rows}


def _write_formula_complaints(warehouse: Path) -> list[str]:
    """Complaints whose text a spreadsheet would run as a formula."""
    import pyarrow.compute as pc

    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows
    from warehouse.read import read_arrow

    config = CatalogConfig(str(warehouse))
    complaints = read_arrow(config, "complaints")
    template = complaints.filter(pc.equal(complaints["event_date"], SERVING_END)).slice(0, 1).to_pylist()[0]
    rows = []
    for index, text in enumerate(FORMULA_TEXTS):
        rows.append({**template, "complaint_id": f"fx-formula-{index}", "text": text, "batch_id": "formula-test",
                     "event_time": dt.datetime(2026, 11, 25, 12, index, tzinfo=dt.timezone.utc)})
    write_rows(config, tables.COMPLAINTS, rows)
    return [row["complaint_id"] for row in rows]


@pytest.fixture(scope="session")
def serving_warehouse(tmp_path_factory):
    """63 days of history to 2026-11-25 (known weekly shape, outages, holidays), a forecast run, streaming
    aggregates and a few formula-like complaint texts."""
    from beam_pipelines.generator.history import write_history
    from serving.forecast_job import run_forecast
    from models.forecast import ForecastSettings

    warehouse = tmp_path_factory.mktemp("serving") / "warehouse"
    truth = write_history(str(warehouse), SERVING_END, days=63, per_day=250, seed=5,
                          now=dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.timezone.utc))  # CRM events up to then
    formula_ids = _write_formula_complaints(warehouse)
    stream = _write_stream_tables(warehouse)
    run_forecast(str(warehouse), ForecastSettings(), now=dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.timezone.utc))
    return {"dir": warehouse, "truth": truth, "formula_ids": formula_ids, "stream": stream}


def start_server(arguments: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``complaints serve ARGUMENTS`` as a real process on a free loopback port, once it answers /healthz:
    (the process, its base URL)."""
    import time
    import urllib.request

    from tests.ingest_helpers import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "beam_pipelines", "serve", "--port", str(port), *arguments],
                               cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return process, base
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"complaints serve did not start: {process.communicate()[1][-2000:]}")
        time.sleep(0.3)


def write_key_file(path: Path, keys: dict[str, tuple[str, list[str]]]) -> Path:
    """A ``complaints serve`` key file of ``{name: (key, scopes)}``, holding only the keys' SHA-256."""
    import hashlib

    path.write_text("".join(f'[[keys]]\nname = "{name}"\nsha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\n'
                            f"scopes = {json.dumps(scopes)}\n\n" for name, (key, scopes) in keys.items()))
    return path


def call_api(base: str, path: str, key: str, body=None, params: dict | None = None) -> tuple[int, object]:
    """(status, JSON body) of a GET (or, with ``body``, a POST) to a real server with the API key ``key``."""
    import urllib.error
    import urllib.parse
    import urllib.request

    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(url, method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"X-API-Key": key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def api_server(serving_warehouse, tmp_path_factory):
    """``complaints serve`` as a real process on a free loopback port, with a key file of two clients."""
    import hashlib

    key_file = tmp_path_factory.mktemp("keys") / "keys.toml"
    key_file.write_text(
        "[[keys]]\nname = \"ops\"\n"
        f"sha256 = \"{hashlib.sha256(API_KEYS['ops'].encode()).hexdigest()}\"\n"
        "scopes = [\"complaints\", \"aggregates\"]\n\n"
        "[[keys]]\nname = \"wallboard\"\nkey_env = \"TEST_WALLBOARD_KEY\"\nscopes = [\"aggregates\"]\n")
    process, base = start_server(["--warehouse", str(serving_warehouse["dir"]), "--api-keys", str(key_file)],
                                 {"TEST_WALLBOARD_KEY": API_KEYS["wallboard"]})
    yield {"base": base, "keys": API_KEYS, "warehouse": serving_warehouse, "process": process}
    stop_server(process)
