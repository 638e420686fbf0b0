"""A Spark SQL session on one warehouse, driven over pipes: run by the Spark environment's python
(``.services/spark/venv/bin/python``), never imported by the project (it needs only pyspark and the standard
library). ``tests/support/spark.py`` starts it and talks to it.

    python spark_driver.py WAREHOUSE_DIR JAR [JAR...]

Starts one local Spark session whose catalog ``embedded`` is our embedded Iceberg catalog (JDBC on
``WAREHOUSE_DIR/catalog.db``), or our shared catalog on PostgreSQL when the environment variable
``COMPLAINTS_SPARK_CATALOG_JDBC`` holds its JDBC URL, user and password as a JSON object. It writes one JSON
line ``{"ready": true, "spark": VERSION}``, then answers each JSON line ``{"sql": STATEMENT}`` read from stdin
with one JSON line: ``{"columns": [...], "types": [...], "rows": [[...], ...]}`` or ``{"error": MESSAGE}``.
Values are plain JSON: timestamps (with time zone) as ISO 8601 in UTC with ``+00:00`` and microseconds,
timestamps without time zone and dates as ISO 8601, decimals as strings, bytes as hex, arrays as lists, maps and
structs as objects. Anything Spark or its JVM prints goes to stderr; the answers have stdout to themselves.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import sys
import time

os.environ["TZ"] = "UTC"  # pyspark turns a timestamp into the process's local time: make that UTC
time.tzset()


def session_settings(warehouse: str, jars: list[str], shared: dict | None = None) -> dict[str, str]:
    """The Spark settings of a session on our embedded catalog at ``warehouse`` (an absolute directory), or on the
    shared one in a database (``shared``: its JDBC ``url``, ``user`` and ``password``): the JDBC catalog sees
    only rows of its own name (ours is ``embedded``) and needs the warehouse location; its table cache is off, so
    each statement sees what other writers (our pipelines) committed since."""
    catalog = "spark.sql.catalog.embedded"
    database = (
        {
            f"{catalog}.uri": shared["url"],
            f"{catalog}.jdbc.user": shared["user"],
            f"{catalog}.jdbc.password": shared["password"],
        }
        if shared
        else {f"{catalog}.uri": f"jdbc:sqlite:{warehouse}/catalog.db"}
    )
    return {
        "spark.master": "local[2]",
        "spark.app.name": "complaints-spark-tests",
        "spark.jars": ",".join(jars),
        "spark.driver.memory": "1g",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        catalog: "org.apache.iceberg.spark.SparkCatalog",
        f"{catalog}.type": "jdbc",
        **database,
        f"{catalog}.warehouse": f"file://{warehouse}",
        f"{catalog}.cache-enabled": "false",
        # our catalog's tables exist (pyiceberg made them, with the V1 column iceberg_type); Iceberg's check for
        # them leaves a result set open, whose read lock on the SQLite file would fail every other writer's commit
        f"{catalog}.jdbc.init-catalog-tables": "false",
        f"{catalog}.jdbc.schema-version": "V1",
    }


def plain(value, type_name: str):
    """A value Spark returned, as plain JSON (see the module's docstring); ``type_name`` is its Spark type."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if type_name == "timestamp":  # Spark's timestamp is an instant: collect() gave it in UTC, naive
            return value.replace(tzinfo=dt.UTC).isoformat(timespec="microseconds")
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "asDict"):  # a struct (Row)
        return {name: plain(item, "") for name, item in value.asDict().items()}
    if isinstance(value, dict):
        return {str(plain(key, "")): plain(item, "") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        element = type_name[len("array<") : -1] if type_name.startswith("array<") else ""
        return [plain(item, element) for item in value]
    return value


def answer(spark, statement: str) -> dict:
    """The result of one SQL statement: its columns, their Spark types and its rows."""
    frame = spark.sql(statement)
    fields = frame.schema.fields
    types = [field.dataType.simpleString() for field in fields]
    rows = [[plain(value, kind) for value, kind in zip(row, types, strict=True)] for row in frame.collect()]
    return {"columns": [field.name for field in fields], "types": types, "rows": rows}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: spark_driver.py WAREHOUSE_DIR JAR [JAR...]", file=sys.stderr)
        return 2
    warehouse, jars = os.path.abspath(argv[0]), argv[1:]
    # the answers get the real stdout; everything else written to fd 1 (by the JVM too) lands on stderr
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    shared = (
        json.loads(os.environ["COMPLAINTS_SPARK_CATALOG_JDBC"])
        if os.environ.get("COMPLAINTS_SPARK_CATALOG_JDBC")
        else None
    )
    for key, value in session_settings(warehouse, jars, shared).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    answers.write(json.dumps({"ready": True, "spark": spark.version}) + "\n")
    answers.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = answer(spark, json.loads(line)["sql"])
        except Exception as error:  # noqa: BLE001 - AnalysisException, Py4JJavaError ...: the caller sees the message
            message = "\n".join(str(error).splitlines()[:20])  # Spark's message, without the JVM's stack
            reply = {"error": f"{type(error).__name__}: {message}"}
        answers.write(json.dumps(reply) + "\n")
        answers.flush()
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
