"""Re-injecting reviewers' corrections through the batch pipeline (``complaints batch --from-review``).

A reviewer who fixes a record's raw text (``serving/review.py``: a dead letter whose timestamp was garbled, a
complaint whose phone number was mistyped) leaves the fix in the ``reviews`` table. This job takes every such
correction not yet re-injected, finds the original record in the lake, and runs a copy of it with the fixed raw
text through the same batch graph as everything else, as a batch from the lake (``reprocess.plan_from_lake``, then
``batch.run_batch``), one run per original batch day. Identity is deterministic, so a corrected complaint replaces
its row, never adds one, and a dead letter's fix lands as the complaint it should have been. Each item then records
what happened (``reinjected`` with the complaint_id, or ``reinject_failed`` with the new rejection, back in the
queue).

The corrected copies are kept under ``OUT/_review/reinjected/<run>/`` beside the lake (the lake itself keeps only
what arrived). The job also writes every category and sentiment correction as a labelled example to
``OUT/_review/reviews.labelled.jsonl``, which ``complaints model train --data OUT/_review`` reads.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from beam_pipelines.batch import InputFile, recover_interrupted_commits, run_batch
from beam_pipelines.config import Settings
from beam_pipelines.parameters import catalog_config
from beam_pipelines.reprocess import customer_files, plan_from_lake
from schemas import tables
from transforms.sources.lake import LAKE
from warehouse.commit import write_rows
from warehouse.lake import find_raw_record
from warehouse.read import read_arrow
from warehouse.runs import new_run_id

REVIEW_DIR = "_review"
LABELS_FILE = "reviews.labelled.jsonl"


@dataclass
class Correction:
    review: dict  # the reviews row
    record: dict | None  # the original lake record, None when the lake no longer has it
    batch_day: dt.date | None


def pending_corrections(catalog) -> list[dict]:
    reviews = read_arrow(catalog, tables.REVIEWS.name)
    waiting = pc.and_(
        pc.equal(reviews["status"], "corrected"),
        pc.and_(pc.is_valid(reviews["corrected_raw"]), pc.is_null(reviews["reinjected_at"])),
    )
    return reviews.filter(waiting).to_pylist()


def _originals(catalog, reviews: list[dict]) -> dict[str, dict]:
    """Where each reviewed item was read from: {item_id: {source, reference, position, batch_id, arrived}}."""
    found = {}
    wanted = {kind: [r["ref_id"] for r in reviews if r["item_kind"] == kind] for kind in ("complaint", "dead_letter")}
    if wanted["complaint"]:
        rows = read_arrow(
            catalog,
            tables.COMPLAINTS.name,
            columns=("complaint_id", "source", "source_file", "source_position", "batch_id", "ingested_at"),
        )
        for row in rows.filter(pc.is_in(rows["complaint_id"], pa.array(wanted["complaint"]))).to_pylist():
            found[f"complaint:{row['complaint_id']}"] = {
                "source": row["source"],
                "reference": row["source_file"],
                "position": row["source_position"],
                "batch_id": row["batch_id"],
                "arrived": row["ingested_at"].date(),
            }
    if wanted["dead_letter"]:
        rows = read_arrow(
            catalog,
            tables.DEAD_LETTER.name,
            columns=("error_id", "source", "source_file", "message_id", "position", "batch_id", "ingest_date"),
        )
        for row in rows.filter(pc.is_in(rows["error_id"], pa.array(wanted["dead_letter"]))).to_pylist():
            found[f"dead_letter:{row['error_id']}"] = {
                "source": row["source"],
                "reference": row["source_file"] or row["message_id"],
                "position": row["position"],
                "batch_id": row["batch_id"],
                "arrived": row["ingest_date"],
            }
    return found


def locate(output_dir: str, catalog, reviews: list[dict]) -> list[Correction]:
    """Each correction with its original lake record and the day of the lake partition it is in."""
    originals = _originals(catalog, reviews)
    located = []
    for review in reviews:
        where = originals.get(review["item_id"])
        found = (
            find_raw_record(
                output_dir,
                where["source"],
                where["reference"],
                where["position"],
                where["arrived"],
                where["batch_id"],
                with_day=True,
            )
            if where
            else None
        )
        record, day = found if found else (None, None)
        located.append(Correction(review, record, day))
    return located


def _write_corrected(output_dir: str, run_tag: str, day: dt.date, corrections: list[Correction]) -> list[InputFile]:
    """The corrected copies as lake files of ``day``, one per channel."""
    files = []
    by_source: dict[str, list[dict]] = {}
    for correction in corrections:
        record = {**correction.record, "raw": correction.review["corrected_raw"], "raw_encoding": "utf-8"}
        by_source.setdefault(record["source"], []).append(record)
    for source, records in sorted(by_source.items()):
        folder = os.path.join(
            output_dir, REVIEW_DIR, "reinjected", run_tag, f"source={source}", f"ingest_date={day.isoformat()}"
        )
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "corrections.jsonl")
        with open(path, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        display = os.path.relpath(path, output_dir)
        files.append(InputFile(LAKE, path, display, os.path.getsize(path)))
    return files


def _outcomes(catalog, run_id: str) -> tuple[dict, dict]:
    """What run ``run_id`` wrote: {(source, reference, position): complaint_id} and the same for dead letters."""
    complaints = read_arrow(
        catalog, tables.COMPLAINTS.name, columns=("complaint_id", "source", "source_file", "source_position", "run_id")
    )
    written = {
        (r["source"], r["source_file"], r["source_position"]): r["complaint_id"]
        for r in complaints.filter(pc.equal(complaints["run_id"], run_id)).to_pylist()
    }
    dead = read_arrow(
        catalog,
        tables.DEAD_LETTER.name,
        columns=(
            "error_id",
            "source",
            "source_file",
            "message_id",
            "position",
            "stage",
            "error_type",
            "error_message",
            "run_id",
        ),
    )
    rejected = {
        (r["source"], r["source_file"] or r["message_id"], r["position"]): r
        for r in dead.filter(pc.equal(dead["run_id"], run_id)).to_pylist()
    }
    return written, rejected


def _decided(review: dict, now: dt.datetime, run_id: str | None, outcome: dict) -> dict:
    return {
        **review,
        "status": "reinjected" if outcome["result"] == "written" else "reinject_failed",
        "outcome": json.dumps(outcome, sort_keys=True),
        "reinjected_at": now,
        "reinject_run_id": run_id,
        "updated_at": now,
    }


def write_labels(output_dir: str, catalog) -> int:
    """Every category / sentiment correction as a labelled example (text, category, sentiment); returns how many."""
    reviews = read_arrow(catalog, tables.REVIEWS.name).to_pylist()
    labelled = {
        r["ref_id"]: r
        for r in reviews
        if r["item_kind"] == "complaint" and (r["corrected_category"] or r["corrected_sentiment"])
    }
    path = os.path.join(output_dir, REVIEW_DIR, LABELS_FILE)
    texts = {}
    if labelled:
        complaints = read_arrow(catalog, tables.COMPLAINTS.name, columns=("complaint_id", "text"))
        texts = {
            r["complaint_id"]: r["text"]
            for r in complaints.filter(pc.is_in(complaints["complaint_id"], pa.array(list(labelled)))).to_pylist()
        }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        for complaint_id, review in sorted(labelled.items()):
            if texts.get(complaint_id):
                handle.write(
                    json.dumps(
                        {
                            "text": texts[complaint_id],
                            "category": review["corrected_category"],
                            "sentiment": review["corrected_sentiment"],
                            "complaint_id": complaint_id,
                            "reviewed_by": review["resolved_by"],
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    os.replace(temporary, path)
    return sum(1 for complaint_id in labelled if texts.get(complaint_id))


def run_reinjection(
    output_dir: str,
    settings: Settings,
    model_factory,
    *,
    customers: str | None = None,
    runner: str = "DirectRunner",
    beam_args=(),
    on_run=None,
) -> dict:
    """Re-inject every pending correction; returns {"items": [(item_id, outcome)], "runs": [manifest],
    "labels": n}. A run that fails raises (its items stay pending; a rerun takes them again)."""
    catalog = catalog_config(settings.warehouse, output_dir)
    recover_interrupted_commits(output_dir, settings)  # so the originals are found in the lake as committed
    corrections = locate(output_dir, catalog, pending_corrections(catalog))
    master = customer_files(customers)
    now = dt.datetime.now(dt.UTC)
    updates, results, manifests = [], [], []
    for correction in corrections:
        if correction.record is None:
            outcome = {"result": "not_found", "detail": "the original record is no longer in the lake"}
            updates.append(_decided(correction.review, now, None, outcome))
            results.append((correction.review["item_id"], outcome))
    located = [c for c in corrections if c.record is not None]
    for day in sorted({c.batch_day for c in located}):
        of_day = [c for c in located if c.batch_day == day]
        run_id = new_run_id()
        files = _write_corrected(output_dir, run_id, day, of_day)
        plan = plan_from_lake(
            output_dir,
            settings,
            day,
            files + master,
            f"review-{day:%Y%m%d}",
            runner=runner,
            beam_args=beam_args,
            run_id=run_id,
        )
        if on_run:
            on_run(day, plan, len(of_day))
        manifests.append(run_batch(plan, settings, model_factory))
        written, rejected = _outcomes(catalog, run_id)
        for correction in of_day:
            record = correction.record
            key = (
                record["source"],
                record.get("source_file") or record.get("message_id"),
                record.get("line") if record.get("line") is not None else record.get("offset"),
            )
            if key in written:
                outcome = {"result": "written", "complaint_id": written[key]}
            elif key in rejected:
                dead = rejected[key]
                outcome = {
                    "result": "rejected",
                    "error_id": dead["error_id"],
                    "reason": f"{dead['stage']}:{dead['error_type']}",
                    "detail": dead["error_message"],
                }
            else:  # a duplicate of a complaint already written, or an SMS part merged into another
                outcome = {"result": "merged_or_duplicate"}
            updates.append(_decided(correction.review, now, run_id, outcome))
            results.append((correction.review["item_id"], outcome))
    if updates:
        write_rows(catalog, tables.REVIEWS, updates, properties={"writer": "review-reinject"})
    return {"items": results, "runs": manifests, "labels": write_labels(output_dir, catalog)}
