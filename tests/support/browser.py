"""Debian's headless chromium for the browser tests (driven by Playwright, which downloads no browser of its own),
and where their screenshots go."""

import os
import shutil
from pathlib import Path

from tests.support.paths import REPO

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str | None:
    """The chromium to drive: ``COMPLAINTS_CHROMIUM``, else Debian's ``chromium`` on the PATH (None: not installed)."""
    return os.environ.get("COMPLAINTS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def artifacts_dir() -> Path:
    """Where screenshots go: ``COMPLAINTS_ARTIFACTS_DIR`` or ``test-artifacts/`` (kept by CI as artefacts)."""
    directory = Path(os.environ.get("COMPLAINTS_ARTIFACTS_DIR", REPO / "test-artifacts"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory
