"""Monitoring end to end: a real Prometheus scrapes a real ``complaints serve`` with the shipped rules, and a real
Alertmanager sends what fires to a webhook. A day is committed, then a second run of it is refused by a strict
reject-ratio limit (exit 5), chosen between the sources' ratios; the serving profile gives twitter a 3-second
silence limit. Prometheus must fire FeedSilent for twitter only, BatchRunFailed for every source, RejectRatioHigh
for exactly the sources above the limit, and Alertmanager must deliver them."""

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from typing import ClassVar

import pytest
import yaml

from tests.support.browser import artifacts_dir
from tests.support.cli import run_cli
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.serving import write_key_file

MONITORING = REPO / "runners" / "monitoring"
SCRAPE_KEY, WALLBOARD_KEY = "scrape-key-5d1e", "wallboard-key-0b7c"


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list] = []  # every request the handler got: one list for all its instances

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _wait_until(what, check, timeout: float, processes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        for process in processes:
            assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(1)
    pytest.fail(f"{what} within {timeout:.0f} s")


def _get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except OSError:
        return None


def _start(command: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture(scope="module")
def monitored(monitoring_tools, generated_day, tmp_path_factory):
    """A committed day and a refused rerun in ``out``, served with a strict profile, scraped by Prometheus with
    the shipped rules, alerting through Alertmanager to a webhook here."""
    tmp_path = tmp_path_factory.mktemp("monitored")
    out = tmp_path / "out"
    committed = run_cli(
        "batch", "--input-dir", str(generated_day["dir"]), "--output-dir", str(out), "--date", generated_day["date"]
    )
    assert committed.returncode == 0, committed.stderr[-2000:]
    first = json.loads(next((out / "_runs").glob("*.json")).read_text())
    from beam_pipelines.batch import wilson_lower_bound

    shares = sorted(
        (entry["rejected"] / entry["read"], wilson_lower_bound(entry["rejected"], entry["read"], 0.95))
        for source, entry in first["counts"].items()
        if source != "customers"
    )
    lowest, (_, clearest) = shares[0][0], max(shares, key=lambda share: share[1])
    assert lowest < clearest
    # some sources above it, some not, and one clearly enough for its number of records to refuse the run
    strict = round((lowest + clearest) / 2, 4)
    profile = tmp_path / "strict.toml"
    profile.write_text(f"[quality]\nmax_reject_ratio = {strict}\nmax_silence_minutes = {{twitter = 0.05}}\n")
    env = {**os.environ, "COMPLAINTS_CONTACT_TOKEN_KEY": "a-test-key-that-is-not-the-dev-one"}
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "batch",
            "--input-dir",
            str(generated_day["dir"]),
            "--output-dir",
            str(out),
            "--date",
            generated_day["date"],
            "--profile",
            str(profile),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 5, refused.stderr[-2000:]
    manifest = max(
        (json.loads(path.read_text()) for path in (out / "_runs").glob("*.json")), key=lambda m: m["finished_at"]
    )
    assert manifest["status"] == "refused"

    keys = write_key_file(
        tmp_path / "keys.toml", {"prometheus": (SCRAPE_KEY, ["metrics"]), "wallboard": (WALLBOARD_KEY, ["aggregates"])}
    )
    serve_port, prometheus_port, alertmanager_port, webhook_port = (free_port() for _ in range(4))
    processes = []
    webhook = http.server.ThreadingHTTPServer(("127.0.0.1", webhook_port), _Webhook)
    _Webhook.received = []
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    try:
        processes.append(
            _start(
                [
                    sys.executable,
                    "-m",
                    "beam_pipelines",
                    "serve",
                    "--warehouse",
                    str(out / "warehouse"),
                    "--port",
                    str(serve_port),
                    "--api-keys",
                    str(keys),
                    "--profile",
                    str(profile),
                    "--alertmanager-url",
                    f"http://127.0.0.1:{alertmanager_port}",
                ],
                cwd=REPO,
                env=env,
            )
        )
        # the shipped configurations, pointed at this test's ports and made fast (1 s scrapes and evaluations)
        config = tmp_path / "monitoring"
        config.mkdir()
        alertmanager = yaml.safe_load((MONITORING / "alertmanager.yml").read_text())
        alertmanager["route"].update(group_wait="1s", group_interval="1s")
        for receiver in alertmanager["receivers"]:
            for hook in receiver["webhook_configs"]:
                hook["url"] = f"http://127.0.0.1:{webhook_port}/alerts"
        (config / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager))
        prometheus = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
        prometheus["global"].update(scrape_interval="1s", evaluation_interval="1s")
        prometheus["rule_files"] = [str(MONITORING / "alerts.yml")]
        prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{alertmanager_port}"]
        scrape = prometheus["scrape_configs"][0]
        scrape["static_configs"][0]["targets"] = [f"127.0.0.1:{serve_port}"]
        scrape["authorization"]["credentials_file"] = str(config / "metrics.key")
        (config / "metrics.key").write_text(SCRAPE_KEY)
        (config / "prometheus.yml").write_text(yaml.safe_dump(prometheus))
        processes.append(
            _start(
                [
                    monitoring_tools["alertmanager"],
                    f"--config.file={config / 'alertmanager.yml'}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    "--cluster.listen-address=",
                    f"--web.listen-address=127.0.0.1:{alertmanager_port}",
                ]
            )
        )
        processes.append(
            _start(
                [
                    monitoring_tools["prometheus"],
                    f"--config.file={config / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ]
            )
        )
        yield {
            "manifest": manifest,
            "limit": strict,
            "prometheus": f"http://127.0.0.1:{prometheus_port}",
            "alertmanager": f"http://127.0.0.1:{alertmanager_port}",
            "serve": f"http://127.0.0.1:{serve_port}",
            "webhook": _Webhook.received,
            "processes": processes,
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        webhook.shutdown()


def _firing(prometheus: str) -> dict[str, set]:
    body = _get_json(f"{prometheus}/api/v1/alerts") or {"data": {"alerts": []}}
    found: dict[str, set] = {}
    for alert in body["data"]["alerts"]:
        if alert["state"] == "firing":
            found.setdefault(alert["labels"]["alertname"], set()).add(alert["labels"].get("source"))
    return found


def test_prometheus_scrapes_the_server_and_fires_the_silent_feed_and_refused_run_alerts(monitored):
    prometheus, processes = monitored["prometheus"], monitored["processes"]

    def scraped():
        targets = _get_json(f"{prometheus}/api/v1/targets") or {"data": {"activeTargets": []}}
        return [t for t in targets["data"]["activeTargets"] if t["health"] == "up"]

    _wait_until("Prometheus scraped /metrics with its key", scraped, 90, processes)
    counts = monitored["manifest"]["counts"]
    sources = {source for source in counts if source != "customers"}
    above = {source for source in sources if counts[source]["rejected"] / counts[source]["read"] > monitored["limit"]}
    assert above and above != sources  # the limit splits the sources: the test can tell them apart
    expected = {"FeedSilent": {"twitter"}, "BatchRunFailed": sources, "RejectRatioHigh": above}
    firing = _wait_until(
        "the alerts fired",
        lambda: (lambda f: f if all(f.get(k) == v for k, v in expected.items()) else None)(_firing(prometheus)),
        90,
        processes,
    )
    assert "FeedSilent" in firing and firing["FeedSilent"] == {"twitter"}  # the other channels are within limits
    assert "StreamLagging" not in firing and "VolumeLow" not in firing  # nothing streamed, no minimum set

    # the refused run's reject ratio is what Prometheus holds
    query = urllib.parse.urlencode({"query": "complaints_batch_last_run_reject_ratio"})
    result = _get_json(f"{prometheus}/api/v1/query?{query}")["data"]["result"]
    held = {item["metric"]["source"]: float(item["value"][1]) for item in result}
    assert held == pytest.approx({s: counts[s]["rejected"] / counts[s]["read"] for s in sources})

    def delivered():
        names = {
            (alert["labels"]["alertname"], alert["labels"].get("source"))
            for payload in monitored["webhook"]
            for alert in payload["alerts"]
            if alert["status"] == "firing"
        }
        return names if ("FeedSilent", "twitter") in names and ("BatchRunFailed", "sms") in names else None

    names = _wait_until("Alertmanager delivered FeedSilent and BatchRunFailed to the webhook", delivered, 90, processes)
    # BatchRunFailed inhibits RejectRatioHigh of the same source (alertmanager.yml): one page per refused run
    assert not {name for name in names if name[0] == "RejectRatioHigh"}


def test_metrics_need_a_key_with_the_metrics_scope(monitored):
    url = f"{monitored['serve']}/metrics"
    _wait_until("the server answered", lambda: _get_json(f"{monitored['serve']}/healthz"), 60, monitored["processes"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as refused:  # a dashboard key does not read the metrics
        urllib.request.urlopen(urllib.request.Request(url, headers={"X-API-Key": WALLBOARD_KEY}), timeout=10)
    assert refused.value.code == 403
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {SCRAPE_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'complaints_batch_runs_total{status="refused"} 1.0' in text
    assert 'complaints_quality_max_silence_seconds{source="twitter"} 3.0' in text


def test_the_dashboards_health_panel_shows_the_silent_feed_the_refused_run_and_the_open_alerts(monitored, page):
    """After the alerts above have fired: what a person on call sees."""
    _wait_until(
        "Alertmanager holds the alerts",
        lambda: _alertmanager_has(monitored, {"FeedSilent", "BatchRunFailed"}),
        120,
        monitored["processes"],
    )
    page.goto(f"{monitored['serve']}/dashboard#key={WALLBOARD_KEY}")
    page.wait_for_function("window.dashboardState && window.dashboardState.ready", timeout=60_000)
    state = page.evaluate("window.dashboardState")
    assert state["errors"] == [] and page.errors == []
    assert state["rendered"]["health-channels"] == 4 and state["rendered"]["health-runs"] == 2
    twitter = page.locator("#health-channels tr", has_text="twitter")
    assert twitter.locator("td").last.inner_text() == "silent"
    assert page.locator("#health-channels tr", has_text="sms").locator("td").last.inner_text() == "ok"
    newest_run = page.locator("#health-runs tr").first
    assert "refused" in newest_run.inner_text() and "max_reject_ratio" in newest_run.inner_text()
    assert "succeeded" in page.locator("#health-runs tr").nth(1).inner_text()
    alerts = page.inner_text("#health-alerts")
    assert "FeedSilent" in alerts and "BatchRunFailed" in alerts
    assert page.locator("#chart-reject-trend svg.main-svg").count() >= 1
    # the review queue holds the committed run's flagged complaints and dead letters
    assert "open" in page.inner_text("#review-queue") and "0 open" not in page.inner_text("#review-queue")
    page.screenshot(path=str(artifacts_dir() / "dashboard-health.png"), full_page=True)


def _alertmanager_has(monitored, names: set) -> bool:
    alertmanager = monitored["alertmanager"]
    alerts = _get_json(f"{alertmanager}/api/v2/alerts?active=true") or []
    return names <= {alert["labels"]["alertname"] for alert in alerts}
