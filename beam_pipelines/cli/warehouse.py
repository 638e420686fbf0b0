"""``complaints warehouse maintain|relocate|erase``: the commands that act on a warehouse (and its lake) as a
whole. ``relocate`` (here) makes a copied, moved or restored warehouse usable at its new path; backup and restore
are described in ``docs/operations/backup-restore.md``. ``maintain`` is in ``upkeep``, ``erase`` in ``privacy``."""

from __future__ import annotations

import logging

from beam_pipelines.cli import privacy, upkeep
from beam_pipelines.cli.common import CliError, Command, Group


def warehouse_relocate_arguments(parser) -> None:
    parser.add_argument(
        "--from",
        dest="old",
        required=True,
        metavar="OLD",
        help="the directory the warehouse was copied or moved from (what its catalog points at; "
        "it need not exist any more, and nothing in it is changed)",
    )
    parser.add_argument(
        "--to",
        dest="new",
        required=True,
        metavar="NEW",
        help="the copied warehouse directory (OUT/warehouse, or OUT) to make usable where it is",
    )


def run_warehouse_relocate(args) -> int:
    """Rewrite the copy's Iceberg metadata and catalog to its own path; one line per table, then a summary."""
    from warehouse.relocate import RelocationError, relocate_warehouse

    try:
        relocation = relocate_warehouse(args.old, args.new)
    except RelocationError as error:
        raise CliError(f"complaints warehouse relocate: {error}") from None
    except OSError as error:
        raise CliError(
            f"complaints warehouse relocate: {error.filename or ''}: {error.strerror or error}; run it "
            "again once that is mended (nothing outside the copy was changed)"
        ) from None
    except Exception as error:  # a damaged file in the copy: one line, the details in the debug log
        logging.getLogger(__name__).debug("relocation failed", exc_info=True)
        reason = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
        raise CliError(
            f"complaints warehouse relocate: cannot read the copy's Iceberg files ({reason}): copy the "
            "warehouse again and relocate that; nothing outside the copy was changed"
        ) from None
    if not relocation.tables:
        print(f"{relocation.new}: its catalog already points at it; nothing to relocate")
        return 0
    for table in relocation.tables:
        print(
            f"{table.table:<24} rewrote {table.metadata_files} metadata files, {table.manifest_lists} manifest "
            f"lists, {table.manifests} manifests, {table.delete_files} position delete files"
        )
    print(
        f"relocated {len(relocation.tables)} tables from {relocation.old} to {relocation.new}; the original was "
        "not changed"
    )
    return 0


GROUP = Group(
    "warehouse",
    "the warehouse as a whole: upkeep with the lake's retention, relocation, erasure",
    (
        upkeep.MAINTAIN,
        Command(
            "relocate",
            "make a copied, moved or restored warehouse usable at its new path (rewrites its Iceberg "
            "metadata; the original is not changed)",
            warehouse_relocate_arguments,
            run_warehouse_relocate,
            extra="warehouse",
        ),
        privacy.ERASE,
    ),
)
