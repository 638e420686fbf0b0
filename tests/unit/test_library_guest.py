"""A library is a guest in its host's process: importing the public transforms and building and running a
pipeline of them leaves the garbage collector, the exit hooks, ``sys.stderr`` and the signal handlers as they were.
Run in a fresh interpreter, so that nothing the test runner did before counts."""

import json
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


# -- the library stands alone: it imports nothing from the applications built on it ------------------------------
#: the library's packages (DESIGN.md: the transforms, the schemas they derive from, the models Enrich runs and the
#: warehouse tables WriteToWarehouse commits to) and the applications that use them: the pipelines and their CLI, the
#: serving application, the launch scripts and the ingestion edge (whose publishers take the library's topic
#: configurations, ``transforms/sources/transport.py``, never the other way round)
LIBRARY = ("transforms", "schemas", "models", "warehouse")
APPLICATIONS = ("beam_pipelines", "serving", "runners", "ingest")


def _imported_modules(path):
    """Every module an ``import`` or ``from ... import`` in the file names, at any depth (lazy imports too)."""
    import ast

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_no_library_module_imports_an_application_module_even_lazily():
    found = [
        f"{path.relative_to(REPO)} imports {module}"
        for package in LIBRARY
        for path in sorted((REPO / package).rglob("*.py"))
        for module in _imported_modules(path)
        if module.split(".")[0] in APPLICATIONS
    ]
    assert found == []


def test_a_public_api_pipeline_that_commits_loads_no_application_module(tmp_path):
    """On a small generated day (generated here: the generator is the CLI's), build and run a pipeline of
    ``transforms.__all__`` that writes the lake and the warehouse, the commit step, the quality guard and the run
    manifest included, in a fresh interpreter: not one module of the applications is loaded."""
    code = r"""
import json, sys
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from transforms import Clean, Dedupe, Enrich, ReadFromChannelFiles, ToRows, Validate, WriteToLake, WriteToWarehouse
from transforms.records import new_run_id

work = sys.argv[1]
assert not [name for name in sys.modules if name.split(".")[0] in APPLICATIONS], "loaded before the run"
run_id = new_run_id()
with beam.Pipeline(runner=FnApiRunner()) as pipeline:
    read = pipeline | ReadFromChannelFiles(work + "/in", run_id=run_id)
    in_lake = read.raw_batches | WriteToLake(work + "/out", run_id=run_id)
    enriched = read | Clean() | Validate() | Dedupe() | Enrich(customers=read.customers)
    enriched | WriteToWarehouse(work + "/out/warehouse", run_id=run_id, lake=in_lake)
    enriched | ToRows()
manifest = json.load(open(f"{work}/out/_runs/{run_id}.json"))
written = sum(counts.get("written", 0) for counts in manifest["counts"].values())
loaded = sorted(name for name in sys.modules if name.split(".")[0] in APPLICATIONS)
print(json.dumps({"status": manifest["status"], "written": written, "loaded": loaded}))
"""
    import datetime as dt

    from beam_pipelines.generator import generate

    generate(str(tmp_path / "in"), dt.date(2026, 11, 20), volume=40, seed=3, defect_rate=0.1)
    code = f"APPLICATIONS = {APPLICATIONS!r}\n" + code
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "succeeded" and outcome["written"] > 0
    assert outcome["loaded"] == []


def test_the_live_topics_configurations_have_one_home_the_library_and_the_edge_takes_them_without_beam():
    """The streaming readers' ``KafkaConfig``, ``PubSubConfig`` and ``TransportError`` are the library's; the
    ingestion edge's publishers use the very same classes (not copies), and importing them loads no Beam (the
    edge installs without it)."""
    code = (
        "import sys\n"
        "import ingest.transport as edge\n"
        "import transforms.sources.transport as library\n"
        "assert 'apache_beam' not in sys.modules, 'Beam imported'\n"
        "for name in ('KafkaConfig', 'PubSubConfig', 'TransportError', 'DEFAULT_TOPICS'):\n"
        "    assert getattr(edge, name) is getattr(library, name), name\n"
        "assert library.KafkaConfig.__module__ == 'transforms.sources.transport'\n"
        "import transforms.sources.live as live\n"
        "assert live.KafkaConfig is library.KafkaConfig and live.TransportError is library.TransportError\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
