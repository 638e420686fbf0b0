"""``complaints model forecast``: daily history from the warehouse -> ``forecast`` and ``forecast_backtest`` tables.

Each run adds one partition ``forecast_run=<run id>`` (``warehouse/runs.py``: its UTC start, then random bits) to
each table, committed as one Iceberg snapshot (readers never see half of a run); readers take the latest run.
Older runs are kept, so how forecasts changed stays answerable.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from models import forecast as forecasting
from schemas import tables
from serving import queries
from serving.warehouse import Warehouse
from warehouse.catalog import CatalogConfig
from warehouse.commit import write_rows
from warehouse.runs import new_run_id

DAILY_HISTORY_SQL = f"""
    SELECT event_date AS day, category, source, count(*) AS complaints
    FROM complaints WHERE event_date BETWEEN ? AND ? AND {queries.TRUSTED_TIME_SQL}
    GROUP BY ALL ORDER BY day
"""


@dataclass
class ForecastRun:
    run_id: str
    history_days: int
    forecast: pd.DataFrame
    backtest: pd.DataFrame | None
    forecast_snapshot: int | None
    backtest_snapshot: int | None


def daily_history(
    warehouse: Warehouse, settings: forecasting.ForecastSettings, now: dt.datetime | None = None
) -> pd.DataFrame:
    """Complaints per UTC day, category and channel, on a full calendar: the days a fit and its backtest use,
    up to the newest trustworthy complaint (records flagged with a future or implausibly old time are left out),
    without ``now``'s own day, which is still running (its count so far is not a day's count)."""
    newest = queries.latest_event_time(warehouse, now)
    if newest is None:
        return forecasting.complete_history(pd.DataFrame(columns=["day", "category", "source", "complaints"]))
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    last = min(newest.date(), today - dt.timedelta(days=1))
    span = settings.training_days + settings.backtest_horizon + 7 * settings.folds
    rows = warehouse.rows(DAILY_HISTORY_SQL, [last - dt.timedelta(days=span), last])
    frame = pd.DataFrame(rows, columns=["day", "category", "source", "complaints"])
    return forecasting.complete_history(frame)


def write_run(catalog: CatalogConfig, table: tables.Table, run_id: str, data: pa.Table) -> int | None:
    """Commit ``data`` as partition ``forecast_run=run_id`` of ``table``; returns the snapshot id."""
    data = data.append_column("forecast_run", pa.array([run_id] * data.num_rows, pa.string()))
    return write_rows(catalog, table, data, {"writer": "forecast", "run_id": run_id}).snapshot_id


def run_forecast(
    warehouse_dir: str | os.PathLike,
    settings: forecasting.ForecastSettings,
    now: dt.datetime | None = None,
    catalog: CatalogConfig | None = None,
) -> ForecastRun:
    """Forecast from the warehouse's history, backtest when the history allows, and write both tables
    (``catalog``: the tables' catalog; default the embedded one in ``warehouse_dir``)."""
    now = now or dt.datetime.now(dt.UTC)
    catalog = catalog or CatalogConfig(str(warehouse_dir))
    warehouse = Warehouse(warehouse_dir, catalog=catalog)
    try:
        history = daily_history(warehouse, settings, now)
    finally:
        warehouse.close()
    days = history["day"].nunique() if not history.empty else 0
    if days < settings.min_history_days:
        raise forecasting.NotEnoughHistory(
            f"forecasting needs at least {settings.min_history_days} days of complaints, the warehouse has {days}"
        )
    run_id = new_run_id(now)
    forecast = forecasting.forecast_all(history, settings)
    try:
        errors = forecasting.backtest(history, settings)
    except forecasting.NotEnoughHistory:
        errors = None
    forecast_snapshot = write_run(catalog, tables.FORECAST, run_id, forecasting.forecast_table(forecast, now))
    backtest_snapshot = None
    if errors is not None:
        backtest_snapshot = write_run(
            catalog, tables.FORECAST_BACKTEST, run_id, forecasting.backtest_table(errors, now)
        )
    return ForecastRun(run_id, days, forecast, errors, forecast_snapshot, backtest_snapshot)
