"""Which Iceberg catalog a profile's ``[warehouse]`` section and the environment name
(``beam_pipelines.parameters.warehouse_catalog_config``), that a catalog URI's password is never shown, and that the
configuration a pipeline carries names where the password is instead of holding it."""

import dataclasses
import os

import pytest

from beam_pipelines.config import WarehouseSettings
from beam_pipelines.parameters import catalog_config, warehouse_catalog_config
from warehouse.catalog import (
    DEFAULT_PASSWORD_ENV,
    CatalogConfig,
    CatalogError,
    catalog_password,
    connection_uri,
    redact_uri,
    split_password,
)

PROFILE_URI = "postgresql+psycopg://complaints:from-profile@db:5432/iceberg_catalog"
ENV_URI = "postgresql+psycopg://complaints:from-env@db:5432/iceberg_catalog"
BARE_URI = "postgresql+psycopg://complaints@db:5432/iceberg_catalog"


@pytest.fixture(autouse=True)
def own_environment(monkeypatch):
    """The variables these tests read or the launcher writes, restored afterwards (setenv records them)."""
    for name in ("COMPLAINTS_CATALOG_URI", DEFAULT_PASSWORD_ENV, "OTHER_PASSWORD"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_without_a_uri_the_catalog_is_the_embedded_one():
    config = catalog_config(WarehouseSettings(), "/data/out")
    assert config == CatalogConfig("/data/out/warehouse") and config.embedded


def test_the_environment_variable_wins_over_the_profile(monkeypatch):
    settings = WarehouseSettings(catalog_uri=PROFILE_URI)
    assert warehouse_catalog_config(settings, "/w").uri == BARE_URI
    assert os.environ[DEFAULT_PASSWORD_ENV] == "from-profile"
    monkeypatch.setenv("COMPLAINTS_CATALOG_URI", ENV_URI)
    config = warehouse_catalog_config(settings, "/w")
    assert config.uri == BARE_URI and not config.embedded and config.warehouse_dir == "/w"
    assert os.environ[DEFAULT_PASSWORD_ENV] == "from-env"
    # a profile may name another variable, or none (then only its own key counts)
    warehouse_catalog_config(WarehouseSettings(catalog_uri=PROFILE_URI, catalog_uri_env=""), "/w")
    assert os.environ[DEFAULT_PASSWORD_ENV] == "from-profile"


def test_a_named_catalog_and_a_uri_together_are_refused(monkeypatch):
    monkeypatch.setenv("COMPLAINTS_CATALOG_URI", ENV_URI)
    with pytest.raises(CatalogError, match=r"either named .* or a SQL catalog at a database URI, not both"):
        warehouse_catalog_config(WarehouseSettings(catalog="beejan"), "/w")


def test_the_password_of_a_catalog_uri_is_never_shown():
    assert redact_uri(ENV_URI) == "postgresql+psycopg://complaints:***@db:5432/iceberg_catalog"
    assert redact_uri("sqlite:////tmp/catalog.db") == "sqlite:////tmp/catalog.db"
    assert "from-env" not in repr(CatalogConfig("/w", uri=ENV_URI))


def test_the_launcher_takes_the_password_out_of_the_uri_and_names_where_it_is():
    """What a pipeline pickles (the configuration) has no password; the launcher's process has it in the variable
    the configuration names, where the workers it starts find it."""
    settings = WarehouseSettings(
        catalog_uri="postgresql+psycopg://us%40er:p%40ss:w%2Ford@db:5432/cat?sslmode=require",
        catalog_password_env="OTHER_PASSWORD",
        catalog_password_file="/run/secrets/catalog-password",
    )
    config = warehouse_catalog_config(settings, "/w")
    assert config.uri == "postgresql+psycopg://us%40er@db:5432/cat?sslmode=require"
    assert (config.password_env, config.password_file) == ("OTHER_PASSWORD", "/run/secrets/catalog-password")
    assert not config.carries_password
    assert os.environ["OTHER_PASSWORD"] == "p@ss:w/ord"  # decoded, as the database receives it
    assert connection_uri(config) == "postgresql+psycopg://us%40er:p%40ss%3Aw%2Ford@db:5432/cat?sslmode=require"


def test_without_a_variable_to_hand_it_over_the_password_stays_in_the_uri():
    config = warehouse_catalog_config(WarehouseSettings(catalog_uri=PROFILE_URI, catalog_password_env=""), "/w")
    assert config.uri == PROFILE_URI and config.carries_password
    assert DEFAULT_PASSWORD_ENV not in os.environ


def test_the_password_is_found_in_the_variable_then_the_file_then_left_to_libpq(monkeypatch, tmp_path):
    secret = tmp_path / "catalog-password"
    secret.write_text("from-file\n")  # as `kubectl create secret --from-file` often stores it
    config = CatalogConfig("/w", uri=BARE_URI, password_file=str(secret))
    assert catalog_password(config) == "from-file"
    monkeypatch.setenv(DEFAULT_PASSWORD_ENV, "from-variable")
    assert catalog_password(config) == "from-variable"
    assert catalog_password(CatalogConfig("/w", uri=BARE_URI, password_env="")) is None
    assert connection_uri(CatalogConfig("/w", uri=BARE_URI, password_env="")) == BARE_URI  # libpq's turn
    # a URI that holds a password keeps it; a SQLite file takes none
    assert connection_uri(CatalogConfig("/w", uri=ENV_URI)) == ENV_URI
    assert connection_uri(CatalogConfig("/w", uri="sqlite:////tmp/c.db")) == "sqlite:////tmp/c.db"


def test_a_password_file_that_cannot_be_read_is_one_clear_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(CatalogError, match=f"cannot read the catalog's password from {missing} "):
        catalog_password(CatalogConfig("/w", uri=BARE_URI, password_file=str(missing)))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(CatalogError, match="is empty"):
        catalog_password(CatalogConfig("/w", uri=BARE_URI, password_file=str(tmp_path / "empty")))


def test_splitting_a_uri_without_a_password_changes_nothing():
    assert split_password(BARE_URI) == (BARE_URI, None)
    assert split_password("sqlite:////tmp/catalog.db") == ("sqlite:////tmp/catalog.db", None)
    assert split_password("postgresql+psycopg:///?service=catalog") == ("postgresql+psycopg:///?service=catalog", None)


def test_the_launcher_says_in_one_line_when_workers_elsewhere_must_find_the_password(monkeypatch, capsys):
    from beam_pipelines.cli.pipelines import warn_if_password_not_sent, workers_started_here
    from beam_pipelines.config import Settings

    assert workers_started_here("DirectRunner", []) and workers_started_here("PrismRunner", [])
    assert not workers_started_here("FlinkRunner", []) and not workers_started_here("DataflowRunner", [])
    assert workers_started_here("FlinkRunner", ["--environment_type=LOOPBACK"])
    assert not workers_started_here("PrismRunner", ["--environment_type", "EXTERNAL"])

    settings = Settings("dev", b"key", warehouse=WarehouseSettings(catalog_uri=PROFILE_URI))
    warn_if_password_not_sent(settings, "DirectRunner", [], "batch")
    assert capsys.readouterr().err == ""  # its workers are this process's: they get it from its environment
    warn_if_password_not_sent(settings, "FlinkRunner", [], "batch")
    printed = capsys.readouterr().err
    assert printed.startswith("complaints batch: the catalog URI's password is not sent with the job: FlinkRunner")
    assert f"${DEFAULT_PASSWORD_ENV}" in printed and len(printed.splitlines()) == 1 and "from-profile" not in printed
    bare = Settings("dev", b"key", warehouse=WarehouseSettings(catalog_uri=BARE_URI))
    warn_if_password_not_sent(bare, "FlinkRunner", [], "batch")
    assert capsys.readouterr().err == ""  # nothing to say when the URI holds none


def test_a_password_file_in_object_storage_is_read_through_beams_filesystems(tmp_path):
    """``gs://...`` (Dataflow: an object only the workers' service account may read) goes through Beam's
    ``FileSystems``, as every other path of ours; here a filesystem of the test's own scheme stands in for GCS,
    which is not reachable from this machine."""
    from apache_beam.io.localfilesystem import LocalFileSystem

    class SecretStore(LocalFileSystem):  # Beam finds a FileSystem by its subclasses' schemes
        @classmethod
        def scheme(cls):
            return "secretstore"

        def open(self, path, *args, **kwargs):
            return super().open(str(tmp_path / path.split("://", 1)[1]), *args, **kwargs)

    (tmp_path / "catalog-password").write_text("from-object-storage\n")
    config = CatalogConfig("/w", uri=BARE_URI, password_file="secretstore://catalog-password")
    assert catalog_password(config) == "from-object-storage"
    with pytest.raises(CatalogError, match="cannot read the catalog's password from secretstore://nothing-here"):
        catalog_password(dataclasses.replace(config, password_file="secretstore://nothing-here"))
