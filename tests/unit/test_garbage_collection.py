import gc
import subprocess
import sys
from pathlib import Path

from transforms.garbage_collection import RECORD_WORK_THRESHOLDS, relax_for_record_work

REPO = Path(__file__).resolve().parents[2]


def test_record_work_raises_the_thresholds_and_leaves_the_collector_on():
    before = gc.get_threshold()
    try:
        relax_for_record_work()
        assert gc.get_threshold() == RECORD_WORK_THRESHOLDS and gc.isenabled()
    finally:
        gc.set_threshold(*before)


def test_a_process_that_did_record_work_freezes_its_objects_once_as_it_exits_and_not_before():
    # atexit runs handlers last-registered first: this probe, registered before, sees what the freeze left
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('at exit', gc.get_freeze_count() > 0, gc.isenabled()))\n"
        "from transforms.garbage_collection import relax_for_record_work, skip_collections_at_exit\n"
        "relax_for_record_work(); skip_collections_at_exit(); relax_for_record_work()\n"
        "print('while running', gc.get_freeze_count())\n"
        "print('handlers', atexit._ncallbacks())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["while running 0", "handlers 2", "at exit True True"]


def test_a_process_that_loaded_duckdb_is_left_to_collect_as_usual_so_its_bindings_report_no_leaks():
    code = (
        "import duckdb\n"
        "duckdb.connect().execute('select 1').fetchall()\n"
        "from transforms.garbage_collection import skip_collections_at_exit\n"
        "skip_collections_at_exit()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert "leaked" not in result.stderr
