"""Top phrases per category: the words and two-word phrases that set one category's complaints apart.

Ranking is the weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn, 2008):
a phrase scores high when it is much more frequent in this category than in the others, and the z-score keeps
rare phrases from winning on one lucky count. Contact masks, handles, numbers, the operator's own name and the
filler of complaint prose (time words such as "week", verbs such as "keeps" or "shows") are not phrases.

A phrase is listed once, in its most informative form: a word whose count its two-word phrase nearly matches
("home" 86, "fibre" 86, "home fibre" 86) gives way to the phrase, and of two-word phrases that overlap with nearly
the same count (one sentence, cut in pairs: "getting passed", "passed agents") only the better ranked is listed.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

HOUSE_WORDS = frozenset(
    {
        "beejan",
        "beejancare",
        "dear",
        "regards",
        "kindly",
        "pls",
        "please",
        "hi",
        "hello",
        "phone",
        "email",
        "masked",
        "u",
        "ur",
        "im",
        "ive",
        "dont",
        "thanks",
        "customer",
    }
)
#: words that carry no complaint of their own: when, how often, and the verbs around the complaint
FILLER_WORDS = frozenset(
    {
        "day",
        "days",
        "today",
        "yesterday",
        "tonight",
        "morning",
        "evening",
        "night",
        "week",
        "weeks",
        "weekend",
        "month",
        "months",
        "hour",
        "hours",
        "time",
        "times",
        "now",
        "still",
        "since",
        "already",
        "just",
        "really",
        "keep",
        "keeps",
        "kept",
        "show",
        "shows",
        "showing",
        "shown",
        "get",
        "gets",
        "getting",
        "got",
        "try",
        "tried",
        "trying",
        "need",
        "needs",
        "want",
        "wants",
        "said",
        "says",
        "told",
        "tell",
        "like",
        "going",
        "did",
        "does",
        "doing",
        "done",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    }
)
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | HOUSE_WORDS | FILLER_WORDS)
#: two counts are "nearly the same" (one sentence counted twice) when the smaller is at least this share of the larger
NEAR_SAME_COUNT = 0.8


def distinctive_phrases(texts_by_category: dict[str, list[str]], top: int = 10, min_count: int = 3) -> dict:
    """category -> [{"phrase", "count", "score"}], best first."""
    categories = [c for c, texts in sorted(texts_by_category.items()) if texts]
    if not categories:
        return {}
    vectorizer = CountVectorizer(
        ngram_range=(1, 2),
        stop_words=STOP_WORDS,
        min_df=min_count,
        token_pattern=r"(?u)\b[^\W\d_][^\W\d_']+\b",
        lowercase=True,
    )
    documents = [text for category in categories for text in texts_by_category[category]]
    try:
        matrix = vectorizer.fit_transform(documents)
    except ValueError:  # nothing left after stop words and min_count
        return {category: [] for category in categories}
    vocabulary = vectorizer.get_feature_names_out()
    counts, row = [], 0
    for category in categories:
        size = len(texts_by_category[category])
        counts.append(np.asarray(matrix[row : row + size].sum(axis=0)).ravel())
        row += size
    counts = np.vstack(counts).astype(float)
    total = counts.sum(axis=0)
    prior = total / total.sum() * 100.0 + 0.01  # informative prior: the corpus frequency, scaled
    prior_sum = prior.sum()
    result = {}
    for index, category in enumerate(categories):
        own, rest = counts[index], total - counts[index]
        own_n, rest_n = own.sum(), rest.sum()
        log_odds = np.log((own + prior) / (own_n + prior_sum - own - prior)) - np.log(
            (rest + prior) / (rest_n + prior_sum - rest - prior)
        )
        variance = 1.0 / (own + prior) + 1.0 / (rest + prior)
        z = log_odds / np.sqrt(variance)
        ranked = [i for i in np.argsort(-z) if own[i] >= min_count]
        best = without_repeats(ranked, vocabulary, own, top)
        result[category] = [
            {"phrase": str(vocabulary[i]), "count": int(own[i]), "score": round(float(z[i]), 2)} for i in best
        ]
    return result


def _nearly_same(a: float, b: float) -> bool:
    return min(a, b) >= NEAR_SAME_COUNT * max(a, b)


def without_repeats(ranked: list[int], vocabulary, counts, top: int) -> list[int]:
    """The first ``top`` of ``ranked`` (vocabulary indices, best first) with each phrase once, in its most
    informative form: a word is replaced by the two-word phrase holding it whose count nearly matches its own
    (the best counted such phrase, anywhere in the vocabulary), and a phrase overlapping an already listed one with
    nearly the same count is left out."""
    index = {str(phrase): i for i, phrase in enumerate(vocabulary)}
    longer: dict[str, int] = {}  # word -> the best counted two-word phrase holding it
    for phrase, i in index.items():
        if " " in phrase:
            for word in phrase.split():
                if word in index and (word not in longer or counts[i] > counts[longer[word]]):
                    longer[word] = i
    chosen: list[int] = []
    for i in ranked:
        phrase = str(vocabulary[i])
        if " " not in phrase and phrase in longer and _nearly_same(counts[longer[phrase]], counts[i]):
            i = longer[phrase]
            phrase = str(vocabulary[i])
        words = set(phrase.split())
        if i in chosen or any(
            words & set(str(vocabulary[j]).split()) and _nearly_same(counts[i], counts[j]) for j in chosen
        ):
            continue
        chosen.append(i)
        if len(chosen) == top:
            break
    return chosen
