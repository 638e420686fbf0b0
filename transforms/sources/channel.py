"""``ReadChannel``: the composite every channel source is built from.

files ``(source, path, display_path)`` -> ``raw_batches`` (chunks of raw records, for the lake),
``complaints`` (parsed, working form) and ``dead_letters`` (records that could not be parsed, with reasons).
"""
from __future__ import annotations

import apache_beam as beam

from transforms.outcomes import DEAD_LETTER, ParseRawRecords, count_tally
from transforms.packing import RecordBatch
from transforms.records import RunContext
from transforms.sources.files import ReadRawBatches


def read_tally(raw_batch: RecordBatch):
    source, _, _ = raw_batch.key
    return count_tally((source, "read", ""), len(raw_batch.records))


def read_raw_batches(files, context: RunContext, reader=ReadRawBatches):
    """Apply, inside the caller's composite, the steps every reading transform starts with: files -> raw batches
    (``ReadRawRecords``) and their ``(source, read, '')`` tallies (``CountRead``). Returns (raw_batches, tallies)."""
    raw_batches = files | "ReadRawRecords" >> beam.ParDo(
        reader(context.run_id, context.batch_id, context.ingested_at, context.chunk_size)
    ).with_output_types(RecordBatch)
    return raw_batches, raw_batches | "CountRead" >> beam.Map(read_tally)


class ReadChannel(beam.PTransform):
    """``reader`` is the DoFn class that turns a file into raw batches: ``ReadRawBatches`` for channel files, or
    ``lake.ReadLakeBatches`` to read the lake back for reprocessing."""

    def __init__(self, parse_fn, context: RunContext, label: str | None = None, reader=ReadRawBatches):
        super().__init__(label)
        self.parse_fn, self.context, self.reader = parse_fn, context, reader

    def expand(self, files):
        raw_batches, tallies = read_raw_batches(files, self.context, self.reader)
        parsed = (raw_batches
                  | "Unbatch" >> beam.FlatMap(lambda batch: batch.records)
                  | "Parse" >> beam.ParDo(ParseRawRecords(self.parse_fn)).with_outputs(
                      DEAD_LETTER, main="complaints"))
        return {"raw_batches": raw_batches, "complaints": parsed.complaints,
                "dead_letters": parsed[DEAD_LETTER], "tallies": tallies}
