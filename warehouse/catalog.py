"""The Iceberg catalog of the warehouse, and its tables created (or evolved) from the table catalog.

By default the catalog is embedded: a pyiceberg SQL catalog on SQLite at ``OUT/warehouse/catalog.db``, with
each table's files under ``OUT/warehouse/<table>/`` (data in Hive-style partition folders such as
``event_date=2026-11-26/``, Iceberg metadata in ``metadata/``). Nothing has to run. A profile's
``[warehouse] catalog_uri`` (or the environment variable its ``catalog_uri_env`` names, ``COMPLAINTS_CATALOG_URI``)
puts the same SQL catalog in a shared database that every worker reaches instead, as production has: a SQLAlchemy
URI such as ``postgresql+psycopg://USER@HOST:5432/DATABASE`` (``runners/local_services.py`` starts such a
PostgreSQL locally). The configuration that travels with a pipeline names where the password is, never the
password: the process that opens the catalog (a worker) reads it then (``catalog_password``). A profile's
``[warehouse] catalog`` can name any other catalog pyiceberg is configured with (REST, Hive, Glue): pyiceberg
reads its properties from ``~/.pyiceberg.yaml`` or ``PYICEBERG_CATALOG__<NAME>__*`` environment variables, so
secrets stay out of the profile.

Every table is created from its Avro schema (``schemas/avro``) with the partition columns of
``schemas/tables.py`` as identity partitions; a column added to the Avro schema is added to the table the
next time a writer opens it (Iceberg schema evolution: old files read it as null).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table as IcebergTable
from pyiceberg.transforms import IdentityTransform

import schemas
from schemas.tables import WAREHOUSE_DIR, WAREHOUSE_TABLES, Table

# file_uri and local_path are re-exported: callers import them from here
from warehouse.secrets import SecretError, read_secret
from warehouse.uris import file_uri, is_local, local_path, normalise_uri

_log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.db"
#: the environment variable a process opening a shared SQL catalog reads its password from, by default
DEFAULT_PASSWORD_ENV = "COMPLAINTS_CATALOG_PASSWORD"
#: the name our SQL catalog (embedded or shared) gives its rows in the database: a JDBC catalog (Spark's) sees only
#: the rows of its own name, so Spark names it so too (``spark.sql.catalog.embedded``)
SQL_CATALOG_NAME = "embedded"
DEFAULT_NAMESPACE = "beejan"
TABLE_PROPERTIES = {
    "format-version": "2",
    "write.parquet.compression-codec": "snappy",
    # our committer retries a conflicting commit itself, from the table's new state (warehouse/commit.py)
    "commit.retry.num-retries": "0",
    # each commit writes a metadata file; keep the last hundred, delete older ones as commits go on
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
}


class CatalogError(Exception):
    """The catalog cannot be opened, or a table in it cannot be used; the message says what to fix."""


class NoCatalogYet(CatalogError):
    """The embedded catalog does not exist yet: nothing has been committed to this warehouse."""


class WarehouseMoved(CatalogError):
    """The embedded catalog's tables live outside its warehouse directory: the directory was moved, copied or
    restored elsewhere, and its tables' paths must be rewritten (``complaints warehouse relocate``) before anything
    reads or writes it. ``recorded`` is where the catalog points, ``warehouse_dir`` where the catalog is."""

    def __init__(self, warehouse_dir: str, recorded: str):
        super().__init__(
            f"{warehouse_dir}'s catalog points at {recorded}: this warehouse was moved or copied; "
            "make it usable here with: complaints warehouse relocate "
            f"--from {recorded} --to {warehouse_dir}"
        )
        self.warehouse_dir = warehouse_dir
        self.recorded = recorded


@dataclass(frozen=True)
class CatalogConfig:
    """Where the warehouse tables live: ``warehouse_dir`` (``OUT/warehouse``) holds the tables' files and the
    embedded catalog; ``uri`` (a SQLAlchemy URI, e.g. ``postgresql+psycopg://USER@HOST:5432/DATABASE``) puts the
    SQL catalog in that shared database instead; ``name`` names a pyiceberg-configured catalog instead of either.

    A configuration is pickled into the pipelines that commit, so it should hold no secret: the URI's password is
    found by the process that opens the catalog (``catalog_password``), in the environment variable
    ``password_env`` names, else in the file ``password_file`` (a local path or a URI Beam's filesystems read),
    else by libpq itself (``PGPASSWORD``, ``PGPASSFILE`` or ``~/.pgpass``, a ``?service=`` of ``PGSERVICEFILE``).
    A URI that holds a password is used as it is (and its password travels wherever the configuration goes)."""

    warehouse_dir: str
    name: str = ""
    namespace: str = DEFAULT_NAMESPACE
    uri: str = ""
    password_env: str = DEFAULT_PASSWORD_ENV
    password_file: str = ""

    def __post_init__(self):
        if self.name and self.uri:
            raise CatalogError(
                f"a catalog is either named ({self.name!r}, configured in pyiceberg) or a SQL catalog "
                "at a database URI, not both"
            )

    @classmethod
    def of_output(
        cls, output_dir: str, name: str = "", namespace: str = DEFAULT_NAMESPACE, uri: str = ""
    ) -> CatalogConfig:
        """The catalog of a run writing to ``output_dir``: its tables under ``OUT/warehouse``."""
        return cls(f"{output_dir.rstrip('/')}/{WAREHOUSE_DIR}", name, namespace, uri)

    @property
    def embedded(self) -> bool:
        """True for the SQLite catalog inside the warehouse directory (neither a database URI nor a name)."""
        return not self.name and not self.uri

    def __repr__(self) -> str:  # the URI may carry a password: never in a log or a traceback
        uri = (
            f", uri={redact_uri(self.uri)!r}, password_env={self.password_env!r}, password_file={self.password_file!r}"
            if self.uri
            else ""
        )
        return (
            f"CatalogConfig(warehouse_dir={self.warehouse_dir!r}, name={self.name!r}, "
            f"namespace={self.namespace!r}{uri})"
        )

    @property
    def carries_password(self) -> bool:
        """True when the URI itself holds a password (which then goes wherever this configuration is pickled)."""
        return bool(self.uri) and split_password(self.uri)[1] is not None

    def location(self, table: Table) -> str:
        """The table's location: ``<warehouse_dir>/<table>``, as a URI."""
        return f"{file_uri(self.warehouse_dir)}/{table.name}"


def redact_uri(uri: str) -> str:
    """``uri`` with its password (``user:PASSWORD@host``) replaced by ``***``."""
    scheme, separator, rest = uri.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not separator or not at or ":" not in credentials:
        return uri
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def split_password(uri: str) -> tuple[str, str | None]:
    """(``uri`` without its password, the password or None): what a launcher keeps out of the pipeline."""
    if "://" not in uri or "@" not in uri.partition("://")[2]:
        return uri, None
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    if url.password is None:
        return uri, None
    # URL.set(password=None) would keep it: None there means "unchanged"
    return url._replace(password=None).render_as_string(hide_password=False), str(url.password) or None


def warn_if_password_travels(config: CatalogConfig, transform: str) -> None:
    """One warning when the URI of ``config``, which ``transform`` pickles into its pipeline, holds a password:
    the runner ships it to every worker and may show or store it with the job (Dataflow's job graph)."""
    if config.carries_password:
        _log.warning(
            "%s: the catalog URI %s holds a password, which is pickled into the pipeline and travels with the job; "
            "give the URI without it and the password to the workers in $%s or a file "
            "(CatalogConfig.password_env, password_file)",
            transform,
            redact_uri(config.uri),
            config.password_env or DEFAULT_PASSWORD_ENV,
        )


def catalog_password(config: CatalogConfig) -> str | None:
    """The password this process opens the shared catalog of ``config`` with, found here and now
    (``warehouse.secrets.read_secret``): the environment variable ``config.password_env`` names (when set and not
    empty), else the first line of the file ``config.password_file`` (a Kubernetes secret volume, a bucket object
    only the workers may read); None when neither is given, and libpq looks in its own places (``PGPASSWORD``,
    ``PGPASSFILE`` or ``~/.pgpass``, the service file). A password file that cannot be read raises
    ``CatalogError``."""
    try:
        return read_secret(config.password_env, config.password_file, "the catalog's password")
    except SecretError as error:
        raise CatalogError(str(error)) from None


def connection_uri(config: CatalogConfig) -> str:
    """The URI this process connects to the shared catalog with: ``config.uri`` with the password
    ``catalog_password`` finds in it (the URI unchanged when it holds one already, when libpq is to find it, or
    for a database that takes no password: a SQLite file)."""
    from sqlalchemy.engine import make_url

    if split_password(config.uri)[1] is not None or make_url(config.uri).get_backend_name() == "sqlite":
        return config.uri
    password = catalog_password(config)
    if password is None:
        return config.uri
    return make_url(config.uri).set(password=password).render_as_string(hide_password=False)


def _password_sources(config: CatalogConfig) -> str:
    """Where a password is looked for, in order, for an error saying that none was accepted."""
    places = [f"${config.password_env}" if config.password_env else "", config.password_file]
    return ", ".join([place for place in places if place] + ["libpq's PGPASSWORD, PGPASSFILE or ~/.pgpass"])


def open_catalog(config: CatalogConfig, create: bool = True, check_location: bool = True) -> Catalog:
    """The catalog of ``config``. The embedded one is created when ``create`` (writers); a reader of a
    warehouse without one gets ``CatalogError``. An embedded catalog whose tables live outside its warehouse
    directory (a moved or copied warehouse) gives ``WarehouseMoved`` unless ``check_location`` is false (only
    the relocation itself opens it so). A shared SQL catalog (``config.uri``) gets its tables made in its
    database when ``create``; a reader finding none gets ``NoCatalogYet``."""
    if config.uri:
        return _open_shared_catalog(config, create)
    if not config.embedded:
        try:
            return load_catalog(config.name)
        except Exception as error:  # pyiceberg raises ValueError, ImportError, connection errors...
            raise CatalogError(f"cannot open Iceberg catalog {config.name!r}: {error}") from error
    if "://" in config.warehouse_dir:
        raise CatalogError(
            f"the embedded catalog needs a local warehouse directory, not {config.warehouse_dir}: "
            "name a shared catalog in the profile's [warehouse] catalog"
        )
    path = os.path.join(os.path.abspath(config.warehouse_dir), CATALOG_FILE)
    if not os.path.exists(path):
        if not create:
            raise NoCatalogYet(f"no Iceberg catalog at {path}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy.exc import OperationalError

    properties = {"uri": f"sqlite:///{path}", "warehouse": file_uri(config.warehouse_dir)}
    try:
        catalog = SqlCatalog(SQL_CATALOG_NAME, **properties, init_catalog_tables="true" if create else "false")
    except OperationalError as error:  # two writers creating the catalog at once: the other one made it
        if "already exists" not in str(error):
            raise CatalogError(f"cannot open the Iceberg catalog {path}: {error}") from error
        catalog = SqlCatalog(SQL_CATALOG_NAME, **properties, init_catalog_tables="false")
    if check_location:
        check_catalog_location(catalog, config.warehouse_dir)
    return catalog


def close_catalog(catalog: Catalog) -> None:
    """Close the database connections a SQL catalog holds (it opens new ones if used again); a catalog of
    another kind is left as it is."""
    engine = getattr(catalog, "engine", None)
    if engine is not None:
        engine.dispose()


def _open_shared_catalog(config: CatalogConfig, create: bool) -> Catalog:
    """pyiceberg's SQL catalog in the database at ``config.uri`` (PostgreSQL through psycopg 3, or any database
    SQLAlchemy reaches). Its tables (``iceberg_tables``, ``iceberg_namespace_properties``) are made by the first
    writer; two writers making them at once both go on. The tables' files stay under ``warehouse_dir``."""
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy import inspect
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    where = redact_uri(config.uri)
    properties = {
        "uri": connection_uri(config),  # the password found here, on the worker: in this process's memory only
        "warehouse": file_uri(config.warehouse_dir),
        # a worker holds one connection; one dropped by the server (a restart) is noticed, not used
        "pool_pre_ping": "true",
    }
    try:
        catalog = SqlCatalog(SQL_CATALOG_NAME, **properties, init_catalog_tables="false")
        if not inspect(catalog.engine).has_table("iceberg_tables"):
            if not create:
                raise NoCatalogYet(f"no Iceberg catalog in {where} yet: nothing has been committed to it")
            try:
                catalog.create_tables()
            except (IntegrityError, ProgrammingError):  # another writer made them at the same moment
                pass
    except (OperationalError, ImportError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "password" in reason and not config.carries_password:  # libpq's words, without the host said above
            libpq_said = reason.rsplit(" failed: ", 1)[-1].strip()
            reason = f"{libpq_said} (password from the first of: {_password_sources(config)})"
        raise CatalogError(f"cannot open the Iceberg catalog at {where}: {reason}") from error
    return catalog


@dataclass(frozen=True)
class CatalogEntry:
    """One row of the embedded catalog: a table (or view) and the metadata file it is at."""

    namespace: str
    name: str
    metadata_location: str | None
    previous_metadata_location: str | None


def catalog_entries(catalog) -> list[CatalogEntry]:
    """Every table of the embedded (pyiceberg SQL) ``catalog``, read from its own table in one query; none when
    the catalog has no tables yet (or not even its table of tables)."""
    from pyiceberg.catalog.sql import IcebergTables
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    query = select(
        IcebergTables.table_namespace,
        IcebergTables.table_name,
        IcebergTables.metadata_location,
        IcebergTables.previous_metadata_location,
    ).where(IcebergTables.catalog_name == catalog.name)
    try:
        with Session(catalog.engine) as session:
            return [CatalogEntry(*row) for row in session.execute(query)]
    except OperationalError:  # no iceberg_tables table yet: an empty catalog
        return []


def inside(uri: str, directory: str) -> bool:
    """True when the file ``uri`` (any spelling) is ``directory`` or under it, both with symlinks resolved."""
    if not is_local(uri):
        return False
    path, root = os.path.realpath(normalise_uri(uri)), os.path.realpath(normalise_uri(directory))
    return path == root or path.startswith(root.rstrip("/") + "/")


def recorded_warehouse(entry: CatalogEntry, warehouse_dir: str | None = None) -> str:
    """The warehouse directory a catalog row's metadata file says the table was in: the old path's part before the
    metadata file's path inside ``warehouse_dir`` (a copy holds the same file at the same place under it, whatever
    the layout: ours ``W/<table>/metadata/``, Spark's ``W/<namespace>/<table>/metadata/``); else ``W`` of
    ``W/<table>/metadata/<file>``, or the table's folder when it is not laid out so."""
    path = normalise_uri(entry.metadata_location) if is_local(entry.metadata_location) else entry.metadata_location
    if warehouse_dir is not None:
        name = os.path.basename(path)
        for folder, _, files in os.walk(local_path(warehouse_dir)):
            if name in files:
                relative = os.path.relpath(os.path.join(folder, name), local_path(warehouse_dir))
                if path.endswith("/" + relative):
                    return path[: -len(relative) - 1] or "/"
    folder = os.path.dirname(path)
    table_dir = os.path.dirname(folder) if os.path.basename(folder) == "metadata" else folder
    return os.path.dirname(table_dir) if os.path.basename(table_dir) == entry.name else table_dir


def check_catalog_location(catalog, warehouse_dir: str) -> None:
    """Raise ``WarehouseMoved`` when a table of the embedded ``catalog`` has its metadata outside
    ``warehouse_dir``: a copy would read the original's files and commit new ones into the original's folders,
    and a moved warehouse would fail on files that are no longer there."""
    for entry in catalog_entries(catalog):
        if entry.metadata_location and not inside(entry.metadata_location, warehouse_dir):
            raise WarehouseMoved(os.path.abspath(local_path(warehouse_dir)), recorded_warehouse(entry, warehouse_dir))


def iceberg_schema(table: Table) -> Schema:
    """The Iceberg schema of ``table`` from its Avro definition (partition columns included), ids from 1."""
    from pyiceberg.schema import assign_fresh_schema_ids

    arrow = schemas.arrow_schema(table.schema, include_partition_key=True)
    return assign_fresh_schema_ids(Catalog._convert_schema_if_needed(arrow))


def _partition_spec(table: Table, schema: Schema) -> PartitionSpec:
    return PartitionSpec(
        *(
            PartitionField(
                source_id=schema.find_field(column).field_id,
                field_id=1000 + n,
                transform=IdentityTransform(),
                name=column,
            )
            for n, column in enumerate(table.partition)
        )
    )


def ensure_table(catalog: Catalog, config: CatalogConfig, table: Table) -> IcebergTable:
    """The Iceberg table of ``table``: created when missing, given the columns its schema gained since."""
    identifier = (config.namespace, table.name)
    try:
        iceberg = catalog.load_table(identifier)
    except NoSuchTableError:
        return _create_table(catalog, config, table)
    wanted = schemas.arrow_schema(table.schema, include_partition_key=True)
    if set(wanted.names) - {field.name for field in iceberg.schema().fields}:
        with iceberg.update_schema() as update:
            update.union_by_name(wanted)
        iceberg = catalog.load_table(identifier)
    return iceberg


def _create_table(catalog: Catalog, config: CatalogConfig, table: Table) -> IcebergTable:
    """Create ``table`` (and its namespace). Writers starting together race to create them: whoever loses
    (an "already exists" error, or the catalog database's unique-key error) loads what the winner made."""
    identifier = (config.namespace, table.name)
    try:
        catalog.create_namespace(config.namespace)
    except Exception:  # NamespaceAlreadyExistsError, or IntegrityError when racing
        if not catalog.namespace_exists(config.namespace):
            raise
    schema = iceberg_schema(table)
    location = config.location(table)
    try:
        return catalog.create_table(
            identifier,
            schema=schema,
            location=location,
            partition_spec=_partition_spec(table, schema),
            properties={**TABLE_PROPERTIES, "write.data.path": location},
        )
    except Exception:  # noqa: BLE001 - TableAlreadyExistsError, or IntegrityError when racing
        try:
            return catalog.load_table(identifier)
        except NoSuchTableError:
            raise CatalogError(f"cannot create table {'.'.join(identifier)} at {location}") from None


def load_table(catalog: Catalog, config: CatalogConfig, table: Table) -> IcebergTable | None:
    """The Iceberg table of ``table``, or None when no writer has created it yet."""
    try:
        return catalog.load_table((config.namespace, table.name))
    except NoSuchTableError:
        return None


def open_tables(config: CatalogConfig, names=tuple(WAREHOUSE_TABLES)) -> dict[str, IcebergTable]:
    """Open the catalog and ensure the named warehouse tables (what a writer does before it starts)."""
    catalog = open_catalog(config)
    return {name: ensure_table(catalog, config, WAREHOUSE_TABLES[name]) for name in names}


def writer_schemas(config: CatalogConfig, tables: list[Table]) -> dict[str, pa.Schema]:
    """The schema each table's data files are to be written with, before a run starts. Creates nothing (a run
    that fails or is refused leaves no trace): a table that does not exist yet gets the field ids that
    ``ensure_table`` will give it when the run commits; an existing table gains the columns its record schema
    gained first."""
    try:
        catalog = open_catalog(config, create=False)
    except NoCatalogYet:
        catalog = None
    found = {}
    for table in tables:
        iceberg = load_table(catalog, config, table) if catalog is not None else None
        found[table.name] = (
            writer_schema(ensure_table(catalog, config, table))
            if iceberg is not None
            else _writer_schema_of(iceberg_schema(table))
        )
    return found


def field_ids(schema: pa.Schema) -> dict[str, bytes | None]:
    return {field.name: (field.metadata or {}).get(b"PARQUET:field_id") for field in schema}


def writer_schema(iceberg: IcebergTable) -> pa.Schema:
    """The Arrow schema a worker writes the table's data files with: the record schema's types (``string``, not
    pyiceberg's ``large_string``), with the Iceberg field ids in the field metadata."""
    return _writer_schema_of(iceberg.schema())


def _writer_schema_of(schema: Schema) -> pa.Schema:
    return pa.schema([_plain_field(field) for field in schema_to_pyarrow(schema)])


def _plain_field(field: pa.Field) -> pa.Field:
    kind = field.type
    if pa.types.is_large_string(kind):
        kind = pa.string()
    elif pa.types.is_large_binary(kind):
        kind = pa.binary()
    elif pa.types.is_large_list(kind) or pa.types.is_list(kind):
        kind = pa.list_(_plain_field(kind.value_field))
    elif pa.types.is_map(kind):
        kind = pa.map_(_plain_field(kind.key_field), _plain_field(kind.item_field))
    return pa.field(field.name, kind, nullable=field.nullable, metadata=field.metadata)
