"""Serving the complaint models with Beam's RunInference.

``ComplaintModelHandler`` is a RunInference model handler for any ``ComplaintModel``: the model is loaded once
per worker (``load_model``, shared by the DoFn across bundles), batches are sized by ``batch_elements_kwargs``,
every result carries the model version as ``model_id``, and ``update_model_path`` lets a streaming job swap in
a new model directory without a restart (RunInference's ``model_metadata_pcoll``, e.g. from WatchFilePattern).
A complaint the model fails on comes back with an error instead of a prediction, so the caller can dead-letter
that one complaint; a failure of the whole batch surfaces through ``with_exception_handling``.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from models.base import ComplaintModel
from models.sklearn_model import ModelFactory


class PredictionError(str):
    """The inference of a complaint the model failed on: the error, in place of a Prediction."""


class ComplaintModelHandler(ModelHandler[dict, PredictionResult, ComplaintModel]):
    def __init__(self, model_dir: str | None = None, *, model_factory=None, min_batch_size: int = 64,
                 max_batch_size: int = 1024):
        super().__init__()
        self.model_dir = model_dir
        self._factory = model_factory
        self._batch = {"min_batch_size": min_batch_size, "max_batch_size": max_batch_size}

    def load_model(self) -> ComplaintModel:
        return (self._factory or ModelFactory(self.model_dir))()

    def update_model_path(self, model_path: Optional[str] = None):
        """Point at a new model directory; ``model_path`` may also be its ``model_card.json`` (what a
        WatchFilePattern over ``MODELS/*/model_card.json`` reports)."""
        if model_path:
            self.model_dir = model_path.removesuffix("/model_card.json")
            self._factory = None

    def run_inference(self, batch: Sequence[dict], model: ComplaintModel,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        try:
            predictions = model.predict(batch)
        except Exception:  # noqa: BLE001 - find the complaints that fail, keep the others
            predictions = []
            for complaint in batch:
                try:
                    predictions.extend(model.predict([complaint]))
                except Exception as error:  # noqa: BLE001
                    predictions.append(PredictionError(f"{type(error).__name__}: {error}"))
        return [PredictionResult(complaint, prediction, model.version)
                for complaint, prediction in zip(batch, predictions)]

    def batch_elements_kwargs(self):
        return dict(self._batch)

    def get_metrics_namespace(self) -> str:
        return "complaints_model"

    def share_model_across_processes(self) -> bool:
        return False
