"""Weeks of warehouse history with known shape, for the dashboard, reports, forecasts and serving benchmarks.

``complaints generate day`` writes one day of raw channel input for the pipeline. Serving needs many weeks of
curated complaints, more than is practical to push through the pipeline on a laptop, so this writes
``complaints`` (and a little ``dead_letter``) rows straight into the warehouse's Iceberg tables, as one commit each:

- daily volume = ``per_day`` x weekday factor (Monday busiest, Sunday quietest) x a slow upward trend, x 0.6 on
  the configured country's public holidays, Poisson noise on top;
- one Network outage about every 30 days (the day's Network complaints x 4), the kind of spike forecasts must
  not learn as normal;
- texts from the generator's channel styles, contacts masked and labelled by the rules model as the pipeline
  does (so categories, sentiment, priority and routing are what it would produce), times on a daytime curve.

Rows are deterministic for a seed and carry ``batch_id = history-<seed>``, so a rerun replaces them and they are
never mistaken for pipeline output. The truth (daily counts, outage days, holidays) is returned.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random

import numpy as np

import schemas
from beam_pipelines.generator import text as texts
from beam_pipelines.generator.population import CATEGORY_WEIGHTS, CHANNEL_WEIGHTS, REGIONS
from models.forecast import holiday_days
from models.rules import RulesModel
from schemas import tables
from transforms.cleaning import mask_contacts
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


def _text_pool(rng: random.Random) -> list[dict]:
    """Complaint texts in each channel's style, labelled by the rules model as the pipeline would label them."""
    pool = []
    categories, weights = zip(*CATEGORY_WEIGHTS.items())
    sources, source_weights = zip(*CHANNEL_WEIGHTS.items())
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
        pool.append({"text": mask_contacts(body), "subject": mask_contacts(subject) if subject else None,
                     "source": source, "segment": segment, "flags": []})
    for entry, prediction in zip(pool, RulesModel().predict(pool)):
        entry.update(prediction=prediction, category=prediction.category)
    return pool


def _complaint_id(seed: int, day: dt.date, index: int) -> str:
    return "hi-" + hashlib.sha256(f"history:{seed}:{day}:{index}".encode()).hexdigest()[:24]


def daily_volumes(first: dt.date, days: int, per_day: int, seed: int,
                  holiday_country: str | None) -> tuple[list[tuple[dt.date, int, bool]], set[dt.date]]:
    """[(day, complaints, is_outage)] and the holidays used: the known shape every consumer can be checked against."""
    rng = np.random.default_rng(seed)
    last = first + dt.timedelta(days=days - 1)
    holidays_set = holiday_days(holiday_country, first, last)
    outage_offsets = {offset for offset in range(OUTAGE_EVERY_DAYS // 2, days, OUTAGE_EVERY_DAYS)}
    plan = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        expected = per_day * WEEKDAY_FACTOR[day.weekday()] * (1 + 0.15 * offset / 365)
        if day in holidays_set:
            expected *= HOLIDAY_FACTOR
        plan.append((day, int(rng.poisson(expected)), offset in outage_offsets))
    return plan, holidays_set


def write_history(warehouse_dir: str, end: dt.date, days: int, per_day: int, seed: int = 7,
                  holiday_country: str | None = "NG") -> dict:
    """Write ``days`` days of complaints ending on ``end`` into ``warehouse_dir``; return the truth."""
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
    truth = {"days": [], "holidays": sorted(str(d) for d in holidays_set), "outages": [], "complaints": 0,
             "dead_letters": 0}
    hour_probability = HOURLY_WEIGHT / HOURLY_WEIGHT.sum()
    for day, count, outage in plan:
        picks = [pool[i] for i in numbers.integers(0, len(pool), count)]
        if outage:
            extra = int(sum(1 for p in picks if p["category"] == "Network") * (OUTAGE_FACTOR - 1))
            network = by_category["Network"]
            picks += [network[i] for i in numbers.integers(0, len(network), extra)]
            truth["outages"].append(str(day))
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
        hours = numbers.choice(24, size=len(picks), p=hour_probability)
        seconds = numbers.integers(0, 3600, len(picks))
        rows = []
        for index, (entry, hour, second) in enumerate(zip(picks, hours, seconds)):
            event_time = midnight + dt.timedelta(hours=int(hour), seconds=int(second))
            known = entry["segment"] is not None
            # a working-form complaint, made a warehouse row by the pipeline's own finish_row
            complaint = {
                "complaint_id": _complaint_id(seed, day, index), "source": entry["source"],
                "source_record_id": f"history-{day:%Y%m%d}-{index:06d}", "event_time": event_time,
                "ingested_at": event_time + dt.timedelta(minutes=int(second % 90) + 1),
                "customer_id": f"BJN-{int(second * 7 + hour) % 40000:08d}" if known else None,
                "customer_match": "msisdn" if known else "none",
                "contact_token": hashlib.sha256(f"{seed}:{index % 9000}".encode()).hexdigest()[:32],
                "text": entry["text"], "subject": entry["subject"], "flags": [] if known else ["unknown_customer"],
                "segment": entry["segment"], "region": REGIONS[int(second) % len(REGIONS)] if known else None,
                "plan": texts.PLANS[int(second) % len(texts.PLANS)] if known else None,
                "batch_id": batch_id, "run_id": run_id}
            rows.append({**finish_row(complaint, entry["prediction"], HISTORY_MODEL_VERSION), "event_date": day})
        rejected = _dead_letters(day, int(len(rows) * DEAD_LETTER_SHARE), seed, batch_id, run_id)
        all_complaints.extend(rows)
        all_dead_letters.extend(rejected)
        truth["days"].append({"date": str(day), "complaints": len(rows), "outage": outage,
                              "holiday": day in holidays_set})
        truth["complaints"] += len(rows)
        truth["dead_letters"] += len(rejected)
    config = CatalogConfig(str(warehouse_dir))
    properties = {"writer": "history", "run_id": run_id}
    write_rows(config, tables.COMPLAINTS, all_complaints, properties)
    write_rows(config, tables.DEAD_LETTER, all_dead_letters, properties)
    return truth


REJECTIONS = (("parse", "malformed_json", "twitter", "Expecting ',' delimiter: line 1 column 88"),
              ("validate", "empty_text", "sms", "the complaint has no text after cleaning"),
              ("parse", "bad_timestamp", "webform", "submitted_at is not a timestamp: '31/02/2026 25:00'"),
              ("validate", "implausible_duration", "phone", "call duration -40 s is not plausible"))


def _dead_letters(day: dt.date, count: int, seed: int, batch_id: str, run_id: str) -> list[dict]:
    failed_at = dt.datetime.combine(day, dt.time(23, 0), tzinfo=dt.timezone.utc)
    rows = []
    for index in range(count):
        stage, error_type, source, message = REJECTIONS[index % len(REJECTIONS)]
        rows.append({"error_id": hashlib.sha256(f"history-dl:{seed}:{day}:{index}".encode()).hexdigest()[:24],
                     "source": source, "stage": stage, "error_type": error_type, "error_message": message,
                     "raw": "{\"text\": \"...", "raw_encoding": "utf-8", "source_file": None, "message_id": None,
                     "position": index, "source_record_id": None, "failed_at": failed_at, "batch_id": batch_id,
                     "run_id": run_id, "schema_version": schemas.SCHEMA_VERSION, "ingest_date": day})
    return rows
