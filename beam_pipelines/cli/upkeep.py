"""``complaints maintain`` and ``warehouse-import``: upkeep of the warehouse's Iceberg tables (``warehouse/``),
which needs neither Beam nor the serving extra."""
from __future__ import annotations

import datetime as dt
import os

from beam_pipelines.cli.common import DEFAULT_WAREHOUSE, EXIT_FAILED, CliError, Command, positive, warehouse_catalog
from schemas.tables import WAREHOUSE_TABLES


def _catalog_arguments(parser) -> None:
    parser.add_argument("--warehouse", default=DEFAULT_WAREHOUSE,
                        help="warehouse directory (default out/warehouse or COMPLAINTS_WAREHOUSE)")
    parser.add_argument("--profile", help="profile whose [warehouse] section names the catalog and the retention "
                                          "(dev, staging, prod or a .toml file; default dev or COMPLAINTS_PROFILE)")


def maintain_arguments(parser) -> None:
    _catalog_arguments(parser)
    parser.add_argument("--tables", nargs="+", choices=list(WAREHOUSE_TABLES), default=list(WAREHOUSE_TABLES),
                        metavar="TABLE", help="tables to maintain (default all)")
    parser.add_argument("--min-files", type=positive, help="compact a partition with at least this many data files "
                                                           "(default: the profile's compact_min_files)")
    parser.add_argument("--retention-hours", type=hours,
                        help="expire snapshots older than this (default: the profile's snapshot_retention_hours)")
    parser.add_argument("--orphan-age-hours", type=hours,
                        help="remove unreferenced files older than this (default: the profile's orphan_age_hours)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the partitions, snapshots and files it would compact, expire and remove; "
                             "change nothing")


def hours(value: str) -> float:
    import argparse

    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of hours (0 or more)")
    return number


def import_arguments(parser) -> None:
    _catalog_arguments(parser)
    parser.add_argument("--from", dest="source", required=True,
                        help="the plain Parquet warehouse of an earlier version (folders of Hive partitions)")


def cmd_maintain(args) -> int:
    from warehouse.catalog import CatalogError, load_table, open_catalog
    from warehouse.maintenance import UnreadableMetadata, maintain_table, referenced_files

    settings, config = warehouse_catalog(args, "maintain")
    try:
        catalog = open_catalog(config, create=False)
    except CatalogError as error:
        raise CliError(f"complaints maintain: {error}") from None
    hour = dt.timedelta(hours=1)

    def given(value, default):
        return value if value is not None else default

    def one_line(name: str, error: Exception) -> CliError:
        if isinstance(error, UnreadableMetadata):
            return CliError(f"complaints maintain: {name}: {error}; nothing was removed")
        first_line = (str(error).splitlines() or [""])[0]
        return CliError(f"complaints maintain: {name}: {type(error).__name__}: {first_line}", EXIT_FAILED)

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
            upkeep = maintain_table(iceberg, min_files=args.min_files or settings.compact_min_files,
                                    retention=given(args.retention_hours, settings.snapshot_retention_hours) * hour,
                                    orphan_age=given(args.orphan_age_hours, settings.orphan_age_hours) * hour,
                                    dry_run=args.dry_run)
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
    return 0


def _upkeep_line(name: str, upkeep) -> str:
    """One line saying what maintenance did (or would do, in a dry run) to table ``name``."""
    notes = f" ({'; '.join(upkeep.notes)})" if upkeep.notes else ""
    deletes = f" (+{upkeep.delete_files} delete files)" if upkeep.delete_files else ""
    before_deletes = " before deletes" if upkeep.delete_files else ""
    if upkeep.dry_run:
        return (f"{name:<18} dry run, nothing changed: files {upkeep.files_before}{deletes}; would compact "
                f"{upkeep.partitions_compacted} partitions ({upkeep.files_compacted} files), expire "
                f"{upkeep.snapshots_expired} snapshots, remove {upkeep.orphans_removed} orphan files{notes}")
    return (f"{name:<18} files {upkeep.files_before:>5} -> {upkeep.files_after:<5}{deletes} "
            f"rows {upkeep.rows:>9,}{before_deletes}  "
            f"partitions compacted {upkeep.partitions_compacted}, snapshots expired {upkeep.snapshots_expired}, "
            f"orphans removed {upkeep.orphans_removed}, snapshot {upkeep.snapshot_id}{notes}")


def cmd_import(args) -> int:
    from pathlib import Path

    from warehouse.migrate import NothingToImport, import_plain_warehouse

    _, config = warehouse_catalog(args, "warehouse-import")
    source = Path(args.source)
    if not source.is_dir():
        raise CliError(f"complaints warehouse-import: directory not found: {source}")
    if os.path.realpath(source) == os.path.realpath(args.warehouse):
        raise CliError("complaints warehouse-import: --from and --warehouse must be different directories "
                       "(import into a new warehouse, then swap the folders)")
    try:
        results = import_plain_warehouse(source, config)
    except NothingToImport as error:
        raise CliError(f"complaints warehouse-import: {error}") from None
    for name, result in results.items():
        print(f"{name:<18} {result.rows_written:>9,} rows imported ({result.rows_replaced:,} replaced rows "
              f"already there), snapshot {result.snapshot_id}")
    return 0


COMMANDS = (
    Command("maintain", "warehouse upkeep: compact small files, expire old snapshots, remove orphan files",
            maintain_arguments, cmd_maintain, extra="warehouse"),
    Command("warehouse-import", "import a plain Parquet warehouse of an earlier version into the Iceberg tables",
            import_arguments, cmd_import, extra="warehouse"),
)
