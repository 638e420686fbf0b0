"""``complaints warehouse maintain`` on tables other engines write too: it removes only what no snapshot of any branch
or tag, no metadata file and no catalog references, stops before changing anything when it cannot read a
manifest, expires no branch or tag head, never brings deleted rows back, and its dry run changes nothing.

Other engines' commits are made with pyiceberg the way Spark / Trino / Flink shape them
(``tests/support/iceberg_engines.py``, branches and tags ``tests/support/snapshot_refs.py``); every file is
aged past the orphan age, as after a day."""

import datetime as dt
import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import StaticTable
from pyiceberg.table.statistics import BlobMetadata, StatisticsFile

from schemas import tables
from tests.support import iceberg_engines as engines
from tests.support import snapshot_refs as refs
from tests.support.cli import run_cli
from tests.support.upkeep import PARTITION, age_files, alert, alerts_table, maintain, rows, stray_file
from tests.support.warehouse import add_rows
from warehouse.catalog import CatalogConfig, load_table, open_catalog, writer_schema
from warehouse.uris import local_path

pytestmark = pytest.mark.e2e


def disk_state(warehouse: Path) -> dict:
    """Every file under ``warehouse``: its size, modification time and content hash."""
    return {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(warehouse.rglob("*"))
        if path.is_file()
    }


def test_files_another_engine_spells_file_colon_slash_are_kept_and_true_orphans_go(tmp_path):
    add_rows(tmp_path, "alerts", [alert("ours-1"), alert("ours-2")])
    iceberg = alerts_table(tmp_path)
    spark_file = engines.spark_append(iceberg, [alert("spark-1"), alert("spark-2")], PARTITION).file_path
    assert spark_file.startswith("file:/") and not spark_file.startswith("file://")
    add_rows(tmp_path, "alerts", [alert("ours-1", complaints=10)])  # an upsert after it: a new snapshot
    before = rows(alerts_table(tmp_path))
    stray = stray_file(tmp_path)
    # Spark (Hadoop's local file system) writes a checksum file next to each file: it goes with its file only
    stray_checksum, spark_checksum = (
        Path(local_path(path)).with_name(f".{Path(local_path(path)).name}.crc") for path in (str(stray), spark_file)
    )
    for checksum in (stray_checksum, spark_checksum):
        checksum.write_bytes(b"crc")
    age_files(tmp_path)

    result = maintain(tmp_path)

    assert result.returncode == 0, result.stderr
    assert os.path.exists(local_path(spark_file)) and spark_checksum.exists()
    assert not stray.exists() and not stray_checksum.exists()  # what nothing references still goes
    assert rows(alerts_table(tmp_path)) == before


def test_a_file_another_engine_names_through_a_symbolic_link_to_the_warehouse_is_kept(tmp_path):
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real)
    add_rows(real, "alerts", [alert("ours-1")])
    iceberg = alerts_table(real)
    path = link / "alerts" / PARTITION / "engine-via-link.parquet"  # the link's spelling in the manifest
    pq.write_table(pa.Table.from_pylist([alert("via-link")], schema=writer_schema(iceberg)), path)
    iceberg.add_files([engines.spelled(str(path), "file:/")])
    age_files(real)

    result = maintain(real)

    assert result.returncode == 0, result.stderr
    assert path.exists()
    assert [row["alert_id"] for row in rows(alerts_table(real))] == ["ours-1", "via-link"]


def test_position_delete_files_of_a_merge_on_read_engine_are_kept_and_still_apply(tmp_path):
    add_rows(tmp_path, "alerts", [alert("ours-1")])
    iceberg = alerts_table(tmp_path)
    spark_file = engines.spark_append(
        iceberg, [alert("spark-1"), alert("spark-2"), alert("spark-3")], PARTITION
    ).file_path
    [delete] = engines.spark_delete(iceberg, "alert_id", ["spark-2"])
    delete_file = delete.file_path
    before = rows(alerts_table(tmp_path))
    assert [row["alert_id"] for row in before] == ["ours-1", "spark-1", "spark-3"]
    age_files(tmp_path)

    result = maintain(tmp_path)

    assert result.returncode == 0, result.stderr
    assert os.path.exists(local_path(delete_file)) and os.path.exists(local_path(spark_file))
    assert rows(alerts_table(tmp_path)) == before  # spark-2 stays deleted


def test_files_only_a_tag_or_a_branch_references_are_kept(tmp_path):
    add_rows(tmp_path, "alerts", [alert("a-1"), alert("a-2")])
    iceberg = alerts_table(tmp_path)
    tagged = refs.tag(iceberg, "month-end")
    tagged_rows = rows(iceberg, tagged)
    tagged_files = refs.live_paths(iceberg, tagged)
    add_rows(tmp_path, "alerts", [alert("a-1", complaints=1), alert("a-2", complaints=2)])  # main replaces them
    iceberg = alerts_table(tmp_path)
    assert not tagged_files & refs.live_paths(iceberg)
    refs.branch(iceberg, "audit")
    branch_file = refs.append_to_branch(iceberg, [alert("only-on-audit")], PARTITION, "audit")
    audit_rows = rows(iceberg, iceberg.metadata.refs["audit"].snapshot_id)
    age_files(tmp_path)

    result = maintain(tmp_path)

    assert result.returncode == 0, result.stderr
    iceberg = alerts_table(tmp_path)
    assert all(os.path.exists(local_path(path)) for path in tagged_files)
    assert os.path.exists(local_path(branch_file))
    assert rows(iceberg, iceberg.metadata.refs["month-end"].snapshot_id) == tagged_rows
    assert rows(iceberg, iceberg.metadata.refs["audit"].snapshot_id) == audit_rows


def test_the_metadata_file_a_catalog_points_to_is_kept_in_any_spelling(tmp_path):
    add_rows(tmp_path, "alerts", [alert("a-1")])
    add_rows(tmp_path, "alerts", [alert("a-2")])
    iceberg = alerts_table(tmp_path)
    # Spark's JDBC catalog writes its pointer as file:/...; a Hadoop catalog over the same folder keeps its
    # own pointer (metadata/version-hint.text) to a metadata file ours never lists
    with sqlite3.connect(tmp_path / "catalog.db") as database:
        database.execute(
            "UPDATE iceberg_tables SET metadata_location = ? WHERE table_name = 'alerts'",
            (engines.spelled(local_path(iceberg.metadata_location), "file:/"),),
        )
    metadata_dir = Path(local_path(iceberg.location())) / "metadata"
    hadoop_metadata = metadata_dir / "v1.metadata.json"
    hadoop_metadata.write_bytes(Path(local_path(iceberg.metadata_location)).read_bytes())
    (metadata_dir / "version-hint.text").write_text("1")
    hadoop_snapshot = iceberg.current_snapshot().snapshot_id
    hadoop_files = refs.live_paths(iceberg)
    add_rows(tmp_path, "alerts", [alert("a-1", complaints=5), alert("a-2", complaints=6)])  # replaces both
    pointer = alerts_table(tmp_path).metadata_location
    with sqlite3.connect(tmp_path / "catalog.db") as database:
        database.execute(
            "UPDATE iceberg_tables SET metadata_location = ? WHERE table_name = 'alerts'",
            (engines.spelled(local_path(pointer), "file:/"),),
        )
    before = rows(alerts_table(tmp_path))
    age_files(tmp_path)

    result = maintain(tmp_path)

    assert result.returncode == 0, result.stderr
    assert os.path.exists(local_path(pointer)) and hadoop_metadata.exists()
    assert rows(alerts_table(tmp_path)) == before
    assert all(os.path.exists(local_path(path)) for path in hadoop_files)
    hadoop_view = StaticTable.from_metadata(str(hadoop_metadata))
    assert hadoop_view.current_snapshot().snapshot_id == hadoop_snapshot
    assert [row["alert_id"] for row in rows(hadoop_view)] == ["a-1", "a-2"]


def _point_an_older_snapshot_elsewhere(warehouse: Path, iceberg, snapshot_id: int, manifest_list: str) -> None:
    """A new metadata file in which snapshot ``snapshot_id``'s manifest list is ``manifest_list``, and the
    catalog pointing at it (as if another engine had written it)."""
    metadata = json.loads(Path(local_path(iceberg.metadata_location)).read_text())
    for snapshot in metadata["snapshots"]:
        if snapshot["snapshot-id"] == snapshot_id:
            snapshot["manifest-list"] = manifest_list
    path = Path(local_path(iceberg.metadata_location)).with_name("00099-written-elsewhere.metadata.json")
    path.write_text(json.dumps(metadata))
    with sqlite3.connect(warehouse / "catalog.db") as database:
        database.execute(
            "UPDATE iceberg_tables SET metadata_location = ? WHERE table_name = 'alerts'",
            (engines.spelled(str(path), "file:/"),),
        )


def test_a_statistics_file_another_engine_wrote_is_kept(tmp_path):
    add_rows(tmp_path, "alerts", [alert("a-1")])
    iceberg = alerts_table(tmp_path)
    snapshot_id = iceberg.current_snapshot().snapshot_id
    # Spark's compute_table_stats writes a Puffin file of NDV sketches and records it in the metadata
    puffin = Path(local_path(iceberg.location())) / "metadata" / f"{snapshot_id}-stats.puffin"
    puffin.write_bytes(b"PFA1 sketches PFA1")
    with iceberg.update_statistics() as update:
        update.set_statistics(
            StatisticsFile(
                snapshot_id=snapshot_id,
                statistics_path=engines.spelled(str(puffin), "file:/"),
                file_size_in_bytes=puffin.stat().st_size,
                file_footer_size_in_bytes=4,
                blob_metadata=[
                    BlobMetadata(
                        type="apache-datasketches-theta-v1",
                        snapshot_id=snapshot_id,
                        sequence_number=1,
                        fields=[1],
                        properties={},
                    )
                ],
            )
        )
    age_files(tmp_path)

    result = maintain(tmp_path)

    assert result.returncode == 0, result.stderr
    assert puffin.exists()
    assert [entry.statistics_path for entry in alerts_table(tmp_path).metadata.statistics] == [
        engines.spelled(str(puffin), "file:/")
    ]


@pytest.mark.parametrize("damage", ["missing manifest", "corrupt manifest", "manifest list of an unknown scheme"])
def test_an_unreadable_manifest_stops_maintain_with_one_line_before_anything_changes(tmp_path, damage):
    for n in range(3):  # upserts: each snapshot's manifests replace the last one's
        add_rows(tmp_path, "alerts", [alert("a-1", complaints=n), alert(f"b-{n}")])
    iceberg = alerts_table(tmp_path)
    current = {manifest.manifest_path for manifest in iceberg.current_snapshot().manifests(iceberg.io)}
    older = sorted(
        {manifest.manifest_path for snapshot in iceberg.snapshots() for manifest in snapshot.manifests(iceberg.io)}
        - current
    )
    assert older, "an earlier snapshot should have a manifest of its own"
    damaged = local_path(older[0])
    if damage == "missing manifest":
        os.remove(damaged)
    elif damage == "corrupt manifest":
        Path(damaged).write_bytes(b"Obj\x01 not an avro file any more")
    else:
        damaged = "hdfs://namenode:8020/warehouse/alerts/metadata/snap-1.avro"
        _point_an_older_snapshot_elsewhere(tmp_path, iceberg, iceberg.snapshots()[0].snapshot_id, damaged)
    stray_file(tmp_path)
    age_files(tmp_path)
    disk_before, snapshots_before = disk_state(tmp_path), len(alerts_table(tmp_path).snapshots())

    result = maintain(tmp_path, min_files="2")

    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert damaged in result.stderr and "nothing was removed" in result.stderr
    assert disk_state(tmp_path) == disk_before
    assert len(alerts_table(tmp_path).snapshots()) == snapshots_before


def test_an_unreadable_manifest_of_one_table_leaves_every_table_as_it_was(tmp_path):
    add_rows(tmp_path, "alerts", [alert("a-1")])
    add_rows(tmp_path, "alerts", [alert("a-1", complaints=2)])
    written = dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)
    add_rows(
        tmp_path,
        "stream_counts",
        [
            {
                "stream_id": "s",
                "run_id": "r",
                "source": "sms",
                "outcome": "ok",
                "reason": "",
                "count": 1,
                "written_at": written,
                "window_start": None,
                "pane_index": None,
                "written_date": written.date(),
            }
        ],
    )
    config = CatalogConfig(str(tmp_path))
    counts = load_table(open_catalog(config, create=False), config, tables.STREAM_COUNTS)
    [manifest] = counts.current_snapshot().manifests(counts.io)
    Path(local_path(manifest.manifest_path)).write_bytes(b"not avro")
    stray = stray_file(tmp_path)  # an orphan of the first table, which would go if it were maintained alone
    age_files(tmp_path)
    disk_before = disk_state(tmp_path)

    result = run_cli(
        "warehouse",
        "maintain",
        "--warehouse",
        str(tmp_path),
        "--tables",
        "alerts",
        "stream_counts",
        "--retention-hours",
        "0",
        "--orphan-age-hours",
        "0",
    )

    assert result.returncode == 3 and len(result.stderr.strip().splitlines()) == 1
    assert "stream_counts" in result.stderr and local_path(manifest.manifest_path) in result.stderr
    assert stray.exists() and disk_state(tmp_path) == disk_before


def test_a_dry_run_lists_what_it_would_do_and_changes_nothing(tmp_path):
    for n in range(6):  # small commits to one partition, as a stream makes them
        add_rows(tmp_path, "alerts", [alert(f"al-{n}-{i}") for i in range(3)])
    stray = stray_file(tmp_path)
    age_files(tmp_path)
    iceberg = alerts_table(tmp_path)
    older = [
        snapshot.snapshot_id
        for snapshot in iceberg.snapshots()
        if snapshot.snapshot_id != iceberg.current_snapshot().snapshot_id
    ]
    disk_before = disk_state(tmp_path)

    dry = maintain(tmp_path, "--dry-run", min_files="4")

    assert dry.returncode == 0, dry.stderr
    assert disk_state(tmp_path) == disk_before
    assert "nothing changed" in dry.stdout and "would compact 1 partitions (6 files)" in dry.stdout
    assert f"  would compact {PARTITION} (6 files)\n" in dry.stdout
    listed = {line.split("would remove ", 1)[1] for line in dry.stdout.splitlines() if "would remove " in line}
    expired = {int(line.rsplit(" ", 1)[1]) for line in dry.stdout.splitlines() if "would expire snapshot" in line}
    assert str(stray) in listed and expired == set(older)

    real = maintain(tmp_path, min_files="4")

    assert real.returncode == 0, real.stderr
    assert not any(os.path.exists(path) for path in listed)  # the real run removed all it listed
    # and expired one snapshot more: the head its compaction replaced
    assert f"partitions compacted 1, snapshots expired {len(older) + 1}," in real.stdout


def test_expiry_keeps_every_branch_and_tag_head_and_what_a_branch_retains(tmp_path):
    ids = []
    for n in range(6):
        add_rows(tmp_path, "alerts", [alert(f"a-{n}")])
        ids.append(alerts_table(tmp_path).current_snapshot().snapshot_id)
    iceberg = alerts_table(tmp_path)
    refs.tag(iceberg, "first", ids[0])
    refs.branch(iceberg, "audit", ids[2], min_snapshots_to_keep=2)

    result = maintain(tmp_path, orphan_age="1000")

    assert result.returncode == 0, result.stderr
    iceberg = alerts_table(tmp_path)
    kept = {snapshot.snapshot_id for snapshot in iceberg.snapshots()}
    assert kept == {ids[0], ids[1], ids[2], ids[5]}  # tag, audit's head and its parent, main's head
    assert {"first", "audit", "main"} <= set(iceberg.metadata.refs)
    assert [row["alert_id"] for row in rows(iceberg, ids[0])] == ["a-0"]


def test_expiry_keeps_what_the_tables_own_history_settings_keep(tmp_path):
    ids = []
    for n in range(5):
        add_rows(tmp_path, "alerts", [alert(f"a-{n}")])
        ids.append(alerts_table(tmp_path).current_snapshot().snapshot_id)
    iceberg = alerts_table(tmp_path)
    with iceberg.transaction() as transaction:  # as a Spark user sets it: ALTER TABLE ... SET TBLPROPERTIES
        transaction.set_properties({"history.expire.min-snapshots-to-keep": "3"})

    result = maintain(tmp_path, orphan_age="1000")

    assert result.returncode == 0, result.stderr
    assert {snapshot.snapshot_id for snapshot in alerts_table(tmp_path).snapshots()} == set(ids[2:])


def test_compaction_leaves_files_with_position_deletes_and_brings_no_deleted_row_back(tmp_path):
    add_rows(tmp_path, "alerts", [alert("ours-0")])
    iceberg = alerts_table(tmp_path)
    spark_files = [
        engines.spark_append(iceberg, [alert(f"s-{n}-0"), alert(f"s-{n}-1")], PARTITION).file_path for n in range(5)
    ]
    engines.spark_delete(iceberg, "alert_id", ["s-0-0"])  # one delete file, naming spark_files[0]
    before = rows(alerts_table(tmp_path))
    assert "s-0-0" not in {row["alert_id"] for row in before}

    result = maintain(tmp_path, min_files="4", orphan_age="1000")

    assert result.returncode == 0, result.stderr
    assert "partitions compacted 1" in result.stdout
    assert "1 data file(s) with delete files not compacted" in result.stdout
    iceberg = alerts_table(tmp_path)
    assert rows(iceberg) == before
    live = refs.live_paths(iceberg)
    assert spark_files[0] in live and not set(spark_files[1:]) & live


def test_equality_deletes_stop_compaction_but_not_the_rest_of_upkeep(tmp_path):
    add_rows(tmp_path, "alerts", [alert("ours-0")])
    iceberg = alerts_table(tmp_path)
    for n in range(5):
        engines.spark_append(iceberg, [alert(f"s-{n}")], PARTITION)
    _, delete = engines.flink_upsert(iceberg, "alert_id", [alert("s-0", complaints=99)], PARTITION)
    delete_file = delete.file_path
    live_before = refs.live_paths(alerts_table(tmp_path))
    stray = stray_file(tmp_path)
    age_files(tmp_path)

    result = maintain(tmp_path, min_files="4")

    assert result.returncode == 0, result.stderr
    assert "equality delete files" in result.stdout and "partitions compacted 0" in result.stdout
    assert refs.live_paths(alerts_table(tmp_path)) == live_before
    assert all(os.path.exists(local_path(path)) for path in live_before | {delete_file})
    assert not stray.exists()
