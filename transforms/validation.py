"""Validation: which records are rejected (to the dead letter, with a reason) and which are flagged.

Rejected: records that cannot be curated truthfully (an event time before 1990 or after 2100, which is a
placeholder or epoch value rather than a complaint time; text far beyond any channel's limit). Flagged for manual
review, but kept: empty text, a future timestamp, a late or stale record, an implausible call duration, a phone
number that is not a phone number, no contact at all.
``unknown_customer`` and ``partial_sms`` are flagged by enrichment and SMS assembly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from transforms.cleaning import normalise_phone
from transforms.records import VALIDATE, RecordError

EARLIEST_EVENT = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)  # older: a default or epoch value
LATEST_EVENT = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ValidationRules:
    """Thresholds of the rules and the batch's logical date. The defaults are the documented rules (the
    ``complaints`` CLI overrides them with a profile's ``[validation]`` section).

    batch_date: the batch's logical date, which ``late_arrival`` is judged against; None (the default): each
        record's ingestion date (live records, and a batch run on the day it reads).
    future_tolerance: an event time further than this after ingestion is flagged ``future_timestamp``.
    late_after: an event day this long before the batch date is flagged ``late_arrival``.
    stale_after: an event time this long before ingestion is flagged ``stale_event_time``.
    max_text_chars: a longer text is rejected (``text_too_long``).
    max_call_duration: a longer (or negative) call is flagged ``implausible_call_duration``.
    """

    batch_date: dt.date | None = None
    future_tolerance: dt.timedelta = dt.timedelta(minutes=10)
    late_after: dt.timedelta = dt.timedelta(days=1)
    stale_after: dt.timedelta = dt.timedelta(days=365)
    max_text_chars: int = 20_000
    max_call_duration: dt.timedelta = dt.timedelta(hours=4)

    def __post_init__(self):
        """Refuse rules the validation could not apply, when they are made: each record would otherwise be
        dead-lettered for the rules' error (``validate:unexpected_TypeError``), once the pipeline runs."""
        if self.batch_date is not None and (
            not isinstance(self.batch_date, dt.date) or isinstance(self.batch_date, dt.datetime)
        ):
            raise TypeError(f"ValidationRules: batch_date must be a datetime.date or None, not {self.batch_date!r}")
        for name in ("future_tolerance", "late_after", "stale_after", "max_call_duration"):
            value = getattr(self, name)
            if not isinstance(value, dt.timedelta):
                raise TypeError(f"ValidationRules: {name} must be a datetime.timedelta, not {value!r}")
            if value < dt.timedelta(0):
                raise ValueError(f"ValidationRules: {name} must not be negative, not {value}")
        if self.late_after % dt.timedelta(days=1):
            raise ValueError(
                "ValidationRules: late_after must be whole days (lateness is judged by the event's day), "
                f"not {self.late_after}"
            )
        if type(self.max_text_chars) is not int or self.max_text_chars < 1:
            raise TypeError(
                f"ValidationRules: max_text_chars must be a whole number of at least 1, not {self.max_text_chars!r}"
            )


def call_duration_is_plausible(seconds: int | None, maximum: dt.timedelta) -> bool:
    """A call lasting ``seconds`` (None: unknown) is at most ``maximum`` and not negative."""
    return seconds is None or 0 <= seconds <= maximum.total_seconds()


def validate_complaint(complaint: dict, rules: ValidationRules) -> dict:
    """Return a new complaint with its review flags added (the input is left as it was), or raise RecordError
    (stage ``validate``)."""
    event_time = complaint["event_time"]
    if not EARLIEST_EVENT <= event_time < LATEST_EVENT:
        raise RecordError("event_time_out_of_range", f"event time {event_time.isoformat()} is not plausible", VALIDATE)
    if len(complaint["text"]) > rules.max_text_chars:
        raise RecordError(
            "text_too_long", f"text of {len(complaint['text'])} characters exceeds {rules.max_text_chars}", VALIDATE
        )
    flags = list(complaint["flags"])
    if not complaint["text"].strip():
        flags.append("empty_text")
    reference = complaint["ingested_at"]
    if event_time > reference + rules.future_tolerance:
        flags.append("future_timestamp")
    elif event_time < reference - rules.stale_after:
        flags.append("stale_event_time")
    batch_date = rules.batch_date or reference.date()
    if event_time.date() < batch_date - dt.timedelta(days=rules.late_after.days):
        flags.append("late_arrival")
    if not call_duration_is_plausible(complaint.get("call_duration_seconds"), rules.max_call_duration):
        flags.append("implausible_call_duration")
    contacts = complaint["_contacts"]
    if contacts.get("msisdn") and not normalise_phone(contacts["msisdn"]):
        flags.append("invalid_phone")
    if not any(contacts.values()):
        flags.append("no_contact")
    return {**complaint, "flags": flags}
