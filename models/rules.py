"""A transparent, rules-based complaint model: keyword scores for category, a small lexicon for sentiment,
and explicit urgency rules for priority. Every decision can be read off the tables below."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import ahocorasick

from models.base import Prediction

VERSION = "rules-1.0.0"

CATEGORY_KEYWORDS = {
    "Network": {
        "signal": 2,
        "network": 2,
        "no service": 3,
        "outage": 3,
        "data": 1,
        "internet": 2,
        "4g": 2,
        "5g": 2,
        "3g": 2,
        "lte": 2,
        "coverage": 2,
        "slow": 1,
        "speed": 1,
        "dropped": 2,
        "drops": 2,
        "drop calls": 3,
        "call drop": 3,
        "can't call": 2,
        "cannot call": 2,
        "connection": 2,
        "connectivity": 2,
        "mast": 2,
        "broadband": 2,
        "wifi": 1,
        "router": 2,
        "down": 1,
        "bars": 2,
        "browsing": 2,
        "reception": 2,
        "not connecting": 2,
        "no network": 3,
        "buffering": 2,
        "mbps": 2,
        "latency": 2,
        "disconnect": 2,
    },
    "Billing": {
        "charged": 3,
        "charge": 2,
        "bill": 3,
        "billing": 3,
        "billed": 3,
        "refund": 3,
        "overcharged": 3,
        "deducted": 3,
        "deduction": 3,
        "debit": 2,
        "airtime": 2,
        "recharge": 2,
        "top up": 2,
        "topup": 2,
        "bundle": 1,
        "subscription": 2,
        "subscribed": 2,
        "payment": 2,
        "paid": 2,
        "price": 2,
        "tariff": 2,
        "invoice": 3,
        "balance": 2,
        "money": 2,
        "contract": 2,
        "fee": 2,
        "renewal": 2,
        "auto-renew": 3,
        "credit": 1,
        "₦": 2,
        "naira": 2,
        "£": 2,
        "$": 1,
        "upgrade": 1,
        "cost": 1,
    },
    "Customer Service": {
        "customer service": 3,
        "customer care": 3,
        "agent": 2,
        "rude": 3,
        "waiting": 2,
        "on hold": 3,
        "hold for": 2,
        "no response": 3,
        "not responding": 3,
        "nobody": 2,
        "unhelpful": 3,
        "call centre": 2,
        "call center": 2,
        "support": 1,
        "staff": 2,
        "escalate": 2,
        "ticket": 1,
        "ignored": 2,
        "callback": 2,
        "call back": 2,
        "promised": 2,
        "manager": 2,
        "store": 1,
        "shop": 1,
        "response": 1,
        "dm": 1,
        "reply": 1,
        "complaint": 1,
        "attitude": 2,
        "hung up": 3,
        "queue": 1,
    },
}
# Structured hints: the call-centre queue and wrap-up code, and the customer's own web-form topic (weaker).
STRUCTURED_HINTS = {
    "billing": "Billing",
    "bill": "Billing",
    "payments": "Billing",
    "network": "Network",
    "technical": "Network",
    "noc": "Network",
    "service": "Customer Service",
    "customer_service": "Customer Service",
    "customer service": "Customer Service",
    "care": "Customer Service",
    "complaints": "Customer Service",
}
WRAP_UP_HINTS = {
    "BILL": "Billing",
    "CHARGE": "Billing",
    "REFUND": "Billing",
    "NO_SERVICE": "Network",
    "NETWORK": "Network",
    "SIGNAL": "Network",
    "DATA": "Network",
    "OUTAGE": "Network",
    "AGENT": "Customer Service",
    "SERVICE": "Customer Service",
    "COMPLAINT": "Customer Service",
}

NEGATIVE = {
    "terrible": 2,
    "worst": 2,
    "awful": 2,
    "useless": 2,
    "angry": 2,
    "frustrated": 2,
    "frustrating": 2,
    "disappointed": 2,
    "rubbish": 2,
    "pathetic": 2,
    "horrible": 2,
    "bad": 1,
    "poor": 1,
    "annoying": 1,
    "ridiculous": 2,
    "disgusting": 2,
    "scam": 2,
    "fraud": 2,
    "unacceptable": 2,
    "fed up": 2,
    "hate": 2,
    "shame": 1,
    "nonsense": 2,
    "thieves": 2,
    "stealing": 2,
    "robbery": 2,
    "wicked": 1,
    "problem": 1,
    "issue": 1,
    "not working": 1,
    "still": 1,
    "again": 1,
    "nothing": 1,
    "no one": 1,
    "nobody": 1,
    "waste": 1,
    "joke": 1,
    "sick": 1,
    "tired": 1,
    "crap": 2,
    "shocking": 2,
    "appalling": 2,
    "rude": 2,
    "hung up": 2,
    "twice": 1,
    "refund": 1,
    "😡": 2,
    "😠": 2,
    "🤬": 2,
    "😤": 1,
    "😞": 1,
    "😢": 1,
    "😭": 1,
    "👎": 2,
    "💔": 1,
    "🙄": 1,
    "😒": 1,
}
POSITIVE = {
    "thanks": 1,
    "thank you": 2,
    "great": 2,
    "good": 1,
    "excellent": 2,
    "resolved": 2,
    "fixed": 2,
    "appreciate": 2,
    "love": 2,
    "happy": 2,
    "awesome": 2,
    "helpful": 2,
    "quick": 1,
    "brilliant": 2,
    "amazing": 2,
    "perfect": 2,
    "well done": 2,
    "sorted": 2,
    "pleased": 2,
    "🙏": 1,
    "😊": 2,
    "👍": 1,
    "❤️": 2,
    "😀": 2,
    "😃": 2,
    "🙂": 1,
}
NEGATIONS = ("not ", "no ", "never ", "n't ")

URGENCY_RULES = [
    (
        "outage or no-service language",
        2,
        (
            "no service",
            "outage",
            "no signal",
            "no network",
            "network down",
            "not working",
            "can't call",
            "cannot call",
            "blackout",
            "no internet",
            "no data",
            "down since",
            "for two days",
            "for 2 days",
            "since yesterday",
        ),
    ),
    (
        "regulator or legal threat",
        3,
        (
            "ncc",
            "fccpc",
            "regulator",
            "ofcom",
            "fcc",
            "lawyer",
            "court",
            "sue ",
            "legal action",
            "ombudsman",
            "consumer protection",
        ),
    ),
    (
        "cancellation or churn intent",
        1,
        (
            "cancel",
            "port my number",
            "porting",
            "switch to",
            "switching to",
            "leave beejan",
            "leaving",
            "another network",
            "terminate",
        ),
    ),
    (
        "repeated contact",
        1,
        ("third time", "3rd time", "again", "still not", "several times", "every day", "many times", "for weeks"),
    ),
]
SEGMENT_POINTS = {"vip": (2, "VIP customer"), "business": (1, "business customer")}
ALL_PHRASES = (
    {phrase for words in CATEGORY_KEYWORDS.values() for phrase in words}
    | set(NEGATIVE)
    | set(POSITIVE)
    | {phrase for _, _, phrases in URGENCY_RULES for phrase in phrases}
)


WORD_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def whole_word_only(phrase: str) -> bool:
    """Short words match as whole words only (``data`` is not in ``database``, ``4g`` not in ``14gb``); longer
    phrases and symbols match anywhere."""
    return phrase.isalnum() and len(phrase) <= 4


class PhraseMatcher:
    """Which of many phrases a (lower-case) text contains, found in one pass over the text with an Aho-Corasick
    automaton instead of one search per phrase: a phrase counts once however often it occurs, and a short word
    (``whole_word_only``) only where no letter or digit touches it."""

    def __init__(self, phrases: Iterable[str]):
        self._automaton = ahocorasick.Automaton()
        for phrase in sorted(set(phrases)):
            self._automaton.add_word(phrase, (phrase, whole_word_only(phrase)))
        self._automaton.make_automaton()

    def found(self, text: str) -> set[str]:
        found: set[str] = set()
        last = len(text) - 1
        for end, (phrase, whole_word) in self._automaton.iter(text):
            if phrase in found:
                continue
            if whole_word:
                start = end - len(phrase) + 1
                if (start > 0 and text[start - 1] in WORD_CHARACTERS) or (
                    end < last and text[end + 1] in WORD_CHARACTERS
                ):
                    continue
            found.add(phrase)
        return found


MATCHER = PhraseMatcher(ALL_PHRASES)
CATEGORIES = tuple(CATEGORY_KEYWORDS)  # also the order that breaks a tie between equal scores


def _category_weights_by_phrase() -> dict[str, tuple[tuple[str, int], ...]]:
    """{phrase: ((category, weight), ...)}: what finding one phrase adds to each category."""
    by_phrase: dict[str, list] = {}
    for category, words in CATEGORY_KEYWORDS.items():
        for phrase, weight in words.items():
            by_phrase.setdefault(phrase, []).append((category, weight))
    return {phrase: tuple(pairs) for phrase, pairs in by_phrase.items()}


def _urgency_rules_by_phrase() -> dict[str, frozenset[int]]:
    """{phrase: the indices of the ``URGENCY_RULES`` it belongs to}."""
    by_phrase: dict[str, set] = {}
    for index, (_, _, phrases) in enumerate(URGENCY_RULES):
        for phrase in phrases:
            by_phrase.setdefault(phrase, set()).add(index)
    return {phrase: frozenset(indices) for phrase, indices in by_phrase.items()}


# The tables above turned around, so that a complaint's scores are sums over the few phrases found in it rather
# than a walk over every phrase of every table (the weights are whole numbers: the order of the sums is free).
CATEGORY_WEIGHTS_BY_PHRASE = _category_weights_by_phrase()
URGENCY_RULES_BY_PHRASE = _urgency_rules_by_phrase()


def _complaint_text(complaint: dict) -> str:
    return " " + " ".join(filter(None, (complaint.get("subject"), complaint.get("text")))).lower() + " "


def category_scores(complaint: dict, found: set[str] | None = None) -> dict[str, float]:
    found = MATCHER.found(_complaint_text(complaint)) if found is None else found
    points = dict.fromkeys(CATEGORIES, 0)
    for phrase in found:
        for category, weight in CATEGORY_WEIGHTS_BY_PHRASE.get(phrase, ()):
            points[category] += weight
    scores = {category: float(total) for category, total in points.items()}
    for value, weight in ((complaint.get("call_queue"), 3.0), (complaint.get("customer_topic"), 1.0)):
        if value:
            hint = STRUCTURED_HINTS.get(value.strip().lower())
            if hint:
                scores[hint] += weight
    wrap_up = complaint.get("wrap_up_code")
    if wrap_up:
        wrap_up = wrap_up.upper()
        for fragment, hint in WRAP_UP_HINTS.items():
            if fragment in wrap_up:
                scores[hint] += 3.0
                break
    return scores


def classify(complaint: dict, found: set[str] | None = None) -> tuple[str, float]:
    scores = category_scores(complaint, found)
    best = CATEGORIES[0]
    for category in CATEGORIES[1:]:  # the highest score; on a tie, the category listed first
        if scores[category] > scores[best]:
            best = category
    total = sum(scores.values())
    if scores[best] < 2:
        return "Other", round(0.6 - min(total, 2.0) / 10.0, 3)  # weak or no evidence for any category
    return best, round(scores[best] / (total + 1.0), 3)


def sentiment(text: str, found: set[str] | None = None) -> tuple[float, str]:
    """``found``: the phrases of ``" " + text.lower() + " "`` when the caller has them already."""
    lowered = " " + text.lower() + " "
    found = MATCHER.found(lowered) if found is None else found
    negative = positive = 0
    for phrase in found:
        negative += NEGATIVE.get(phrase, 0)
        weight = POSITIVE.get(phrase)
        if weight is None:
            continue
        at = lowered.find(phrase)
        if any(lowered[max(0, at - 8) : at].endswith(negation) for negation in NEGATIONS):
            negative += weight  # "not good", "never helpful"
        else:
            positive += weight
    negative += min(text.count("!"), 3) * 0.5 if negative else 0
    shouting = sum(1 for word in text.split() if len(word) > 3 and word.isupper())
    negative += min(shouting, 3) * 0.5
    score = (positive - negative) / (positive + negative + 2.0)
    score = max(-1.0, min(1.0, round(score, 3)))
    label = "negative" if score <= -0.2 else "positive" if score >= 0.2 else "neutral"
    return score, label


def prioritise(
    complaint: dict, category: str, sentiment_score: float, found: set[str] | None = None
) -> tuple[str, list[str]]:
    found = MATCHER.found(_complaint_text(complaint)) if found is None else found
    rules_hit = {index for phrase in found for index in URGENCY_RULES_BY_PHRASE.get(phrase, ())}
    points, reasons = 0, []
    for index, (reason, weight, _) in enumerate(URGENCY_RULES):
        if index in rules_hit:
            points += weight
            reasons.append(reason)
    if (complaint.get("disposition") or "").lower() == "escalated":
        points += 1
        reasons.append("escalated by the call centre")
    segment_points = SEGMENT_POINTS.get(complaint.get("segment") or "")
    if segment_points:
        points += segment_points[0]
        reasons.append(segment_points[1])
    if sentiment_score <= -0.5:
        points += 1
        reasons.append("very negative sentiment")
    if category == "Other" and points == 0:
        return "P4", ["no urgency signals"]
    priority = "P1" if points >= 5 else "P2" if points >= 3 else "P3" if points >= 1 else "P4"
    return priority, reasons or ["no urgency signals"]


class RulesModel:
    """The rules-based ComplaintModel."""

    version = VERSION

    def predict(self, complaints: Sequence[dict]) -> list[Prediction]:
        predictions = []
        for complaint in complaints:
            text = complaint.get("text") or ""
            found = MATCHER.found(_complaint_text(complaint))  # one pass for category and urgency phrases
            category, confidence = classify(complaint, found)
            # sentiment reads the text alone: without a subject that is the text already searched
            score, label = sentiment(text, None if complaint.get("subject") else found)
            priority, reasons = prioritise(complaint, category, score, found)
            predictions.append(Prediction(category, confidence, score, label, priority, reasons))
        return predictions
