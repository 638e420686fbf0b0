"""Complaint-response SLAs: cases, their clocks, and compliance.

- **Cases.** One customer's complaints, on any channels, within ``[sla] case_window_hours`` of the case's first
  contact are one case: the person who tweets and then phones about the same outage is one case, not two. A
  complaint without a resolved customer is a case of its own. A case is named by its first complaint.
- **The clock** starts at the first contact: the earliest complaint's ``event_time``, or its ``ingested_at`` when
  that is earlier (a device clock in the future cannot buy time). The case takes the most urgent priority among
  its complaints and its customer's segment; ``[sla]`` gives the allowance for the first response and for
  resolution (``SlaSettings.allowance``).
- **Events** (``complaint_events``, posted by the CRM for any complaint of the case): the first response is the
  earliest ``first_response``; a case is resolved at its latest ``resolved`` unless a ``reopened`` came after it.
- **Status** of each target at a moment ``as_of``: ``met`` (done within the allowance), ``breached`` (done late,
  or not done and past due), ``at_risk`` (not done, less than ``at_risk_share`` of the allowance left) or
  ``pending``. Compliance is met / (met + breached) over the targets that are decided.

Plain functions over rows; ``sla_report`` reads them from the warehouse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from serving.warehouse import Warehouse

PRIORITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}
TARGETS = ("first_response", "resolution")


@dataclass
class Case:
    case_id: str  # the first complaint's id
    customer_id: str | None
    started_at: dt.datetime  # the first contact
    priority: str
    segment: str | None
    source: str  # the first contact's channel
    route_queue: str
    complaint_ids: list[str] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)


def contact_time(complaint: dict) -> dt.datetime:
    times = [t for t in (complaint.get("event_time"), complaint.get("ingested_at")) if t is not None]
    return min(times)


def link_cases(complaints: list[dict], window: dt.timedelta) -> list[Case]:
    """Group complaints (dicts with complaint_id, customer_id, event_time, ingested_at, priority, segment, source,
    route_queue) into cases, each complaint in exactly one."""
    cases: list[Case] = []
    open_case: dict[str, Case] = {}  # per customer, the case a next complaint may join
    for complaint in sorted(complaints, key=lambda c: (contact_time(c), c["complaint_id"])):
        started = contact_time(complaint)
        customer = complaint.get("customer_id")
        case = open_case.get(customer) if customer else None
        if case is None or started - case.started_at > window:
            case = Case(
                complaint["complaint_id"],
                customer,
                started,
                complaint.get("priority") or "P4",
                complaint.get("segment"),
                complaint["source"],
                complaint.get("route_queue") or "",
            )
            cases.append(case)
            if customer:
                open_case[customer] = case
        elif PRIORITY_RANK.get(complaint.get("priority"), 4) < PRIORITY_RANK.get(case.priority, 4):
            case.priority = complaint["priority"]
        case.complaint_ids.append(complaint["complaint_id"])
        case.channels.add(complaint["source"])
    return cases


def case_times(events: list[dict]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first response, resolution) from one case's events (dicts with event_type and occurred_at)."""
    responses = [e["occurred_at"] for e in events if e["event_type"] == "first_response"]
    resolved = None
    for event in sorted(events, key=lambda e: e["occurred_at"]):
        if event["event_type"] == "resolved":
            resolved = event["occurred_at"]
        elif event["event_type"] == "reopened":
            resolved = None
    return (min(responses) if responses else None), resolved


def target_status(
    started: dt.datetime, done: dt.datetime | None, allowance: float, as_of: dt.datetime, at_risk_share: float
) -> tuple[str, dt.datetime]:
    """(met | breached | at_risk | pending, due time) of one target."""
    due = started + dt.timedelta(seconds=allowance)
    if done is not None and done <= as_of:
        return ("met" if done <= due else "breached"), due
    if as_of > due:
        return "breached", due
    return ("at_risk" if (due - as_of).total_seconds() < at_risk_share * allowance else "pending"), due


def evaluate_cases(
    cases: list[Case], events_by_complaint: dict[str, list[dict]], sla, as_of: dt.datetime
) -> list[dict]:
    """Each case with its targets' status and due times at ``as_of`` (events after ``as_of`` not yet known)."""
    evaluated = []
    for case in cases:
        if case.started_at > as_of:
            continue
        events = [
            e for cid in case.complaint_ids for e in events_by_complaint.get(cid, ()) if e["occurred_at"] <= as_of
        ]
        responded, resolved = case_times(events)
        response_allowance, resolve_allowance = sla.allowance(case.priority, case.segment)
        first_response, response_due = target_status(
            case.started_at, responded, response_allowance, as_of, sla.at_risk_share
        )
        resolution, resolve_due = target_status(case.started_at, resolved, resolve_allowance, as_of, sla.at_risk_share)
        evaluated.append(
            {
                "case_id": case.case_id,
                "customer_id": case.customer_id,
                "started_at": case.started_at,
                "priority": case.priority,
                "segment": case.segment,
                "source": case.source,
                "route_queue": case.route_queue,
                "channels": sorted(case.channels),
                "complaint_ids": case.complaint_ids,
                "first_response": first_response,
                "first_response_due": response_due,
                "first_response_at": responded,
                "resolution": resolution,
                "resolution_due": resolve_due,
                "resolved_at": resolved,
            }
        )
    return evaluated


def compliance(rows: list[dict], by: str) -> list[dict]:
    """Per value of ``by`` (``day`` of the first contact, ``route_queue`` or ``source``): cases, and per target
    how many were met, breached, at risk and pending, and met / (met + breached)."""
    groups: dict[str, dict] = {}
    for row in rows:
        key = row["started_at"].date().isoformat() if by == "day" else row[by]
        group = groups.setdefault(
            key,
            {
                "key": key,
                "cases": 0,
                **{
                    f"{target}_{status}": 0
                    for target in TARGETS
                    for status in ("met", "breached", "at_risk", "pending")
                },
            },
        )
        group["cases"] += 1
        for target in TARGETS:
            group[f"{target}_{row[target]}"] += 1
    for group in groups.values():
        for target in TARGETS:
            decided = group[f"{target}_met"] + group[f"{target}_breached"]
            group[f"{target}_compliance"] = group[f"{target}_met"] / decided if decided else None
    return sorted(groups.values(), key=lambda g: g["key"])


CASE_COLUMNS = (
    "complaint_id",
    "customer_id",
    "event_time",
    "ingested_at",
    "priority",
    "segment",
    "source",
    "route_queue",
)


def load_cases(warehouse: Warehouse, start: dt.date, end: dt.date, sla) -> list[Case]:
    """The cases whose first contact falls on ``start``..``end`` (UTC days). Complaints from a window before
    ``start`` are read too, so a case that began the day before keeps its later complaints."""
    window = dt.timedelta(hours=sla.case_window_hours)
    earliest = start - dt.timedelta(days=int(window.total_seconds() // 86400) + 1)
    complaints = warehouse.rows(
        f"SELECT {', '.join(CASE_COLUMNS)} FROM complaints WHERE event_date BETWEEN ? AND ?",
        [earliest, end + dt.timedelta(days=1)],
    )
    return [case for case in link_cases(complaints, window) if start <= case.started_at.date() <= end]


def load_events(warehouse: Warehouse, complaint_ids: list[str]) -> dict[str, list[dict]]:
    if not complaint_ids:
        return {}
    found: dict[str, list[dict]] = {}
    rows = warehouse.arrow(
        "SELECT complaint_id, event_type, occurred_at FROM complaint_events WHERE complaint_id IN (SELECT unnest(?))",
        [complaint_ids],
    ).to_pylist()
    for row in rows:
        found.setdefault(row["complaint_id"], []).append(row)
    return found


def sla_cases(warehouse: Warehouse, start: dt.date, end: dt.date, sla, as_of: dt.datetime) -> list[dict]:
    cases = load_cases(warehouse, start, end, sla)
    events = load_events(warehouse, [cid for case in cases for cid in case.complaint_ids])
    return evaluate_cases(cases, events, sla, as_of)
