"""Composable Beam transforms for Beejan's complaint data: sources, cleaning, validation, enrichment, sinks.

The public API, shaped like ``apache_beam.io``::

    import apache_beam as beam
    from transforms import (Clean, Dedupe, Enrich, ReadFromChannelFiles, ToRows, Validate, WriteToLake,
                            WriteToWarehouse)
    from transforms.records import new_run_id  # the one run-id function (warehouse/runs.py)

    run_id = new_run_id()
    with beam.Pipeline() as p:
        read = p | ReadFromChannelFiles("in/", run_id=run_id)  # or ReadFromTwitter("in/twitter/*.jsonl"), ...
        in_lake = read.raw_batches | WriteToLake("out", run_id=run_id)
        enriched = read | Clean() | Validate() | Dedupe() | Enrich(customers=read.customers)
        enriched | WriteToWarehouse("out/warehouse", run_id=run_id, lake=in_lake)  # commits, once
        rows = enriched | ToRows()                             # PCollection[Complaint], schema-aware

Every stage takes and returns a ``Stage`` (complaints, dead letters, tallies): dead letters and tallies travel
beside the complaints, so nothing a stage rejects or counts falls out of the chain. A stage applied out of order
fails when the pipeline is built (``transforms.stages``).

Record logic lives in plain functions (easy to test without a pipeline); the PTransforms are thin wrappers.
Nothing here knows which runner it is on, and nothing changes process-wide state. Importing this package imports
no Beam: the public names load on first use, so the Beam-free modules (``transforms.cleaning``, used by the
web-form endpoint) stay light.
"""

from __future__ import annotations

import importlib

#: public name -> the module that defines it
_HOMES = {
    "ReadFromChannelFiles": "transforms.sources.readers",
    "ReadFromTwitter": "transforms.sources.readers",
    "ReadFromWebforms": "transforms.sources.readers",
    "ReadFromSms": "transforms.sources.readers",
    "ReadFromPhoneLogs": "transforms.sources.readers",
    "ReadCustomers": "transforms.sources.readers",
    "ChannelRead": "transforms.sources.readers",
    "CustomerRead": "transforms.sources.readers",
    "ParseMessages": "transforms.sources.messages",
    "Stage": "transforms.stages",
    "Clean": "transforms.stages",
    "Validate": "transforms.stages",
    "Dedupe": "transforms.stages",
    "Enrich": "transforms.stages",
    "ContactTokenKey": "transforms.enrichment",
    "ValidationRules": "transforms.validation",
    "QualityLimits": "transforms.run_checks",
    "Complaint": "transforms.rows",
    "ToRows": "transforms.rows",
    "SqlComplaint": "transforms.rows",
    "ToSqlRows": "transforms.rows",
    "WriteToLake": "transforms.warehouse_io",
    "WriteToWarehouse": "transforms.warehouse_io",
}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'transforms' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
