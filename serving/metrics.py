"""``/metrics``: the platform's health in Prometheus' exposition format, for Prometheus to scrape.

One scrape target tells the whole story. Batch runs are short-lived, so instead of pushing they leave what they
did where it lasts (their run manifests in ``OUT/_runs``, the scheduler's freshness records in
``OUT/_freshness``, the streaming job's ``stream_counts`` table), and the serving process, which runs all the
time, reads those and the warehouse at every scrape:

- the API itself: requests by route, method and status code, and their latency;
- the warehouse: rows and current snapshot (time and age) per table;
- each channel: when its last record arrived (complaint or dead letter), how far the scheduled batches have
  completed it, yesterday's complaints;
- batch runs: how many by status, and per source the last run's records by outcome and rejection reason,
  reject and flagged ratios, status, duration, quality warnings, and the last successful run;
- the stream: records by source and outcome (``stream_counts``), the event time of the newest window written;
- the model: the category mix and mean confidence of the last 24 hours' complaints; volume spikes of the last
  hour;
- response SLAs: the last three days' cases by target, status and priority, and when the soonest at-risk target
  falls due (``sla.py``); the review queue's items by status (``review.py``);
- the profile's ``[quality]`` thresholds, so the alert rules (``runners/monitoring/alerts.yml``) compare each
  channel with its own limit instead of repeating the limits.

Times are exported as Unix timestamps (``*_timestamp_seconds``), as Prometheus' conventions ask: an age is
``time() - metric`` in PromQL. Nothing here writes anywhere.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from serving.health import RunManifests, last_record_by_channel, read_freshness, timestamp
from serving.review import counts as review_counts
from serving.sla import TARGETS, sla_cases
from serving.warehouse import Warehouse, WarehouseError

LOG = logging.getLogger(__name__)
disable_created_metrics()  # no *_created series: Prometheus 2 stores them as gauges of their own
PREFIX = "complaints"
#: the tables whose rows and snapshots are exported
WAREHOUSE_TABLES = (
    "complaints",
    "dead_letter",
    "complaint_volume",
    "alerts",
    "stream_counts",
    "complaint_events",
    "reviews",
)
#: the SLA metrics cover the cases whose first contact was on the last this many days (UTC), recomputed so often
SLA_METRIC_DAYS, SLA_METRIC_REFRESH_SECONDS = 3, 60
#: what a run manifest counts per source, exported as ``outcome``
RUN_OUTCOMES = ("read", "written", "rejected", "duplicates", "merged_parts")


class RequestMetrics:
    """API requests by route (the route's template, so ids do not make new series), method and status code,
    and their latency."""

    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter(
            f"{PREFIX}_api_requests",
            "API requests by route, method and status code",
            ("route", "method", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_api_request_duration_seconds",
            "API request latency by route",
            ("route", "method"),
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)


def last_run_by_source(manifests: list[dict]) -> dict[str, dict]:
    """For each source, the latest run (by when it finished) that read it."""
    latest: dict[str, dict] = {}
    for manifest in sorted(manifests, key=lambda m: m.get("finished_at") or ""):
        for source in manifest.get("counts", {}):
            if source != "customers":
                latest[source] = manifest
    return latest


def last_success_by_source(manifests: list[dict]) -> dict[str, float]:
    found: dict[str, float] = {}
    for manifest in manifests:
        finished = timestamp(manifest.get("finished_at"))
        if manifest.get("status") != "succeeded" or finished is None:
            continue
        for source in manifest.get("counts", {}):
            if source != "customers" and finished > found.get(source, 0):
                found[source] = finished
    return found


def run_families(manifests: list[dict]) -> list:
    """The batch runs' metrics from their manifests."""
    runs = CounterMetricFamily(
        f"{PREFIX}_batch_runs", "Batch runs recorded in OUT/_runs, by status", labels=("status",)
    )
    by_status: dict[str, int] = {}
    for manifest in manifests:
        by_status[manifest.get("status", "unknown")] = by_status.get(manifest.get("status", "unknown"), 0) + 1
    for status, n in sorted(by_status.items()):
        runs.add_metric((status,), n)
    records = GaugeMetricFamily(
        f"{PREFIX}_batch_last_run_records",
        "Records of the source in its last batch run, by outcome",
        labels=("source", "outcome"),
    )
    rejected = GaugeMetricFamily(
        f"{PREFIX}_batch_last_run_rejected_records",
        "Records of the source rejected in its last batch run, by reason",
        labels=("source", "reason"),
    )
    reject_ratio = GaugeMetricFamily(
        f"{PREFIX}_batch_last_run_reject_ratio",
        "Rejected / read of the source in its last batch run",
        labels=("source",),
    )
    flagged_ratio = GaugeMetricFamily(
        f"{PREFIX}_batch_last_run_flagged_ratio",
        "Flags (by reason) per written complaint of the source in its last batch run",
        labels=("source",),
    )
    succeeded = GaugeMetricFamily(
        f"{PREFIX}_batch_last_run_succeeded",
        "1 when the source's last batch run was committed, 0 when it was refused or did not balance",
        labels=("source",),
    )
    finished = GaugeMetricFamily(
        f"{PREFIX}_batch_last_run_timestamp_seconds", "When the source's last batch run finished", labels=("source",)
    )
    duration = GaugeMetricFamily(
        f"{PREFIX}_batch_last_run_duration_seconds", "How long the source's last batch run took", labels=("source",)
    )
    warnings = GaugeMetricFamily(
        f"{PREFIX}_batch_last_run_quality_warnings",
        "Soft [quality] limits the source's last batch run broke",
        labels=("source",),
    )
    for source, manifest in sorted(last_run_by_source(manifests).items()):
        entry = manifest["counts"][source]
        for outcome in RUN_OUTCOMES:
            records.add_metric((source, outcome), entry.get(outcome, 0))
        flagged = sum(entry.get("flagged", {}).values())  # flags by reason: a complaint may carry two
        records.add_metric((source, "flags"), flagged)
        for reason, n in sorted(entry.get("rejected_by_reason", {}).items()):
            rejected.add_metric((source, reason), n)
        reject_ratio.add_metric((source,), entry.get("rejected", 0) / entry["read"] if entry.get("read") else 0)
        flagged_ratio.add_metric((source,), flagged / entry["written"] if entry.get("written") else 0)
        succeeded.add_metric((source,), 1 if manifest.get("status") == "succeeded" else 0)
        if timestamp(manifest.get("finished_at")) is not None:
            finished.add_metric((source,), timestamp(manifest.get("finished_at")))
        duration.add_metric((source,), manifest.get("duration_seconds", 0))
        warnings.add_metric(
            (source,), sum(1 for warning in manifest.get("quality_warnings", []) if warning.startswith(f"{source}:"))
        )
    last_success = GaugeMetricFamily(
        f"{PREFIX}_batch_last_success_timestamp_seconds",
        "When the last committed batch run that read the source finished",
        labels=("source",),
    )
    for source, moment in sorted(last_success_by_source(manifests).items()):
        last_success.add_metric((source,), moment)
    return [runs, records, rejected, reject_ratio, flagged_ratio, succeeded, finished, duration, warnings, last_success]


def threshold_families(quality) -> list:
    """The profile's ``[quality]`` limits, for the alert rules to compare with."""
    silence = GaugeMetricFamily(
        f"{PREFIX}_quality_max_silence_seconds",
        "[quality] max_silence_minutes: how long a channel may go without a record",
        labels=("source",),
    )
    for source, minutes in sorted(quality.max_silence_minutes.items()):
        silence.add_metric((source,), minutes * 60)
    volume = GaugeMetricFamily(
        f"{PREFIX}_quality_min_daily_volume",
        "[quality] min_daily_volume: complaints expected at least per complete day",
        labels=("source",),
    )
    for source, complaints in sorted(quality.min_daily_volume.items()):
        volume.add_metric((source,), complaints)
    return [
        silence,
        volume,
        GaugeMetricFamily(
            f"{PREFIX}_quality_max_reject_ratio",
            "[quality] max_reject_ratio: above it a batch is refused",
            value=quality.max_reject_ratio,
        ),
        GaugeMetricFamily(
            f"{PREFIX}_quality_max_flagged_ratio",
            "[quality] max_flagged_ratio: above it a run is warned about",
            value=quality.max_flagged_ratio,
        ),
    ]


def freshness_family(freshness_dir: Path) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        f"{PREFIX}_channel_complete_through_timestamp_seconds",
        "How far the scheduled batches have completed the channel (OUT/_freshness)",
        labels=("source",),
    )
    for channel, moment in sorted(read_freshness(freshness_dir).items()):
        family.add_metric((channel,), moment)
    return family


class PlatformCollector:
    """Everything but the API's own requests, read afresh at each scrape (see the module's docstring)."""

    def __init__(self, warehouse: Warehouse, output_dir: Path, quality, manifests: RunManifests, sla=None):
        self.warehouse, self.output_dir, self.quality, self.manifests = warehouse, output_dir, quality, manifests
        self.sla = sla
        self._sla_cache: tuple[float, list] = (0.0, [])

    def describe(self):  # no families at registration: collect() reads the warehouse, which may be slow
        return []

    def collect(self):
        yield from threshold_families(self.quality)
        yield from run_families(self.manifests.all())
        yield freshness_family(self.output_dir / "_freshness")
        try:
            yield from self.warehouse_families()
            yield from self.sla_families()
        except WarehouseError as error:  # the warehouse unavailable: the scrape still answers, with an error count
            LOG.warning("metrics: warehouse not readable: %s", error)
            yield GaugeMetricFamily(f"{PREFIX}_warehouse_up", "1 when the warehouse could be read", value=0)
        else:
            yield GaugeMetricFamily(f"{PREFIX}_warehouse_up", "1 when the warehouse could be read", value=1)

    def warehouse_families(self) -> list:
        warehouse, now = self.warehouse, time.time()
        warehouse.refresh()
        rows = GaugeMetricFamily(f"{PREFIX}_warehouse_rows", "Rows in the table's current snapshot", labels=("table",))
        snapshot_time = GaugeMetricFamily(
            f"{PREFIX}_warehouse_snapshot_timestamp_seconds",
            "When the table's current snapshot was committed",
            labels=("table",),
        )
        snapshot_age = GaugeMetricFamily(
            f"{PREFIX}_warehouse_snapshot_age_seconds",
            "Seconds since the table's current snapshot was committed",
            labels=("table",),
        )
        for table in WAREHOUSE_TABLES:
            rows.add_metric((table,), warehouse.scalar(f"SELECT count(*) FROM {table}") or 0)
            committed = warehouse.snapshot_times.get(table)
            if committed is not None:
                snapshot_time.add_metric((table,), committed)
                snapshot_age.add_metric((table,), max(0.0, now - committed))
        last_record = GaugeMetricFamily(
            f"{PREFIX}_channel_last_record_timestamp_seconds",
            "When the channel's newest record (complaint or dead letter) arrived",
            labels=("source",),
        )
        for channel, arrived in sorted(last_record_by_channel(warehouse).items()):
            last_record.add_metric((channel,), arrived)
        yesterday = GaugeMetricFamily(
            f"{PREFIX}_channel_previous_day_complaints",
            "Complaints of the channel with yesterday's (UTC) event date",
            labels=("source",),
        )
        day = dt.datetime.fromtimestamp(now, dt.UTC).date() - dt.timedelta(days=1)
        counted = {
            row["source"]: row["n"]
            for row in warehouse.rows(
                "SELECT source, count(*) AS n FROM complaints WHERE event_date = ? GROUP BY source", [day]
            )
        }
        for source in sorted(set(counted) | set(self.quality.min_daily_volume)):
            yesterday.add_metric((source,), counted.get(source, 0))
        mix = GaugeMetricFamily(
            f"{PREFIX}_model_recent_complaints",
            "Complaints that arrived in the last 24 hours, by the model's category",
            labels=("category",),
        )
        confidence = GaugeMetricFamily(
            f"{PREFIX}_model_recent_confidence_mean",
            "Mean category confidence of the last 24 hours' complaints",
            labels=("category",),
        )
        for row in warehouse.rows(
            "SELECT category, count(*) AS n, avg(category_confidence) AS confidence FROM complaints "
            "WHERE ingested_at >= to_timestamp(?) GROUP BY category ORDER BY category",
            [now - 86400],
        ):
            mix.add_metric((row["category"],), row["n"])
            confidence.add_metric((row["category"],), row["confidence"] or 0)
        stream = CounterMetricFamily(
            f"{PREFIX}_stream_records",
            "Records of the streaming job by source and outcome (stream_counts)",
            labels=("source", "outcome"),
        )
        for row in warehouse.rows(
            "SELECT source, outcome, sum(count) AS n FROM stream_counts "
            "GROUP BY source, outcome ORDER BY source, outcome"
        ):
            stream.add_metric((row["source"], row["outcome"]), row["n"])
        newest_window = warehouse.scalar("SELECT epoch(max(window_start)) FROM stream_counts")
        stream_window = GaugeMetricFamily(
            f"{PREFIX}_stream_last_window_timestamp_seconds",
            "Event time of the newest window the streaming job has written",
        )
        if newest_window is not None:
            stream_window.add_metric((), newest_window)
        spikes = GaugeMetricFamily(
            f"{PREFIX}_volume_spikes_last_hour",
            "Volume spikes (possible outages) detected in the last hour, by severity",
            labels=("severity",),
        )
        for row in warehouse.rows(
            "SELECT severity, count(*) AS n FROM alerts WHERE detected_at >= to_timestamp(?) "
            "GROUP BY severity ORDER BY severity",
            [now - 3600],
        ):
            spikes.add_metric((row["severity"],), row["n"])
        queue = GaugeMetricFamily(
            f"{PREFIX}_review_queue_items",
            "Review-queue items (flagged complaints, dead letters) by status",
            labels=("status",),
        )
        for status, n in review_counts(warehouse).items():
            queue.add_metric((status,), n)
        return [
            rows,
            snapshot_time,
            snapshot_age,
            last_record,
            yesterday,
            mix,
            confidence,
            stream,
            stream_window,
            spikes,
            queue,
        ]

    def sla_families(self) -> list:
        """The SLA of the last few days' cases, recomputed at most once a minute (it reads days of complaints)."""
        if self.sla is None:
            return []
        now = time.time()
        computed_at, cases = self._sla_cache
        if now - computed_at > SLA_METRIC_REFRESH_SECONDS:
            moment = dt.datetime.fromtimestamp(now, dt.UTC)
            cases = sla_cases(
                self.warehouse, moment.date() - dt.timedelta(days=SLA_METRIC_DAYS - 1), moment.date(), self.sla, moment
            )
            self._sla_cache = (now, cases)
        return sla_families_of(cases, now)


def sla_families_of(cases: list[dict], now: float) -> list:
    """The SLA's state from evaluated cases (``serving.sla.evaluate_cases``)."""
    by_status = GaugeMetricFamily(
        f"{PREFIX}_sla_cases",
        f"Cases whose first contact was in the last {SLA_METRIC_DAYS} days, by target, "
        "status (met, breached, at_risk, pending) and priority",
        labels=("target", "status", "priority"),
    )
    counted: dict[tuple, int] = {}
    for case in cases:
        for target in TARGETS:
            key = (target, case[target], case["priority"])
            counted[key] = counted.get(key, 0) + 1
    for key, n in sorted(counted.items()):
        by_status.add_metric(key, n)
    next_due = GaugeMetricFamily(
        f"{PREFIX}_sla_next_due_timestamp_seconds",
        "When the soonest open target of an at-risk case falls due, by target",
        labels=("target",),
    )
    for target in TARGETS:
        due = [case[f"{target}_due"].timestamp() for case in cases if case[target] == "at_risk"]
        if due:
            next_due.add_metric((target,), min(due))
    return [by_status, next_due]


def platform_registry(
    warehouse: Warehouse, output_dir: Path, quality, manifests: RunManifests, sla=None
) -> tuple[CollectorRegistry, RequestMetrics]:
    """A registry of its own (not the process-wide default, so two apps in one process do not collide) with the
    API's request metrics and the platform collector."""
    registry = CollectorRegistry(auto_describe=False)
    requests = RequestMetrics(registry)
    registry.register(PlatformCollector(warehouse, output_dir, quality, manifests, sla))
    return registry, requests
