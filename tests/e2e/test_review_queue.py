"""The review queue end to end: a real ``complaints serve`` lists a batch's flagged complaints and dead letters;
reviewers claim and resolve them; ``complaints batch --from-review`` runs the fixes through the batch pipeline. A
fixed dead letter lands in the warehouse and leaves the queue, a corrected complaint is updated once (same id, no
second row), label corrections become training data ``complaints model train`` reads, and only the write scope may
decide."""

import json
import re

import pyarrow.compute as pc
import pytest

from tests.support.browser import artifacts_dir
from tests.support.cli import run_cli
from tests.support.serving import call_api, start_server, stop_server, write_key_file

KEYS = {"reviewer": ("reviewer-key-4e1a", ["write", "complaints"]), "reader": ("reader-key-93bd", ["complaints"])}


def call(base, path, key, body=None, params=None):
    return call_api(base, path, KEYS[key][0], body, params)


def complaints_table(out):
    from warehouse.catalog import CatalogConfig
    from warehouse.read import read_arrow

    return read_arrow(CatalogConfig(str(out / "warehouse")), "complaints")


@pytest.fixture(scope="module")
def reviewed(generated_day, tmp_path_factory):
    """A batch, the server over it, and the reviewers' decisions (made before any re-injection)."""
    out = tmp_path_factory.mktemp("review") / "out"
    batch = run_cli(
        "batch", "--input-dir", str(generated_day["dir"]), "--output-dir", str(out), "--date", generated_day["date"]
    )
    assert batch.returncode == 0, batch.stderr[-2000:]
    keys = write_key_file(out.parent / "keys.toml", KEYS)
    process, base = start_server(["--warehouse", str(out / "warehouse"), "--api-keys", str(keys)])
    try:
        yield {"out": out, "base": base, "input": generated_day["dir"], "before": complaints_table(out)}
    finally:
        stop_server(process)


def _first(base, **params):
    status, page = call(base, "/api/v1/review/items", "reader", params={"limit": 50, **params})
    assert status == 200 and page["items"], params
    return page["items"]


def test_the_queue_lists_flagged_complaints_and_dead_letters_and_reading_needs_no_write_scope(reviewed):
    base = reviewed["base"]
    dead = _first(base, kind="dead_letter")
    flagged = _first(base, kind="complaint")
    assert all(item["status"] == "open" for item in dead + flagged)
    assert all(item["reason"] for item in dead + flagged)
    table = reviewed["before"]
    assert all(
        table.filter(pc.equal(table["complaint_id"], item["ref_id"]))["flags"].to_pylist()[0] for item in flagged
    )  # every complaint item is flagged in the warehouse
    detail = call(base, f"/api/v1/review/items/{flagged[0]['item_id']}", "reader")[1]
    assert detail["raw"]  # the original record, from the lake
    assert call(base, f"/api/v1/review/items/{flagged[0]['item_id']}/claim", "reader", {})[0] == 403


def test_a_fixed_dead_letter_and_a_corrected_complaint_go_through_the_pipeline_once(reviewed):
    base, out = reviewed["base"], reviewed["out"]
    # a tweet dead-lettered for its timestamp, fixed by hand
    dead = next(item for item in _first(base, kind="dead_letter", source="twitter", reason="invalid_timestamp"))
    raw = call(base, f"/api/v1/review/items/{dead['item_id']}", "reader")[1]["raw"]
    tweet = json.loads(raw)
    tweet["data"]["created_at"] = "2026-11-20T10:00:00.000Z"
    assert call(base, f"/api/v1/review/items/{dead['item_id']}/claim", "reviewer", {"reviewer": "ada"})[0] == 200
    status, decided = call(
        base,
        f"/api/v1/review/items/{dead['item_id']}/resolve",
        "reviewer",
        {"action": "correct", "reviewer": "ada", "raw": json.dumps(tweet)},
    )
    assert status == 200 and decided["status"] == "corrected" and decided["resolved_by"] == "ada via reviewer"
    # a flagged web form whose text a reviewer corrects, and relabels
    flagged = next(item for item in _first(base, kind="complaint", source="webform"))
    original = call(base, f"/api/v1/review/items/{flagged['item_id']}", "reader")[1]["raw"]
    corrected_text = "The bill charged me twice for the same data bundle this month"
    corrected = re.sub(
        r'("(?:message|complaint|text|description)"\s*:\s*")(?:[^"\\]|\\.)*"',
        lambda m: m.group(1) + corrected_text + '"',
        original,
        count=1,
    )
    assert corrected != original, original
    status, decided = call(
        base,
        f"/api/v1/review/items/{flagged['item_id']}/resolve",
        "reviewer",
        {"action": "correct", "raw": corrected, "category": "Billing", "sentiment": "negative"},
    )
    assert status == 200 and decided["corrected_category"] == "Billing"

    result = run_cli(
        "batch", "--from-review", "--output-dir", str(out), "--customers", str(reviewed["input"] / "customers")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 written" in result.stdout, result.stdout

    after, before = complaints_table(out), reviewed["before"]
    assert after.num_rows == before.num_rows + 1  # the fixed dead letter, and nothing twice
    assert len(set(after["complaint_id"].to_pylist())) == after.num_rows
    row = after.filter(pc.equal(after["complaint_id"], flagged["ref_id"])).to_pylist()
    assert len(row) == 1 and corrected_text in row[0]["text"]
    assert row[0]["run_id"] != before.filter(pc.equal(before["complaint_id"], flagged["ref_id"]))["run_id"][0].as_py()

    fixed = call(base, f"/api/v1/review/items/{dead['item_id']}", "reader")[1]
    assert fixed["status"] == "reinjected" and fixed["outcome"]["result"] == "written"
    landed = after.filter(pc.equal(after["complaint_id"], fixed["outcome"]["complaint_id"])).to_pylist()
    assert len(landed) == 1 and landed[0]["source_record_id"] == tweet["data"]["id"]
    assert landed[0]["event_time"].isoformat().startswith("2026-11-20T10:00:00")
    pending = {
        item["item_id"]
        for item in call(base, "/api/v1/review/items", "reader", params={"limit": 500, "kind": "dead_letter"})[1][
            "items"
        ]
    }
    assert dead["item_id"] not in pending  # it left the queue

    again = run_cli("batch", "--from-review", "--output-dir", str(out))  # nothing pending: nothing changes
    assert again.returncode == 0 and "nothing pending" in again.stdout
    assert complaints_table(out).num_rows == after.num_rows


def test_label_corrections_become_training_examples_and_discards_keep_their_reason(reviewed):
    from models.datasets import load_known_datasets

    base, out = reviewed["base"], reviewed["out"]
    items = _first(base, kind="complaint", source="sms")
    status, _ = call(
        base,
        f"/api/v1/review/items/{items[0]['item_id']}/resolve",
        "reviewer",
        {"action": "correct", "category": "Network", "sentiment": "neutral"},
    )
    assert status == 200
    dead = _first(base, kind="dead_letter")[0]
    assert call(base, f"/api/v1/review/items/{dead['item_id']}/resolve", "reviewer", {"action": "discard"})[0] == 400
    status, discarded = call(
        base,
        f"/api/v1/review/items/{dead['item_id']}/resolve",
        "reviewer",
        {"action": "discard", "reason": "test message from the gateway vendor"},
    )
    assert status == 200 and discarded["decision_reason"] == "test message from the gateway vendor"
    assert call(base, f"/api/v1/review/items/{dead['item_id']}/claim", "reviewer", {})[0] == 409  # decided

    result = run_cli("batch", "--from-review", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    examples = load_known_datasets(str(out / "_review"))
    labels = {(e.category, e.sentiment) for e in examples}
    assert ("Network", "neutral") in labels
    assert len(examples) == sum(1 for _ in open(out / "_review" / "reviews.labelled.jsonl"))


def test_a_reviewer_works_the_queue_in_the_browser(reviewed, page):
    """The review page with a reviewer's key: filter to dead letters, open one, a discard without a reason is
    refused on the page, with one it is recorded under the reviewer's name."""
    base = reviewed["base"]
    page.goto(f"{base}/review#key={KEYS['reviewer'][0]}")
    page.evaluate("localStorage.setItem('beejan.review.name', 'grace')")
    page.wait_for_function("window.reviewState && window.reviewState.ready", timeout=60_000)
    assert page.evaluate("window.reviewState.items") > 0 and page.errors == []
    page.select_option("#filter-kind", "dead_letter")
    page.click("#filters button[type=submit]")
    page.wait_for_function(
        "document.querySelector('#items-body tr[data-item-id]') && "
        "[...document.querySelectorAll('#items-body tr[data-item-id]')]"
        ".every(r => r.dataset.itemId.startsWith('dead_letter:'))",
        timeout=30_000,
    )
    item_id = page.get_attribute("#items-body tr[data-item-id]", "data-item-id")
    page.click(f"#items-body tr[data-item-id='{item_id}']")
    page.wait_for_function(f"window.reviewState.selected && window.reviewState.selected.item_id === '{item_id}'")
    assert page.input_value("#detail-raw")  # the dead letter's raw record, to fix
    page.click("#do-discard")
    page.wait_for_function("String(window.reviewState.lastDecision).startsWith('refused')")
    assert "reason" in page.inner_text("#detail-result")
    page.fill("#detail-reason", "a test post from the social team")
    page.click("#do-discard")
    page.wait_for_function("window.reviewState.lastDecision === 'discarded'")
    status, item = call(base, f"/api/v1/review/items/{item_id}", "reader")
    assert status == 200 and item["status"] == "discarded" and item["resolved_by"] == "grace via reviewer"
    assert item["decision_reason"] == "a test post from the social team"
    page.screenshot(path=str(artifacts_dir() / "review-queue.png"), full_page=True)
