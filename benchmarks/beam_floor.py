"""Beam's floor: the floor's work (benchmarks/floor.py: read, parse, write back as Parquet) in the batch
pipeline's shape on the same runner, with none of our record logic. What is left is Beam's own cost for this
input: no pipeline of that shape on that runner can beat it, whatever the record functions cost.

The shape is ``complaints batch``'s: the list of files is spread over the workers, each file is read and parsed
in one step that sorts its records into shards and emits one pickled list per shard, one shuffle groups the
shards, and a second step writes each shard as a Parquet file; the counts meet in one sum at the end.

    python benchmarks/beam_floor.py --input-dir DIR --output-dir OUT [--workers 2] [--mode in_memory] [--shards N]
    python benchmarks/beam_floor.py --input-dir DIR --output-dir OUT --runner prism
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
import zlib
from pathlib import Path

import apache_beam as beam
import orjson
from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines.cli.common import positive
from runners.options import RunnerSetupError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import CHANNELS, parse_file  # beside this file; the workers find it through PYTHONPATH

# shards sized as beam_pipelines/batch.py sizes them (a test keeps them equal); importing the pipeline's module
# here would add its 0.6 s of imports to the floor
BYTES_PER_SHARD = 32 * 1024 * 1024
MIN_SHARDS = 8


def channel_files(input_dir: str) -> list[str]:
    return [
        str(path)
        for folder, suffixes in CHANNELS.items()
        for path in sorted(Path(input_dir, folder).glob("*"))
        if path.name.endswith(suffixes)
    ]


def default_shards(files: list[str]) -> int:
    total = sum(os.path.getsize(path) for path in files)
    return max(MIN_SHARDS, min(256, total // BYTES_PER_SHARD + 1))


def parse_into_shards(path: str, shards: int):
    """One file -> (shard, pickled list of its records in that shard), one pair per shard it touches."""
    by_shard: dict[int, list[dict]] = {}
    for record in parse_file(Path(path)):
        by_shard.setdefault(zlib.crc32((record["raw"] or record["fields"]).encode()) % shards, []).append(record)
    for shard, records in by_shard.items():
        yield shard, pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)


def write_shard(shard: int, lists, output_dir: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [record for data in lists for record in pickle.loads(data)]
    pq.write_table(
        pa.Table.from_pylist(records), os.path.join(output_dir, f"shard-{shard:03d}.parquet"), compression="snappy"
    )
    return len(records)


def runner_options(runner: str, workers: int, mode: str) -> PipelineOptions:
    """The DirectRunner (FnApiRunner) in ``mode`` with ``workers``, or Prism with its Python worker in this
    process (LOOPBACK), as ``complaints stream run`` runs it."""
    if runner == "prism":
        from runners.options import prism_location

        return PipelineOptions(
            ["--runner=PrismRunner", f"--prism_location={prism_location()}", "--environment_type=LOOPBACK"]
        )
    workers = 1 if mode == "in_memory" else workers  # one process has one worker
    return PipelineOptions([f"--direct_num_workers={workers}", f"--direct_running_mode={mode}"])


def run(
    input_dir: str,
    output_dir: str,
    workers: int,
    shards: int | None = None,
    mode: str = "multi_processing",
    runner: str = "direct",
) -> dict:
    options = runner_options(runner, workers, mode)
    files = channel_files(input_dir)
    shards = shards or default_shards(files)
    os.makedirs(output_dir, exist_ok=True)
    # the workers are new processes: they import ``floor`` from beside this file
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")])
    )
    counts = os.path.join(output_dir, "_count.json")
    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | "ListInputFiles" >> beam.Create(files)
            | "SpreadInputFiles" >> beam.Reshuffle()
            | "ReadIntoShards" >> beam.FlatMap(parse_into_shards, shards)
            | "GroupIntoShards" >> beam.GroupByKey()
            | "WriteShards" >> beam.Map(lambda shard: write_shard(*shard, output_dir))
            | "Sum" >> beam.CombineGlobally(sum)
            | "WriteCount" >> beam.Map(lambda read: Path(counts).write_bytes(orjson.dumps({"read": read})))
        )
    return {"read": orjson.loads(Path(counts).read_bytes())["read"], "shards": shards, "files": len(files)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument(
        "--runner",
        choices=["direct", "prism"],
        default="direct",
        help="direct (default: FnApiRunner, --workers and --mode apply) or prism (the one `python "
        "runners/local_services.py fetch` builds)",
    )
    parser.add_argument("--workers", type=positive, default=2)
    parser.add_argument(
        "--mode",
        default="multi_processing",
        choices=["multi_processing", "in_memory"],
        help="the DirectRunner's running mode (default: the one the batch benchmark gives the pipeline)",
    )
    parser.add_argument("--shards", type=positive, help="default: as the batch pipeline, one per 32 MB, at least 8")
    args = parser.parse_args()
    if not channel_files(args.input_dir):
        parser.error(f"no channel files under {args.input_dir}")
    started = time.perf_counter()
    try:
        result = run(args.input_dir, args.output_dir, args.workers, args.shards, args.mode, args.runner)
    except RunnerSetupError as error:
        sys.exit(f"beam_floor.py: {error}")
    result["seconds"] = round(time.perf_counter() - started, 2)
    print(orjson.dumps(result).decode())
