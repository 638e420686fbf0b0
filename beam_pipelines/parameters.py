"""From a profile's settings (``beam_pipelines.config``) to the parameters the transforms take."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

from beam_pipelines.config import Settings, StreamingSettings, ValidationSettings, WarehouseSettings
from schemas.tables import WAREHOUSE_DIR
from transforms.validation import ValidationRules
from warehouse.catalog import CatalogConfig, split_password

if TYPE_CHECKING:  # these need Beam; the web-form endpoint, which has none, uses this module
    from transforms.enrichment import ContactTokenKey
    from transforms.event_time import StreamTiming


def validation_rules(validation: ValidationSettings, batch_date: dt.date | None) -> ValidationRules:
    """The validation rules of a batch for ``batch_date`` (None: live records, judged against their arrival)."""
    return ValidationRules(
        batch_date=batch_date,
        future_tolerance=dt.timedelta(minutes=validation.future_tolerance_minutes),
        late_after=dt.timedelta(days=validation.late_after_days),
        stale_after=dt.timedelta(days=validation.stale_after_days),
        max_text_chars=validation.max_text_chars,
        max_call_duration=dt.timedelta(hours=validation.max_call_duration_hours),
    )


def stream_timing(streaming: StreamingSettings, **overrides) -> StreamTiming:
    """The streaming pipeline's timing: the profile's ``[streaming]`` settings, with the ``overrides`` that are
    not None (the ``stream`` command's flags) on top."""
    from transforms.event_time import StreamTiming

    values = {name: getattr(streaming, name) for name in StreamingSettings.__dataclass_fields__}
    values.update({name: value for name, value in overrides.items() if value is not None})
    return StreamTiming(**values)


def catalog_config(warehouse: WarehouseSettings, output_dir: str) -> CatalogConfig:
    """The Iceberg catalog of a run writing to ``output_dir``: its tables under ``OUT/warehouse``."""
    return warehouse_catalog_config(warehouse, f"{output_dir.rstrip('/')}/{WAREHOUSE_DIR}")


def configured_catalog_uri(warehouse: WarehouseSettings) -> str:
    """The shared SQL catalog's URI as ``[warehouse]`` gives it, password and all: the one in the environment
    variable ``catalog_uri_env`` names (when set), else ``catalog_uri``; "" for none."""
    from_env = os.environ.get(warehouse.catalog_uri_env, "") if warehouse.catalog_uri_env else ""
    return (from_env or warehouse.catalog_uri).strip()


def warehouse_catalog_config(warehouse: WarehouseSettings, warehouse_dir: str) -> CatalogConfig:
    """The Iceberg catalog of the tables whose files are in ``warehouse_dir``, as ``[warehouse]`` names it: the
    shared SQL catalog at ``configured_catalog_uri``; else the catalog named ``catalog``; else the embedded one in
    ``warehouse_dir``. Raises ``warehouse.catalog.CatalogError`` when both a URI and a name are given.

    The configuration returned holds no password (pipelines pickle it): it names where the process opening the
    catalog finds one (``catalog_password_env``, ``catalog_password_file``, else libpq's own places). A password
    written into the URI is taken out of it and put into this process's environment under
    ``catalog_password_env``, where this launcher and the workers it starts itself (the local runners) find it;
    workers elsewhere (a Flink cluster, Dataflow) must be given it there."""
    uri, password = split_password(configured_catalog_uri(warehouse))
    if password is not None:
        if warehouse.catalog_password_env:
            os.environ[warehouse.catalog_password_env] = password
        else:  # nowhere to hand it over: it stays in the URI (and WriteToWarehouse warns that it travels)
            uri = configured_catalog_uri(warehouse)
    return CatalogConfig(
        warehouse_dir,
        warehouse.catalog,
        warehouse.namespace,
        uri,
        password_env=warehouse.catalog_password_env,
        password_file=warehouse.catalog_password_file,
    )


def contact_token_key_for_workers(settings: Settings) -> ContactTokenKey:
    """Where the pipeline's workers find the contact-token key this launcher holds (``settings.contact_token_key``,
    from ``[security]``'s environment variable, key file or profile): what ``Enrich`` pickles into the pipeline is
    the variable's name, the file's and the key's check (``ContactTokenKey``), never the key. Each worker reads the
    key as its enrichment step sets up, and fails there if it finds another.

    A key written in the profile file itself (public by design: it warns) that is not the development key is put
    into this process's environment under ``contact_token_key_env``, where this launcher's own workers (the local
    runners, ``--environment_type=LOOPBACK``) find it; workers elsewhere must be given it there. The development
    key needs no handing over: a worker that finds no key takes it."""
    from transforms.enrichment import DEVELOPMENT_TOKEN_KEY, ContactTokenKey

    security = settings.security
    key = settings.contact_token_key
    if settings.contact_token_key_source == "profile file" and key != DEVELOPMENT_TOKEN_KEY:
        if security.contact_token_key_env:
            os.environ[security.contact_token_key_env] = key.decode("utf-8")
    return ContactTokenKey.expecting(key, security.contact_token_key_env, security.contact_token_key_file)
