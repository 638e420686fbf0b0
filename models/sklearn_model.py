"""The trained model behind the ``ComplaintModel`` interface: category and sentiment from the scikit-learn
models in a model directory (``complaints model train``: shared TF-IDF features, one logistic regression per
label), priority from the same explicit urgency rules as the rules model, using the trained labels. Loading checks
the directory up front, so a missing or corrupted model fails the run at start-up with a clear message, never
halfway through.

Model files are pickles (joblib): load only model directories you produced or trust.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np

from models.base import CATEGORIES, SENTIMENT_LABELS, Prediction
from models.rules import prioritise


class ModelDirectoryError(Exception):
    """A model directory that cannot be used; the message says what is wrong."""


def _model_text(complaint: dict) -> str:
    return " ".join(filter(None, (complaint.get("subject"), complaint.get("text")))) or ""


class SklearnComplaintModel:
    def __init__(self, model_dir: str):
        root = Path(model_dir)
        card_path = root / "model_card.json"
        if not card_path.is_file():
            raise ModelDirectoryError(
                f"{model_dir} is not a model directory (no model_card.json); create one with `complaints model train`"
            )
        try:
            self.card = json.loads(card_path.read_text())
            self.version = self.card["version"]
            self.features = joblib.load(root / self.card["features"]["file"])
            self.category = joblib.load(root / self.card["models"]["category"]["file"])
            self.sentiment = joblib.load(root / self.card["models"]["sentiment"]["file"])
        except (OSError, KeyError, TypeError, ValueError, EOFError, ImportError, AttributeError, IndexError) as error:
            raise ModelDirectoryError(
                f"model directory {model_dir} is incomplete or corrupted: {type(error).__name__}: {error}"
            ) from None
        if not set(self.category.classes_) <= set(CATEGORIES) or not set(self.sentiment.classes_) <= set(
            SENTIMENT_LABELS
        ):
            raise ModelDirectoryError(f"model directory {model_dir} predicts labels outside our taxonomy")
        # below it, a prediction goes to the review queue (chosen on held-out data for 90% precise routing)
        self.routing_threshold = self.card["models"]["category"].get("routing", {}).get("threshold")
        classes = list(self.sentiment.classes_)
        self._positive = classes.index("positive") if "positive" in classes else None
        self._negative = classes.index("negative") if "negative" in classes else None

    def predict(self, complaints: Sequence[dict]) -> list[Prediction]:
        if not complaints:
            return []
        features = self.features.transform([_model_text(complaint) for complaint in complaints])
        category_probabilities = self.category.predict_proba(features)
        sentiment_probabilities = self.sentiment.predict_proba(features)
        predictions = []
        for complaint, category_p, sentiment_p in zip(
            complaints, category_probabilities, sentiment_probabilities, strict=True
        ):
            best = int(np.argmax(category_p))
            category = str(self.category.classes_[best])
            positive = float(sentiment_p[self._positive]) if self._positive is not None else 0.0
            negative = float(sentiment_p[self._negative]) if self._negative is not None else 0.0
            score = round(max(-1.0, min(1.0, positive - negative)), 3)
            label = str(self.sentiment.classes_[int(np.argmax(sentiment_p))])
            priority, reasons = prioritise(complaint, category, score)
            confidence = round(float(category_p[best]), 3)
            predictions.append(
                Prediction(
                    category,
                    confidence,
                    score,
                    label,
                    priority,
                    reasons,
                    needs_review=self.routing_threshold is not None and confidence < self.routing_threshold,
                )
            )
        return predictions


class ModelFactory:
    """Picklable factory that each worker calls once (``DoFn.setup``) to load the model."""

    def __init__(self, model_dir: str | None):
        self.model_dir = model_dir

    @property
    def version(self) -> str:
        if self.model_dir is None:
            from models.rules import VERSION

            return VERSION
        return json.loads((Path(self.model_dir) / "model_card.json").read_text())["version"]

    def __call__(self):
        if self.model_dir is None:
            from models.rules import RulesModel

            return RulesModel()
        return SklearnComplaintModel(self.model_dir)


def newest_model_dir(card_pattern: str) -> str:
    """The directory of the newest model card matching ``card_pattern`` (a glob such as
    ``MODELS/*/model_card.json``); raises ``ModelDirectoryError`` if it matches none or other files."""
    import glob
    import os

    cards = sorted(glob.glob(card_pattern), key=os.path.getmtime)
    if not cards or not all(card.endswith("model_card.json") for card in cards):
        raise ModelDirectoryError(
            f"{card_pattern} matches no model_card.json (it must match at least one model "
            "directory's card when the stream starts)"
        )
    return os.path.dirname(os.path.abspath(cards[-1]))
