"""Weeks of warehouse history with known shape, for the dashboard, reports, forecasts and serving benchmarks.

``complaints generate day`` writes one day of raw channel input for the pipeline. Serving needs many weeks of
curated complaints, more than is practical to push through the pipeline on a laptop, so this writes
``complaints`` (and a little ``dead_letter``) rows straight into the warehouse's Iceberg tables, as one commit each:

- daily volume = ``per_day`` x weekday factor (Monday busiest, Sunday quietest) x a slow upward trend, x 0.6 on
  the configured country's public holidays, Poisson noise on top;
- one Network outage about every 30 days (the day's Network complaints x 4), the kind of spike forecasts must
  not learn as normal;
- texts from the generator's channel styles, contacts masked and labelled by the rules model as the pipeline
  does (so categories, sentiment, priority and routing are what it would produce), times on a daytime curve;
- the CRM's ``complaint_events``: each complaint's ``first_response`` and ``resolved``, their delays drawn
  around the ``[sla]`` allowance of its priority and segment so that about nine in ten first responses and
  eight in ten resolutions are on time (the SLA panels show a working contact centre, with some breaches).

Nothing is written that has not happened by ``now`` (default: the wall clock): when the history ends today, today
holds the complaints that arrived so far, and the events still to come (the open cases) are not there yet, so
the dashboard's "today", its channel freshness and its at-risk cases look like a live day.

Rows are deterministic for a seed (and ``now``) and carry ``batch_id = history-<seed>``, so a rerun replaces them
and they are never mistaken for pipeline output. The truth (daily counts, outage days, holidays, events) is returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random

import numpy as np

import schemas
from beam_pipelines.config import SlaSettings
from beam_pipelines.generator import text as texts
from beam_pipelines.generator.population import CATEGORY_WEIGHTS, CHANNEL_WEIGHTS, REGIONS
from models.forecast import holiday_days
from models.rules import RulesModel
from schemas import tables
from transforms.cleaning import clean_text, mask_contacts
from transforms.enrichment import finish_row
from warehouse.catalog import CatalogConfig
from warehouse.commit import write_rows

WEEKDAY_FACTOR = (1.25, 1.15, 1.05, 1.0, 0.95, 0.7, 0.6)  # Monday .. Sunday
HOURLY_WEIGHT = np.array([1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 8, 8, 8, 9, 10, 10, 9, 7, 5, 3, 2], float)
SEGMENTS = (("consumer", 0.78), ("business", 0.12), ("vip", 0.04), (None, 0.06))
HOLIDAY_FACTOR = 0.6
OUTAGE_FACTOR = 4.0
OUTAGE_EVERY_DAYS = 30
DEAD_LETTER_SHARE = 0.01
POOL_SIZE = 4000
HISTORY_MODEL_VERSION = "rules-history"
#: CRM delays are the SLA allowance x a log-normal factor: ~90% of first responses (z 1.28) and ~80% of
#: resolutions (z 0.84) within the allowance
DELAY_SIGMA = 0.7
FIRST_RESPONSE_ON_TIME_Z = 1.28
RESOLUTION_ON_TIME_Z = 0.84
AGENTS = 40


def _text_pool(rng: random.Random) -> list[dict]:
    """Complaint texts in each channel's style, labelled by the rules model as the pipeline would label them."""
    pool = []
    categories, weights = zip(*CATEGORY_WEIGHTS.items(), strict=True)
    sources, source_weights = zip(*CHANNEL_WEIGHTS.items(), strict=True)
    for _ in range(POOL_SIZE):
        category = rng.choices(categories, weights)[0]
        source = rng.choices(sources, source_weights)[0]
        segment = rng.choices([s for s, _ in SEGMENTS], [w for _, w in SEGMENTS])[0]
        subject = None
        if source == "twitter":
            body = texts.tweet(category, rng)
        elif source == "webform":
            subject, body = texts.web_message(category, rng, "A customer")
        elif source == "sms":
            body = texts.sms_body(category, rng, long=rng.random() < 0.2)
        else:
            body = texts.agent_note(category, rng)
        # cleaned and masked as the pipeline's Clean stage leaves them (HTML entities of tweets unescaped)
        pool.append(
            {
                "text": mask_contacts(clean_text(body)),
                "subject": mask_contacts(clean_text(subject)) if subject else None,
                "source": source,
                "segment": segment,
                "flags": [],
            }
        )
    for entry, prediction in zip(pool, RulesModel().predict(pool), strict=True):
        entry.update(prediction=prediction, category=prediction.category)
    return pool


def _complaint_id(seed: int, day: dt.date, index: int) -> str:
    return "hi-" + hashlib.sha256(f"history:{seed}:{day}:{index}".encode()).hexdigest()[:24]


def daily_volumes(
    first: dt.date, days: int, per_day: int, seed: int, holiday_country: str | None
) -> tuple[list[tuple[dt.date, int, bool]], set[dt.date]]:
    """[(day, complaints, is_outage)] and the holidays used: the known shape every consumer can be checked against."""
    rng = np.random.default_rng(seed)
    last = first + dt.timedelta(days=days - 1)
    holidays_set = holiday_days(holiday_country, first, last)
    outage_offsets = set(range(OUTAGE_EVERY_DAYS // 2, days, OUTAGE_EVERY_DAYS))
    plan = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        expected = per_day * WEEKDAY_FACTOR[day.weekday()] * (1 + 0.15 * offset / 365)
        if day in holidays_set:
            expected *= HOLIDAY_FACTOR
        plan.append((day, int(rng.poisson(expected)), offset in outage_offsets))
    return plan, holidays_set


def crm_events(rows: list[dict], sla: SlaSettings, now: dt.datetime, seed: int) -> list[dict]:
    """The CRM's ``first_response`` and ``resolved`` events of ``rows`` (warehouse complaints) that happened by
    ``now``: delays drawn around each complaint's SLA allowance (``DELAY_SIGMA``, ``*_ON_TIME_Z``)."""
    numbers = np.random.default_rng(seed + 2)
    response_factor = np.exp(numbers.normal(-FIRST_RESPONSE_ON_TIME_Z * DELAY_SIGMA, DELAY_SIGMA, len(rows)))
    resolve_factor = np.exp(numbers.normal(-RESOLUTION_ON_TIME_Z * DELAY_SIGMA, DELAY_SIGMA, len(rows)))
    agents = numbers.integers(1, AGENTS + 1, len(rows))
    events = []
    for row, responded, resolved, agent in zip(rows, response_factor, resolve_factor, agents, strict=True):
        response_allowance, resolve_allowance = sla.allowance(row["priority"], row["segment"])
        contact = min(row["event_time"], row["ingested_at"])
        first_response = contact + dt.timedelta(seconds=float(response_allowance * responded))
        resolution = max(
            contact + dt.timedelta(seconds=float(resolve_allowance * resolved)),
            first_response + dt.timedelta(minutes=5),
        )
        for event_type, occurred in (("first_response", first_response), ("resolved", resolution)):
            if occurred > now:
                break  # not happened yet: the case is still open
            occurred = occurred.replace(microsecond=0)
            events.append(
                {
                    "event_id": "hx-"
                    + hashlib.sha256(f"{seed}:{row['complaint_id']}:{event_type}".encode()).hexdigest()[:24],
                    "complaint_id": row["complaint_id"],
                    "event_type": event_type,
                    "occurred_at": occurred,
                    "received_at": min(occurred + dt.timedelta(seconds=20), now),
                    "agent": f"AG-{int(agent):02d}",
                    "note": None,
                    "client": "history",
                    "event_date": occurred.date(),
                }
            )
    return events


def write_history(
    warehouse_dir: str,
    end: dt.date,
    days: int,
    per_day: int,
    seed: int = 7,
    holiday_country: str | None = "NG",
    now: dt.datetime | None = None,
    sla: SlaSettings | None = None,
) -> dict:
    """Write ``days`` days of complaints ending on ``end`` into ``warehouse_dir``, with their CRM events
    (judged by ``sla``, default the ``[sla]`` defaults), nothing after ``now`` (default: the wall clock);
    return the truth."""
    now = now or dt.datetime.now(dt.UTC)
    sla = sla or SlaSettings()
    rng = random.Random(seed)
    pool = _text_pool(rng)
    by_category: dict[str, list[dict]] = {}
    for entry in pool:
        by_category.setdefault(entry["category"], []).append(entry)
    first = end - dt.timedelta(days=days - 1)
    plan, holidays_set = daily_volumes(first, days, per_day, seed, holiday_country)
    numbers = np.random.default_rng(seed + 1)
    all_complaints, all_dead_letters = [], []
    batch_id, run_id = f"history-{seed}", f"history-{seed}"
    truth = {
        "days": [],
        "holidays": sorted(str(d) for d in holidays_set),
        "outages": [],
        "complaints": 0,
        "dead_letters": 0,
        "events": 0,
    }
    hour_probability = HOURLY_WEIGHT / HOURLY_WEIGHT.sum()
    for day, count, outage in plan:
        picks = [pool[i] for i in numbers.integers(0, len(pool), count)]
        if outage:
            extra = int(sum(1 for p in picks if p["category"] == "Network") * (OUTAGE_FACTOR - 1))
            network = by_category["Network"]
            picks += [network[i] for i in numbers.integers(0, len(network), extra)]
            truth["outages"].append(str(day))
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        hours = numbers.choice(24, size=len(picks), p=hour_probability)
        seconds = numbers.integers(0, 3600, len(picks))
        rows = []
        for index, (entry, hour, second) in enumerate(zip(picks, hours, seconds, strict=True)):
            event_time = midnight + dt.timedelta(hours=int(hour), seconds=int(second))
            known = entry["segment"] is not None
            # a working-form complaint, made a warehouse row by the pipeline's own finish_row
            complaint = {
                "complaint_id": _complaint_id(seed, day, index),
                "source": entry["source"],
                "source_record_id": f"history-{day:%Y%m%d}-{index:06d}",
                "event_time": event_time,
                "ingested_at": event_time + dt.timedelta(minutes=int(second % 90) + 1),
                "customer_id": f"BJN-{int(second * 7 + hour) % 40000:08d}" if known else None,
                "customer_match": "msisdn" if known else "none",
                "contact_token": hashlib.sha256(f"{seed}:{index % 9000}".encode()).hexdigest()[:32],
                "text": entry["text"],
                "subject": entry["subject"],
                "flags": [] if known else ["unknown_customer"],
                "segment": entry["segment"],
                "region": REGIONS[int(second) % len(REGIONS)] if known else None,
                "plan": texts.PLANS[int(second) % len(texts.PLANS)] if known else None,
                "batch_id": batch_id,
                "run_id": run_id,
            }
            if complaint["ingested_at"] > now:
                continue  # has not arrived yet
            rows.append({**finish_row(complaint, entry["prediction"], HISTORY_MODEL_VERSION), "event_date": day})
        rejected = _dead_letters(day, int(len(rows) * DEAD_LETTER_SHARE), seed, batch_id, run_id, now)
        all_complaints.extend(rows)
        all_dead_letters.extend(rejected)
        truth["days"].append(
            {"date": str(day), "complaints": len(rows), "outage": outage, "holiday": day in holidays_set}
        )
        truth["complaints"] += len(rows)
        truth["dead_letters"] += len(rejected)
    events = crm_events(all_complaints, sla, now, seed)
    truth["events"] = len(events)
    config = CatalogConfig(str(warehouse_dir))
    properties = {"writer": "history", "run_id": run_id}
    write_rows(config, tables.COMPLAINTS, all_complaints, properties)
    write_rows(config, tables.DEAD_LETTER, all_dead_letters, properties)
    write_rows(config, tables.COMPLAINT_EVENTS, events, properties)
    return truth


REJECTIONS = (
    ("parse", "malformed_json", "twitter", "Expecting ',' delimiter: line 1 column 88"),
    ("validate", "empty_text", "sms", "the complaint has no text after cleaning"),
    ("parse", "bad_timestamp", "webform", "submitted_at is not a timestamp: '31/02/2026 25:00'"),
    ("validate", "implausible_duration", "phone", "call duration -40 s is not plausible"),
)


def _dead_letters(day: dt.date, count: int, seed: int, batch_id: str, run_id: str, now: dt.datetime) -> list[dict]:
    failed_at = min(dt.datetime.combine(day, dt.time(23, 0), tzinfo=dt.UTC), now.replace(microsecond=0))
    rows = []
    for index in range(count):
        stage, error_type, source, message = REJECTIONS[index % len(REJECTIONS)]
        rows.append(
            {
                "error_id": hashlib.sha256(f"history-dl:{seed}:{day}:{index}".encode()).hexdigest()[:24],
                "source": source,
                "stage": stage,
                "error_type": error_type,
                "error_message": message,
                "raw": '{"text": "...',
                "raw_encoding": "utf-8",
                "source_file": None,
                "message_id": None,
                "position": index,
                "source_record_id": None,
                "failed_at": failed_at,
                "batch_id": batch_id,
                "run_id": run_id,
                "schema_version": schemas.SCHEMA_VERSION,
                "ingest_date": day,
            }
        )
    return rows
