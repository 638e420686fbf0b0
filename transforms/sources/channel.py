"""The first steps of every reader: files ``(source, path, display_path)`` -> ``raw_batches`` (chunks of raw
records, for the lake) and their ``(source, read, '')`` tallies. The public readers (``transforms.sources.readers``)
start with them, through ``all_channels.ReadAllChannels``.
"""

from __future__ import annotations

import apache_beam as beam

from transforms.outcomes import count_tally
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
