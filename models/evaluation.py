"""Evaluation: per-class precision/recall/F1, macro-F1 and the confusion matrix, as a dict ready for JSON."""
from __future__ import annotations

from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def classification_metrics(truth: list[str], predicted: list[str]) -> dict:
    labels = sorted(set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels,
                                                                     zero_division=0)
    present = [i for i, label in enumerate(labels) if label in set(truth)]
    return {
        "examples": len(truth),
        "macro_f1": round(float(sum(f1[i] for i in present) / max(len(present), 1)), 4),
        "accuracy": round(sum(t == p for t, p in zip(truth, predicted)) / max(len(truth), 1), 4),
        "per_class": {label: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
                              "f1": round(float(f1[i]), 4), "support": int(support[i])}
                      for i, label in enumerate(labels)},
        "confusion": {"labels": labels,
                      "matrix": confusion_matrix(truth, predicted, labels=labels).tolist()},
    }


def majority_baseline(truth: list[str], train_labels: list[str]) -> dict:
    """What always answering the training set's most common label scores: the floor any model must beat."""
    majority = max(set(train_labels), key=train_labels.count)
    return classification_metrics(truth, [majority] * len(truth))


class NoLabelledRows(Exception):
    """The input has no row with a usable label."""


def evaluate_model_dir(model_dir: str, input_path: str, text_column: str, label_column: str,
                       label_map: str | None = None, target: str | None = None) -> dict:
    """Score the model directory ``model_dir`` on a labelled CSV/JSON-lines file: the metrics of
    ``classification_metrics`` plus the model version and, when the directory records what it was trained
    on, how many rows it has seen (``rows_seen_in_training``) and the scores of the other rows
    (``unseen_rows``). Raises ``ModelDirectoryError``, ``DatasetError`` or ``NoLabelledRows``."""
    from models.datasets import load_label_map, load_labelled_file
    from models.sklearn_model import SklearnComplaintModel
    from models.training import seen_in_training

    model = SklearnComplaintModel(model_dir)
    target = target or (load_label_map(label_map).get("target") if label_map else "category")
    examples, skipped = load_labelled_file(input_path, text_column, label_column, label_map, target)
    if not examples:
        raise NoLabelledRows(f"no rows of {input_path} have a usable label ({skipped} left out)")
    predictions = model.predict([{"text": example.text} for example in examples])
    predicted = [p.category if target == "category" else p.sentiment_label for p in predictions]
    truth = [getattr(example, target) for example in examples]
    metrics = classification_metrics(truth, predicted)
    metrics.update({"model_version": model.version, "input": input_path, "target": target,
                    "label_map": label_map, "rows_left_out": skipped})
    seen = seen_in_training(model_dir, [example.text for example in examples])
    if seen is not None:
        metrics["rows_seen_in_training"] = sum(seen)
        unseen = [i for i, was_seen in enumerate(seen) if not was_seen]
        if 0 < len(unseen) < len(seen):
            metrics["unseen_rows"] = classification_metrics([truth[i] for i in unseen],
                                                            [predicted[i] for i in unseen])
    return metrics
