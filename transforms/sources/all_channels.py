"""``ReadAllChannels``: every channel's files (and the customer master) read in one Beam stage.

The batch pipeline reads all input files together, so that files of every channel balance across workers,
instead of one stage per channel that waits on its largest file. Each raw record is parsed by its channel's
parser (the same functions the per-channel ``Read*`` transforms use). Records travel in batches, never one by
one: a chunk of a file is parsed in one call, and its complaints leave already sorted into the shards of the
shuffle that follows, one pickled list per shard, so Beam's per-element cost is paid per list instead of per
complaint. SMS parts come out unjoined: the batch pipeline joins them after the shuffle
(``sms.AssembleSmsInBatches``).
"""

from __future__ import annotations

import functools

import apache_beam as beam

from transforms.dedupe import shard_of
from transforms.outcomes import DEAD_LETTER, ParseRawRecords
from transforms.packing import KeyedBytes, RecordBatch, pack
from transforms.sources import customers, phone_logs, sms, twitter, webforms
from transforms.sources.channel import read_raw_batches
from transforms.sources.files import ReadRawBatches

CUSTOMERS = "customers"


def parsers(call_centre_timezone: str = phone_logs.DEFAULT_TIMEZONE) -> dict:
    return {
        twitter.SOURCE: twitter.parse_tweet,
        webforms.SOURCE: webforms.parse_webform,
        sms.SOURCE: sms.parse_sms_part,
        phone_logs.SOURCE: functools.partial(phone_logs.parse_call, default_timezone=call_centre_timezone),
        customers.SOURCE: customers.parse_customer,
    }


class ParseByChannel:
    """A picklable parse function that dispatches on the raw record's source."""

    def __init__(self, call_centre_timezone: str):
        self.call_centre_timezone = call_centre_timezone
        self._parsers = parsers(call_centre_timezone)

    def __call__(self, raw_record: dict) -> dict:
        return self._parsers[raw_record["source"]](raw_record)

    def __getstate__(self):
        return {"call_centre_timezone": self.call_centre_timezone}

    def __setstate__(self, state):
        self.__init__(state["call_centre_timezone"])


def is_customer(record: dict) -> bool:
    return "complaint_id" not in record


class ParseIntoShardsFn(ParseRawRecords):
    """RecordBatch of raw records -> (shard, pickled list of that batch's complaints in the shard) for each shard
    it has complaints in; customer profiles -> ``CUSTOMERS`` (a RecordBatch); failures -> ``DEAD_LETTER``."""

    def __init__(self, parse_fn, shards: int):
        super().__init__(parse_fn)
        self.shards = shards

    def process(self, raw_batch):
        by_shard: dict[int, list] = {}
        profiles = []
        for raw_record in raw_batch.records:
            record, rejected = self.parse(raw_record)
            if rejected is not None:
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, rejected)
            elif is_customer(record):
                profiles.append(record)
            else:
                by_shard.setdefault(shard_of(record, self.shards), []).append(record)
        for shard, records in by_shard.items():
            yield shard, pack(records)
        if profiles:
            yield beam.pvalue.TaggedOutput(CUSTOMERS, RecordBatch(raw_batch.key, profiles))


class ReadAllChannels(beam.PTransform):
    """(source, path, display_path) for every input file -> raw_batches, complaint_shards ((shard, pickled list of
    complaints, SMS parts unjoined): group them with ``packing.GroupPackedLists``), customers (RecordBatches of
    profiles), dead_letters, tallies. ``reader`` reads a file into raw batches (``ReadRawBatches``, or the
    lake's reader for reprocessing)."""

    def __init__(
        self, context, shards: int, call_centre_timezone: str = phone_logs.DEFAULT_TIMEZONE, reader=ReadRawBatches
    ):
        super().__init__()
        self.context, self.shards, self.reader = context, shards, reader
        self.call_centre_timezone = call_centre_timezone

    def expand(self, files):
        raw_batches, read = read_raw_batches(files, self.context, self.reader)
        parsed = raw_batches | "ParseIntoShards" >> beam.ParDo(
            ParseIntoShardsFn(ParseByChannel(self.call_centre_timezone), self.shards)
        ).with_output_types(KeyedBytes).with_outputs(DEAD_LETTER, CUSTOMERS, main="complaint_shards")
        loaded = parsed[CUSTOMERS] | "CountCustomers" >> customers.CountLoaded()
        return {
            "raw_batches": raw_batches,
            "complaint_shards": parsed.complaint_shards,
            "customers": parsed[CUSTOMERS],
            "dead_letters": parsed[DEAD_LETTER],
            "tallies": (read, loaded) | "Tallies" >> beam.Flatten(),
        }
