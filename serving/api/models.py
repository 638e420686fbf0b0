"""Response models of the API: what each endpoint answers, as it appears in the OpenAPI document.

Dates and times are ISO 8601 strings (times in UTC with ``Z``), as ``serving.queries`` returns them. The complaint
model is derived from the warehouse schema (``schemas/avro/complaint.avsc``), less where on the ingest machine a
record was read from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, create_model

import schemas
from serving.api.dependencies import UtcTime
from serving.queries import COMPLAINT_COLUMNS


def _json_type(avro_type):
    """The JSON-side Python type of an Avro field type (logical dates and times travel as strings)."""
    if isinstance(avro_type, list):
        return _json_type(next(t for t in avro_type if t != "null"))
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") in ("timestamp-micros", "date"):
            return str
        if avro_type["type"] == "array":
            return list[_json_type(avro_type["items"])]
        if avro_type["type"] == "map":
            return dict[str, _json_type(avro_type["values"])]
        return _json_type(avro_type["type"])
    return {"string": str, "long": int, "int": int, "double": float, "float": float, "boolean": bool}[avro_type]


_COMPLAINT_TYPES = {field["name"]: _json_type(field["type"]) for field in schemas.avro_schema("Complaint")["fields"]}
Complaint = create_model(
    "Complaint",
    __doc__="One curated complaint; contacts only as a token and masked text.",
    **{name: (_COMPLAINT_TYPES[name] | None, None) for name in COMPLAINT_COLUMNS},
)


class ComplaintPage(BaseModel):
    items: list[Complaint]
    next_cursor: str | None = None
    limit: int


class VolumePoint(BaseModel):
    bucket: str
    key: str
    complaints: int


class Volumes(BaseModel):
    granularity: str
    by: str
    start: str
    end: str
    series: list[VolumePoint]


class LiveMinute(BaseModel):
    minute_start: str
    category: str | None = None
    complaints: int


class LiveVolumes(BaseModel):
    available: bool
    newest_minute: str | None = None
    series: list[LiveMinute]


class Alert(BaseModel):
    alert_id: str
    scope: str
    minute_start: str
    window_seconds: int
    complaints: int
    baseline_mean: float
    baseline_stddev: float
    threshold: float
    severity: str
    detected_at: str


class Alerts(BaseModel):
    since: str
    items: list[Alert]


class CategoryCount(BaseModel):
    category: str | None = None
    complaints: int


class Summary(BaseModel):
    """Today (the UTC day of the newest complaint with a trusted time) against the previous seven days: the mean
    is over the days among them that were ingested (``previous_days_with_data``; a day known only from late
    arrivals has no data) and null when there are none. Every figure is null while the warehouse is empty."""

    as_of: str | None = None
    day: str | None = None
    complaints: int | None = None
    previous_7_day_mean: float | None = None
    previous_days_with_data: int | None = None
    p1: int | None = None
    negative_share: float | None = None
    dead_letters: int | None = None
    dead_letter_day: str | None = None
    open_alerts: int | None = None
    by_category: list[CategoryCount] = []


class ForecastDay(BaseModel):
    forecast_date: str
    predicted: float
    lower: float
    upper: float
    is_holiday: bool
    trained_through: str


class DayCount(BaseModel):
    day: str
    complaints: int


class BacktestRow(BaseModel):
    method: str
    scope: str
    folds: int
    horizon_days: int
    days_evaluated: int
    mae: float
    wape: float | None = None


class Forecast(BaseModel):
    available: bool
    forecast_run: str | None = None
    category: str | None = None
    source: str | None = None
    forecast: list[ForecastDay]
    actuals: list[DayCount]
    backtest: list[BacktestRow]


class Phrase(BaseModel):
    phrase: str
    count: int
    score: float


class Phrases(BaseModel):
    days: int
    categories: dict[str, list[Phrase]]


class PriorityCount(BaseModel):
    category: str | None = None
    priority: str | None = None
    complaints: int


class PriorityMix(BaseModel):
    start: str
    end: str
    items: list[PriorityCount]


class Health(BaseModel):
    """``warehouse`` is the directory's name only: the host's paths are not the API's business. ``tables``: live
    data files per table; ``snapshots``: the Iceberg snapshot each table is served from (null: none yet);
    ``refused_tables``: tables not served, each with the one line that says why and what to run."""

    status: str
    warehouse: str
    tables: dict[str, int]
    snapshots: dict[str, int | None]
    unreadable_files: list[str]
    refused_tables: dict[str, str] = {}
    auth: str


class Problem(BaseModel):
    parameter: str
    problem: str


class ErrorBody(BaseModel):
    """Every error: a kind (``bad_request``, ``unauthorized``, ``forbidden``, ``not_found``,
    ``warehouse_unavailable``) and what was wrong (the parameters and their problems, for a 400)."""

    error: str
    detail: str | list[Problem]


class ChannelHealth(BaseModel):
    """A channel's newest record (complaint or dead letter), how long it has been silent against its
    ``[quality] max_silence_minutes``, and how far the scheduled batches have completed it."""

    channel: str
    last_record_at: str | None = None
    silent_seconds: float | None = None
    max_silence_seconds: float | None = None
    silent: bool
    complete_through: str | None = None


class SourceRun(BaseModel):
    read: int
    written: int
    rejected: int
    reject_ratio: float


class RunHealth(BaseModel):
    """A batch run from its manifest: ``status`` succeeded, refused (a ``[quality]`` limit; ``refused_because``)
    or unbalanced; ``quality_warnings`` are the soft limits it broke."""

    run_id: str | None = None
    batch_date: str | None = None
    finished_at: str | None = None
    status: str
    duration_seconds: float | None = None
    runner: str | None = None
    refused_because: str | None = None
    quality_warnings: list[str]
    sources: dict[str, SourceRun]


class OpenAlert(BaseModel):
    alert: str | None = None
    source: str | None = None
    severity: str | None = None
    summary: str | None = None
    since: str | None = None


class OpenAlerts(BaseModel):
    """What Alertmanager has open (``complaints serve --alertmanager-url``); ``source`` null: not configured."""

    source: str | None = None
    items: list[OpenAlert]
    error: str | None = None


class PlatformHealth(BaseModel):
    checked_at: str
    channels: list[ChannelHealth]
    runs: list[RunHealth]
    alerts: OpenAlerts
    review_queue: dict[str, int]
    limits: dict[str, float]


class EventIn(BaseModel):
    """What happened to a complaint in the CRM. ``event_id`` is the CRM's own id: posting it again is safe."""

    event_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    type: Literal["acknowledged", "first_response", "resolved", "reopened"]
    occurred_at: UtcTime = Field(description="when it happened (ISO 8601; UTC when it has no offset)")
    agent: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, max_length=2000)


class EventOut(BaseModel):
    event_id: str
    complaint_id: str
    event_type: str
    occurred_at: str
    received_at: str
    agent: str | None = None
    note: str | None = None
    client: str | None = None
    status: Literal["recorded", "duplicate"]


class EventRecord(BaseModel):
    event_id: str
    event_type: str
    occurred_at: str
    received_at: str
    agent: str | None = None
    note: str | None = None
    client: str | None = None


class EventList(BaseModel):
    complaint_id: str
    items: list[EventRecord]


class SlaGroup(BaseModel):
    key: str
    cases: int
    first_response_met: int
    first_response_breached: int
    first_response_at_risk: int
    first_response_pending: int
    first_response_compliance: float | None = None
    resolution_met: int
    resolution_breached: int
    resolution_at_risk: int
    resolution_pending: int
    resolution_compliance: float | None = None


class SlaCase(BaseModel):
    case_id: str
    customer_id: str | None = None
    started_at: str
    priority: str
    segment: str | None = None
    source: str
    route_queue: str
    channels: list[str]
    complaint_ids: list[str]
    first_response: str
    first_response_due: str
    first_response_at: str | None = None
    resolution: str
    resolution_due: str
    resolved_at: str | None = None


class SlaReport(BaseModel):
    """SLA compliance of the cases whose first contact is on ``start``..``end``, as it stood at ``as_of``:
    per ``by`` group, the open cases about to breach (``at_risk``, soonest due first) and the breaches (newest
    first), each list at most 200 long (``*_total`` counts them all)."""

    as_of: str
    start: str
    end: str
    by: str
    groups: list[SlaGroup]
    at_risk_total: int
    breached_total: int
    at_risk: list[SlaCase]
    breaches: list[SlaCase]


class ReviewItem(BaseModel):
    """A flagged complaint or a dead letter, and what reviewers decided about it (see ``serving/review.py``).
    ``text`` is a complaint's cleaned, masked text, or a dead letter's raw record; ``raw`` (one item only) is the
    original record from the lake, the thing a correction fixes (a record that was not UTF-8 decoded, its bad
    bytes as U+FFFD)."""

    item_id: str
    item_kind: str
    ref_id: str
    source: str
    arrived_at: str | None = None
    reason: str | None = None
    text: str | None = None
    raw_encoding: str | None = None
    category: str | None = None
    category_confidence: float | None = None
    sentiment_label: str | None = None
    priority: str | None = None
    route_queue: str | None = None
    reference: str | None = None
    position: int | None = None
    batch_id: str | None = None
    status: str
    claimed_by: str | None = None
    claimed_at: str | None = None
    resolved_by: str | None = None
    resolved_at: str | None = None
    decision_reason: str | None = None
    corrected_category: str | None = None
    corrected_sentiment: str | None = None
    corrected_raw: str | None = None
    outcome: dict | None = None
    reinjected_at: str | None = None
    reinject_run_id: str | None = None
    raw: str | None = None


class ReviewPage(BaseModel):
    items: list[ReviewItem]
    next_before: str | None = None


class ClaimIn(BaseModel):
    reviewer: str | None = Field(default=None, max_length=128, description="the person (default: the API key's name)")


class ResolveIn(BaseModel):
    action: Literal["accept", "correct", "discard"]
    reviewer: str | None = Field(default=None, max_length=128)
    reason: str | None = Field(default=None, max_length=2000)
    raw: str | None = Field(default=None, max_length=100_000, description="the corrected raw record to re-inject")
    category: Literal["Network", "Billing", "Customer Service", "Other"] | None = None
    sentiment: Literal["negative", "neutral", "positive"] | None = None
