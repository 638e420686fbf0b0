"""Run ids: the one way every run, batch or stream, reprocessing or erasure, is named.

A run id is stamped on every row a run writes, in its snapshots' summaries and on its manifest; it sorts by start
time and is unique without a coordinator: ``20261202T133629Z-96bc5e`` (UTC start to the second, then 24 random
bits). Flink lower-cases job names; ``runners/flink_supervisor.py`` gives such an id its capitals back.
"""

from __future__ import annotations

import datetime as dt
import secrets


def new_run_id(started_at: dt.datetime | None = None) -> str:
    """A new run id for a run started at ``started_at`` (default now, UTC)."""
    started_at = started_at or dt.datetime.now(dt.UTC)
    return f"{started_at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
