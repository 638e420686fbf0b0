"""Model fixtures for tests: a small labelled data set made here, and a model directory that loads like a trained
one and fails on every complaint."""

from __future__ import annotations

import csv
import json
import operator
import random
from pathlib import Path

from beam_pipelines.generator import text as texts

POSITIVE = ["thank you, sorted now", "great support, all fixed", "love the quick help, thanks"]
NEGATIVE = ["this is terrible", "worst service ever", "absolutely useless and frustrating"]


def write_fixture(path, count=600, seed=5):
    """A labelled CSV (text, category, sentiment) of ``count`` generated complaints, categories imbalanced towards
    Network, for training and evaluating the models."""
    rng = random.Random(seed)
    categories = ["Network", "Billing", "Customer Service", "Other"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category", "sentiment"])
        for number in range(count):
            category = categories[number % 4] if number % 3 else "Network"  # an imbalanced majority
            sentiment = "positive" if rng.random() < 0.3 else "negative"
            tail = rng.choice(POSITIVE if sentiment == "positive" else NEGATIVE)
            writer.writerow([f"{texts.core_sentence(category, rng)}, {tail} #{number}", category, sentiment])


def broken_model_dir(path: Path) -> Path:
    """A model directory that ``complaints`` loads (a card, features and two classifiers over our labels) whose
    features raise ``TypeError`` on every text: a bug in a model, met by the enrich stage of every record."""
    import joblib
    from sklearn.dummy import DummyClassifier
    from sklearn.preprocessing import FunctionTransformer

    path.mkdir(parents=True, exist_ok=True)
    # a list of texts indexed by a string: TypeError, whatever the texts
    joblib.dump(FunctionTransformer(operator.itemgetter("no-such-column")), path / "features.joblib")
    joblib.dump(DummyClassifier().fit([[0], [0]], ["Network", "Billing"]), path / "category.joblib")
    joblib.dump(DummyClassifier().fit([[0], [0]], ["negative", "positive"]), path / "sentiment.joblib")
    (path / "model_card.json").write_text(
        json.dumps(
            {
                "version": "broken-features-1",
                "features": {"file": "features.joblib"},
                "models": {"category": {"file": "category.joblib"}, "sentiment": {"file": "sentiment.joblib"}},
            }
        )
    )
    return path
