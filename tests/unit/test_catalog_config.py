"""Which Iceberg catalog a profile's ``[warehouse]`` section and the environment name
(``beam_pipelines.parameters.warehouse_catalog_config``), and that a catalog URI's password is never shown."""

import pytest

from beam_pipelines.config import WarehouseSettings
from beam_pipelines.parameters import catalog_config, warehouse_catalog_config
from warehouse.catalog import CatalogConfig, CatalogError, redact_uri

PROFILE_URI = "postgresql+psycopg://complaints:from-profile@db:5432/iceberg_catalog"
ENV_URI = "postgresql+psycopg://complaints:from-env@db:5432/iceberg_catalog"


def test_without_a_uri_the_catalog_is_the_embedded_one(monkeypatch):
    monkeypatch.delenv("COMPLAINTS_CATALOG_URI", raising=False)
    config = catalog_config(WarehouseSettings(), "/data/out")
    assert config == CatalogConfig("/data/out/warehouse") and config.embedded


def test_the_environment_variable_wins_over_the_profile(monkeypatch):
    settings = WarehouseSettings(catalog_uri=PROFILE_URI)
    monkeypatch.delenv("COMPLAINTS_CATALOG_URI", raising=False)
    assert warehouse_catalog_config(settings, "/w").uri == PROFILE_URI
    monkeypatch.setenv("COMPLAINTS_CATALOG_URI", ENV_URI)
    config = warehouse_catalog_config(settings, "/w")
    assert config.uri == ENV_URI and not config.embedded and config.warehouse_dir == "/w"
    # a profile may name another variable, or none (then only its own key counts)
    assert (
        warehouse_catalog_config(WarehouseSettings(catalog_uri=PROFILE_URI, catalog_uri_env=""), "/w").uri
        == PROFILE_URI
    )


def test_a_named_catalog_and_a_uri_together_are_refused(monkeypatch):
    monkeypatch.setenv("COMPLAINTS_CATALOG_URI", ENV_URI)
    with pytest.raises(CatalogError, match=r"either named .* or a SQL catalog at a database URI, not both"):
        warehouse_catalog_config(WarehouseSettings(catalog="beejan"), "/w")


def test_the_password_of_a_catalog_uri_is_never_shown():
    assert redact_uri(ENV_URI) == "postgresql+psycopg://complaints:***@db:5432/iceberg_catalog"
    assert redact_uri("sqlite:////tmp/catalog.db") == "sqlite:////tmp/catalog.db"
    assert "from-env" not in repr(CatalogConfig("/w", uri=ENV_URI))
