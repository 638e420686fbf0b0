"""Reading the data lake back: its verbatim raw records, for reprocessing with today's rules and models.

A lake line (``OUT/lake/raw/source=S/ingest_date=D/*.jsonl``) is a ``RawRecord`` exactly as a channel file's
reader made it (``transforms/sources/files.py``) or as a live message arrived, so the channels' own parse
functions take it unchanged and a reprocessed record gets the ``complaint_id`` and ``error_id`` it had the first
time. Only ``run_id`` and ``batch_id`` change: they say which processing wrote the row. The record's
``ingested_at`` stays: it is when the record reached us.
"""

from __future__ import annotations

import apache_beam as beam
import orjson

from transforms.packing import RecordBatch
from transforms.sources.files import READ_ERROR, _open, chunked, lines_of, raw_records

#: The reprocessing pipeline lists lake files with this source and the customer master with its own.
LAKE = "lake"


def lake_source(path: str) -> str:
    """The channel of a lake file, from its ``source=...`` partition folder."""
    for part in path.split("/"):
        if part.startswith("source="):
            return part[len("source=") :]
    raise ValueError(f"{path} is not in a source=... partition of the lake")


def lake_records(path: str, display_path: str, *, run_id: str, batch_id: str, ingested_at: str):
    """The raw records of one lake file, in file order, marked as read by ``run_id`` / ``batch_id``.

    A line that is not a lake record (a damaged file, a hand edit) becomes a raw record of the file's channel with
    a read error (ingested at ``ingested_at``, the reprocessing's), so it reaches the dead letter with its reason
    instead of failing the run."""
    source = lake_source(path)
    with _open(path) as stream:
        for number, line in enumerate(lines_of(stream), start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                if not isinstance(record, dict) or not {"source", "raw", "raw_encoding"} <= record.keys():
                    raise ValueError("not a lake record")
            except ValueError as error:
                yield {
                    "source": source,
                    "source_file": display_path,
                    "message_id": None,
                    "line": number,
                    "offset": None,
                    "ingested_at": ingested_at,
                    "run_id": run_id,
                    "batch_id": batch_id,
                    "raw": line.decode("utf-8", errors="replace").rstrip("\r\n"),
                    "raw_encoding": "utf-8",
                    "attributes": {
                        READ_ERROR: f"line {number} of lake file {display_path} is not a lake record: {error}"
                    },
                }
                continue
            record["run_id"], record["batch_id"] = run_id, batch_id
            record["attributes"] = record.get("attributes") or {}
            yield record


class ReadLakeBatches(beam.DoFn):
    """(source, path, display_path) -> RecordBatch((source, display_path, chunk), raw records), like
    ``files.ReadRawBatches``: ``source`` ``lake`` is a lake file whose records are read back verbatim (its batches
    carry the channel's name); any other source is an input file (the customer master) read as usual."""

    def __init__(self, run_id: str, batch_id: str, ingested_at: str, chunk_size: int = 10_000):
        self.run_id, self.batch_id, self.ingested_at, self.chunk_size = run_id, batch_id, ingested_at, chunk_size

    def process(self, element):
        source, path, display_path = element
        if source == LAKE:
            source = lake_source(path)
            records = lake_records(
                path, display_path, run_id=self.run_id, batch_id=self.batch_id, ingested_at=self.ingested_at
            )
        else:
            records = raw_records(
                source, path, display_path, run_id=self.run_id, batch_id=self.batch_id, ingested_at=self.ingested_at
            )
        for number, chunk in enumerate(chunked(records, self.chunk_size)):
            yield RecordBatch((source, display_path, number), chunk)
