"""Web forms: webhook JSON payloads (``*.jsonl``) and raw urlencoded bodies (``*.form``) into complaints.

Identity is ``submission_id``; event time ``submitted_at`` (any ISO 8601 offset, stored in UTC). The
customer's own ``topic`` is kept as ``customer_topic``: it may be empty or wrong, so it is not the category.
"""
from __future__ import annotations

import apache_beam as beam
from urllib.parse import parse_qsl

from transforms.cleaning import parse_timestamp
from transforms.sources.channel import ReadChannel
from transforms.records import RecordError, new_complaint, raw_text
from transforms.sources.payloads import identifier_field, load_json_object, string_field, text_field

SOURCE = "webform"
FIELD_NAMES = ("full_name", "email", "phone", "account_number", "topic", "subject", "message")


def _complaint_from_fields(raw_record: dict, submission_id, submitted_at, fields: dict) -> dict:
    event_time = parse_timestamp(string_field(submitted_at, "submitted_at"), "submitted_at")
    values = {name: text_field(fields.get(name), name) for name in FIELD_NAMES}
    return new_complaint(
        raw_record, identifier_field(submission_id, "submission_id"), event_time, values["message"],
        contacts={"account_number": values["account_number"], "msisdn": values["phone"],
                  "email": values["email"]},
        subject=values["subject"], customer_topic=(values["topic"] or "").strip() or None,
    )


def parse_webform_json(raw_record: dict) -> dict:
    payload = load_json_object(raw_text(raw_record))
    fields = payload.get("fields")
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise RecordError("invalid_field", "'fields' is not an object")
    return _complaint_from_fields(raw_record, payload.get("submission_id"), payload.get("submitted_at"), fields)


def parse_webform_body(raw_record: dict) -> dict:
    body = raw_text(raw_record).strip()
    if "=" not in body:
        raise RecordError("invalid_form_body", "not an application/x-www-form-urlencoded body")
    try:
        pairs = parse_qsl(body, keep_blank_values=True, errors="strict", max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as error:
        raise RecordError("invalid_form_body", f"cannot decode form body: {error}") from None
    values = dict(pairs)
    return _complaint_from_fields(raw_record, values.get("submission_id"), values.get("submitted_at"), values)


def parse_webform(raw_record: dict) -> dict:
    """Dispatch on the kind of body: the file extension (``.form``/``.jsonl``) or the transport's
    ``content_type`` attribute when known, else the body's first character."""
    source_file = (raw_record.get("source_file") or "").lower().removesuffix(".gz")
    content_type = (raw_record.get("attributes") or {}).get("content_type", "")
    if source_file.endswith(".form") or "urlencoded" in content_type:
        return parse_webform_body(raw_record)
    if source_file.endswith((".jsonl", ".json")) or "json" in content_type:
        return parse_webform_json(raw_record)
    if raw_record["raw_encoding"] == "utf-8" and not raw_record["raw"].lstrip().startswith("{"):
        return parse_webform_body(raw_record)
    return parse_webform_json(raw_record)


class ReadWebforms(beam.PTransform):
    """Web-form files (``.jsonl`` and ``.form``) -> raw batches, complaints, dead letters, tallies."""

    def __init__(self, context):
        super().__init__()
        self.context = context

    def expand(self, files):
        return files | ReadChannel(parse_webform, self.context)
