"""SMS: hourly gateway exports (``received_at|msisdn|shortcode|message_id|concat_ref|part|parts|body``).

A message longer than one SMS arrives as several parts sharing ``concat_ref`` per sender; parts can arrive
out of order and in different hourly files. ``parse_sms_part`` turns a line into a part; ``assemble_parts``
joins the parts of one sender and reference into complaints. A set still incomplete after the timeout is
emitted with the ``partial_sms`` flag; a part repeated with the same ``message_id`` is a counted duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import apache_beam as beam

from transforms.cleaning import normalise_phone, parse_timestamp
from transforms.outcomes import TALLY, count_tally
from transforms.packing import RecordBatch
from transforms.records import RecordError, new_complaint, raw_text

SOURCE = "sms"
FIELDS = ("received_at", "msisdn", "shortcode", "message_id", "concat_ref", "part", "parts", "body")
MAX_PARTS = 255


def _int_field(value: str, name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise RecordError("invalid_field", f"{name} is not a whole number: {value[:20]!r}") from None


def parse_sms_part(raw_record: dict) -> dict:
    """One export line -> one SMS part (a complaint in working form, with ``_sms`` part details)."""
    line = raw_text(raw_record)
    values = line.split("|", len(FIELDS) - 1)
    if len(values) != len(FIELDS):
        raise RecordError("wrong_field_count", f"expected {len(FIELDS)} '|'-separated fields, found {len(values)}")
    record = dict(zip(FIELDS, values, strict=True))
    if not record["message_id"].strip():
        raise RecordError("missing_field", "missing message_id")
    if not record["msisdn"].strip():
        raise RecordError("missing_field", "missing msisdn")
    received_at = parse_timestamp(record["received_at"], "received_at")
    part, parts = _int_field(record["part"], "part"), _int_field(record["parts"], "parts")
    if not 1 <= parts <= MAX_PARTS or not 1 <= part <= parts:
        raise RecordError("invalid_part_numbers", f"part {part} of {parts} is not a valid part number")
    sender = normalise_phone(record["msisdn"]) or record["msisdn"].strip()
    concat_ref = record["concat_ref"].strip()
    # a gateway's message ids are unique per sender only: two senders' "msg-1" are two complaints
    complaint = new_complaint(
        raw_record,
        record["message_id"],
        received_at,
        record["body"],
        contacts={"msisdn": record["msisdn"]},
        identity=f"{sender}|{record['message_id'].strip()}",
    )
    complaint["_sms"] = {
        "sender": sender,
        "concat_ref": concat_ref,
        "part": part,
        "parts": parts,
        "message_id": record["message_id"].strip(),
        "shortcode": record["shortcode"].strip(),
    }
    if parts == 1:
        complaint["sms_parts_expected"] = complaint["sms_parts_received"] = 1
    return complaint


def is_multipart(part: dict) -> bool:
    return part["_sms"]["parts"] > 1


def assembly_key(part: dict) -> str:
    sms = part["_sms"]
    return f"{sms['sender']}|{sms['concat_ref']}|{sms['parts']}"


def assemble_parts(parts: list[dict], timeout: dt.timedelta) -> tuple[list[dict], int, int]:
    """Join the parts of one (sender, concat_ref, parts) key into complaints.

    Returns (complaints, merged_parts, duplicate_parts). Parts are taken in time order; a part number seen
    again with a different message_id, or a gap longer than ``timeout`` since the message's first part,
    starts a new message (references are reused by phones). The complaint takes the first part's identity
    (its message_id, or sender+reference when part 1 is missing) and event time; its text is the parts'
    bodies in part order; its raw record holds every part's line, so a rejection later keeps all of them.
    """
    ordered = sorted(parts, key=lambda p: (p["event_time"], p["_sms"]["part"], p["_sms"]["message_id"]))
    messages: list[dict[int, dict]] = []
    seen_ids: set[str] = set()
    duplicates = 0
    for part in ordered:
        sms = part["_sms"]
        if sms["message_id"] in seen_ids:
            duplicates += 1
            continue
        seen_ids.add(sms["message_id"])
        current = messages[-1] if messages else None
        if (
            current is None
            or sms["part"] in current
            or part["event_time"] - min(p["event_time"] for p in current.values()) > timeout
        ):
            messages.append({})
            current = messages[-1]
        current[sms["part"]] = part
    complaints = [_join(message) for message in messages]
    merged = sum(len(message) - 1 for message in messages)
    return complaints, merged, duplicates


def _join(message: dict[int, dict]) -> dict:
    numbers = sorted(message)
    first = message[numbers[0]]
    expected = first["_sms"]["parts"]
    earliest = min(part["event_time"] for part in message.values())
    sender = first["_sms"]["sender"]
    if 1 in message:
        record_id = message[1]["_sms"]["message_id"]
    else:  # no first part, so no message id: the sender (as a digest: ids are not masked) and the reference
        sender_digest = hashlib.sha256(sender.encode("utf-8")).hexdigest()[:12]
        record_id = f"partial-{sender_digest}:{first['_sms']['concat_ref']}:{earliest.isoformat()}"
    raw = dict(first["_raw"])
    raw["raw"] = "\n".join(message[n]["_raw"]["raw"] for n in numbers)
    complaint = new_complaint(
        raw,
        record_id,
        earliest,
        "".join(message[n]["text"] for n in numbers),
        contacts=first["_contacts"],
        identity=f"{sender}|{record_id}",
    )
    complaint["sms_parts_expected"] = expected
    complaint["sms_parts_received"] = len(numbers)
    complaint["_sms"] = {**first["_sms"], "part": numbers[0], "parts_received": numbers}
    if len(numbers) < expected:
        complaint["flags"].append("partial_sms")
    return complaint


def assemble_batch(records: list[dict], timeout: dt.timedelta) -> tuple[list[dict], dict[tuple, int]]:
    """Join the SMS parts in a batch of records (other records pass through); returns (records, tallies)."""
    messages: dict[str, list[dict]] = {}
    out = []
    for record in records:
        if "_sms" in record and is_multipart(record) and "parts_received" not in record["_sms"]:  # unjoined part
            messages.setdefault(assembly_key(record), []).append(record)
        else:
            out.append(record)
    tallies = {(SOURCE, "merged_parts", ""): 0, (SOURCE, "duplicates", "repeated_sms_part"): 0}
    for key in sorted(messages):
        complaints, merged, duplicates = assemble_parts(messages[key], timeout)
        out.extend(complaints)
        tallies[(SOURCE, "merged_parts", "")] += merged
        tallies[(SOURCE, "duplicates", "repeated_sms_part")] += duplicates
    return out, {key: n for key, n in tallies.items() if n}


class AssembleSmsInBatches(beam.PTransform):
    """RecordBatch of complaints and SMS parts -> RecordBatch with every SMS part joined into its message.
    Needs the batch to hold all parts of a message (``dedupe.shard_of`` shards parts by message)."""

    def __init__(self, timeout: dt.timedelta):
        super().__init__()
        self.timeout = timeout

    def expand(self, batches):
        timeout = self.timeout

        def assemble(batch):
            records, tallies = assemble_batch(batch.records, timeout)
            yield RecordBatch(batch.key, records)
            for key, count in tallies.items():
                yield beam.pvalue.TaggedOutput(TALLY, count_tally(key, count))

        outputs = batches | "JoinParts" >> beam.FlatMap(assemble).with_output_types(RecordBatch).with_outputs(
            TALLY, main="complaints"
        )
        return {"complaints": outputs.complaints, "tallies": outputs[TALLY]}
