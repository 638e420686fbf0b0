"""Records cross a shuffle (or a Flatten) as one pickled ``bytes`` value each.

Beam's default coder for a dict walks it field by field and falls back to pickling each datetime on its own;
in the batch profile that encoding, at every Flatten and GroupByKey, cost more than the record logic itself.
Pickling the whole record once in C and declaring the element as ``(key, bytes)`` lets every runner move it
with its cheapest coders. Both ends run this same package, so the pickles always match.
"""
from __future__ import annotations

import pickle
import typing

import apache_beam as beam

KeyedBytes = typing.Tuple[typing.Any, bytes]


def pack(record) -> bytes:
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes):
    return pickle.loads(data)


class PackByKey(beam.PTransform):
    """record -> (key_fn(record), pickled record)."""

    def __init__(self, key_fn):
        super().__init__()
        self.key_fn = key_fn

    def expand(self, records):
        key_fn = self.key_fn
        return records | "Pack" >> beam.Map(lambda record: (key_fn(record), pack(record))).with_output_types(
            KeyedBytes)


class GroupPacked(beam.PTransform):
    """(key, pickled record) -> (key, [records])."""

    def expand(self, packed):
        return (packed
                | "Group" >> beam.GroupByKey()
                | "Unpack" >> beam.MapTuple(lambda key, group: (key, [unpack(data) for data in group])))


def group_by(records, label: str, key_fn):
    """Shorthand: key, pack, group and unpack one PCollection of records."""
    return records | f"{label}Pack" >> PackByKey(key_fn) | f"{label}Group" >> GroupPacked()
