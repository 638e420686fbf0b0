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

