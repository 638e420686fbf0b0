"""Records as the pipeline's readers produce them, for tests of the record functions."""

INGESTED_AT = "2026-11-26T12:00:00.000000+00:00"


def make_raw(
    source: str,
    raw: str | bytes,
    *,
    source_file: str = "file.jsonl",
    line: int | None = 1,
    offset: int | None = None,
    attributes: dict | None = None,
) -> dict:
    """A raw record as the readers produce it."""
    from transforms.records import decode_raw

    text, encoding = decode_raw(raw) if isinstance(raw, bytes) else (raw, "utf-8")
    return {
        "source": source,
        "source_file": source_file,
        "message_id": None,
        "line": line,
        "offset": offset,
        "ingested_at": INGESTED_AT,
        "run_id": "run-test",
        "batch_id": "btest",
        "raw": text,
        "raw_encoding": encoding,
        "attributes": attributes or {},
    }
