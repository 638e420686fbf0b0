"""Publishing a local file or folder atomically, for commands that should not import Beam.

The content is written beside its target under a hidden name (``.tmp-...``, which the warehouse readers skip),
then renamed into place: a reader sees the old version or the new one, never half of one, and a failed write
leaves nothing behind. Pipeline outputs do the same through Beam's FileSystems (``transforms/windowed_sinks.py``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def published(target: Path, folder: bool = False) -> Iterator[Path]:
    """Yield a hidden path to write ``target``'s content to (an empty folder when ``folder``); on success it
    replaces ``target``, on failure it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    hidden = target.parent / f".tmp-{uuid.uuid4().hex[:12]}-{target.name}"
    if folder:
        hidden.mkdir()
    try:
        yield hidden
        if folder and target.exists():
            shutil.rmtree(target)
        os.replace(hidden, target)
    finally:
        if hidden.is_dir():
            shutil.rmtree(hidden)
        elif hidden.exists():
            hidden.unlink()
