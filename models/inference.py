"""Serving the complaint models with Beam's RunInference.

``ComplaintModelHandler`` is a RunInference model handler for any ``ComplaintModel``: the model is loaded once
per worker (``load_model``, shared by the DoFn across bundles), batches are sized by ``batch_elements_kwargs``,
every result carries the model version as ``model_id``. With ``watch`` (a glob of model cards) a running job
swaps in each newer model directory itself, looking at most every ``watch_seconds``: no side input of model
updates, which Beam's Flink runner cannot checkpoint and Prism does not trigger, so it works on every runner.
A complaint the model fails on comes back with an error instead of a prediction, so the caller can dead-letter
that one complaint; a failure of the whole batch surfaces through ``with_exception_handling``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from models.base import ComplaintModel
from models.sklearn_model import ModelFactory, newest_model_dir

LOGGER = logging.getLogger(__name__)


class PredictionError(str):
    """The inference of a complaint the model failed on: the error, in place of a Prediction."""


class ComplaintModelHandler(ModelHandler[dict, PredictionResult, ComplaintModel]):
    def __init__(
        self,
        model_dir: str | None = None,
        *,
        model_factory=None,
        min_batch_size: int = 64,
        max_batch_size: int = 1024,
        watch: str | None = None,
        watch_seconds: float = 60,
        clock=time.monotonic,
    ):
        super().__init__()
        self.model_dir = model_dir
        self._factory = model_factory
        self._batch = {"min_batch_size": min_batch_size, "max_batch_size": max_batch_size}
        self.watch, self.watch_seconds, self._clock = watch, watch_seconds, clock
        self._watched: tuple[str | None, ComplaintModel] | None = None  # (directory, model) swapped in
        self._checked = None

    def load_model(self) -> ComplaintModel:
        return (self._factory or ModelFactory(self.model_dir))()

    def newest(self, model: ComplaintModel) -> ComplaintModel:
        """With ``watch``: the model of the newest card it matches (loaded once), else ``model``. A directory
        that does not load (still being written, or broken) is logged and the current model kept."""
        if not self.watch:
            return model
        now = self._clock()
        if self._checked is None or now - self._checked >= self.watch_seconds:
            self._checked = now
            current = self._watched[0] if self._watched else self.model_dir
            try:
                newest = newest_model_dir(self.watch)
                if newest != current:
                    self._watched = (newest, ModelFactory(newest)())
                    LOGGER.info("model watch: now labelling with %s (%s)", newest, self._watched[1].version)
            except Exception as error:  # noqa: BLE001 - keep labelling with the model in use
                LOGGER.warning("model watch %s: %s; still using %s", self.watch, error, current)
        return self._watched[1] if self._watched else model

    def run_inference(
        self, batch: Sequence[dict], model: ComplaintModel, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        model = self.newest(model)
        try:
            predictions = model.predict(batch)
        except Exception:  # noqa: BLE001 - find the complaints that fail, keep the others
            predictions = []
            for complaint in batch:
                try:
                    predictions.extend(model.predict([complaint]))
                except Exception as error:  # noqa: BLE001 - this complaint gets the error instead of a prediction
                    predictions.append(PredictionError(f"{type(error).__name__}: {error}"))
        return [
            PredictionResult(complaint, prediction, model.version)
            for complaint, prediction in zip(batch, predictions, strict=True)
        ]

    def batch_elements_kwargs(self):
        return dict(self._batch)

    def get_metrics_namespace(self) -> str:
        return "complaints_model"

    def share_model_across_processes(self) -> bool:
        return False
