"""Secrets found where they are used, never carried: what a pipeline pickles names where a secret is, and the
process that needs it (the launcher, a worker's ``DoFn.setup``) reads it there at that moment.

One lookup for every secret of the library: the shared catalog's password (``warehouse.catalog.catalog_password``)
and the contact-token key (``transforms.enrichment.ContactTokenKey``). A secret is the value of an environment
variable (a Kubernetes secret given as one), else the first line of a file: a local path (a Kubernetes secret
volume) or a URI Beam's filesystems read (``gs://``: an object only the workers' service account may read, for
Dataflow, whose workers get no environment variables of the job's). Read each time it is asked for, so a rotated
file is picked up by the next reader.
"""

from __future__ import annotations

import os

from warehouse.uris import is_local, local_path


class SecretError(Exception):
    """A secret's file cannot be read or is empty; the message names the file, never a secret."""


def read_secret(env: str = "", file: str = "", what: str = "the secret") -> str | None:
    """The secret found here and now: the value of the environment variable ``env`` (when named, set and not
    empty), else the first line of the file ``file`` (when named); None when neither gives one. ``what`` names the
    secret in errors ("the catalog's password"). A named file that cannot be read, or whose first line is empty,
    raises ``SecretError``: a secret that was asked for is never silently missing."""
    if env and os.environ.get(env):
        return os.environ[env]
    if not file:
        return None
    try:
        if is_local(file):
            with open(local_path(file), encoding="utf-8") as handle:
                text = handle.read()
        else:  # gs://, s3://...: read with this process's own credentials through Beam's filesystems
            from apache_beam.io.filesystems import FileSystems

            with FileSystems.open(file, compression_type="uncompressed") as handle:
                text = handle.read().decode("utf-8")
    except Exception as error:  # noqa: BLE001 - missing, unreadable, no such bucket: one line that says which file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise SecretError(f"cannot read {what} from {file} ({type(error).__name__}: {reason})") from None
    secret = text.splitlines()[0] if text.splitlines() else ""
    if not secret:
        raise SecretError(f"{what} file {file} is empty")
    return secret
