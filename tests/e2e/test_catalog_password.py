"""The shared catalog's password is resolved where the catalog is opened, never carried by the pipeline: on the
real PostgreSQL (``runners/local_services.py``, part ``postgres``), with a login of the test's own whose password
the server demands over TCP (``scram-sha-256``).

- the login cannot connect without its password, nor with a wrong one (so what follows proves something);
- a process opening the catalog finds the password in ``COMPLAINTS_CATALOG_PASSWORD``, in a password file, or
  through libpq's own ``PGPASSFILE`` and ``PGPASSWORD``; without any, one error says where it looked;
- a batch configured with the password inside its URI commits as that login, while the password is nowhere in
  the pipeline's proto (its pickled payloads decoded), its options, its outputs and manifest, or its logs.
"""

import dataclasses
import logging
import os

import apache_beam as beam
import psycopg
import pytest

from beam_pipelines import batch
from beam_pipelines.config import load_settings
from tests.support.pickled import RecordingRunner, pipeline_bytes
from tests.support.postgres import catalog_rows, fresh_login_database
from transforms.warehouse_io import WriteToWarehouse
from warehouse.catalog import DEFAULT_PASSWORD_ENV, CatalogConfig, CatalogError, close_catalog, open_catalog
from warehouse.read import read_arrow

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture(scope="module")
def login():
    """(URI without the password, password) of a login of this module's own, owning its own database."""
    with fresh_login_database() as found:
        yield found


@pytest.fixture
def no_password_anywhere(monkeypatch, tmp_path):
    """No password reachable but the one a test gives: none of our variables, nor libpq's (its password file
    pointed at a file that does not exist, instead of ~/.pgpass). Restored afterwards."""
    for name in ("COMPLAINTS_CATALOG_URI", DEFAULT_PASSWORD_ENV, "PGPASSWORD", "PGSERVICE", "PGSERVICEFILE"):
        monkeypatch.setenv(name, "")  # recorded, so that teardown restores it even if a launcher sets it
        monkeypatch.delenv(name)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-passfile"))


def with_password(uri: str, password: str) -> str:
    user, host = uri.split("://", 1)[1].split("@", 1)
    return f"postgresql+psycopg://{user}:{password}@{host}"


def test_the_login_cannot_connect_without_its_password(login, no_password_anywhere):
    uri, password = login
    plain = uri.replace("postgresql+psycopg://", "postgresql://", 1)
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(plain).close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(plain, password=password + "x").close()
    with psycopg.connect(plain, password=password) as connection:
        assert connection.execute("select current_user").fetchone()[0] == uri.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    "source", ["our variable", "password file", "libpq's PGPASSFILE", "libpq's PGPASSWORD", "libpq's service file"]
)
def test_the_process_opening_the_catalog_finds_the_password(source, login, no_password_anywhere, monkeypatch, tmp_path):
    uri, password = login
    config = CatalogConfig(str(tmp_path / "warehouse"), uri=uri)
    user = uri.split("://")[1].split("@")[0]
    if source == "our variable":
        monkeypatch.setenv(DEFAULT_PASSWORD_ENV, password)
    elif source == "password file":  # a Kubernetes secret volume: the password and a newline
        (tmp_path / "catalog-password").write_text(password + "\n")
        config = dataclasses.replace(config, password_file=str(tmp_path / "catalog-password"))
    elif source == "libpq's PGPASSFILE":
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"127.0.0.1:*:*:{user}:{password}\n")
        passfile.chmod(0o600)  # libpq ignores a password file others may read
        monkeypatch.setenv("PGPASSFILE", str(passfile))
    elif source == "libpq's PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", password)
    else:  # the URI names a service; where the server is, who logs in and the password are in the service file
        services = tmp_path / "pg_service.conf"
        host_port = uri.split("@")[1].split("/")[0]
        services.write_text(
            f"[catalog]\nhost={host_port.split(':')[0]}\nport={host_port.split(':')[1]}\nuser={user}\n"
            f"dbname={user}\npassword={password}\n"
        )
        monkeypatch.setenv("PGSERVICEFILE", str(services))
        config = dataclasses.replace(config, uri="postgresql+psycopg:///?service=catalog")
    assert password not in repr(config) and password not in config.uri
    catalog = open_catalog(config)
    try:
        catalog.create_namespace_if_not_exists("beejan")
        assert ("beejan",) in catalog.list_namespaces()
    finally:
        close_catalog(catalog)


def test_without_a_password_the_error_says_where_it_was_looked_for(login, no_password_anywhere, tmp_path):
    uri, _ = login
    config = CatalogConfig(str(tmp_path), uri=uri, password_file="")
    with pytest.raises(CatalogError) as refused:
        open_catalog(config)
    message = str(refused.value)
    assert "no password supplied" in message and f"${DEFAULT_PASSWORD_ENV}" in message and "PGPASSFILE" in message
    assert len(message.splitlines()) == 1
    assert len(message) < 300  # whole in a failed run's manifest, which keeps 300 characters of the error


def test_a_uri_holding_a_password_given_to_the_writer_is_pickled_with_a_warning(caplog):
    """The control of the test below: what ``pipeline_bytes`` decodes does show a password that is pickled."""
    config = CatalogConfig("/w", uri="postgresql+psycopg://someone:Travelling-Secret-42@db/catalog")
    pipeline = beam.Pipeline()
    _ = pipeline | beam.Create([0]) | beam.Map(lambda element, catalog=config: element)
    assert b"Travelling-Secret-42" not in pipeline.to_runner_api().SerializeToString()  # compressed, not absent
    assert b"Travelling-Secret-42" in pipeline_bytes(pipeline)
    with caplog.at_level(logging.WARNING, logger="warehouse.catalog"):
        WriteToWarehouse(config, run_id="r1")
    assert "holds a password, which is pickled into the pipeline" in caplog.text
    assert "Travelling-Secret-42" not in caplog.text


def test_a_batch_with_a_password_in_its_uri_commits_though_its_pipeline_never_held_it(
    login, no_password_anywhere, generated_day, tmp_path, monkeypatch, caplog, capfd
):
    """The profile's catalog URI holds the password (the old, backwards-compatible way). The launcher takes it
    out: the pipeline it runs (two worker processes of the local runner) carries the URI without it, and the
    workers' commit step finds it in ``COMPLAINTS_CATALOG_PASSWORD``, which the launcher set for the processes it
    starts. The batch commits to PostgreSQL as the login; the password is in none of what the job carried or left."""
    uri, password = login
    settings = load_settings("dev")
    settings = dataclasses.replace(
        settings, warehouse=dataclasses.replace(settings.warehouse, catalog_uri=with_password(uri, password))
    )
    sent = {}

    monkeypatch.setattr(batch, "make_runner", lambda name: RecordingRunner(sent))
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    plan = batch.plan_batch(
        str(generated_day["dir"]),
        str(out),
        settings,
        beam_args=["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    )
    manifest = batch.run_batch(plan, settings)

    written = manifest["committed_rows"]["complaints"]["written"]
    assert manifest["status"] == "succeeded" and written > 0
    committed = {row[2] for row in catalog_rows(with_password(uri, password))}
    assert {"complaints", "dead_letter"} <= committed
    shared = CatalogConfig(str(out / "warehouse"), uri=with_password(uri, password))
    assert read_arrow(shared, "complaints").num_rows == written
    assert os.environ[DEFAULT_PASSWORD_ENV] == password  # where the launcher put it for its workers

    secret = password.encode()
    login_name = uri.rsplit("/", 1)[1].encode()
    # the pipeline does carry the catalog (so the search reaches the pickled configuration), without its password
    assert login_name in sent["pipeline"] and DEFAULT_PASSWORD_ENV.encode() in sent["pipeline"]
    assert secret not in sent["pipeline"]
    assert secret not in sent["options"]
    left = [path for path in out.rglob("*") if path.is_file() and secret in path.read_bytes()]
    assert left == [] and list((out / "_runs").glob("*.json"))
    printed = capfd.readouterr()
    assert password not in caplog.text and password not in printed.out and password not in printed.err
