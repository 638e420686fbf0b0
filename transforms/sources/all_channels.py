"""``ReadAllChannels``: every channel's files (and the customer master) read in one Beam stage.

The batch pipeline reads all input files together, so that files of every channel balance across workers,
instead of one stage per channel that waits on its largest file. Each raw record is parsed by its channel's
parser (the same functions the per-channel ``Read*`` transforms use). SMS parts come out unjoined: the batch
pipeline joins them after grouping by message (``sms.AssembleSmsInBatches``).
"""
from __future__ import annotations

import functools

import apache_beam as beam

from transforms.sources import customers, phone_logs, sms, twitter, webforms
from transforms.sources.channel import ReadChannel
from transforms.sources.files import ReadRawBatches


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


class ReadAllChannels(beam.PTransform):
    """(source, path, display_path) for every input file -> raw_batches, complaints (SMS parts unjoined),
    customers (profiles), dead_letters, tallies. ``reader`` reads a file into raw batches (see ``ReadChannel``)."""

    def __init__(self, context, call_centre_timezone: str = phone_logs.DEFAULT_TIMEZONE, reader=ReadRawBatches):
        super().__init__()
        self.context, self.call_centre_timezone, self.reader = context, call_centre_timezone, reader

    def expand(self, files):
        read = files | ReadChannel(ParseByChannel(self.call_centre_timezone), self.context, reader=self.reader)
        split = read["complaints"] | "ComplaintsOrCustomers" >> beam.Partition(
            lambda record, _: int(is_customer(record)), 2)
        loaded = split[1] | "CountCustomers" >> customers.CountLoaded()
        return {"raw_batches": read["raw_batches"], "complaints": split[0], "customers": split[1],
                "dead_letters": read["dead_letters"],
                "tallies": (read["tallies"], loaded) | "Tallies" >> beam.Flatten()}
