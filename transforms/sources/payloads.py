"""Decoding one record's payload, shared by the channel parsers: a JSON object (tweets, web forms) and a CSV
row read with its file's own header (call-centre exports, the customer master)."""
from __future__ import annotations

import csv

import orjson

from transforms.records import RecordError


def load_json_object(text: str) -> dict:
    """A JSON object from a record's text; a leading byte-order mark (some webhook senders add one) is not
    content and is ignored."""
    try:
        payload = orjson.loads(text.removeprefix("\ufeff"))
    except orjson.JSONDecodeError as error:
        raise RecordError("invalid_json", f"not valid JSON ({error}); truncated or corrupt line?") from None
    if not isinstance(payload, dict):
        raise RecordError("invalid_json", f"expected a JSON object, got {type(payload).__name__}")
    return payload


def parse_csv_row(text: str, header: str) -> dict:
    """One CSV record (possibly multi-line) -> {column: value} using the export's own header."""
    try:
        columns = next(csv.reader([header]))
        rows = list(csv.reader(text.splitlines(keepends=True) or [""], strict=True))
    except csv.Error as error:
        raise RecordError("invalid_csv", f"malformed CSV record: {error}") from None
    if len(rows) != 1:
        raise RecordError("invalid_csv", f"expected one CSV record, found {len(rows)}")
    values = rows[0]
    if len(values) != len(columns):
        raise RecordError("wrong_field_count", f"expected {len(columns)} fields as in the header, found {len(values)}")
    return {name.strip().lower(): value for name, value in zip(columns, values)}
