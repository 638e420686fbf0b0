"""API keys for ``complaints serve``: loaded from configuration, never hard-coded, compared in constant time.

A key file is TOML with one ``[[keys]]`` table per client::

    [[keys]]
    name = "crm"                          # shown in the server's access log, never the key itself
    sha256 = "9f86d08..."                 # SHA-256 (hex) of the key, so the file holds no secret ...
    scopes = ["complaints", "aggregates"]

    [[keys]]
    name = "wallboard"
    key_env = "WALLBOARD_API_KEY"         # ... or the name of an environment variable holding the key
    scopes = ["aggregates"]

Scopes: ``complaints`` reads single complaints and searches them (text, customer ids); ``aggregates`` reads
volumes, alerts, forecasts, phrases and the summary (no single complaint); ``metrics`` reads ``/metrics``
(Prometheus' scrape key: counts and times, no complaint); ``write`` posts CRM events (the only writes; a
read-only key gets 403). A request without a valid key gets
401; a valid key without the endpoint's scope gets 403.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tomllib
from dataclasses import dataclass

SCOPES = ("complaints", "aggregates", "metrics", "write")


class KeyFileError(ValueError):
    """The key file is missing, not TOML, or has an invalid entry."""


@dataclass(frozen=True)
class Client:
    name: str
    scopes: frozenset[str]


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeys:
    """Key digest -> client. An empty set means authentication is off (only for local use, asked for explicitly)."""

    def __init__(self, clients: dict[bytes, Client] | None = None):
        self._clients = dict(clients or {})

    @property
    def enabled(self) -> bool:
        return bool(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    def client_for(self, key: str | None) -> Client | None:
        if not key:
            return None
        digest = key_digest(key)
        found = None
        for known, client in self._clients.items():  # look at every entry: no early exit to time
            if hmac.compare_digest(known, digest):
                found = client
        return found

    @classmethod
    def from_file(cls, path: str, environ: dict | None = None) -> ApiKeys:
        environ = os.environ if environ is None else environ
        try:
            with open(path, "rb") as handle:
                document = tomllib.load(handle)
        except FileNotFoundError:
            raise KeyFileError(f"API key file not found: {path}") from None
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise KeyFileError(f"API key file {path} is not readable TOML: {error}") from None
        entries = document.get("keys")
        if not isinstance(entries, list) or not entries:
            raise KeyFileError(f"API key file {path} has no [[keys]] entries")
        clients = {}
        for number, entry in enumerate(entries, start=1):
            where = f"{path}: key #{number}"
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                raise KeyFileError(f"{where} needs a name")
            scopes = entry.get("scopes")
            if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
                raise KeyFileError(f"{where} ({name}) needs scopes from {', '.join(SCOPES)}")
            if "sha256" in entry:
                try:
                    digest = bytes.fromhex(entry["sha256"])
                except (TypeError, ValueError):
                    digest = b""
                if len(digest) != 32:
                    raise KeyFileError(f"{where} ({name}): sha256 must be 64 hex digits")
            elif "key_env" in entry:
                value = environ.get(entry["key_env"])
                if not value:
                    raise KeyFileError(f"{where} ({name}): environment variable {entry['key_env']} is not set")
                digest = key_digest(value)
            else:
                raise KeyFileError(f"{where} ({name}) needs sha256 or key_env")
            clients[digest] = Client(name, frozenset(scopes))
        return cls(clients)
