"""CPython's cyclic garbage collector, set for record-heavy work, when the process's owner asks for it.

A batch holds hundreds of thousands of small dicts, lists and datetimes at once. With CPython's default
thresholds (a young-generation pass every 700 net allocations) the collector walks that growing heap again and
again although records hold no reference cycles: at 100k complaints it took 40% of the plain loop's time
(``benchmarks/plain_loop.py``: 23.6 s with the defaults, 14.3 s with the thresholds below, the same as with the
collector off). Reference counting still frees every record the moment it is dropped; only cycles wait longer.

A library does not retune its host's collector: nothing here runs on import or from a transform unless asked.
The ``complaints`` CLI asks (``ask_workers_to_tune``: it tunes its own process and sets
``COMPLAINTS_WORKER_GC_TUNING=1``, which the local runner's worker processes inherit); a worker pool that should
do the same sets that variable in its environment (the local Flink cluster's does, ``runners/local_services.py``).
A program of its own that composes our transforms can call ``relax_for_record_work()`` itself, or set the variable
for its workers.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys

#: a young-generation pass every 50,000 allocations, a full pass every 50 * 20 of those (defaults: 700, 10, 10)
RECORD_WORK_THRESHOLDS = (50_000, 20, 50)


#: set to ``1`` in a worker's environment, the record DoFns' ``setup`` tunes that worker's collector
WORKER_TUNING_VARIABLE = "COMPLAINTS_WORKER_GC_TUNING"


def tune_worker_if_asked() -> bool:
    """What the record DoFns' ``setup`` calls (``transforms/outcomes.py``): tune this process for record work only
    when its environment asks (``COMPLAINTS_WORKER_GC_TUNING=1``); returns whether it did."""
    if os.environ.get(WORKER_TUNING_VARIABLE) != "1":
        return False
    relax_for_record_work()
    return True


def ask_workers_to_tune() -> None:
    """For a program that owns its process (the CLI): tune this process, and ask the worker processes it starts
    (which inherit its environment) to tune themselves."""
    os.environ[WORKER_TUNING_VARIABLE] = "1"
    relax_for_record_work()


def relax_for_record_work() -> None:
    """Raise the collector's thresholds for this process; idempotent. An explicit choice of the process's owner
    (``ask_workers_to_tune``, ``tune_worker_if_asked``): no library code calls it on its own.
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
