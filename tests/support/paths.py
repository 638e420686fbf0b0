"""Where the tests find the repository and the real public data."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# the real data beside the repository (a worktree elsewhere names it with COMPLAINTS_REAL_DATA)
SHARED_REAL = Path(os.environ.get("COMPLAINTS_REAL_DATA") or REPO.parent / "shared" / "data" / "real")
