"""Position delete files in a warehouse table, as Spark or Trino write them in merge-on-read mode: a Parquet file
of (``file_path``, ``pos``) rows committed in a delete manifest of a new snapshot. pyiceberg writes no delete files
itself, so this commits one with its low-level parts (manifest writer, manifest list writer, catalog commit)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    write_manifest_list,
)
from pyiceberg.table.snapshots import Operation, Snapshot, Summary
from pyiceberg.table.update import AddSnapshotUpdate, AssertRefSnapshotId, SetSnapshotRefUpdate

from schemas.tables import WAREHOUSE_TABLES
from warehouse.catalog import CatalogConfig, load_table, open_catalog
from warehouse.replace import DeleteManifestWriter

FILE_PATH_ID, POS_ID = 2147483546, 2147483545  # the spec's reserved field ids of a position delete file


def delete_positions(warehouse_dir: Path, name: str, positions: list[int], spelling: str = "file:") -> dict:
    """Delete the rows at ``positions`` of the first data file of table ``name``'s current snapshot with a position
    delete file, committed as a new snapshot. The delete file is named in its manifest in ``spelling`` (``file:``,
    Spark's ``file:/x``, or ``file://``); its ``file_path`` column holds the data file's path as the table names it.
    Returns the data file, the delete file's path and the snapshot ids before and after."""
    config = CatalogConfig(str(warehouse_dir))
    table = load_table(open_catalog(config, create=False), config, WAREHOUSE_TABLES[name])
    before = table.current_snapshot()
    manifests = before.manifests(table.io)
    data_manifest = next(m for m in manifests if m.content == ManifestContent.DATA)
    data_file = next(e.data_file for e in data_manifest.fetch_manifest_entry(table.io))
    folder = Path(table.location().removeprefix("file://")) / "data"
    folder.mkdir(parents=True, exist_ok=True)
    local = folder / f"position-deletes-{uuid.uuid4().hex}.parquet"
    schema = pa.schema(
        [
            pa.field("file_path", pa.string(), False, {b"PARQUET:field_id": str(FILE_PATH_ID)}),
            pa.field("pos", pa.int64(), False, {b"PARQUET:field_id": str(POS_ID)}),
        ]
    )
    rows = pa.table(
        {
            "file_path": pa.array([data_file.file_path] * len(positions), pa.string()),
            "pos": pa.array(sorted(positions), pa.int64()),
        },
        schema=schema,
    )
    pq.write_table(rows, local)
    path = f"{spelling}{local}"
    encoded = data_file.file_path.encode()
    delete_file = DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=data_file.partition,
        record_count=len(positions),
        file_size_in_bytes=local.stat().st_size,
        column_sizes={},
        value_counts={FILE_PATH_ID: len(positions), POS_ID: len(positions)},
        null_value_counts={FILE_PATH_ID: 0, POS_ID: 0},
        nan_value_counts={},
        lower_bounds={FILE_PATH_ID: encoded, POS_ID: min(positions).to_bytes(8, "little")},
        upper_bounds={FILE_PATH_ID: encoded, POS_ID: max(positions).to_bytes(8, "little")},
        split_offsets=[4],
        sort_order_id=None,
    )
    delete_file.spec_id = data_manifest.partition_spec_id
    metadata = table.metadata
    snapshot_id, sequence = metadata.new_snapshot_id(), metadata.next_sequence_number()
    metadata_dir = Path(table.location().removeprefix("file://")) / "metadata"
    manifest_out = table.io.new_output(str(metadata_dir / f"{uuid.uuid4()}-deletes-m0.avro"))
    with DeleteManifestWriter(
        table.specs()[data_manifest.partition_spec_id], table.schema(), manifest_out, snapshot_id, "deflate"
    ) as writer:
        writer.add_entry(
            ManifestEntry.from_args(status=ManifestEntryStatus.ADDED, snapshot_id=snapshot_id, data_file=delete_file)
        )
    delete_manifest = writer.to_manifest_file()
    list_out = table.io.new_output(str(metadata_dir / f"snap-{snapshot_id}-1-{uuid.uuid4()}.avro"))
    with write_manifest_list(2, list_out, snapshot_id, before.snapshot_id, sequence, "deflate") as writer:
        writer.add_manifests([*manifests, delete_manifest])
    snapshot = Snapshot(
        snapshot_id=snapshot_id,
        parent_snapshot_id=before.snapshot_id,
        sequence_number=sequence,
        timestamp_ms=int(time.time() * 1000),
        manifest_list=list_out.location,
        summary=Summary(Operation.DELETE),
        schema_id=table.schema().schema_id,
    )
    table.catalog.commit_table(
        table,
        (AssertRefSnapshotId(ref="main", snapshot_id=before.snapshot_id),),
        (
            AddSnapshotUpdate(snapshot=snapshot),
            SetSnapshotRefUpdate(ref_name="main", type="branch", snapshot_id=snapshot_id),
        ),
    )
    return {"data_file": data_file.file_path, "delete_file": path, "before": before.snapshot_id, "after": snapshot_id}
