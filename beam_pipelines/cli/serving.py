"""``complaints serve``, ``report`` and ``query``, and ``model forecast``'s arguments and run: the serving side
(``serving/``), which reads the warehouse and needs no Beam."""

from __future__ import annotations

import ipaddress
import os
import sys

from beam_pipelines.cli.common import (
    DEFAULT_WAREHOUSE,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_USAGE,
    CliError,
    Command,
    date,
    positive,
    warehouse_catalog,
)
from schemas.tables import WAREHOUSE_TABLES


def _profile_argument(parser) -> None:
    parser.add_argument(
        "--profile",
        help="profile whose [warehouse] catalog holds the tables (default: the "
        "embedded catalog in --warehouse; dev, staging, prod or a .toml file)",
    )


def catalog_of(args, command: str):
    """The tables' catalog: the profile's ``[warehouse]`` one, or the embedded one in ``--warehouse``."""
    from warehouse.catalog import CatalogConfig

    return warehouse_catalog(args, command)[1] if args.profile else CatalogConfig(args.warehouse)


def serve_arguments(parser) -> None:
    _profile_argument(parser)
    parser.add_argument(
        "--warehouse",
        default=DEFAULT_WAREHOUSE,
        help="warehouse directory (default out/warehouse or COMPLAINTS_WAREHOUSE)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=positive, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--api-keys",
        default=os.environ.get("COMPLAINTS_API_KEYS_FILE"),
        help="TOML file of API keys and scopes (default COMPLAINTS_API_KEYS_FILE); see serving/auth.py",
    )
    parser.add_argument(
        "--no-auth", action="store_true", help="serve without API keys: only on a loopback address, for local use"
    )
    parser.add_argument(
        "--output-dir",
        help="where the runs' manifests (_runs) and freshness records (_freshness) are, which "
        "/metrics reports (default: the warehouse's parent directory); the profile's "
        "[quality] limits are reported beside them",
    )
    parser.add_argument(
        "--alertmanager-url",
        default=os.environ.get("COMPLAINTS_ALERTMANAGER_URL"),
        help="Alertmanager whose open alerts the dashboard's health panel lists, e.g. "
        "http://127.0.0.1:9093 (default COMPLAINTS_ALERTMANAGER_URL; none: not listed)",
    )


def report_arguments(parser) -> None:
    _profile_argument(parser)
    parser.add_argument("--warehouse", default=DEFAULT_WAREHOUSE)
    parser.add_argument("--period", required=True, choices=("daily", "weekly", "monthly"))
    parser.add_argument("--date", type=date, help="a day in the period (default: the day of the newest complaint)")
    parser.add_argument("--output", required=True, help="directory for the .html and the CSV folder")


def query_arguments(parser) -> None:
    _profile_argument(parser)
    parser.add_argument("sql", help='one SELECT, e.g. "SELECT category, count(*) FROM complaints GROUP BY 1"')
    parser.add_argument("--warehouse", default=DEFAULT_WAREHOUSE)
    parser.add_argument("--output", help="export the whole result to FILE.csv or FILE.parquet")
    parser.add_argument("--max-rows", type=positive, default=50, help="rows to print (default 50)")
    parser.add_argument(
        "--as-of",
        type=as_of,
        metavar="TIME|SNAPSHOT",
        help="read the tables as they were at a time (ISO 8601, UTC unless it says otherwise) or "
        "when a snapshot id was committed (run manifests list theirs)",
    )


def as_of(value: str):
    import argparse

    from warehouse.read import parse_as_of

    try:
        return parse_as_of(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def forecast_arguments(parser) -> None:
    _profile_argument(parser)
    parser.add_argument("--warehouse", default=DEFAULT_WAREHOUSE)
    parser.add_argument("--horizon", type=positive, default=14, help="days to forecast (default 14)")
    parser.add_argument(
        "--training-days", type=positive, default=84, help="days of history each series is fitted on (default 84)"
    )
    parser.add_argument(
        "--holidays", default="NG", help="country code of the public-holiday calendar (default NG), or 'none'"
    )


def _warehouse_dir(path: str, command: str) -> str:
    if not os.path.isdir(path):
        raise CliError(f"complaints {command}: warehouse directory not found: {path}")
    return path


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args) -> int:
    import socket

    import uvicorn

    from serving.api import create_app
    from serving.auth import ApiKeys, KeyFileError
    from serving.warehouse import Warehouse, WarehouseError, runs_with_public_token_key

    warehouse_dir = _warehouse_dir(args.warehouse, "serve")
    if args.api_keys and args.no_auth:
        raise CliError("complaints serve: give --api-keys or --no-auth, not both", EXIT_USAGE)
    if not _is_loopback(args.host):
        public = runs_with_public_token_key(warehouse_dir)
        if public:
            raise CliError(
                f"complaints serve: {len(public)} runs in this warehouse (e.g. {public[0]}) made contact "
                "tokens with the dev profile's public key, which anyone can reverse: serve it on a "
                "loopback address only, or rerun them with COMPLAINTS_CONTACT_TOKEN_KEY set",
                EXIT_USAGE,
            )
    if args.no_auth:
        if not _is_loopback(args.host):
            raise CliError(
                f"complaints serve: --no-auth is only allowed on a loopback address, not {args.host}", EXIT_USAGE
            )
        keys = ApiKeys()
    elif args.api_keys:
        try:
            keys = ApiKeys.from_file(args.api_keys)
        except KeyFileError as error:
            raise CliError(f"complaints serve: {error}") from None
    else:
        raise CliError(
            "complaints serve: no API keys: give --api-keys FILE (or COMPLAINTS_API_KEYS_FILE), "
            "or --no-auth for local use",
            EXIT_USAGE,
        )
    try:
        with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((args.host, args.port))
    except OSError as error:
        raise CliError(f"complaints serve: cannot listen on {args.host}:{args.port}: {error.strerror}") from None
    try:
        # complaints are held in memory (about 0.8 GB per million) so searches answer in milliseconds
        warehouse = Warehouse(warehouse_dir, materialize=("complaints",), catalog=catalog_of(args, "serve"))
    except WarehouseError as error:
        raise CliError(f"complaints serve: {error}") from None
    from beam_pipelines.config import ConfigError, load_section

    try:
        quality, sla = load_section("quality", args.profile), load_section("sla", args.profile)
    except ConfigError as error:
        raise CliError(f"complaints serve: {error}") from None
    if args.output_dir and not os.path.isdir(args.output_dir):
        raise CliError(f"complaints serve: output directory not found: {args.output_dir}", EXIT_USAGE)
    if args.alertmanager_url and not args.alertmanager_url.startswith(("http://", "https://")):
        raise CliError(
            f"complaints serve: --alertmanager-url must be an http(s) URL, not {args.alertmanager_url}", EXIT_USAGE
        )
    app = create_app(warehouse, keys, args.output_dir, quality, args.alertmanager_url, sla)
    auth = f"{len(keys)} API key(s)" if keys.enabled else "no authentication (loopback only)"
    print(
        f"serving {warehouse_dir} at http://{args.host}:{args.port}/dashboard and /api/v1 ({auth}); "
        f"OpenAPI at /openapi.json; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def cmd_report(args) -> int:
    from beam_pipelines.config import ConfigError, load_section
    from serving.report import EmptyPeriod, write_report
    from serving.warehouse import UnreadableTable, WarehouseError

    warehouse_dir = _warehouse_dir(args.warehouse, "report")
    try:
        sla = load_section("sla", args.profile)
    except ConfigError as error:
        raise CliError(f"complaints report: {error}") from None
    try:
        files = write_report(
            warehouse_dir, args.period, args.date, args.output, catalog=catalog_of(args, "report"), sla_settings=sla
        )
    except (EmptyPeriod, UnreadableTable) as error:
        raise CliError(f"complaints report: {error}") from None
    except WarehouseError as error:
        raise CliError(f"complaints report: {error}", EXIT_FAILED) from None
    except OSError as error:
        raise CliError(f"complaints report: cannot write {args.output}: {error.strerror}") from None
    print(f"{files.period.kind} report for {files.period.label}: {files.complaints:,} complaints")
    print(f"  html: {files.html}")
    print(f"  csv:  {files.csv_dir}/")
    return 0


def cmd_query(args) -> int:
    from serving.query import (
        AsOfOutOfRange,
        QueryRefused,
        UnreadableTable,
        WarehouseError,
        export,
        export_format,
        format_table,
        run_query,
    )

    warehouse_dir = _warehouse_dir(args.warehouse, "query")
    try:
        if args.output:
            export_format(args.output)
        table = run_query(warehouse_dir, args.sql, args.as_of, catalog_of(args, "query"))
    except (QueryRefused, AsOfOutOfRange) as error:  # the command asked for what is not there
        raise CliError(f"complaints query: {error}", EXIT_USAGE) from None
    except UnreadableTable as error:  # the warehouse holds what this reader cannot read right
        raise CliError(f"complaints query: {error}", EXIT_INPUT) from None
    except WarehouseError as error:
        raise CliError(f"complaints query: {error}", EXIT_FAILED) from None
    if args.output:
        try:
            target = export(table, args.output)
        except OSError as error:
            raise CliError(f"complaints query: cannot write {args.output}: {error.strerror}") from None
        print(f"{table.num_rows:,} rows written to {target}")
    else:
        print(format_table(table, args.max_rows))
    return 0


def cmd_forecast(args) -> int:
    from models.forecast import ForecastSettings, NotEnoughHistory
    from serving.forecast_job import run_forecast
    from serving.warehouse import UnreadableTable, WarehouseError
    from warehouse.read import EqualityDeletes

    warehouse_dir = _warehouse_dir(args.warehouse, "model forecast")
    country = None if args.holidays.lower() == "none" else args.holidays.upper()
    if country:
        import holidays

        if country not in holidays.list_supported_countries():
            raise CliError(
                f"complaints model forecast: no holiday calendar for '{args.holidays}' "
                f"(use an ISO country code such as NG, or 'none')",
                EXIT_USAGE,
            )
    settings = ForecastSettings(horizon_days=args.horizon, training_days=args.training_days, holiday_country=country)
    try:
        result = run_forecast(warehouse_dir, settings, catalog=catalog_of(args, "model forecast"))
    except (NotEnoughHistory, UnreadableTable, EqualityDeletes) as error:
        raise CliError(f"complaints model forecast: {error}") from None
    except WarehouseError as error:
        raise CliError(f"complaints model forecast: {error}", EXIT_FAILED) from None
    forecast = result.forecast
    print(
        f"forecast run {result.run_id}: {args.horizon} days from {forecast['forecast_date'].min()} for "
        f"{forecast.groupby(['category', 'source']).ngroups} series, from {result.history_days} days of history"
    )
    print(f"  table forecast, snapshot {result.forecast_snapshot}")
    if result.backtest is None:
        print("  backtest: not enough history for it yet")
        return 0
    errors = result.backtest
    print(
        f"backtest ({settings.folds} origins a week apart, {settings.backtest_horizon} days each): "
        f"WAPE of the daily total, model vs seasonal-naive"
    )
    for scope in errors["scope"].unique():
        part = errors[errors["scope"] == scope].set_index("method")
        model, naive = part.loc["poisson_weekly"], part.loc["seasonal_naive"]
        print(
            f"  {scope:<28} {model['wape']:7.1%}  vs {naive['wape']:7.1%}   (MAE {model['mae']:.1f} vs "
            f"{naive['mae']:.1f} per day)"
        )
    print(f"  table forecast_backtest, snapshot {result.backtest_snapshot}")
    return 0


SERVE = Command(
    "serve", "the HTTP API for CRM and apps, and the live dashboard", serve_arguments, cmd_serve, extra="serving"
)
REPORT = Command(
    "report", "a self-contained HTML report and CSV exports for a period", report_arguments, cmd_report, extra="serving"
)
QUERY = Command(
    "query",
    "ad-hoc read-only SQL over the warehouse tables (DuckDB)",
    query_arguments,
    cmd_query,
    extra="serving",
    epilog="Tables: " + ", ".join(WAREHOUSE_TABLES) + ".",
)
