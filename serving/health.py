"""The platform's health as the pipelines leave it: run manifests (``OUT/_runs``), the scheduler's freshness
records (``OUT/_freshness``), each channel's newest record in the warehouse, and the alerts Alertmanager has open.
``/metrics`` (``metrics.py``) and the dashboard's health panel (``/api/v1/health``) both read it from here."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.request
from pathlib import Path

from beam_pipelines.config import CHANNELS
from serving.warehouse import Warehouse

LOG = logging.getLogger(__name__)


def timestamp(text: str | None) -> float | None:
    """An ISO 8601 time (UTC when it has no offset) as Unix seconds; None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


class RunManifests:
    """The run manifests in ``OUT/_runs``, each parsed again only when it changed (a run's manifest is written
    when it starts, ``running``, and replaced when it ends)."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = runs_dir
        self._parsed: dict[str, tuple[int, dict]] = {}

    def all(self) -> list[dict]:
        """Every readable manifest, oldest first (by when the run finished; running runs last)."""
        if not self.runs_dir.is_dir():
            return []
        for path in self.runs_dir.glob("*.json"):
            try:
                changed = path.stat().st_mtime_ns
                if path.name not in self._parsed or self._parsed[path.name][0] != changed:
                    self._parsed[path.name] = (changed, json.loads(path.read_text()))
            except (OSError, ValueError):  # being replaced, or damaged: not a run to report
                continue
        return sorted(
            (m for _, m in self._parsed.values() if isinstance(m, dict)), key=lambda m: m.get("finished_at") or "~"
        )


def channel_sources(counts: dict) -> list[str]:
    return [source for source in counts if source != "customers"]


def run_summary(manifest: dict) -> dict:
    """One run as the health panel lists it: status, duration, and per source read / written / rejected."""
    counts = manifest.get("counts", {})
    sources = {
        source: {
            "read": counts[source].get("read", 0),
            "written": counts[source].get("written", 0),
            "rejected": counts[source].get("rejected", 0),
            "reject_ratio": (
                counts[source].get("rejected", 0) / counts[source]["read"] if counts[source].get("read") else 0.0
            ),
        }
        for source in channel_sources(counts)
    }
    return {
        "run_id": manifest.get("run_id"),
        "batch_date": manifest.get("batch_date"),
        "finished_at": manifest.get("finished_at"),
        "status": manifest.get("status", "unknown"),
        "duration_seconds": manifest.get("duration_seconds"),
        "runner": manifest.get("runner"),
        "refused_because": manifest.get("refused_because") or manifest.get("reason"),
        "quality_warnings": manifest.get("quality_warnings", []),
        "sources": sources,
    }


def read_freshness(freshness_dir: Path) -> dict[str, float]:
    """``OUT/_freshness/<channel>.json``: how far the scheduled batches have completed each channel."""
    found = {}
    for path in sorted(freshness_dir.glob("*.json")) if freshness_dir.is_dir() else []:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        moment = timestamp(record.get("complete_through"))
        if moment is not None:
            found[record.get("channel", path.stem)] = moment
    return found


def last_record_by_channel(warehouse: Warehouse) -> dict[str, float]:
    """When each channel's newest record arrived: a complaint (``ingested_at``) or a dead letter (``failed_at``)."""
    channels = ", ".join(f"'{channel}'" for channel in CHANNELS)
    return {
        row["source"]: row["arrived"]
        for row in warehouse.rows(
            "SELECT source, epoch(max(arrived)) AS arrived FROM (SELECT source, ingested_at AS arrived FROM complaints "
            f"UNION ALL SELECT source, failed_at AS arrived FROM dead_letter) WHERE source IN ({channels}) "
            "GROUP BY source ORDER BY source"
        )
        if row["arrived"] is not None
    }


def channel_health(warehouse: Warehouse, output_dir: Path, quality, now: float | None = None) -> list[dict]:
    """Per channel: its newest record, how long it has been silent against ``[quality] max_silence_minutes``, and
    how far the scheduled batches have completed it."""
    now = time.time() if now is None else now
    last = last_record_by_channel(warehouse)
    complete = read_freshness(output_dir / "_freshness")
    channels = []
    for channel in CHANNELS:
        limit = quality.max_silence_minutes.get(channel)
        silence = now - last[channel] if channel in last else None
        channels.append(
            {
                "channel": channel,
                "last_record_at": iso(last.get(channel)),
                "silent_seconds": round(silence, 1) if silence is not None else None,
                "max_silence_seconds": limit * 60 if limit else None,
                "silent": bool(limit and silence is not None and silence > limit * 60),
                "complete_through": iso(complete.get(channel)),
            }
        )
    return channels


def active_alerts(alertmanager_url: str | None, timeout: float = 3.0) -> dict:
    """The alerts Alertmanager has open (its v2 API), or why they could not be read."""
    if not alertmanager_url:
        return {"source": None, "items": [], "error": None}
    url = alertmanager_url.rstrip("/") + "/api/v2/alerts?active=true&silenced=false&inhibited=false"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            alerts = json.load(response)
    except (OSError, ValueError) as error:
        LOG.warning("health: Alertmanager not readable: %s", error)
        return {"source": alertmanager_url, "items": [], "error": f"Alertmanager not readable: {error}"}
    items = [
        {
            "alert": alert["labels"].get("alertname"),
            "source": alert["labels"].get("source"),
            "severity": alert["labels"].get("severity"),
            "summary": alert.get("annotations", {}).get("summary"),
            "since": alert.get("startsAt"),
        }
        for alert in alerts
    ]
    return {
        "source": alertmanager_url,
        "items": sorted(items, key=lambda a: (a["severity"] != "page", a["alert"] or "")),
        "error": None,
    }


def platform_health(
    warehouse: Warehouse,
    output_dir: Path,
    quality,
    manifests: RunManifests,
    alertmanager_url: str | None = None,
    runs: int = 20,
) -> dict:
    """The health panel: channels, the last ``runs`` batch runs (newest first), open alerts, the review queue's
    items per status."""
    from serving.review import counts as review_counts

    recent = [run_summary(manifest) for manifest in manifests.all()[-runs:]][::-1]
    return {
        "checked_at": iso(time.time()),
        "channels": channel_health(warehouse, output_dir, quality),
        "runs": recent,
        "alerts": active_alerts(alertmanager_url),
        "review_queue": review_counts(warehouse),
        "limits": {"max_reject_ratio": quality.max_reject_ratio, "max_flagged_ratio": quality.max_flagged_ratio},
    }
