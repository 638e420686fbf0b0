"""A library is a guest in its host's process: importing the public transforms and building and running a
pipeline of them leaves the garbage collector, the exit hooks, ``sys.stderr`` and the signal handlers as they were.
Run in a fresh interpreter, so that nothing the test runner did before counts."""

import subprocess
import sys

from tests.support.paths import REPO

PROBE = r"""
import atexit, gc, json, os, signal, sys
os.environ.pop("COMPLAINTS_WORKER_GC_TUNING", None)

def state():
    return {"thresholds": gc.get_threshold(), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
            "exit_hooks": atexit._ncallbacks(), "stderr": id(sys.stderr),
            "signals": {name: repr(signal.getsignal(getattr(signal, name))) for name in ("SIGINT", "SIGTERM")},
            "our_exit_hook": getattr(sys.modules.get("transforms.garbage_collection"), "_skipping_at_exit", False),
            "worker_tuning_asked": os.environ.get("COMPLAINTS_WORKER_GC_TUNING")}

before = state()
import datetime as dt, tempfile
import transforms, transforms.outcomes, transforms.cleaning, transforms.validation, transforms.sinks
from transforms import *  # every public name, loaded
from beam_pipelines.batch import plan_batch, run_batch
from beam_pipelines.config import load_settings
from beam_pipelines.generator import generate
after_import = state()

work = tempfile.mkdtemp()
generate(work + "/in", dt.date(2026, 11, 20), volume=40, seed=3, defect_rate=0.1)
settings = load_settings("dev")
plan = plan_batch(work + "/in", work + "/out", settings, batch_date=dt.date(2026, 11, 20),
                  beam_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"])
manifest = run_batch(plan, settings)
assert manifest["status"] == "succeeded" and manifest["counts"]["twitter"]["written"] > 0, manifest["status"]
# and a pipeline composed only of the public API, typed rows included
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
with beam.Pipeline(runner=FnApiRunner()) as pipeline:
    read = pipeline | ReadFromChannelFiles(work + "/in")
    rows = (read | Clean() | Validate() | Dedupe() | Enrich(customers=read.customers) | ToRows()
            | beam.GroupBy("category").aggregate_field("complaint_id", beam.combiners.CountCombineFn(), "n"))
after_run = state()
# the runner's own exit hooks are Beam's and gRPC's, not ours: compare the collector, stderr and the signals
for moment in (before, after_import, after_run):
    moment.pop("exit_hooks")
print(json.dumps({"before": before, "after_import": after_import, "after_run": after_run}))
"""


def test_importing_and_running_our_transforms_changes_nothing_process_wide():
    import json

    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    states = json.loads(result.stdout.strip().splitlines()[-1])
    assert states["after_import"] == states["before"]
    assert states["after_run"] == states["before"]


def test_importing_the_package_or_its_beam_free_modules_imports_no_beam():
    """``import transforms`` is cheap and Beam-free (the public names load on first use), so the web-form
    endpoint, which imports ``transforms.cleaning``, stays without Beam; a public name loads its module."""
    code = (
        "import sys\n"
        "import transforms, transforms.cleaning, transforms.validation\n"
        "assert 'apache_beam' not in sys.modules, 'Beam imported'\n"
        "assert set(transforms.__all__) <= set(dir(transforms))\n"
        "from transforms import Clean\n"
        "assert 'apache_beam' in sys.modules and Clean.__module__ == 'transforms.stages'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_a_worker_tunes_its_collector_only_when_its_environment_asks():
    code = (
        "import gc, os\n"
        "from transforms.garbage_collection import RECORD_WORK_THRESHOLDS, tune_worker_if_asked\n"
        "os.environ.pop('COMPLAINTS_WORKER_GC_TUNING', None)\n"
        "assert not tune_worker_if_asked() and gc.get_threshold() != RECORD_WORK_THRESHOLDS\n"
        "os.environ['COMPLAINTS_WORKER_GC_TUNING'] = '1'\n"
        "assert tune_worker_if_asked() and gc.get_threshold() == RECORD_WORK_THRESHOLDS\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
