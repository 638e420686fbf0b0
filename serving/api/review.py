"""The review queue (``serving/review.py``): items to list and read (scope ``complaints``: they hold complaint
text and raw records), to claim and resolve (scope ``write``)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParameter

from serving import queries, review
from serving.api import models
from serving.api.complaints import Source
from serving.api.dependencies import UtcTime, WarehouseDep, client, scope
from serving.auth import Client

router = APIRouter(prefix="/api/v1/review", tags=["review"])
ItemId = Annotated[str, PathParameter(min_length=3, max_length=96)]


def _shown(item: dict) -> dict:
    shown = queries.jsonable(item)
    shown["outcome"] = json.loads(item["outcome"]) if item.get("outcome") else None
    return shown


def _who(caller: Client | None, reviewer: str | None) -> str:
    key = caller.name if caller else "local"
    return f"{reviewer} via {key}" if reviewer else key


@router.get(
    "/items",
    response_model=models.ReviewPage,
    dependencies=[Depends(scope("complaints"))],
    summary="Review-queue items, newest first: flagged complaints and dead letters",
)
def items(
    warehouse: WarehouseDep,
    kind: Annotated[Literal["complaint", "dead_letter"] | None, Query()] = None,
    status: Annotated[
        Literal[review.STATUS_FILTERS],
        Query(description="pending (open or claimed, the default), open, claimed, a decision, or awaiting_reinjection"),
    ] = "pending",
    source: Annotated[Source | None, Query()] = None,
    reason: Annotated[str | None, Query(max_length=100, description="flag or error contains")] = None,
    before: Annotated[UtcTime | None, Query(description="next_before of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
):
    page = review.queue_items(
        warehouse, kind=kind, status=status, source=source, reason=reason, before=before, limit=limit
    )
    return {"items": [_shown(item) for item in page["items"]], "next_before": queries.iso(page["next_before"])}


@router.get(
    "/items/{item_id}",
    response_model=models.ReviewItem,
    dependencies=[Depends(scope("complaints"))],
    summary="One item, with its original raw record from the lake",
    responses={404: {"model": models.ErrorBody}},
)
def item(item_id: ItemId, warehouse: WarehouseDep, request: Request):
    from warehouse.lake import find_raw_record

    try:
        found = review.get_item(warehouse, item_id)
    except review.NoSuchItem as missing:
        raise HTTPException(404, str(missing)) from None
    shown = _shown(found)
    if found["item_kind"] == "dead_letter":
        raw, encoding = found["text"], found["raw_encoding"]
    else:
        record = find_raw_record(
            request.app.state.output_dir,
            found["source"],
            found["reference"],
            found["position"],
            found["arrived_at"].date(),
            found["batch_id"],
        )
        raw, encoding = (record["raw"], record.get("raw_encoding")) if record else (None, None)
    if raw is not None and encoding == "base64":  # bytes that were not UTF-8: shown decoded, the bad ones as U+FFFD,
        raw = base64.b64decode(raw).decode("utf-8", errors="replace")  # so a reviewer can fix the text
    shown["raw"] = raw
    return shown


def _decide(action):
    try:
        return _shown(action())
    except review.NoSuchItem as missing:
        raise HTTPException(404, str(missing)) from None
    except review.ReviewConflict as conflict:
        raise HTTPException(409, str(conflict)) from None
    except review.ReviewRefused as refused:
        raise HTTPException(400, str(refused)) from None


@router.post(
    "/items/{item_id}/claim",
    response_model=models.ReviewItem,
    dependencies=[Depends(scope("write"))],
    summary="Claim an item (409 when someone else has it, or it is decided)",
    responses={404: {"model": models.ErrorBody}, 409: {"model": models.ErrorBody}},
)
def claim(
    item_id: ItemId, body: models.ClaimIn, warehouse: WarehouseDep, caller: Annotated[Client | None, Depends(client)]
):
    now = dt.datetime.now(dt.UTC)
    return _decide(lambda: review.claim(warehouse, item_id, _who(caller, body.reviewer), now))


@router.post(
    "/items/{item_id}/resolve",
    response_model=models.ReviewItem,
    dependencies=[Depends(scope("write"))],
    summary="Accept, correct (a fixed raw record to re-inject, and/or labels) or discard an item",
    responses={404: {"model": models.ErrorBody}, 409: {"model": models.ErrorBody}},
)
def resolve(
    item_id: ItemId, body: models.ResolveIn, warehouse: WarehouseDep, caller: Annotated[Client | None, Depends(client)]
):
    now = dt.datetime.now(dt.UTC)
    return _decide(
        lambda: review.resolve(
            warehouse,
            item_id,
            _who(caller, body.reviewer),
            now,
            body.action,
            reason=body.reason,
            corrected_raw=body.raw,
            category=body.category,
            sentiment=body.sentiment,
        )
    )
