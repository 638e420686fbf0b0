"""Model quality on the real labelled data, over several held-out splits, with a learning curve.

    python benchmarks/model_quality.py [--data ../shared/data/real] [--seeds 1,2,3,4,13] [--fractions 0.25,0.5,1]

For each seed it makes the same 20% near-duplicate-group split as ``complaints model train --seed``, trains the recipe
of ``models/training.py`` on a fraction of the training groups and prints held-out macro-F1 on each dataset's
rows. One split of UK tweets holds only about 20 positive ones, so a single seed moves sentiment by ±0.05: read
the mean. The learning curve (fractions below 1) says how much more labelled data would buy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.datasets import load_known_datasets
from models.training import TARGETS, evaluate_held_out, fit_models, split


def subsample_groups(examples, fraction: float, seed: int):
    if fraction >= 1:
        return examples
    groups = sorted({e.group for e in examples})
    keep = set(np.random.default_rng(seed).permutation(groups)[: int(len(groups) * fraction)])
    return [e for e in examples if e.group in keep]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared/data/real"))
    parser.add_argument("--seeds", default="1,2,3,4,13")
    parser.add_argument("--fractions", default="1")
    args = parser.parse_args()
    examples = load_known_datasets(args.data)
    seeds = [int(s) for s in args.seeds.split(",")]
    datasets = sorted({e.dataset for e in examples})
    print(f"{len(examples)} labelled examples from {', '.join(datasets)}; seeds {seeds}")
    print("| training share | " + " | ".join(f"{t}, {d}" for t in TARGETS for d in datasets) + " |")
    print("|---" * (1 + len(TARGETS) * len(datasets)) + "|")
    for fraction in (float(f) for f in args.fractions.split(",")):
        started = time.monotonic()
        scores = {(t, d): [] for t in TARGETS for d in datasets}
        for seed in seeds:
            train_set, test_set = split(examples, seed)
            features, heads = fit_models(subsample_groups(train_set, fraction, seed), seed)
            for target in TARGETS:
                for dataset, f1 in evaluate_held_out(features, heads[target], test_set, target)[
                    "held_out_macro_f1_by_dataset"
                ].items():
                    scores[(target, dataset)].append(f1)
        cells = [f"{statistics.mean(v):.3f} ({min(v):.3f}-{max(v):.3f})" if v else "-" for v in scores.values()]
        print(
            f"| {0.8 * fraction:.0%} | " + " | ".join(cells) + f" |  ({time.monotonic() - started:.0f} s)", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
