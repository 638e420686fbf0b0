"""The path rewrite of a warehouse relocation: every spelling of a path under the old directory moves to the
same path under the new one, in the same spelling; nothing else changes. And where a catalog's row points."""

import pytest

from warehouse.catalog import CatalogEntry, inside, recorded_warehouse
from warehouse.relocate import PathMove

MOVE = PathMove(("/old/out/warehouse",), "/new/copy/warehouse")


@pytest.mark.parametrize(
    "old, new",
    [
        ("file:/old/out/warehouse/t/data/x.parquet", "file:/new/copy/warehouse/t/data/x.parquet"),  # Spark
        ("file:///old/out/warehouse/t/data/x.parquet", "file:///new/copy/warehouse/t/data/x.parquet"),  # pyiceberg
        ("file://localhost/old/out/warehouse/t/x.parquet", "file://localhost/new/copy/warehouse/t/x.parquet"),
        ("/old/out/warehouse/t/metadata/v1.metadata.json", "/new/copy/warehouse/t/metadata/v1.metadata.json"),
        ("FILE:///old/out//warehouse/./t/x.parquet", "FILE:///new/copy/warehouse/t/x.parquet"),
        ("file:///old/out/warehouse/t/a%20b.parquet", "file:///new/copy/warehouse/t/a%20b.parquet"),
        ("file:///old/out/warehouse/t/a b.parquet", "file:///new/copy/warehouse/t/a b.parquet"),
        ("file:///old/out/warehouse", "file:///new/copy/warehouse"),
    ],
)
def test_every_spelling_of_a_path_under_the_old_directory_moves_in_its_spelling(old, new):
    assert MOVE(old) == new
    assert MOVE.applies(old)
    assert MOVE(new) == new  # a path already moved stays: a second run changes nothing


@pytest.mark.parametrize(
    "other",
    [
        "file:///old/out/warehouse2/t/x.parquet",  # a sibling whose name starts the same
        "file:///old/out/lake/x.jsonl",
        "s3://bucket/old/out/warehouse/t/x.parquet",
        "file://otherhost/old/out/warehouse/t/x.parquet",
        "snappy",
        "2",
        "",
        "old/out/warehouse/t",  # table properties that are not paths
    ],
)
def test_anything_else_is_left_as_it_is(other):
    assert MOVE(other) == other
    assert not MOVE.applies(other)


def test_the_old_directory_is_matched_as_given_and_with_its_symlinks_resolved(tmp_path):
    real = tmp_path / "real"
    (real / "warehouse").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    move = PathMove.of(str(link / "warehouse"), str(tmp_path / "copy"))
    assert move(f"file://{real}/warehouse/t/x.parquet") == f"file://{tmp_path}/copy/t/x.parquet"
    assert move(f"file:{link}/warehouse/t/x.parquet") == f"file:{tmp_path}/copy/t/x.parquet"


def test_inside_compares_real_paths_in_any_spelling(tmp_path):
    (tmp_path / "w" / "t").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / "w")
    assert inside(f"file:{tmp_path}/w/t/m.json", str(tmp_path / "alias"))
    assert inside(f"file://localhost{tmp_path}/alias/t/m.json", f"file://{tmp_path}/w")
    assert not inside(f"file://{tmp_path}/w2/t/m.json", str(tmp_path / "w"))
    assert not inside("s3://bucket/w/t/m.json", str(tmp_path / "w"))


def test_the_warehouse_a_catalog_row_points_at():
    row = CatalogEntry(
        "beejan", "complaints", "file:///old/out/warehouse/complaints/metadata/00003-a.metadata.json", None
    )
    assert recorded_warehouse(row) == "/old/out/warehouse"
    elsewhere = CatalogEntry("beejan", "complaints", "file:/data/tables/c/metadata/00003-a.metadata.json", None)
    assert recorded_warehouse(elsewhere) == "/data/tables/c"


def test_the_old_warehouse_is_found_whatever_the_layout_of_its_tables(tmp_path):
    """Spark's JDBC catalog puts a table at ``W/<namespace>/<table>``: the copy's file at the same place says
    which part of the old path was the warehouse."""
    metadata = tmp_path / "copy" / "beejan" / "complaints" / "metadata"
    metadata.mkdir(parents=True)
    (metadata / "00004-f00d.metadata.json").write_text("{}")
    row = CatalogEntry("beejan", "complaints", "file:/old/w/beejan/complaints/metadata/00004-f00d.metadata.json", None)
    assert recorded_warehouse(row, str(tmp_path / "copy")) == "/old/w"
    assert recorded_warehouse(row, str(tmp_path / "elsewhere")) == "/old/w/beejan"  # no copy: the layout's guess
