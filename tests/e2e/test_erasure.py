"""``complaints warehouse erase`` end to end on a generated day: a real customer with complaints, dead letters and raw
records in the lake, a CRM event and a review decision made through a real ``complaints serve``, and a corrected record
re-injected through ``complaints batch --from-review`` (so ``OUT/_review`` holds their raw text too).

In order: a tag holding the person makes ``erase --expire`` refuse, naming the tag, changing nothing; ``erase``
without ``--expire`` removes them from every current read (main and a branch) in one snapshot per table, while time
travel still has them and the command says so; ``erase --expire`` then leaves no snapshot holding them and no file
under the output directory naming them (Parquet and Avro decoded, everything else byte for byte); everyone else's
rows and lake lines are exactly as they were; the audit's counts are the rows that went, and it names nobody;
and a real Spark reads none of them either, now or at any snapshot it can travel to.
"""

import csv
import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.erasure import find_identifiers, names_any, phone_spellings
from tests.support.serving import call_api, start_server, stop_server, write_key_file

pytestmark = pytest.mark.e2e

DAY = "2026-11-20"
KEYS = {"crm": ("crm-key-erase-1", ["write", "complaints"])}
TABLE_KEYS = {
    "complaints": "complaint_id",
    "dead_letter": "error_id",
    "complaint_events": "event_id",
    "reviews": "item_id",
}


def catalog(out: Path):
    from warehouse.catalog import CatalogConfig

    return CatalogConfig(str(out / "warehouse"))


def read(out: Path, name: str, as_of=None) -> list[dict]:
    from warehouse.read import read_arrow

    return read_arrow(catalog(out), name, as_of=as_of).to_pylist()


def iceberg(out: Path, name: str):
    from schemas.tables import WAREHOUSE_TABLES
    from warehouse.catalog import load_table, open_catalog

    return load_table(open_catalog(catalog(out), create=False), catalog(out), WAREHOUSE_TABLES[name])


def by_key(rows: list[dict], name: str) -> dict:
    return {row[TABLE_KEYS[name]]: row for row in rows}


def lake_lines(out: Path) -> dict[str, list[bytes]]:
    """Every JSON-lines file under the lake and the review folder: its lines, as bytes."""
    found = {}
    for root in (out / "lake", out / "_review"):
        for path in sorted(root.rglob("*.jsonl")):
            found[str(path.relative_to(out))] = path.read_bytes().splitlines(keepends=True)
    return found


def line_text(line: bytes) -> str:
    record = json.loads(line)
    raw = record.get("raw") or ""
    return " ".join([raw, record.get("text") or "", json.dumps(record)])


def customer_master(input_dir: Path) -> dict[str, dict]:
    with open(input_dir / "customers" / "customers.csv", newline="") as handle:
        return {row["account_number"]: row for row in csv.DictReader(handle)}


def needles_of(customer: dict) -> set[str]:
    from transforms.cleaning import normalise_phone

    phone = normalise_phone(customer["msisdn"])
    return (
        {customer["account_number"], customer["email"], customer["twitter_handle"]}
        | (phone_spellings(phone) if phone else set())
    ) - {"", None}


def dead_letter_names(row: dict, needles: set[str]) -> bool:
    return names_any(row["raw"], needles) or names_any(row["error_message"], needles)


def fixable(row: dict) -> bool:
    """A tweet dead-lettered for its time: a reviewer can correct it (and re-injected, it lands as a complaint)."""
    return row["source"] == "twitter" and row["raw_encoding"] == "utf-8" and "created_at" in row["error_message"]


def pick_person(out: Path, input_dir: Path) -> dict:
    """The customer with complaints and a fixable dead letter, with dead letters in the most channels and the most
    complaints (ties: smallest id)."""
    complaints, dead = read(out, "complaints"), read(out, "dead_letter")
    best = None
    for account, customer in sorted(customer_master(input_dir).items()):
        needles = needles_of(customer)
        own = [row for row in complaints if row["customer_id"] == account]
        dead_own = [row for row in dead if dead_letter_names(row, needles)]
        score = (len({row["source"] for row in dead_own}), len(own))
        if own and any(fixable(row) for row in dead_own) and (best is None or score > best[0]):
            best = (score, account, customer, needles)
    assert best is not None, "the generated day has no customer with complaints and a fixable dead letter"
    _, account, customer, needles = best
    return {"id": account, "customer": customer, "needles": needles}


def erase(out: Path, input_dir: Path, person: dict, *extra: str):
    return run_cli(
        "warehouse",
        "erase",
        "--output-dir",
        str(out),
        "--customer-id",
        person["id"],
        "--customers",
        str(input_dir / "customers"),
        "--reference",
        "REQ-2026-0042",
        *extra,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small generated day through ``complaints batch``, a person, their CRM event and review decision (and
    another customer's), and the re-injection of the reviewed record."""
    from beam_pipelines.generator import generate

    base = tmp_path_factory.mktemp("erasure")
    input_dir, out = base / "input", base / "out"
    import datetime as dt

    generate(str(input_dir), dt.date(2026, 11, 20), volume=400, seed=11, defect_rate=0.12)
    batch = run_cli("batch", "--input-dir", str(input_dir), "--output-dir", str(out), "--date", DAY)
    assert batch.returncode == 0, batch.stderr[-2000:]
    person = pick_person(out, input_dir)
    complaints = read(out, "complaints")
    theirs = next(row for row in complaints if row["customer_id"] == person["id"])
    others = next(row for row in complaints if row["customer_id"] not in (None, person["id"]))
    their_dead = next(
        row for row in read(out, "dead_letter") if dead_letter_names(row, person["needles"]) and fixable(row)
    )
    corrected = json.loads(their_dead["raw"])
    corrected["data"]["created_at"] = "2026-11-20T10:00:00.000Z"
    other_dead = next(row for row in read(out, "dead_letter") if not dead_letter_names(row, person["needles"]))

    keys = write_key_file(base / "keys.toml", KEYS)
    process, url = start_server(["--warehouse", str(out / "warehouse"), "--api-keys", str(keys)])
    try:
        for complaint, event_id in ((theirs, "crm-erase-1"), (others, "crm-keep-1")):
            status, _ = call_api(
                url,
                f"/api/v1/complaints/{complaint['complaint_id']}/events",
                KEYS["crm"][0],
                {
                    "event_id": event_id,
                    "type": "first_response",
                    "agent": "agent-3",
                    "occurred_at": "2026-11-20T23:00:00Z",
                    "note": "called the customer back",
                },
            )
            assert status == 201
        for dead, action in (
            (their_dead, {"action": "correct", "raw": json.dumps(corrected)}),
            (other_dead, {"action": "discard", "reason": "a test message"}),
        ):
            item = f"dead_letter:{dead['error_id']}"
            assert call_api(url, f"/api/v1/review/items/{item}/claim", KEYS["crm"][0], {"reviewer": "ada"})[0] == 200
            assert (
                call_api(url, f"/api/v1/review/items/{item}/resolve", KEYS["crm"][0], {**action, "reviewer": "ada"})[0]
                == 200
            )
    finally:
        stop_server(process)
    reinjected = run_cli(
        "batch", "--from-review", "--output-dir", str(out), "--customers", str(input_dir / "customers")
    )
    assert reinjected.returncode == 0, reinjected.stderr[-2000:]
    before = {name: read(out, name) for name in TABLE_KEYS}
    return {
        "input": input_dir,
        "out": out,
        "person": person,
        "before": before,
        "lake": lake_lines(out),
        "snapshots": {name: iceberg(out, name).current_snapshot().snapshot_id for name in TABLE_KEYS},
    }


def expected_erasure(world) -> dict:
    """What belongs to the person, found with the test's own literal search (not the erasure's matching): their
    linked complaints and those with one of their contact tokens, dead letters and review decisions whose text names
    them, the events of their complaints, and the lake/review lines that name them."""
    from beam_pipelines.config import load_settings
    from transforms.enrichment import contact_token

    person, before = world["person"], world["before"]
    key = load_settings("dev").contact_token_key
    linked_tokens = {
        row["contact_token"]
        for row in before["complaints"]
        if row["customer_id"] == person["id"] and row["customer_match"] != "account_in_text"
    }  # a contact of theirs, not a mention
    customer = person["customer"]
    from transforms.cleaning import normalise_email, normalise_handle, normalise_phone

    tokens = linked_tokens | {
        contact_token({kind: value}, key)
        for kind, value in (
            ("msisdn_e164", normalise_phone(customer["msisdn"])),
            ("email", normalise_email(customer["email"])),
            ("twitter_handle", normalise_handle(customer["twitter_handle"])),
        )
        if value
    }
    needles = person["needles"]
    complaints = {
        row["complaint_id"]
        for row in before["complaints"]
        if row["customer_id"] == person["id"] or row["contact_token"] in tokens or names_any(row["text"], needles)
    }
    dead = {row["error_id"] for row in before["dead_letter"] if dead_letter_names(row, needles)}
    events = {row["event_id"] for row in before["complaint_events"] if row["complaint_id"] in complaints}
    reviews = {
        row["item_id"]
        for row in before["reviews"]
        if row["ref_id"] in (complaints if row["item_kind"] == "complaint" else dead)
        or names_any(row["corrected_raw"], needles)
    }
    lines = {
        path: [
            line
            for line in lines
            if names_any(line_text(line), needles) or json.loads(line).get("complaint_id") in complaints
        ]
        for path, lines in world["lake"].items()
    }
    return {
        "complaints": complaints,
        "dead_letter": dead,
        "complaint_events": events,
        "reviews": reviews,
        "lines": {path: found for path, found in lines.items() if found},
    }


@pytest.fixture(scope="module")
def dry_run(world):
    """``erase --dry-run``, before anything else: counts, and changes nothing."""
    result = erase(world["out"], world["input"], world["person"], "--dry-run", "--expire")
    return {
        "result": result,
        "lake": lake_lines(world["out"]),
        "erasures": (world["out"] / "_erasures").exists(),
        "snapshots": {name: iceberg(world["out"], name).current_snapshot().snapshot_id for name in TABLE_KEYS},
    }


@pytest.fixture(scope="module")
def refused(world, dry_run):
    """``erase --expire`` while a tag holds the person's complaints: refused; the tag is then removed."""
    table = iceberg(world["out"], "complaints")
    table.manage_snapshots().create_tag(table.current_snapshot().snapshot_id, "audit-2026-11").commit()
    result = erase(world["out"], world["input"], world["person"], "--expire")
    state = {
        "lake": lake_lines(world["out"]),
        "snapshots": {name: iceberg(world["out"], name).current_snapshot().snapshot_id for name in TABLE_KEYS},
        "erasures": list((world["out"] / "_erasures").glob("*.json")),
    }
    table = iceberg(world["out"], "complaints")
    table.manage_snapshots().remove_tag("audit-2026-11").commit()
    return {"result": result, "state": state}


@pytest.fixture(scope="module")
def erased(world, refused):
    """``erase`` without ``--expire``, with a branch ``qa`` of complaints made before it."""
    table = iceberg(world["out"], "complaints")
    table.manage_snapshots().create_branch(table.current_snapshot().snapshot_id, "qa").commit()
    result = erase(world["out"], world["input"], world["person"])
    assert result.returncode == 0, result.stderr
    audits = [json.loads(path.read_text()) for path in (world["out"] / "_erasures").glob("*.json")]
    done = [audit for audit in audits if audit["status"] == "done"]
    assert len(audits) == 2 and len(done) == 1
    return {
        "result": result,
        "audit": done[0],
        "after": {name: read(world["out"], name) for name in TABLE_KEYS},
        "lake": lake_lines(world["out"]),
    }


@pytest.fixture(scope="module")
def expired(world, erased):
    result = erase(world["out"], world["input"], world["person"], "--expire")
    assert result.returncode == 0, result.stderr
    return {
        "result": result,
        "after": {name: read(world["out"], name) for name in TABLE_KEYS},
        "lake": lake_lines(world["out"]),
    }


def test_a_dry_run_counts_what_would_go_and_changes_nothing(world, dry_run):
    expected = expected_erasure(world)
    assert dry_run["result"].returncode == 0, dry_run["result"].stderr
    out = dry_run["result"].stdout
    for name in TABLE_KEYS:
        assert f"{name:<18} rows main {len(expected[name]):,};" in out, name
    lines = sum(len(found) for found in expected["lines"].values())
    assert f"and {lines:,} lake/review records would be erased (dry run: nothing changed)" in out
    assert dry_run["lake"] == world["lake"] and dry_run["snapshots"] == world["snapshots"]
    assert not dry_run["erasures"] and "audit:" not in out


def test_a_tag_holding_the_person_makes_expiry_refuse_in_one_line_and_nothing_changes(world, refused):
    result = refused["result"]
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "audit-2026-11" in result.stderr and "Traceback" not in result.stderr
    assert refused["state"]["lake"] == world["lake"]
    assert refused["state"]["snapshots"] == world["snapshots"]
    audits = [json.loads(path.read_text()) for path in refused["state"]["erasures"]]
    assert [(audit["status"], audit["tables"], audit["files"]) for audit in audits] == [("refused", {}, {})]


def test_the_person_is_in_every_kind_of_place_before(world):
    expected = expected_erasure(world)
    assert expected["complaints"] and expected["dead_letter"] and expected["complaint_events"]
    assert expected["reviews"] and expected["lines"]
    assert any(path.startswith("_review/") for path in expected["lines"])  # the re-injected correction
    sources = {path.split("source=")[1].split("/")[0] for path in expected["lines"] if "source=" in path}
    assert len(sources) >= 2
    theirs = [row for row in world["before"]["complaints"] if row["complaint_id"] in expected["complaints"]]
    assert any((row["sms_parts_received"] or 0) > 1 for row in theirs)  # an SMS the gateway sent in parts


def test_every_part_of_their_merged_sms_leaves_the_lake(world, erased):
    expected = expected_erasure(world)
    theirs = [row for row in world["before"]["complaints"] if row["complaint_id"] in expected["complaints"]]
    parts = sum(row["sms_parts_received"] or 1 for row in theirs if row["source"] == "sms")
    dead = sum(
        1
        for row in world["before"]["dead_letter"]
        if row["error_id"] in expected["dead_letter"] and row["source"] == "sms"
    )
    assert erased["audit"]["files"]["lake"]["records"].get("sms", 0) == parts + dead


def test_without_expire_current_reads_exclude_them_time_travel_still_has_them_and_it_says_so(world, erased):
    expected, out = expected_erasure(world), world["out"]
    for name, keys in ((n, expected[n]) for n in TABLE_KEYS):
        assert not keys & set(by_key(erased["after"][name], name)), name
        travelled = by_key(read(out, name, as_of=world["snapshots"][name]), name)
        assert keys <= set(travelled), name  # the snapshot before the erasure still has them
    branch = iceberg(out, "complaints")
    head = branch.metadata.refs["qa"].snapshot_id
    on_branch = branch.scan(snapshot_id=head).to_arrow()
    assert not set(on_branch["complaint_id"].to_pylist()) & expected["complaints"]
    assert branch.snapshot_by_id(head).summary["erasure-run"] == erased["audit"]["erasure_id"]
    assert "without --expire" in erased["result"].stdout and "still holds" in erased["result"].stdout
    left = {path for path, _ in find_identifiers(out, world["person"]["needles"])}
    assert left and all(path.startswith("warehouse/") for path in left)  # only the history's files name them
    assert any(path.endswith(".parquet") for path in left)  # (and the search does find what is there)


def test_each_table_was_erased_in_one_snapshot_naming_the_run(world, erased):
    erasure_id = erased["audit"]["erasure_id"]
    for name in TABLE_KEYS:
        table = iceberg(world["out"], name)
        new = [
            s
            for s in table.snapshots()
            if s.snapshot_id != world["snapshots"][name]
            and s.summary.additional_properties.get("erasure-run") == erasure_id
        ]
        on_main = [s for s in new if s.snapshot_id == table.current_snapshot().snapshot_id]
        assert len(on_main) == 1 and on_main[0].parent_snapshot_id == world["snapshots"][name], name
        assert str(on_main[0].snapshot_id) == erased["audit"]["tables"][name]["snapshots"]["main"]


def test_everything_that_is_theirs_went_and_nothing_else(world, erased):
    expected, before = expected_erasure(world), world["before"]
    for name in TABLE_KEYS:
        old, new = by_key(before[name], name), by_key(erased["after"][name], name)
        assert set(old) - set(new) == expected[name], name  # exactly theirs went
        assert {key: old[key] for key in new} == new, name  # everyone else's rows are as they were
    for path, lines in world["lake"].items():
        gone = expected["lines"].get(path, [])
        assert erased["lake"][path] == [line for line in lines if line not in gone], path  # byte for byte


def test_the_audit_counts_what_went_and_names_nobody(world, erased):
    audit, expected = erased["audit"], expected_erasure(world)
    for name in TABLE_KEYS:
        assert audit["tables"][name]["rows"]["main"] == len(expected[name]), name
    assert audit["tables"]["complaints"]["rows"]["qa"] == len(
        [row for row in world["before"]["complaints"] if row["complaint_id"] in expected["complaints"]]
    )
    lines_gone = sum(len(lines) for lines in expected["lines"].values())
    assert sum(sum(files["records"].values()) for files in audit["files"].values()) == lines_gone
    assert audit["reference"] == "REQ-2026-0042" and audit["expire"] is False
    text = json.dumps(audit).lower()
    assert not any(needle.lower() in text for needle in world["person"]["needles"])
    assert erased["result"].stdout.count("\n") >= 5 and world["person"]["id"] not in erased["result"].stdout


def test_with_expire_no_snapshot_and_no_file_under_the_output_holds_them(world, erased, expired):
    expected, out = expected_erasure(world), world["out"]
    for name in TABLE_KEYS:
        table = iceberg(out, name)
        assert all(s.snapshot_id != world["snapshots"][name] for s in table.snapshots())
        for snapshot in table.snapshots():  # every remaining snapshot, as time travel reads it
            keys = set(by_key(read(out, name, as_of=snapshot.snapshot_id), name))
            assert not keys & expected[name], (name, snapshot.snapshot_id)
        assert by_key(expired["after"][name], name) == by_key(erased["after"][name], name)  # nobody else lost
    assert expired["lake"] == erased["lake"]
    assert find_identifiers(out, world["person"]["needles"]) == []
    audits = [json.loads(path.read_text()) for path in sorted((out / "_erasures").glob("*.json"))]
    expiry = next(audit for audit in audits if audit["expire"] and audit["status"] == "done")["expiry"]
    assert expiry["complaints"]["snapshots_expired"] >= 2 and expiry["complaints"]["files_removed"] >= 1
    assert "history: sealed" in expired["result"].stdout


def test_a_contact_token_alone_erases_a_person_who_is_no_customer(world, expired):
    out = world["out"]
    complaints = read(out, "complaints")
    unlinked = sorted(
        row["contact_token"]
        for row in complaints
        if row["customer_id"] is None and row["contact_token"] and row["source"] == "twitter"
    )
    token = unlinked[0]
    theirs = {row["complaint_id"] for row in complaints if row["contact_token"] == token}
    lines_before = lake_lines(out)
    result = run_cli("warehouse", "erase", "--output-dir", str(out), "--contact-token", token)
    assert result.returncode == 0, result.stderr
    after = read(out, "complaints")
    assert not theirs & {row["complaint_id"] for row in after}
    assert len(after) == len(complaints) - len(theirs)
    gone = sum(len(lines) for lines in lines_before.values()) - sum(len(lines) for lines in lake_lines(out).values())
    assert gone >= len(theirs)  # each tweet's raw record, found by the handle's token


def test_bad_use_is_one_line_and_an_exit_code(tmp_path):
    nobody = run_cli("warehouse", "erase", "--output-dir", str(tmp_path))
    assert nobody.returncode == 2 and nobody.stderr.count("\n") == 1 and "--customer-id" in nobody.stderr
    missing = run_cli("warehouse", "erase", "--output-dir", str(tmp_path / "absent"), "--customer-id", "BJN-1")
    assert missing.returncode == 3 and missing.stderr.count("\n") == 1
    contact = run_cli("warehouse", "erase", "--output-dir", str(tmp_path), "--contact", "not a contact!")
    assert contact.returncode == 2 and contact.stderr.count("\n") == 1 and "Traceback" not in contact.stderr


@pytest.mark.spark
def test_spark_reads_none_of_the_erased_rows(world, expired):
    """A second engine (Spark 3.5 with Iceberg 1.10 on our catalog) sees the erased warehouse as pyiceberg does:
    the same rows now, none of the person's at any snapshot it can travel to, and every file any remaining snapshot
    references still on disk (the erasure deleted nothing still in use). The Spark harness of tests/support/spark.py."""
    import os

    from tests.support import spark as spark_support  # skips (fails on CI) when Spark is not fetched
    from warehouse.uris import local_path

    expected = expected_erasure(world)
    with spark_support.spark_sql(world["out"] / "warehouse") as spark:
        for name, key in TABLE_KEYS.items():
            table = spark_support.table_name(name)
            now = {row[key] for row in spark.rows(f"SELECT {key} FROM {table}")}
            assert now == set(by_key(read(world["out"], name), name)), name  # as pyiceberg reads it
            snapshots = [row["snapshot_id"] for row in spark.rows(f"SELECT snapshot_id FROM {table}.snapshots")]
            assert snapshots, name
            for snapshot_id in snapshots:
                travelled = {row[key] for row in spark.rows(f"SELECT {key} FROM {table} VERSION AS OF {snapshot_id}")}
                assert not travelled & expected[name], (name, snapshot_id)
            for row in spark.rows(f"SELECT file_path FROM {table}.all_files"):
                assert os.path.exists(local_path(row["file_path"])), row["file_path"]
        on_branch = {
            row["complaint_id"]
            for row in spark.rows(
                f"SELECT complaint_id FROM {spark_support.table_name('complaints')} VERSION AS OF 'qa'"
            )
        }
        assert on_branch and not on_branch & expected["complaints"]
