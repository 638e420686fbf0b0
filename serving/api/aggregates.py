"""Volumes, live volumes, alerts, forecast, phrases, priority mix, the day's summary and the platform's health
(scope ``aggregates``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from serving import health, queries
from serving import phrases as phrase_ranking
from serving.api import models
from serving.api.complaints import Category, Source
from serving.api.dependencies import UtcTime, WarehouseDep, checked_range, scope
from serving.warehouse import Warehouse

router = APIRouter(prefix="/api/v1", tags=["aggregates"], dependencies=[Depends(scope("aggregates"))])


class PhraseCache:
    """Top phrases are costly (a vectoriser over thousands of texts): the last answer is kept until the
    warehouse changes or other parameters are asked for."""

    def __init__(self):
        self._key, self._phrases = None, None

    def get(self, warehouse: Warehouse, days: int, top: int) -> dict:
        warehouse.refresh()
        key = (warehouse.version, days, top)
        if key != self._key:
            texts = queries.texts_by_category(warehouse, days, per_category=4000)
            self._key, self._phrases = key, phrase_ranking.distinctive_phrases(texts, top=top)
        return self._phrases


@router.get(
    "/summary", response_model=models.Summary, summary="Today's headline figures against the previous seven days"
)
def summary(warehouse: WarehouseDep):
    return queries.summary(warehouse)


@router.get(
    "/volumes",
    response_model=models.Volumes,
    summary="Complaints per hour or day, optionally by category, channel, priority, region or sentiment",
)
def volumes(
    granularity: Annotated[Literal["hour", "day"], Query()] = "day",
    by: Annotated[Literal["none", "category", "source", "priority", "region", "sentiment"], Query()] = "none",
    start: Annotated[UtcTime | None, Query()] = None,
    end: Annotated[UtcTime | None, Query()] = None,
    *,
    warehouse: WarehouseDep,
):
    start, end = checked_range(start, end)
    if start and end and granularity == "hour" and end - start > dt.timedelta(days=62):
        raise HTTPException(400, "hourly volumes cover at most 62 days; use granularity=day")
    return queries.volumes(warehouse, granularity, by, start, end)


@router.get(
    "/volumes/live", response_model=models.LiveVolumes, summary="Per-minute volumes from the streaming job's aggregates"
)
def live(warehouse: WarehouseDep, minutes: Annotated[int, Query(ge=1, le=1440)] = 120):
    return queries.live_volumes(warehouse, minutes)


@router.get(
    "/alerts", response_model=models.Alerts, summary="Volume-spike alerts, newest first (default: the last 24 hours)"
)
def alerts(
    since: Annotated[UtcTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    *,
    warehouse: WarehouseDep,
):
    return queries.alerts(warehouse, since, limit)


@router.get(
    "/forecast",
    response_model=models.Forecast,
    summary="The latest daily forecast with recent actuals and its backtest",
)
def forecast(
    category: Annotated[Category | None, Query()] = None,
    source: Annotated[Source | None, Query()] = None,
    history_days: Annotated[int, Query(ge=1, le=365)] = 28,
    *,
    warehouse: WarehouseDep,
):
    return queries.forecast(warehouse, category, source, history_days)


@router.get(
    "/phrases", response_model=models.Phrases, summary="The phrases most typical of each category's recent complaints"
)
def phrases(
    warehouse: WarehouseDep,
    request: Request,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
    top: Annotated[int, Query(ge=1, le=50)] = 10,
):
    return {"days": days, "categories": request.app.state.phrase_cache.get(warehouse, days, top)}


@router.get(
    "/priority-mix", response_model=models.PriorityMix, summary="Complaints per category and priority over recent days"
)
def priority_mix(warehouse: WarehouseDep, days: Annotated[int, Query(ge=1, le=366)] = 7):
    return queries.priority_mix(warehouse, days)


@router.get(
    "/health",
    response_model=models.PlatformHealth,
    summary="The platform's health: channel freshness, recent batch runs, open alerts",
)
def platform_health(warehouse: WarehouseDep, request: Request, runs: Annotated[int, Query(ge=1, le=200)] = 20):
    state = request.app.state
    return health.platform_health(
        warehouse, state.output_dir, state.quality, state.run_manifests, state.alertmanager_url, runs
    )
