"""CPython's cyclic garbage collector, set for record-heavy work.

A batch holds hundreds of thousands of small dicts, lists and datetimes at once. With CPython's default
thresholds (a young-generation pass every 700 net allocations) the collector walks that growing heap again and
again although records hold no reference cycles: at 100k complaints it took 40% of the plain loop's time
(``benchmarks/plain_loop.py``: 23.6 s with the defaults, 14.3 s with the thresholds below, the same as with the
collector off). Reference counting still frees every record the moment it is dropped; only cycles wait longer.
"""
from __future__ import annotations

import atexit
import gc
import sys

#: a young-generation pass every 50,000 allocations, a full pass every 50 * 20 of those (defaults: 700, 10, 10)
RECORD_WORK_THRESHOLDS = (50_000, 20, 50)


def relax_for_record_work() -> None:
    """Raise the collector's thresholds for this process; idempotent. Every worker process runs the outcome DoFns
    of ``transforms/outcomes.py`` (parsing, cleaning, validation), whose ``setup`` calls this.
    It also skips the collections at exit (``skip_collections_at_exit``). A ``gc.freeze`` now, rather than at
    exit, would add nothing measurable and would pin every object alive at this moment for the life of the
    process, which in a test runner or a server is everything."""
    gc.set_threshold(*RECORD_WORK_THRESHOLDS)
    skip_collections_at_exit()


_skipping_at_exit = False


def skip_collections_at_exit() -> None:
    """Spare this process the collector's passes at exit; idempotent.

    When the interpreter shuts down, CPython runs full collections over every object still alive: every module
    of Beam, gRPC, pyarrow and pyiceberg. That took 0.9 s at the end of each ``complaints`` command and 0.5-1 s
    for each Beam worker process (the launcher waits for its workers one after the other), whatever the size of
    the run. ``gc.freeze`` as the last thing before shutdown moves those objects out of the collector's reach;
    they are freed by reference counting as modules are cleared, and the process's memory is returned whole.
    A process that loaded DuckDB keeps the passes: its bindings (nanobind) report every object still alive at
    exit as a leak, on stderr."""
    global _skipping_at_exit
    if not _skipping_at_exit:
        atexit.register(_freeze_unless_duckdb)
        _skipping_at_exit = True


def _freeze_unless_duckdb() -> None:
    if "duckdb" not in sys.modules:
        gc.freeze()
