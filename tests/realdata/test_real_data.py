"""Real public data (../shared/data/real, never copied into this repository) adapted into the channel formats
and run through ``complaints batch``: nothing may be lost and nothing may crash."""

import csv
import datetime as dt
import json
import random
import re
from urllib.parse import urlencode

import pytest

from tests.support.cli import latest_manifest, run_cli
from tests.support.paths import SHARED_REAL

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not SHARED_REAL.is_dir(), reason=f"real data not found at {SHARED_REAL} (it lives beside the repository)"
    ),
]
csv.field_size_limit(10**8)


def rows(relative: str, limit: int | None = None, **kwargs):
    with open(SHARED_REAL / relative, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        for number, row in enumerate(csv.DictReader(handle, **kwargs)):
            if limit is not None and number >= limit:
                break
            yield row


def x_payload(tweet_id: str, text: str, created_at: dt.datetime, author: str) -> bytes:
    data = {
        "id": tweet_id,
        "text": text,
        "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "author_id": author,
        "lang": "en",
    }
    if text.startswith("RT @"):
        data["referenced_tweets"] = [{"type": "retweeted", "id": "0"}]
    payload = {"data": data, "includes": {"users": [{"id": author, "username": f"user{author}"}]}}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8", errors="surrogateescape")


def twitter_time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")


def build_input(root) -> dict[str, int]:
    """Write the real records as channel files; returns how many raw records each channel got."""
    counts = {"twitter": 0, "webform": 0, "sms": 0, "phone": 0}
    for folder in ("twitter", "webforms", "sms", "phone_logs"):
        (root / folder).mkdir()

    lines = []
    for row in rows("twcs_telecom_inbound/twcs_telecom_inbound.csv"):
        lines.append(x_payload(row["tweet_id"], row["text"], twitter_time(row["created_at"]), row["author_id"]))
    for number, row in enumerate(rows("telecom_tweets_2015/telecom_tweets.csv")):
        lines.append(x_payload(f"2015{number:06d}", row["text"], twitter_time(row["created_at"]), "2015"))
    for number, row in enumerate(rows("us_isp_tweets_2021/analogous_tweets_nov_27.csv")):
        try:
            moment = dt.datetime.fromisoformat(row["Time"])
        except (TypeError, ValueError):
            moment = None
        line = x_payload(f"2021{number:06d}", row["Text"] or "", moment or dt.datetime(2021, 11, 27), "2021")
        if moment is None:  # the corrupted row: deliver it as the stream would, with its bad time
            line = line.replace(b"2021-11-27T00:00:00.000Z", (row["Time"] or "").encode())
        lines.append(line)
    for number, row in enumerate(rows("uk_mobile_tweets/uk_mobile_tweets.csv", limit=4000)):
        try:
            moment = dt.datetime(1899, 12, 30, tzinfo=dt.UTC) + dt.timedelta(days=float(row["Tweet Created At"]))
        except ValueError:
            moment = dt.datetime(2019, 12, 3, tzinfo=dt.UTC)
        lines.append(x_payload(f"uk{number:07d}", row["Tweet Text"], moment, "44"))
    (root / "twitter" / "real.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    counts["twitter"] = len(lines)

    forms, bodies = [], []
    for number, row in enumerate(rows("comcast_fcc_2015/comcast_fcc_complaints_2015.csv")):
        submitted = dt.datetime(2015, 6, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=-5))) + dt.timedelta(
            minutes=number
        )
        forms.append(
            json.dumps(
                {
                    "submission_id": f"fcc-{number}",
                    "submitted_at": submitted.isoformat(),
                    "fields": {"message": row["Description"], "topic": ""},
                },
                ensure_ascii=False,
            )
        )
    for row in rows("cfpb_complaints_sample/complaints_sample.csv"):
        if not row["Consumer complaint narrative"]:
            continue
        year, month, day = (int(part) for part in row["Date received"].split("/"))
        bodies.append(
            urlencode(
                {
                    "submission_id": f"cfpb-{row['Complaint ID']}",
                    "submitted_at": f"{year:04d}-{month:02d}-{day:02d}T12:00:00Z",
                    "subject": row["Issue"],
                    "topic": row["Product"],
                    "message": row["Consumer complaint narrative"],
                }
            )
        )
    (root / "webforms" / "fcc.jsonl").write_text("\n".join(forms) + "\n", encoding="utf-8", errors="surrogateescape")
    (root / "webforms" / "cfpb.form").write_text("\n".join(bodies) + "\n", encoding="utf-8")
    counts["webform"] = len(forms) + len(bodies)

    rng = random.Random(3)
    sms_lines = ["received_at|msisdn|shortcode|message_id|concat_ref|part|parts|body"]
    start = dt.datetime(2026, 11, 26, 8, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with open(SHARED_REAL / "sms_spam_collection" / "SMSSpamCollection", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle):
            _, _, body = line.rstrip("\n").partition("\t")
            body = body.replace("\n", "\\n")
            parts = [body[i : i + 153] for i in range(0, len(body), 153)] or [""]
            ref = f"{rng.randrange(256):02x}" if len(parts) > 1 else "0"
            sender = f"080{number:08d}"
            for index, text in enumerate(parts, start=1):
                moment = (start + dt.timedelta(seconds=7 * number + index)).isoformat()
                sms_lines.append(f"{moment}|{sender}|3737|real-{number}-{index}|{ref}|{index}|{len(parts)}|{text}")
    (root / "sms" / "sms_2026112608.txt").write_text("\n".join(sms_lines) + "\n", encoding="utf-8")
    counts["sms"] = len(sms_lines) - 1

    columns = [
        "call_id",
        "start_time",
        "end_time",
        "caller_number",
        "account_number",
        "agent_id",
        "queue",
        "wrap_up_code",
        "disposition",
        "notes",
    ]
    with open(root / "phone_logs" / "calls_19990201.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows("callcenter_anonymous_bank_feb1999/data_anonymous_bank_february.csv", limit=6000):
            day = dt.datetime.strptime(row["date"], "%y%m%d").date()
            begin = row["ser_start"] if row["ser_start"] != "0:00:00" else row["vru_entry"]
            end = row["ser_exit"] if row["ser_exit"] != "0:00:00" else row["vru_exit"]
            writer.writerow(
                [
                    f"{row['vru+line']}-{row['call_id']}",
                    f"{day} {begin}",
                    f"{day} {end}",
                    row["customer_id"],
                    "",
                    row["server"],
                    row["type"],
                    row["outcome"],
                    row["outcome"],
                    f"type {row['type']}, priority {row['priority']}, waited {row['q_time']} s",
                ]
            )
            counts["phone"] += 1
    return counts


def test_real_records_are_all_accounted_for(tmp_path):
    input_dir, output_dir = tmp_path / "in", tmp_path / "out"
    input_dir.mkdir()
    sent = build_input(input_dir)
    result = run_cli("batch", "--input-dir", str(input_dir), "--output-dir", str(output_dir), "--date", "2026-11-26")
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = latest_manifest(output_dir)
    assert manifest["balanced"]
    for source, count in sent.items():
        got = manifest["counts"][source]
        assert got["read"] == count, source
        assert got["read"] == got["written"] + got["rejected"] + got["duplicates"] + got["merged_parts"]
        assert got["written"] > 0.8 * (got["read"] - got["duplicates"] - got["merged_parts"]), (source, got)
        assert not any(reason.split(":")[1].startswith("unexpected") for reason in got["rejected_by_reason"]), got
    # Real retweets are duplicates, real multi-part texts are joined.
    assert manifest["counts"]["twitter"]["duplicates_by_reason"].get("retweet", 0) > 500
    assert manifest["counts"]["sms"]["merged_parts"] > 100


def test_models_train_on_the_real_layouts_and_evaluate_with_their_label_maps(tmp_path):
    models = tmp_path / "models"
    result = run_cli("model", "train", "--data", str(SHARED_REAL), "--output-dir", str(models))
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads((models / "model_card.json").read_text())
    assert card["training_data"]["datasets"] == ["sentitel", "uk_mobile_tweets"]
    assert card["models"]["category"]["held_out"]["macro_f1"] > 0.5
    for column, label_map, path in (
        ("Subject", "uk_mobile", "uk_mobile_tweets/uk_mobile_tweets.csv"),
        ("Sentiment", "uk_mobile_sentiment", "uk_mobile_tweets/uk_mobile_tweets.csv"),
    ):
        output = tmp_path / f"{column}.json"
        result = run_cli(
            "model",
            "evaluate",
            "--model-dir",
            str(models),
            "--input",
            str(SHARED_REAL / path),
            "--text-column",
            "Tweet Text",
            "--label-column",
            column,
            "--label-map",
            label_map,
            "--output",
            str(output),
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(output.read_text())["examples"] > 3000


def contains_reference(text: str, phrase: str) -> bool:
    """The rules model's phrase test as it was, one phrase at a time: a substring, and a short word
    (``models.rules.whole_word_only``) only where no ASCII letter or digit touches it."""
    import re

    from models.rules import whole_word_only

    if phrase not in text:
        return False
    if not whole_word_only(phrase):
        return True
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None


def test_the_one_pass_phrase_matcher_finds_what_the_phrase_by_phrase_search_found_on_real_tweets():
    """Every phrase of the rules model, on every text of the shared real tweets: the Aho-Corasick matcher finds
    exactly the phrases the earlier search found (so the model's labels are the same)."""
    from models.rules import ALL_PHRASES, MATCHER

    texts = [row["Tweet Text"] for row in rows("uk_mobile_tweets/uk_mobile_tweets.csv")]
    texts += [row["text"] for row in rows("twcs_telecom_inbound/twcs_telecom_inbound.csv", limit=20000)]
    texts += [row["text"] for row in rows("telecom_tweets_2015/telecom_tweets.csv", limit=20000)]
    assert len(texts) > 15000
    differing = []
    for text in texts:
        for variant in (" " + text.lower() + " ", text.lower()):
            if MATCHER.found(variant) != {p for p in ALL_PHRASES if contains_reference(variant, p)}:
                differing.append(text)
    assert not differing, differing[:5]


def reference_prediction(complaint: dict) -> tuple:
    """The rules model's labels computed the slow, obvious way: every phrase of every table searched on its own
    (``contains_reference``), every table walked in full. The model must give exactly these labels."""
    from models import rules

    text = complaint.get("text") or ""
    combined = " " + " ".join(filter(None, (complaint.get("subject"), text))).lower() + " "
    scores = {
        category: float(sum(weight for phrase, weight in words.items() if contains_reference(combined, phrase)))
        for category, words in rules.CATEGORY_KEYWORDS.items()
    }
    for value, weight in ((complaint.get("call_queue"), 3.0), (complaint.get("customer_topic"), 1.0)):
        hint = rules.STRUCTURED_HINTS.get((value or "").strip().lower())
        if hint:
            scores[hint] += weight
    wrap_up = (complaint.get("wrap_up_code") or "").upper()
    hint = next((hint for fragment, hint in rules.WRAP_UP_HINTS.items() if fragment in wrap_up), None)
    if hint:
        scores[hint] += 3.0
    best = max(scores, key=lambda c: (scores[c], -list(scores).index(c)))
    total = sum(scores.values())
    category, confidence = (
        ("Other", round(0.6 - min(total, 2.0) / 10.0, 3))
        if scores[best] < 2
        else (best, round(scores[best] / (total + 1.0), 3))
    )
    lowered = " " + text.lower() + " "
    negative = sum(weight for phrase, weight in rules.NEGATIVE.items() if contains_reference(lowered, phrase))
    positive = 0
    for phrase, weight in rules.POSITIVE.items():
        if contains_reference(lowered, phrase):
            at = lowered.find(phrase)
            if any(lowered[max(0, at - 8) : at].endswith(negation) for negation in rules.NEGATIONS):
                negative += weight
            else:
                positive += weight
    negative += min(text.count("!"), 3) * 0.5 if negative else 0
    negative += min(sum(1 for word in text.split() if len(word) > 3 and word.isupper()), 3) * 0.5
    score = max(-1.0, min(1.0, round((positive - negative) / (positive + negative + 2.0), 3)))
    label = "negative" if score <= -0.2 else "positive" if score >= 0.2 else "neutral"
    points, reasons = 0, []
    for reason, weight, phrases in rules.URGENCY_RULES:
        if any(contains_reference(combined, phrase) for phrase in phrases):
            points, reasons = points + weight, [*reasons, reason]
    if (complaint.get("disposition") or "").lower() == "escalated":
        points, reasons = points + 1, [*reasons, "escalated by the call centre"]
    if complaint.get("segment") in rules.SEGMENT_POINTS:
        extra, reason = rules.SEGMENT_POINTS[complaint["segment"]]
        points, reasons = points + extra, [*reasons, reason]
    if score <= -0.5:
        points, reasons = points + 1, [*reasons, "very negative sentiment"]
    if category == "Other" and points == 0:
        priority, reasons = "P4", ["no urgency signals"]
    else:
        priority = "P1" if points >= 5 else "P2" if points >= 3 else "P3" if points >= 1 else "P4"
        reasons = reasons or ["no urgency signals"]
    return category, confidence, score, label, priority, tuple(reasons)


def test_the_rules_model_labels_real_complaints_as_the_phrase_by_phrase_reference_does():
    """Category, confidence, sentiment, priority and reasons on real tweets and real call-centre and consumer
    complaint texts, some given a subject, a queue, a wrap-up code, a web-form topic or a segment: the model's
    one-pass matching and phrase-indexed scoring give exactly the reference's labels."""
    from models.rules import RulesModel

    texts = [row["Tweet Text"] for row in rows("uk_mobile_tweets/uk_mobile_tweets.csv")]
    texts += [row["text"] for row in rows("twcs_telecom_inbound/twcs_telecom_inbound.csv", limit=8000)]
    texts += [row["Text"] for row in rows("us_isp_tweets_2021/analogous_tweets_nov_27.csv", limit=4000)]
    assert len(texts) > 10000
    pick = random.Random(7)
    extras = [
        {},
        {"subject": "No SERVICE since Monday"},
        {"subject": "refund please", "customer_topic": "Billing"},
        {"call_queue": "Technical", "wrap_up_code": "NO_SERVICE_RESOLVED", "disposition": "escalated"},
        {"segment": "vip"},
        {"segment": "business", "customer_topic": "care"},
    ]
    complaints = [{"text": text, "subject": None, **pick.choice(extras)} for text in texts]
    predictions = RulesModel().predict(complaints)
    differing = [
        (complaint, prediction)
        for complaint, prediction in zip(complaints, predictions, strict=True)
        if (
            prediction.category,
            prediction.category_confidence,
            prediction.sentiment_score,
            prediction.sentiment_label,
            prediction.priority,
            tuple(prediction.priority_reasons),
        )
        != reference_prediction(complaint)
    ]
    assert not differing, differing[:3]


def real_texts():
    """Free text of real SMS, complaints and tweets, as cleaning leaves it."""
    from transforms.cleaning import clean_text

    for relative, column in [
        ("sms_spam_collection/sms_spam_collection.csv", "text"),
        ("comcast_fcc_2015/comcast_fcc_complaints_2015.csv", "Description"),
        ("cfpb_complaints_sample/complaints_sample.csv", "Consumer complaint narrative"),
        ("twcs_telecom_inbound/twcs_telecom_inbound.csv", "text"),
        ("telecom_tweets_2015/telecom_tweets.csv", "text"),
    ]:
        for row in rows(relative):
            yield clean_text(row[column])


# A national number (0 and ten digits, as UK and Nigerian ones are written) glued to a letter before or after it,
# as spam SMS write them ("call09050000327", "08452810075over"); and words whose digits are no phone number: codes
# and ids with a long run of digits not led by 0 ("nat27081980", a page's "yiv4071081077"), and short ones ("4G",
# "150p", "MobileUpd8").
GLUED_NATIONAL = re.compile(r"(?<=[A-Za-z])0[1-9]\d{9}(?!\d)|(?<![\d+])0[1-9]\d{9}(?=[A-Za-z])")
ORDINARY_WORDS = re.compile(
    r"(?<![\w-])(?:[A-Za-z]+[1-9]\d{6,}|[A-Za-z]*\d{1,6}[A-Za-z]+\w*|[A-Za-z]+\d{1,6})"
    r"(?![\w-])"
)


def test_phone_numbers_glued_to_words_in_real_texts_are_masked_and_ordinary_words_with_digits_are_not():
    from collections import Counter

    from transforms.cleaning import mask_contacts

    glued, words = 0, 0
    for text in real_texts():
        masked = mask_contacts(text)
        found = GLUED_NATIONAL.findall(text)
        glued += len(found)
        assert not any(number in masked for number in found), (text, masked)
        ordinary = Counter(ORDINARY_WORDS.findall(re.sub(r"\S*@\S*", " ", text)))  # e-mail addresses go whole
        words += sum(ordinary.values())
        assert not ordinary - Counter(ORDINARY_WORDS.findall(masked)), (text, masked)
    assert glued >= 10 and words >= 1000  # the real texts hold both shapes
