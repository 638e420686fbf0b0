"""The floor Beam's overhead is measured against: the same record functions as the batch pipeline, in one
plain single-process Python loop, writing the same lake, warehouse and dead-letter files.

    python benchmarks/plain_loop.py --input-dir DIR --output-dir OUT
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections import defaultdict

import orjson

import schemas
from beam_pipelines.batch import discover_inputs
from beam_pipelines.config import load_settings
from beam_pipelines.parameters import validation_rules
from models.rules import RulesModel
from transforms import sinks
from transforms.cleaning import clean_complaint
from transforms.dedupe import dedupe
from transforms.enrichment import enrich_complaints
from transforms.garbage_collection import relax_for_record_work
from transforms.outcomes import as_record_error
from transforms.records import VALIDATE, dead_letter, dead_letter_from_complaint
from transforms.sources.customers import CustomerIndex, parse_customer
from transforms.sources.files import raw_records
from transforms.sources.phone_logs import parse_call
from transforms.sources.sms import assemble_parts, assembly_key, is_multipart, parse_sms_part
from transforms.sources.twitter import parse_tweet
from transforms.sources.webforms import parse_webform
from transforms.validation import validate_complaint

PARSERS = {
    "twitter": parse_tweet,
    "webform": parse_webform,
    "sms": parse_sms_part,
    "phone": parse_call,
    "customers": parse_customer,
}


def run(input_dir: str, output_dir: str, batch_date: dt.date) -> dict:
    """The batch's record work in one loop; returns the counts and the seconds each step took."""
    seconds, clock = {}, time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 2)
        clock = now

    relax_for_record_work()  # as the pipeline's workers do (transforms/garbage_collection.py)
    settings = load_settings("dev")
    rules = validation_rules(settings.validation, batch_date)
    now = dt.datetime.now(dt.UTC).isoformat()
    read, dead, complaints, customers, sms_groups = 0, [], [], [], defaultdict(list)
    for input_file in discover_inputs(input_dir):
        lake_lines = []
        for raw in raw_records(
            input_file.source, input_file.path, input_file.display_path, run_id="loop", batch_id="loop", ingested_at=now
        ):
            try:
                parsed = PARSERS[input_file.source](raw)
            except Exception as error:  # noqa: BLE001 - as the pipeline does: any parse failure is a dead letter
                record_error = as_record_error(error, "parse")
                dead.append(dead_letter(raw, record_error.stage, record_error.error_type, record_error.message))
                continue
            if input_file.source == "customers":
                customers.append(parsed)
                continue
            read += 1
            lake_lines.append(sinks.lake_line(raw))
            if input_file.source == "sms" and is_multipart(parsed):
                sms_groups[assembly_key(parsed)].append(parsed)
            else:
                complaints.append(parsed)
        if lake_lines:
            path = os.path.join(output_dir, "lake", f"{input_file.display_path.replace('/', '_')}.jsonl")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(b"".join(lake_lines))
    for parts in sms_groups.values():
        complaints.extend(assemble_parts(parts, settings.sms_timeout)[0])
    step("read_parse_lake")
    valid = []
    for complaint in complaints:
        try:
            valid.append(validate_complaint(clean_complaint(complaint), rules))
        except Exception as error:  # noqa: BLE001 - as the pipeline does: any failure is a dead letter
            dead.append(dead_letter_from_complaint(complaint, as_record_error(error, VALIDATE)))
    step("clean_validate")
    unique, _ = dedupe(valid)
    step("dedupe")
    rows = enrich_complaints(unique, CustomerIndex(customers), RulesModel(), settings.contact_token_key)
    step("enrich")
    by_date = defaultdict(list)
    for row in rows:
        by_date[row["event_time"].date().isoformat()].append(row)
    for event_date, date_rows in by_date.items():
        sinks.write_parquet(
            os.path.join(output_dir, "complaints", f"event_date={event_date}", "loop.parquet"),
            date_rows,
            schemas.arrow_schema("Complaint"),
        )
    if dead:
        sinks.write_parquet(
            os.path.join(output_dir, "dead_letter", "loop.parquet"), dead, schemas.arrow_schema("DeadLetter")
        )
    step("write")
    return {"read": read, "written": len(rows), "rejected": len(dead), "seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2026, 11, 26))
    args = parser.parse_args()
    print(orjson.dumps(run(args.input_dir, args.output_dir, args.date)).decode())
