"""Serving benchmark: API latency (median, p99) for search and volume queries over a warehouse of ~1M complaints.

    python benchmarks/serving_latency.py [--complaints 1000000] [--days 120] [--requests 200] [--clients 1,4]

It writes the warehouse with ``complaints generate history`` (rules-labelled texts in every channel's style,
weekly shape, outages; one Parquet file per day), starts ``complaints serve`` as a real process on loopback,
and sends each request type ``--requests`` times from 1 client, then from several concurrent clients (threads;
the server is one uvicorn process). Latency is measured by the client (request sent to body read), on the
same 2-core machine as the server. Results go to benchmarks/results/serving_latency.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import hashlib
import json
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
KEY = "benchmark-key"


def request_types(sample_ids: list[str], customers: list[str], end: dt.date) -> dict:
    """Name -> a function giving the next path; each call varies the parameters a little, as real traffic does."""
    rng = random.Random(11)
    categories = ["Network", "Billing", "Customer Service", "Other"]

    def day(back: int) -> str:
        return (end - dt.timedelta(days=back)).isoformat()

    return {
        "get complaint by id": lambda: f"/api/v1/complaints/{rng.choice(sample_ids)}",
        "search: newest 50, no filter": lambda: "/api/v1/complaints?limit=50",
        "search: category + priority, 7 days": lambda: (
            "/api/v1/complaints?"
            + urllib.parse.urlencode(
                {
                    "category": rng.choice(categories),
                    "priority": ["P1", "P2"],
                    "start": day(rng.randint(7, 60)),
                    "limit": 50,
                },
                doseq=True,
            )
        ),
        "search: one customer": lambda: f"/api/v1/complaints?customer_id={rng.choice(customers)}&limit=50",
        "search: text contains, 1 day": lambda: (
            "/api/v1/complaints?"
            + urllib.parse.urlencode(
                {
                    "q": rng.choice(["refund", "no signal", "agent", "bundle"]),
                    "start": day(rng.randint(1, 60)),
                    "end": day(0),
                    "limit": 50,
                }
            )
        ),
        "search: second page (cursor)": None,  # filled in below: needs a first page
        "volumes: day x category, 14 days": lambda: "/api/v1/volumes?granularity=day&by=category",
        "volumes: day x channel, 90 days": lambda: f"/api/v1/volumes?granularity=day&by=source&start={day(90)}",
        "volumes: hour x category, 48 h": lambda: "/api/v1/volumes?granularity=hour&by=category",
        "summary (dashboard tiles)": lambda: "/api/v1/summary",
    }


def get(base: str, path: str) -> tuple[float, int, bytes]:
    request = urllib.request.Request(base + path, headers={"X-API-Key": KEY})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    return (time.perf_counter() - started) * 1000, status, body


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(base: str, make_path, requests: int, clients: int) -> dict:
    paths = [make_path() for _ in range(requests)]
    for path in paths[:3]:  # warm the caches a user's first requests also warm
        get(base, path)
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        results = list(pool.map(lambda p: get(base, p), paths))
        elapsed = time.perf_counter() - started
    latencies = [r[0] for r in results]
    errors = sum(1 for r in results if r[1] != 200)
    return {
        "requests": requests,
        "clients": clients,
        "errors": errors,
        "median_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
        "requests_per_s": round(requests / elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--warehouse", help="reuse this warehouse instead of generating one")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    warehouse = Path(args.warehouse) if args.warehouse else workdir / "warehouse"
    end = dt.date(2026, 11, 25)
    if not args.warehouse:
        started = time.perf_counter()
        per_day = int(args.complaints / args.days / 0.96)  # the weekly shape averages a little under 1
        subprocess.run(
            [
                sys.executable,
                "-m",
                "beam_pipelines",
                "generate",
                "history",
                "--warehouse",
                str(warehouse),
                "--days",
                str(args.days),
                "--per-day",
                str(per_day),
                "--end",
                end.isoformat(),
            ],
            check=True,
            cwd=REPO,
        )
        print(f"warehouse written in {time.perf_counter() - started:.0f} s", flush=True)

    import pyarrow.parquet as pq

    table = pq.read_table(warehouse / "complaints", columns=["complaint_id", "customer_id"])
    total = table.num_rows
    rng = random.Random(5)
    ids = [table["complaint_id"][rng.randrange(total)].as_py() for _ in range(500)]
    customers = [c for c in (table["customer_id"][rng.randrange(total)].as_py() for _ in range(500)) if c]
    size = sum(f.stat().st_size for f in (warehouse / "complaints").rglob("*.parquet"))
    print(f"{total:,} complaints, {size / 1e6:.0f} MB of Parquet", flush=True)

    keys = workdir / "keys.toml"
    keys.write_text(
        f'[[keys]]\nname = "bench"\nsha256 = "{hashlib.sha256(KEY.encode()).hexdigest()}"\n'
        'scopes = ["complaints", "aggregates"]\n'
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "serve",
            "--warehouse",
            str(warehouse),
            "--port",
            str(port),
            "--api-keys",
            str(keys),
        ],
        cwd=REPO,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        types = request_types(ids, customers, end)
        _, _, first_page = get(base, "/api/v1/complaints?limit=50&category=Network")
        cursor = json.loads(first_page)["next_cursor"]
        types["search: second page (cursor)"] = lambda: f"/api/v1/complaints?limit=50&category=Network&cursor={cursor}"
        results = {}
        for clients in [int(c) for c in args.clients.split(",")]:
            for name, make_path in types.items():
                figures = measure(base, make_path, args.requests, clients)
                results.setdefault(name, {})[f"{clients}_clients"] = figures
                print(
                    f"{name:<38} {clients} client(s): median {figures['median_ms']:7.1f} ms  "
                    f"p99 {figures['p99_ms']:7.1f} ms  {figures['requests_per_s']:6.1f} req/s  "
                    f"errors {figures['errors']}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=20)
    output = REPO / "benchmarks" / "results" / "serving_latency.json"
    output.parent.mkdir(exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "complaints": total,
                "days": args.days,
                "parquet_bytes": size,
                "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
                "command": " ".join(sys.argv),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
