"""Branches, tags and what a snapshot holds, for tests of tables other engines share (with
``tests/support/iceberg_engines.py``, which makes those engines' commits).

Spark and Trino users tag a snapshot (``ALTER TABLE t CREATE TAG``) or write to a branch (``INSERT INTO
t.branch_audit``); these helpers do the same with pyiceberg's own ``manage_snapshots`` and ``add_files``."""

from __future__ import annotations

import os
import uuid

import pyarrow.parquet as pq
from pyiceberg.manifest import ManifestEntry
from pyiceberg.table import Table as IcebergTable

import schemas
from warehouse.catalog import writer_schema
from warehouse.uris import local_path


def live_entries(iceberg: IcebergTable, snapshot_id: int | None = None) -> list[ManifestEntry]:
    """The live manifest entries (data and delete files) of a snapshot (default: the current one)."""
    snapshot = iceberg.snapshot_by_id(snapshot_id) if snapshot_id else iceberg.current_snapshot()
    return [
        entry
        for manifest in snapshot.manifests(iceberg.io)
        for entry in manifest.fetch_manifest_entry(iceberg.io, discard_deleted=True)
    ]


def live_paths(iceberg: IcebergTable, snapshot_id: int | None = None) -> set[str]:
    """The paths (as the manifests spell them) of a snapshot's live data and delete files."""
    return {entry.data_file.file_path for entry in live_entries(iceberg, snapshot_id)}


def append_to_branch(iceberg: IcebergTable, rows: list[dict], partition_folder: str, branch: str) -> str:
    """Write ``rows`` (one partition's) as a data file and commit it to ``branch`` only, spelled ``file:/`` as
    Spark does; returns the path as the manifest holds it."""
    folder = os.path.join(local_path(iceberg.location()), partition_folder)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"branch-data-{uuid.uuid4().hex}.parquet")
    pq.write_table(schemas.arrow_table(rows, writer_schema(iceberg)), path)
    spark_spelling = "file:" + os.path.abspath(path)
    iceberg.add_files([spark_spelling], branch=branch)
    iceberg.refresh()
    return spark_spelling


def tag(iceberg: IcebergTable, name: str, snapshot_id: int | None = None) -> int:
    """Tag ``snapshot_id`` (default: the current snapshot) as ``name``; returns the snapshot id."""
    snapshot_id = snapshot_id or iceberg.current_snapshot().snapshot_id
    iceberg.manage_snapshots().create_tag(snapshot_id, name).commit()
    iceberg.refresh()
    return snapshot_id


def branch(iceberg: IcebergTable, name: str, snapshot_id: int | None = None, **retention) -> int:
    """Start branch ``name`` at ``snapshot_id`` (default: the current snapshot), with ``retention``
    (``min_snapshots_to_keep``, ``max_snapshot_age_ms``) if given; returns the snapshot id."""
    snapshot_id = snapshot_id or iceberg.current_snapshot().snapshot_id
    iceberg.manage_snapshots().create_branch(snapshot_id, name, **retention).commit()
    iceberg.refresh()
    return snapshot_id
