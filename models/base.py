"""The interface between the pipeline and whatever labels complaints (rules today, trained models later)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

CATEGORIES = ("Network", "Billing", "Customer Service", "Other")
SENTIMENT_LABELS = ("negative", "neutral", "positive")
PRIORITIES = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True)
class Prediction:
    category: str
    category_confidence: float
    sentiment_score: float
    sentiment_label: str
    priority: str
    priority_reasons: list[str] = field(default_factory=list)
    #: the category is too uncertain to route on (below the model's routing threshold): a person decides
    needs_review: bool = False


class ComplaintModel(Protocol):
    """Labels a batch of cleaned, customer-linked complaints.

    Each input is a complaint dict with at least ``text``, ``source`` and ``segment``, and where the channel
    has them ``subject``, ``customer_topic``, ``call_queue``, ``wrap_up_code``, ``disposition``.
    ``version`` is written to every warehouse row as ``model_version``.
    """

    version: str

    def predict(self, complaints: Sequence[dict]) -> list[Prediction]: ...
