"""Per-record cost of the hottest record functions, on real text: the rules model (phrase matching, sentiment,
priority) and phone normalisation, in microseconds per item, best of ``--repeat`` runs.

    python benchmarks/record_functions.py                       # the shared UK mobile tweets, 3 copies
    python benchmarks/record_functions.py --texts FILE.csv --column text

Compare two versions of the code by running it on each in one session: the machine's speed varies by day.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.rules import RulesModel
from transforms.cleaning import normalise_phone

DEFAULT_TEXTS = REPO.parent / "shared" / "data" / "real" / "uk_mobile_tweets" / "uk_mobile_tweets.csv"


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", default=str(DEFAULT_TEXTS), help="CSV of complaint texts")
    parser.add_argument("--column", default="Tweet Text")
    parser.add_argument("--copies", type=int, default=3, help="how many times the texts are repeated")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with open(args.texts, newline="", encoding="utf-8", errors="replace") as handle:
        texts = [row[args.column] for row in csv.DictReader(handle) if row.get(args.column)]
    complaints = [{"text": text, "subject": None} for text in texts] * args.copies
    model = RulesModel()
    model.predict(complaints[:100])
    seconds = best_of(args.repeat, lambda: model.predict(complaints))
    print(f"rules model: {seconds / len(complaints) * 1e6:.1f} us per complaint ({len(complaints):,} texts)")

    rng = random.Random(1)
    nigerian = [
        f"0{rng.choice('789')}{rng.choice('01')}{rng.randrange(10)} {rng.randrange(1000):03d} "
        f"{rng.randrange(10000):04d}"
        for _ in range(20000)
    ]
    foreign = [f"+44 20 {rng.randrange(10000):04d} {rng.randrange(10000):04d}" for _ in range(5000)]
    for label, numbers in (("Nigerian mobile", nigerian), ("other (libphonenumber)", foreign)):
        normalise_phone.cache_clear()
        seconds = best_of(1, lambda numbers=numbers: [normalise_phone(number) for number in numbers])
        print(f"phone normalisation, {label}: {seconds / len(numbers) * 1e6:.1f} us per new number")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
