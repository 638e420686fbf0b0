"""``complaints warehouse maintain``: upkeep of the warehouse's Iceberg tables (``warehouse/``) and the lake's
retention beside them, which needs neither Beam nor the serving extra."""

from __future__ import annotations

import datetime as dt
import os
import shutil

from beam_pipelines.cli.common import (
    DEFAULT_WAREHOUSE,
    EXIT_FAILED,
    CliError,
    Command,
    date,
    non_negative,
    positive,
    warehouse_catalog,
)
from schemas.tables import WAREHOUSE_TABLES


def _catalog_arguments(parser) -> None:
    parser.add_argument(
        "--warehouse",
        default=DEFAULT_WAREHOUSE,
        help="warehouse directory (default out/warehouse or COMPLAINTS_WAREHOUSE)",
    )
    parser.add_argument(
        "--profile",
        help="profile whose [warehouse] section names the catalog and the retention "
        "(dev, staging, prod or a .toml file; default dev or COMPLAINTS_PROFILE)",
    )


def maintain_arguments(parser) -> None:
    _catalog_arguments(parser)
    parser.add_argument(
        "--tables",
        nargs="+",
        choices=list(WAREHOUSE_TABLES),
        default=list(WAREHOUSE_TABLES),
        metavar="TABLE",
        help="tables to maintain (default all)",
    )
    parser.add_argument(
        "--min-files",
        type=positive,
        help="compact a partition with at least this many data files (default: the profile's compact_min_files)",
    )
    parser.add_argument(
        "--retention-hours",
        type=hours,
        help="expire snapshots older than this (default: the profile's snapshot_retention_hours)",
    )
    parser.add_argument(
        "--orphan-age-hours",
        type=hours,
        help="remove unreferenced files older than this (default: the profile's orphan_age_hours)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list the partitions, snapshots, files and lake partitions it would compact, expire and "
        "remove; change nothing",
    )
    lake = parser.add_argument_group("the lake's retention (after the tables)")
    lake.add_argument(
        "--lake", help="the lake folder (default: lake/ beside the warehouse directory, OUT/lake, when there is one)"
    )
    lake.add_argument(
        "--lake-retention-days",
        type=non_negative,
        metavar="DAYS",
        help="keep the lake's ingest dates of the last DAYS days (default: the profile's [lake] "
        "retention_days; 0 keeps everything)",
    )
    lake.add_argument(
        "--today",
        type=date,
        metavar="YYYY-MM-DD",
        help="the day the lake's retention counts back from (default: today, UTC)",
    )


def hours(value: str) -> float:
    import argparse

    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of hours (0 or more)")
    return number


def cmd_maintain(args) -> int:
    from warehouse.catalog import CatalogError, NoCatalogYet, load_table, open_catalog
    from warehouse.maintenance import UnreadableMetadata, maintain_table, referenced_files

    settings, config = warehouse_catalog(args, "warehouse maintain")
    lake = lake_of(args)  # a --lake that is not there is refused before any table changes
    try:
        catalog = open_catalog(config, create=False)
    except NoCatalogYet as error:
        if lake is None:
            raise CliError(f"complaints warehouse maintain: {error}") from None
        print(f"{args.warehouse}: nothing committed yet, no tables to maintain ({error})")
        expire_lake(args, lake, settings)
        return 0
    except CatalogError as error:
        raise CliError(f"complaints warehouse maintain: {error}") from None
    hour = dt.timedelta(hours=1)

    def given(value, default):
        return value if value is not None else default

    def one_line(name: str, error: Exception) -> CliError:
        if isinstance(error, UnreadableMetadata):
            return CliError(f"complaints warehouse maintain: {name}: {error}; nothing was removed")
        first_line = (str(error).splitlines() or [""])[0]
        return CliError(f"complaints warehouse maintain: {name}: {type(error).__name__}: {first_line}", EXIT_FAILED)

    tables = {}
    for name in args.tables:  # every table's manifests readable before any table changes
        iceberg = load_table(catalog, config, WAREHOUSE_TABLES[name])
        if iceberg is None:
            continue
        try:
            referenced_files(iceberg)
        except Exception as error:  # noqa: BLE001 - one line, never a traceback
            raise one_line(name, error) from None
        tables[name] = iceberg
    for name, iceberg in tables.items():
        try:
            upkeep = maintain_table(
                iceberg,
                min_files=args.min_files or settings.compact_min_files,
                retention=given(args.retention_hours, settings.snapshot_retention_hours) * hour,
                orphan_age=given(args.orphan_age_hours, settings.orphan_age_hours) * hour,
                dry_run=args.dry_run,
            )
        except Exception as error:  # noqa: BLE001 - one line, never a traceback
            raise one_line(name, error) from None
        print(_upkeep_line(name, upkeep))
        if upkeep.dry_run:
            for partition in upkeep.crowded_partitions:
                print(f"  would compact {partition}")
            for snapshot_id in upkeep.expired_ids:
                print(f"  would expire snapshot {snapshot_id}")
            for path in upkeep.orphans:
                print(f"  would remove {path}")
    if lake is not None:
        expire_lake(args, lake, settings)
    return 0


def _upkeep_line(name: str, upkeep) -> str:
    """One line saying what maintenance did (or would do, in a dry run) to table ``name``."""
    notes = f" ({'; '.join(upkeep.notes)})" if upkeep.notes else ""
    deletes = f" (+{upkeep.delete_files} delete files)" if upkeep.delete_files else ""
    before_deletes = " before deletes" if upkeep.delete_files else ""
    if upkeep.dry_run:
        return (
            f"{name:<18} dry run, nothing changed: files {upkeep.files_before}{deletes}; would compact "
            f"{upkeep.partitions_compacted} partitions ({upkeep.files_compacted} files), expire "
            f"{upkeep.snapshots_expired} snapshots, remove {upkeep.orphans_removed} orphan files{notes}"
        )
    return (
        f"{name:<18} files {upkeep.files_before:>5} -> {upkeep.files_after:<5}{deletes} "
        f"rows {upkeep.rows:>9,}{before_deletes}  "
        f"partitions compacted {upkeep.partitions_compacted}, snapshots expired {upkeep.snapshots_expired}, "
        f"orphans removed {upkeep.orphans_removed}, snapshot {upkeep.snapshot_id}{notes}"
    )


def expired_partitions(lake: str, keep_days: int, today: dt.date) -> list[str]:
    """The ``source=*/ingest_date=D`` folders of the lake older than ``keep_days`` before ``today``."""
    if keep_days == 0:
        return []
    oldest_kept = today - dt.timedelta(days=keep_days - 1)
    found = []
    raw = os.path.join(lake, "raw")
    for source in sorted(os.listdir(raw)) if os.path.isdir(raw) else []:
        for partition in sorted(os.listdir(os.path.join(raw, source))):
            if not partition.startswith("ingest_date="):
                continue
            try:
                day = dt.date.fromisoformat(partition[len("ingest_date=") :])
            except ValueError:
                continue
            if day < oldest_kept:
                found.append(os.path.join(raw, source, partition))
    return found


def lake_of(args) -> str | None:
    """The lake whose retention ``maintain`` keeps: ``--lake`` (which must exist), else ``lake/`` beside the
    warehouse directory if there is one, else None."""
    if args.lake:
        if not os.path.isdir(args.lake):
            raise CliError(f"complaints warehouse maintain: lake folder {args.lake} does not exist")
        return args.lake
    beside = os.path.join(os.path.dirname(os.path.abspath(args.warehouse)), "lake")
    return beside if os.path.isdir(beside) else None


def expire_lake(args, lake: str, settings) -> None:
    """Remove (or, in a dry run, list) the lake partitions older than the retention; one line each, then a total."""
    from beam_pipelines.config import ConfigError, load_section

    keep = args.lake_retention_days
    if keep is None:
        try:
            keep = load_section("lake", args.profile).retention_days
        except ConfigError as error:
            raise CliError(f"complaints warehouse maintain: {error}") from None
    today = args.today or dt.datetime.now(dt.UTC).date()
    expired = expired_partitions(lake, keep, today)
    for path in expired:
        if not args.dry_run:
            shutil.rmtree(path)
        print(f"{'would remove' if args.dry_run else 'removed'} {path}")
    print(
        f"lake {lake}: {len(expired)} partitions older than {keep} days {'found' if args.dry_run else 'removed'}"
        if keep
        else f"lake {lake}: retention 0, the lake keeps everything"
    )


MAINTAIN = Command(
    "maintain",
    "upkeep: compact small files, expire old snapshots, remove orphan files, then remove "
    "lake partitions older than the retention",
    maintain_arguments,
    cmd_maintain,
    extra="warehouse",
)
