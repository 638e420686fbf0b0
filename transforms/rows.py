"""Typed complaints: the curated complaint as a Beam schema type, derived from the Avro ``Complaint`` schema.

``Complaint`` is a ``NamedTuple`` with one field per field of ``schemas/avro/complaint.avsc``, in its order, and
Beam's ``RowCoder`` is registered for it, so a ``PCollection[Complaint]`` is schema-aware: ``beam.Select``,
``beam.GroupBy('category').aggregate_field(...)`` and the DataFrame API
(``apache_beam.dataframe.convert.to_dataframe``) work on it. Avro types map to Beam's: ``string`` -> ``str``,
``long``/``int`` -> ``int``, ``double`` -> ``float``, a ``["null", T]`` union -> ``Optional[T]``, an array ->
``Sequence``, ``timestamp-micros`` -> ``apache_beam.utils.timestamp.Timestamp`` (Beam's micros instant), ``date``
-> ``datetime.date``.

``SqlTransform`` (Beam's Java SQL, through an expansion service) reads every field but three: Beam SQL has no type
for the micros instants ``event_time`` and ``ingested_at`` (it refuses the whole table), and Java's schemas do not
know ``event_date``'s ``beam:logical_type:date:v1`` (SQL sees days since the epoch, BIGINT, and selecting the
column fails at run time). ``ToSqlRows()`` turns ``Complaint`` rows into ``SqlComplaint`` rows, where those three
are whole microseconds since the epoch (``event_time_micros``, ``ingested_at_micros``: BIGINT) and ISO text
(``event_date``: VARCHAR, ``CAST(event_date AS DATE)`` where SQL needs a date); every other field is as it is
(``flags`` and ``priority_reasons`` are ARRAY<VARCHAR>, ``Optional`` fields nullable columns).

The stages keep working on batches of dicts (their fast path); ``ToRows`` is the typed boundary.
"""

from __future__ import annotations

import datetime as dt
import typing

import apache_beam as beam
from apache_beam.utils.timestamp import Timestamp

import schemas
from transforms.stages import EnrichedBatch, stage_input


def _beam_type(avro_type):
    """The Python type Beam's schemas map to the field of Avro type ``avro_type``."""
    if isinstance(avro_type, list):
        (non_null,) = [t for t in avro_type if t != "null"]
        return typing.Optional[_beam_type(non_null)]  # noqa: UP045 - Beam's schemas read Optional, not X | None
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "timestamp-micros":
            return Timestamp
        if logical == "date":
            return dt.date
        if avro_type["type"] == "array":
            return typing.Sequence[_beam_type(avro_type["items"])]
        return _beam_type(avro_type["type"])
    return {"string": str, "long": int, "int": int, "double": float, "float": float, "boolean": bool, "bytes": bytes}[
        avro_type
    ]


def _fields(name: str) -> list[tuple[str, type]]:
    return [(field["name"], _beam_type(field["type"])) for field in schemas.avro_schema(name)["fields"]]


#: A curated complaint, one row of the warehouse table ``complaints`` (every field of the Avro schema).
Complaint = typing.NamedTuple("Complaint", _fields("Complaint"))
Complaint.__module__ = __name__
Complaint.__doc__ = "A curated complaint: the Avro ``Complaint`` schema as a Beam schema type (see the module)."
beam.coders.registry.register_coder(Complaint, beam.coders.RowCoder)

_TIMESTAMPS = [name for name, kind in _fields("Complaint") if kind is Timestamp]


def complaint_row(row: dict) -> Complaint:
    """A warehouse row (a dict of the schema's fields, as ``Enrich`` emits) -> ``Complaint``. ``event_date`` is
    the UTC date of ``event_time``."""
    values = dict(row)
    values["event_date"] = row["event_time"].astimezone(dt.UTC).date()
    for name in _TIMESTAMPS:
        values[name] = Timestamp.from_utc_datetime(row[name].astimezone(dt.UTC))
    return Complaint(**{name: values.get(name) for name in Complaint._fields})


class ToRows(beam.PTransform):
    """Turns ``Enrich``'s batches into typed rows: one ``Complaint`` per curated complaint.

    Takes the ``Stage`` that ``Enrich`` emits, batched or live (its dead letters and tallies stay where they
    are: this transform reads only its complaints) and emits a schema-aware ``PCollection[Complaint]``, one row
    per complaint the warehouse would hold. No arguments.
    """

    def expand(self, pvalueish):
        stage, live = stage_input(pvalueish, "ToRows()", EnrichedBatch)
        if live:
            return stage.complaints | "ToRows" >> beam.Map(complaint_row).with_output_types(Complaint)
        return stage.complaints | "ToRows" >> beam.FlatMap(
            lambda batch: [complaint_row(row) for row in batch.records]
        ).with_output_types(Complaint)


def _sql_field(name: str, kind) -> tuple[str, type]:
    if kind is Timestamp:
        return f"{name}_micros", int
    return name, (str if kind is dt.date else kind)


#: A curated complaint as Beam SQL reads it: ``Complaint`` with its instants as whole microseconds since the epoch
#: (``event_time_micros``, ``ingested_at_micros``) and ``event_date`` as ISO text (see the module).
SqlComplaint = typing.NamedTuple("SqlComplaint", [_sql_field(name, kind) for name, kind in _fields("Complaint")])
SqlComplaint.__module__ = __name__
SqlComplaint.__doc__ = "A curated complaint as Beam's Java SQL reads it (see the module)."
beam.coders.registry.register_coder(SqlComplaint, beam.coders.RowCoder)


def _sql_value(value):
    if isinstance(value, Timestamp):
        return value.micros
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def sql_row(row: Complaint) -> SqlComplaint:
    """``Complaint`` -> ``SqlComplaint``: its instants as whole microseconds since the epoch, its ``event_date`` as
    ISO text, every other field unchanged."""
    return SqlComplaint(*map(_sql_value, row))


class ToSqlRows(beam.PTransform):
    """Turns typed complaints into rows Beam SQL reads: one ``SqlComplaint`` per ``Complaint``.

    Takes the ``PCollection[Complaint]`` that ``ToRows()`` emits (anything else fails when the pipeline is built)
    and emits a schema-aware ``PCollection[SqlComplaint]`` for ``SqlTransform``: the same fields, except the two
    instants, which become ``event_time_micros`` and ``ingested_at_micros`` (whole microseconds since the epoch),
    and ``event_date``, which becomes its ISO text. No arguments.
    """

    def expand(self, rows):
        return rows | "ToSqlRows" >> beam.Map(sql_row).with_input_types(Complaint).with_output_types(SqlComplaint)
