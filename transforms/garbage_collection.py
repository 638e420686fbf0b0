"""CPython's cyclic garbage collector, set for record-heavy work.

A batch holds hundreds of thousands of small dicts, lists and datetimes at once. With CPython's default
thresholds (a young-generation pass every 700 net allocations) the collector walks that growing heap again and
again although records hold no reference cycles: at 100k complaints it took 40% of the plain loop's time
(``benchmarks/plain_loop.py``: 23.6 s with the defaults, 14.3 s with the thresholds below, the same as with the
collector off). Reference counting still frees every record the moment it is dropped; only cycles wait longer.
"""
from __future__ import annotations

import gc

#: a young-generation pass every 50,000 allocations, a full pass every 50 * 20 of those (defaults: 700, 10, 10)
RECORD_WORK_THRESHOLDS = (50_000, 20, 50)


def relax_for_record_work() -> None:
    """Raise the collector's thresholds for this process; idempotent. Every worker process runs the outcome DoFns
    of ``transforms/outcomes.py`` (parsing, cleaning, validation), whose ``setup`` calls this.
    (``gc.freeze`` would add nothing measurable here, and would pin every object alive at that moment for the
    life of the process, which in a test runner or a server is everything.)"""
    gc.set_threshold(*RECORD_WORK_THRESHOLDS)
