"""Labelled complaint text for training and evaluation, from documented layouts.

A labelled file is CSV or JSON lines with a text column and a label column; labels from other taxonomies are
mapped to ours by a label map (``models/label_maps/<name>.json``, or any such JSON file): ``target`` says
which label it maps (``category`` or ``sentiment``), ``map`` maps their label (lower-cased when
``case_insensitive``) to ours. Rows whose label is empty or not in the map are left out, and counted.

``load_known_datasets`` knows the public layouts in ``../shared/data/real`` (uk_mobile_tweets, SentiTel) and
files already in our labels named ``*.labelled.csv`` / ``*.labelled.jsonl`` (columns text, category, sentiment).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from models.base import CATEGORIES, SENTIMENT_LABELS

LABEL_MAP_DIR = Path(__file__).parent / "label_maps"


class DatasetError(Exception):
    """A labelled file or label map that cannot be used; the message says why."""


@dataclass(frozen=True)
class Example:
    text: str
    category: str | None = None
    sentiment: str | None = None
    dataset: str = ""

    @property
    def group(self) -> str:
        """Near-duplicate key: retweets and copies of one text share it, so they stay on one side of a split."""
        return near_duplicate_key(self.text)


_RT = re.compile(r"^rt\s+@\w+:?\s*", re.IGNORECASE)
_NOISE = re.compile(r"https?://\S+|@\w+|[^a-z0-9]+")


def near_duplicate_key(text: str) -> str:
    core = _NOISE.sub(" ", _RT.sub("", text.strip()).lower()).strip()
    return hashlib.sha1(core.encode("utf-8")).hexdigest()[:16]


def load_label_map(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if not path.is_file():
        path = LABEL_MAP_DIR / f"{name_or_path}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in LABEL_MAP_DIR.glob("*.json")))
        raise DatasetError(f"unknown label map {name_or_path!r}: use one of {known} or a JSON file")
    label_map = json.loads(path.read_text(encoding="utf-8"))
    allowed = CATEGORIES if label_map.get("target", "category") == "category" else SENTIMENT_LABELS
    bad = sorted(set(label_map["map"].values()) - set(allowed))
    if bad:
        raise DatasetError(f"label map {path.name} maps to unknown labels {bad}; allowed: {', '.join(allowed)}")
    return label_map


def map_label(value, label_map: dict | None, target: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if label_map is None:
        allowed = CATEGORIES if target == "category" else SENTIMENT_LABELS
        return text if text in allowed else None
    key = text.lower() if label_map.get("case_insensitive") else text
    return label_map["map"].get(key)


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise DatasetError(f"labelled file {path} does not exist")
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise DatasetError(f"{path}:{number} is not valid JSON") from None
        return rows
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        return list(csv.DictReader(handle))


def load_labelled_file(
    path: str, text_column: str, label_column: str, label_map: str | None = None, target: str | None = None
) -> tuple[list[Example], int]:
    """Examples from any labelled CSV/JSONL; returns (examples, rows left out for an unmapped label)."""
    mapping = load_label_map(label_map) if label_map else None
    target = target or (mapping or {}).get("target", "category")
    rows = read_rows(Path(path))
    if rows and text_column not in rows[0]:
        raise DatasetError(f"{path} has no column {text_column!r} (columns: {', '.join(rows[0])})")
    if rows and label_column not in rows[0]:
        raise DatasetError(f"{path} has no column {label_column!r} (columns: {', '.join(rows[0])})")
    examples, skipped = [], 0
    for row in rows:
        label = map_label(row.get(label_column), mapping, target)
        text = str(row.get(text_column) or "").strip()
        if label is None or not text:
            skipped += 1
            continue
        examples.append(Example(text, **{target: label}, dataset=Path(path).stem))
    return examples, skipped


def load_our_labels(path: Path) -> list[Example]:
    """A file already in our labels: columns ``text`` and ``category`` and/or ``sentiment``."""
    examples = []
    for row in read_rows(path):
        category = map_label(row.get("category"), None, "category")
        sentiment = map_label(row.get("sentiment"), None, "sentiment")
        text = str(row.get("text") or "").strip()
        if text and (category or sentiment):
            examples.append(Example(text, category, sentiment, path.name.split(".")[0]))
    return examples


def load_uk_mobile(path: Path) -> list[Example]:
    category_map, sentiment_map = load_label_map("uk_mobile"), load_label_map("uk_mobile_sentiment")
    examples = []
    for row in read_rows(path):
        category = map_label(row.get("Subject"), category_map, "category")
        sentiment = map_label(row.get("Sentiment"), sentiment_map, "sentiment")
        text = (row.get("Tweet Text") or "").strip()
        if text and (category or sentiment):
            examples.append(Example(text, category, sentiment, "uk_mobile_tweets"))
    return examples


def load_sentitel(paths: list[Path]) -> list[Example]:
    """SentiTel: the category when all of a tweet's opinions map to one; the sentiment when all agree."""
    label_map = load_label_map("sentitel")
    examples = []
    for path in paths:
        for row in read_rows(path):
            opinions = row.get("opinions") or []
            categories = {map_label(o.get("aspect"), label_map, "category") for o in opinions}
            sentiments = {label_map["sentiment_map"].get(str(o.get("sentiment", "")).lower()) for o in opinions}
            category = categories.pop() if len(categories) == 1 else None
            sentiment = sentiments.pop() if len(sentiments) == 1 else None
            text = (row.get("text") or "").strip()
            if text and (category or sentiment):
                examples.append(Example(text, category, sentiment, "sentitel"))
    return examples


def load_known_datasets(data_dir: str) -> list[Example]:
    """Every labelled example in the known public layouts under ``data_dir`` (e.g. ../shared/data/real)."""
    root = Path(data_dir)
    examples: list[Example] = []
    uk = root / "uk_mobile_tweets" / "uk_mobile_tweets.csv"
    if uk.is_file():
        examples += load_uk_mobile(uk)
    sentitel = sorted((root / "sentitel_ug_telecom").glob("sentitel_*.jsonl"))
    if sentitel:
        examples += load_sentitel(sentitel)
    for extra in sorted(root.glob("*.labelled.csv")) + sorted(root.glob("*.labelled.jsonl")):
        examples += load_our_labels(extra)
    if not examples:
        raise DatasetError(
            f"no labelled data found under {data_dir} (expected uk_mobile_tweets/, "
            f"sentitel_ug_telecom/ or *.labelled.csv with text and category columns)"
        )
    return examples
