"""The one source of truth for record schemas.

Each record type is defined once, as an Avro schema in ``schemas/avro/*.avsc``. Everything else is derived
from those files here: the parsed Avro schema (checked by fastavro), the Arrow schema the Parquet files are
written with, and a ``TypedDict`` for type-checking record dicts. The Beam schema type of a curated complaint,
which needs Beam's own types, is derived from the same file in ``transforms/rows.py`` (``Complaint``).

Partition keys (``event_date``, ``ingest_date``) are part of the logical record. The warehouse's Iceberg tables
hold them as columns (``arrow_schema(name, include_partition_key=True)``, what ``warehouse/catalog.py`` creates
the tables from); a record's schema without them is what the pipeline's stages pass along.
"""

from __future__ import annotations

import datetime as _dt
import json
import typing
from functools import cache
from pathlib import Path

import fastavro
import pyarrow as pa

from schemas.tables import WAREHOUSE_TABLES

SCHEMA_VERSION = "1.2.0"  # 1.1: stream_counts window_start and pane_index; partition columns in the files
# 1.2: stream_counts and complaint_volume hold one row per run and window (the last firing's running total):
#      run_id instead of pane_index in their key; complaint_volume gained run_id

_AVRO_DIR = Path(__file__).parent / "avro"
_FILES = {
    "Complaint": "complaint.avsc",
    "DeadLetter": "dead_letter.avsc",
    "RawRecord": "raw_record.avsc",
    "ComplaintVolume": "complaint_volume.avsc",
    "Alert": "alert.avsc",
    "StreamCount": "stream_count.avsc",
    "Forecast": "forecast.avsc",
    "ForecastBacktest": "forecast_backtest.avsc",
    "ComplaintEvent": "complaint_event.avsc",
    "ReviewItem": "review_item.avsc",
}

#: The partition column of each warehouse table's schema.
PARTITION_KEYS = {table.schema: table.partition[0] for table in WAREHOUSE_TABLES.values()}


@cache
def avro_schema(name: str) -> dict:
    """The Avro schema of record type ``name`` as parsed by fastavro (raises if the .avsc is invalid)."""
    with open(_AVRO_DIR / _FILES[name], encoding="utf-8") as handle:
        return fastavro.parse_schema(json.load(handle))


def field_names(name: str) -> list[str]:
    return [field["name"] for field in avro_schema(name)["fields"]]


def _arrow_type(avro_type) -> tuple[pa.DataType, bool]:
    """Map an Avro type to (Arrow type, nullable)."""
    if isinstance(avro_type, list):
        non_null = [t for t in avro_type if t != "null"]
        if len(non_null) != 1:
            raise ValueError(f"only [null, T] unions are supported, got {avro_type}")
        arrow, _ = _arrow_type(non_null[0])
        return arrow, "null" in avro_type
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "timestamp-micros":
            return pa.timestamp("us", tz="UTC"), False
        if logical == "date":
            return pa.date32(), False
        if avro_type["type"] == "array":
            return pa.list_(_arrow_type(avro_type["items"])[0]), False
        if avro_type["type"] == "map":
            return pa.map_(pa.string(), _arrow_type(avro_type["values"])[0]), False
        return _arrow_type(avro_type["type"])
    primitive = {
        "string": pa.string(),
        "long": pa.int64(),
        "int": pa.int32(),
        "double": pa.float64(),
        "float": pa.float32(),
        "boolean": pa.bool_(),
        "bytes": pa.binary(),
    }
    return primitive[avro_type], False


@cache
def arrow_schema(name: str, include_partition_key: bool = False) -> pa.Schema:
    """The Arrow schema of the Parquet files of ``name`` (partition key excluded unless asked for)."""
    partition_key = PARTITION_KEYS.get(name)
    fields = []
    for field in avro_schema(name)["fields"]:
        if field["name"] == partition_key and not include_partition_key:
            continue
        arrow, nullable = _arrow_type(field["type"])
        fields.append(pa.field(field["name"], arrow, nullable=nullable))
    metadata = {"schema_name": name, "schema_version": SCHEMA_VERSION}
    return pa.schema(fields, metadata=metadata)


def arrow_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Record dicts as an Arrow table of ``schema`` (a field a record lacks is null)."""
    return pa.Table.from_pylist(rows, schema=schema)


def _python_type(avro_type):
    if isinstance(avro_type, list):
        non_null = [t for t in avro_type if t != "null"]
        return _python_type(non_null[0]) | None
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "timestamp-micros":
            return _dt.datetime
        if logical == "date":
            return _dt.date
        if avro_type["type"] == "array":
            return list[_python_type(avro_type["items"])]
        if avro_type["type"] == "map":
            return dict[str, _python_type(avro_type["values"])]
        return _python_type(avro_type["type"])
    return {"string": str, "long": int, "int": int, "double": float, "float": float, "boolean": bool, "bytes": bytes}[
        avro_type
    ]


def _fields_with_types(name: str) -> dict:
    return {field["name"]: _python_type(field["type"]) for field in avro_schema(name)["fields"]}


# Python record types derived from the Avro definitions. Records flow through the pipeline as plain dicts
# (cheap to build and pickle); these TypedDicts document and type-check them.
Complaint = typing.TypedDict("Complaint", _fields_with_types("Complaint"))
DeadLetter = typing.TypedDict("DeadLetter", _fields_with_types("DeadLetter"))
RawRecord = typing.TypedDict("RawRecord", _fields_with_types("RawRecord"))


def validate(name: str, record: dict) -> None:
    """Raise ``fastavro.validation.ValidationError`` if ``record`` does not match schema ``name``."""
    from fastavro.validation import validate as _validate

    _validate(record, avro_schema(name), raise_errors=True)
