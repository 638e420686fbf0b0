"""Top phrases per category: the words and two-word phrases that set one category's complaints apart.

Ranking is the weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn, 2008):
a phrase scores high when it is much more frequent in this category than in the others, and the z-score keeps
rare phrases from winning on one lucky count. Contact masks, handles, numbers and the operator's own name are
not phrases.
"""
from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

HOUSE_WORDS = frozenset({"beejan", "beejancare", "dear", "regards", "kindly", "pls", "please", "hi", "hello",
                         "phone", "email", "masked", "u", "ur", "im", "ive", "dont", "thanks", "customer"})
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | HOUSE_WORDS)


def distinctive_phrases(texts_by_category: dict[str, list[str]], top: int = 10, min_count: int = 3) -> dict:
    """category -> [{"phrase", "count", "score"}], best first."""
    categories = [c for c, texts in sorted(texts_by_category.items()) if texts]
    if not categories:
        return {}
    vectorizer = CountVectorizer(ngram_range=(1, 2), stop_words=STOP_WORDS, min_df=min_count,
                                 token_pattern=r"(?u)\b[^\W\d_][^\W\d_']+\b", lowercase=True)
    documents = [text for category in categories for text in texts_by_category[category]]
    try:
        matrix = vectorizer.fit_transform(documents)
    except ValueError:  # nothing left after stop words and min_count
        return {category: [] for category in categories}
    vocabulary = vectorizer.get_feature_names_out()
    counts, row = [], 0
    for category in categories:
        size = len(texts_by_category[category])
        counts.append(np.asarray(matrix[row:row + size].sum(axis=0)).ravel())
        row += size
    counts = np.vstack(counts).astype(float)
    total = counts.sum(axis=0)
    prior = total / total.sum() * 100.0 + 0.01  # informative prior: the corpus frequency, scaled
    prior_sum = prior.sum()
    result = {}
    for index, category in enumerate(categories):
        own, rest = counts[index], total - counts[index]
        own_n, rest_n = own.sum(), rest.sum()
        log_odds = (np.log((own + prior) / (own_n + prior_sum - own - prior))
                    - np.log((rest + prior) / (rest_n + prior_sum - rest - prior)))
        variance = 1.0 / (own + prior) + 1.0 / (rest + prior)
        z = log_odds / np.sqrt(variance)
        best = [i for i in np.argsort(-z) if own[i] >= min_count][:top]
        result[category] = [{"phrase": str(vocabulary[i]), "count": int(own[i]), "score": round(float(z[i]), 2)}
                            for i in best]
    return result
