"""One normalisation for every file URI the warehouse reads, compares or deletes.

Iceberg tables are shared: other engines write the same tables, and each spells a local file its own way.
Spark (Hadoop's ``Path``) writes ``file:/warehouse/t/data/x.parquet``, pyiceberg ``file:///warehouse/...``,
others ``file://localhost/warehouse/...`` or a plain absolute path, with or without percent-escapes. They are
one file. Every path the project reads, compares or deletes goes through :func:`normalise_uri` (a canonical
key) or :func:`local_path` (a path the OS opens), never through string prefixes of its own.

Object-store URIs (``s3://bucket/key``, ``gs://...``, ``abfss://...``) are kept as they are apart from a
lower-cased scheme and the collapse of repeated slashes in the key.
"""

from __future__ import annotations

import os
import posixpath
from urllib.parse import unquote, urlsplit

__all__ = ["file_uri", "is_local", "local_path", "normalise_uri"]


def _split(uri: str) -> tuple[str, str, str]:
    """(scheme, authority, path) of ``uri``; a bare path has scheme ``""``."""
    if "://" not in uri and not uri.startswith("file:"):
        return "", "", uri
    parts = urlsplit(uri)
    return parts.scheme.lower(), parts.netloc, parts.path


def is_local(uri: str) -> bool:
    """True for a local file in any spelling (a bare path, ``file:/``, ``file:///``, ``file://localhost/``)."""
    scheme, authority, _ = _split(uri)
    return scheme in ("", "file") and authority in ("", "localhost")


def local_path(uri: str) -> str:
    """The local path of a file URI in any spelling, percent-escapes decoded and ``.``/``..``/``//`` collapsed;
    other URIs (object stores, ``file://otherhost/...``) come back unchanged."""
    scheme, authority, path = _split(uri)
    if scheme == "":
        return posixpath.normpath(uri) if uri else uri
    if scheme != "file" or authority not in ("", "localhost"):
        return uri
    path = unquote(path)
    return posixpath.normpath(path) if path else path


def normalise_uri(uri: str) -> str:
    """A canonical key for the file ``uri`` names: two spellings of one file give the same key.

    Local files become their absolute path (``file:/a``, ``file:///a``, ``file://localhost/a`` and ``/a`` all give
    ``/a``); object-store URIs keep their bucket and key with the scheme lower-cased and repeated slashes in the
    key collapsed."""
    if is_local(uri):
        return os.path.abspath(local_path(uri))
    scheme, authority, path = _split(uri)
    while "//" in path:
        path = path.replace("//", "/")
    return f"{scheme}://{authority}{path}"


def file_uri(path: str) -> str:
    """A local path as a ``file://`` URI of its real location (symlinks resolved); other URIs unchanged apart
    from a trailing slash."""
    if not is_local(path):
        return path.rstrip("/")
    return "file://" + os.path.realpath(local_path(path))
