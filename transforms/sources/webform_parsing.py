"""Web-form records into complaints, without Beam: the parse functions that the pipeline's readers
(``webforms.py``) and live reader use, and that the web-form endpoint (``ingest/webform_endpoint.py``) runs on
each post before it accepts it, so what the edge answers 202 is what the pipeline will not dead-letter for its
form.

Identity. A batch web-form file's record (``*.jsonl``, ``*.form``) is identified by its ``submission_id``, as the
contract says. A live message that carries an ``identity`` attribute (the endpoint sets one on every post it
accepts: ``v1.`` and 32 hex digits, a keyed hash of the form, the submission id, the content and the form token;
docs/operations/webform-endpoint.md) is identified by that instead, so a client's retry is one complaint while an
edited re-post, or another client's post under the same submission id, is another. ``source_record_id`` stays
the submission id either way.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from transforms.cleaning import parse_timestamp
from transforms.records import RecordError, new_complaint, raw_text
from transforms.sources.payloads import identifier_field, load_json_object, string_field, text_field

SOURCE = "webform"
FIELD_NAMES = ("full_name", "email", "phone", "account_number", "topic", "subject", "message")
#: the ``identity`` attribute the web-form endpoint gives a live message
IDENTITY_ATTRIBUTE = "identity"
IDENTITY_PATTERN = re.compile(r"v1\.[0-9a-f]{32}")


def _complaint_from_fields(raw_record: dict, submission_id, submitted_at, fields: dict) -> dict:
    event_time = parse_timestamp(string_field(submitted_at, "submitted_at"), "submitted_at")
    values = {name: text_field(fields.get(name), name) for name in FIELD_NAMES}
    return new_complaint(
        raw_record,
        identifier_field(submission_id, "submission_id"),
        event_time,
        values["message"],
        contacts={"account_number": values["account_number"], "msisdn": values["phone"], "email": values["email"]},
        subject=values["subject"],
        customer_topic=(values["topic"] or "").strip() or None,
        identity=live_identity(raw_record),
    )


def live_identity(raw_record: dict) -> str | None:
    """The endpoint's ``identity`` attribute of a live message (None for a file's record or a message without
    one: their identity is the submission id); an attribute that is not one the endpoint makes is refused."""
    if raw_record.get("source_file"):
        return None
    identity = (raw_record.get("attributes") or {}).get(IDENTITY_ATTRIBUTE)
    if identity is None:
        return None
    if not IDENTITY_PATTERN.fullmatch(identity):
        raise RecordError(
            "invalid_field",
            f"identity attribute {identity[:60]!r} is not one the web-form endpoint makes (v1. and 32 hex digits)",
        )
    return identity


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
