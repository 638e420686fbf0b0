"""What the CRM reports about a complaint, recorded in ``complaint_events``: idempotent by the CRM's event id.

An event replayed with the same content is the same row (the answer says ``duplicate``); an event id reused for
different content is refused (``EventConflict``), because one of the two would be silently lost. Writes commit
one Iceberg snapshot each through the warehouse's committer, one at a time per server (``Warehouse.writing``).
"""

from __future__ import annotations

import datetime as dt

from schemas import tables
from serving.warehouse import Warehouse

EVENT_TYPES = ("acknowledged", "first_response", "resolved", "reopened")
#: a CRM clock may run a little ahead of ours; an event further in the future than this is refused
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
#: what must match for a replay to be the same event
SAME_EVENT = ("complaint_id", "event_type", "occurred_at", "agent", "note")


class EventConflict(Exception):
    """The event id is already recorded with different content."""


class EventRefused(ValueError):
    """The event cannot be recorded as given (the reason is for the caller)."""


def event_row(complaint_id: str, event: dict, client: str | None, now: dt.datetime) -> dict:
    """The ``complaint_events`` row of a posted event (``event_id``, ``type``, ``occurred_at``, ``agent``,
    ``note``); ``occurred_at`` naive means UTC."""
    occurred = event["occurred_at"]
    occurred = occurred.replace(tzinfo=dt.UTC) if occurred.tzinfo is None else occurred.astimezone(dt.UTC)
    if occurred > now + FUTURE_TOLERANCE:
        raise EventRefused(f"occurred_at {occurred.isoformat()} is in the future")
    if event["type"] not in EVENT_TYPES:
        raise EventRefused(f"type must be one of {', '.join(EVENT_TYPES)}")
    return {
        "event_id": event["event_id"],
        "complaint_id": complaint_id,
        "event_type": event["type"],
        "occurred_at": occurred,
        "received_at": now,
        "agent": event.get("agent"),
        "note": event.get("note"),
        "client": client,
        "event_date": occurred.date(),
    }


def _same(recorded: dict, row: dict) -> bool:
    return all(recorded[name] == row[name] for name in SAME_EVENT)


def record_event(warehouse: Warehouse, row: dict) -> tuple[dict, bool]:
    """Record ``row`` unless its event id is there; returns (the recorded row, whether it was new). Raises
    ``EventConflict`` when the id is recorded with different content."""
    with warehouse.writing():
        existing = warehouse.rows("SELECT * FROM complaint_events WHERE event_id = ?", [row["event_id"]])
        if existing:
            if not _same(existing[0], row):
                raise EventConflict(
                    f"event {row['event_id']} is already recorded for complaint "
                    f"{existing[0]['complaint_id']} ({existing[0]['event_type']} at "
                    f"{existing[0]['occurred_at'].isoformat()}) with different content"
                )
            return existing[0], False
        warehouse.upsert(tables.COMPLAINT_EVENTS, [row], {"writer": "crm-events", "client": row["client"] or ""})
        return row, True


def events_of(warehouse: Warehouse, complaint_id: str) -> list[dict]:
    return warehouse.rows(
        "SELECT event_id, event_type, occurred_at, received_at, agent, note, client "
        "FROM complaint_events WHERE complaint_id = ? ORDER BY occurred_at, event_id",
        [complaint_id],
    )
