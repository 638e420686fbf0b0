"""Run manifests: one JSON document per run, ``<output_dir>/_runs/<run_id>.json``, that says what the run read,
counted and committed, and how it ended.

``WriteToWarehouse``'s commit step writes a run's outcome here (``succeeded``, ``unbalanced``, ``refused`` or
``failed``, ``transforms/warehouse_io.py``); a launcher may write the run's start before it (``complaints batch``
does, with ``status: running``) and reads the outcome after. A manifest is replaced atomically (a temporary file
renamed over the old one), so a reader sees the old manifest or the new one, never half of one. Paths go through
Beam's ``FileSystems``: the output directory may be local or on a distributed file system.
"""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from transforms.sinks import read_json, write_json


def manifest_path(output_dir: str, run_id: str) -> str:
    """Where the manifest of run ``run_id`` under ``output_dir`` is."""
    return FileSystems.join(output_dir, "_runs", f"{run_id}.json")


def write_manifest(output_dir: str, manifest: dict) -> str:
    """Write (or replace) a run's manifest (its ``run_id`` names it) atomically; returns its path."""
    path = manifest_path(output_dir, manifest["run_id"])
    write_json(path, manifest, indent=2)
    return path


def read_manifest(output_dir: str, run_id: str) -> dict | None:
    """The manifest of run ``run_id``; None when there is none (or it cannot be read)."""
    return read_json(manifest_path(output_dir, run_id))
