"""Erasure of a table other engines write too (tests/support/iceberg_engines.py makes their commits): a data file
spelled ``file:/`` as Spark writes it, a row of the person another engine already deleted with a position delete
file (still in the data file on disk), a tag that does not hold the person, and equality deletes pyiceberg cannot
read."""

import json
import os

import pytest

from tests.support import iceberg_engines, snapshot_refs
from tests.support.cli import run_cli
from tests.support.erasure import DAY, OTHER, PERSON, complaint, complaints_table, find_identifiers

pytestmark = pytest.mark.e2e


def ids(iceberg, snapshot_id=None) -> set[str]:
    iceberg.refresh()
    return set(iceberg.scan(snapshot_id=snapshot_id).to_arrow()["complaint_id"].to_pylist())


def test_a_spark_file_a_row_hidden_by_a_position_delete_and_a_clean_tag(tmp_path):
    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows
    from warehouse.uris import local_path

    out = tmp_path / "out"
    config = CatalogConfig(str(out / "warehouse"))
    write_rows(config, tables.COMPLAINTS, [complaint("c2", OTHER), complaint("c3", None)])
    iceberg = complaints_table(out)
    clean = snapshot_refs.tag(iceberg, "clean")
    write_rows(config, tables.COMPLAINTS, [complaint("c1", PERSON), complaint("c4", None, f"my account {PERSON}")])
    iceberg = complaints_table(out)
    spark_file = iceberg_engines.append_spark_style(
        iceberg, [complaint("s2", PERSON), complaint("s3", OTHER)], "event_date=2026-11-20"
    )
    iceberg_engines.delete_positions(iceberg, spark_file, [0])  # s2: deleted by another engine, still on disk
    assert ids(iceberg) == {"c1", "c2", "c3", "c4", "s3"}  # no read shows s2: only the file on disk has it

    result = run_cli("warehouse", "erase", "--output-dir", str(out), "--customer-id", PERSON, "--expire")
    assert result.returncode == 0, result.stderr
    iceberg = complaints_table(out)
    assert ids(iceberg) == {"c2", "c3", "s3"}
    assert iceberg.metadata.refs["clean"].snapshot_id == clean and ids(iceberg, clean) == {"c2", "c3"}
    audit = json.loads(next((out / "_erasures").glob("*.json")).read_text())
    assert audit["tables"]["complaints"]["rows"]["main"] == 2  # c1, and c4 which names the id in its text
    assert audit["tables"]["complaints"]["hidden_rows_removed"] == 1  # s2, rewritten out of the Spark file
    assert not os.path.exists(local_path(spark_file))  # the file:/-spelled data file was released and deleted
    assert find_identifiers(out, {PERSON}) == []
    for snapshot in iceberg.snapshots():
        assert not ids(iceberg, snapshot.snapshot_id) & {"c1", "c4"}


def test_equality_deletes_stop_the_erasure_in_one_line(tmp_path):
    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows

    out = tmp_path / "out"
    write_rows(CatalogConfig(str(out / "warehouse")), tables.COMPLAINTS, [complaint("c1", PERSON)])
    iceberg = complaints_table(out)
    spark_file = iceberg_engines.append_spark_style(iceberg, [complaint("s1", OTHER)], "event_date=2026-11-20")
    iceberg_engines.delete_equal(iceberg, spark_file, "complaint_id", ["s1"])
    before = complaints_table(out).current_snapshot().snapshot_id
    result = run_cli("warehouse", "erase", "--output-dir", str(out), "--customer-id", PERSON)
    assert result.returncode == 4 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert complaints_table(out).current_snapshot().snapshot_id == before  # nothing committed
    audit = json.loads(next((out / "_erasures").glob("*.json")).read_text())
    assert audit["status"] == "failed" and audit["error"] and audit["tables"] == {}  # a record that it stopped


def test_a_writers_uncommitted_file_holding_the_person_is_reported_not_deleted(tmp_path):
    """A data file no snapshot references (a writer killed before its commit, or one about to commit) may hold
    the person: the erasure cannot prove it is unreferenced for good, so it names it instead of deleting it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import tables
    from warehouse.catalog import CatalogConfig, writer_schema
    from warehouse.commit import write_rows
    from warehouse.uris import local_path

    out = tmp_path / "out"
    write_rows(
        CatalogConfig(str(out / "warehouse")), tables.COMPLAINTS, [complaint("c1", PERSON), complaint("c2", OTHER)]
    )
    iceberg = complaints_table(out)
    stray = f"{local_path(iceberg.location())}/event_date=2026-11-20/00000-9-uncommitted.parquet"
    pq.write_table(pa.Table.from_pylist([complaint("x1", PERSON)], schema=writer_schema(iceberg)), stray)
    result = run_cli("warehouse", "erase", "--output-dir", str(out), "--customer-id", PERSON, "--expire")
    assert result.returncode == 0, result.stderr
    assert os.path.exists(stray) and "1 data file(s) that no snapshot references" in result.stdout
    audit = json.loads(next((out / "_erasures").glob("*.json")).read_text())
    assert audit["expiry"]["complaints"]["unreferenced_files_holding_them"] == 1
    assert {path for path, _ in find_identifiers(out, {PERSON})} == {
        os.path.relpath(stray, out)
    }  # the only file left naming them


def test_a_tag_of_events_holding_an_event_of_their_complaint_refuses_expiry(tmp_path):
    """The event names nobody: it is the person's through the complaint it belongs to, and the tag is found so."""
    from schemas import tables
    from warehouse.catalog import CatalogConfig, ensure_table, open_catalog
    from warehouse.commit import write_rows

    out = tmp_path / "out"
    config = CatalogConfig(str(out / "warehouse"))
    write_rows(config, tables.COMPLAINTS, [complaint("c1", PERSON), complaint("c2", OTHER)])
    write_rows(
        config,
        tables.COMPLAINT_EVENTS,
        [
            {
                "event_id": f"e-{cid}",
                "complaint_id": cid,
                "event_type": "first_response",
                "occurred_at": DAY,
                "received_at": DAY,
                "agent": "agent-1",
                "note": "called back",
                "client": "crm",
                "event_date": DAY.date(),
            }
            for cid in ("c1", "c2")
        ],
    )
    events = ensure_table(open_catalog(config), config, tables.COMPLAINT_EVENTS)
    snapshot_refs.tag(events, "crm-audit")
    result = run_cli("warehouse", "erase", "--output-dir", str(out), "--customer-id", PERSON, "--expire")
    assert result.returncode == 3 and result.stderr.count("\n") == 1
    assert "'crm-audit'" in result.stderr and "complaint_events" in result.stderr
    assert ids(complaints_table(out)) == {"c1", "c2"}  # nothing was erased


def test_a_retention_that_keeps_old_snapshots_makes_expiry_fail_saying_so(tmp_path):
    """The table keeps its last 5 snapshots whatever their age (a setting another engine's user made): expiry keeps
    the one before the erasure, and the command fails in one line saying why, after erasing the current state."""
    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows

    out = tmp_path / "out"
    write_rows(
        CatalogConfig(str(out / "warehouse")), tables.COMPLAINTS, [complaint("c1", PERSON), complaint("c2", OTHER)]
    )
    iceberg = complaints_table(out)
    with iceberg.transaction() as transaction:
        transaction.set_properties({"history.expire.min-snapshots-to-keep": "5"})
    result = run_cli("warehouse", "erase", "--output-dir", str(out), "--customer-id", PERSON, "--expire")
    assert result.returncode == 4 and result.stderr.count("\n") == 1
    assert "min-snapshots-to-keep" in result.stderr and "still holds" in result.stderr
    assert ids(complaints_table(out)) == {"c2"}
    audit = json.loads(next((out / "_erasures").glob("*.json")).read_text())
    assert audit["status"] == "failed" and audit["tables"]["complaints"]["rows"]["main"] == 1
