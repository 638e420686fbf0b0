"""Commands the schedules run besides the pipelines (``runners/airflow/dags``): ``alert`` (a failure alert to
the profile's webhook), ``promote-model`` and ``rollback-model`` (the model registry, ``models/registry.py``) and
``expire-lake`` (lake retention)."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import urllib.error
import urllib.request

from beam_pipelines.cli.common import EXIT_FAILED, EXIT_USAGE, CliError, Command, non_negative


def _profile_argument(parser) -> None:
    parser.add_argument("--profile", help="dev (default), staging, prod, or a .toml file")


def _section(args, name: str):
    from beam_pipelines.config import ConfigError, load_section

    try:
        return load_section(name, args.profile)
    except ConfigError as error:
        raise CliError(f"complaints {args.command}: {error}") from None


# -- alert ---------------------------------------------------------------------------------------------------
def alert_arguments(parser) -> None:
    _profile_argument(parser)
    parser.add_argument("--message", help="the alert's text (default: a JSON object read from standard input)")


def send_alert(payload: dict, webhook_url: str, timeout: float) -> int:
    """POST ``payload`` as JSON to ``webhook_url``; returns the HTTP status (raises ``OSError`` when it cannot be
    delivered, ``urllib.error.HTTPError`` on a non-2xx answer)."""
    request = urllib.request.Request(webhook_url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "beejan-complaints-alert"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the operator's own URL
        return response.status


def run_alert(args) -> int:
    settings = _section(args, "alerts")
    if args.message is not None:
        payload = {"event": "alert", "message": args.message}
    else:
        text = sys.stdin.read()
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as error:
            raise CliError(f"complaints alert: standard input is not a JSON object: {error}", EXIT_USAGE) from None
        if not isinstance(payload, dict):
            raise CliError("complaints alert: standard input is not a JSON object", EXIT_USAGE)
    payload.setdefault("sent_at", dt.datetime.now(dt.timezone.utc).isoformat())
    url = os.environ.get(settings.webhook_url_env) or settings.webhook_url
    if not url:
        print("ALERT " + json.dumps(payload), flush=True)
        return 0
    if not url.startswith(("http://", "https://")):
        raise CliError(f"complaints alert: webhook URL {url!r} is not http(s)", EXIT_USAGE)
    try:
        status = send_alert(payload, url, settings.timeout_seconds)
    except (OSError, urllib.error.HTTPError) as error:
        print("ALERT " + json.dumps(payload), flush=True)  # not lost: it is in the log
        raise CliError(f"complaints alert: the webhook did not take the alert ({error}); printed instead",
                       EXIT_FAILED) from None
    print(f"alert delivered ({status})")
    return 0


# -- model registry ------------------------------------------------------------------------------------------
def promote_arguments(parser) -> None:
    parser.add_argument("--candidate", required=True, help="a model directory from `complaints train`")
    parser.add_argument("--registry", required=True, help="the registry: versions/, current, previous")
    parser.add_argument("--holdout", required=True, help="labelled CSV/JSONL file neither model was trained on")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--label-map", help="as for `complaints evaluate`")
    parser.add_argument("--target", choices=("category", "sentiment"))


def run_promote(args) -> int:
    from models.datasets import DatasetError
    from models.registry import promote
    from models.sklearn_model import ModelDirectoryError

    try:
        decision = promote(args.candidate, args.registry, args.holdout, args.text_column, args.label_column,
                           args.label_map, args.target)
    except (ModelDirectoryError, DatasetError, ValueError) as error:
        raise CliError(f"complaints promote-model: {error}") from None
    candidate, serving = decision["candidate"], decision["serving"]
    verdict = "promoted" if decision["promoted"] else "kept the serving model"
    print(f"{verdict}: candidate {candidate['model_version']} macro-F1 {candidate['macro_f1']:.3f} vs serving "
          f"{serving['model_version']} {serving['macro_f1']:.3f} on {candidate['examples']} held-out rows")
    print(json.dumps(decision))
    return 0


def rollback_arguments(parser) -> None:
    parser.add_argument("--registry", required=True)


def run_rollback(args) -> int:
    from models.registry import rollback
    from models.sklearn_model import ModelDirectoryError

    try:
        entry = rollback(args.registry)
    except ModelDirectoryError as error:
        raise CliError(f"complaints rollback-model: {error}") from None
    print(f"current model is now {entry['current']}")
    return 0


# -- lake retention ------------------------------------------------------------------------------------------
def expire_lake_arguments(parser) -> None:
    _profile_argument(parser)
    parser.add_argument("--lake", required=True, help="the lake folder, OUT/lake")
    parser.add_argument("--keep-days", type=non_negative,
                        help="keep ingest dates of the last N days (default: the profile's [lake] retention_days; "
                             "0 keeps everything)")
    parser.add_argument("--today", help="the day retention counts back from (default: today, UTC)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed")


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
                day = dt.date.fromisoformat(partition[len("ingest_date="):])
            except ValueError:
                continue
            if day < oldest_kept:
                found.append(os.path.join(raw, source, partition))
    return found


def run_expire_lake(args) -> int:
    keep = args.keep_days if args.keep_days is not None else _section(args, "lake").retention_days
    try:
        today = dt.date.fromisoformat(args.today) if args.today else dt.datetime.now(dt.timezone.utc).date()
    except ValueError:
        raise CliError(f"complaints expire-lake: --today: invalid date {args.today!r}", EXIT_USAGE) from None
    if not os.path.isdir(args.lake):
        raise CliError(f"complaints expire-lake: lake folder {args.lake} does not exist")
    expired = expired_partitions(args.lake, keep, today)
    for path in expired:
        if not args.dry_run:
            shutil.rmtree(path)
        print(f"{'would remove' if args.dry_run else 'removed'} {path}")
    print(f"{len(expired)} partitions older than {keep} days {'found' if args.dry_run else 'removed'}"
          if keep else "retention 0: the lake keeps everything")
    return 0


COMMANDS = (
    Command("alert", "send an alert (JSON on stdin, or --message) to the profile's [alerts] webhook", alert_arguments,
            run_alert, extra="pipeline"),
    Command("promote-model", "make a trained model current if it scores at least as well as the serving one",
            promote_arguments, run_promote, extra="pipeline"),
    Command("rollback-model", "make the previous model current again", rollback_arguments, run_rollback,
            extra="pipeline"),
    Command("expire-lake", "remove lake partitions older than the retention", expire_lake_arguments,
            run_expire_lake, extra="pipeline"),
)
