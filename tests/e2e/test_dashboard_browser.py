"""The dashboard and a report as a person sees them: Debian's headless chromium, driven by Playwright.

Screenshots go to ``test-artifacts/`` (or ``COMPLAINTS_ARTIFACTS_DIR``), kept by CI as artefacts.
"""

import datetime as dt
import time

import pytest

from tests.support.browser import artifacts_dir

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHARTS = ["chart-hourly", "chart-live", "chart-category", "chart-channel", "chart-priority", "chart-forecast"]


def test_dashboard_draws_every_chart_with_data(api_server, page):
    page.goto(f"{api_server['base']}/dashboard#key={api_server['keys']['wallboard']}")
    page.wait_for_function("window.dashboardState && window.dashboardState.ready", timeout=60_000)
    state = page.evaluate("window.dashboardState")
    assert state["errors"] == [] and page.errors == []
    for chart in CHARTS:
        assert state["rendered"][chart] > 0, chart
        assert page.locator(f"#{chart} svg.main-svg").count() >= 1, chart
    assert page.locator("#chart-hourly .bars path").count() > 24  # bars drawn, not just axes
    assert state["rendered"]["alerts"] == 2 and page.locator("#alerts-body tr").count() == 2
    assert state["rendered"]["phrases"] >= 4
    # the SLA panel: the history's cases and CRM events (up to the fixture's 2026-11-26 06:00), judged now
    assert state["rendered"]["chart-sla"] > 0 and "cases since" in page.inner_text("#sla-note")
    assert state["rendered"]["health-channels"] == 4 and "Review queue:" in page.inner_text("#review-queue")
    summary_figure = page.inner_text("#kpi-complaints").replace(",", "")
    assert int(summary_figure) > 100
    assert "key=" not in page.url  # the key does not stay in the address bar
    page.screenshot(path=str(artifacts_dir() / "dashboard.png"), full_page=True)


def test_dashboard_asks_for_a_key_and_rejects_a_wrong_one(api_server, page):
    page.goto(f"{api_server['base']}/dashboard")
    page.wait_for_selector("#key-form:not([hidden])", timeout=30_000)
    page.fill("#api-key", "wrong-key")
    page.click("#key-form button")
    page.wait_for_function("document.getElementById('key-error').textContent.includes('API key')", timeout=30_000)
    assert page.locator("#board").is_hidden()
    page.fill("#api-key", api_server["keys"]["wallboard"])
    page.click("#key-form button")
    page.wait_for_function("window.dashboardState.ready", timeout=60_000)
    assert page.locator("#board").is_visible() and page.locator("#chart-forecast svg.main-svg").count() >= 1


def test_report_renders_its_charts_offline(serving_warehouse, tmp_path, page):
    from serving.report import write_report

    files = write_report(str(serving_warehouse["dir"]), "weekly", None, str(tmp_path))
    requested = []

    def refuse_network(route):
        requested.append(route.request.url)
        route.abort()

    page.route("http*://**", refuse_network)
    page.goto(files.html.as_uri())
    page.wait_for_selector(".js-plotly-plot svg.main-svg", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 3
    assert page.locator(".js-plotly-plot .bars path").count() > 7
    assert requested == [] and page.errors == []
    page.screenshot(path=str(artifacts_dir() / "report-weekly.png"), full_page=True)


@pytest.fixture(scope="module")
def dashboard_demo(tmp_path_factory):
    """``make dashboard`` at a small size: ``generate-history`` (ending now), ``forecast``, then ``serve``."""
    from tests.support.cli import run_cli
    from tests.support.serving import start_server, stop_server

    warehouse = tmp_path_factory.mktemp("dashboard-demo") / "warehouse"
    for command in (
        ["generate", "history", "--warehouse", str(warehouse), "--days", "28", "--per-day", "150"],
        ["model", "forecast", "--warehouse", str(warehouse)],
    ):
        result = run_cli(*command)
        assert result.returncode == 0, result.stderr[-2000:]
    process, base = start_server(["--warehouse", str(warehouse), "--no-auth"])
    DEMO_WAREHOUSE["dir"] = warehouse
    yield base
    stop_server(process)


#: the dashboard demo's warehouse, for checks against its tables
DEMO_WAREHOUSE: dict = {}


def silent_channels(warehouse, now: float, margin: float = 0) -> set[str]:
    """The channels whose newest complaint or dead letter arrived longer ago than the ``[quality]`` default silence
    limit (by more than ``margin`` seconds), read from the tables themselves."""
    from beam_pipelines.config import QualitySettings
    from tests.support.warehouse import read_table

    newest: dict[str, float] = {}
    for table, column in (("complaints", "ingested_at"), ("dead_letter", "failed_at")):
        for row in read_table(warehouse / table).select(["source", column]).to_pylist():
            arrived = row[column].timestamp()
            newest[row["source"]] = max(newest.get(row["source"], arrived), arrived)
    limits = QualitySettings().max_silence_minutes
    return {
        source for source, limit in limits.items() if source in newest and now - newest[source] > limit * 60 + margin
    }


def test_the_demo_dashboard_shows_a_plausible_live_day(dashboard_demo, page):
    """SLA compliance of a working contact centre (the history's CRM events), no silent channel (the history runs up
    to now), phrases without filler or nested repeats, and daily charts on every day, a missing one at zero."""

    def with_a_missing_day(route):  # the channel chart's answer with one day taken out: it must show 0 there
        response = route.fetch()
        body = response.json()
        missing = sorted({row["bucket"] for row in body["series"]})[-4]
        body["series"] = [row for row in body["series"] if row["bucket"] != missing]
        route.fulfill(response=response, json=body)
        page.missing_day = missing[:10]

    page.route("**/api/v1/volumes?granularity=day&by=source", with_a_missing_day)
    page.goto(f"{dashboard_demo}/dashboard")
    page.wait_for_function("window.dashboardState && window.dashboardState.ready", timeout=60_000)
    assert page.evaluate("window.dashboardState.errors") == [] and page.errors == []

    sla = page.evaluate("document.getElementById('chart-sla').data.map(t => ({name: t.name, y: t.y}))")
    first_response = [y for y in next(t for t in sla if t["name"] == "first response")["y"] if y is not None]
    assert first_response and 60 <= sum(first_response) / len(first_response) <= 99, first_response
    # the health note tells the truth of the tables at the wall clock: a small history (150 a day) can leave a
    # channel silent in the night's quiet hours, as a real one would be; make dashboard's 2,000 a day does not
    note = page.inner_text("#health-note")
    checked = time.time()
    surely, maybe = (
        silent_channels(DEMO_WAREHOUSE["dir"], checked, 120),
        silent_channels(DEMO_WAREHOUSE["dir"], checked),
    )
    if not maybe:
        assert "all channels within their silence limits" in note, note
    else:
        assert any(f"{count} silent channel(s)" in note for count in range(len(surely), len(maybe) + 1)), note

    for item in page.locator("#phrases li").all_inner_texts():
        phrase = item.rsplit(" (", 1)[0]
        assert not {"keeps", "shows", "week", "getting"} & set(phrase.split()), phrase
    for block in page.locator("#phrases ol").all():
        listed = {
            text.rsplit(" (", 1)[0]: int(text.rsplit("(", 1)[1].rstrip(")"))
            for text in block.locator("li").all_inner_texts()
        }
        for a, count_a in listed.items():
            for b, count_b in listed.items():
                if a != b and set(a.split()) & set(b.split()):
                    assert min(count_a, count_b) < 0.8 * max(count_a, count_b), (a, b)

    for chart in ("chart-category", "chart-channel"):
        traces = page.evaluate(f"document.getElementById('{chart}').data.map(t => ({{x: t.x, y: t.y}}))")
        for trace in traces:
            days = [dt.date.fromisoformat(x[:10]) for x in trace["x"]]
            assert days == [days[0] + dt.timedelta(days=n) for n in range(len(days))], chart  # no gap
            assert len(days) == 14
    channel = page.evaluate("document.getElementById('chart-channel').data.map(t => ({x: t.x, y: t.y}))")
    for trace in channel:
        assert trace["y"][trace["x"].index(page.missing_day)] == 0
    page.screenshot(path=str(artifacts_dir() / "dashboard-demo.png"), full_page=True)


def test_the_interactive_api_docs_render_offline(dashboard_demo, page):
    """Swagger UI at /docs draws every operation of the OpenAPI 3.1 document with nothing from outside the server."""
    outside = []

    def local_only(route):
        if route.request.url.startswith(dashboard_demo):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(f"{dashboard_demo}/docs")
    page.wait_for_selector(".opblock-summary", timeout=60_000)
    assert page.locator(".opblock-summary").count() >= 15
    assert page.locator("button.authorize").count() == 1  # where the API key is given
    assert outside == [] and page.errors == []
    page.screenshot(path=str(artifacts_dir() / "api-docs.png"))
