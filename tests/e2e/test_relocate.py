"""A warehouse moved, copied or restored elsewhere: every command refuses it in one line until
``complaints warehouse relocate`` has rewritten its paths; then it works on its own files, and the original stays as
it was and usable."""

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from beam_pipelines.generator import generate
from schemas.tables import WAREHOUSE_TABLES
from tests.support.cli import run_cli
from tests.support.paths import REPO
from tests.support.position_deletes import delete_positions
from tests.support.warehouse import copy_tables, current_snapshots
from warehouse.catalog import CatalogConfig, WarehouseMoved, catalog_entries, load_table, open_catalog

pytestmark = pytest.mark.e2e


def batch(input_dir: Path, out: Path, date: str):
    return run_cli("batch", "--input-dir", str(input_dir), "--output-dir", str(out), "--date", date, "--quiet")


def query(warehouse: Path, sql: str, *extra: str):
    return run_cli("query", "--warehouse", str(warehouse), *extra, sql)


def count(warehouse: Path, snapshot_id: int | None = None) -> int:
    """The complaints of ``warehouse`` (at ``snapshot_id``), read as every reader does: through its catalog."""
    return len(scan_ids(warehouse, snapshot_id))


def counted_by_query(warehouse: Path, *extra: str) -> int:
    """The complaints of ``warehouse`` as ``complaints query`` counts them."""
    exported = warehouse.parent / "count.csv"
    result = query(warehouse, "SELECT count(*) AS n FROM complaints", *extra, "--output", str(exported))
    assert result.returncode == 0, result.stderr[-2000:]
    return int(exported.read_text().splitlines()[1])


def scan_ids(warehouse: Path, snapshot_id: int | None = None) -> set:
    """The complaint ids of ``warehouse`` (at ``snapshot_id``), through pyiceberg's scan (it applies deletes)."""
    config = CatalogConfig(str(warehouse))
    table = load_table(open_catalog(config, create=False), config, WAREHOUSE_TABLES["complaints"])
    ids = table.scan(snapshot_id=snapshot_id, selected_fields=("complaint_id",)).to_arrow().column("complaint_id")
    assert len(set(ids.to_pylist())) == len(ids)
    return set(ids.to_pylist())


def table_of(warehouse: Path, name: str = "complaints"):
    config = CatalogConfig(str(warehouse))
    return load_table(open_catalog(config, create=False), config, WAREHOUSE_TABLES[name])


def assert_same_meaning(original: Path, copy: Path, name: str = "complaints", resized=()):
    """Every snapshot's manifest entries (status, snapshot, sequence numbers, partition, counts, statistics) and
    every manifest's record of ``name`` in ``copy`` equal those of ``original`` but for the directory in paths,
    a manifest's length and the size of the rewritten delete files ``resized``."""

    def spelled(rows, directory: Path):
        return json.loads(json.dumps(rows, default=str).replace(str(directory), "WAREHOUSE"))

    before, after = table_of(original, name), table_of(copy, name)
    assert [s.snapshot_id for s in before.snapshots()] == [s.snapshot_id for s in after.snapshots()]
    for snapshot in before.snapshots():
        old = spelled(before.inspect.entries(snapshot.snapshot_id).to_pylist(), original)
        new = spelled(after.inspect.entries(snapshot.snapshot_id).to_pylist(), copy)
        for entry in old + new:
            if entry["data_file"]["content"] == 1 and entry["data_file"]["file_path"] in resized:
                entry["data_file"]["file_size_in_bytes"] = None
        assert old == new
    old, new = (
        spelled(table.inspect.all_manifests().to_pylist(), folder)
        for table, folder in ((before, original), (after, copy))
    )
    assert [{**m, "length": None} for m in old] == [{**m, "length": None} for m in new]


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_refused(result, copy_warehouse: Path, old_warehouse: Path):
    """One line naming where the catalog points and the relocate command, exit 3, no traceback."""
    assert result.returncode == 3, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert f"catalog points at {old_warehouse}" in lines[-1]
    assert f"complaints warehouse relocate --from {old_warehouse} --to {copy_warehouse}" in lines[-1]
    assert all("WARNING" in line for line in lines[:-1])  # only the dev profile's public-key warning besides


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """Three small generated days of input (a few hundred complaints each: the point is the paths, not volume)."""
    root = tmp_path_factory.mktemp("relocate-input")
    for seed, day in enumerate(("2026-11-20", "2026-11-21", "2026-11-22")):
        generate(str(root / day), dt.date.fromisoformat(day), volume=250, seed=seed + 5, defect_rate=0.02)
    return {day: root / day for day in ("2026-11-20", "2026-11-21", "2026-11-22")}


@pytest.fixture(scope="module")
def original(days, tmp_path_factory):
    """A warehouse of two batch runs (two snapshots of complaints)."""
    out = tmp_path_factory.mktemp("relocate") / "original"
    assert batch(days["2026-11-20"], out, "2026-11-20").returncode == 0
    first = current_snapshots(out / "warehouse")["complaints"]
    assert batch(days["2026-11-21"], out, "2026-11-21").returncode == 0
    return {
        "out": out,
        "first_snapshot": first,
        "later": days["2026-11-22"],
        "rows": count(out / "warehouse"),
        "first_rows": count(out / "warehouse", first),
    }


def test_a_moved_warehouse_is_refused_in_one_line_by_every_command(days, tmp_path):
    out, moved = tmp_path / "out", tmp_path / "moved"
    assert batch(days["2026-11-20"], out, "2026-11-20").returncode == 0
    os.rename(out, moved)
    old_warehouse, warehouse = out / "warehouse", moved / "warehouse"
    assert_refused(query(warehouse, "SELECT count(*) FROM complaints"), warehouse, old_warehouse)
    assert_refused(run_cli("warehouse", "maintain", "--warehouse", str(warehouse)), warehouse, old_warehouse)
    assert_refused(
        run_cli("report", "--period", "daily", "--warehouse", str(warehouse), "--output", str(tmp_path / "report")),
        warehouse,
        old_warehouse,
    )
    assert_refused(batch(days["2026-11-20"], moved, "2026-11-20"), warehouse, old_warehouse)


def test_a_batch_into_a_copy_is_refused_and_the_original_untouched(original, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(original["out"], copy, symlinks=True)
    before, copy_before = file_hashes(original["out"]), file_hashes(copy / "warehouse")
    assert_refused(batch(original["later"], copy, "2026-11-22"), copy / "warehouse", original["out"] / "warehouse")
    assert file_hashes(original["out"]) == before
    assert file_hashes(copy / "warehouse") == copy_before  # nothing committed to the copy either
    assert count(original["out"] / "warehouse") == original["rows"]


def test_a_relocated_copy_works_on_its_own_files_and_the_original_stays_as_it_was(original, tmp_path):
    old_warehouse = original["out"] / "warehouse"
    copy = tmp_path / "restored"
    shutil.copytree(original["out"], copy, symlinks=True)
    warehouse = copy / "warehouse"
    before = file_hashes(original["out"])

    result = run_cli("warehouse", "relocate", "--from", str(old_warehouse), "--to", str(warehouse))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "beejan.complaints" in result.stdout
    assert file_hashes(original["out"]) == before

    # no file of the copy's tables names the original any more; nor does its catalog
    for path in warehouse.rglob("*"):
        if path.is_file() and (path.parent.name == "metadata" or path.suffix == ".parquet"):
            assert str(old_warehouse).encode() not in path.read_bytes(), path
    config = CatalogConfig(str(warehouse))
    entries = catalog_entries(open_catalog(config, create=False))
    assert entries and all(str(warehouse) in entry.metadata_location for entry in entries)
    assert not list(warehouse.rglob(".relocating-*"))
    for name in ("complaints", "dead_letter"):
        assert_same_meaning(old_warehouse, warehouse, name)

    # the copy reads what the original holds, now and at its first snapshot (time travel)
    assert count(warehouse) == original["rows"]
    assert counted_by_query(warehouse, "--as-of", str(original["first_snapshot"])) == original["first_rows"]
    # a second relocation has nothing to do
    again = run_cli("warehouse", "relocate", "--from", str(old_warehouse), "--to", str(warehouse))
    assert again.returncode == 0 and "nothing to relocate" in again.stdout

    # a batch commits into the copy's own folders; upkeep keeps its rows
    assert batch(original["later"], copy, "2026-11-22").returncode == 0
    grown = count(warehouse)
    assert grown > original["rows"]
    table = load_table(open_catalog(config, create=False), config, WAREHOUSE_TABLES["complaints"])
    files = [task.file.file_path for task in table.scan().plan_files()]
    assert files and all(f"{warehouse}/complaints/" in path for path in files)
    maintained = run_cli(
        "warehouse", "maintain", "--warehouse", str(warehouse), "--retention-hours", "0", "--orphan-age-hours", "0"
    )
    assert maintained.returncode == 0, maintained.stderr[-2000:]
    assert count(warehouse) == grown
    assert file_hashes(original["out"]) == before

    # the original is still valid and usable, and its upkeep no longer touches the copy
    assert counted_by_query(old_warehouse) == original["rows"]
    maintained = run_cli("warehouse", "maintain", "--warehouse", str(old_warehouse), "--orphan-age-hours", "0")
    assert maintained.returncode == 0, maintained.stderr[-2000:]
    assert count(old_warehouse) == original["rows"]
    assert count(warehouse) == grown


def test_a_copy_that_lacks_files_is_refused_and_nothing_changes(original, tmp_path):
    copy = tmp_path / "partial"
    shutil.copytree(original["out"] / "warehouse", copy)
    missing = next((copy / "complaints").glob("event_date=*/*.parquet"))
    missing.unlink()
    before = file_hashes(copy)
    result = run_cli("warehouse", "relocate", "--from", str(original["out"] / "warehouse"), "--to", str(copy))
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "lacks 1 file" in result.stderr
    assert file_hashes(copy) == before


def test_relocation_rewrites_position_delete_files(original, tmp_path):
    source = tmp_path / "with-deletes"
    copy_tables(original["out"] / "warehouse", source)
    all_ids = scan_ids(source)
    deleted = delete_positions(source, "complaints", [0, 3, 4], spelling="file:")  # as Spark spells paths
    kept = scan_ids(source)
    assert len(kept) == len(all_ids) - 3
    # Spark's local file system writes a Hadoop checksum beside each file, and checks it when it reads the file
    source_delete_file = Path(deleted["delete_file"].removeprefix("file:"))
    checksums = [
        path.parent / f".{path.name}.crc"
        for path in (source_delete_file, *(source / "complaints" / "metadata").glob("*.avro"))
    ]
    for checksum in checksums:
        checksum.write_bytes(b"crc\x00\x00\x00\x02\x00")
    before = file_hashes(source)

    copy = tmp_path / "copy-with-deletes"
    shutil.copytree(source, copy)
    result = run_cli("warehouse", "relocate", "--from", str(source), "--to", str(copy))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 position delete files" in result.stdout
    assert file_hashes(source) == before
    assert_same_meaning(source, copy, resized={deleted["delete_file"].replace(str(source), "WAREHOUSE")})
    assert scan_ids(copy) == kept  # the deletes apply to the copy's data files
    assert scan_ids(copy, deleted["before"]) == all_ids  # and the snapshot before them is whole
    delete_file = copy / Path(deleted["delete_file"].removeprefix("file:")).relative_to(source)
    for path in [delete_file, *copy.rglob("metadata/*")]:
        assert str(source).encode() not in path.read_bytes(), path
    assert scan_ids(source) == kept
    # a checksum of a file the relocation rewrote would no longer match it: the copy's are gone, the original's kept
    assert all(checksum.exists() for checksum in checksums)
    assert not [checksum for checksum in checksums if (copy / checksum.relative_to(source)).exists()]


def test_an_interrupted_relocation_is_finished_by_running_it_again(original, tmp_path, monkeypatch):
    import warehouse.relocate as relocate

    copy = tmp_path / "interrupted"
    shutil.copytree(original["out"] / "warehouse", copy)
    renamed = []

    def replace_then_fail(source, target):
        if len(renamed) == 3:
            raise OSError(28, "No space left on device")
        renamed.append(target)
        os.rename(source, target)

    monkeypatch.setattr(relocate.os, "replace", replace_then_fail)
    with pytest.raises(OSError):
        relocate.relocate_warehouse(str(original["out"] / "warehouse"), str(copy))
    assert len(renamed) == 3 and not list(copy.rglob(".relocating-*"))  # half done, nothing left beside
    monkeypatch.undo()
    with pytest.raises(WarehouseMoved):  # the catalog still points at the original: still refused
        count(copy)
    relocation = relocate.relocate_warehouse(str(original["out"] / "warehouse"), str(copy))
    assert {table.table for table in relocation.tables} >= {"beejan.complaints", "beejan.dead_letter"}
    assert count(copy) == original["rows"]
    assert count(copy, original["first_snapshot"]) == original["first_rows"]


def test_a_copy_made_of_hard_links_is_relocated_without_changing_the_original(original, tmp_path):
    old_warehouse = original["out"] / "warehouse"
    copy = tmp_path / "linked"
    shutil.copytree(old_warehouse, copy, copy_function=os.link)  # cp -al: every file shared with the original
    assert (copy / "catalog.db").stat().st_ino == (old_warehouse / "catalog.db").stat().st_ino
    before = file_hashes(old_warehouse)
    result = run_cli("warehouse", "relocate", "--from", str(old_warehouse), "--to", str(copy))
    assert result.returncode == 0, result.stderr[-2000:]
    assert file_hashes(old_warehouse) == before
    assert count(copy) == count(old_warehouse) == original["rows"]


def test_a_shared_catalog_is_not_checked_against_the_warehouse_directory(original, tmp_path):
    """A catalog named in the profile (here a SQL catalog over the original's database, given by PYICEBERG_*
    variables as a shared one would be) holds tables wherever it likes: no refusal."""
    env = {
        **os.environ,
        "PYICEBERG_CATALOG__EMBEDDED__TYPE": "sql",
        "PYICEBERG_CATALOG__EMBEDDED__URI": f"sqlite:///{original['out'] / 'warehouse' / 'catalog.db'}",
    }
    reader = (
        "import sys\nfrom warehouse.catalog import CatalogConfig\nfrom warehouse.read import read_arrow\n"
        "print(read_arrow(CatalogConfig(sys.argv[1], 'embedded', 'beejan'), 'complaints').num_rows)"
    )
    result = subprocess.run(
        [sys.executable, "-c", reader, str(tmp_path / "elsewhere" / "warehouse")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) == original["rows"]


def test_every_opening_of_a_moved_embedded_catalog_is_refused_for_readers_and_writers(original, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(original["out"] / "warehouse", copy)
    for create in (False, True):
        with pytest.raises(WarehouseMoved) as refused:
            open_catalog(CatalogConfig(str(copy)), create=create)
        assert refused.value.recorded == str(original["out"] / "warehouse")
    open_catalog(CatalogConfig(str(original["out"] / "warehouse")), create=False)  # the original opens
