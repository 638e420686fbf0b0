"""The tests' shared fixtures and nothing else: the helpers that tests import are in the ``tests.support`` package
(``tests/support/*.py``)."""

import datetime as dt
import json
import os

import pytest

from runners import local_services
from tests.support.cli import latest_manifest, run_cli
from tests.support.paths import REPO
from tests.support.ports import listening
from tests.support.services import FLINK_PORTS, MONITORING_TOOLS, SERVICE_PORTS, unavailable
from tests.support.serving import (
    API_KEYS,
    SERVING_END,
    start_server,
    stop_server,
    write_formula_complaints,
    write_stream_tables,
)

# fixtures defined beside their helpers: private_kafka (a broker a test may stop, kill and restart)
pytest_plugins = ["tests.support.kafka_broker"]


@pytest.fixture(scope="session")
def generated_day(tmp_path_factory):
    """A generated day (2026-11-20) with a high defect rate, and its truth."""
    from beam_pipelines.generator import generate

    input_dir = tmp_path_factory.mktemp("input")
    expected = generate(str(input_dir), dt.date(2026, 11, 20), volume=1500, seed=11, defect_rate=0.12)
    defects = [json.loads(line) for line in (input_dir / "_truth" / "defects.jsonl").read_text().splitlines()]
    return {"dir": input_dir, "expected": expected, "defects": defects, "date": "2026-11-20"}


@pytest.fixture(scope="session")
def batch_output(generated_day, tmp_path_factory):
    """The generated day run through ``complaints batch`` once."""
    output_dir = tmp_path_factory.mktemp("output")
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(output_dir),
        "--date",
        generated_day["date"],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {"dir": output_dir, "manifest": latest_manifest(output_dir), "stdout": result.stdout}


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
    missing = [name for name, port in SERVICE_PORTS.items() if not listening(port)]
    if not (REPO / ".services" / "bin" / "prism").exists() and not os.environ.get("COMPLAINTS_PRISM_LOCATION"):
        missing.append("the Prism runner")
    if missing:
        message = f"not running: {', '.join(missing)} (python runners/local_services.py start)"
        unavailable(message)
    return {
        "bootstrap_servers": f"localhost:{SERVICE_PORTS['Kafka']}",
        "expansion_service": f"localhost:{SERVICE_PORTS['the expansion service']}",
    }


@pytest.fixture(scope="session")
def flink_services():
    """The real local Flink cluster (JobManager, a TaskManager with 2 slots), Beam's Flink job server and the
    Python SDK worker pool, as ``python runners/local_services.py start`` runs them; missing ones skip (fail
    under ``COMPLAINTS_REQUIRE_SERVICES=1``). Returns the Beam options that submit a pipeline there."""
    missing = [name for name, port in FLINK_PORTS.items() if not listening(port)]
    if missing:
        message = f"not running: {', '.join(missing)} (python runners/local_services.py start)"
        unavailable(message)
    return local_services.flink_submit_options()


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
@pytest.fixture(scope="session")
def serving_warehouse(tmp_path_factory):
    """63 days of history to 2026-11-25 (known weekly shape, outages, holidays), a forecast run, streaming
    aggregates and a few formula-like complaint texts."""
    from beam_pipelines.generator.history import write_history
    from models.forecast import ForecastSettings
    from serving.forecast_job import run_forecast

    warehouse = tmp_path_factory.mktemp("serving") / "warehouse"
    truth = write_history(
        str(warehouse),
        SERVING_END,
        days=63,
        per_day=250,
        seed=5,
        now=dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.UTC),
    )  # CRM events up to then
    formula_ids = write_formula_complaints(warehouse)
    stream = write_stream_tables(warehouse)
    run_forecast(str(warehouse), ForecastSettings(), now=dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.UTC))
    return {"dir": warehouse, "truth": truth, "formula_ids": formula_ids, "stream": stream}


@pytest.fixture(scope="session")
def api_server(serving_warehouse, tmp_path_factory):
    """``complaints serve`` as a real process on a free loopback port, with a key file of two clients."""
    import hashlib

    key_file = tmp_path_factory.mktemp("keys") / "keys.toml"
    key_file.write_text(
        '[[keys]]\nname = "ops"\n'
        f'sha256 = "{hashlib.sha256(API_KEYS["ops"].encode()).hexdigest()}"\n'
        'scopes = ["complaints", "aggregates"]\n\n'
        '[[keys]]\nname = "wallboard"\nkey_env = "TEST_WALLBOARD_KEY"\nscopes = ["aggregates"]\n'
    )
    process, base = start_server(
        ["--warehouse", str(serving_warehouse["dir"]), "--api-keys", str(key_file)],
        {"TEST_WALLBOARD_KEY": API_KEYS["wallboard"]},
    )
    yield {"base": base, "keys": API_KEYS, "warehouse": serving_warehouse, "process": process}
    stop_server(process)
