"""For the erasure tests: search every file under an output directory for a person's identifiers, as an auditor of
an erasure would (Parquet files by their decoded column values, Avro files (Iceberg manifests) by their decoded
records, every other file by its raw bytes; each text also URL-decoded and, when it is base64, decoded, with the
separators people put between a phone number's digits removed), and make a small warehouse of hand-made rows."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from pathlib import Path
from urllib.parse import unquote_plus

_BETWEEN_DIGITS = re.compile(r"(?<=\d)[ \-./()_+\u2010-\u2015]{1,2}(?=\d)")


def phone_spellings(e164: str) -> set[str]:
    """The digit strings a Nigerian number is written as (``+2348031234567``, ``2348031234567``, ``08031234567``)."""
    national = e164.removeprefix("+234")
    return {e164, e164.lstrip("+"), "0" + national}


def _views(text: str):
    yield text
    decoded = unquote_plus(text)
    if decoded != text:
        yield decoded
    stripped = text.strip()
    if len(stripped) >= 16 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", stripped):
        try:
            yield base64.b64decode(stripped, validate=False).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            pass


def _texts_of_parquet(path: Path):
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for column in table.columns:
        for value in column.to_pylist():
            if value is not None:
                yield str(value)


def _texts_of_avro(path: Path):
    import fastavro

    with open(path, "rb") as handle:
        for record in fastavro.reader(handle):
            yield repr(record)


def texts_under(root: Path):
    """(path, text) for every piece of text of every file under ``root``."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            pieces = _texts_of_parquet(path)
        elif path.suffix == ".avro":
            pieces = _texts_of_avro(path)
        else:
            pieces = [path.read_bytes().decode("latin-1")]
        for piece in pieces:
            yield path, piece


def find_identifiers(root: Path, needles: set[str]) -> list[tuple[str, str]]:
    """(file, needle) for every identifier of ``needles`` (compared without case) found under ``root``."""
    wanted = {needle.lower() for needle in needles if needle}
    found = set()
    for path, piece in texts_under(root):
        for view in _views(piece):
            lowered = view.lower()
            for candidate in {lowered, _BETWEEN_DIGITS.sub("", lowered)}:
                for needle in wanted:
                    if needle in candidate:
                        found.add((str(path.relative_to(root)), needle))
    return sorted(found)


def names_any(text: str | None, needles: set[str]) -> bool:
    """Does ``text`` (in any of the views above) hold one of ``needles`` (compared without case)?"""
    if not text:
        return False
    wanted = {needle.lower() for needle in needles if needle}
    for view in _views(text):
        lowered = view.lower()
        for candidate in (lowered, _BETWEEN_DIGITS.sub("", lowered)):
            if any(needle in candidate for needle in wanted):
                return True
    return False


# -- a small warehouse of hand-made complaints -------------------------------------------------------------
PERSON, OTHER = "BJN-00000001", "BJN-00000002"
DAY = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)


def complaint(complaint_id: str, customer: str | None, text: str = "no signal since morning") -> dict:
    """A ``complaints`` row of ``customer`` (an account number, or None) with every required column."""
    return {
        "complaint_id": complaint_id,
        "source": "sms",
        "source_record_id": complaint_id,
        "source_file": "sms/a.txt",
        "source_position": 1,
        "event_time": DAY,
        "ingested_at": DAY,
        "event_date": DAY.date(),
        "customer_id": customer,
        "customer_match": "account_number" if customer else "none",
        "contact_token": None,
        "language": "en",
        "text": text,
        "category": "Network",
        "category_confidence": 0.9,
        "sentiment_score": -0.5,
        "sentiment_label": "negative",
        "priority": "P3",
        "priority_reasons": [],
        "route_queue": "network",
        "flags": [],
        "model_version": "rules-1",
        "batch_id": "b1",
        "run_id": "r1",
        "schema_version": "1.2.0",
    }


def complaints_table(out):
    """The ``complaints`` Iceberg table of output directory ``out`` (created when missing)."""
    from schemas import tables
    from warehouse.catalog import CatalogConfig, ensure_table, open_catalog

    config = CatalogConfig(str(out / "warehouse"))
    return ensure_table(open_catalog(config), config, tables.COMPLAINTS)
