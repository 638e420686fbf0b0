"""Sinks of the streaming pipeline: lake files per window and firing, and one Iceberg commit per warehouse
table, window and firing.

Records arrive in windows with a trigger (``stream_windowing``): early panes while a window is open, the
on-time pane when the watermark passes its end, late panes for records that come within the allowed
lateness.
- The lake gets new files per pane, named ``<stream_id>-<run_id>-<window start>-p<pane index>-<shard>.jsonl``
  in its Hive partition, first under a hidden ``.tmp-`` name and then renamed, so readers never see half a
  file; a retried bundle rewrites the same names.
- Each warehouse table (complaints, dead_letter, complaint_volume, alerts, stream_counts) gets one commit per
  window pane (``CommitWindowedRows``): the pane's rows are upserted by the table's key
  (``warehouse/commit.py``), so a retried bundle, a replayed window or a restored job replaces its own rows
  instead of adding them, and a complaint the warehouse already holds from a batch or an earlier stream is
  held once. ``stream_counts`` records what each firing wrote.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import Counter

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.trigger import AccumulationMode, AfterCount, AfterWatermark
from apache_beam.transforms.window import FixedWindows, GlobalWindows

import schemas
from schemas import tables
from schemas.tables import Table
from transforms.event_time import StreamTiming, carries_something
from transforms.outcomes import count_tally
from transforms.sinks import lake_line
from warehouse.catalog import CatalogConfig, warn_if_password_travels


def stream_windowing(timing: StreamTiming, label: str = "Windows", accumulating: bool = False) -> beam.WindowInto:
    """Fixed event-time windows: an early pane whenever ``early_firing_count`` records wait in an open window,
    the on-time pane when the watermark passes its end, a late pane for each record that comes within
    ``allowed_lateness`` after that. Only data-driven and watermark triggers are used: Prism 2.77 panics when a
    processing-time trigger fires for a window it has already expired.

    Discarding (the default): each pane carries only what is new, for rows upserted by their own identity
    (complaints, dead letters). ``accumulating``: each pane carries the window so far, for aggregates upserted
    by window: the last firing's row replaces the earlier ones, so however a replay after a restore splits
    the window into panes, the row ends at the window's total (a pane-keyed delta would be counted twice)."""
    return label >> beam.WindowInto(
        FixedWindows(timing.window_seconds),
        trigger=AfterWatermark(
            early=AfterCount(timing.early_firing_count) if timing.early_firing_count else None, late=AfterCount(1)
        ),
        allowed_lateness=timing.allowed_lateness_seconds,
        accumulation_mode=AccumulationMode.ACCUMULATING if accumulating else AccumulationMode.DISCARDING,
    )


def pane_file_name(
    stream_id: str, run_id: str, window_start: dt.datetime, pane_index: int, shard: int, extension: str
) -> str:
    return f"{stream_id}-{run_id}-{window_start:%Y%m%dT%H%M%SZ}-p{pane_index:04d}-{shard:03d}.{extension}"


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to a hidden temporary beside ``path``, then rename it into place."""
    directory, name = path.rsplit("/", 1)
    temporary = f"{directory}/.tmp-{name}"
    with FileSystems.create(temporary) as handle:
        handle.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])


class TableLayout:
    """How one catalog table's records are written by a stream: the partition values of a record, its
    identity (for sharding and copies), for lake files their extension and encoding, the outcome tallies the
    written records stand for, whether a commit holds each identity at most once (``unique``), and what a
    record needs added to be a warehouse row (``complete``: its partition column)."""

    def __init__(
        self,
        table: Table,
        partition_values,
        identity,
        extension=None,
        encode=None,
        tallies=None,
        unique=False,
        complete=None,
    ):
        self.table, self.partition_values, self.identity = table, partition_values, identity
        self.extension, self.encode, self.tallies, self.unique = extension, encode, tallies, unique
        self.complete = complete or (lambda record: record)

    def partition(self, record: dict) -> str:
        return self.table.partition_path(*self.partition_values(record))


def first_copies(rows: list[dict], identity) -> tuple[list[dict], list[dict]]:
    """(the earliest-arrived row of each identity, the later copies). Upstream dedupe should leave no copies;
    this holds a file to one row per complaint even when a runner hands a stateful step the same key twice
    (seen on Prism 2.77: two deliveries of one message in one pane), and the copies are counted, not lost."""
    kept: dict[str, dict] = {}
    copies = []
    for row in sorted(rows, key=lambda r: (identity(r), r["ingested_at"])):
        if identity(row) in kept:
            copies.append(row)
        else:
            kept[identity(row)] = row
    return list(kept.values()), copies


def _complaint_tallies(rows):
    tallies = Counter()
    for row in rows:
        tallies[(row["source"], "written", "")] += 1
        for flag in row["flags"]:
            tallies[(row["source"], "flagged", flag)] += 1
    return tallies


def _dead_letter_tallies(records):
    return Counter((r["source"], "rejected", f"{r['stage']}:{r['error_type']}") for r in records)


LAKE = TableLayout(
    tables.LAKE,
    lambda r: (r["source"], r["ingested_at"][:10]),
    lambda r: r.get("message_id") or "",
    "jsonl",
    lambda records: b"".join(lake_line(r) for r in records),
)
COMPLAINTS = TableLayout(
    tables.COMPLAINTS,
    lambda r: (r["event_time"],),
    lambda r: r["complaint_id"],
    tallies=_complaint_tallies,
    unique=True,
    complete=lambda r: {**r, "event_date": r["event_time"].date()},
)
DEAD_LETTERS = TableLayout(
    tables.DEAD_LETTER, lambda r: (r["ingest_date"],), lambda r: r["error_id"], tallies=_dead_letter_tallies
)
VOLUMES = TableLayout(tables.COMPLAINT_VOLUME, lambda r: (r["event_date"],), lambda r: r["source"])
STREAM_COUNTS = TableLayout(tables.STREAM_COUNTS, lambda r: (r["written_date"],), lambda r: r["source"])
ALERTS = TableLayout(tables.ALERTS, lambda r: (r["alert_date"],), lambda r: r["alert_id"])


class WriteWindowedFiles(beam.PTransform):
    """Windowed records -> files per (partition, shard, window, pane) of ``layout``'s table; emits the
    tallies of what was written (``count_tally`` form) in the global window."""

    def __init__(self, output_dir: str, layout: TableLayout, stream_id: str, run_id: str, shards: int = 1):
        super().__init__()
        self.output_dir, self.layout, self.shards = output_dir, layout, shards
        self.stream_id, self.run_id = stream_id, run_id

    def expand(self, records):
        layout, shards, output_dir = self.layout, self.shards, self.output_dir
        stream_id, run_id = self.stream_id, self.run_id

        def key(record):
            shard = zlib.crc32(layout.identity(record).encode("utf-8")) % shards
            return (layout.partition(record), shard), record

        def write(keyed, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
            (partition, shard), records = keyed
            records, copies = list(records), []
            if layout.unique:
                records, copies = first_copies(records, layout.identity)
            for copy in copies:
                yield count_tally((copy["source"], "duplicates", "same_complaint_id"), 1)
            start = getattr(window, "start", None)
            start = start.to_utc_datetime(has_tz=True) if start is not None else dt.datetime.now(dt.UTC)
            name = pane_file_name(stream_id, run_id, start, pane.index, shard, layout.extension)
            write_atomically(FileSystems.join(output_dir, layout.table.path, partition, name), layout.encode(records))
            if layout.tallies is not None:
                for tally_key, count in layout.tallies(records).items():
                    yield count_tally(tally_key, count)

        return (
            records
            | "KeyByFile" >> beam.Map(key)
            | "GroupByFile" >> beam.GroupByKey()
            | "WriteFiles" >> beam.FlatMap(write)
            | "TalliesToGlobal" >> beam.WindowInto(GlobalWindows())
        )


class CommitWindowedRows(beam.PTransform):
    """Windowed records -> Iceberg commits of ``layout``'s table, upserting the rows by the table's key: the
    rows of each window pane are grouped, and the panes a bundle carries are committed together, as one
    snapshot. Live, that is one commit per window firing; a replay or a catch-up, where many windows fire at
    once, makes few large commits instead of one per minute. Emits the tallies of what was committed
    (``count_tally`` form) in the global window, at each pane's timestamp."""

    def __init__(self, catalog: CatalogConfig, layout: TableLayout, stream_id: str, run_id: str, attempts: int = 8):
        super().__init__()
        warn_if_password_travels(catalog, f"CommitWindowedRows({layout.table.name})")
        self.catalog, self.layout, self.stream_id, self.run_id, self.attempts = (
            catalog,
            layout,
            stream_id,
            run_id,
            attempts,
        )

    def expand(self, records):
        name = self.layout.table.name
        return (
            records
            | "KeyByTable" >> beam.Map(lambda record: (name, record))
            | "GroupByPane" >> beam.GroupByKey()
            | "Commit"
            >> beam.ParDo(_CommitPanes(self.catalog, self.layout, self.stream_id, self.run_id, self.attempts))
            | "TalliesToGlobal" >> beam.WindowInto(GlobalWindows())
        )


class _CommitPanes(beam.DoFn):
    """Window panes of rows -> one upsert commit per bundle (``warehouse.commit.upsert_rows``), at the end of
    the bundle, so a bundle that fails commits nothing and its retry commits the same rows, which replaces them.
    For a table that holds each identity once (``unique``), a copy of a row in a later pane of the same bundle
    is counted as a duplicate (a copy in a later commit replaces the earlier one)."""

    def __init__(self, catalog: CatalogConfig, layout: TableLayout, stream_id: str, run_id: str, attempts: int):
        self.catalog, self.layout, self.stream_id, self.run_id, self.attempts = (
            catalog,
            layout,
            stream_id,
            run_id,
            attempts,
        )
        self.iceberg, self._panes = None, []

    def setup(self):
        from warehouse.catalog import ensure_table, open_catalog

        self.iceberg = ensure_table(open_catalog(self.catalog), self.catalog, self.layout.table)

    def start_bundle(self):
        self._panes = []

    def process(
        self, keyed, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam, timestamp=beam.DoFn.TimestampParam
    ):
        records = list(keyed[1])
        if not records:  # an empty firing (see carries_something) commits nothing
            return
        start = getattr(window, "start", None)
        self._panes.append(
            (
                start.to_utc_datetime(has_tz=True) if start is not None else None,
                pane.index,
                (timestamp, window),
                records,
            )
        )

    def finish_bundle(self):
        from apache_beam.utils.windowed_value import WindowedValue

        from warehouse.catalog import writer_schema
        from warehouse.commit import upsert_rows

        if not self._panes:
            return
        layout, rows, seen, tallies = self.layout, [], set(), []
        # in firing order: a bundle may hold several firings of one window in any order (a copy of a row in a
        # later firing is then the one counted as a duplicate)
        self._panes.sort(key=lambda pane: (pane[0] is not None, pane[0] or 0, pane[1]))
        for start, _, timestamp, records in self._panes:
            if layout.unique:
                records, copies = first_copies(records, layout.identity)
                copies += [record for record in records if layout.identity(record) in seen]
                records = [record for record in records if layout.identity(record) not in seen]
                seen.update(layout.identity(record) for record in records)
                tallies += [
                    (timestamp, count_tally((copy["source"], "duplicates", "same_complaint_id"), 1)) for copy in copies
                ]
            # the stream and window a firing belongs to, for tables whose key has them (volumes, stream counts)
            context = {"stream_id": self.stream_id, "run_id": self.run_id, "window_start": start}
            rows += [{**context, **layout.complete(record)} for record in records]
            if layout.tallies is not None:
                tallies += [(timestamp, count_tally(key, count)) for key, count in layout.tallies(records).items()]
        if not layout.unique:
            # aggregate rows of several firings of one window can share a commit: the latest firing (the highest
            # pane index, the window's total so far) must be the one kept for its key
            rows.sort(key=lambda row: row.get("pane_index") or 0)
        panes = ",".join(f"{start.isoformat() if start else 'global'}/{index}" for start, index, _, _ in self._panes)
        upsert_rows(
            self.iceberg,
            schemas.arrow_table(rows, writer_schema(self.iceberg)),
            layout.table.key,
            {"writer": "stream", "stream_id": self.stream_id, "run_id": self.run_id, "panes": panes[:4000]},
            self.attempts,
        )
        self._panes = []
        for (timestamp, window), tally in tallies:  # in the pane's own window, as the output is windowed
            yield WindowedValue(tally, timestamp, (window,))


class WriteStreamCounts(beam.PTransform):
    """Tallies ``((source, outcome, reason), count)`` -> ``stream_counts`` rows: per window of the tallies'
    timestamps, the window's count so far, replaced by each later firing (accumulating panes), so a row holds
    its window's total and ``SUM(count)`` balances however often the job was restored from a checkpoint."""

    def __init__(self, catalog: CatalogConfig, stream_id: str, run_id: str, timing: StreamTiming, attempts: int = 8):
        super().__init__()
        self.catalog, self.stream_id, self.run_id, self.timing = catalog, stream_id, run_id, timing
        self.attempts = attempts

    def expand(self, tallies):
        stream_id, run_id = self.stream_id, self.run_id

        def to_rows(keyed, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
            (source, outcome, reason), count = keyed
            if not carries_something(count):
                return
            now = dt.datetime.now(dt.UTC)
            start = getattr(window, "start", None)
            yield {
                "stream_id": stream_id,
                "run_id": run_id,
                "source": source,
                "outcome": outcome,
                "reason": reason,
                "count": count,
                "written_at": now,
                "written_date": now.date(),
                "window_start": start.to_utc_datetime(has_tz=True) if start is not None else None,
                "pane_index": pane.index,
            }

        return (
            tallies
            | stream_windowing(self.timing, "CountWindows", accumulating=True)
            | "SumPerWindow" >> beam.CombinePerKey(sum)
            | "CountRows" >> beam.FlatMap(to_rows)
            | stream_windowing(self.timing, "RowWindows")  # each firing's rows committed once, not again later
            | "CommitCounts" >> CommitWindowedRows(self.catalog, STREAM_COUNTS, stream_id, run_id, self.attempts)
        )
