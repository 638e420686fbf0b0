"""A real Apache Spark 3.5 on our warehouse, for tests that check a second engine reads and writes our Iceberg
tables as we do (and we read what it writes).

Spark runs in its own environment (``.services/spark/venv``, with Iceberg's runtime in ``.services/spark/jars``;
both from ``python runners/local_services.py fetch``), in a child process running ``spark_driver.py``: one Spark
session per :class:`SparkSQL`, as starting one takes 10-20 s. Statements go to it as JSON and results come back as
JSON (see ``spark_driver.py`` for how values are spelled). Use it as::

    with spark_sql(warehouse_dir) as spark:          # skips (fails under CI) when Spark is not fetched
        spark.execute("DELETE FROM embedded.beejan.complaints WHERE source = 'sms'")
        rows = spark.rows("SELECT * FROM embedded.beejan.complaints")   # [{column: value}, ...]

The catalog is ``embedded`` and our tables are ``embedded.beejan.<table>`` (:func:`table_name`).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from runners import local_services

DRIVER = Path(__file__).with_name("spark_driver.py")
CATALOG = "embedded"
START_TIMEOUT = 180.0  # seconds: a cold JVM on a busy 2-core machine
STATEMENT_TIMEOUT = 300.0


class SparkError(Exception):
    """Spark refused or failed a statement (the message is Spark's), or the Spark process died."""


@dataclass(frozen=True)
class SparkResult:
    """What one statement returned: column names, their Spark types (``simpleString``: ``timestamp``,
    ``array<string>``, ``date`` ...) and rows as lists of plain JSON values."""

    columns: list[str]
    types: list[str]
    rows: list[list]

    def dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def table_name(table: str, namespace: str = "beejan") -> str:
    """Spark's name of one of our tables: ``embedded.beejan.complaints``."""
    return f"{CATALOG}.{namespace}.{table}"


def jdbc_of(catalog_uri: str) -> dict:
    """The JDBC URL, user and password of a shared catalog's SQLAlchemy URI
    (``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE``)."""
    from sqlalchemy.engine import make_url

    url = make_url(catalog_uri)
    if url.get_backend_name() != "postgresql":
        raise SparkError(f"Spark is given JDBC drivers for SQLite and PostgreSQL only, not {url.drivername}")
    return {
        "url": f"jdbc:postgresql://{url.host}:{url.port or 5432}/{url.database}",
        "user": url.username,
        "password": url.password,
    }


def spark_missing() -> str | None:
    """Why Spark cannot run here (not fetched, or no java), or None when it can."""
    home = local_services.spark_home()
    python = home / "venv" / "bin" / "python"
    if not python.exists() or not list((home / "jars").glob("*.jar")):
        return f"Spark is not fetched into {home} (python runners/local_services.py fetch)"
    if not any(
        Path(folder, "java").exists() for folder in os.environ.get("PATH", "").split(os.pathsep)
    ) and not os.environ.get("JAVA_HOME"):
        return "Spark needs java (OpenJDK 17) on PATH or JAVA_HOME"
    return None


class SparkSQL:
    """One Spark session on the warehouse at ``warehouse_dir`` (``OUT/warehouse``), in its own process, until
    :meth:`close`. Statements run one at a time, in order."""

    def __init__(self, warehouse_dir: str | Path, catalog_uri: str = ""):
        reason = spark_missing()
        if reason:
            raise SparkError(reason)
        home = local_services.spark_home()
        self.warehouse_dir = Path(warehouse_dir).resolve()
        # Spark's scratch (spark-warehouse/, derby.log if anything asks for them) and its log, never in the repo
        self.scratch = Path(tempfile.mkdtemp(prefix="spark-session-"))
        self.log = open(self.scratch / "driver.log", "wb")
        jars = sorted(str(jar) for jar in (home / "jars").glob("*.jar"))
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": str(home / "venv" / "bin" / "python")}
        env.pop("SPARK_HOME", None)  # the venv's pyspark is the Spark that runs
        if catalog_uri:
            env["COMPLAINTS_SPARK_CATALOG_JDBC"] = json.dumps(jdbc_of(catalog_uri))
        self._process = subprocess.Popen(
            [str(home / "venv" / "bin" / "python"), str(DRIVER), str(self.warehouse_dir), *jars],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=self.scratch,
        )
        ready = self._receive(START_TIMEOUT)
        self.version = ready.get("spark")

    def _receive(self, timeout: float) -> dict:
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self._stop()
                raise SparkError(f"Spark did not answer within {timeout:.0f} s; its log: {self.log.name}")
        line = self._process.stdout.readline()
        if not line:
            self._process.wait(timeout=30)
            raise SparkError(f"Spark exited ({self._process.returncode}): {self.log_tail()}")
        return json.loads(line)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def sql(self, statement: str, timeout: float = STATEMENT_TIMEOUT) -> SparkResult:
        """Run one statement; its result. Raises :class:`SparkError` with Spark's message when it fails."""
        if self._process.poll() is not None:
            raise SparkError(f"Spark is not running (exit {self._process.returncode}): {self.log_tail()}")
        self._process.stdin.write(json.dumps({"sql": statement}) + "\n")
        self._process.stdin.flush()
        reply = self._receive(timeout)
        if "error" in reply:
            raise SparkError(f"{statement}\n{reply['error']}")
        return SparkResult(reply["columns"], reply["types"], reply["rows"])

    def execute(self, statement: str) -> None:
        """Run a statement for its effect (INSERT, DELETE, UPDATE, MERGE, ALTER, CALL ...)."""
        self.sql(statement)

    def rows(self, statement: str) -> list[dict]:
        """Run a query; its rows as ``{column: value}``."""
        return self.sql(statement).dicts()

    def _stop(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def close(self) -> None:
        """End the session and its process (waits for Spark to stop; kills it after 60 s), and remove its log."""
        self._stop()
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> SparkSQL:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def spark_sql(warehouse_dir: str | Path, catalog_uri: str = ""):
    """A :class:`SparkSQL` on ``warehouse_dir`` for a test or fixture, closed after; its catalog the embedded one,
    or the shared one at ``catalog_uri`` (PostgreSQL). When Spark is not fetched the test is skipped (failed under
    ``COMPLAINTS_REQUIRE_SERVICES=1``, as CI sets it)."""
    from tests.support.services import unavailable

    reason = spark_missing()
    if reason:
        unavailable(reason)
    session = SparkSQL(warehouse_dir, catalog_uri)
    try:
        yield session
    finally:
        session.close()
