"""The serving tests' warehouse (weeks of history, streaming aggregates, complaint texts a spreadsheet would run)
and ``complaints serve`` as a real process: start it, call its API with a key, stop it."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO
from tests.support.ports import free_port

SERVING_END = dt.date(2026, 11, 25)
FORMULA_TEXTS = [
    '=HYPERLINK("http://evil.example","refund")',
    "+1 if you fix it today",
    "@SUM(A1:A9)",
    "-1+1 my data",
    "\tTabbed start",
]
API_KEYS = {"ops": "ops-key-7f3a", "wallboard": "wallboard-key-91c2"}


def write_stream_tables(warehouse: Path) -> dict:
    """A few streaming aggregates (complaint_volume rows, alerts) as the streaming job commits them."""
    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows

    minute = dt.datetime(2026, 11, 25, 23, 50, tzinfo=dt.UTC)
    written = minute + dt.timedelta(minutes=2)
    volume_rows = []
    for step in range(6):
        start = minute + dt.timedelta(minutes=step)
        for category, count in (("Network", 5 + step), ("Billing", 2)):
            volume_rows.append(
                {
                    "minute_start": start,
                    "window_seconds": 60,
                    "source": "twitter",
                    "category": category,
                    "priority": "P3",
                    "complaints": count,
                    "pane": "ON_TIME",
                    "pane_index": 0,
                    "written_at": written,
                    "event_date": start.date(),
                }
            )
    # a late pane of the last Network minute's window: 4 more, the row replaced by the window's new total
    volume_rows[-2] = {
        **volume_rows[-2],
        "complaints": volume_rows[-2]["complaints"] + 4,
        "pane": "LATE",
        "pane_index": 1,
    }
    config = CatalogConfig(str(warehouse))
    write_rows(config, tables.COMPLAINT_VOLUME, volume_rows)
    alert_rows = [
        {
            "alert_id": f"al-{n}",
            "scope": scope,
            "minute_start": minute + dt.timedelta(minutes=n),
            "window_seconds": 60,
            "complaints": 90 + n,
            "baseline_mean": 6.5,
            "baseline_stddev": 2.0,
            "threshold": 19.5,
            "severity": "critical" if n else "warning",
            "detected_at": minute + dt.timedelta(minutes=n + 1),
            "alert_date": minute.date(),
        }
        for n, scope in enumerate(("all", "category:Network"))
    ]
    write_rows(config, tables.ALERTS, alert_rows)
    # a data file a writer has written but not committed (yet): never read
    (warehouse / "alerts" / "alert_date=2026-11-25" / "uncommitted-stream-test-1.parquet").write_bytes(b"not parquet")
    return {"volume": volume_rows, "alerts": alert_rows}


def write_formula_complaints(warehouse: Path) -> list[str]:
    """Complaints whose text a spreadsheet would run as a formula."""
    import pyarrow.compute as pc

    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows
    from warehouse.read import read_arrow

    config = CatalogConfig(str(warehouse))
    complaints = read_arrow(config, "complaints")
    template = complaints.filter(pc.equal(complaints["event_date"], SERVING_END)).slice(0, 1).to_pylist()[0]
    rows = []
    for index, text in enumerate(FORMULA_TEXTS):
        rows.append(
            {
                **template,
                "complaint_id": f"fx-formula-{index}",
                "text": text,
                "batch_id": "formula-test",
                "event_time": dt.datetime(2026, 11, 25, 12, index, tzinfo=dt.UTC),
            }
        )
    write_rows(config, tables.COMPLAINTS, rows)
    return [row["complaint_id"] for row in rows]


def start_server(arguments: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``complaints serve ARGUMENTS`` as a real process on a free loopback port, once it answers /healthz:
    (the process, its base URL)."""
    import time
    import urllib.request

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "beam_pipelines", "serve", "--port", str(port), *arguments],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return process, base
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"complaints serve did not start: {process.communicate()[1][-2000:]}")
        time.sleep(0.3)


def write_key_file(path: Path, keys: dict[str, tuple[str, list[str]]]) -> Path:
    """A ``complaints serve`` key file of ``{name: (key, scopes)}``, holding only the keys' SHA-256."""
    import hashlib

    path.write_text(
        "".join(
            f'[[keys]]\nname = "{name}"\nsha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\n'
            f"scopes = {json.dumps(scopes)}\n\n"
            for name, (key, scopes) in keys.items()
        )
    )
    return path


def call_api(base: str, path: str, key: str, body=None, params: dict | None = None) -> tuple[int, object]:
    """(status, JSON body) of a GET (or, with ``body``, a POST) to a real server with the API key ``key``."""
    import urllib.error
    import urllib.parse
    import urllib.request

    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(
        url,
        method="POST" if body is not None else "GET",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def stop_server(process: subprocess.Popen) -> None:
    """End a server ``start_server`` started: SIGTERM, SIGKILL after 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
