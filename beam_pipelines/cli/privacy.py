"""``complaints warehouse erase``: a person's right to erasure (``warehouse/erasure.py``;
docs/operations/erasure.md)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from beam_pipelines.cli.common import EXIT_FAILED, EXIT_USAGE, CliError, Command


def erase_arguments(parser) -> None:
    parser.add_argument(
        "--output-dir",
        required=True,
        help="the output directory whose warehouse (OUT/warehouse, or the profile's catalog), lake "
        "(OUT/lake) and review files (OUT/_review) are erased from; the audit goes to "
        "OUT/_erasures/",
    )
    parser.add_argument(
        "--customer-id",
        action="append",
        default=[],
        metavar="ID",
        help="the person's customer id (account number); repeat for several",
    )
    parser.add_argument(
        "--contact-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="a contact token of the person (the warehouse's keyed hash of a phone, e-mail or handle)",
    )
    parser.add_argument(
        "--contact",
        action="append",
        default=[],
        metavar="VALUE",
        help="a contact of the person in clear: phone number, e-mail address or @handle (used to find "
        "records, never written anywhere)",
    )
    parser.add_argument(
        "--customers",
        metavar="PATH",
        help="the customer master (a CSV file or a folder of them): the contacts of the customer ids "
        "given are erased too (the master itself is not rewritten)",
    )
    parser.add_argument(
        "--reference",
        help="the requester's reference for the audit record (e.g. a ticket number; not a name or contact)",
    )
    parser.add_argument(
        "--expire",
        action="store_true",
        help="also remove the person from the tables' history: expire every snapshot older than the "
        "erasure and delete the files only those referenced (ends time travel before it)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="count what would be erased (and refuse as the erasure would); change nothing, write no audit record",
    )
    parser.add_argument(
        "--profile", help="dev (default), staging, prod or a .toml file: the catalog and the contact-token key"
    )


def master_rows(path: str, customer_ids) -> list[dict]:
    """The customer-master rows (``account_number,msisdn,email,twitter_handle,...``, contacts normalised) of
    ``customer_ids``, from a CSV file or every CSV file under a folder."""
    from transforms.cleaning import normalise_email, normalise_handle, normalise_phone

    wanted = {customer.strip().upper() for customer in customer_ids}
    source = Path(path)
    files = sorted(source.rglob("*.csv")) if source.is_dir() else [source]
    found = []
    for file in files:
        with open(file, newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                if (row.get("account_number") or "").strip().upper() in wanted:
                    found.append(
                        {
                            "msisdn": normalise_phone(row.get("msisdn")),
                            "email": normalise_email(row.get("email")),
                            "twitter_handle": normalise_handle(row.get("twitter_handle")),
                        }
                    )
    return found


def _summary(erasure) -> list[str]:
    would = "would be erased (dry run: nothing changed)" if erasure.status == "dry-run" else "erased"
    lines = [
        f"erasure {erasure.erasure_id}: {erasure.rows_erased:,} warehouse rows (on all branches) and "
        f"{erasure.records_erased:,} lake/review records {would}"
    ]
    for name, table in erasure.tables.items():
        refs = ", ".join(f"{ref} {rows:,}" for ref, rows in table.rows.items()) or "no rows"
        snapshots = ", ".join(f"{ref} {snapshot}" for ref, snapshot in table.snapshots.items()) or "none"
        lines.append(f"  {name:<18} rows {refs}; files rewritten {table.files_rewritten}; snapshot {snapshots}")
    for files in erasure.files:
        counts = ", ".join(f"{source} {count:,}" for source, count in sorted(files.records.items())) or "none"
        lines.append(f"  {files.root:<18} records {counts}; files rewritten {files.files_rewritten}")
    if erasure.status == "dry-run":
        return lines
    if erasure.expire:
        for name, expiry in erasure.expiry.items():
            lines.append(
                f"  {name:<18} history: sealed at snapshot {expiry.seal_snapshot}, "
                f"{expiry.snapshots_expired} snapshots expired, {expiry.files_removed} files deleted, "
                f"{expiry.snapshots_left} snapshots left"
            )
            if expiry.leftovers:
                lines.append(
                    f"NOTE: {name}: {expiry.leftovers} data file(s) that no snapshot references (a killed "
                    "or running writer's) hold the person: `complaints warehouse maintain` removes them after "
                    "its orphan age"
                )
    else:
        lines.append(
            "NOTE: without --expire the tables' history (time travel to earlier snapshots, and their data "
            "files) still holds the erased rows: run again with --expire to remove them"
        )
    if erasure.staging_left:
        lines.append(
            f"NOTE: OUT/_staging holds {len(erasure.staging_left)} run(s) still running or kept for "
            f"inspection ({', '.join(erasure.staging_left)}): their files are not erased; remove them when "
            "done"
        )
    return lines


def cmd_erase(args) -> int:
    from beam_pipelines.config import ConfigError, load_settings
    from beam_pipelines.parameters import catalog_config
    from schemas.tables import WAREHOUSE_TABLES
    from warehouse.catalog import CatalogError, NoCatalogYet, load_table, open_catalog
    from warehouse.erasure import PERSONAL_TABLES, ErasureError, RefHoldsSubject, Subject, erase

    if not (args.customer_id or args.contact_token or args.contact):
        raise CliError(
            "complaints warehouse erase: name the person: --customer-id, --contact-token or --contact (see --help)",
            EXIT_USAGE,
        )
    if args.customers and not args.customer_id:
        raise CliError(
            "complaints warehouse erase: --customers is read for the contacts of --customer-id; give one", EXIT_USAGE
        )
    output_dir = os.path.abspath(args.output_dir)
    if not os.path.isdir(output_dir):
        raise CliError(f"complaints warehouse erase: output directory not found: {output_dir}")
    if args.customers and not os.path.exists(args.customers):
        raise CliError(f"complaints warehouse erase: customer master not found: {args.customers}")
    try:
        settings = load_settings(args.profile)
    except ConfigError as error:
        raise CliError(f"complaints warehouse erase: {error}") from None
    icebergs = {}
    try:
        config = catalog_config(settings.warehouse, output_dir)
        catalog = open_catalog(config, create=False)
        icebergs = {name: load_table(catalog, config, WAREHOUSE_TABLES[name]) for name in PERSONAL_TABLES}
    except NoCatalogYet:
        pass  # no warehouse yet: the lake and the review files are still erased
    except CatalogError as error:
        raise CliError(f"complaints warehouse erase: {error}") from None
    try:
        subject = Subject.of(settings.contact_token_key, args.customer_id, args.contact_token, args.contact)
    except ErasureError as error:
        raise CliError(f"complaints warehouse erase: --contact {error}", EXIT_USAGE) from None
    try:
        customers = master_rows(args.customers, args.customer_id) if args.customers else []
        erasure = erase(
            output_dir,
            icebergs,
            subject,
            expire=args.expire,
            reference=args.reference,
            customers=customers,
            dry_run=args.dry_run,
        )
    except RefHoldsSubject as error:
        raise CliError(f"complaints warehouse erase: {error}") from None
    except ErasureError as error:
        raise CliError(f"complaints warehouse erase: {error}", EXIT_FAILED) from None
    except OSError as error:
        raise CliError(f"complaints warehouse erase: {error}") from None
    except Exception as error:  # noqa: BLE001 - a catalog or commit failure: one line, the tables as committed
        raise CliError(
            f"complaints warehouse erase: {type(error).__name__}: {error} (tables already erased keep their "
            "erasure; run the command again)",
            EXIT_FAILED,
        ) from None
    for line in _summary(erasure):
        print(line)
    if not args.dry_run:
        print(f"audit: {os.path.join(output_dir, '_erasures', erasure.erasure_id + '.json')}")
    return 0


ERASE = Command(
    "erase",
    "erase a person (right to erasure) from the warehouse, the lake and the review files",
    erase_arguments,
    cmd_erase,
    extra="pipeline",  # phonenumbers: contacts normalised as the pipeline does
    epilog="See docs/operations/erasure.md for what is erased, what --expire does and what is out of scope.",
)
