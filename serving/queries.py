"""The questions the API, dashboard and reports ask of the warehouse, as plain functions over ``Warehouse``.

Every function takes already-validated arguments and returns JSON-ready dicts; SQL is parameterised, never
formatted from user input (the only formatted parts are column names chosen from fixed lists).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

import schemas
from serving.warehouse import Warehouse

GROUPINGS = {
    "none": None,
    "category": "category",
    "source": "source",
    "priority": "priority",
    "region": "region",
    "sentiment": "sentiment_label",
}

#: What the API shows of a complaint: every warehouse column but where on the ingest machine it was read from;
#: contacts exist only as tokens and masked text.
COMPLAINT_COLUMNS = tuple(
    name for name in schemas.field_names("Complaint") if name not in ("source_file", "source_position")
)


class BadCursor(ValueError):
    """A pagination cursor that this server did not issue."""


def iso(value):
    """A date or time as ISO 8601 (times in UTC, with ``Z``); anything else as it is."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def jsonable(row: dict) -> dict:
    """The row with its dates and times as ISO 8601 strings."""
    return {key: iso(value) for key, value in row.items()}


def as_utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


#: Complaints whose clock can be trusted for "now" and for history: validation flags the others
#: (an event time in the future, or implausibly old), and one such record must not move "today" to 2036.
TRUSTED_TIME_SQL = "NOT list_has_any(flags, ['future_timestamp', 'stale_event_time'])"


def latest_event_time(warehouse: Warehouse, now: dt.datetime | None = None) -> dt.datetime | None:
    """The newest trustworthy complaint's event time (never after the wall clock): "now" for a warehouse that
    may hold only history."""
    ceiling = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(hours=1)
    value = warehouse.scalar(
        f"SELECT max(event_time) FROM complaints WHERE event_time <= ? AND {TRUSTED_TIME_SQL}", [ceiling]
    )
    return as_utc(value) if value else None


def reference_time(warehouse: Warehouse) -> dt.datetime:
    """The end of the dashboard's "today": the newest complaint, or the wall clock for an empty warehouse."""
    return latest_event_time(warehouse) or dt.datetime.now(dt.UTC)


# -- single complaints -------------------------------------------------------------------------------------------
def get_complaint(warehouse: Warehouse, complaint_id: str) -> dict | None:
    rows = warehouse.rows(
        f"SELECT {', '.join(COMPLAINT_COLUMNS)} FROM complaints WHERE complaint_id = ? LIMIT 1", [complaint_id]
    )
    return jsonable(rows[0]) if rows else None


@dataclass
class SearchFilters:
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    customer_id: str | None = None
    region: str | None = None
    flag: str | None = None
    route_queue: str | None = None
    sentiment: str | None = None
    text: str | None = None


def encode_cursor(event_time: dt.datetime, complaint_id: str) -> str:
    payload = json.dumps([int(as_utc(event_time).timestamp() * 1_000_000), complaint_id]).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        micros, complaint_id = payload
        if not isinstance(micros, int) or not isinstance(complaint_id, str):
            raise TypeError
        moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
        return moment, complaint_id
    except (ValueError, TypeError, OverflowError):
        raise BadCursor("cursor is not one this API issued; start again without it") from None


def _with_equals(clauses: list[str], parameters: list, **equals) -> tuple[list[str], list]:
    """``clauses`` and ``parameters`` plus ``column = ?`` for each given (non-empty) value."""
    clauses, parameters = list(clauses), list(parameters)
    for column, value in equals.items():
        if value:
            clauses.append(f"{column} = ?")
            parameters.append(value)
    return clauses, parameters


def _filter_sql(filters: SearchFilters) -> tuple[list[str], list]:
    clauses, parameters = [], []
    if filters.start:
        clauses += ["event_time >= ?", "event_date >= ?"]
        parameters += [as_utc(filters.start), as_utc(filters.start).date()]
    if filters.end:
        clauses += ["event_time < ?", "event_date <= ?"]
        parameters += [as_utc(filters.end), as_utc(filters.end).date()]
    for column, values in (
        ("source", filters.sources),
        ("category", filters.categories),
        ("priority", filters.priorities),
    ):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
            parameters += list(values)
    clauses, parameters = _with_equals(
        clauses,
        parameters,
        customer_id=filters.customer_id,
        region=filters.region,
        route_queue=filters.route_queue,
        sentiment_label=filters.sentiment,
    )
    if filters.flag:
        clauses.append("list_contains(flags, ?)")
        parameters.append(filters.flag)
    if filters.text:
        clauses.append("contains(lower(text), ?)")
        parameters.append(filters.text.lower())
    return clauses, parameters


#: When a complaint happened, for "newest first": its event time, unless validation found that clock in the
#: future (a phone set to 2036), when its arrival stands in, so a mis-clocked complaint does not top every list.
NEWEST_TIME_SQL = "CASE WHEN list_contains(flags, 'future_timestamp') THEN ingested_at ELSE event_time END"


def search_complaints(warehouse: Warehouse, filters: SearchFilters, limit: int, cursor: str | None) -> dict:
    """Newest first (by ``NEWEST_TIME_SQL``), ``limit`` at a time; ``next_cursor`` continues exactly after the
    last item (keyset paging, so pages stay stable while new complaints arrive)."""
    clauses, parameters = _filter_sql(filters)
    if cursor:
        after_time, after_id = decode_cursor(cursor)
        clauses += [f"({NEWEST_TIME_SQL} < ? OR ({NEWEST_TIME_SQL} = ? AND complaint_id < ?))"]
        parameters += [after_time, after_time, after_id]
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = warehouse.rows(
        f"SELECT {', '.join(COMPLAINT_COLUMNS)}, {NEWEST_TIME_SQL} AS newest_time FROM complaints "
        f"{where} ORDER BY newest_time DESC, complaint_id DESC LIMIT {int(limit) + 1}",
        parameters,
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1]["newest_time"], page[-1]["complaint_id"]) if more else None
    for row in page:
        del row["newest_time"]
    return {"items": [jsonable(row) for row in page], "next_cursor": next_cursor, "limit": limit}


# -- aggregates ----------------------------------------------------------------------------------------------------
def volumes(
    warehouse: Warehouse, granularity: str, by: str, start: dt.datetime | None, end: dt.datetime | None
) -> dict:
    """Complaints per hour or day (UTC), optionally split by a dimension; default range: the last 14 days
    (day) or 48 hours (hour) up to the newest complaint."""
    end = as_utc(end) if end else reference_time(warehouse) + dt.timedelta(microseconds=1)
    if start is None:
        whole = end.replace(minute=0, second=0, microsecond=0)
        start = (
            whole.replace(hour=0) - dt.timedelta(days=13) if granularity == "day" else whole - dt.timedelta(hours=47)
        )
    start = as_utc(start)
    column = GROUPINGS[by]
    key = f"coalesce({column}, 'unknown')" if column else "'all'"
    rows = warehouse.rows(
        bucketed_counts_sql(granularity, key, "event_time >= ? AND event_time < ? AND event_date BETWEEN ? AND ?"),
        [start, end, start.date(), end.date()],
    )
    return {
        "granularity": granularity,
        "by": by,
        "start": iso(start),
        "end": iso(end),
        "series": [jsonable(row) for row in rows],
    }


def bucketed_counts_sql(granularity: str, key_sql: str, where_sql: str) -> str:
    """Complaints per (UTC hour or day, key). Buckets are integer arithmetic on the time (or the ``event_date``
    partition column, which is the UTC date of ``event_time``), several times faster than ``date_trunc`` on a
    time-zone-aware timestamp; only the grouped buckets are turned back into times."""
    inner, outer = (
        ("event_date", "CAST(b AS TIMESTAMPTZ)")
        if granularity == "day"
        else ("epoch_us(event_time) // 3600000000", "to_timestamp(b * 3600)")
    )
    return (
        f"SELECT {outer} AS bucket, key, complaints FROM (SELECT {inner} AS b, {key_sql} AS key, "
        f"count(*) AS complaints FROM complaints WHERE {where_sql} GROUP BY ALL) ORDER BY bucket, key"
    )


def live_volumes(warehouse: Warehouse, minutes: int) -> dict:
    """Per-minute complaints from the streaming aggregates (``complaint_volume``), newest ``minutes`` minutes."""
    newest = warehouse.scalar("SELECT max(minute_start) FROM complaint_volume")
    if newest is None:
        return {"available": False, "series": []}
    start = as_utc(newest) - dt.timedelta(minutes=minutes - 1)
    rows = warehouse.rows(
        "SELECT minute_start, category, sum(complaints) AS complaints FROM complaint_volume "
        "WHERE minute_start >= ? GROUP BY ALL ORDER BY minute_start, category",
        [start],
    )
    return {"available": True, "newest_minute": iso(newest), "series": [jsonable(row) for row in rows]}


def alerts(warehouse: Warehouse, since: dt.datetime | None, limit: int) -> dict:
    """Spike alerts from the streaming job, newest first; by default those of the last 24 hours ("open")."""
    newest = warehouse.scalar("SELECT max(minute_start) FROM alerts")
    if since is None:
        anchor = as_utc(newest) if newest else dt.datetime.now(dt.UTC)
        since = anchor - dt.timedelta(hours=24)
    rows = warehouse.rows(
        "SELECT alert_id, scope, minute_start, window_seconds, complaints, baseline_mean, baseline_stddev, "
        "threshold, severity, detected_at FROM alerts WHERE minute_start >= ? "
        f"ORDER BY minute_start DESC, scope LIMIT {int(limit)}",
        [as_utc(since)],
    )
    return {"since": iso(as_utc(since)), "items": [jsonable(row) for row in rows]}


def summary(warehouse: Warehouse) -> dict:
    """Today's headline figures (the UTC day of the newest complaint) against the previous seven days."""
    newest = latest_event_time(warehouse)
    if newest is None:
        return {"as_of": None, "today": None}
    today = newest.date()
    week_ago = today - dt.timedelta(days=7)
    rows = warehouse.rows(
        "SELECT event_date AS day, count(*) AS complaints, "
        "count(*) FILTER (WHERE priority = 'P1') AS p1, "
        "count(*) FILTER (WHERE sentiment_label = 'negative') AS negative, "
        "count(*) FILTER (WHERE NOT list_contains(flags, 'late_arrival')) AS on_time "
        "FROM complaints WHERE event_date BETWEEN ? AND ? GROUP BY ALL",
        [week_ago, today],
    )
    by_day = {row["day"]: row for row in rows}
    current = by_day.get(today, {"complaints": 0, "p1": 0, "negative": 0})
    # A day counts towards the baseline only if it was ingested (some complaints arrived on time): a day known
    # only from a few late arrivals of a later batch is a day without data, not a quiet day.
    previous = [
        by_day[d]["complaints"]
        for d in (today - dt.timedelta(days=n) for n in range(1, 8))
        if d in by_day and by_day[d]["on_time"]
    ]
    categories = warehouse.rows(
        "SELECT category, count(*) AS complaints FROM complaints WHERE event_date = ? GROUP BY ALL "
        "ORDER BY complaints DESC",
        [today],
    )
    # rejections belong to the day a batch or stream ingested them, not to an event day
    rejected = warehouse.rows(
        "SELECT ingest_date, count(*) AS records FROM dead_letter WHERE ingest_date = "
        "(SELECT max(ingest_date) FROM dead_letter WHERE ingest_date <= ?) GROUP BY ALL",
        [dt.datetime.now(dt.UTC).date()],
    )
    open_alerts = alerts(warehouse, None, 1000)["items"]
    return jsonable(
        {
            "as_of": newest,
            "day": today,
            "complaints": current["complaints"],
            "previous_7_day_mean": round(sum(previous) / len(previous), 1) if previous else None,
            "previous_days_with_data": len(previous),
            "p1": current["p1"],
            "negative_share": round(current["negative"] / current["complaints"], 3) if current["complaints"] else 0.0,
            "dead_letters": rejected[0]["records"] if rejected else 0,
            "dead_letter_day": rejected[0]["ingest_date"] if rejected else None,
            "open_alerts": len(open_alerts),
            "by_category": categories,
        }
    )


def forecast(warehouse: Warehouse, category: str | None, source: str | None, history_days: int) -> dict:
    """The latest forecast run, summed to the chosen category/channel, with the actuals before it and the
    run's backtest against seasonal-naive."""
    run = warehouse.scalar("SELECT max(forecast_run) FROM forecast")
    if run is None:
        return {"available": False, "forecast": [], "actuals": [], "backtest": []}
    clauses, parameters = _with_equals(["forecast_run = ?"], [run], category=category, source=source)
    predicted = warehouse.rows(
        "SELECT forecast_date, sum(predicted) AS predicted, sum(lower) AS lower, sum(upper) AS upper, "
        f"bool_or(is_holiday) AS is_holiday, max(trained_through) AS trained_through FROM forecast "
        f"WHERE {' AND '.join(clauses)} GROUP BY ALL ORDER BY forecast_date",
        parameters,
    )
    if not predicted:
        return {
            "available": True,
            "forecast_run": run,
            "category": category,
            "source": source,
            "forecast": [],
            "actuals": [],
            "backtest": [],
        }
    trained_through = predicted[0]["trained_through"]
    actual_clauses, actual_parameters = _with_equals(
        ["event_date > ?"], [trained_through - dt.timedelta(days=history_days)], category=category, source=source
    )
    actuals = warehouse.rows(
        "SELECT event_date AS day, count(*) AS complaints FROM complaints "
        f"WHERE {' AND '.join(actual_clauses)} GROUP BY ALL ORDER BY day",
        actual_parameters,
    )
    scopes = ["all"] + [f"{kind}:{value}" for kind, value in (("category", category), ("source", source)) if value]
    backtest = warehouse.rows(
        "SELECT method, scope, folds, horizon_days, days_evaluated, mae, wape FROM forecast_backtest "
        f"WHERE forecast_run = ? AND scope IN ({', '.join('?' for _ in scopes)}) ORDER BY scope, method",
        [run, *scopes],
    )
    return {
        "available": True,
        "forecast_run": run,
        "category": category,
        "source": source,
        "forecast": [jsonable(row) for row in predicted],
        "actuals": [jsonable(row) for row in actuals],
        "backtest": [jsonable(row) for row in backtest],
    }


def priority_mix(warehouse: Warehouse, days: int) -> dict:
    end = reference_time(warehouse).date()
    start = end - dt.timedelta(days=days - 1)
    rows = warehouse.rows(
        "SELECT category, priority, count(*) AS complaints FROM complaints WHERE event_date BETWEEN ? AND ? "
        "GROUP BY ALL ORDER BY category, priority",
        [start, end],
    )
    return {"start": start.isoformat(), "end": end.isoformat(), "items": rows}


def texts_by_category(warehouse: Warehouse, days: int, per_category: int) -> dict[str, list[str]]:
    """Up to ``per_category`` texts of each category from the last ``days`` days (a deterministic sample)."""
    end = reference_time(warehouse).date()
    rows = warehouse.rows(
        "SELECT category, text FROM complaints WHERE event_date BETWEEN ? AND ? "
        "QUALIFY row_number() OVER (PARTITION BY category ORDER BY hash(complaint_id)) <= ?",
        [end - dt.timedelta(days=days - 1), end, per_category],
    )
    grouped: dict[str, list[str]] = {}
    for row in rows:
        grouped.setdefault(row["category"], []).append(row["text"])
    return grouped
