"""The review queue: what the pipeline could not settle alone, for a person to decide.

Items are the flagged complaints (``flags`` not empty: an unknown customer, a future timestamp, a possible
duplicate, ...) and the dead letters, named ``complaint:<complaint_id>`` and ``dead_letter:<error_id>``. Nothing
is copied: the queue is those rows joined with the decisions in the ``reviews`` table (one row per item, replaced
as it moves on). An item is

    open ──claim──► claimed ──resolve──► accepted | discarded (with a reason) | corrected
                                                                              │ corrected_raw given
                                                          complaints batch --from-review (the pipeline)
                                                                              ▼
                                                                 reinjected | reinject_failed (open again)

A correction either fixes the raw record (re-injected through the same pipeline by ``complaints batch --from-review``;
the complaint's deterministic id makes that an update, never a second row) or relabels category and sentiment
(written as labelled examples for ``complaints model train``), or both. Who decided and when is kept on the row.
"""

from __future__ import annotations

import datetime as dt

from models.base import CATEGORIES, SENTIMENT_LABELS
from schemas import tables
from serving.warehouse import Warehouse

KINDS = ("complaint", "dead_letter")
ACTIONS = ("accept", "correct", "discard")
#: decided: the item has left the queue
RESOLVED = ("accepted", "corrected", "discarded", "reinjected")
#: the filters ``queue_items`` takes besides a single status
STATUS_FILTERS = (
    "pending",
    "open",
    "claimed",
    "accepted",
    "corrected",
    "discarded",
    "reinjected",
    "reinject_failed",
    "awaiting_reinjection",
)

_ITEM_SQL = {
    "complaint": "SELECT 'complaint:' || complaint_id AS item_id, 'complaint' AS item_kind, complaint_id AS ref_id, "
    "source, ingested_at AS arrived_at, array_to_string(flags, ', ') AS reason, text, "
    "'utf-8' AS raw_encoding, category, category_confidence, sentiment_label, priority, route_queue, "
    "source_file AS reference, source_position AS position, batch_id FROM complaints WHERE len(flags) > 0",
    "dead_letter": "SELECT 'dead_letter:' || error_id AS item_id, 'dead_letter' AS item_kind, error_id AS ref_id, "
    "source, failed_at AS arrived_at, "
    "stage || ':' || error_type || ' - ' || coalesce(error_message, '') AS reason, raw AS text, "
    "raw_encoding, NULL::VARCHAR AS category, NULL::DOUBLE AS category_confidence, "
    "NULL::VARCHAR AS sentiment_label, NULL::VARCHAR AS priority, NULL::VARCHAR AS route_queue, "
    "coalesce(source_file, message_id) AS reference, position, batch_id FROM dead_letter",
}
_STATUS_SQL = {
    "pending": "(r.status IS NULL OR r.status IN ('claimed', 'reinject_failed'))",
    "open": "(r.status IS NULL OR r.status = 'reinject_failed')",
    "awaiting_reinjection": "(r.status = 'corrected' AND r.corrected_raw IS NOT NULL AND r.reinjected_at IS NULL)",
}


class ReviewConflict(Exception):
    """The item is claimed by someone else, or already decided."""


class ReviewRefused(ValueError):
    """The decision cannot be recorded as given (the reason is for the caller)."""


class NoSuchItem(LookupError):
    pass


def _queue_sql(kinds: tuple[str, ...], where: list[str]) -> str:
    items = " UNION ALL ".join(_ITEM_SQL[kind] for kind in kinds)
    return (
        f"SELECT i.*, coalesce(r.status, 'open') AS status, r.claimed_by, r.claimed_at, r.resolved_by, "
        f"r.resolved_at, r.reason AS decision_reason, r.corrected_category, r.corrected_sentiment, "
        f"r.corrected_raw, r.outcome, r.reinjected_at, r.reinject_run_id "
        f"FROM ({items}) i LEFT JOIN reviews r ON r.item_id = i.item_id"
        + (" WHERE " + " AND ".join(where) if where else "")
    )


def queue_items(
    warehouse: Warehouse,
    *,
    kind: str | None = None,
    status: str = "pending",
    source: str | None = None,
    reason: str | None = None,
    before: dt.datetime | None = None,
    limit: int = 50,
) -> dict:
    """Items newest first (by when they arrived), filtered; ``next_before`` pages on."""
    where, parameters = [], []
    if status in _STATUS_SQL:
        where.append(_STATUS_SQL[status])
    else:
        where.append("r.status = ?")
        parameters.append(status)
    for column, value in (("i.source", source),):
        if value:
            where.append(f"{column} = ?")
            parameters.append(value)
    if reason:
        where.append("i.reason ILIKE ?")
        parameters.append(f"%{reason}%")
    if before:
        where.append("i.arrived_at < ?")
        parameters.append(before)
    rows = warehouse.rows(
        _queue_sql((kind,) if kind else KINDS, where) + " ORDER BY i.arrived_at DESC, i.item_id LIMIT ?",
        [*parameters, limit + 1],
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_before": rows[-1]["arrived_at"] if more and rows else None}


def get_item(warehouse: Warehouse, item_id: str) -> dict:
    kind, _, ref_id = item_id.partition(":")
    if kind not in KINDS or not ref_id:
        raise NoSuchItem(f"no review item {item_id} (ids are complaint:<complaint_id> or dead_letter:<error_id>)")
    rows = warehouse.rows(_queue_sql((kind,), ["i.ref_id = ?"]), [ref_id])
    if not rows:
        raise NoSuchItem(f"no review item {item_id}: not a flagged complaint or a dead letter")
    return rows[0]


def counts(warehouse: Warehouse) -> dict[str, int]:
    """Items per status (``open`` includes those whose re-injection failed)."""
    rows = warehouse.rows(
        f"SELECT CASE WHEN status = 'reinject_failed' THEN 'open' ELSE status END AS status, "
        f"count(*) AS n FROM ({_queue_sql(KINDS, [])}) GROUP BY 1"
    )
    found = {row["status"]: row["n"] for row in rows}
    return {
        status: found.get(status, 0)
        for status in ("open", "claimed", "accepted", "corrected", "discarded", "reinjected")
    }


def _decision_row(item: dict, now: dt.datetime, **changes) -> dict:
    """The ``reviews`` row of ``item`` with ``changes``, keeping what earlier decisions recorded."""
    row = {
        "item_id": item["item_id"],
        "item_kind": item["item_kind"],
        "ref_id": item["ref_id"],
        "source": item["source"],
        "status": item["status"],
        "claimed_by": item["claimed_by"],
        "claimed_at": item["claimed_at"],
        "resolved_by": item["resolved_by"],
        "resolved_at": item["resolved_at"],
        "reason": item["decision_reason"],
        "corrected_raw": item["corrected_raw"],
        "corrected_category": item["corrected_category"],
        "corrected_sentiment": item["corrected_sentiment"],
        "outcome": item["outcome"],
        "reinjected_at": item["reinjected_at"],
        "reinject_run_id": item["reinject_run_id"],
        "updated_at": now,
        "review_date": (item["claimed_at"] or item["resolved_at"] or now).date(),
    }
    row.update(changes)
    return row


def _write(warehouse: Warehouse, row: dict, who: str) -> None:
    warehouse.upsert(tables.REVIEWS, [row], {"writer": "review", "reviewer": who})


def claim(warehouse: Warehouse, item_id: str, who: str, now: dt.datetime) -> dict:
    """Claim an open item for ``who``; claiming one's own claim again is a no-op."""
    with warehouse.writing():
        item = get_item(warehouse, item_id)
        if item["status"] in RESOLVED:
            raise ReviewConflict(f"{item_id} is already {item['status']} (by {item['resolved_by']})")
        if item["status"] == "claimed":
            if item["claimed_by"] != who:
                raise ReviewConflict(
                    f"{item_id} is claimed by {item['claimed_by']} since {item['claimed_at'].isoformat()}"
                )
            return item
        _write(warehouse, _decision_row(item, now, status="claimed", claimed_by=who, claimed_at=now), who)
        return get_item(warehouse, item_id)


def resolve(
    warehouse: Warehouse,
    item_id: str,
    who: str,
    now: dt.datetime,
    action: str,
    *,
    reason: str | None = None,
    corrected_raw: str | None = None,
    category: str | None = None,
    sentiment: str | None = None,
) -> dict:
    """Decide an item: ``accept`` it as it is, ``correct`` it (a fixed raw record to re-inject, and/or the
    category and sentiment it should have had), or ``discard`` it with a reason."""
    if action not in ACTIONS:
        raise ReviewRefused(f"action must be one of {', '.join(ACTIONS)}")
    if category is not None and category not in CATEGORIES:
        raise ReviewRefused(f"category must be one of {', '.join(CATEGORIES)}")
    if sentiment is not None and sentiment not in SENTIMENT_LABELS:
        raise ReviewRefused(f"sentiment must be one of {', '.join(SENTIMENT_LABELS)}")
    if action == "discard" and not (reason or "").strip():
        raise ReviewRefused("a discarded item needs a reason")
    if action != "correct" and (corrected_raw or category or sentiment):
        raise ReviewRefused("only a correction carries a raw record, a category or a sentiment")
    with warehouse.writing():
        item = get_item(warehouse, item_id)
        if item["status"] in RESOLVED:
            raise ReviewConflict(f"{item_id} is already {item['status']} (by {item['resolved_by']})")
        if item["status"] == "claimed" and item["claimed_by"] != who:
            raise ReviewConflict(f"{item_id} is claimed by {item['claimed_by']}")
        if action == "correct":
            if not (corrected_raw or category or sentiment):
                raise ReviewRefused("a correction needs a corrected raw record, a category or a sentiment")
            if item["item_kind"] == "dead_letter" and not corrected_raw:
                raise ReviewRefused("a dead letter is corrected by fixing its raw record (raw)")
        status = {"accept": "accepted", "discard": "discarded", "correct": "corrected"}[action]
        _write(
            warehouse,
            _decision_row(
                item,
                now,
                status=status,
                resolved_by=who,
                resolved_at=now,
                reason=reason,
                corrected_raw=corrected_raw,
                corrected_category=category,
                corrected_sentiment=sentiment,
                outcome=None,
                reinjected_at=None,
                reinject_run_id=None,
                claimed_by=item["claimed_by"] or who,
                claimed_at=item["claimed_at"] or now,
            ),
            who,
        )
        return get_item(warehouse, item_id)
