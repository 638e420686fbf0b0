"""``complaints report``: a self-contained HTML report of a day, week or month, plus CSV exports.

The HTML carries its charts and plotly.js inline, so it opens offline and can be mailed as one file. Every CSV
cell that a spreadsheet would run as a formula (text starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) is prefixed with an apostrophe: complaint texts come from the public.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

from models.base import CATEGORIES, PRIORITIES
from serving import phrases as phrase_ranking
from serving import queries, sla
from serving.files import published
from serving.warehouse import Warehouse

PERIODS = ("daily", "weekly", "monthly")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CATEGORY_COLOURS = {"Network": "#2b6cb0", "Billing": "#d69e2e", "Customer Service": "#805ad5", "Other": "#718096"}
PRIORITY_COLOURS = {"P1": "#c53030", "P2": "#dd6b20", "P3": "#d69e2e", "P4": "#a0aec0"}


class EmptyPeriod(ValueError):
    """The warehouse holds no complaints at all (so there is no period to default to)."""


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date  # inclusive
    end: dt.date  # exclusive

    @property
    def label(self) -> str:
        if self.kind == "daily":
            return self.start.isoformat()
        if self.kind == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return self.start.strftime("%Y-%m")

    @property
    def title(self) -> str:
        if self.kind == "daily":
            return self.start.strftime("%A %d %B %Y")
        if self.kind == "weekly":
            return f"Week {self.label[-2:]}, {self.start:%d %b} – {self.end - dt.timedelta(days=1):%d %b %Y}"
        return self.start.strftime("%B %Y")

    def previous(self) -> Period:
        if self.kind == "monthly":
            last = self.start - dt.timedelta(days=1)
            return Period(self.kind, last.replace(day=1), self.start)
        length = self.end - self.start
        return Period(self.kind, self.start - length, self.start)


def period_containing(kind: str, day: dt.date) -> Period:
    if kind == "daily":
        return Period(kind, day, day + dt.timedelta(days=1))
    if kind == "weekly":
        monday = day - dt.timedelta(days=day.weekday())
        return Period(kind, monday, monday + dt.timedelta(days=7))
    first = day.replace(day=1)
    return Period(kind, first, first.replace(day=calendar.monthrange(day.year, day.month)[1]) + dt.timedelta(days=1))


def spreadsheet_safe(value):
    """A CSV cell that no spreadsheet will evaluate: text starting like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    if isinstance(value, (list, tuple)):
        return spreadsheet_safe("; ".join(str(v) for v in value))
    return queries.iso(value)


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([spreadsheet_safe(row.get(column)) for column in columns])


# -- figures from the warehouse -------------------------------------------------------------------------------
def _between(period: Period) -> list:
    return [period.start, period.end - dt.timedelta(days=1)]


SLA_CASE_COLUMNS = [
    "case_id",
    "started_at",
    "priority",
    "segment",
    "route_queue",
    "source",
    "channels",
    "first_response",
    "first_response_due",
    "first_response_at",
    "resolution",
    "resolution_due",
    "resolved_at",
]
SLA_GROUP_COLUMNS = [
    "key",
    "cases",
    "first_response_compliance",
    "first_response_breached",
    "first_response_at_risk",
    "resolution_compliance",
    "resolution_breached",
    "resolution_at_risk",
]


def gather_sla(warehouse: Warehouse, period: Period, sla_settings, now: dt.datetime) -> dict:
    """The period's cases (by first contact) judged at ``now``: compliance per queue, channel and day, and each
    case for the CSV."""
    cases = sla.sla_cases(warehouse, period.start, period.end - dt.timedelta(days=1), sla_settings, now)
    for case in cases:
        case["channels"] = " ".join(case["channels"])
    return {
        "cases": cases,
        "by_queue": sla.compliance(cases, "route_queue"),
        "by_channel": sla.compliance(cases, "source"),
        "by_day": sla.compliance(cases, "day"),
    }


def gather(warehouse: Warehouse, period: Period) -> dict:
    """Everything the report shows, as plain rows."""
    where = "event_date BETWEEN ? AND ?"
    bucket = "hour" if period.kind == "daily" else "day"
    newest = queries.latest_event_time(warehouse)
    days_covered = (period.end - period.start).days
    if newest is not None and period.start <= newest.date() < period.end - dt.timedelta(days=1):
        days_covered = (newest.date() - period.start).days + 1  # a period still running: compare like with like
    earlier = period.previous()
    previous = Period(earlier.kind, earlier.start, earlier.start + dt.timedelta(days=days_covered))
    totals = warehouse.rows(
        f"SELECT count(*) AS complaints, count(*) FILTER (WHERE priority = 'P1') AS p1, "
        f"count(*) FILTER (WHERE sentiment_label = 'negative') AS negative FROM complaints WHERE {where}",
        _between(period),
    )[0]
    previous_total = warehouse.scalar(f"SELECT count(*) FROM complaints WHERE {where}", _between(previous))

    def counts_by(columns: str, order: str, also: str = "") -> list[dict]:
        """Complaints of the period per ``columns`` (plus the ``also`` aggregates), ordered by ``order``."""
        return warehouse.rows(
            f"SELECT {columns}, count(*) AS complaints{also} FROM complaints WHERE {where} "
            f"GROUP BY ALL ORDER BY {order}",
            _between(period),
        )

    return {
        "days_covered": days_covered,
        "days_in_period": (period.end - period.start).days,
        "totals": totals,
        "previous_total": previous_total or 0,
        "volume": [
            {"bucket": r["bucket"], "category": r["key"], "complaints": r["complaints"]}
            for r in warehouse.rows(queries.bucketed_counts_sql(bucket, "category", where), _between(period))
        ],
        "by_day": counts_by("event_date AS day, category, source", "day, category, source"),
        "channels": counts_by("source", "complaints DESC"),
        "priority_mix": counts_by("category, priority", "category, priority"),
        "queues": counts_by("route_queue", "complaints DESC", also=", count(*) FILTER (WHERE priority = 'P1') AS p1"),
        "regions": counts_by(
            "coalesce(region, 'unknown customer') AS region",
            "complaints DESC LIMIT 12",
            also=", round(avg(sentiment_score), 3) AS mean_sentiment",
        ),
        "rejections": warehouse.rows(
            "SELECT source, stage, error_type, count(*) AS records FROM dead_letter "
            "WHERE ingest_date BETWEEN ? AND ? GROUP BY ALL ORDER BY records DESC",
            _between(period),
        ),
        "alerts": warehouse.rows(
            "SELECT minute_start, scope, complaints, baseline_mean, severity FROM alerts "
            "WHERE alert_date BETWEEN ? AND ? ORDER BY minute_start",
            _between(period),
        ),
        "complaints": warehouse.rows(
            f"SELECT complaint_id, event_time, source, category, priority, route_queue, sentiment_label, "
            f"segment, region, customer_id, text FROM complaints WHERE {where} ORDER BY event_time, complaint_id",
            _between(period),
        ),
    }


def _phrases(data: dict) -> dict:
    texts: dict[str, list[str]] = {}
    for row in data["complaints"]:
        texts.setdefault(row["category"], []).append(row["text"])
    return phrase_ranking.distinctive_phrases(texts, top=8)


# -- HTML -------------------------------------------------------------------------------------------------------
def _figure_html(figure) -> str:
    figure.update_layout(
        margin={"l": 50, "r": 20, "t": 30, "b": 40},
        height=340,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
        font={"family": "DejaVu Sans, sans-serif"},
    )
    return figure.to_html(full_html=False, include_plotlyjs=False, config={"displayModeBar": False})


def _charts(data: dict, period: Period) -> list[tuple[str, str]]:
    import plotly.graph_objects as go

    charts = []
    volume = go.Figure()
    for category in CATEGORIES:
        rows = [r for r in data["volume"] if r["category"] == category]
        if rows:
            volume.add_bar(
                name=category,
                x=[r["bucket"] for r in rows],
                y=[r["complaints"] for r in rows],
                marker_color=CATEGORY_COLOURS[category],
            )
    volume.update_layout(barmode="stack")
    charts.append((f"Complaints per {'hour' if period.kind == 'daily' else 'day'} by category", _figure_html(volume)))
    channels = go.Figure(
        go.Bar(
            x=[r["source"] for r in data["channels"]],
            y=[r["complaints"] for r in data["channels"]],
            marker_color="#0b6e4f",
        )
    )
    charts.append(("Complaints by channel", _figure_html(channels)))
    mix = go.Figure()
    categories = sorted({r["category"] for r in data["priority_mix"]})
    for priority in PRIORITIES:
        counts = {r["category"]: r["complaints"] for r in data["priority_mix"] if r["priority"] == priority}
        mix.add_bar(
            name=priority,
            y=categories,
            x=[counts.get(c, 0) for c in categories],
            orientation="h",
            marker_color=PRIORITY_COLOURS[priority],
        )
    mix.update_layout(barmode="stack")
    charts.append(("Priority mix by category", _figure_html(mix)))
    return charts


def _display(value) -> str:
    if isinstance(value, dt.datetime):
        return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _table(rows: list[dict], columns: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_display(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body { font: 14px/1.5 "DejaVu Sans", system-ui, sans-serif; color: #1d2433; margin: 0; background: #f4f6fa; }
header { background: #10213a; color: #fff; padding: 20px 32px; } header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; color: #c9d1e0; } main { max-width: 1100px; margin: 0 auto; padding: 20px 32px; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.tile { background: #fff; border: 1px solid #e3e7ef; border-radius: 8px; padding: 12px; }
.tile b { display: block; font-size: 26px; } .tile span { color: #6b7385; font-size: 12px; }
section { background: #fff; border: 1px solid #e3e7ef; border-radius: 8px; padding: 12px 16px; margin: 16px 0; }
h2 { font-size: 16px; margin: 4px 0 8px; } table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef1f6; } .muted { color: #6b7385; }
.phrases { display: grid; grid-template-columns: repeat(2, 1fr); gap: 8px 24px; }
footer { color: #6b7385; font-size: 12px; text-align: center; padding: 16px; }
"""


def render_html(period: Period, data: dict, generated_at: dt.datetime, warehouse_dir: str) -> str:
    from plotly.offline import get_plotlyjs

    totals = data["totals"]
    change = (
        (totals["complaints"] - data["previous_total"]) / data["previous_total"] * 100
        if data["previous_total"]
        else None
    )
    unit = {"daily": "day", "weekly": "week", "monthly": "month"}[period.kind]
    partial = data["days_covered"] < data["days_in_period"]
    change_text = (
        (
            f"{change:+.0f}% vs the same {data['days_covered']} days of the previous {unit}"
            if partial
            else f"{change:+.0f}% vs previous {unit}"
        )
        if change is not None
        else "no previous period"
    )
    coverage = f" · so far: {data['days_covered']} of {data['days_in_period']} days have data" if partial else ""
    negative = totals["negative"] / totals["complaints"] * 100 if totals["complaints"] else 0.0
    rejected = sum(r["records"] for r in data["rejections"])
    tiles = [
        (f"{totals['complaints']:,}", f"complaints ({change_text})"),
        (f"{totals['p1']:,}", "P1 (urgent)"),
        (f"{negative:.0f}%", "negative sentiment"),
        (f"{rejected:,}", "records rejected (dead letter)"),
    ]
    phrase_blocks = "".join(
        f"<div><b>{html.escape(category)}</b>: " + html.escape(", ".join(p["phrase"] for p in ranked)) + "</div>"
        for category, ranked in _phrases(data).items()
    )
    sections = [f"<section><h2>{html.escape(title)}</h2>{chart}</section>" for title, chart in _charts(data, period)]
    sections += [
        "<section><h2>Queues</h2>" + _table(data["queues"], ["route_queue", "complaints", "p1"], "none") + "</section>",
        '<section><h2>Top phrases per category</h2><div class="phrases">'
        + (phrase_blocks or '<p class="muted">too few complaints</p>')
        + "</div></section>",
        "<section><h2>Regions</h2>"
        + _table(data["regions"], ["region", "complaints", "mean_sentiment"], "none")
        + "</section>",
        "<section><h2>Spike alerts</h2>"
        + _table(
            data["alerts"],
            ["minute_start", "scope", "complaints", "baseline_mean", "severity"],
            "No spike alerts in this period.",
        )
        + "</section>",
        "<section><h2>Rejected records by reason</h2>"
        + _table(data["rejections"], ["source", "stage", "error_type", "records"], "Nothing was rejected.")
        + "</section>",
    ]
    if data.get("sla"):
        judged = data["sla"]
        sections += [
            '<section><h2>Response SLAs by queue</h2><p class="muted">Cases by first contact in the period, '
            f"judged at {generated_at:%Y-%m-%d %H:%M} UTC; compliance is met / (met + breached).</p>"
            + _table(judged["by_queue"], SLA_GROUP_COLUMNS, "No cases in this period.")
            + "</section>",
            "<section><h2>Response SLAs by channel of first contact</h2>"
            + _table(judged["by_channel"], SLA_GROUP_COLUMNS, "No cases in this period.")
            + "</section>",
        ]
    tile_html = "".join(
        f'<div class="tile"><b>{html.escape(v)}</b><span>{html.escape(t)}</span></div>' for v, t in tiles
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Complaints report: {html.escape(period.title)}</title><style>{STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>Customer complaints: {html.escape(period.title)}</h1>"
        f"<p>{period.kind.capitalize()} report · {period.start} to {period.end - dt.timedelta(days=1)} (UTC) · "
        f"generated {generated_at:%Y-%m-%d %H:%M} UTC{coverage}</p></header><main>"
        f'<div class="tiles">{tile_html}</div>{"".join(sections)}</main>'
        f"<footer>From the warehouse {html.escape(warehouse_dir)}. CSV exports sit beside this file.</footer>"
        f"</body></html>"
    )


# -- the command -----------------------------------------------------------------------------------------------
@dataclass
class ReportFiles:
    period: Period
    html: Path
    csv_dir: Path
    complaints: int


def default_day(warehouse: Warehouse) -> dt.date:
    newest = queries.latest_event_time(warehouse)
    if newest is None:
        raise EmptyPeriod("the warehouse holds no complaints yet, so there is nothing to report")
    return newest.date()


def write_report(
    warehouse_dir: str,
    kind: str,
    day: dt.date | None,
    output_dir: str,
    now: dt.datetime | None = None,
    catalog=None,
    sla_settings=None,
) -> ReportFiles:
    """Write ``complaints-<kind>-<label>.html`` and a folder of CSVs beside it; both appear whole or not at all.
    ``catalog``: the tables' ``CatalogConfig`` (default: the embedded catalog in ``warehouse_dir``);
    ``sla_settings``: the profile's ``[sla]`` (default: the defaults)."""
    from beam_pipelines.config import SlaSettings

    now = now or dt.datetime.now(dt.UTC)
    warehouse = Warehouse(warehouse_dir, catalog=catalog)
    try:
        period = period_containing(kind, day or default_day(warehouse))
        data = gather(warehouse, period)
        data["sla"] = gather_sla(warehouse, period, sla_settings or SlaSettings(), now)
    finally:
        warehouse.close()
    output = Path(output_dir)
    name = f"complaints-{kind}-{period.label}"
    with published(output / name, folder=True) as csv_dir:
        write_csv(csv_dir / "volume_by_day.csv", data["by_day"], ["day", "category", "source", "complaints"])
        write_csv(csv_dir / "priority_mix.csv", data["priority_mix"], ["category", "priority", "complaints"])
        write_csv(csv_dir / "queues.csv", data["queues"], ["route_queue", "complaints", "p1"])
        write_csv(csv_dir / "rejections.csv", data["rejections"], ["source", "stage", "error_type", "records"])
        write_csv(
            csv_dir / "alerts.csv", data["alerts"], ["minute_start", "scope", "complaints", "baseline_mean", "severity"]
        )
        write_csv(csv_dir / "sla_cases.csv", data["sla"]["cases"], SLA_CASE_COLUMNS)
        write_csv(csv_dir / "sla_by_queue.csv", data["sla"]["by_queue"], SLA_GROUP_COLUMNS)
        write_csv(
            csv_dir / "complaints.csv",
            data["complaints"],
            [
                "complaint_id",
                "event_time",
                "source",
                "category",
                "priority",
                "route_queue",
                "sentiment_label",
                "segment",
                "region",
                "customer_id",
                "text",
            ],
        )
    with published(output / f"{name}.html") as html_file:
        html_file.write_text(render_html(period, data, now, str(warehouse_dir)), encoding="utf-8")
    return ReportFiles(period, output / f"{name}.html", output / name, data["totals"]["complaints"])
