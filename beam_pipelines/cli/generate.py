"""``complaints generate day`` (a day of raw channel input) and ``complaints generate history`` (weeks of curated
complaints straight into a warehouse)."""

from __future__ import annotations

import datetime as dt
import os

from beam_pipelines.cli.common import CliError, Command, Group, check_writable, date, positive, rate


def _yesterday() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def generate_arguments(parser) -> None:
    parser.add_argument("--output-dir", required=True, help="directory to write twitter/, webforms/, sms/, ...")
    parser.add_argument("--date", type=date, help="the day (YYYY-MM-DD); default yesterday (UTC)")
    parser.add_argument("--volume", type=positive, default=10_000, help="number of complaints (default 10000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed: same seed, same files")
    parser.add_argument(
        "--defect-rate", type=rate, default=0.03, help="share of records with a realistic defect (default 0.03)"
    )


def run_generate(args) -> int:
    from beam_pipelines.generator import generate

    check_writable(args.output_dir)
    day = args.date or _yesterday()
    expected = generate(args.output_dir, day, args.volume, args.seed, args.defect_rate)
    records = sum(counts.get("read", 0) for source, counts in expected.items() if source != "customers")
    print(
        f"wrote {args.volume} complaints ({records} raw records, defect rate {args.defect_rate}) for "
        f"{day} to {args.output_dir}; injected defects in {args.output_dir}/_truth/"
    )
    return 0


def history_arguments(parser) -> None:
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--days", type=positive, default=90, help="days of history (default 90)")
    parser.add_argument("--per-day", type=positive, default=2000, help="mean complaints per day (default 2000)")
    parser.add_argument(
        "--end",
        type=date,
        help="last day (default today, UTC: up to now, so the dashboard shows a "
        "live day; nothing after the current time is written)",
    )
    parser.add_argument("--seed", type=int, default=7)


def run_generate_history(args) -> int:
    from beam_pipelines.generator.history import write_history

    end = args.end or dt.datetime.now(dt.UTC).date()
    try:
        os.makedirs(args.warehouse, exist_ok=True)
        truth = write_history(args.warehouse, end, args.days, args.per_day, args.seed)
    except OSError as error:
        raise CliError(f"complaints generate history: cannot write {args.warehouse}: {error.strerror}") from None
    print(
        f"{truth['complaints']:,} complaints and {truth['events']:,} CRM events over {args.days} days to {end} "
        f"written to {args.warehouse} (outages on {', '.join(truth['outages']) or 'no day'}; holidays "
        f"{', '.join(truth['holidays']) or 'none'})"
    )
    return 0


GROUP = Group(
    "generate",
    "sample data: a day of channel files, or weeks of history in a warehouse",
    (
        Command(
            "day",
            "write a realistic day of sample input for every channel",
            generate_arguments,
            run_generate,
            extra="pipeline",
        ),
        Command(
            "history",
            "write weeks of synthetic curated complaints and their CRM events straight into a "
            "warehouse, up to now (for trying the dashboard, reports and forecasts)",
            history_arguments,
            run_generate_history,
            extra="pipeline",
        ),
    ),
)
