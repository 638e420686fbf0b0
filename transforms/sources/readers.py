"""The public readers: channel files in, the first ``Stage`` of the chain out.

``ReadFromChannelFiles(input_dir)`` reads a whole input directory in the documented layout (``twitter/``,
``webforms/``, ``sms/``, ``phone_logs/``, ``customers/``); ``ReadFromTwitter``, ``ReadFromWebforms``,
``ReadFromSms`` and ``ReadFromPhoneLogs`` read one channel's files from a file pattern, ``ReadCustomers`` the
customer master. All of them read every file in one Beam stage (files of every channel balance across workers),
parse each chunk of a file in one call, and hand their complaints on already grouped into shards, every copy of
a complaint and every part of an SMS message in the same shard: the batched fast path that the stages after them
keep.

A reader's result is a ``ChannelRead``: the first ``Stage`` (``complaints``, ``dead_letters``, ``tallies``) plus
``raw_batches`` (every raw record as read, in chunks, for the lake writer) and ``customers`` (customer profiles,
for ``Enrich(customers=...)``). ``read | Clean()`` chains like any Stage.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import apache_beam as beam

from transforms.packing import GroupPackedLists
from transforms.records import RunContext, new_run_id
from transforms.sources import layout
from transforms.sources.all_channels import ReadAllChannels
from transforms.sources.files import ReadRawBatches
from transforms.sources.phone_logs import DEFAULT_TIMEZONE
from transforms.stages import ParsedBatch, Stage, mark_run, mark_whole_shards

DEFAULT_CHUNK_SIZE = 10_000


class ChannelRead(NamedTuple):
    """What a reader emits: the first ``Stage`` of the chain, and what the lake writer and ``Enrich`` need.

    complaints: ``ParsedBatch`` shards of parsed complaints (SMS parts not yet joined: ``Clean`` joins them).
    dead_letters: dead-letter dicts of the records that could not be read or parsed.
    tallies: ``((source, "read", ""), n)`` per chunk read, and ``(customers, loaded)``.
    raw_batches: ``RecordBatch((source, display_path, chunk), raw records)``: every record exactly as read.
    customers: ``RecordBatch`` of customer profiles (empty when no customer master was read).
    """

    complaints: beam.PCollection
    dead_letters: beam.PCollection
    tallies: beam.PCollection
    raw_batches: beam.PCollection
    customers: beam.PCollection

    @property
    def stage(self) -> Stage:
        return Stage(self.complaints, self.dead_letters, self.tallies)


class CustomerRead(NamedTuple):
    """What ``ReadCustomers`` emits: ``profiles`` (``RecordBatch`` of customer profiles), the ``dead_letters`` of
    rows that could not be parsed, and ``tallies`` (rows read, profiles loaded)."""

    profiles: beam.PCollection
    dead_letters: beam.PCollection
    tallies: beam.PCollection


class _ReadFiles(beam.PTransform):
    """The readers' shared expansion: the files that ``files()`` lists -> ``ChannelRead``."""

    def __init__(
        self,
        *,
        run_id: str | None = None,
        batch_id: str | None = None,
        ingested_at: dt.datetime | None = None,
        shards: int | None = None,
        call_centre_timezone: str = DEFAULT_TIMEZONE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        reader: type = ReadRawBatches,
    ):
        super().__init__()
        self.run_id, self.batch_id, self.ingested_at = run_id, batch_id, ingested_at
        self.shards, self.call_centre_timezone, self.chunk_size = shards, call_centre_timezone, chunk_size
        self.reader = reader

    def files(self) -> list[layout.InputFile]:
        raise NotImplementedError

    def default_batch_id(self, ingested_at: dt.datetime) -> str:
        raise NotImplementedError

    def expand(self, pbegin) -> ChannelRead:
        files = self.files()
        ingested_at = self.ingested_at or dt.datetime.now(dt.UTC)
        context = RunContext(
            self.run_id or new_run_id(ingested_at),
            self.batch_id or self.default_batch_id(ingested_at),
            ingested_at,
            self.chunk_size,
        )
        shards = self.shards or layout.default_shards(files)
        read = (
            pbegin
            | "ListInputFiles" >> beam.Create([(f.source, f.path, f.display_path) for f in files])
            | "SpreadInputFiles" >> beam.Reshuffle()
            | "ReadAllChannels" >> ReadAllChannels(context, shards, self.call_centre_timezone, self.reader)
        )
        complaints = read["complaint_shards"] | "GroupIntoShards" >> GroupPackedLists(ParsedBatch)
        mark_whole_shards(complaints, shards)
        tallies = mark_run(read["tallies"], context)
        return ChannelRead(complaints, read["dead_letters"], tallies, read["raw_batches"], read["customers"])


class ReadFromChannelFiles(_ReadFiles):
    """Reads an input directory in the documented layout: every channel's files and the customer master.

    The files read are those of ``transforms.sources.layout.discover_inputs``: ``twitter/*.jsonl``,
    ``webforms/*.jsonl`` and ``*.form``, ``sms/*.txt``, ``phone_logs/*.csv`` and ``*.xml`` (each also gzipped),
    ``customers/*.csv``; files directly in the channel folders, not links to outside the directory. Every
    record of every file ends somewhere: a complaint, a dead letter (with its reason), or a customer profile.

    Args:
      input_dir: the input directory (a local path or a ``gs://`` URL).
      include: shell globs of the files to read, relative to ``input_dir`` (``sms/*``); the customer master is
        always read. Default None: every file.
      run_id: the run id every record and dead letter carries. Default: a new one (start time and random digits).
      batch_id: the logical batch every record carries (the lake's file names). Default: from the input's
        resolved path and the ingestion date, so a rerun of the same input on the same day gets the same one.
      ingested_at: when the records were ingested (an aware datetime; validation judges lateness against it).
        Default: now.
      shards: how many shards complaints are grouped into. Default: one per ~32 MB of input, at least 8.
      call_centre_timezone: the time zone of call-centre times written without an offset. Default
        ``Africa/Lagos``.
      chunk_size: raw records per chunk (and per lake file). Default 10,000.
      files: the ``layout.InputFile`` list to read instead of listing ``input_dir`` (a launcher that listed it
        already, to record what it read). Default None.
      reader: the DoFn class that reads one file into raw batches. Default ``files.ReadRawBatches`` (channel
        files); ``lake.ReadLakeBatches`` reads lake files back.

    Emits a ``ChannelRead``; ``read | Clean()`` starts the chain. Raises ``FileNotFoundError`` at construction
    when the directory holds no channel file.
    """

    def __init__(
        self,
        input_dir: str,
        include: list[str] | None = None,
        *,
        run_id: str | None = None,
        batch_id: str | None = None,
        ingested_at: dt.datetime | None = None,
        shards: int | None = None,
        call_centre_timezone: str = DEFAULT_TIMEZONE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        files: list[layout.InputFile] | None = None,
        reader: type = ReadRawBatches,
    ):
        super().__init__(
            run_id=run_id,
            batch_id=batch_id,
            ingested_at=ingested_at,
            shards=shards,
            call_centre_timezone=call_centre_timezone,
            chunk_size=chunk_size,
            reader=reader,
        )
        self.input_dir, self.include, self._files = input_dir, include, files

    def files(self) -> list[layout.InputFile]:
        files = self._files if self._files is not None else layout.discover_inputs(self.input_dir, self.include)
        if not any(f.source != "customers" for f in files):
            raise FileNotFoundError(
                f"no channel files under {self.input_dir} (expected twitter/, webforms/, sms/, phone_logs/)"
            )
        return files

    def default_batch_id(self, ingested_at: dt.datetime) -> str:
        return layout.default_batch_id(self.input_dir, ingested_at.date())


class _ReadPattern(_ReadFiles):
    SOURCE = ""

    def __init__(self, file_pattern: str, **options: object):
        super().__init__(**options)
        self.file_pattern = file_pattern

    def files(self) -> list[layout.InputFile]:
        return layout.match_channel_files(self.file_pattern, self.SOURCE)

    def default_batch_id(self, ingested_at: dt.datetime) -> str:
        return layout.default_batch_id(self.file_pattern, ingested_at.date())


class ReadFromTwitter(_ReadPattern):
    """Reads Twitter/X filtered-stream payloads (JSON lines, ``.jsonl`` or ``.jsonl.gz``).

    Each file's records are recorded as ``twitter/<file name>``, as ``ReadFromChannelFiles`` records them, so the
    same file gives the same complaints whichever reader read it. Every record ends somewhere: a complaint or a
    dead letter with its reason.
    A retweet is marked here and counted as a duplicate by ``Dedupe``.

    Args:
      file_pattern: a path, a directory (the files directly in it) or a glob (``in/twitter/*.jsonl``), local or ``gs://``.
      **options: ``ReadFromChannelFiles``'s keyword arguments ``run_id``, ``batch_id``, ``ingested_at``,
        ``shards``, ``call_centre_timezone``, ``chunk_size``, with the same defaults.

    Emits a ``ChannelRead``; ``read | Clean()`` starts the chain. Raises ``FileNotFoundError`` at construction
    when nothing matches.
    """

    SOURCE = "twitter"


class ReadFromWebforms(_ReadPattern):
    """Reads web-form submissions (webhook JSON lines ``.jsonl``, urlencoded bodies ``.form``).

    Each file's records are recorded as ``webforms/<file name>``, as ``ReadFromChannelFiles`` records them, so the
    same file gives the same complaints whichever reader read it. Every record ends somewhere: a complaint or a
    dead letter with its reason.

    Args:
      file_pattern: a path, a directory (the files directly in it) or a glob (``in/webforms/*.jsonl``), local or ``gs://``.
      **options: ``ReadFromChannelFiles``'s keyword arguments ``run_id``, ``batch_id``, ``ingested_at``,
        ``shards``, ``call_centre_timezone``, ``chunk_size``, with the same defaults.

    Emits a ``ChannelRead``; ``read | Clean()`` starts the chain. Raises ``FileNotFoundError`` at construction
    when nothing matches.
    """

    SOURCE = "webform"


class ReadFromSms(_ReadPattern):
    """Reads SMS gateway exports (``received_at|msisdn|...|body`` lines, ``.txt``).

    Each file's records are recorded as ``sms/<file name>``, as ``ReadFromChannelFiles`` records them, so the
    same file gives the same complaints whichever reader read it. Every record ends somewhere: a complaint or a
    dead letter with its reason.
    The parts of a long message are joined by ``Clean``, across files.

    Args:
      file_pattern: a path, a directory (the files directly in it) or a glob (``in/sms/*.txt``), local or ``gs://``.
      **options: ``ReadFromChannelFiles``'s keyword arguments ``run_id``, ``batch_id``, ``ingested_at``,
        ``shards``, ``call_centre_timezone``, ``chunk_size``, with the same defaults.

    Emits a ``ChannelRead``; ``read | Clean()`` starts the chain. Raises ``FileNotFoundError`` at construction
    when nothing matches.
    """

    SOURCE = "sms"


class ReadFromPhoneLogs(_ReadPattern):
    """Reads call-centre exports (CSV or XML).

    Each file's records are recorded as ``phone_logs/<file name>``, as ``ReadFromChannelFiles`` records them, so the
    same file gives the same complaints whichever reader read it. Every record ends somewhere: a complaint or a
    dead letter with its reason.

    Args:
      file_pattern: a path, a directory (the files directly in it) or a glob (``in/phone_logs/*.csv``), local or ``gs://``.
      **options: ``ReadFromChannelFiles``'s keyword arguments ``run_id``, ``batch_id``, ``ingested_at``,
        ``shards``, ``call_centre_timezone``, ``chunk_size``, with the same defaults.

    Emits a ``ChannelRead``; ``read | Clean()`` starts the chain. Raises ``FileNotFoundError`` at construction
    when nothing matches.
    """

    SOURCE = "phone"


class ReadCustomers(beam.PTransform):
    """Reads the customer master (CSV: ``account_number,msisdn,email,twitter_handle,...``) for ``Enrich``.

    Args:
      file_pattern: a path, a directory or a glob of the master's CSV files, local or ``gs://``.
      **options: ``ReadFromChannelFiles``'s keyword arguments ``run_id``, ``batch_id``, ``ingested_at``,
        ``chunk_size``, with the same defaults; they stamp the dead letters of rows that cannot be parsed.

    Emits a ``CustomerRead`` (``profiles``, ``dead_letters``, ``tallies``); pass it as ``Enrich(customers=...)``.
    Raises ``FileNotFoundError`` at construction when nothing matches.
    """

    def __init__(self, file_pattern: str, **options: object):
        super().__init__()
        self.file_pattern, self.options = file_pattern, options

    def expand(self, pbegin) -> CustomerRead:
        read = pbegin | "Read" >> _ReadCustomerFiles(self.file_pattern, **self.options)
        return CustomerRead(read.customers, read.dead_letters, read.tallies)


class _ReadCustomerFiles(_ReadPattern):
    SOURCE = "customers"
