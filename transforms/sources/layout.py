"""The input layout (``INPUT_FORMATS.md``): which files of an input directory, or of a file pattern, are read as
which channel, and how many shards a batch of them is cut into.

``ReadFromChannelFiles`` and the ``complaints batch`` command both list their input with ``discover_inputs``, so
a pipeline composed from the public transforms reads exactly the files the command reads.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import os
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

# Input directory layout: channel folder -> (source name, file patterns).
CHANNEL_DIRS = {
    "twitter": ("twitter", ("*.jsonl", "*.jsonl.gz")),
    "webforms": ("webform", ("*.jsonl", "*.form", "*.jsonl.gz", "*.form.gz")),
    "sms": ("sms", ("*.txt", "*.txt.gz")),
    "phone_logs": ("phone", ("*.csv", "*.xml", "*.csv.gz", "*.xml.gz")),
    "customers": ("customers", ("*.csv", "*.csv.gz")),
}
#: source name -> its folder in the layout (``phone`` -> ``phone_logs``)
FOLDER_OF_SOURCE = {source: folder for folder, (source, _) in CHANNEL_DIRS.items()}
BYTES_PER_SHARD = 32 * 1024 * 1024
MIN_SHARDS = 8  # enough to keep every worker busy and balanced after the shuffle
MAX_SHARDS = 256


@dataclass
class InputFile:
    source: str
    path: str
    display_path: str  # relative to the input directory: stable across machines, recorded in every record
    size: int


def included(display_path: str, include: list[str] | None) -> bool:
    """Whether a file (its path under the input directory, e.g. ``sms/sms_2026112609.txt``) is selected by the
    ``--include`` patterns (shell globs; none: every file is). The customer master is reference data, not a
    channel file: it is always read."""
    return (
        not include
        or display_path.startswith("customers/")
        or any(fnmatch.fnmatchcase(display_path, pattern) for pattern in include)
    )


def discover_inputs(input_dir: str, include: list[str] | None = None) -> list[InputFile]:
    """Every channel file under ``input_dir`` in the contract's layout that ``include`` selects, in a stable
    order (files a local input directory links to from outside it are not inputs: see ``ignored_inputs``)."""
    files = []
    for folder, (source, patterns) in CHANNEL_DIRS.items():
        seen = set()
        for pattern in patterns:
            matches = FileSystems.match([FileSystems.join(input_dir, folder, pattern)])[0].metadata_list
            for metadata in matches:
                if metadata.path in seen or _outside(input_dir, metadata.path):
                    continue
                seen.add(metadata.path)
                display = f"{folder}/{metadata.path.rsplit('/', 1)[-1]}"
                if not included(display, include):
                    continue
                files.append(InputFile(source, metadata.path, display, metadata.size_in_bytes))
    return sorted(files, key=lambda f: f.display_path)


def match_channel_files(pattern: str, source: str) -> list[InputFile]:
    """The files that ``pattern`` (a path, a glob, ``gs://...``) matches, read as ``source``'s files. Each is
    recorded as ``<channel folder>/<file name>``, the name ``discover_inputs`` gives it in an input directory,
    so its complaints get the same ``source_file`` whichever reader read them. Raises ``FileNotFoundError``
    when nothing matches. A local directory stands for the files directly in it; directories a glob matches are
    not files, and are left out."""
    matches = FileSystems.match([pattern])[0].metadata_list
    if len(matches) == 1 and _is_local_dir(matches[0].path):
        matches = FileSystems.match([FileSystems.join(matches[0].path, "*")])[0].metadata_list
    matches = [m for m in matches if not _is_local_dir(m.path)]
    if not matches:
        raise FileNotFoundError(f"no file matches {pattern}")
    folder = FOLDER_OF_SOURCE[source]
    return sorted(
        (InputFile(source, m.path, f"{folder}/{m.path.rsplit('/', 1)[-1]}", m.size_in_bytes) for m in matches),
        key=lambda f: f.display_path,
    )


def _is_local_dir(path: str) -> bool:
    return "://" not in path and os.path.isdir(path)


def _outside(input_dir: str, path: str) -> bool:
    """A local file that resolves (through a symbolic link) to a place outside the input directory."""
    if "://" in input_dir:
        return False
    root = os.path.realpath(input_dir)
    return os.path.commonpath([root, os.path.realpath(path)]) != root


def ignored_inputs(input_dir: str, inputs: list[InputFile], include: list[str] | None = None) -> list[dict]:
    """Files in a local input directory's channel folders that are not read, each with the reason: names the
    layout does not know (``tweets.JSONL``, ``notes.txt``), files in sub-folders, and links to outside the input
    directory. They go in the manifest and are named on stderr, so nothing is skipped unseen. Files that
    ``include`` leaves out on purpose are not listed."""
    if "://" in input_dir:
        return []
    read = {os.path.abspath(f.path) for f in inputs}
    ignored = []
    for folder, (_, patterns) in CHANNEL_DIRS.items():
        top = os.path.join(input_dir, folder)
        for root, directories, names in os.walk(top):
            directories.sort()
            for name in sorted(names):
                path = os.path.join(root, name)
                if os.path.abspath(path) in read or name.startswith("."):
                    continue
                display = os.path.relpath(path, input_dir)
                if not included(display, include):
                    continue
                if root != top:
                    reason = "in a sub-folder: only files directly in the channel folder are read"
                elif _outside(input_dir, path):
                    reason = "links to a file outside the input directory"
                else:
                    reason = f"not a {folder} file name ({', '.join(patterns)})"
                ignored.append({"path": display, "reason": reason})
    return ignored


def default_batch_id(input_dir: str, batch_date: dt.date) -> str:
    """Same input directory (however it is spelled: relative, absolute, through a link) and date -> same batch
    id, so a rerun replaces the lake files the earlier run wrote. The warehouse tables do not depend on it: they
    are upserted by key."""
    resolved = input_dir if "://" in input_dir else os.path.realpath(input_dir)
    digest = hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:8]
    return f"b{batch_date:%Y%m%d}-{digest}"


def default_shards(files: list[InputFile]) -> int:
    """One shard per ~32 MB of input, at least ``MIN_SHARDS``, at most ``MAX_SHARDS``."""
    total = sum(f.size for f in files)
    return max(MIN_SHARDS, min(MAX_SHARDS, total // BYTES_PER_SHARD + 1))
