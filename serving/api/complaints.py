"""Complaints by id and search (scope ``complaints``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParameter

from models.base import CATEGORIES, PRIORITIES, SENTIMENT_LABELS
from serving import queries
from serving.api import models
from serving.api.dependencies import UtcTime, WarehouseDep, checked_range, scope

Category = Literal[CATEGORIES]
Source = Literal["twitter", "webform", "sms", "phone"]
Priority = Literal[PRIORITIES]
Sentiment = Literal[SENTIMENT_LABELS]

router = APIRouter(prefix="/api/v1", tags=["complaints"], dependencies=[Depends(scope("complaints"))])


@router.get(
    "/complaints/{complaint_id}",
    summary="One complaint by its complaint_id",
    response_model=models.Complaint,
    responses={404: {"model": models.ErrorBody}},
)
def complaint(complaint_id: Annotated[str, PathParameter(min_length=1, max_length=64)], warehouse: WarehouseDep):
    found = queries.get_complaint(warehouse, complaint_id)
    if found is None:
        raise HTTPException(404, f"no complaint {complaint_id}")
    return found


@router.get(
    "/complaints",
    summary="Search complaints, newest first, with cursor pagination",
    response_model=models.ComplaintPage,
)
def search(
    start: Annotated[UtcTime | None, Query(description="event_time >= start (ISO 8601)")] = None,
    end: Annotated[UtcTime | None, Query(description="event_time < end (ISO 8601)")] = None,
    source: Annotated[list[Source] | None, Query(description="repeat for several")] = None,
    category: Annotated[list[Category] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    flag: Annotated[str | None, Query(max_length=64, description="e.g. unknown_customer")] = None,
    route_queue: Annotated[str | None, Query(max_length=64)] = None,
    sentiment: Annotated[Sentiment | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200, description="text contains (case-insensitive)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=300, description="next_cursor of the previous page")] = None,
    *,
    warehouse: WarehouseDep,
):
    start, end = checked_range(start, end)
    filters = queries.SearchFilters(
        start=start,
        end=end,
        sources=tuple(source or ()),
        categories=tuple(category or ()),
        priorities=tuple(priority or ()),
        customer_id=customer_id,
        region=region,
        flag=flag,
        route_queue=route_queue,
        sentiment=sentiment,
        text=q,
    )
    return queries.search_complaints(warehouse, filters, limit, cursor)
