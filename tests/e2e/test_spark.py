"""A real second engine on our warehouse: Apache Spark 3.5 with Iceberg 1.10 (``tests/support/spark.py``) reads the
tables ``complaints batch`` wrote exactly as pyiceberg does, and writes into them, copy-on-write and merge-on-read
(position delete files); after each of its writes our readers (``warehouse.read.read_arrow``, ``complaints
query``, the server's API) and our writers (the next ``complaints batch``, ``complaints warehouse maintain``,
``complaints batch --from-lake``) agree with Spark row for row.

The tests of this module build on each other, in order, on one warehouse: each checks the whole ``complaints``
table against a model of what it must hold (``World.model``), kept by applying to it in Python what every
statement and command did.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.cli import latest_manifest, run_cli
from tests.support.services import unavailable
from tests.support.serving import call_api, start_server, stop_server
from tests.support.spark import SparkError, SparkSQL, spark_missing, spark_sql, table_name

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

COMPLAINTS = table_name("complaints")
#: the generated days: (date, volume, seed). The first two are batched before Spark comes; the others are the
#: "next batch" after each round of Spark writes
DAYS = [
    (dt.date(2026, 11, 20), 120, 11),
    (dt.date(2026, 11, 21), 60, 12),
    (dt.date(2026, 11, 22), 30, 13),
    (dt.date(2026, 11, 23), 30, 14),
    (dt.date(2026, 11, 24), 30, 15),
]
#: columns the engines set per run, left out where a row is compared with what an earlier run derived
RUN_COLUMNS = ("run_id", "batch_id")
SERVER_CATCH_UP = 60.0  # seconds the server may take to follow a new snapshot (it checks every 2 s)


# -- comparing rows ------------------------------------------------------------------------------------------------
def column_kinds(warehouse: Path, name: str) -> dict[str, str]:
    """``timestamp``, ``date`` or ``value`` for each column of our table ``name``, from its Iceberg schema."""
    from pyiceberg.types import DateType, TimestampType, TimestamptzType

    from schemas.tables import WAREHOUSE_TABLES
    from warehouse.catalog import CatalogConfig, load_table, open_catalog

    config = CatalogConfig(str(warehouse))
    iceberg = load_table(open_catalog(config, create=False), config, WAREHOUSE_TABLES[name])
    kinds = {}
    for column in iceberg.schema().fields:
        kinds[column.name] = (
            "timestamp"
            if isinstance(column.field_type, (TimestamptzType, TimestampType))
            else "date"
            if isinstance(column.field_type, DateType)
            else "value"
        )
    return kinds


def canonical(value, kind: str):
    """One spelling of a value whichever reader returned it: times as ISO 8601 in UTC with microseconds, dates as
    ISO 8601, sequences as lists."""
    if value is None:
        return None
    if kind == "timestamp":
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if kind == "date":
        return value.isoformat() if isinstance(value, dt.date) else dt.date.fromisoformat(value).isoformat()
    if isinstance(value, (list, tuple)):
        return [canonical(item, "value") for item in value]
    return value


def by_key(rows, kinds: dict[str, str], key: str = "complaint_id", columns=None) -> dict[str, dict]:
    """``{key: row}`` of canonical rows (only ``columns``, if given); a key met twice fails the test."""
    table = {}
    for row in rows:
        clean = {column: canonical(row.get(column), kinds[column]) for column in (columns or kinds)}
        assert row[key] not in table, f"{key} {row[key]} appears twice"
        table[row[key]] = clean
    return table


def assert_same(expected: dict[str, dict], actual: dict[str, dict], who: str, ignore=()) -> None:
    """The same keys with the same rows (``ignore``: columns not compared); the message says what differs."""
    missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
    differing = {}
    for key in sorted(set(expected) & set(actual)):
        columns = [c for c in expected[key] if c not in ignore and expected[key][c] != actual[key].get(c)]
        if columns:
            differing[key] = {c: (expected[key][c], actual[key].get(c)) for c in columns[:4]}
    assert not (missing or extra or differing), (
        f"{who}: {len(actual)} rows, expected {len(expected)}; missing {len(missing)} {missing[:5]}, "
        f"extra {len(extra)} {extra[:5]}, differing {len(differing)} {dict(list(differing.items())[:3])}"
    )


# -- the world the tests share -------------------------------------------------------------------------------------
@dataclass
class World:
    out: Path
    days: list[dict]
    spark: SparkSQL | None
    server: str
    kinds: dict[str, str]
    #: what ``complaints`` must hold now, by complaint_id (canonical rows)
    model: dict[str, dict] = field(default_factory=dict)
    #: every complaint our batches derived from the lake, as the batch wrote it: what reprocess derives again
    derived: dict[str, dict] = field(default_factory=dict)
    #: the ingest date (the batch's --date) of each derived complaint: reprocess runs one batch per date
    ingested: dict[str, str] = field(default_factory=dict)
    batched: int = 0  # how many of DAYS are batched
    scratch: int = 0
    #: the disagreements a test met: each check goes on to the next reader, the test fails at its end with all
    failures: list[str] = field(default_factory=list)

    @property
    def warehouse(self) -> Path:
        return self.out / "warehouse"

    def check(self, step: str, check, *args, **kwargs):
        """``check(*args, **kwargs)``; an assertion or error it raises is noted as a failure of ``step`` and the
        test goes on (None returned)."""
        try:
            return check(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - an AssertionError, or a reader that raised: noted, the test goes on
            message = " | ".join(line for line in str(error).splitlines() if line.strip() and "WARNING" not in line)
            self.failures.append(f"{step}: {type(error).__name__}: {message[:1500]}")
            return None

    def assert_no_failures(self) -> None:
        failures, self.failures = self.failures, []
        assert not failures, f"{len(failures)} disagreements:\n" + "\n".join(failures)

    def scratch_file(self, suffix: str) -> Path:
        self.scratch += 1
        return self.out.parent / f"scratch-{self.scratch}{suffix}"


def generate_days(root: Path) -> list[dict]:
    """The generated input days of ``DAYS``, every one with the first day's customer master (so a complaint
    links to the same customer whichever run derives it)."""
    from beam_pipelines.generator import generate

    days = []
    for date, volume, seed in DAYS:
        folder = root / f"input-{date.isoformat()}"
        generate(str(folder), date, volume=volume, seed=seed, defect_rate=0.05)
        if days:
            shutil.rmtree(folder / "customers")
            shutil.copytree(days[0]["dir"] / "customers", folder / "customers")
        days.append({"dir": folder, "date": date.isoformat()})
    return days


def read_ours(world: World, as_of=None) -> dict[str, dict]:
    """``complaints`` as ``warehouse.read.read_arrow`` (pyiceberg's scan) returns it."""
    from warehouse.catalog import CatalogConfig
    from warehouse.read import read_arrow

    return by_key(read_arrow(CatalogConfig(str(world.warehouse)), "complaints", as_of=as_of).to_pylist(), world.kinds)


def read_spark(world: World, as_of: str = "") -> dict[str, dict]:
    """``complaints`` as Spark reads it (``as_of``: a ``VERSION AS OF`` or ``TIMESTAMP AS OF`` clause)."""
    return by_key(world.spark.rows(f"SELECT * FROM {COMPLAINTS} {as_of}"), world.kinds)


def read_query(world: World, *as_of: str) -> dict[str, dict]:
    """``complaints query "SELECT * FROM complaints" --output FILE.parquet``, as a user exports the table."""
    export = world.scratch_file(".parquet")
    result = run_cli(
        "query", "--warehouse", str(world.warehouse), "SELECT * FROM complaints", "--output", str(export), *as_of
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return by_key(pq.read_table(export).to_pylist(), world.kinds)


def read_api(world: World) -> dict[str, dict]:
    """Every complaint the server's search returns, page by page."""
    from serving.queries import COMPLAINT_COLUMNS

    rows, cursor = [], None
    while True:
        status, page = call_api(
            world.server, "/api/v1/complaints", "", params={"limit": 500, **({"cursor": cursor} if cursor else {})}
        )
        assert status == 200, page
        rows += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return by_key(rows, world.kinds, columns=COMPLAINT_COLUMNS)


def assert_readers_agree(world: World, step: str, expected: dict[str, dict], ignore=()) -> dict[str, dict]:
    """After ``step``: Spark holds ``expected``, and pyiceberg's scan, ``complaints query`` and the server's API
    return exactly what Spark reads (each disagreement noted in ``world.failures``). Returns Spark's rows."""
    from serving.queries import COMPLAINT_COLUMNS

    with ThreadPoolExecutor(3) as pool:  # three processes (Spark, ours, the CLI) read at once
        spark, ours, query = (pool.submit(read, world) for read in (read_spark, read_ours, read_query))
        seen = spark.result()
        world.check(f"{step}: Spark", assert_same, expected, seen, "Spark", ignore)
        world.check(f"{step}: read_arrow", lambda: assert_same(seen, ours.result(), "warehouse.read.read_arrow"))
        world.check(f"{step}: complaints query", lambda: assert_same(seen, query.result(), "complaints query"))
    served = {key: {column: row[column] for column in COMPLAINT_COLUMNS} for key, row in seen.items()}

    def api() -> None:  # a query makes the server look for a new snapshot (at most every 2 s)
        current = current_snapshot_id(world)
        deadline = time.monotonic() + SERVER_CATCH_UP
        while (
            (answered := read_api(world)) != served
            and served_snapshot(world) != current
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
        assert_same(
            served,
            answered,
            f"the server's /api/v1/complaints (serving snapshot {served_snapshot(world)} of {current})",
        )

    world.check(f"{step}: the server's API", api)
    return seen


def served_snapshot(world: World) -> int | None:
    """The snapshot of ``complaints`` the server answers from (its /healthz says)."""
    status, health = call_api(world.server, "/healthz", "")
    assert status == 200, health
    return health["snapshots"]["complaints"]


def current_snapshot_id(world: World) -> int:
    from schemas.tables import COMPLAINTS as TABLE
    from warehouse.catalog import CatalogConfig, load_table, open_catalog

    config = CatalogConfig(str(world.warehouse))
    return load_table(open_catalog(config, create=False), config, TABLE).current_snapshot().snapshot_id


def our_snapshots(world: World) -> list[dict]:
    from schemas.tables import COMPLAINTS as TABLE
    from warehouse.catalog import CatalogConfig, load_table, open_catalog

    config = CatalogConfig(str(world.warehouse))
    iceberg = load_table(open_catalog(config, create=False), config, TABLE)
    return [
        {
            "snapshot_id": s.snapshot_id,
            "parent_id": s.parent_snapshot_id,
            "operation": s.summary.operation.value,
            "committed_at": dt.datetime.fromtimestamp(s.timestamp_ms / 1000, dt.UTC),
        }
        for s in iceberg.snapshots()
    ]


def spark_snapshots(world: World) -> list[dict]:
    rows = world.spark.rows(
        f"SELECT snapshot_id, parent_id, operation, committed_at FROM {COMPLAINTS}.snapshots "
        "ORDER BY committed_at, snapshot_id"
    )
    return [{**row, "committed_at": dt.datetime.fromisoformat(row["committed_at"])} for row in rows]


def delete_files(world: World) -> int:
    return world.spark.rows(f"SELECT count(*) AS n FROM {COMPLAINTS}.delete_files")[0]["n"]


# -- our writers ---------------------------------------------------------------------------------------------------
def stderr_tail(result) -> str:
    """The last lines a command wrote to stderr, without its warnings."""
    lines = [line for line in result.stderr.splitlines() if line.strip() and "WARNING" not in line]
    return " | ".join(lines[-6:])[-1500:]


def run_batch(world: World) -> dict:
    """``complaints batch`` of the next generated day; the model gains its rows (as pyiceberg reads them).
    Returns its manifest."""
    day = world.days[world.batched]
    before = read_ours(world) if world.batched else {}
    result = run_cli("batch", "--input-dir", str(day["dir"]), "--output-dir", str(world.out), "--date", day["date"])
    assert result.returncode == 0, f"complaints batch exit {result.returncode}: {stderr_tail(result)}"
    world.batched += 1
    manifest = latest_manifest(world.out)
    now = read_ours(world)
    added = {key: row for key, row in now.items() if key not in before}
    assert added and {row["run_id"] for row in added.values()} == {manifest["run_id"]}
    assert manifest["committed_rows"]["complaints"] == {"written": len(added), "replaced": 0}
    world.derived.update(added)
    world.ingested.update((key, day["date"]) for key in added)
    world.model.update(copy.deepcopy(added))
    return manifest


def batch_after_spark(world: World) -> None:
    """Our next batch (a new day) after Spark's writes adds exactly its rows: nothing Spark deleted comes back,
    nothing it inserted or updated is lost."""
    before = dict(world.model)
    world.check("our batch after Spark's writes", run_batch, world)
    seen = assert_readers_agree(world, "our batch after Spark's writes", world.model)
    world.check(
        "our batch keeps every row it did not deliver",
        lambda: assert_same(before, {key: seen[key] for key in before if key in seen}, "rows before the batch"),
    )


def maintain_after_spark(world: World) -> None:
    """``complaints warehouse maintain`` (compaction of every partition with 2 files or more, orphan files of any age)
    changes no row, and leaves every file a snapshot references: Spark and our readers still read the table."""
    result = run_cli(
        "warehouse",
        "maintain",
        "--warehouse",
        str(world.warehouse),
        "--tables",
        "complaints",
        "--min-files",
        "2",
        "--orphan-age-hours",
        "0",
    )
    world.check(
        "complaints warehouse maintain after Spark's writes",
        lambda: (result.returncode == 0) or pytest.fail(f"exit {result.returncode}: {stderr_tail(result)}"),
    )
    assert_readers_agree(world, "complaints warehouse maintain after Spark's writes", world.model)


def reprocess_after_spark(world: World) -> None:
    """``complaints batch --from-lake`` of every ingest date so far derives each lake complaint again and replaces its
    row (Spark's updates to it included; a row Spark deleted is derived again: the lake still holds its record);
    rows Spark inserted, which no lake record derives, stay as they are. It runs one batch per ingest date, whose
    manifest counts the rows it replaced exactly."""
    before_keys = set(world.model)
    runs_before = set((world.out / "_runs").glob("*.json"))
    result = run_cli(
        "batch",
        "--from-lake",
        "--output-dir",
        str(world.out),
        "--start",
        world.days[0]["date"],
        "--end",
        world.days[world.batched - 1]["date"],
        "--customers",
        str(world.days[0]["dir"] / "customers"),
        "--quiet",
    )
    if result.returncode != 0:
        world.failures.append(
            f"complaints batch --from-lake after Spark's writes: exit {result.returncode}: {stderr_tail(result)}"
        )
        return
    manifests = {
        manifest["batch_date"]: manifest
        for manifest in (
            json.loads(path.read_text()) for path in set((world.out / "_runs").glob("*.json")) - runs_before
        )
    }
    for key, row in world.derived.items():
        manifest = manifests[world.ingested[key]]
        world.model[key] = {**copy.deepcopy(row), "run_id": manifest["run_id"], "batch_id": manifest["batch_id"]}
    assert_readers_agree(world, "complaints batch --from-lake after Spark's writes", world.model)
    for date, manifest in sorted(manifests.items()):
        keys = {key for key, day in world.ingested.items() if day == date}
        counted = {"written": len(keys), "replaced": len(before_keys & keys)}
        world.check(
            f"complaints batch --from-lake of {date} counts what it replaced",
            lambda manifest=manifest, counted=counted: (
                (manifest["committed_rows"]["complaints"] == counted)
                or pytest.fail(
                    f"manifest committed_rows {manifest['committed_rows']['complaints']}, expected {counted}"
                )
            ),
        )


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two generated days batched into a fresh output directory, a Spark session on its warehouse and
    ``complaints serve`` over it (no API keys, loopback)."""
    reason = spark_missing()
    if reason:  # before any work: skip here, fail under COMPLAINTS_REQUIRE_SERVICES
        unavailable(reason)
    root = tmp_path_factory.mktemp("spark")
    out = root / "out"
    days = generate_days(root)
    world = World(out=out, days=days, spark=None, server="", kinds={})
    # the first batch creates the tables: the model starts from what it wrote
    result = run_cli("batch", "--input-dir", str(days[0]["dir"]), "--output-dir", str(out), "--date", days[0]["date"])
    assert result.returncode == 0, result.stderr[-3000:]
    world.batched = 1
    world.kinds = column_kinds(world.warehouse, "complaints")
    world.derived = read_ours(world)
    world.ingested = dict.fromkeys(world.derived, days[0]["date"])
    world.model = copy.deepcopy(world.derived)
    run_batch(world)
    process, world.server = start_server(["--warehouse", str(world.warehouse), "--no-auth"])
    try:
        with spark_sql(world.warehouse) as spark:
            world.spark = spark
            yield world
    finally:
        stop_server(process)


# -- Spark reads our tables ----------------------------------------------------------------------------------------
SPARK_TYPES = {
    "StringType": "string",
    "LongType": "bigint",
    "IntegerType": "int",
    "DoubleType": "double",
    "FloatType": "float",
    "BooleanType": "boolean",
    "DateType": "date",
    "TimestamptzType": "timestamp",
    "TimestampType": "timestamp_ntz",
    "BinaryType": "binary",
}


def spark_type(iceberg_type) -> str:
    """The Spark SQL type (``simpleString``) Iceberg's Spark runtime gives an Iceberg type."""
    from pyiceberg.types import ListType, MapType

    if isinstance(iceberg_type, ListType):
        return f"array<{spark_type(iceberg_type.element_type)}>"
    if isinstance(iceberg_type, MapType):
        return f"map<{spark_type(iceberg_type.key_type)},{spark_type(iceberg_type.value_type)}>"
    return SPARK_TYPES[type(iceberg_type).__name__]


@pytest.mark.parametrize("name, key", [("complaints", "complaint_id"), ("dead_letter", "error_id")])
def test_spark_reads_our_rows_and_types_exactly(world, name, key):
    from schemas.tables import WAREHOUSE_TABLES
    from warehouse.catalog import CatalogConfig, load_table, open_catalog
    from warehouse.read import read_arrow

    config = CatalogConfig(str(world.warehouse))
    iceberg = load_table(open_catalog(config, create=False), config, WAREHOUSE_TABLES[name])
    result = world.spark.sql(f"SELECT * FROM {table_name(name)}")
    ours = {column.name: spark_type(column.field_type) for column in iceberg.schema().fields}
    assert dict(zip(result.columns, result.types, strict=True)) == ours
    if name == "complaints":  # the types that differ most between engines are there to compare
        assert {"timestamp", "date", "array<string>"} <= set(ours.values())
    kinds = column_kinds(world.warehouse, name)
    theirs = by_key(result.dicts(), kinds, key)
    assert len(theirs) > 0
    assert_same(by_key(read_arrow(config, name).to_pylist(), kinds, key), theirs, f"Spark reading {name}")


def test_spark_sees_our_partitions_files_and_snapshots(world):
    from schemas.tables import COMPLAINTS as TABLE
    from warehouse.catalog import CatalogConfig, load_table, open_catalog
    from warehouse.uris import normalise_uri

    config = CatalogConfig(str(world.warehouse))
    iceberg = load_table(open_catalog(config, create=False), config, TABLE)
    partitions = world.spark.rows(
        f"SELECT partition.event_date AS event_date, record_count, file_count FROM {COMPLAINTS}.partitions"
    )
    ours = iceberg.inspect.partitions().to_pylist()
    assert sorted((row["event_date"], row["record_count"], row["file_count"]) for row in partitions) == sorted(
        (row["partition"]["event_date"].isoformat(), row["record_count"], row["file_count"]) for row in ours
    )
    assert len(partitions) >= 2
    files = world.spark.rows(f"SELECT file_path, record_count FROM {COMPLAINTS}.files")
    planned = [task.file for task in iceberg.scan().plan_files()]
    assert sorted((normalise_uri(row["file_path"]), row["record_count"]) for row in files) == sorted(
        (normalise_uri(file.file_path), file.record_count) for file in planned
    )
    assert spark_snapshots(world) == our_snapshots(world)
    assert len(our_snapshots(world)) == 2


def test_spark_travels_in_time_as_we_do(world):
    first, second = our_snapshots(world)
    at_first = read_ours(world, as_of=first["snapshot_id"])
    assert len(at_first) < len(world.model)
    assert_same(at_first, read_spark(world, f"VERSION AS OF {first['snapshot_id']}"), "Spark VERSION AS OF")
    assert_same(at_first, read_query(world, "--as-of", str(first["snapshot_id"])), "complaints query --as-of")
    moment = first["committed_at"] + (second["committed_at"] - first["committed_at"]) / 2
    assert_same(at_first, read_spark(world, f"TIMESTAMP AS OF '{moment.isoformat()}'"), "Spark TIMESTAMP AS OF")
    assert_same(at_first, read_ours(world, as_of=moment), "read_arrow as of a time")


# -- Spark writes into our tables ----------------------------------------------------------------------------------
MODES = {"copy-on-write": ("cow", ("0", "1"), ("4", "5")), "merge-on-read": ("mor", ("2", "3"), ("6", "7"))}


def spark_insert(world: World, tag: str) -> None:
    """INSERT: copies of the first six twitter complaints under new ids, every second one ten days later (a
    partition that did not exist)."""
    columns = world.spark.sql(f"SELECT * FROM {COMPLAINTS} LIMIT 0").columns
    changed = {
        "complaint_id": f"concat('spark-{tag}-', complaint_id)",
        "batch_id": f"'spark-{tag}'",
        "event_time": "CASE WHEN n % 2 = 0 THEN event_time + INTERVAL 10 DAYS ELSE event_time END",
        "event_date": "CASE WHEN n % 2 = 0 THEN date_add(event_date, 10) ELSE event_date END",
    }
    select = ", ".join(f"{changed.get(column, column)} AS {column}" for column in columns)
    world.spark.execute(
        f"INSERT INTO {COMPLAINTS} SELECT {select} FROM (SELECT *, row_number() OVER "
        f"(ORDER BY complaint_id) AS n FROM {COMPLAINTS} WHERE source = 'twitter' AND complaint_id "
        f"NOT LIKE 'spark-%') WHERE n <= 6"
    )
    sources = sorted(
        key for key, row in world.model.items() if row["source"] == "twitter" and not key.startswith("spark-")
    )[:6]
    for n, key in enumerate(sources, start=1):
        row = {**world.model[key], "complaint_id": f"spark-{tag}-{key}", "batch_id": f"spark-{tag}"}
        if n % 2 == 0:
            moment = dt.datetime.fromisoformat(row["event_time"]) + dt.timedelta(days=10)
            row["event_time"] = moment.isoformat(timespec="microseconds")
            row["event_date"] = (dt.date.fromisoformat(row["event_date"]) + dt.timedelta(days=10)).isoformat()
        world.model[row["complaint_id"]] = row


def spark_delete(world: World, endings: tuple[str, ...]) -> None:
    """DELETE of the complaints whose id ends in one of ``endings``: rows inside files, not whole partitions."""
    world.spark.execute(f"DELETE FROM {COMPLAINTS} WHERE substr(complaint_id, -1) IN {sql_list(endings)}")
    for key in [key for key in world.model if key[-1] in endings]:
        del world.model[key]


def spark_update(world: World, tag: str, endings: tuple[str, ...]) -> None:
    """UPDATE of the complaints whose id ends in one of ``endings``: priority P1, a flag added, text marked."""
    world.spark.execute(
        f"UPDATE {COMPLAINTS} SET priority = 'P1', text = concat(text, ' [updated by Spark]'), flags = CASE "
        f"WHEN flags IS NULL THEN array('spark_{tag}') ELSE array_union(flags, array('spark_{tag}')) END "
        f"WHERE substr(complaint_id, -1) IN {sql_list(endings)}"
    )
    for key, row in world.model.items():
        if key[-1] in endings:
            world.model[key] = {
                **row,
                "priority": "P1",
                "flags": list(dict.fromkeys([*(row["flags"] or []), f"spark_{tag}"])),
                "text": None if row["text"] is None else row["text"] + " [updated by Spark]",
            }


def sql_list(values) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def spark_writes(world: World, mode: str) -> None:
    """Spark, with the table's write modes set to ``mode``, INSERTs, DELETEs and UPDATEs; after each our readers
    agree with it."""
    tag, deleted, updated = MODES[mode]
    world.spark.execute(
        f"ALTER TABLE {COMPLAINTS} SET TBLPROPERTIES ('write.delete.mode'='{mode}', "
        f"'write.update.mode'='{mode}', 'write.merge.mode'='{mode}')"
    )
    spark_insert(world, tag)
    assert_readers_agree(world, f"Spark INSERT ({mode})", world.model)
    deletes_before = delete_files(world)
    spark_delete(world, deleted)
    assert_readers_agree(world, f"Spark DELETE ({mode})", world.model)
    spark_update(world, tag, updated)
    assert_readers_agree(world, f"Spark UPDATE ({mode})", world.model)
    if mode == "merge-on-read":  # Spark wrote position delete files, which every reader must apply
        assert delete_files(world) > deletes_before
        after_delete = spark_snapshots(world)[-2]["snapshot_id"]
        world.check(
            "time travel to Spark's merge-on-read DELETE",
            lambda: assert_same(
                read_spark(world, f"VERSION AS OF {after_delete}"),
                read_ours(world, as_of=after_delete),
                "read_arrow as of Spark's merge-on-read DELETE",
            ),
        )
    else:
        assert delete_files(world) == 0


def our_writers(world: World) -> None:
    """Our next batch, a reprocessing of every day so far, and maintenance, in the order that lets each meet
    what Spark left (maintenance compacts delete files away)."""
    batch_after_spark(world)
    reprocess_after_spark(world)
    maintain_after_spark(world)


def test_spark_writes_copy_on_write_and_our_readers_agree(world):
    spark_writes(world, "copy-on-write")
    world.assert_no_failures()


def test_our_writers_after_spark_copy_on_write(world):
    our_writers(world)
    world.assert_no_failures()


def test_spark_writes_merge_on_read_and_our_readers_agree(world):
    spark_writes(world, "merge-on-read")
    world.assert_no_failures()


def test_our_writers_after_spark_merge_on_read(world):
    our_writers(world)
    world.assert_no_failures()


def test_spark_expire_snapshots_and_ours_after(world):
    """Spark's ``expire_snapshots`` (all but the current one) removes the files only expired snapshots held; we
    read what it left, cannot travel to what it expired, and our writers go on."""
    snapshots = our_snapshots(world)
    assert len(snapshots) > 2
    newest = max(row["committed_at"] for row in snapshots) + dt.timedelta(seconds=1)
    world.spark.execute(
        f"CALL embedded.system.expire_snapshots(table => 'beejan.complaints', "
        f"older_than => TIMESTAMP '{newest.isoformat()}', retain_last => 1)"
    )
    assert [row["snapshot_id"] for row in spark_snapshots(world)] == [snapshots[-1]["snapshot_id"]]
    world.check(
        "snapshots after Spark's expire_snapshots",
        lambda: (spark_snapshots(world) == our_snapshots(world)) or pytest.fail(f"{our_snapshots(world)}"),
    )
    assert_readers_agree(world, "Spark's expire_snapshots", world.model)
    expired = str(snapshots[0]["snapshot_id"])
    result = run_cli(
        "query", "--warehouse", str(world.warehouse), "SELECT count(*) FROM complaints", "--as-of", expired
    )
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    with pytest.raises(SparkError):
        world.spark.sql(f"SELECT count(*) FROM {COMPLAINTS} VERSION AS OF {expired}")
    our_writers(world)
    world.assert_no_failures()
