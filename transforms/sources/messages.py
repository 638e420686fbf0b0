"""Live channels: transport messages (Kafka records, Pub/Sub messages) into raw records and complaints.

A message becomes a ``RawRecord`` exactly as a line of a channel file does, so the lake keeps it verbatim and
the same parse functions turn it into a complaint. Its identity in the lake and the dead letter is the
transport's (``message_id``: ``<topic>/<partition>/<offset>`` for Kafka, the message id for Pub/Sub), and
``ingested_at`` is when the transport accepted it (the record's timestamp), so a replay of the same message
yields the same rows.
"""

from __future__ import annotations

import datetime as dt

import apache_beam as beam
from apache_beam.utils.timestamp import Timestamp

from transforms.outcomes import DEAD_LETTER, ParseRawRecords, count_tally
from transforms.records import PARSE, RecordError, decode_raw
from transforms.sources.twitter import parse_tweet
from transforms.sources.webforms import parse_webform

LIVE_SOURCES = ("twitter", "webform")
PARSERS = {"twitter": parse_tweet, "webform": parse_webform}


def message_record(
    source: str,
    payload: bytes,
    message_id: str,
    position: int | None,
    published_at: dt.datetime,
    attributes: dict | None,
    run_id: str,
    batch_id: str,
) -> dict:
    """One transport message -> a raw record (schema ``RawRecord``); undecodable bytes are kept as base64."""
    raw, encoding = decode_raw(payload if payload is not None else b"")
    return {
        "source": source,
        "source_file": None,
        "message_id": message_id,
        "line": None,
        "offset": position,
        "ingested_at": published_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "run_id": run_id,
        "batch_id": batch_id,
        "raw": raw,
        "raw_encoding": encoding,
        "attributes": {str(k): str(v) for k, v in (attributes or {}).items()},
    }


def _from_millis(millis) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(millis) / 1000, tz=dt.UTC)


def kafka_record(row, topic_sources: dict, run_id: str, batch_id: str) -> dict:
    """A Kafka record as ``ReadLiveTopics`` gives it (the fields of ``ReadFromKafka(with_metadata=True)``) -> raw
    record. Headers become attributes (``content_type`` tells a web form's body kind)."""
    attributes = {}
    for header in row.headers or []:
        key, value = (header.key, header.value) if hasattr(header, "key") else header
        attributes[key] = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value
    source = topic_sources.get(row.topic, f"unknown:{row.topic}")
    return message_record(
        source,
        row.value,
        f"{row.topic}/{row.partition}/{row.offset}",
        int(row.offset),
        _from_millis(row.timestamp),
        attributes,
        run_id,
        batch_id,
    )


def pubsub_record(message, source: str, run_id: str, batch_id: str) -> dict:
    """A ``PubsubMessage`` (read with attributes) -> raw record; its publish time is ``ingested_at``."""
    published = message.publish_time
    if published is None:  # only messages made by hand lack it; the service always sets it
        published_at = dt.datetime.now(dt.UTC)
    elif isinstance(published, Timestamp):
        published_at = published.to_utc_datetime(has_tz=True)
    else:
        published_at = published if published.tzinfo else published.replace(tzinfo=dt.UTC)
    return message_record(
        source,
        message.data,
        message.message_id or "",
        None,
        published_at,
        dict(message.attributes or {}),
        run_id,
        batch_id,
    )


def parse_message(raw_record: dict) -> dict:
    """Raw record of a live channel -> complaint (working form), by its source."""
    parse = PARSERS.get(raw_record["source"])
    if parse is None:
        raise RecordError(
            "unknown_source",
            f"no parser for source {raw_record['source']!r} (message {raw_record.get('message_id')})",
            PARSE,
        )
    return parse(raw_record)


class ParseMessages(beam.PTransform):
    """Parses the raw records of the live channels (Twitter/X, web forms), as the Kafka and Pub/Sub edges of
    ``transforms.sources.live`` read them, one complaint at a time.

    Takes raw records (dicts of the ``RawRecord`` schema) and emits the first ``Stage`` of a stream's chain: its
    complaints one by one (``ParsedRecord``), so ``Clean() | Validate() | Dedupe() | Enrich()`` follow. Every
    message read is tallied ``(source, read)`` and either parsed or dead-lettered with its reason. No arguments.
    """

    def expand(self, raw_records):
        from transforms.stages import ParsedRecord, Stage

        parsed = raw_records | "Parse" >> beam.ParDo(ParseRawRecords(parse_message)).with_output_types(
            ParsedRecord
        ).with_outputs(DEAD_LETTER, main="complaints")
        tallies = raw_records | "CountRead" >> beam.Map(lambda record: count_tally((record["source"], "read", ""), 1))
        return Stage(parsed.complaints, parsed[DEAD_LETTER], tallies)
