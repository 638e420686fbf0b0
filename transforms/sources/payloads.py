"""Decoding one record's payload, shared by the channel parsers: a JSON object (tweets, web forms) and a CSV
row read with its file's own header (call-centre exports, the customer master)."""

from __future__ import annotations

import csv
import io

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
    """One CSV record (possibly multi-line) -> {column: value} using the export's own header.

    The record is read as ``csv`` reads a file opened with ``newline=""``: only LF, CRLF and a lone CR end its
    lines, so a form feed or a Unicode line separator (U+2028, NEL) in an unquoted field is text, as it was in the
    file (``str.splitlines`` would cut the record there)."""
    try:
        columns = next(csv.reader([header]))
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True)) or [[]]
    except csv.Error as error:
        raise RecordError("invalid_csv", f"malformed CSV record: {error}") from None
    if len(rows) != 1:
        raise RecordError("invalid_csv", f"expected one CSV record, found {len(rows)}")
    values = rows[0]
    if len(values) != len(columns):
        raise RecordError("wrong_field_count", f"expected {len(columns)} fields as in the header, found {len(values)}")
    return {name.strip().lower(): value for name, value in zip(columns, values, strict=True)}


def string_field(value, name: str) -> str | None:
    """An optional field that only a JSON string can be (a language tag, a user name, a timestamp)."""
    if value is None or isinstance(value, str):
        return value
    raise RecordError("invalid_field", f"{name} is not a string: {type(value).__name__} {str(value)[:60]!r}")


def text_field(value, name: str) -> str | None:
    """An optional text field of a JSON payload: a string, or a whole number sent as one (``"phone": 8031234567``);
    anything else (true, 1.5, a list, an object) is refused, since it would not fit the string column it lands in."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RecordError("invalid_field", f"{name} is not text: {type(value).__name__} {str(value)[:60]!r}")


def identifier_field(value, name: str) -> str | None:
    """A record's identity in a JSON payload: a string or a whole number, as exact text. A JSON number with a
    fraction or an exponent (``1.9000000000000005e+18``: a big id that went through a float) cannot hold an exact
    id and would collapse different records into false duplicates, so it is refused."""
    if isinstance(value, float):
        raise RecordError(
            "invalid_field",
            f"{name} {value!r} is a JSON number that cannot hold an exact identifier; send it as a string",
        )
    return text_field(value, name)
