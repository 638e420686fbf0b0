"""Evaluation: per-class precision/recall/F1, macro-F1 and the confusion matrix, as a dict ready for JSON."""

from __future__ import annotations

from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def classification_metrics(truth: list[str], predicted: list[str]) -> dict:
    labels = sorted(set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    present = [i for i, label in enumerate(labels) if label in set(truth)]
    return {
        "examples": len(truth),
        "macro_f1": round(float(sum(f1[i] for i in present) / max(len(present), 1)), 4),
        "accuracy": round(sum(t == p for t, p in zip(truth, predicted, strict=True)) / max(len(truth), 1), 4),
        "per_class": {
            label: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": {"labels": labels, "matrix": confusion_matrix(truth, predicted, labels=labels).tolist()},
    }


def majority_baseline(truth: list[str], train_labels: list[str]) -> dict:
    """What always answering the training set's most common label scores: the floor any model must beat."""
    majority = max(set(train_labels), key=train_labels.count)
    return classification_metrics(truth, [majority] * len(truth))


#: the share of automatically routed complaints whose category must be right (issue: at least 90%)
ROUTING_PRECISION = 0.9


def precision_and_coverage(confidences: list[float], correct: list[bool], threshold: float) -> dict:
    """Of the predictions at or above ``threshold`` (the ones routed automatically): how many are right
    (precision) and what share of all they are (coverage)."""
    kept = [right for confidence, right in zip(confidences, correct, strict=True) if confidence >= threshold]
    return {
        "threshold": threshold,
        "precision": round(sum(kept) / len(kept), 4) if kept else None,
        "coverage": round(len(kept) / len(correct), 4) if correct else 0.0,
        "examples": len(correct),
    }


def lower_bound(right: int, total: int, z: float = 1.645) -> float:
    """The Wilson score lower bound of a proportion (one-sided 95% by default): what ``right`` of ``total`` says
    the true share is at least, allowing for the sample's size."""
    if total == 0:
        return 0.0
    share = right / total
    centre = share + z * z / (2 * total)
    margin = z * ((share * (1 - share) + z * z / (4 * total)) / total) ** 0.5
    return (centre - margin) / (1 + z * z / total)


def routing_threshold(
    confidences: list[float], correct: list[bool], precision: float = ROUTING_PRECISION, z: float = 1.645
) -> dict:
    """The lowest confidence threshold whose automatically routed predictions are at least ``precision`` right,
    so the most complaints are routed without a person; below it a prediction goes to the review queue.
    "At least" is taken with a margin for the sample's size: the Wilson lower bound of the routed predictions'
    precision (one-sided 95% with the default ``z``; 0 asks only the observed share) must reach ``precision``.
    Ties stay together (a threshold never splits equal confidences). None of them reaching it gives a threshold
    above 1: every complaint is reviewed."""
    order = sorted(range(len(confidences)), key=lambda i: -confidences[i])
    best, right = None, 0
    for rank, i in enumerate(order, start=1):
        right += correct[i]
        next_is_tie = rank < len(order) and confidences[order[rank]] == confidences[i]
        if not next_is_tie and lower_bound(right, rank, z) >= precision:
            best = confidences[i]
    threshold = best if best is not None else 1.0001
    routed = [right for confidence, right in zip(confidences, correct, strict=True) if confidence >= threshold]
    return {
        **precision_and_coverage(confidences, correct, threshold),
        "precision_lower_bound": round(lower_bound(sum(routed), len(routed), z), 4),
    }
