"""The dashboard and a report as a person sees them: Debian's headless chromium, driven by Playwright.

Screenshots go to ``test-artifacts/`` (or ``COMPLAINTS_ARTIFACTS_DIR``), kept by CI as artefacts.
"""
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
    # the SLA panel: the history's cases, judged now (no CRM events: their first responses are breached)
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
