"""A model registry on a file system: versions side by side, ``current`` the one the pipelines use, ``previous``
the one before it for rollback, and a log of every decision.

```
MODELS/versions/<version>/     a model directory from `complaints model train` (model_card.json, ...)
MODELS/current  -> versions/X  what scheduled batches use (--model-dir MODELS/current)
MODELS/previous -> versions/W  what `complaints model rollback` returns to
MODELS/promotions.jsonl        every promotion, refusal and rollback, with the scores it was decided on
```
A candidate is promoted only if it scores at least as well as the serving model (``current``, or the rules model
while none is promoted) on the same held-out file, which neither was trained on. The links are replaced
atomically (a new link renamed over the old), so a batch that starts meanwhile sees one model or the other.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

from models.datasets import load_label_map, load_labelled_file
from models.evaluation import classification_metrics
from models.sklearn_model import ModelDirectoryError, ModelFactory

CURRENT, PREVIOUS, VERSIONS, LOG = "current", "previous", "versions", "promotions.jsonl"


def score(
    model_dir: str | None,
    holdout: str,
    text_column: str,
    label_column: str,
    label_map: str | None = None,
    target: str = "category",
) -> dict:
    """Macro-F1 and accuracy of a model directory (None: the rules model) on a labelled file."""
    factory = ModelFactory(model_dir)
    model = factory()
    examples, _ = load_labelled_file(holdout, text_column, label_column, label_map, target)
    if not examples:
        raise ValueError(f"no rows of {holdout} have a usable label")
    predictions = model.predict([{"text": example.text} for example in examples])
    predicted = [p.category if target == "category" else p.sentiment_label for p in predictions]
    metrics = classification_metrics([getattr(example, target) for example in examples], predicted)
    return {
        "model_version": factory.version,
        "macro_f1": metrics["macro_f1"],
        "accuracy": metrics["accuracy"],
        "examples": len(examples),
    }


def current_dir(registry: Path) -> Path | None:
    link = registry / CURRENT
    return link.resolve() if (link / "model_card.json").exists() else None


def _point(registry: Path, name: str, target: Path) -> None:
    """Make ``registry/name`` a relative link to ``target``, replacing any old one in one rename."""
    temporary = registry / f".{name}.new"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(os.path.relpath(target, registry))
    os.replace(temporary, registry / name)


def _log(registry: Path, entry: dict) -> dict:
    entry = {"at": dt.datetime.now(dt.UTC).isoformat(), **entry}
    with open(registry / LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
    return entry


def promote(
    candidate: str,
    registry: str,
    holdout: str,
    text_column: str,
    label_column: str,
    label_map: str | None = None,
    target: str | None = None,
) -> dict:
    """Score ``candidate`` and the serving model on ``holdout``; if the candidate is at least as good, copy it into
    ``versions/`` (unless it is there already) and make it ``current``, the old one ``previous``. Returns the
    decision (also appended to the log): ``promoted`` true or false, both scores."""
    root = Path(registry)
    root.mkdir(parents=True, exist_ok=True)
    target = target or (load_label_map(label_map).get("target") if label_map else "category")
    if not (Path(candidate) / "model_card.json").is_file():
        raise ModelDirectoryError(f"{candidate} is not a model directory (no model_card.json)")
    serving = current_dir(root)
    challenger = score(candidate, holdout, text_column, label_column, label_map, target)
    incumbent = score(str(serving) if serving else None, holdout, text_column, label_column, label_map, target)
    promoted = challenger["macro_f1"] >= incumbent["macro_f1"]
    decision = {
        "event": "promotion",
        "promoted": promoted,
        "target": target,
        "holdout": holdout,
        "candidate": challenger,
        "serving": incumbent,
    }
    if promoted:
        versions = root / VERSIONS
        versions.mkdir(exist_ok=True)
        home = versions / challenger["model_version"]
        if Path(candidate).resolve() != home.resolve():
            if home.exists():
                shutil.rmtree(home)
            shutil.copytree(candidate, home)
        if serving is not None and serving != home.resolve():
            _point(root, PREVIOUS, serving)
        _point(root, CURRENT, home)
        decision["current"] = str(home)
    return _log(root, decision)


def rollback(registry: str) -> dict:
    """Make ``previous`` current again (and the current one previous, so a rollback can be undone)."""
    root = Path(registry)
    previous, serving = root / PREVIOUS, current_dir(root)
    if not (previous / "model_card.json").exists():
        raise ModelDirectoryError(f"{registry} has no previous model to roll back to")
    back = previous.resolve()
    _point(root, CURRENT, back)
    if serving is not None:
        _point(root, PREVIOUS, serving)
    return _log(root, {"event": "rollback", "current": str(back), "replaced": str(serving) if serving else None})
