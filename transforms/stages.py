"""The one result shape every public stage takes and returns, so stages chain with ``|``.

A stage (``Clean``, ``Validate``, ``Dedupe``, ``Enrich``; a reader produces the first one) returns its good
complaints, and beside them every dead letter and every tally of the stages so far, so that nothing one stage
rejects or counts can fall out of the chain::

    read | Clean() | Validate() | Dedupe() | Enrich() | WriteToWarehouse(...)

``Stage`` is a ``NamedTuple`` of three PCollections. Beam treats a tuple of PCollections as a transform's input
and output, so ``stage | NextStage()`` hands the whole tuple to ``NextStage.expand``, which reads the three
fields by name.
"""
from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam


class Stage(NamedTuple):
    """What a stage emits.

    complaints: the complaints that went through the stage, batched (``transforms.packing.RecordBatch``
        elements, each the complaints of one shard: every copy of a complaint_id is in the same shard).
    dead_letters: every record rejected so far, one dead-letter dict (the ``dead_letter`` table's row) each.
    tallies: ``((source, outcome, reason), count)`` for every outcome counted so far that is not a row anywhere
        (records read, duplicates, merged SMS parts, flags); the run manifest and the balance check sum them.
    """

    complaints: beam.PCollection
    dead_letters: beam.PCollection
    tallies: beam.PCollection
