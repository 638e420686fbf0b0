"""Daily complaint-volume forecasts per category and channel, with a backtest against seasonal-naive.

The model, per series (category x channel), is a Poisson regression (scikit-learn) on the last
``training_days`` of daily counts with these features:

- day of week (weekly seasonality, multiplicative through the log link);
- a linear trend, kept small by the L2 penalty so a few weeks cannot extrapolate wildly;
- public holidays and the day after (from the ``holidays`` calendars, country configurable), which call
  centres and web forms feel most;
- outage spikes: a past day far above the same weekday's median (robust z-score over ``spike_z``) is left out
  of training, so a one-off outage does not lift the next weeks' forecasts. That is where a seasonal-naive
  forecast goes most wrong: it repeats last week's outage.

A series with fewer than ``min_history_days`` of history gets the seasonal-naive forecast (the same weekday
last week) and says so in ``model``. Intervals are approximate 90% bands from the Poisson variance scaled by
the series' overdispersion.

The backtest is rolling-origin: from each of ``folds`` origins a week apart, it trains on history before the
origin only and forecasts the next ``backtest_horizon`` days; the error of the model and of seasonal-naive
are reported side by side (MAE of the daily total and WAPE), overall and per category and channel.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

import schemas

MODEL_NAME = "poisson_weekly"
NAIVE_NAME = "seasonal_naive"


@dataclass(frozen=True)
class ForecastSettings:
    horizon_days: int = 14
    training_days: int = 84
    min_history_days: int = 21
    holiday_country: str | None = "NG"
    spike_z: float = 5.0
    folds: int = 4
    backtest_horizon: int = 7
    alpha: float = 0.01


class NotEnoughHistory(ValueError):
    """The warehouse holds too few days to forecast or backtest."""


# -- history ------------------------------------------------------------------------------------------------
def complete_history(daily: pd.DataFrame) -> pd.DataFrame:
    """Daily counts on a full calendar: one row per day x category x source, zero where nothing happened.

    ``daily`` has columns ``day`` (date), ``category``, ``source`` and ``complaints``.
    """
    if daily.empty:
        return daily.assign(day=pd.to_datetime(daily["day"]))
    days = pd.date_range(pd.to_datetime(daily["day"]).min(), pd.to_datetime(daily["day"]).max(), freq="D")
    series = daily[["category", "source"]].drop_duplicates()
    grid = series.merge(pd.DataFrame({"day": days}), how="cross")
    counted = (
        daily.assign(day=pd.to_datetime(daily["day"]))
        .groupby(["day", "category", "source"], as_index=False)["complaints"]
        .sum()
    )
    full = grid.merge(counted, on=["day", "category", "source"], how="left")
    full["complaints"] = full["complaints"].fillna(0).astype(float)
    return full.sort_values(["category", "source", "day"]).reset_index(drop=True)


def holiday_days(country: str | None, first: dt.date, last: dt.date) -> set[dt.date]:
    """Public holidays of ``country`` between ``first`` and ``last`` (empty when no country is set)."""
    if not country:
        return set()
    import holidays

    calendar = holidays.country_holidays(country, years=range(first.year, last.year + 1))
    return {day for day in calendar if first <= day <= last}


def spike_mask(days: pd.DatetimeIndex, counts: np.ndarray, z_threshold: float) -> np.ndarray:
    """True for days far above the median of the same weekday (robust z-score over ``z_threshold``)."""
    mask = np.zeros(len(counts), dtype=bool)
    weekdays = days.day_of_week
    for weekday in range(7):
        chosen = weekdays == weekday
        values = counts[chosen]
        if len(values) < 3:
            continue
        median = np.median(values)
        spread = 1.4826 * np.median(np.abs(values - median))
        scale = max(spread, math.sqrt(max(median, 1.0)))  # never tighter than Poisson noise
        mask[chosen] = (values - median) / scale > z_threshold
    return mask


def _features(days: pd.DatetimeIndex, origin: pd.Timestamp, holidays_set: set[dt.date]) -> np.ndarray:
    weekday = np.zeros((len(days), 7))
    weekday[np.arange(len(days)), days.day_of_week] = 1.0
    trend = ((days - origin).days.to_numpy(dtype=float) / 28.0)[:, None]
    plain = [d.date() for d in days]
    holiday = np.array([[d in holidays_set, (d - dt.timedelta(days=1)) in holidays_set] for d in plain], dtype=float)
    return np.hstack([weekday, trend, holiday])


# -- one series -----------------------------------------------------------------------------------------------
def seasonal_naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """The same weekday's count in the last observed week, repeated over the horizon."""
    if len(history) == 0:
        return np.zeros(horizon)
    if len(history) < 7:
        return np.full(horizon, float(np.mean(history)))
    last_week = history[-7:]
    return np.array([last_week[step % 7] for step in range(horizon)], dtype=float)


def fit_predict_series(
    days: pd.DatetimeIndex,
    counts: np.ndarray,
    future: pd.DatetimeIndex,
    settings: ForecastSettings,
    holidays_set: set[dt.date],
) -> tuple[np.ndarray, np.ndarray, str]:
    """Forecast ``future`` from one series' history: (expected counts, interval half-widths, method)."""
    if len(counts) < settings.min_history_days or counts.sum() == 0:
        predicted = seasonal_naive(counts, len(future))
        return predicted, 1.645 * np.sqrt(np.maximum(predicted, 1.0)), NAIVE_NAME
    from sklearn.linear_model import PoissonRegressor

    days, counts = days[-settings.training_days :], counts[-settings.training_days :]
    keep = ~spike_mask(days, counts, settings.spike_z)
    origin = days[-1]
    train_x = _features(days, origin, holidays_set)
    model = PoissonRegressor(alpha=settings.alpha, solver="newton-cholesky", max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence chatter on tiny, flat series
        model.fit(train_x[keep], counts[keep])
    fitted = model.predict(train_x[keep])
    dof = max(int(keep.sum()) - train_x.shape[1], 1)
    dispersion = max(float(np.sum((counts[keep] - fitted) ** 2 / np.maximum(fitted, 1e-6)) / dof), 1.0)
    predicted = model.predict(_features(future, origin, holidays_set))
    return predicted, 1.645 * np.sqrt(np.maximum(predicted, 1.0) * dispersion), MODEL_NAME


# -- all series -----------------------------------------------------------------------------------------------
def forecast_all(
    history: pd.DataFrame,
    settings: ForecastSettings,
    *,
    start: dt.date | None = None,
    holidays_set: set[dt.date] | None = None,
) -> pd.DataFrame:
    """Forecast every series of a complete history for ``settings.horizon_days`` days after its last day
    (or from ``start``, which must follow the history)."""
    last = history["day"].max()
    first_future = pd.Timestamp(start) if start else last + pd.Timedelta(days=1)
    future = pd.date_range(first_future, periods=settings.horizon_days, freq="D")
    if holidays_set is None:
        holidays_set = holiday_days(settings.holiday_country, history["day"].min().date(), future[-1].date())
    frames = []
    for (category, source), series in history.groupby(["category", "source"], sort=True):
        days = pd.DatetimeIndex(series["day"])
        predicted, half_width, method = fit_predict_series(
            days, series["complaints"].to_numpy(float), future, settings, holidays_set
        )
        frames.append(
            pd.DataFrame(
                {
                    "forecast_date": future.date,
                    "category": category,
                    "source": source,
                    "predicted": predicted,
                    "lower": np.maximum(predicted - half_width, 0.0),
                    "upper": predicted + half_width,
                    "is_holiday": [d.date() in holidays_set for d in future],
                    "model": method,
                    "trained_through": last.date(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def backtest(history: pd.DataFrame, settings: ForecastSettings) -> pd.DataFrame:
    """Rolling-origin errors of the model and of seasonal-naive: one row per method and scope."""
    days = pd.DatetimeIndex(sorted(history["day"].unique()))
    needed = settings.min_history_days + settings.backtest_horizon + 7 * (settings.folds - 1)
    if len(days) < needed:
        raise NotEnoughHistory(
            f"a backtest of {settings.folds} folds needs {needed} days of history, the warehouse has {len(days)}"
        )
    holidays_set = holiday_days(settings.holiday_country, days[0].date(), days[-1].date())
    errors = []
    fold_settings = replace(settings, horizon_days=settings.backtest_horizon)
    for fold in range(settings.folds):
        origin = days[-1] - pd.Timedelta(days=settings.backtest_horizon + 7 * fold - 1)
        train = history[history["day"] < origin]
        actual = history[
            (history["day"] >= origin) & (history["day"] < origin + pd.Timedelta(days=settings.backtest_horizon))
        ]
        model = forecast_all(train, fold_settings, start=origin.date(), holidays_set=holidays_set)
        naive = []
        for (category, source), series in train.groupby(["category", "source"], sort=True):
            values = seasonal_naive(series["complaints"].to_numpy(float), settings.backtest_horizon)
            naive.append(
                pd.DataFrame(
                    {
                        "forecast_date": pd.date_range(origin, periods=len(values)).date,
                        "category": category,
                        "source": source,
                        "naive": values,
                    }
                )
            )
        joined = (
            actual.assign(forecast_date=actual["day"].dt.date)
            .merge(model[["forecast_date", "category", "source", "predicted"]], how="left")
            .merge(pd.concat(naive), how="left")
        )
        errors.append(joined.fillna({"predicted": 0.0, "naive": 0.0}))
    evaluated = pd.concat(errors, ignore_index=True)
    rows = []
    scopes = [("all", evaluated)]
    scopes += [(f"category:{c}", part) for c, part in evaluated.groupby("category")]
    scopes += [(f"source:{s}", part) for s, part in evaluated.groupby("source")]
    for scope, part in scopes:
        daily = part.groupby("forecast_date")[["complaints", "predicted", "naive"]].sum()
        for method, column in ((MODEL_NAME, "predicted"), (NAIVE_NAME, "naive")):
            absolute = (daily[column] - daily["complaints"]).abs()
            total = float(daily["complaints"].sum())
            rows.append(
                {
                    "method": method,
                    "scope": scope,
                    "folds": settings.folds,
                    "horizon_days": settings.backtest_horizon,
                    "days_evaluated": len(daily),
                    "actual_total": total,
                    "mae": float(absolute.mean()),
                    "wape": float(absolute.sum() / total) if total else 0.0,
                }
            )
    return pd.DataFrame(rows)


# -- tables ---------------------------------------------------------------------------------------------------
def forecast_table(forecast: pd.DataFrame, generated_at: dt.datetime) -> pa.Table:
    """The forecast rows as an Arrow table in the warehouse schema (partition key excluded)."""
    frame = forecast.assign(generated_at=generated_at)
    return pa.Table.from_pandas(frame, schema=schemas.arrow_schema("Forecast"), preserve_index=False)


def backtest_table(errors: pd.DataFrame, generated_at: dt.datetime) -> pa.Table:
    frame = errors.assign(generated_at=generated_at)
    return pa.Table.from_pandas(frame, schema=schemas.arrow_schema("ForecastBacktest"), preserve_index=False)
