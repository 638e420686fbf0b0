"""``complaints report``, ``query``, ``forecast`` and ``serve`` from the command line, on a generated warehouse."""

import csv
import datetime as dt
import re
import shutil

import pyarrow.parquet as pq
import pytest

from tests.support.cli import run_cli
from tests.support.serving import FORMULA_TEXTS
from tests.support.warehouse import add_rows, copy_tables, read_table

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def warehouse(serving_warehouse):
    return serving_warehouse["dir"]


def _complaints_between(warehouse, first: dt.date, last: dt.date) -> int:
    table = read_table(warehouse / "complaints", columns=["event_time"])
    return sum(1 for t in table["event_time"].to_pylist() if first <= t.date() <= last)


@pytest.mark.parametrize(
    "period, date, first, last, label",
    [
        ("daily", "2026-11-24", dt.date(2026, 11, 24), dt.date(2026, 11, 24), "2026-11-24"),
        ("weekly", "2026-11-18", dt.date(2026, 11, 16), dt.date(2026, 11, 22), "2026-W47"),
        ("monthly", "2026-10-09", dt.date(2026, 10, 1), dt.date(2026, 10, 31), "2026-10"),
    ],
)
def test_report_for_each_period_writes_offline_html_and_csvs_that_match_the_warehouse(
    warehouse, tmp_path, period, date, first, last, label
):
    result = run_cli(
        "report", "--warehouse", str(warehouse), "--period", period, "--date", date, "--output", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    page = (tmp_path / f"complaints-{period}-{label}.html").read_text()
    assert "<script src=" not in page and "<link " not in page  # nothing fetched when opened
    assert page.count('class="plotly-graph-div"') == 3
    expected = _complaints_between(warehouse, first, last)
    assert f"<b>{expected:,}</b>" in page
    exports = tmp_path / f"complaints-{period}-{label}"
    with open(exports / "complaints.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == expected
    with open(exports / "volume_by_day.csv", newline="") as handle:
        assert sum(int(r["complaints"]) for r in csv.DictReader(handle)) == expected
    assert {p.name for p in exports.iterdir()} == {
        "complaints.csv",
        "volume_by_day.csv",
        "priority_mix.csv",
        "queues.csv",
        "rejections.csv",
        "alerts.csv",
        "sla_cases.csv",
        "sla_by_queue.csv",
    }
    with open(exports / "sla_by_queue.csv", newline="") as handle:  # every complaint in one case of one queue
        cases = sum(int(r["cases"]) for r in csv.DictReader(handle))
    assert 0 < cases <= expected and "Response SLAs by queue" in page
    assert not list(tmp_path.glob(".tmp-*"))


def test_report_csv_cells_that_look_like_formulas_are_neutralised(warehouse, tmp_path):
    result = run_cli(
        "report", "--warehouse", str(warehouse), "--period", "daily", "--date", "2026-11-25", "--output", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "complaints-daily-2026-11-25" / "complaints.csv", newline="") as handle:
        texts = {row["complaint_id"]: row["text"] for row in csv.DictReader(handle)}
    for index, original in enumerate(FORMULA_TEXTS):
        assert texts[f"fx-formula-{index}"] == "'" + original
    assert all(not t.startswith(("=", "+", "-", "@", "\t", "\r")) for t in texts.values())


def test_report_of_a_running_week_compares_the_same_days(warehouse, tmp_path):
    result = run_cli("report", "--warehouse", str(warehouse), "--period", "weekly", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "complaints-weekly-2026-W48.html").read_text()
    assert "so far: 3 of 7 days have data" in page and "vs the same 3 days of the previous week" in page


def test_query_answers_sql_and_exports_csv_and_parquet(warehouse, tmp_path):
    total = read_table(warehouse / "complaints", columns=["complaint_id"]).num_rows
    result = run_cli("query", "--warehouse", str(warehouse), "SELECT count(*) AS n FROM complaints")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"\b{total}\b", result.stdout)
    target = tmp_path / "by_category.parquet"
    result = run_cli(
        "query",
        "--warehouse",
        str(warehouse),
        "--output",
        str(target),
        "SELECT category, count(*) AS n FROM complaints GROUP BY category ORDER BY category",
    )
    assert result.returncode == 0, result.stderr
    assert sum(pq.read_table(target)["n"].to_pylist()) == total  # the export file itself
    target = tmp_path / "texts.csv"
    result = run_cli(
        "query",
        "--warehouse",
        str(warehouse),
        "--output",
        str(target),
        "SELECT complaint_id, text FROM complaints WHERE complaint_id LIKE 'fx-formula-%' ORDER BY 1",
    )
    assert result.returncode == 0, result.stderr
    with open(target, newline="") as handle:
        assert [r["text"] for r in csv.DictReader(handle)] == ["'" + t for t in FORMULA_TEXTS]


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("DELETE FROM complaints", "only SELECT"),
        ("SELECT 1; SELECT 2", "exactly one"),
        ("SELEC 1", "does not parse"),
        ("COPY complaints TO 'x.csv'", "only SELECT"),
        # reads outside the warehouse: the environment (the contact-token key), host files, other warehouses
        ("SELECT * FROM read_text('/proc/self/environ')", "read only the warehouse"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read only the warehouse"),
        ("SELECT * FROM read_parquet('{other}/complaints/*/*.parquet')", "read only the warehouse"),
        ("SELECT * FROM read_text('{warehouse}/../../../../etc/passwd')", "read only the warehouse"),
        ("SELECT * FROM read_json('https://example.com/x.json')", "read only the warehouse"),
    ],
)
def test_query_refuses_anything_but_one_select(warehouse, tmp_path, sql, expected):
    other = tmp_path / "other-warehouse"
    shutil.copytree(warehouse / "complaints", other / "complaints")
    result = run_cli("query", "--warehouse", str(warehouse), sql.format(other=other, warehouse=warehouse))
    assert result.returncode == 2 and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_forecast_beats_seasonal_naive_on_history_with_known_weekly_seasonality(warehouse, tmp_path):
    copy = tmp_path / "warehouse"
    copy_tables(warehouse, copy)
    result = run_cli("model", "forecast", "--warehouse", str(copy), "--horizon", "14")
    assert result.returncode == 0, result.stderr
    backtest = read_table(copy / "forecast_backtest").to_pandas()
    overall = backtest[backtest["scope"] == "all"].set_index("method")
    assert overall.loc["poisson_weekly", "wape"] < overall.loc["seasonal_naive", "wape"]
    assert overall.loc["poisson_weekly", "mae"] < overall.loc["seasonal_naive", "mae"]
    forecast = read_table(copy / "forecast").to_pandas()
    assert forecast["forecast_run"].nunique() == 1 and forecast.groupby(["category", "source"]).size().eq(14).all()
    daily = forecast.groupby("forecast_date")["predicted"].sum()
    weekdays = {day.weekday(): value for day, value in daily.items()}
    # the generator's Monday / Sunday factor is 1.25 / 0.6
    assert 1.6 < weekdays[0] / weekdays[6] < 2.6
    assert "WAPE" in result.stdout and "seasonal-naive" in result.stdout


def test_forecast_on_too_little_history_says_so(tmp_path):
    from beam_pipelines.generator.history import write_history

    write_history(str(tmp_path / "w"), dt.date(2026, 11, 25), days=5, per_day=50, seed=3)
    result = run_cli("model", "forecast", "--warehouse", str(tmp_path / "w"))
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "complaints model forecast: forecasting needs at least 21 days of complaints, the warehouse has 5"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["serve", "--warehouse", "{w}"], "no API keys"),
        (["serve", "--warehouse", "{w}", "--no-auth", "--host", "0.0.0.0"], "only allowed on a loopback"),
        (["serve", "--warehouse", "{w}", "--api-keys", "/nonexistent/keys.toml"], "API key file not found"),
        (["serve", "--warehouse", "/nonexistent/warehouse", "--no-auth"], "warehouse directory not found"),
        (["report", "--warehouse", "{w}", "--period", "yearly", "--output", "x"], "invalid choice"),
        (["model", "forecast", "--warehouse", "{w}", "--holidays", "XX"], "no holiday calendar"),
        (["query", "--warehouse", "{w}", "SELECT 1", "--output", "x.xlsx"], ".csv or .parquet"),
    ],
)
def test_bad_serving_command_lines_get_one_line_and_a_non_zero_exit(warehouse, args, message):
    result = run_cli(*[a.replace("{w}", str(warehouse)) for a in args])
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_complaint_from_the_future_does_not_move_today(warehouse, tmp_path):
    """Validation keeps a complaint whose clock says 2036 (flagged future_timestamp); reports, the dashboard's
    "today" and forecasts must still start from the newest complaint with a trustworthy time."""
    copy = tmp_path / "warehouse"
    copy_tables(warehouse, copy)
    template = read_table(copy / "complaints").slice(0, 1)
    row = {
        **template.to_pylist()[0],
        "complaint_id": "fx-future",
        "flags": ["future_timestamp"],
        "event_time": dt.datetime(2036, 11, 25, 9, 0, tzinfo=dt.UTC),
        "event_date": dt.date(2036, 11, 25),
    }
    add_rows(copy, "complaints", [row])
    result = run_cli("report", "--warehouse", str(copy), "--period", "daily", "--output", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "complaints-daily-2026-11-25.html").exists()
    result = run_cli("model", "forecast", "--warehouse", str(copy))
    assert result.returncode == 0, result.stderr
    forecast = read_table(copy / "forecast").to_pandas()
    assert (
        str(forecast["forecast_date"].min()) == "2026-11-26" and str(forecast["trained_through"].max()) == "2026-11-25"
    )


def test_a_forecast_leaves_out_the_day_still_running(serving_warehouse):
    """The history's last day, forecast from during that day, is not a day's count yet: training ends the day before
    (and the forecast starts with the running day); forecast from the next morning, it is in."""
    from models.forecast import ForecastSettings
    from serving.forecast_job import daily_history
    from serving.warehouse import Warehouse

    warehouse = Warehouse(str(serving_warehouse["dir"]))
    try:
        last_day = dt.date.fromisoformat(serving_warehouse["truth"]["days"][-1]["date"])
        during = dt.datetime.combine(last_day, dt.time(15, 0), tzinfo=dt.UTC)

        def trained_through(now):
            return daily_history(warehouse, ForecastSettings(), now)["day"].max().date()

        assert trained_through(during) == last_day - dt.timedelta(days=1)
        assert trained_through(during + dt.timedelta(days=1)) == last_day
    finally:
        warehouse.close()
