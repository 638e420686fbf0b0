"""Thin Beam wrappers that give every stage the same outcome discipline.

Each record either continues (main output) or becomes a dead-letter record (``DEAD_LETTER`` output) with
its stage and reason; nothing is dropped. A record that trips an unexpected exception in our own code is
dead-lettered too (``unexpected_<ExceptionType>``), so one odd record never stops a run. Outcomes that are not
rows anywhere (duplicates, merged SMS parts) are emitted as tallies on ``TALLY``: ``((source, outcome,
reason), count)``; the run manifest sums them. Every outcome also increments a Beam counter.
"""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.garbage_collection import tune_worker_if_asked
from transforms.packing import RecordBatch
from transforms.records import RecordError, dead_letter, dead_letter_from_complaint

DEAD_LETTER = "dead_letter"
TALLY = "tally"
NAMESPACE = "complaints"

_LOG = logging.getLogger(__name__)


def count_tally(key: tuple, count: int) -> tuple:
    """Add a tally ``((source, outcome, reason), count)`` to its Beam counter and return it for the manifest."""
    source, outcome, reason = key
    name = f"{source}.{outcome}" + (f".{reason}" if reason else "")
    Metrics.counter(NAMESPACE, name).inc(count)
    return key, count


def as_record_error(error: Exception, stage: str) -> RecordError:
    if isinstance(error, RecordError):
        return error
    _LOG.warning("unexpected %s at stage %s: %s", type(error).__name__, stage, error)
    return RecordError(f"unexpected_{type(error).__name__}", f"{type(error).__name__}: {error}", stage)


class _CountingDoFn(beam.DoFn):
    """Counts outcomes per source in the bundle and adds them to Beam counters when the bundle finishes
    (one counter update per bundle instead of one per record)."""

    def __init__(self, stage: str):
        self.stage = stage
        self._pending: dict = {}

    def setup(self):
        tune_worker_if_asked()  # only when the worker's owner asked (transforms/garbage_collection.py)

    def start_bundle(self):
        self._pending = {}

    def count(self, source: str, outcome: str, n: int = 1):
        key = (source, outcome)
        self._pending[key] = self._pending.get(key, 0) + n

    def finish_bundle(self):
        for (source, outcome), n in self._pending.items():
            Metrics.counter(NAMESPACE, f"{source}.{self.stage}.{outcome}").inc(n)
        self._pending = {}


class ParseRawRecords(_CountingDoFn):
    """raw record -> complaint via ``parse_fn``; failures -> dead letter (stage from the error, else parse)."""

    def __init__(self, parse_fn):
        super().__init__("parse")
        self.parse_fn = parse_fn

    def parse(self, raw_record) -> tuple[dict | None, dict | None]:
        """(complaint, None), or (None, its dead letter)."""
        try:
            unreadable = (raw_record.get("attributes") or {}).get("read_error")
            if unreadable:
                raise RecordError("unreadable_file", unreadable, "read")
            complaint = self.parse_fn(raw_record)
        except Exception as error:  # noqa: BLE001 - every failure becomes a dead letter with its reason
            record_error = as_record_error(error, "parse")
            self.count(raw_record["source"], "rejected")
            return None, dead_letter(raw_record, record_error.stage, record_error.error_type, record_error.message)
        self.count(raw_record["source"], "parsed")
        return complaint, None

    def process(self, raw_record):
        complaint, rejected = self.parse(raw_record)
        if rejected is not None:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, rejected)
        else:
            yield complaint


class MapComplaints(_CountingDoFn):
    """complaint -> complaint via ``fn`` (cleaning, validation); failures -> dead letter at ``stage``."""

    def __init__(self, fn, stage: str, *fn_args):
        super().__init__(stage)
        self.fn, self.fn_args = fn, fn_args

    def apply(self, complaint, kept: list):
        """Append ``fn(complaint)`` to ``kept``, or yield the complaint's dead letter."""
        try:
            kept.append(self.fn(complaint, *self.fn_args))
        except Exception as error:  # noqa: BLE001
            self.count(complaint["source"], "rejected")
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER, dead_letter_from_complaint(complaint, as_record_error(error, self.stage))
            )

    def process(self, complaint):
        kept = []
        yield from self.apply(complaint, kept)
        yield from kept


class MapComplaintsInBatches(MapComplaints):
    """RecordBatch of complaints -> ``batch_class`` of what ``fn`` returned; failures -> dead letter at ``stage``."""

    def __init__(self, fn, stage: str, *fn_args, batch_class: type = RecordBatch):
        super().__init__(fn, stage, *fn_args)
        self.batch_class = batch_class

    def process(self, batch):
        kept = []
        for complaint in batch.records:
            yield from self.apply(complaint, kept)
        yield self.batch_class(batch.key, kept)


def apply_stage_to_batches(batches, label: str, fn, stage: str, *fn_args, batch_class: type = RecordBatch):
    """Like ``apply_stage``, on RecordBatches (shards); returns (``batch_class`` batches, dead_letters)."""
    outputs = batches | label >> beam.ParDo(
        MapComplaintsInBatches(fn, stage, *fn_args, batch_class=batch_class)
    ).with_output_types(batch_class).with_outputs(DEAD_LETTER, main="complaints")
    return outputs.complaints, outputs[DEAD_LETTER]


def apply_stage(pcoll, label: str, fn, stage: str, *fn_args, output_type=None):
    """Apply ``fn`` to each complaint; returns (complaints, dead_letters); ``output_type``: the complaints' type
    hint (None: Beam's default)."""
    stage_fn = beam.ParDo(MapComplaints(fn, stage, *fn_args))
    if output_type is not None:
        stage_fn = stage_fn.with_output_types(output_type)
    outputs = pcoll | label >> stage_fn.with_outputs(DEAD_LETTER, main="complaints")
    return outputs.complaints, outputs[DEAD_LETTER]
