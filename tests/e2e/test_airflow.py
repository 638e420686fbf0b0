"""The DAGs of ``runners/airflow/dags`` on a real Apache Airflow 3 (its own environment, installed by
``runners/local_services.py fetch`` from ``runners/airflow/requirements.txt``): ``airflow dags test`` runs the real
tasks, which run the real ``complaints`` command on generated input; the backfill runs on a real scheduler
(``airflow standalone``)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runners import local_services
from tests.support.ports import free_port
from tests.support.warehouse import read_table

pytestmark = [pytest.mark.e2e, pytest.mark.airflow]
REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "runners" / "airflow" / "dags"
AIRFLOW = local_services.airflow_venv() / "bin" / "airflow"
DAY = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def airflow_bin():
    if not AIRFLOW.exists():
        message = f"Airflow is not installed ({AIRFLOW}): python runners/local_services.py fetch"
        if os.environ.get("COMPLAINTS_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return AIRFLOW


def airflow_env(home: Path, landing: Path, out: Path, **extra: str) -> dict:
    """The environment ``make airflow`` gives Airflow (``local_services.airflow_environment``), with this test's
    home, landing and output folders; the ``complaints`` command is this test run's interpreter, as the project's
    environment would be."""
    env = {key: value for key, value in local_services.airflow_environment().items() if not key.startswith("PYTHON")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": local_services.airflow_database(str(home)),
            "COMPLAINTS_LANDING_DIR": str(landing),
            "COMPLAINTS_OUTPUT_DIR": str(out),
            "COMPLAINTS_CLI": f"{sys.executable} -m beam_pipelines",
            "COMPLAINTS_RETRY_DELAY_SECONDS": "1",
        }
    )
    env.update(extra)
    return env


def airflow(env: dict, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AIRFLOW), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=env["AIRFLOW_HOME"]
    )


def dags_test(env: dict, dag_id: str, logical_date: str, *extra: str) -> subprocess.CompletedProcess:
    """``airflow dags test``: one run of the DAG with its real tasks, in this process tree."""
    return airflow(env, "dags", "test", dag_id, logical_date, *extra)


@pytest.fixture(scope="module")
def airflow_home(airflow_bin, tmp_path_factory):
    """An Airflow home with its metadata database (SQLite) migrated: shared by the ``dags test`` runs."""
    home = tmp_path_factory.mktemp("airflow-home")
    result = airflow(airflow_env(home, home, home), "db", "migrate")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return home


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    """A landing folder with a generated day of every channel, as the gateways and exporters leave it."""
    from beam_pipelines.generator import generate

    folder = tmp_path_factory.mktemp("landing")
    expected = generate(str(folder), DAY, volume=400, seed=21, defect_rate=0.05)
    return {"dir": folder, "expected": expected}


class Webhook:
    """A webhook receiver on loopback that keeps what was POSTed to it."""

    def __init__(self):
        self.received: list[dict] = []
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def profile_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


def test_every_dag_imports_with_owner_retries_callback_and_the_documented_schedule(airflow_home, tmp_path):
    script = """
import json, sys
sys.path.insert(0, DAGS)  # as Airflow's DAG processor puts its DAG folder on the path
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
dags = {}
for dag in bag.dags.values():
    dags[dag.dag_id] = {
        "schedule": getattr(dag.timetable, "_expression", None) or type(dag.timetable).__name__,
        "owners": sorted({task.owner for task in dag.tasks}),
        "retries": sorted({task.retries for task in dag.tasks}),
        "backoff": sorted({task.retry_exponential_backoff for task in dag.tasks}),
        "callbacks": all(task.on_failure_callback for task in dag.tasks),
        "tasks": sorted(task.task_id for task in dag.tasks),
        "doc": bool(dag.doc_md),
    }
print(json.dumps({"errors": {k: v[-300:] for k, v in bag.import_errors.items()}, "dags": dags}))
""".replace("DAGS", repr(str(DAGS)), 1)
    env = airflow_env(airflow_home, tmp_path, tmp_path)
    result = subprocess.run(
        [str(AIRFLOW.parent / "python"), "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    schedules = {
        "complaints_sms_hourly": "0 * * * *",
        "complaints_call_centre_daily": "0 0 * * *",
        "complaints_report_daily": "0 0 * * *",
        "complaints_report_weekly": "0 0 * * 1",
        "complaints_report_monthly": "0 0 1 * *",
        "complaints_maintenance": "30 3 * * *",
        "complaints_model_retraining": "0 4 * * 0",
        "complaints_reprocess": "NullTimetable",
        "complaints_stream_supervisor": "*/5 * * * *",
        "complaints_review_reinject": "20 * * * *",
    }
    assert set(found["dags"]) == set(schedules)
    # the lake's retention is part of `complaints warehouse maintain`: one task keeps both
    assert found["dags"]["complaints_maintenance"]["tasks"] == ["maintain_warehouse_and_lake"]
    for dag_id, dag in found["dags"].items():
        assert dag["schedule"] == schedules[dag_id], dag_id
        assert dag["owners"] == ["data-platform"] and dag["doc"], dag_id
        assert min(dag["retries"]) >= 1 and min(dag["backoff"]) > 1, dag_id  # retried, with exponential backoff
        assert dag["callbacks"], dag_id  # every task alerts on failure
    assert found["dags"]["complaints_sms_hourly"]["tasks"] == [
        "publish_sms_freshness",
        "run_sms_batch",
        "wait_for_sms_export",
    ]


def test_sms_and_call_centre_batches_fill_the_warehouse_and_the_daily_report_follows(airflow_home, landing, tmp_path):
    out = tmp_path / "out"
    env = airflow_env(airflow_home, landing["dir"], out)
    next_day = f"{DAY + dt.timedelta(days=1)}T00:00:00+00:00"

    # the report's sensor gives up while the day's batches have not run: no report, a failed run, an alert
    early = dags_test({**env, "COMPLAINTS_REPORT_WAIT_MINUTES": "0.05"}, "complaints_report_daily", next_day)
    assert early.returncode != 0
    assert not (out / "reports").exists()
    assert "ALERT " in early.stdout and '"task_id": "wait_for_period_batches"' in early.stdout

    # dags test's logical date is the end of the data interval: the hour 23:00-24:00, the day 26th
    sms = dags_test(env, "complaints_sms_hourly", next_day)
    assert sms.returncode == 0, sms.stdout[-3000:] + sms.stderr[-3000:]
    calls = dags_test(env, "complaints_call_centre_daily", next_day)
    assert calls.returncode == 0, calls.stdout[-3000:] + calls.stderr[-3000:]

    expected = landing["expected"]
    complaints = read_table(out / "warehouse" / "complaints")
    by_source = {source: complaints.column("source").to_pylist().count(source) for source in ("sms", "phone")}
    assert by_source == {"sms": expected["sms"]["written"], "phone": expected["phone"]["written"]}
    assert set(complaints.column("source").to_pylist()) == {"sms", "phone"}  # only the scheduled channels
    freshness = json.loads((out / "_freshness" / "sms.json").read_text())
    assert freshness["complete_through"] == f"{DAY + dt.timedelta(days=1)}T00:00:00+00:00"

    report = dags_test(env, "complaints_report_daily", next_day)
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    html = out / "reports" / f"complaints-daily-{DAY}.html"
    assert html.exists()
    markers = [json.loads(path.read_text()) for path in (out / "_schedule").rglob("*.json")]
    assert {marker["slot"] for marker in markers} == {f"{DAY}T23", str(DAY)}
    latest_batch = max(dt.datetime.fromisoformat(marker["completed_at"]) for marker in markers)
    assert dt.datetime.fromtimestamp(html.stat().st_mtime, dt.UTC) > latest_batch


def _counting_cli(tmp_path: Path, fail_first_batch_with: int | None) -> tuple[Path, Path]:
    """A ``complaints`` that logs each call and, for the first ``batch``, exits with a given code without running
    it (an unreachable runner or catalog looks like this: exit 4 and one line)."""
    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "complaints"
    wrapper.write_text(f"""#!/bin/sh
echo "$1" >> {calls}
if [ "$1" = batch ] && [ -n "{fail_first_batch_with or ""}" ] && [ ! -e {tmp_path}/failed-once ]; then
  touch {tmp_path}/failed-once
  echo "complaints batch: the pipeline failed, nothing was committed: job server unreachable" >&2
  exit {fail_first_batch_with or 0}
fi
exec {sys.executable} -m beam_pipelines "$@"
""")
    wrapper.chmod(0o755)
    return wrapper, calls


def test_a_transient_failure_is_retried_and_then_succeeds(airflow_home, landing, tmp_path):
    wrapper, calls = _counting_cli(tmp_path, fail_first_batch_with=4)
    out = tmp_path / "out"
    env = airflow_env(airflow_home, landing["dir"], out, COMPLAINTS_CLI=str(wrapper))
    result = dags_test(env, "complaints_call_centre_daily", f"{DAY + dt.timedelta(days=1)}T00:00:00+00:00")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert calls.read_text().split().count("batch") == 2  # failed once, retried once
    assert "complaints batch exited 4 (retried): complaints batch: the pipeline failed" in result.stdout + result.stderr
    assert read_table(out / "warehouse" / "complaints").num_rows == landing["expected"]["phone"]["written"]


def test_a_data_error_is_not_retried_and_the_webhook_is_told_the_dag_task_and_reason(airflow_home, landing, tmp_path):
    wrapper, calls = _counting_cli(tmp_path, fail_first_batch_with=None)
    broken = tmp_path / "landing"
    shutil.copytree(landing["dir"], broken)
    with open(broken / "phone_logs" / f"calls_{DAY:%Y%m%d}.csv", "a", encoding="utf-8") as export:
        export.write("C-BROKEN-1,yesterday morning,,08031234567,,AG-1,billing,X,resolved,no start time\n")
    webhook = Webhook()
    try:
        # the rejected call breaks this profile's quality threshold: exit 5, a data error
        profile = profile_with(
            tmp_path, f'[quality]\nmax_reject_ratio = 0.0\n[alerts]\nwebhook_url = "{webhook.url}"\n'
        )
        env = airflow_env(
            airflow_home,
            broken,
            tmp_path / "out",
            COMPLAINTS_CLI=str(wrapper),
            COMPLAINTS_PROFILE=str(profile),
            COMPLAINTS_CONTACT_TOKEN_KEY="test-secret",
        )
        result = dags_test(env, "complaints_call_centre_daily", f"{DAY + dt.timedelta(days=1)}T00:00:00+00:00")
    finally:
        webhook.close()
    assert result.returncode != 0
    assert calls.read_text().split().count("batch") == 1  # not retried
    alerts = [alert for alert in webhook.received if alert.get("task_id") == "run_call_centre_batch"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["dag_id"] == "complaints_call_centre_daily" and alert["event"] == "task_failed"
    assert "exited 5" in alert["reason"] and "not retried" in alert["reason"]
    assert "max_reject_ratio" in alert["reason"]  # the command's own line says why
    assert not (tmp_path / "out" / "_schedule").exists()  # no freshness for a refused batch


def test_the_reprocessing_dag_relabels_a_day_with_another_model(airflow_home, landing, tmp_path):
    from tests.support.models import write_fixture

    out = tmp_path / "out"
    env = airflow_env(airflow_home, landing["dir"], out)
    calls = dags_test(env, "complaints_call_centre_daily", f"{DAY + dt.timedelta(days=1)}T00:00:00+00:00")
    assert calls.returncode == 0, calls.stdout[-3000:]
    before = {row["complaint_id"]: row for row in read_table(out / "warehouse" / "complaints").to_pylist()}

    write_fixture(tmp_path / "fixture.labelled.csv")
    models = tmp_path / "models"
    trained = subprocess.run(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "model",
            "train",
            "--data",
            str(tmp_path),
            "--output-dir",
            str(models),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    version = json.loads((models / "model_card.json").read_text())["version"]

    conf = json.dumps({"start": str(DAY), "end": str(DAY), "model_dir": str(models)})
    result = dags_test(env, "complaints_reprocess", f"{DAY}T12:00:00+00:00", "--conf", conf)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = {row["complaint_id"]: row for row in read_table(out / "warehouse" / "complaints").to_pylist()}
    assert after.keys() == before.keys()
    assert {row["model_version"] for row in after.values()} == {version}
    assert {row["model_version"] for row in before.values()} != {version}


# -- a real scheduler: backfills ---------------------------------------------------------------------------------
def _healthy(port: int) -> bool:
    """Airflow's API answers and its DAG processor reports healthy."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as response:
            return json.load(response).get("dag_processor", {}).get("status") == "healthy"
    except (OSError, ValueError):
        return False


@pytest.fixture()
def scheduler(airflow_bin, tmp_path):
    """``airflow standalone`` (scheduler, DAG processor, triggerer, API server; LocalExecutor, SQLite) on free
    loopback ports, with three generated days of call-centre exports in its landing folder."""
    from beam_pipelines.generator import generate

    landing = tmp_path / "landing"
    days = [DAY + dt.timedelta(days=n) for n in range(3)]
    for number, day in enumerate(days):
        generated = tmp_path / f"generated-{day}"
        generate(str(generated), day, volume=150, seed=60 + number, defect_rate=0.05)
        for folder in ("phone_logs", "customers"):
            (landing / folder).mkdir(parents=True, exist_ok=True)
            for path in (generated / folder).iterdir():
                if folder == "phone_logs" or not (landing / folder / path.name).exists():
                    shutil.copy(path, landing / folder / path.name)
    home, out = tmp_path / "airflow-home", tmp_path / "out"
    home.mkdir()
    api = free_port()
    env = airflow_env(
        home,
        landing,
        out,
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api}/execution/",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__TRIGGERER__TRIGGERER_LOG_SERVER_PORT=str(free_port()),
        COMPLAINTS_CALLS_WAIT_MINUTES="1",
    )
    log = open(tmp_path / "standalone.log", "wb")
    process = subprocess.Popen(
        [str(AIRFLOW), "standalone"], env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "standalone.log").read_text()[-3000:]
            if _healthy(api) and airflow(env, "dags", "details", "complaints_call_centre_daily").returncode == 0:
                break
            time.sleep(3)
        else:
            pytest.fail("airflow standalone did not become healthy in 180 s")
        yield {"env": env, "out": out, "days": days}
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()


def _backfill(env: dict, days: list[dt.date], *extra: str) -> list[dict]:
    """Create a backfill of the call-centre DAG over ``days`` and wait until each of its runs has run (again)."""
    asked = dt.datetime.now(dt.UTC)
    for _ in range(60):  # up to 3 minutes: under load the scheduler takes a minute or more to close a backfill
        created = airflow(
            env,
            "backfill",
            "create",
            "--dag-id",
            "complaints_call_centre_daily",
            "--from-date",
            str(days[0]),
            "--to-date",
            str(days[-1]),
            "--max-active-runs",
            "1",
            *extra,
        )
        # the CLI and the scheduler share one SQLite file (a write may find it locked for a moment), and the
        # scheduler marks the previous backfill complete a few seconds after its last run
        if not any(
            word in created.stdout + created.stderr for word in ("database is locked", "AlreadyRunningBackfill")
        ):
            break
        time.sleep(3)
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        listed = airflow(env, "dags", "list-runs", "complaints_call_centre_daily", "-o", "json")
        lines = listed.stdout.strip().splitlines()
        if listed.returncode != 0 or not lines:  # the database was locked for a moment: ask again
            time.sleep(3)
            continue
        runs = [run for run in json.loads(lines[-1]) if run["run_id"].startswith("backfill__")]
        done = [
            run
            for run in runs
            if run["state"] in ("success", "failed")
            and run["start_date"]
            and dt.datetime.fromisoformat(run["start_date"]) > asked
        ]
        if len(done) == len(days):
            return done
        time.sleep(3)
    pytest.fail(f"the backfill did not finish in 420 s: {listed.stdout[-2000:]}")


def _warehouse(out: Path) -> dict:
    """The tables' rows without what says which run wrote them (and when)."""
    varying = {"run_id", "ingested_at", "failed_at"}
    tables = {}
    for table, key in (("complaints", "complaint_id"), ("dead_letter", "error_id")):
        rows = read_table(out / "warehouse" / table).to_pylist()
        tables[table] = {row[key]: {k: v for k, v in row.items() if k not in varying} for row in rows}
    tables["lake"] = sorted(str(path.relative_to(out)) for path in (out / "lake").rglob("*.jsonl"))
    return tables


def test_a_backfill_over_three_days_twice_gives_the_same_warehouse(scheduler):
    env, out, days = scheduler["env"], scheduler["out"], scheduler["days"]
    unpaused = airflow(env, "dags", "unpause", "complaints_call_centre_daily")
    assert unpaused.returncode == 0, unpaused.stderr[-2000:]
    first = _backfill(env, days)
    assert {run["state"] for run in first} == {"success"}, first
    once = _warehouse(out)
    assert len({row["event_date"] for row in once["complaints"].values()}) >= 3
    assert {row["batch_id"] for row in once["complaints"].values()} == {f"calls-{day:%Y%m%d}" for day in days}

    second = _backfill(env, days, "--reprocess-behavior", "completed")
    assert len(second) == 3 and {run["state"] for run in second} == {"success"}, second
    again = _warehouse(out)
    for table in once:
        differing = [
            (
                key,
                {
                    k: (v, again[table].get(key, {}).get(k))
                    for k, v in row.items()
                    if again[table].get(key, {}).get(k) != v
                },
            )
            for key, row in (once[table].items() if isinstance(once[table], dict) else [])
            if again[table].get(key) != row
        ]
        assert again[table] == once[table], (table, differing[:3])
    manifests = [json.loads(path.read_text()) for path in (out / "_runs").glob("*.json")]
    runs_per_day = {f"calls-{day:%Y%m%d}": 0 for day in days}
    for manifest in manifests:
        runs_per_day[manifest["batch_id"]] += 1
    assert min(runs_per_day.values()) >= 2 and all(manifest["balanced"] for manifest in manifests)
