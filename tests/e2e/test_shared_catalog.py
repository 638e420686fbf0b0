"""The warehouse on a shared Iceberg SQL catalog in a real PostgreSQL 15 (``runners/local_services.py``, part
``postgres``), as production has: the committer from two processes at once, a stale commit refused by the
catalog itself, a batch written and read through it, and ``maintain --dry-run`` on it."""

import datetime as dt
import subprocess
import sys
import textwrap

import pytest

from schemas import tables
from tests.support.cli import run_cli
from tests.support.paths import REPO
from tests.support.postgres import catalog_rows, fresh_catalog_database
from warehouse.catalog import SQL_CATALOG_NAME, CatalogConfig, NoCatalogYet, load_table, open_catalog

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

DAY = dt.date(2026, 11, 26)
MOMENT = dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)

#: one writer process: ``commits`` upserts of two alerts each into the alerts table of the shared catalog
WRITER = textwrap.dedent("""
    import datetime as dt, sys
    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows

    uri, warehouse, writer, commits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    moment = dt.datetime(2026, 11, 26, 9, tzinfo=dt.timezone.utc)
    config = CatalogConfig(warehouse, uri=uri)
    for n in range(commits):
        # its own alert, and one both writers upsert every time: the table keeps one row of it
        rows = [{"alert_id": alert_id, "scope": writer, "minute_start": moment, "window_seconds": 60,
                 "complaints": n, "baseline_mean": 1.0, "baseline_stddev": 1.0, "threshold": 3.0,
                 "severity": "warning", "detected_at": moment, "alert_date": moment.date()}
                for alert_id in (f"{writer}-{n}", "both")]
        write_rows(config, tables.ALERTS, rows)
""")


@pytest.fixture
def catalog_uri():
    with fresh_catalog_database() as uri:
        yield uri


def alert(alert_id: str, complaints: int = 9) -> dict:
    return {
        "alert_id": alert_id,
        "scope": "all",
        "minute_start": MOMENT,
        "window_seconds": 60,
        "complaints": complaints,
        "baseline_mean": 1.0,
        "baseline_stddev": 1.0,
        "threshold": 3.0,
        "severity": "warning",
        "detected_at": MOMENT,
        "alert_date": DAY,
    }


def _stable_rows(table, key: str) -> list[dict]:
    """The rows by key, without the columns saying which run wrote them and when."""
    volatile = [name for name in ("run_id", "ingested_at", "failed_at") if name in table.column_names]
    return table.drop_columns(volatile).sort_by(key).to_pylist()


def test_two_processes_committing_to_one_table_of_the_postgresql_catalog_both_land(catalog_uri, tmp_path):
    commits = 4
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, catalog_uri, str(tmp_path), name, str(commits)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr[-3000:]
    config = CatalogConfig(str(tmp_path), uri=catalog_uri)
    iceberg = load_table(open_catalog(config, create=False), config, tables.ALERTS)
    ids = sorted(row["alert_id"] for row in iceberg.scan().to_arrow().to_pylist())
    assert ids == sorted(["both", *(f"{name}-{n}" for name in "ab" for n in range(commits))])
    assert len(iceberg.snapshots()) == 2 * commits  # every commit of both processes is a snapshot of its own
    # the table's row is in PostgreSQL, under the name a JDBC catalog (Spark's) looks for; no SQLite file made
    assert [row[:3] for row in catalog_rows(catalog_uri)] == [(SQL_CATALOG_NAME, "beejan", "alerts")]
    assert not (tmp_path / "catalog.db").exists()


def test_a_commit_from_a_stale_table_state_is_refused_by_the_postgresql_catalog(catalog_uri, tmp_path):
    """Writers on two machines share no lock: what keeps one from overwriting the other's snapshot is the
    catalog's conditional update of the table's metadata location, here done by PostgreSQL."""
    import pyarrow as pa
    from pyiceberg.exceptions import CommitFailedException

    from warehouse.catalog import ensure_table, writer_schema

    config = CatalogConfig(str(tmp_path), uri=catalog_uri)
    first = ensure_table(open_catalog(config), config, tables.ALERTS)
    second = load_table(open_catalog(config), config, tables.ALERTS)  # another worker's view of the same state
    first.append(pa.Table.from_pylist([alert("first")], schema=writer_schema(first)))
    with pytest.raises(CommitFailedException):
        second.append(pa.Table.from_pylist([alert("second")], schema=writer_schema(second)))
    current = load_table(open_catalog(config, create=False), config, tables.ALERTS)
    assert [row["alert_id"] for row in current.scan().to_arrow().to_pylist()] == ["first"]


def test_a_reader_of_an_empty_catalog_database_is_told_nothing_was_committed(catalog_uri, tmp_path):
    with pytest.raises(NoCatalogYet, match="nothing has been committed"):
        open_catalog(CatalogConfig(str(tmp_path), uri=catalog_uri), create=False)
    # the password never shows in what is printed of the configuration
    assert "complaints:***@" in repr(CatalogConfig(str(tmp_path), uri=catalog_uri))


def test_a_batch_commits_to_the_postgresql_catalog_and_maintain_and_query_read_it(
    catalog_uri, generated_day, batch_output, tmp_path
):
    """``complaints batch`` with ``COMPLAINTS_CATALOG_URI`` set: the tables' files under OUT/warehouse, their
    catalog in PostgreSQL; the rows are those of the same day on the embedded catalog; ``query`` and
    ``maintain --dry-run`` open the same catalog through the profile."""
    from warehouse.read import read_arrow

    env = {"COMPLAINTS_CATALOG_URI": catalog_uri}
    out = tmp_path / "out"
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(out),
        "--date",
        generated_day["date"],
        "--quiet",
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (out / "warehouse" / "catalog.db").exists()
    assert {row[2] for row in catalog_rows(catalog_uri)} >= {"complaints", "dead_letter"}

    shared = CatalogConfig(str(out / "warehouse"), uri=catalog_uri)
    embedded = CatalogConfig(str(batch_output["dir"] / "warehouse"))
    for name, key in (("complaints", "complaint_id"), ("dead_letter", "error_id")):
        ours, theirs = (_stable_rows(read_arrow(config, name), key) for config in (shared, embedded))
        assert ours == theirs and len(ours) > 0

    counted = run_cli(
        "query",
        "--profile",
        "dev",
        "--warehouse",
        str(out / "warehouse"),
        "SELECT count(*) AS n FROM complaints",
        "--output",
        str(tmp_path / "n.csv"),
        env=env,
    )
    assert counted.returncode == 0, counted.stderr[-2000:]
    assert (tmp_path / "n.csv").read_text().split()[-1] == str(read_arrow(embedded, "complaints").num_rows)

    snapshots_before = {row[2]: row[3] for row in catalog_rows(catalog_uri)}
    planned = run_cli(
        "warehouse", "maintain", "--profile", "dev", "--warehouse", str(out / "warehouse"), "--dry-run", env=env
    )
    assert planned.returncode == 0, planned.stderr[-2000:]
    assert "complaints" in planned.stdout
    assert {row[2]: row[3] for row in catalog_rows(catalog_uri)} == snapshots_before  # a dry run changes nothing
    assert not (out / "warehouse" / "catalog.db").exists()

    # relocation rewrites an embedded catalog only: here it refuses, in one line, and changes nothing
    moved = run_cli(
        "warehouse", "relocate", "--from", str(tmp_path / "elsewhere"), "--to", str(out / "warehouse"), env=env
    )
    assert moved.returncode == 3 and "relocate rewrites only an embedded catalog" in moved.stderr
    assert len(moved.stderr.strip().splitlines()) == 1
    assert {row[2]: row[3] for row in catalog_rows(catalog_uri)} == snapshots_before


def test_the_local_services_start_a_postgresql_of_their_own_with_the_catalog_database_and_stop_it():
    """``local_services.py start --only postgres`` in a fresh services folder: initdb (as the ``postgres`` account
    when root), the server on its port, the catalog's login and database; ``status`` shows it, ``stop`` ends
    it. A private folder and port: the shared server is left alone."""
    import os
    import shutil
    import socket
    import tempfile

    import psycopg

    from tests.support.postgres import postgres_installed

    if not postgres_installed():
        pytest.skip("Debian's postgresql is not installed (apt-get install postgresql)")
    home = tempfile.mkdtemp(prefix="complaints-postgres-")
    os.chmod(home, 0o755)  # the postgres account must reach its data folder in it
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "COMPLAINTS_SERVICES_DIR": home, "COMPLAINTS_POSTGRES_PORT": str(port)}

    def services(*args):
        return subprocess.run(
            [sys.executable, "runners/local_services.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        started = services("start", "--only", "postgres")
        assert started.returncode == 0, started.stderr
        assert f"postgres: listening on port {port}" in started.stdout
        with psycopg.connect(f"postgresql://complaints:complaints@127.0.0.1:{port}/iceberg_catalog") as connection:
            assert connection.execute("select current_user, current_database()").fetchone() == (
                "complaints",
                "iceberg_catalog",
            )
        assert services("start", "--only", "postgres").stdout.startswith("postgres: already running")
        assert f"postgres             port {port:<6} up" in services("status").stdout
        assert services("stop").stdout.strip() == "postgres: stopped"
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        services("stop")
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.spark
def test_spark_reads_and_writes_a_table_we_committed_on_the_postgresql_catalog(catalog_uri, tmp_path):
    """Spark 3.5's Iceberg JDBC catalog on the same PostgreSQL database (PostgreSQL's JDBC driver from
    ``runners/services/spark/pom.xml``): it reads the rows our committer put there, and a row it inserts is read
    back through our catalog."""
    from runners import local_services
    from tests.support.services import unavailable
    from tests.support.spark import spark_sql, table_name
    from warehouse.commit import write_rows
    from warehouse.read import read_arrow

    if not list((local_services.spark_home() / "jars").glob("postgresql-*.jar")):
        unavailable(
            f"no PostgreSQL JDBC driver in {local_services.spark_home() / 'jars'} "
            "(python runners/local_services.py fetch --only spark)"
        )
    config = CatalogConfig(str(tmp_path), uri=catalog_uri)
    write_rows(config, tables.ALERTS, [alert("ours-1", 7), alert("ours-2", 8)])
    with spark_sql(tmp_path, catalog_uri) as spark:
        seen = spark.rows(f"SELECT alert_id, complaints FROM {table_name('alerts')} ORDER BY alert_id")
        assert seen == [{"alert_id": "ours-1", "complaints": 7}, {"alert_id": "ours-2", "complaints": 8}]
        spark.execute(
            f"INSERT INTO {table_name('alerts')} SELECT 'spark-1', scope, minute_start, window_seconds, "
            f"99, baseline_mean, baseline_stddev, threshold, severity, detected_at, alert_date "
            f"FROM {table_name('alerts')} WHERE alert_id = 'ours-1'"
        )
    rows = read_arrow(config, "alerts").sort_by("alert_id").to_pylist()
    assert [(row["alert_id"], row["complaints"]) for row in rows] == [("ours-1", 7), ("ours-2", 8), ("spark-1", 99)]
    assert [row[:3] for row in catalog_rows(catalog_uri)] == [(SQL_CATALOG_NAME, "beejan", "alerts")]


def test_the_commit_step_leaves_no_connection_to_the_catalog_database_open(catalog_uri, tmp_path):
    """The commit step runs on a long-lived worker (a Flink TaskManager, a Dataflow VM) once per run: the catalog
    it opens is closed when it returns, not whenever the garbage collector next finds the engine's cycles, so
    runs do not pile connections up against PostgreSQL's ``max_connections``."""
    import gc

    from tests.support.postgres import _admin_connection
    from transforms.warehouse_io import WriteToWarehouse

    database = catalog_uri.rsplit("/", 1)[-1].split("?")[0]
    commit = WriteToWarehouse(
        CatalogConfig(str(tmp_path / "warehouse"), uri=catalog_uri), run_id="no-open-connection"
    ).commit_step()
    was_enabled = gc.isenabled()
    gc.disable()  # what is left open is then left open until the end of the test, not until a collection
    try:
        record = commit([(("twitter", "read", ""), 1), (("twitter", "duplicates", "copy"), 1)])
        with _admin_connection() as admin:
            connections = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchone()[0]
    finally:
        if was_enabled:
            gc.enable()
    assert record["status"] == "succeeded"
    assert {row[2] for row in catalog_rows(catalog_uri)} == {"complaints", "dead_letter"}
    assert connections == 0
