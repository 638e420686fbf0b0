"""Phone logs: daily call-centre exports, CSV (``calls_YYYYMMDD.csv``) or XML (``calls_YYYYMMDD.xml``).

Identity is ``call_id``; event time the call's start. Times are local wall-clock times of the call centre:
Africa/Lagos unless the export says otherwise (the XML ``timezone`` attribute, a CSV ``timezone`` column, or an
explicit UTC offset on the time itself). The agent's notes are the complaint text.
"""

from __future__ import annotations

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from transforms.cleaning import parse_timestamp
from transforms.records import READ, RecordError, new_complaint, raw_text
from transforms.sources.files import local_name
from transforms.sources.payloads import parse_csv_row

SOURCE = "phone"
DEFAULT_TIMEZONE = "Africa/Lagos"
CSV_COLUMNS = (
    "call_id",
    "start_time",
    "end_time",
    "caller_number",
    "account_number",
    "agent_id",
    "queue",
    "wrap_up_code",
    "disposition",
    "notes",
)
XML_TAGS = {
    "start": "start_time",
    "end": "end_time",
    "caller": "caller_number",
    "account": "account_number",
    "agent": "agent_id",
    "queue": "queue",
    "wrap_up": "wrap_up_code",
    "disposition": "disposition",
    "notes": "notes",
}


def parse_call_xml(text: str) -> dict:
    """One ``<call>`` element -> {field: value}; parsed with entity expansion and external entities refused."""
    try:
        element = fromstring(text)
    except (SyntaxError, DefusedXmlException, ValueError) as error:
        raise RecordError("invalid_xml", f"malformed <call> element: {error}") from None
    if local_name(element.tag) != "call":
        raise RecordError("invalid_xml", f"expected a <call> element, found <{local_name(element.tag)}>")
    values = {"call_id": element.get("id")}
    for child in element:
        name = local_name(child.tag)
        if name in XML_TAGS:  # all the text inside, markup such as <b> in the notes included
            values[XML_TAGS[name]] = "".join(child.itertext()).strip()
    return values


def _optional(values: dict, name: str) -> str | None:
    value = (values.get(name) or "").strip()
    return value or None


def parse_call(raw_record: dict, default_timezone: str = DEFAULT_TIMEZONE) -> dict:
    """A CSV record or an XML ``<call>`` element -> complaint (working form)."""
    attributes = raw_record.get("attributes") or {}
    if attributes.get("error"):
        error_type = attributes.get("error_type") or (
            "xml_forbidden" if "Forbidden" in attributes["error"] else "malformed_export"
        )
        raise RecordError(error_type, attributes["error"], READ)
    text = raw_text(raw_record)
    if raw_record.get("offset") is not None or text.lstrip().startswith("<"):
        values = parse_call_xml(text)
    else:
        if "header" not in attributes:
            raise RecordError("missing_header", "CSV record without its export's header")
        values = parse_csv_row(text, attributes["header"])
    zone_name = _optional(values, "timezone") or attributes.get("timezone") or default_timezone
    start = parse_timestamp(values.get("start_time"), "start_time", local_zone=zone_name)
    end_text = _optional(values, "end_time")
    end = parse_timestamp(end_text, "end_time", local_zone=zone_name) if end_text else None
    duration = int((end - start).total_seconds()) if end else None
    complaint = new_complaint(
        raw_record,
        values.get("call_id"),
        start,
        values.get("notes"),
        contacts={"account_number": _optional(values, "account_number"), "msisdn": _optional(values, "caller_number")},
        agent_id=_optional(values, "agent_id"),
        call_queue=_optional(values, "queue"),
        wrap_up_code=_optional(values, "wrap_up_code"),
        disposition=_optional(values, "disposition"),
        call_duration_seconds=duration,
    )
    return complaint
