"""Relocation of a copied, moved or restored warehouse: Iceberg's table-path rewrite, done in the copy.

The embedded catalog and every Iceberg file that names another file hold absolute paths: the catalog's row of a
table names its metadata JSON; the metadata JSON names the table's location, each snapshot's manifest list, the
earlier metadata files and any statistics files; a manifest list names manifests; a manifest names data and
delete files; a position delete file names, row by row, the data files it deletes from. A copy of
``OLD/warehouse`` at ``NEW/warehouse`` therefore still points at the original's files (``open_catalog`` refuses
it: ``WarehouseMoved``).

:func:`relocate_warehouse` rewrites, in the copy only, every one of those files that names a path under the old
directory so that it names the same path under the new one, with pyiceberg's own readers and writers (metadata
JSON, manifest lists, manifests) and pyarrow (position delete files), then points the catalog's rows at the
rewritten metadata in one transaction. Each file keeps its name (the copy looks like the original, its metadata
log stays true) and is replaced atomically (written beside it, then renamed over it: a copy made of hard links
never changes the original's file). Nothing under the old directory is read or written: the original, if it
still exists, stays as it was and usable. Running it again after an interruption finishes the work (a path
already under the new directory is left as it is), and a warehouse whose catalog already points at itself has
nothing to do.

Everything else keeps its meaning: snapshot ids, sequence numbers, manifest counts and partition summaries,
file sizes and statistics (a rewritten delete file gets its new size, and its ``file_path`` statistics
recomputed from its new rows, as readers use them to match deletes to data files). Not rewritten: the content
of Puffin files (statistics; deletion vectors of format-version 3 tables: refused), views, object-store tables.
A manifest field pyiceberg does not read (a delete file's optional ``referenced_data_file`` hint) is not carried over;
readers then match the delete file to data files by its ``file_path`` bounds, with the same result.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.avro.file import AvroFile
from pyiceberg.io.pyarrow import (
    PyArrowFileIO,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import (
    DATA_FILE_TYPE,
    DEFAULT_READ_VERSION,
    MANIFEST_LIST_FILE_SCHEMAS,
    DataFileContent,
    ManifestContent,
    ManifestEntryStatus,
    read_manifest_list,
    write_manifest,
    write_manifest_list,
)
from pyiceberg.schema import Schema
from pyiceberg.serializers import FromInputFile, ToOutputFile
from pyiceberg.types import LongType, NestedField, StringType

from warehouse.catalog import (
    CATALOG_FILE,
    CatalogConfig,
    CatalogEntry,
    catalog_entries,
    inside,
    open_catalog,
    recorded_warehouse,
)
from warehouse.replace import DeleteManifestWriter
from warehouse.uris import is_local, local_path, normalise_uri

#: The Iceberg field id of a position delete file's ``file_path`` column (the spec's reserved id).
DELETE_FILE_PATH_ID = 2147483546
DELETE_POS_ID = 2147483545
TEMPORARY_PREFIX = ".relocating-"


class RelocationError(Exception):
    """The warehouse cannot be relocated as asked; the message says why and what to do. Nothing was changed."""


@dataclass(frozen=True)
class PathMove:
    """The rewrite of every path under ``old`` to the same path under ``new``. ``old`` holds each spelling of
    the old directory that its files may be named by (as given, and with symlinks resolved); ``new`` is the
    new directory's real path. A path keeps its spelling: ``file:/``, ``file:///``, ``file://localhost/`` or a
    bare path, percent-escaped if it was."""

    old: tuple[str, ...]
    new: str

    @classmethod
    def of(cls, old: str, new: str) -> PathMove:
        given = normalise_uri(old)
        return cls(tuple(dict.fromkeys((given, os.path.realpath(given)))), os.path.realpath(normalise_uri(new)))

    def moved_path(self, path: str) -> str | None:
        """The normalised local ``path`` under the new directory, or None when it is not under the old one."""
        for root in self.old:
            if path == root or path.startswith(root.rstrip("/") + "/"):
                return self.new + path[len(root.rstrip("/")) :] if path != root else self.new
        return None

    def __call__(self, uri: str) -> str:
        """``uri`` rewritten, or unchanged when it does not name a local file under the old directory."""
        if not isinstance(uri, str) or not (uri.startswith("/") or uri[:5].lower() == "file:") or not is_local(uri):
            return uri
        moved = self.moved_path(normalise_uri(uri))
        if moved is None:
            return uri
        if uri.startswith("/"):
            return moved
        raw_path = urlsplit(uri).path
        written = quote(moved) if unquote(raw_path) != raw_path else moved
        authority = uri[5:].split("/", 3)[2] if uri[5:7] == "//" else None
        return f"{uri[:5]}//{authority}{written}" if authority is not None else f"{uri[:5]}{written}"

    def applies(self, uri: str | None) -> bool:
        return bool(uri) and self(uri) != uri


@dataclass
class TableRelocation:
    """What the relocation of one table rewrote (counts of files), and its new metadata location."""

    table: str
    metadata_location: str = ""
    metadata_files: int = 0
    manifest_lists: int = 0
    manifests: int = 0
    delete_files: int = 0
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Relocation:
    """The result of :func:`relocate_warehouse`: the directories and each table's rewrite (none when the
    catalog already pointed at ``new``)."""

    old: str
    new: str
    tables: tuple[TableRelocation, ...]


def warehouse_dirs(old: str, new: str) -> tuple[str, str]:
    """(old, new) warehouse directories of the relocation asked for: the directories given, or their
    ``warehouse`` folders when ``new`` is an output directory (``OUT``, holding ``OUT/warehouse/catalog.db``)."""
    new_path = os.path.abspath(local_path(new))
    if not os.path.exists(os.path.join(new_path, CATALOG_FILE)) and os.path.exists(
        os.path.join(new_path, "warehouse", CATALOG_FILE)
    ):
        return posixpath.join(normalise_uri(old), "warehouse"), os.path.join(new_path, "warehouse")
    return normalise_uri(old), new_path


def relocate_warehouse(old: str, new: str) -> Relocation:
    """Make the warehouse copied (or moved, or restored) from directory ``old`` to directory ``new`` usable at
    ``new``: rewrite, in ``new`` only, every path under ``old`` that its catalog and Iceberg files name, then point
    its catalog at the rewritten metadata. ``old`` need not exist any more; if it does, nothing under it is read or
    written. Raises ``RelocationError`` (having changed nothing) when ``new`` holds no catalog, the two overlap,
    a table points elsewhere, the copy lacks a file the tables' current state needs, or a table uses what this
    cannot rewrite."""
    old, new = warehouse_dirs(old, new)
    catalog_file = os.path.join(new, CATALOG_FILE)
    if not os.path.isfile(catalog_file):
        raise RelocationError(
            f"no warehouse catalog at {catalog_file}: --to names the copied warehouse directory "
            "(a warehouse on a shared catalog, [warehouse] catalog_uri, has none there: relocate "
            "rewrites only an embedded catalog)"
        )
    move = PathMove.of(old, new)
    for root in move.old:
        if inside(move.new, root) or inside(root, move.new):
            raise RelocationError(f"{new} and {old} overlap: relocate a copy into a directory of its own")
    _own_catalog_file(catalog_file)
    catalog = open_catalog(CatalogConfig(new), create=False, check_location=False)
    entries = [entry for entry in catalog_entries(catalog) if entry.metadata_location]
    to_move = []
    for entry in entries:
        if move.applies(entry.metadata_location):
            to_move.append(entry)
        elif not inside(entry.metadata_location, new):
            raise RelocationError(
                f"table {entry.namespace}.{entry.name} of {new}'s catalog points at "
                f"{recorded_warehouse(entry, new)}, not at {old}: relocate --from that directory"
            )
    rewriter = _Rewriter(move)
    try:
        results = tuple(rewriter.table(entry) for entry in to_move)
        missing = [path for result in results for path in result.missing]
        if missing:
            raise RelocationError(
                f"the copy lacks {len(missing)} file(s) its tables need, e.g. {missing[0]}: copy the "
                "whole warehouse directory again (while no commit runs) and relocate that"
            )
        rewriter.replace_all()
        _point_catalog(catalog, move)
    finally:
        rewriter.discard()
    return Relocation(old, move.new, results)


def _own_catalog_file(path: str) -> None:
    """Give the copy a catalog file of its own when it shares one with another directory (a copy made of hard
    links: ``cp -al``, ``rsync --link-dest``): SQLite updates its file in place, which would repoint the original's
    catalog too. Every other file relocation writes is a new file renamed into place."""
    if os.stat(path).st_nlink > 1:
        temporary = os.path.join(os.path.dirname(path), f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}-{CATALOG_FILE}")
        shutil.copy2(path, temporary)
        os.replace(temporary, path)


def _point_catalog(catalog, move: PathMove) -> None:
    """Rewrite the catalog's rows (each table's metadata and previous metadata location, namespace properties
    that name a path) in one transaction: every table moves at once."""
    from pyiceberg.catalog.sql import IcebergNamespaceProperties, IcebergTables
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    with Session(catalog.engine) as session, session.begin():
        for row in session.scalars(select(IcebergTables).where(IcebergTables.catalog_name == catalog.name)):
            row.metadata_location = move(row.metadata_location) if row.metadata_location else None
            row.previous_metadata_location = (
                move(row.previous_metadata_location) if row.previous_metadata_location else None
            )
        for row in session.scalars(
            select(IcebergNamespaceProperties).where(IcebergNamespaceProperties.catalog_name == catalog.name)
        ):
            row.property_value = move(row.property_value)


class _Rewriter:
    """Writes the rewritten files beside the copy's files (``.relocating-*``), each file once however many
    snapshots share it; :meth:`replace_all` then renames them over the copy's files, :meth:`discard` removes
    what was not renamed."""

    def __init__(self, move: PathMove):
        self.move = move
        self.io = PyArrowFileIO()
        self.pending: dict[str, str] = {}  # the copy's file (local path) -> its rewritten version beside it
        self.manifests: dict[str, object] = {}  # the copy's manifest -> its ManifestFile record, rewritten
        self.delete_files: dict[str, tuple[int, dict]] = {}  # the copy's delete file -> (size, statistics)

    # -- files -------------------------------------------------------------------------------------------------
    def _local(self, uri: str) -> str:
        """The copy's local path of a file that an Iceberg file names (under the old or the new directory)."""
        return local_path(self.move(uri)) if is_local(uri) else uri

    def _temporary(self, path: str) -> str:
        folder, name = os.path.split(path)
        return os.path.join(folder, f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}-{name}")

    def replace_all(self) -> None:
        """Rename each rewritten file over the copy's file. A Hadoop checksum beside it (``.<name>.crc``, which
        Spark's local file system writes and checks) describes the old content: it goes first (Hadoop reads a
        file without one unchecked), so an interruption never leaves a checksum that does not match."""
        for path, temporary in list(self.pending.items()):
            folder, name = os.path.split(path)
            try:
                os.remove(os.path.join(folder, f".{name}.crc"))
            except FileNotFoundError:
                pass
            os.replace(temporary, path)
            del self.pending[path]

    def discard(self) -> None:
        for temporary in self.pending.values():
            try:
                os.remove(temporary)
            except FileNotFoundError:
                pass
        self.pending.clear()

    # -- a table -----------------------------------------------------------------------------------------------
    def table(self, entry: CatalogEntry) -> TableRelocation:
        """Rewrite the table's current metadata (strictly: every file its snapshots need must be in the copy)
        and each earlier metadata file still in the copy (leniently: their snapshots may have been expired)."""
        result = TableRelocation(f"{entry.namespace}.{entry.name}", self.move(entry.metadata_location))
        current = self._local(entry.metadata_location)
        if not os.path.isfile(current):
            result.missing.append(current)
            return result
        try:
            metadata = FromInputFile.table_metadata(self.io.new_input(current))
        except ValueError as error:  # pydantic's ValidationError is one: a view's metadata, a damaged file
            raise RelocationError(
                f"{current} is not the metadata of an Iceberg table (a view?), which relocate "
                f"cannot rewrite: {str(error).splitlines()[0]}"
            ) from None
        if metadata.format_version > 2:
            raise RelocationError(
                f"table {result.table} is Iceberg format version {metadata.format_version}: "
                "its deletion vectors (Puffin) cannot be rewritten here; relocate it with "
                "Iceberg's rewrite_table_path (Spark) instead"
            )
        self._metadata_file(current, metadata, result, strict=True)
        for logged in metadata.metadata_log:
            path = self._local(logged.metadata_file)
            if os.path.isfile(path) and path not in self.pending:
                self._metadata_file(path, FromInputFile.table_metadata(self.io.new_input(path)), result, strict=False)
        return result

    def _metadata_file(self, path: str, metadata, result: TableRelocation, strict: bool) -> None:
        move = self.move
        snapshots = []
        for snapshot in metadata.snapshots:
            self._manifest_list(snapshot, metadata, result, strict)
            snapshots.append(snapshot.model_copy(update={"manifest_list": move(snapshot.manifest_list)}))
        rewritten = metadata.model_copy(
            update={
                "location": move(metadata.location),
                "properties": {key: move(value) for key, value in metadata.properties.items()},
                "snapshots": snapshots,
                "metadata_log": [
                    logged.model_copy(update={"metadata_file": move(logged.metadata_file)})
                    for logged in metadata.metadata_log
                ],
                "statistics": [
                    stats.model_copy(update={"statistics_path": move(stats.statistics_path)})
                    for stats in metadata.statistics
                ],
                "partition_statistics": [
                    stats.model_copy(update={"statistics_path": move(stats.statistics_path)})
                    for stats in metadata.partition_statistics
                ],
            }
        )
        temporary = self._temporary(path)
        ToOutputFile.table_metadata(rewritten, self.io.new_output(temporary))
        self.pending[path] = temporary
        result.metadata_files += 1

    def _manifest_list(self, snapshot, metadata, result: TableRelocation, strict: bool) -> None:
        path = self._local(snapshot.manifest_list)
        if path in self.pending:
            return
        if not os.path.isfile(path):
            if strict:
                result.missing.append(path)
            return
        manifests = [
            self._manifest(manifest, metadata, result, strict)
            for manifest in read_manifest_list(self.io.new_input(path))
        ]
        temporary = self._temporary(path)
        with write_manifest_list(
            metadata.format_version,
            self.io.new_output(temporary),
            snapshot.snapshot_id,
            snapshot.parent_snapshot_id,
            snapshot.sequence_number,
            _avro_codec(_avro_header(self.io, path)),
        ) as writer:
            writer.add_manifests(manifests)
        self.pending[path] = temporary
        result.manifest_lists += 1

    def _manifest(self, manifest, metadata, result: TableRelocation, strict: bool):
        """The manifest list's record of ``manifest`` rewritten (its path, and its length once the manifest
        is rewritten: its counts, sequence numbers and partition summaries stay as they were)."""
        path = self._local(manifest.manifest_path)
        if path in self.manifests:
            return self.manifests[path]
        # a new record: copy() of a pyiceberg Record shares its values with the original
        record = type(manifest)(*(manifest[position] for position in range(len(manifest))))
        _set(record, MANIFEST_LIST_FILE_SCHEMAS[DEFAULT_READ_VERSION], manifest_path=self.move(manifest.manifest_path))
        if not os.path.isfile(path):
            if strict:
                result.missing.append(path)
            return record
        entries = manifest.fetch_manifest_entry(self._copy_io(), discard_deleted=False)
        for entry in entries:
            data_file = entry.data_file
            live = entry.status != ManifestEntryStatus.DELETED
            local = self._local(data_file.file_path)
            if data_file.content == DataFileContent.POSITION_DELETES and os.path.isfile(local):
                self._delete_file(local, data_file, result)
            elif strict and live and not os.path.isfile(local):
                result.missing.append(local)
            _set(data_file, DATA_FILE_TYPE[DEFAULT_READ_VERSION], file_path=self.move(data_file.file_path))
        header = _avro_header(self.io, path)
        # the schema the manifest was written with (its header says; the table's current one otherwise)
        schema = Schema.model_validate_json(header["schema"]) if "schema" in header else metadata.schema()
        temporary = self._temporary(path)
        with _manifest_writer(
            manifest.content,
            metadata.format_version,
            metadata.specs()[manifest.partition_spec_id],
            schema,
            self.io.new_output(temporary),
            manifest.added_snapshot_id,
            _avro_codec(header),
        ) as writer:
            for entry in entries:
                writer.add_entry(entry)
        _set(
            record,
            MANIFEST_LIST_FILE_SCHEMAS[DEFAULT_READ_VERSION],
            manifest_length=writer.to_manifest_file().manifest_length,
        )
        self.pending[path] = temporary
        self.manifests[path] = record
        result.manifests += 1
        return record

    def _copy_io(self):
        """A FileIO reading the copy's file wherever an Iceberg file names the original's."""
        return _RedirectingIO(self.io, self._local)

    def _delete_file(self, path: str, data_file, result: TableRelocation) -> None:
        """Rewrite the position delete file ``path`` (its ``file_path`` column) beside it, once, and give its
        manifest entry the new file's size, split offsets and ``file_path``/``pos`` statistics (those it had:
        readers match delete files to data files by the ``file_path`` bounds)."""
        if path not in self.delete_files:
            self.delete_files[path] = self._rewrite_delete_file(path)
            result.delete_files += 1
        size, statistics = self.delete_files[path]
        changes = {"file_size_in_bytes": size}
        for name in ("column_sizes", "value_counts", "null_value_counts", "lower_bounds", "upper_bounds"):
            known = getattr(data_file, name)
            if known is not None:
                changes[name] = {
                    key: statistics[name].get(key, value) if key in (DELETE_FILE_PATH_ID, DELETE_POS_ID) else value
                    for key, value in known.items()
                }
        if data_file.split_offsets is not None:
            changes["split_offsets"] = statistics["split_offsets"]
        _set(data_file, DATA_FILE_TYPE[DEFAULT_READ_VERSION], **changes)

    def _rewrite_delete_file(self, path: str) -> tuple[int, dict]:
        source = pq.ParquetFile(path)
        compression = (
            source.metadata.row_group(0).column(0).compression.lower() if source.metadata.num_row_groups else "snappy"
        )
        table = source.read()
        column = table.schema.get_field_index("file_path")
        if column < 0:
            raise RelocationError(f"{path} is listed as a position delete file but has no file_path column")
        paths = table.column(column).combine_chunks()
        unique = pc.unique(paths)
        moved = pa.array([self.move(value) for value in unique.to_pylist()], type=paths.type)
        table = table.set_column(column, table.schema.field(column), pc.take(moved, pc.index_in(paths, unique)))
        temporary = self._temporary(path)
        pq.write_table(
            table, temporary, compression=compression if compression != "uncompressed" else "none", store_schema=False
        )
        self.pending[path] = temporary
        schema = Schema(
            NestedField(DELETE_FILE_PATH_ID, "file_path", StringType(), required=True),
            NestedField(DELETE_POS_ID, "pos", LongType(), required=True),
        )
        plan = compute_statistics_plan(schema, {"write.metadata.metrics.default": "full"})
        statistics = data_file_statistics_from_parquet_metadata(
            pq.ParquetFile(temporary).metadata, plan, parquet_path_to_id_mapping(schema)
        )
        serialised = {**statistics.to_serialized_dict(), "split_offsets": statistics.split_offsets}
        return os.path.getsize(temporary), serialised


class _RedirectingIO:
    """A pyiceberg FileIO that reads ``redirect(location)`` instead of ``location``."""

    def __init__(self, io, redirect):
        self._io, self._redirect = io, redirect

    def new_input(self, location: str):
        return self._io.new_input(self._redirect(location))

    def new_output(self, location: str):
        return self._io.new_output(self._redirect(location))

    def delete(self, location) -> None:
        raise RelocationError("relocation deletes nothing")


def _set(record, struct, **values) -> None:
    """Set fields of a pyiceberg ``Record`` (a manifest list's or manifest's entry) by name: its fields have no
    setters, its values sit in the order of ``struct``, the type pyiceberg read it as."""
    names = [each.name for each in struct.fields]
    for name, value in values.items():
        record[names.index(name)] = value


def _avro_header(io, path: str) -> dict[str, str]:
    """The metadata of the Avro file ``path``'s header (its codec, and for a manifest the schema and spec)."""
    with AvroFile(io.new_input(path)) as reader:
        return dict(reader.header.meta)


def _avro_codec(header: dict[str, str]) -> str:
    """The compression codec an Avro header names (one pyiceberg writes; deflate otherwise)."""
    codec = {"zstd": "zstandard"}.get(header.get("avro.codec", "null"), header.get("avro.codec", "null"))
    return codec if codec in ("null", "deflate", "zstandard", "snappy", "bzip2") else "deflate"


def _manifest_writer(content, format_version, spec, schema, output, snapshot_id, codec):
    if content == ManifestContent.DATA:
        return write_manifest(format_version, spec, schema, output, snapshot_id, codec)
    return DeleteManifestWriter(spec, schema, output, snapshot_id, codec)
