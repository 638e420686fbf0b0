"""Helpers shared by every stage: deterministic identities, record errors and dead-letter records."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import schemas
from warehouse.runs import new_run_id  # noqa: F401 - the one run-id function, re-exported for transforms' users

# Stage names of the dead-letter contract.
READ, PARSE, CLEAN, VALIDATE, ENRICH, WRITE = "read", "parse", "clean", "validate", "enrich", "write"


class RecordError(Exception):
    """A record cannot continue: it goes to the dead letter with this stage, type and message."""

    def __init__(self, error_type: str, message: str, stage: str = PARSE):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stage = stage


def complaint_id(source: str, source_record_id: str) -> str:
    """Deterministic complaint identity: the same source record always gets the same id, in every run."""
    digest = hashlib.sha256(f"{source}:{source_record_id}".encode()).hexdigest()
    return f"{source[:2]}-{digest[:24]}"


def decode_raw(data: bytes) -> tuple[str, str]:
    """Return (raw, raw_encoding) for bytes read from a file: the text if it is valid UTF-8, else base64."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def raw_text(record: dict) -> str:
    """The raw record as text; raises RecordError for bytes that are not UTF-8 (the contract's encoding)."""
    if record["raw_encoding"] == "utf-8":
        return record["raw"]
    data = base64.b64decode(record["raw"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RecordError(
            "invalid_utf8", f"record is not valid UTF-8: {error.reason} at byte {error.start}", READ
        ) from None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def dead_letter(
    raw_record: dict,
    stage: str,
    error_type: str,
    message: str,
    *,
    source_record_id: str | None = None,
    failed_at: dt.datetime | None = None,
) -> dict:
    """Build a dead-letter record (schema ``DeadLetter``) for a raw record that failed at ``stage``."""
    position = raw_record.get("line") if raw_record.get("line") is not None else raw_record.get("offset")
    identity = (
        f"{raw_record['source']}|{raw_record.get('source_file')}|{raw_record.get('message_id')}|"
        f"{position}|{stage}|{error_type}"
    )
    return {
        "error_id": "dl-" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:24],
        "source": raw_record["source"],
        "stage": stage,
        "error_type": error_type,
        "error_message": message[:2000],
        "raw": raw_record["raw"],
        "raw_encoding": raw_record["raw_encoding"],
        "source_file": raw_record.get("source_file"),
        "message_id": raw_record.get("message_id"),
        "position": position,
        "source_record_id": source_record_id,
        "failed_at": failed_at or utc_now(),
        "ingest_date": dt.date.fromisoformat(raw_record["ingested_at"][:10]),
        "batch_id": raw_record["batch_id"],
        "run_id": raw_record["run_id"],
        "schema_version": schemas.SCHEMA_VERSION,
    }


def dead_letter_from_complaint(record: dict, error: RecordError) -> dict:
    """Dead-letter a parsed complaint (which carries its raw record under ``_raw``)."""
    return dead_letter(
        record["_raw"], error.stage, error.error_type, error.message, source_record_id=record.get("source_record_id")
    )


def parse_ingested_at(raw_record: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(raw_record["ingested_at"])


def new_complaint(
    raw_record: dict,
    source_record_id,
    event_time: dt.datetime,
    text: str | None,
    *,
    contacts: dict | None = None,
    identity: str | None = None,
    **fields,
) -> dict:
    """A parsed complaint in working form: schema fields known so far, plus ``_``-prefixed working fields
    (``_raw``: the raw record for dead-lettering, ``_contacts``: identifiers for customer linking).
    ``complaint_id`` comes from the source and ``identity`` (by default the ``source_record_id``): a channel
    whose record ids are unique only per sender passes the sender too."""
    if source_record_id is None or not str(source_record_id).strip():
        raise RecordError("missing_field", "missing source record id")
    source_record_id = str(source_record_id).strip()
    if len(source_record_id) > 200 or any(ch in source_record_id for ch in "\r\n\t"):
        raise RecordError("invalid_record_id", f"implausible record id {source_record_id[:60]!r}")
    source = raw_record["source"]
    position = raw_record.get("line") if raw_record.get("line") is not None else raw_record.get("offset")
    complaint = {
        "complaint_id": complaint_id(source, identity or source_record_id),
        "source": source,
        "source_record_id": source_record_id,
        "source_file": raw_record.get("source_file") or raw_record.get("message_id"),
        "source_position": position,
        "event_time": event_time,
        "ingested_at": parse_ingested_at(raw_record),
        "text": text or "",
        "language": None,
        "flags": [],
        "batch_id": raw_record["batch_id"],
        "run_id": raw_record["run_id"],
        "_raw": raw_record,
        "_contacts": contacts or {},
    }
    complaint.update(fields)
    return complaint


class RunContext:
    """What every record of one run carries: its run, its logical batch and when it was ingested."""

    def __init__(self, run_id: str, batch_id: str, ingested_at: dt.datetime, chunk_size: int = 10_000):
        self.run_id = run_id
        self.batch_id = batch_id
        self.ingested_at = ingested_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
        self.chunk_size = chunk_size
