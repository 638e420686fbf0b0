"""Batch benchmark: end-to-end throughput (raw records/s) and peak memory of ``complaints batch`` on the
DirectRunner, beside the floor (benchmarks/floor.py: read, parse and write back every record, nothing else) and
the same record functions in a plain single-process loop (benchmarks/plain_loop.py).

    python benchmarks/batch_throughput.py --records 100000 [--records 1000000] [--workers 2]
    python benchmarks/batch_throughput.py --records 100000 --model-dir MODELS --repeat 3
    python benchmarks/batch_throughput.py --records 100000 --train-model      # what `make benchmark` runs

The pipeline runs twice into the same output: into empty Iceberg tables, then again over the same day (a rerun:
every row is replaced by upsert). ``commit`` reports the seconds each run spent committing (the run manifest's
``committed_at`` minus ``finished_at``): the only step that differs from the plain-Parquet warehouse of 0.1,
whose commit was a rename per file; ``upsert_cost`` is the rerun's commit as a share of its end-to-end time.

With ``--model-dir`` the pipeline also runs with the trained models (``complaints model train``), alternating with the
rules model ``--repeat`` times, and ``enrichment_cost`` is the share of throughput the models cost (medians);
``--train-model`` first trains models as the README does, on the shared real data (``../shared/data/real``,
1-3 minutes; the generated truth has no sentiment labels).
With ``--flink`` the same day also runs on the local Flink cluster (``runners/local_services.py start``) at
parallelism 1 and 2, and at 2 with ``--sdk_worker_parallelism=2`` (a Python worker per slot); ``p2_vs_p1`` and
``p2_sdk2_vs_p1`` are the speed-ups.
Each command runs as a child process; peak memory is the largest total RSS of its process tree (sampled every
0.1 s from /proc), so the pipeline's worker processes are counted, and ``cpu_seconds`` is the CPU time of the
whole tree. ``beam_cpu_seconds`` is the pipeline's CPU beyond the plain loop's: what Beam itself costs for the
same record work. The pipeline also runs on a day of 1,000 complaints (``small_day``): its time is what any run
costs with worker processes, and ``marginal_records_per_s`` is the rate beyond it; ``one_process_seconds`` is
the same day as ``complaints batch`` runs it by default, in one process (``[pipeline] single_process_below_mb``).
Every other run gives the pipeline its workers explicitly. ``beam_floor`` (benchmarks/beam_floor.py) is the
floor's work in the pipeline's shape on the same runner and workers: Beam's own cost measured, no record logic;
``beam_floor_in_process`` the same in the DirectRunner's one-process mode. Results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runners import local_services

DATE = "2026-11-20"
REAL_DATA = REPO.parent / "shared" / "data" / "real"  # beside the repository, never in it


def _tree_rss(pid: int) -> int:
    """Total resident memory (bytes) of ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def _children_cpu() -> float:
    """CPU seconds (user + system) of every child process reaped so far, with the children they reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str]) -> dict:
    cpu_before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed: {stderr.strip().splitlines()[-1:]}")
    return {
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(_children_cpu() - cpu_before, 2),
        "peak_rss_mb": round(peak / 2**20, 1),
        "stdout": stdout,
    }


SMALL_DAY = 1_000  # complaints in the day that measures a run's fixed cost

#: the local Flink cluster of runners/local_services.py, on the ports it was started with (its workers are the
#: pool's, not this process's children, so only time is measured there)
FLINK = local_services.flink_submit_options()


def bench(
    records: int,
    workers: int,
    keep: bool,
    model_dir: str | None = None,
    repeat: int = 1,
    flink: bool = False,
    train_model: bool = False,
) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-{records}-"))
    python = sys.executable

    def generate(directory: str, volume: int) -> int:
        """A generated day of ``volume`` complaints; returns its raw channel records."""
        subprocess.run(
            [
                python,
                "-m",
                "beam_pipelines",
                "generate",
                "day",
                "--output-dir",
                str(work / directory),
                "--date",
                DATE,
                "--volume",
                str(volume),
                "--seed",
                "1",
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        truth = json.loads((work / directory / "_truth" / "expected_counts.json").read_text())["expected"]
        return sum(c["read"] for s, c in truth.items() if s != "customers")

    try:
        raw = generate("in", records)
        floor = measure(
            [python, "benchmarks/floor.py", "--input-dir", str(work / "in"), "--output-dir", str(work / "floor")]
        )
        # Beam's floor: the floor's work in the pipeline's shape on the same runner, so what Beam itself costs is
        # measured rather than inferred; once as the pipeline runs, once in one process (the runner's cheapest mode)
        beam_floor = {
            mode: measure(
                [
                    python,
                    "benchmarks/beam_floor.py",
                    "--input-dir",
                    str(work / "in"),
                    "--output-dir",
                    str(work / f"beam-floor-{mode}"),
                    "--workers",
                    str(workers),
                    "--mode",
                    mode,
                ]
            )
            for mode in ("multi_processing", "in_memory")
        }
        loop = measure(
            [
                python,
                "benchmarks/plain_loop.py",
                "--input-dir",
                str(work / "in"),
                "--output-dir",
                str(work / "loop"),
                "--date",
                DATE,
            ]
        )

        def run_pipeline(output: str, *extra: str, input_dir: str = "in", workers_as_given: bool = True) -> dict:
            local = [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
            return measure(
                [
                    python,
                    "-m",
                    "beam_pipelines",
                    "batch",
                    "--input-dir",
                    str(work / input_dir),
                    "--output-dir",
                    str(work / output),
                    "--date",
                    DATE,
                    "--quiet",
                    *extra,
                    *(local if workers_as_given else []),
                ]
            )

        pipeline = run_pipeline("out")
        rerun = run_pipeline("out")
        # the same pipeline on a day of SMALL_DAY complaints: what a run costs whatever its size (start-up of the
        # launcher and workers, graph, commit, shutdown), so that the cost per record can be told apart from it
        small_raw = generate("in-small", SMALL_DAY)
        small = run_pipeline("out-small", input_dir="in-small")
        # and as `complaints batch` runs it by default: a day that small runs in one process (single_process_below_mb)
        small_default = run_pipeline("out-small-default", input_dir="in-small", workers_as_given=False)
        commits = [
            round(
                dt.datetime.fromisoformat(m["committed_at"]).timestamp()
                - dt.datetime.fromisoformat(m["finished_at"]).timestamp(),
                2,
            )
            for m in sorted(
                (json.loads(p.read_text()) for p in (work / "out" / "_runs").glob("*.json")),
                key=lambda m: m["started_at"],
            )
        ]

        def step(measured: dict) -> dict:
            return {
                "seconds": measured["seconds"],
                "records_per_s": round(raw / measured["seconds"]),
                "peak_rss_mb": measured["peak_rss_mb"],
                "cpu_seconds": measured["cpu_seconds"],
            }

        result = {
            "complaints": records,
            "raw_records": raw,
            "workers": workers,
            "pipeline": step(pipeline),
            "plain_loop": step(loop),
            "floor": step(floor),
            "rerun": step(rerun),
            "beam_floor": step(beam_floor["multi_processing"]),
            "beam_floor_in_process": step(beam_floor["in_memory"]),
        }
        # Beam's own cost: the CPU the pipeline's processes spent beyond what the same record work took in one
        # plain process, and how much of it is fixed (the small day's run) rather than per record
        result["beam_cpu_seconds"] = round(pipeline["cpu_seconds"] - loop["cpu_seconds"], 2)
        result["small_day"] = {
            "complaints": SMALL_DAY,
            "raw_records": small_raw,
            "seconds": small["seconds"],
            "cpu_seconds": small["cpu_seconds"],
            "one_process_seconds": small_default["seconds"],
        }
        beyond = pipeline["seconds"] - small["seconds"]  # not positive for a day hardly bigger than the small one
        result["marginal_records_per_s"] = round((raw - small_raw) / beyond) if beyond > 0 else None
        result["pipeline_vs_floor"] = round(result["pipeline"]["records_per_s"] / result["floor"]["records_per_s"], 3)
        result["pipeline_vs_beam_floor"] = round(
            result["pipeline"]["records_per_s"] / result["beam_floor"]["records_per_s"], 3
        )
        result["pipeline_vs_loop"] = round(
            result["pipeline"]["records_per_s"] / result["plain_loop"]["records_per_s"], 2
        )
        result["commit"] = {"into_empty_seconds": commits[0], "rerun_seconds": commits[1]}
        result["upsert_cost"] = round(commits[1] / rerun["seconds"], 3)
        if flink:
            runs = {}
            # a TaskManager runs one Python SDK worker per environment unless --sdk_worker_parallelism says more:
            # "p2" shares one Python process between its two slots, "p2_sdk2" gives each slot its own
            for name, flags in (
                ("p1", ["--parallelism=1"]),
                ("p2", ["--parallelism=2"]),
                ("p2_sdk2", ["--parallelism=2", "--sdk_worker_parallelism=2"]),
            ):
                seconds = measure(
                    [
                        python,
                        "-m",
                        "beam_pipelines",
                        "batch",
                        "--input-dir",
                        str(work / "in"),
                        "--output-dir",
                        str(work / f"flink-{name}"),
                        "--date",
                        DATE,
                        "--quiet",
                        *FLINK,
                        *flags,
                    ]
                )["seconds"]
                runs[name] = {"seconds": seconds, "records_per_s": round(raw / seconds)}
            runs["p2_vs_p1"] = round(runs["p1"]["seconds"] / runs["p2"]["seconds"], 2)
            runs["p2_sdk2_vs_p1"] = round(runs["p1"]["seconds"] / runs["p2_sdk2"]["seconds"], 2)
            result["flink"] = runs
        if train_model:
            model_dir = str(work / "models")
            subprocess.run(
                [python, "-m", "beam_pipelines", "model", "train", "--data", str(REAL_DATA), "--output-dir", model_dir],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
        if model_dir:
            rules_seconds, model_seconds = [pipeline["seconds"]], []
            for attempt in range(repeat):
                model_seconds.append(run_pipeline(f"out-model-{attempt}", "--model-dir", model_dir)["seconds"])
                if attempt + 1 < repeat:
                    rules_seconds.append(run_pipeline(f"out-rules-{attempt}")["seconds"])
            rules, model = statistics.median(rules_seconds), statistics.median(model_seconds)
            result["with_model"] = {
                "model_dir": model_dir,
                "rules_seconds": rules_seconds,
                "model_seconds": model_seconds,
                "records_per_s": round(raw / model),
            }
            result["enrichment_cost"] = round(1 - rules / model, 3)
        return result
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def summary(run: dict) -> str:
    """One run as a table for people: seconds, raw records/s and peak memory of each step, and the ratios."""
    lines = [
        f"{run['complaints']:,} complaints, {run['raw_records']:,} raw records, {run['workers']} workers",
        f"{'':34}{'seconds':>9}{'records/s':>11}{'peak MB':>9}{'CPU s':>8}",
    ]
    steps = [
        ("floor (read, parse, write back)", run["floor"]),
        (f"Beam's floor ({run['workers']} workers)", run["beam_floor"]),
        ("Beam's floor (in one process)", run["beam_floor_in_process"]),
        ("plain loop (record functions)", run["plain_loop"]),
        ("pipeline, rules model", run["pipeline"]),
        ("pipeline rerun (upsert)", run["rerun"]),
    ]
    for label, step in steps:
        lines.append(
            f"{label:34}{step['seconds']:>9.1f}{step['records_per_s']:>11,}{step['peak_rss_mb']:>9,.0f}"
            f"{step['cpu_seconds']:>8.1f}"
        )
    if "small_day" in run:
        small = run["small_day"]
        lines.append(
            f"{'pipeline, ' + format(small['complaints'], ',') + ' complaints':34}{small['seconds']:>9.1f}"
            f"{'':>11}{'':>9}{small['cpu_seconds']:>8.1f}"
        )
        lines.append(f"{'  the same in one process (default)':34}{small['one_process_seconds']:>9.1f}")
        marginal = run["marginal_records_per_s"]
        lines.append(
            f"Beam's own CPU (pipeline - plain loop): {run['beam_cpu_seconds']:.1f} s;   per record beyond "
            f"the small day's fixed cost: "
            + (f"{marginal:,} raw records/s" if marginal else "not measurable (the day is too small)")
        )
    if "with_model" in run:
        model = run["with_model"]
        seconds = statistics.median(model["model_seconds"])
        lines.append(f"{'pipeline, trained models':34}{seconds:>9.1f}{model['records_per_s']:>11,}")
        lines.append(f"enrichment cost of the trained models: {run['enrichment_cost']:.1%} of throughput")
    lines.append(
        f"pipeline / plain loop: {run['pipeline_vs_loop']:.2f}   pipeline / floor: {run['pipeline_vs_floor']:.1%}"
        f"   pipeline / Beam's floor: {run['pipeline_vs_beam_floor']:.1%}"
        f"   commit: {run['commit']['into_empty_seconds']} s, rerun {run['commit']['rerun_seconds']} s"
    )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description="batch throughput and memory against a plain loop")
    parser.add_argument("--records", type=int, action="append", help="complaints to generate (repeatable)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the generated input and outputs")
    parser.add_argument("--model-dir", help="also run with these trained models and report their cost")
    parser.add_argument(
        "--train-model", action="store_true", help="train models on ../shared/data/real first and report their cost"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs with and without the models (medians)")
    parser.add_argument(
        "--flink",
        action="store_true",
        help="also on the local Flink cluster at parallelism 1 and 2 (local_services.py start)",
    )
    args = parser.parse_args()
    if args.train_model and not REAL_DATA.is_dir():
        parser.error(f"--train-model trains on the shared real data, not found at {REAL_DATA}; use --model-dir")
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "runs": [],
    }
    for records in args.records or [100_000]:
        # the pipelines run from the repository root, so a model directory given relative to here is resolved first
        model_dir = str(Path(args.model_dir).resolve()) if args.model_dir else None
        run = bench(records, args.workers, args.keep, model_dir, args.repeat, args.flink, args.train_model)
        results["runs"].append(run)
        print(json.dumps(run), flush=True)
        print(summary(run), flush=True)
    out = REPO / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"batch_{dt.datetime.now():%Y%m%dT%H%M%S}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
