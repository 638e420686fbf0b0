"""How records cross Beam's boundaries cheaply: one pickle per record, or one ``RecordBatch`` per group.

Beam's default coder for a dict walks it field by field and falls back to pickling each datetime on its own.
Worse, Beam estimates element sizes for its metrics by encoding sampled elements, and with only a handful of
elements per PCollection (one per shard) it samples every one: a shard of 25,000 complaints was encoded in
full after each step. So:

- single records cross a Flatten or shuffle as ``(key, bytes)``, pickled once in C (``PackByKey``);
- where a step already holds many records with the same key (a chunk of a file sorted into shards), they cross
  as ``(key, one pickled list)`` and ``GroupPackedLists`` joins the lists, so Beam's cost is per list;
- groups of records travel as ``RecordBatch``, whose registered coder pickles once and estimates its size
  from the record count instead of encoding it.

Both ends run this same package, so the pickles always match.
"""

from __future__ import annotations

import pickle
import typing

import apache_beam as beam

KeyedBytes = tuple[typing.Any, bytes]
ESTIMATED_BYTES_PER_RECORD = 1024  # for Beam's size metrics only


def pack(record) -> bytes:
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes):
    return pickle.loads(data)


class RecordBatch:
    """A key and a list of records; unpacks like a ``(key, records)`` pair."""

    __slots__ = ("key", "records")

    def __init__(self, key, records: list):
        self.key, self.records = key, records

    def __iter__(self):
        return iter((self.key, self.records))

    def __len__(self):
        return len(self.records)

    def __eq__(self, other):
        return isinstance(other, RecordBatch) and (self.key, self.records) == (other.key, other.records)

    def __repr__(self):
        return f"{type(self).__name__}({self.key!r}, {len(self.records)} records)"


class RecordBatchCoder(beam.coders.Coder):
    """Pickles a batch once; decodes to the batch class it was made for (``RecordBatch`` or a subclass, such as
    the typed batches of ``transforms.stages``), so a stage's element type survives a shuffle."""

    def __init__(self, batch_class: type = RecordBatch):
        self.batch_class = batch_class

    @classmethod
    def from_type_hint(cls, typehint, unused_registry):
        return cls(typehint if isinstance(typehint, type) and issubclass(typehint, RecordBatch) else RecordBatch)

    def encode(self, value: RecordBatch) -> bytes:
        return pickle.dumps((value.key, value.records), protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes) -> RecordBatch:
        return self.batch_class(*pickle.loads(encoded))

    def estimate_size(self, value) -> int:
        return ESTIMATED_BYTES_PER_RECORD * len(getattr(value, "records", ()) or ())

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self):
        return self.batch_class

    def __eq__(self, other):
        return type(self) is type(other) and self.batch_class is other.batch_class

    def __hash__(self):
        return hash((type(self), self.batch_class))


beam.coders.registry.register_coder(RecordBatch, RecordBatchCoder)


class PackByKey(beam.PTransform):
    """record -> (key_fn(record), pickled record)."""

    def __init__(self, key_fn):
        super().__init__()
        self.key_fn = key_fn

    def expand(self, records):
        key_fn = self.key_fn
        return records | "Pack" >> beam.Map(lambda record: (key_fn(record), pack(record))).with_output_types(KeyedBytes)


class GroupPacked(beam.PTransform):
    """(key, pickled record) -> RecordBatch(key, records)."""

    def expand(self, packed):
        return (
            packed
            | "Group" >> beam.GroupByKey()
            | "Unpack"
            >> beam.MapTuple(lambda key, group: RecordBatch(key, [unpack(data) for data in group])).with_output_types(
                RecordBatch
            )
        )


class GroupPackedLists(beam.PTransform):
    """(key, pickled list of records) -> ``batch_class``(key, the records of every list with that key)."""

    def __init__(self, batch_class: type = RecordBatch):
        super().__init__()
        self.batch_class = batch_class

    def expand(self, packed):
        batch_class = self.batch_class
        return (
            packed
            | "Group" >> beam.GroupByKey()
            | "Unpack"
            >> beam.MapTuple(
                lambda key, group: batch_class(key, [record for data in group for record in unpack(data)])
            ).with_output_types(batch_class)
        )
