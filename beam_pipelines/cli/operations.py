"""``complaints alert``: what every schedule (``runners/airflow/dags``) runs when a task fails, a failure alert to
the profile's webhook."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import urllib.error
import urllib.request

from beam_pipelines.cli.common import EXIT_FAILED, EXIT_USAGE, CliError, Command


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
    request = urllib.request.Request(
        webhook_url,
        data=json.dumps(payload).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "beejan-complaints-alert"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # the operator's own URL
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
    payload.setdefault("sent_at", dt.datetime.now(dt.UTC).isoformat())
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
        raise CliError(
            f"complaints alert: the webhook did not take the alert ({error}); printed instead", EXIT_FAILED
        ) from None
    print(f"alert delivered ({status})")
    return 0


ALERT = Command(
    "alert",
    "send an alert (JSON on stdin, or --message) to the profile's [alerts] webhook",
    alert_arguments,
    run_alert,
    extra="pipeline",
)
