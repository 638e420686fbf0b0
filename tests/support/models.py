"""Model directories for tests: one that loads like a trained one and fails on every complaint."""
from __future__ import annotations

import json
import operator
from pathlib import Path


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
    (path / "model_card.json").write_text(json.dumps({
        "version": "broken-features-1", "features": {"file": "features.joblib"},
        "models": {"category": {"file": "category.joblib"}, "sentiment": {"file": "sentiment.joblib"}}}))
    return path
