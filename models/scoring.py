"""Scoring a model directory on any labelled file (``complaints model evaluate``), telling apart the rows the model
was trained on."""

from __future__ import annotations

from models.datasets import load_label_map, load_labelled_file
from models.evaluation import classification_metrics, precision_and_coverage
from models.sklearn_model import SklearnComplaintModel
from models.training import seen_in_training


class NoLabelledRows(Exception):
    """The input has no row with a usable label."""


def evaluate_model_dir(
    model_dir: str,
    input_path: str,
    text_column: str,
    label_column: str,
    label_map: str | None = None,
    target: str | None = None,
) -> dict:
    """Score the model directory ``model_dir`` on a labelled CSV/JSON-lines file: the metrics of
    ``classification_metrics`` plus the model version and, when the directory records what it was trained
    on, how many rows it has seen (``rows_seen_in_training``) and the scores of the other rows
    (``unseen_rows``). Raises ``ModelDirectoryError``, ``DatasetError`` or ``NoLabelledRows``."""
    model = SklearnComplaintModel(model_dir)
    target = target or (load_label_map(label_map).get("target") if label_map else "category")
    examples, skipped = load_labelled_file(input_path, text_column, label_column, label_map, target)
    if not examples:
        raise NoLabelledRows(f"no rows of {input_path} have a usable label ({skipped} left out)")
    predictions = model.predict([{"text": example.text} for example in examples])
    predicted = [p.category if target == "category" else p.sentiment_label for p in predictions]
    truth = [getattr(example, target) for example in examples]
    metrics = classification_metrics(truth, predicted)
    metrics.update(
        {
            "model_version": model.version,
            "input": input_path,
            "target": target,
            "label_map": label_map,
            "rows_left_out": skipped,
        }
    )
    seen = seen_in_training(model_dir, [example.text for example in examples])
    unseen = list(range(len(examples)))
    if seen is not None:
        metrics["rows_seen_in_training"] = sum(seen)
        unseen = [i for i, was_seen in enumerate(seen) if not was_seen]
        if 0 < len(unseen) < len(seen):
            metrics["unseen_rows"] = classification_metrics([truth[i] for i in unseen], [predicted[i] for i in unseen])
    if target == "category" and model.routing_threshold is not None:
        # the rows routed automatically at the card's threshold: how many, and how many right (rows the model
        # was trained on left out when there are others)
        rows = unseen or list(range(len(examples)))
        metrics["routing"] = precision_and_coverage(
            [predictions[i].category_confidence for i in rows],
            [predicted[i] == truth[i] for i in rows],
            model.routing_threshold,
        )
        metrics["routing"]["rows"] = "unseen" if len(rows) < len(examples) else "all"
    return metrics
