"""The CRM loop: events posted about complaints (scope ``write``), read back (scope ``complaints``), and SLA
compliance over them (scope ``aggregates``). The logic is in ``serving/events.py`` and ``serving/sla.py``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParameter

from serving import events, queries, sla
from serving.api import models
from serving.api.dependencies import EARLIEST, Day, UtcTime, WarehouseDep, client, scope
from serving.auth import Client

router = APIRouter(prefix="/api/v1", tags=["crm"])
ComplaintId = Annotated[str, PathParameter(min_length=1, max_length=64)]
#: the most cases an SLA answer lists as at risk or breached
CASE_LIST_LIMIT = 200


@router.post(
    "/complaints/{complaint_id}/events",
    response_model=models.EventOut,
    status_code=201,
    summary="Record what happened to a complaint in the CRM (idempotent by event_id)",
    dependencies=[Depends(scope("write"))],
    responses={
        200: {"model": models.EventOut, "description": "already recorded (a replay)"},
        404: {"model": models.ErrorBody},
        409: {"model": models.ErrorBody},
    },
)
def post_event(
    complaint_id: ComplaintId,
    event: models.EventIn,
    warehouse: WarehouseDep,
    response: Response,
    caller: Annotated[Client | None, Depends(client)],
):
    if queries.get_complaint(warehouse, complaint_id) is None:
        raise HTTPException(404, f"no complaint {complaint_id}")
    try:
        row = events.event_row(
            complaint_id, event.model_dump(), caller.name if caller else None, dt.datetime.now(dt.UTC)
        )
        recorded, new = events.record_event(warehouse, row)
    except events.EventRefused as refused:
        raise HTTPException(400, str(refused)) from None
    except events.EventConflict as conflict:
        raise HTTPException(409, str(conflict)) from None
    if not new:
        response.status_code = 200
    shown = {
        name: recorded[name]
        for name in ("event_id", "complaint_id", "event_type", "occurred_at", "received_at", "agent", "note", "client")
    }
    return {**queries.jsonable(shown), "status": "recorded" if new else "duplicate"}


@router.get(
    "/complaints/{complaint_id}/events",
    response_model=models.EventList,
    summary="The CRM events of a complaint, oldest first",
    dependencies=[Depends(scope("complaints"))],
)
def list_events(complaint_id: ComplaintId, warehouse: WarehouseDep):
    return {
        "complaint_id": complaint_id,
        "items": [queries.jsonable(row) for row in events.events_of(warehouse, complaint_id)],
    }


def _next_due(case: dict) -> dt.datetime:
    """When the soonest of a case's at-risk targets falls due."""
    return min(case[f"{target}_due"] for target in sla.TARGETS if case[target] == "at_risk")


@router.get(
    "/sla",
    response_model=models.SlaReport,
    dependencies=[Depends(scope("aggregates"))],
    summary="Response-SLA compliance per day, queue or channel; cases about to breach; breaches",
)
def sla_report(
    request: Request,
    warehouse: WarehouseDep,
    start: Annotated[Day | None, Query(description="first day of first contacts (default: 6 days before end)")] = None,
    end: Annotated[Day | None, Query(description="last day (default: the day of as_of)")] = None,
    by: Annotated[Literal["day", "route_queue", "source"], Query()] = "day",
    as_of: Annotated[UtcTime | None, Query(description="the moment to judge at (default: now)")] = None,
):
    moment = as_of or dt.datetime.now(dt.UTC)
    end = end or moment.date()
    start = start or max(end - dt.timedelta(days=6), EARLIEST.date())
    if start > end:
        raise HTTPException(400, "start must not be after end")
    if (end - start).days > 366:
        raise HTTPException(400, "an SLA report covers at most 366 days")
    cases = sla.sla_cases(warehouse, start, end, request.app.state.sla, moment)
    at_risk = sorted((c for c in cases if "at_risk" in (c["first_response"], c["resolution"])), key=_next_due)
    breaches = sorted(
        (c for c in cases if "breached" in (c["first_response"], c["resolution"])),
        key=lambda c: c["started_at"],
        reverse=True,
    )
    return {
        "as_of": queries.iso(moment),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "by": by,
        "groups": sla.compliance(cases, by),
        "at_risk_total": len(at_risk),
        "breached_total": len(breaches),
        "at_risk": [queries.jsonable(c) for c in at_risk[:CASE_LIST_LIMIT]],
        "breaches": [queries.jsonable(c) for c in breaches[:CASE_LIST_LIMIT]],
    }
