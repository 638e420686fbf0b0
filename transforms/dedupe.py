"""Deduplication by deterministic ``complaint_id``, on shards of the complaint stream.

Complaints are grouped into ``shards`` by a hash of their complaint_id (SMS parts by their message's
sender, reference and part count, which every copy of that message shares), so every copy of a complaint meets
in one shard. Within a shard the first copy in input order (source file, then position) is kept and the others
are counted as duplicates; retweets are counted as duplicates outright. Working on shards (lists of complaints)
instead of single records keeps Beam's per-element cost off the hot path and gives enrichment and the
warehouse writer whole batches.
"""

from __future__ import annotations

import typing
import zlib

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindows

from transforms.outcomes import TALLY, count_tally
from transforms.packing import RecordBatch
from transforms.sources.sms import assembly_key


def shard_of(record: dict, shards: int) -> int:
    """The shard of a complaint, or of an SMS part still to be joined with the other parts of its message."""
    identity = assembly_key(record) if "_sms" in record else record["complaint_id"]
    return zlib.crc32(identity.encode("utf-8")) % shards


def dedupe(complaints: list[dict]) -> tuple[list[dict], dict[tuple, int]]:
    """Return (one complaint per complaint_id, in complaint_id order; tallies of what was removed)."""
    tallies: dict[tuple, int] = {}
    kept: dict[str, dict] = {}
    ordered = sorted(complaints, key=lambda c: (c["complaint_id"], c["source_file"] or "", c["source_position"] or 0))
    for complaint in ordered:
        reason = complaint.get("_duplicate_reason")
        if reason is None and complaint["complaint_id"] in kept:
            reason = "same_complaint_id"
        if reason is not None:
            key = (complaint["source"], "duplicates", reason)
            tallies[key] = tallies.get(key, 0) + 1
            continue
        kept[complaint["complaint_id"]] = complaint
    return list(kept.values()), tallies


class DedupeShards(beam.PTransform):
    """RecordBatch(shard, complaints) -> {'complaints': ``batch_class``(shard, unique complaints), 'tallies':
    duplicates counted by reason}."""

    def __init__(self, batch_class: type = RecordBatch):
        super().__init__()
        self.batch_class = batch_class

    def expand(self, shards):
        batch_class = self.batch_class

        def dedupe_shard(keyed):
            shard, complaints = keyed
            kept, tallies = dedupe(complaints)
            yield batch_class(shard, kept)
            for key, count in tallies.items():
                yield beam.pvalue.TaggedOutput(TALLY, count_tally(key, count))

        deduped = shards | "Dedupe" >> beam.FlatMap(dedupe_shard).with_output_types(batch_class).with_outputs(
            TALLY, main="complaints"
        )
        return {"complaints": deduped.complaints, "tallies": deduped[TALLY]}


class DedupeWithinHorizonFn(beam.DoFn):
    """(complaint_id, complaint) -> the first complaint with that id; later copies within the horizon are
    counted duplicates (``TALLY``). The id is remembered until the watermark passes the first copy's
    timestamp plus ``horizon_seconds``, so state stays bounded in a job that runs for months; with
    ``horizon_seconds`` None (a bounded run) it is remembered until the input ends."""

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, horizon_seconds: int | None):
        self.horizon_seconds = horizon_seconds

    def process(
        self,
        keyed,
        timestamp=beam.DoFn.TimestampParam,
        seen=beam.DoFn.StateParam(SEEN),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        _, complaint = keyed
        reason = complaint.get("_duplicate_reason")
        if reason is None and seen.read():
            reason = "same_complaint_id"
        if reason is not None:
            yield beam.pvalue.TaggedOutput(TALLY, count_tally((complaint["source"], "duplicates", reason), 1))
            return
        seen.write(True)
        if self.horizon_seconds is not None:
            expire.set(timestamp + self.horizon_seconds)
        yield complaint

    @on_timer(EXPIRE)
    def forget(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()


class DedupeWithinHorizon(beam.PTransform):
    """Timestamped complaints -> the same, without redeliveries, replays and retweets (as tallies).

    Works in the global window whatever the input's windowing, so a copy that arrives in another event window
    is still caught; {'complaints', 'tallies'}."""

    def __init__(self, horizon_seconds: int | None):
        super().__init__()
        self.horizon_seconds = horizon_seconds

    def expand(self, complaints):
        deduped = (
            complaints
            | "GlobalWindow" >> beam.WindowInto(GlobalWindows())
            | "KeyByComplaintId"
            >> beam.Map(lambda complaint: (complaint["complaint_id"], complaint)).with_output_types(
                beam.typehints.KV[str, typing.Any]
            )  # a deterministic key coder
            | "FirstCopyOnly"
            >> beam.ParDo(DedupeWithinHorizonFn(self.horizon_seconds)).with_outputs(TALLY, main="complaints")
        )
        return {"complaints": deduped.complaints, "tallies": deduped[TALLY]}
