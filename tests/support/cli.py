"""The ``complaints`` command as a user runs it, and the run manifest it leaves."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO


def run_cli(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the installed ``complaints`` command as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "beam_pipelines", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def latest_manifest(output_dir: Path) -> dict:
    """The run manifest (``OUTPUT/_runs/*.json``) written last."""
    manifests = sorted((output_dir / "_runs").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(manifests[-1].read_text())
