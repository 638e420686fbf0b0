"""Streaming benchmark: the rates (records/s) the streaming pipeline keeps up with on this machine, and the
latency from publish to the record being readable in the warehouse (median, p99), on the real Kafka broker
and Prism, or the local Flink cluster (``--runner flink``: EXTERNAL Python workers, parallelism 2 and one Python
worker per TaskManager unless ``--parallelism`` and ``--sdk-worker-parallelism`` say otherwise).

    [COMPLAINTS_FLINK_SLOTS=N] python runners/local_services.py start
    python benchmarks/stream_throughput.py [--runner prism|flink] [--rates 50,100,200,400] [--seconds 45]
                                           [--parallelism P] [--sdk-worker-parallelism W]

One ``complaints stream run`` job runs unbounded for the whole benchmark. For each rate in turn, synthetic X posts
(unique ids, ``created_at`` = publish time) are published at that rate for ``--seconds``; a reader polls the
warehouse's committed complaint files and notes when each complaint first becomes readable. The job kept up with a rate
when every record published at it was readable within ``window + 15 s`` after publishing stopped and the
latency of the last third of the records was not more than a window above that of the first third (its
backlog did not grow). Latency depends on the window (the trigger: files are written when the watermark closes a
window, or early after ``--early-firing-count`` records). Results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from beam_pipelines.cli.common import positive, positive_float
from ingest.replay import RateLimiter
from ingest.transport import KafkaConfig, KafkaPublisher
from runners import local_services
from schemas.tables import WAREHOUSE_TABLES
from transforms.records import complaint_id
from warehouse.catalog import CatalogConfig, load_table, open_catalog
from warehouse.read import table_state

TEXTS = [
    "No network in Lekki since morning, calls keep dropping",
    "I was charged twice for my data bundle",
    "Your customer care agent hung up on me",
    "How do I change my plan to the family bundle?",
    "Internet has been extremely slow for three days now, fix it",
    "Airtime deducted but recharge failed",
]


class WarehouseWatcher(threading.Thread):
    """Polls the warehouse's complaints table; remembers when each complaint_id was first readable, i.e. in a
    data file of a committed snapshot (a file being written, or written but not yet committed, is not)."""

    def __init__(self, root: Path, interval: float = 0.25):
        super().__init__(daemon=True)
        self.config, self.interval = CatalogConfig(str(root / "warehouse")), interval
        self.first_seen: dict[str, float] = {}
        self._files: set[str] = set()
        self._stop = threading.Event()

    def committed_files(self) -> tuple[str, ...]:
        try:
            table = load_table(open_catalog(self.config, create=False), self.config, WAREHOUSE_TABLES["complaints"])
        except Exception:  # noqa: BLE001 - no catalog or table yet: nothing is readable
            return ()
        return table_state(table, "complaints").files

    def run(self):
        while not self._stop.is_set():
            now = time.time()
            for path in self.committed_files():
                if path not in self._files:
                    self._files.add(path)
                    for cid in pq.read_table(path, columns=["complaint_id"]).column(0).to_pylist():
                        self.first_seen.setdefault(cid, now)
            time.sleep(self.interval)

    def stop(self):
        self._stop.set()


def post(n: int, run: str) -> tuple[str, bytes]:
    tweet_id = f"{run}{n:09d}"
    created = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload = {
        "data": {"id": tweet_id, "text": TEXTS[n % len(TEXTS)], "created_at": created, "author_id": str(n % 5000)},
        "includes": {"users": [{"id": str(n % 5000), "username": f"user{n % 5000}"}]},
    }
    return tweet_id, json.dumps(payload).encode()


def publish_at(publisher, rate: float, seconds: float, run: str, start_n: int) -> dict[str, float]:
    """Publish at ``rate`` for ``seconds``; returns complaint_id -> publish time."""
    limiter, published, n = RateLimiter(rate), {}, start_n
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        limiter.wait()
        tweet_id, payload = post(n, run)
        published[complaint_id("twitter", tweet_id)] = time.time()
        publisher.publish("twitter", payload)
        n += 1
    publisher.flush()
    return published


def wake_every_partition(bootstrap_servers: str, topics: dict[str, str], run: str) -> None:
    """One message into each partition of each channel's topic: a web form, a tweet."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap_servers})
    metadata = producer.list_topics(timeout=10)
    for partition in metadata.topics[topics["webform"]].partitions:
        form = {
            "submission_id": f"bench-{run}-{partition}",
            "submitted_at": dt.datetime.now(dt.UTC).isoformat(),
            "fields": {"full_name": "Bench Mark", "message": TEXTS[partition % len(TEXTS)]},
        }
        producer.produce(
            topics["webform"],
            value=json.dumps(form).encode(),
            partition=partition,
            headers=[("content_type", b"application/json")],
        )
    for partition in metadata.topics[topics["twitter"]].partitions:
        producer.produce(topics["twitter"], value=post(partition, f"{run}w")[1], partition=partition)
    producer.flush(30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


#: the local Flink cluster of runners/local_services.py, on the ports it was started with
FLINK = local_services.flink_submit_options()
FLINK_REST = f"http://localhost:{local_services.FLINK_REST_PORT}"


def flink_slots() -> int:
    """The local cluster's task slots (a job with a higher parallelism would wait for slots forever)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{FLINK_REST}/overview", timeout=5) as response:
            return int(json.load(response).get("slots-total", 0))
    except OSError as error:
        raise SystemExit(
            f"no Flink cluster at {FLINK_REST} ({error}); start it: python runners/local_services.py start"
        ) from None


def rates(value: str) -> list[float]:
    """``--rates 100,200,400``: records/s to try, in order, each a positive number."""
    try:
        return [positive_float(part) for part in value.split(",")]
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"expected rates like 100,200,400 ({error})") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=rates, default="50,100,200,400", help="records/s to try, in order")
    parser.add_argument("--seconds", type=positive_float, default=45, help="how long to publish at each rate")
    parser.add_argument("--window-seconds", type=positive, default=5)
    parser.add_argument("--early-firing-count", type=positive, default=1000)
    parser.add_argument("--bootstrap-servers", default=f"localhost:{local_services.KAFKA_PORT}")
    parser.add_argument("--runner", choices=("prism", "flink"), default="prism")
    parser.add_argument("--parallelism", type=positive, default=2, help="Flink: the job's parallelism")
    parser.add_argument(
        "--sdk-worker-parallelism",
        type=positive,
        default=1,
        help="Flink: Python worker processes per TaskManager (Beam's --sdk_worker_parallelism)",
    )
    args = parser.parse_args()
    runner = []
    if args.runner == "flink":
        slots = flink_slots()
        if args.parallelism > slots:
            parser.error(
                f"--parallelism {args.parallelism} is more than the cluster's {slots} task slots "
                "(start it with COMPLAINTS_FLINK_SLOTS=N python runners/local_services.py start)"
            )
        runner = [
            *FLINK,
            f"--parallelism={args.parallelism}",
            f"--sdk_worker_parallelism={args.sdk_worker_parallelism}",
        ]

    run = uuid.uuid4().hex[:6]
    topics = {"twitter": f"bench{run}.twitter", "webform": f"bench{run}.webforms"}
    output = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    publisher = KafkaPublisher(KafkaConfig(bootstrap_servers=args.bootstrap_servers, topics=topics))
    publisher.check()
    publisher.ensure_topics()
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "stream",
            "run",
            "--transport",
            "kafka",
            "--output-dir",
            str(output),
            "--bootstrap-servers",
            args.bootstrap_servers,
            "--twitter-topic",
            topics["twitter"],
            "--webform-topic",
            topics["webform"],
            "--window-seconds",
            str(args.window_seconds),
            "--allowed-lateness",
            "60",
            "--early-firing-count",
            str(args.early_firing_count),
            "--group-id",
            f"bench-{run}",
            *runner,
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    watcher = WarehouseWatcher(output)
    watcher.start()
    results, n = [], 0
    try:
        warmup = publish_at(publisher, 5, 2, run, n)  # wait until the job is up and writing
        n += len(warmup)
        # Beam's KafkaIO (CreateTime policy) holds the watermark of a partition that has delivered no record since
        # the job started, and with it every window of the job (apache/beam#40176): on Flink, a silent channel
        # stops the stream. Every partition of both topics gets a web form first, as live channels give them.
        wake_every_partition(args.bootstrap_servers, topics, run)
        deadline = time.monotonic() + 180
        while not set(warmup) <= set(watcher.first_seen) and time.monotonic() < deadline:
            if job.poll() is not None:
                raise SystemExit(f"the stream job exited: {job.stderr.read().decode()[-2000:]}")
            time.sleep(0.5)
        for rate in args.rates:
            published = publish_at(publisher, rate, args.seconds, run, n)
            n += len(published)
            stopped = time.time()
            grace = args.window_seconds + 15
            while time.time() < stopped + grace and not set(published) <= set(watcher.first_seen):
                time.sleep(0.25)
            seen = {cid: watcher.first_seen[cid] - t for cid, t in published.items() if cid in watcher.first_seen}
            achieved = len(published) / args.seconds
            latencies = list(seen.values())
            # Kept up: everything became readable, and latency did not climb while publishing (a growing
            # backlog shows as records published late in the phase waiting longer than early ones).
            ordered = [seen[cid] for cid in sorted(seen, key=published.get)]
            third = max(1, len(ordered) // 3)
            early, late = statistics.median(ordered[:third] or [0]), statistics.median(ordered[-third:] or [0])
            kept_up = len(seen) == len(published) and late <= early + args.window_seconds
            result = {
                "target_rate": rate,
                "published": len(published),
                "achieved_publish_rate": round(achieved, 1),
                "readable_within_grace": len(seen),
                "kept_up": kept_up,
                "latency_median_first_third_s": round(early, 2),
                "latency_median_last_third_s": round(late, 2),
                "latency_median_s": round(statistics.median(latencies), 2) if latencies else None,
                "latency_p99_s": round(percentile(latencies, 0.99), 2) if latencies else None,
            }
            results.append(result)
            print(json.dumps(result), flush=True)
            if not kept_up:
                break
    finally:
        watcher.stop()
        job.terminate()
        try:
            job.wait(60)
        except subprocess.TimeoutExpired:
            job.kill()
    sustained = max((r["target_rate"] for r in results if r["kept_up"]), default=0)
    report = {
        "benchmark": "stream_throughput",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "window_seconds": args.window_seconds,
        "early_firing_count": args.early_firing_count,
        "seconds_per_rate": args.seconds,
        "transport": "kafka",
        "runner": (
            f"FlinkRunner (parallelism {args.parallelism}, {args.sdk_worker_parallelism} Python "
            "workers per TaskManager, EXTERNAL)"
        )
        if runner
        else "PrismRunner (LOOPBACK)",
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "sustained_rate": sustained,
        "rates": results,
    }
    results_dir = REPO / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    path = results_dir / f"stream-{args.runner}-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"sustained: {sustained:.0f} records/s (window {args.window_seconds} s); report in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
