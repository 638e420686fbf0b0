"""Finding one raw record in the data lake (``OUT/lake/raw/source=S/ingest_date=D/*.jsonl``), by where it was read
from: the file (or live message id) and the line (or offset). No Beam: the review queue shows a record's
original text with it, and re-injects a corrected copy of it."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

from schemas import tables


def _lines(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        yield from stream


def find_raw_record(
    output_dir: str | Path,
    source: str,
    reference: str | None,
    position: int | None,
    ingest_day: dt.date,
    batch_id: str | None = None,
    with_day: bool = False,
):
    """The lake record of ``source`` read from ``reference`` (its ``source_file``, or for a live message its
    ``message_id``) at ``position`` (its ``line``, or ``offset``); None when the lake holds no such record
    (expired, or the lake is elsewhere). A batch's lake files are named after its ``batch_id`` in the partition
    of its batch date, so those are read first; then the partition of ``ingest_day`` (when it arrived). With
    ``with_day``, (the record, the day of the partition it is in)."""
    channel = Path(output_dir) / tables.LAKE.path / f"source={source}"
    candidates = sorted(channel.glob(f"ingest_date=*/{batch_id}-*.jsonl*")) if batch_id else []
    candidates += [
        path
        for path in sorted((channel / f"ingest_date={ingest_day.isoformat()}").glob("*.jsonl*"))
        if path not in candidates
    ]
    for path in candidates:
        for line in _lines(path):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            where = record.get("line") if record.get("line") is not None else record.get("offset")
            if (record.get("source_file") or record.get("message_id")) == reference and where == position:
                day = dt.date.fromisoformat(path.parent.name.removeprefix("ingest_date="))
                return (record, day) if with_day else record
    return None
