"""The shared Iceberg SQL catalog on the real PostgreSQL that ``runners/local_services.py`` starts (part
``postgres``): a test gets a catalog database of its own, made for it and dropped after it."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import uuid

import pytest

from runners import local_services


def postgres_listening() -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", local_services.POSTGRES_PORT)) == 0


def _admin_connection():
    import psycopg

    uri = local_services.catalog_uri().replace("postgresql+psycopg://", "postgresql://", 1)
    return psycopg.connect(uri, autocommit=True)


def _require_postgres() -> None:
    """Skip the test when PostgreSQL is not running (fail it under ``COMPLAINTS_REQUIRE_SERVICES=1``)."""
    if not postgres_listening():
        message = (
            f"PostgreSQL not running on port {local_services.POSTGRES_PORT} "
            "(python runners/local_services.py start --only postgres)"
        )
        if os.environ.get("COMPLAINTS_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def fresh_catalog_database():
    """The SQLAlchemy URI (``postgresql+psycopg://...``) of a fresh, empty catalog database on the local
    PostgreSQL, dropped afterwards (its open sessions ended first); a test's fixture yields it. Skips the test
    when PostgreSQL is not running (fails it under ``COMPLAINTS_REQUIRE_SERVICES=1``)."""
    _require_postgres()
    database = f"test_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as connection:
        connection.execute(f'create database "{database}"')
    try:
        yield local_services.catalog_uri(database)
    finally:
        with _admin_connection() as connection:
            connection.execute(f'drop database if exists "{database}" with (force)')


@contextlib.contextmanager
def fresh_login_database():
    """(URI without a password, password) of a login of its own with a random password, owning a fresh catalog
    database of the same name on the local PostgreSQL; both dropped afterwards. The server takes logins over TCP
    only with the password (``scram-sha-256``: ``local_services.start_postgres``). The login is made by the
    server's superuser over its Unix socket (``local_services.run_sql_as_server``); the password goes to psql on
    its standard input, never on a command line. Skips like ``fresh_catalog_database``."""
    _require_postgres()
    name = f"test_login_{uuid.uuid4().hex[:12]}"
    password = f"pw-{secrets.token_hex(16)}"
    local_services.run_sql_as_server(
        f"create role {name} login password '{password}';\ncreate database {name} owner {name};\n"
    )
    try:
        yield f"postgresql+psycopg://{name}@127.0.0.1:{local_services.POSTGRES_PORT}/{name}", password
    finally:
        local_services.run_sql_as_server(f"drop database if exists {name} with (force);\ndrop role if exists {name};\n")


def catalog_rows(uri: str) -> list[tuple]:
    """The rows of pyiceberg's table of tables in the catalog database at ``uri``:
    (catalog name, namespace, table, metadata location); none before pyiceberg has made that table."""
    import psycopg

    with psycopg.connect(uri.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
        if connection.execute("select to_regclass('iceberg_tables')").fetchone()[0] is None:
            return []
        return connection.execute(
            "select catalog_name, table_namespace, table_name, metadata_location "
            "from iceberg_tables order by table_name"
        ).fetchall()


def postgres_installed() -> bool:
    """True when a PostgreSQL server (Debian's package) is installed here."""
    try:
        local_services.postgres_bin()
    except local_services.ServiceError:
        return False
    return True
