import datetime as dt
import json
import re

import pytest

from beam_pipelines.config import ValidationSettings
from beam_pipelines.parameters import validation_rules
from models.rules import RulesModel
from tests.support.records import make_raw
from transforms.cleaning import clean_complaint
from transforms.enrichment import contact_token, enrich_complaints, link_customer
from transforms.records import RecordError
from transforms.sources.customers import CustomerIndex
from transforms.sources.twitter import parse_tweet
from transforms.validation import validate_complaint

RULES = validation_rules(ValidationSettings(), dt.date(2026, 11, 26))
KEY = b"test-key"
CUSTOMERS = CustomerIndex(
    [
        {
            "account_number": "BJN-00000001",
            "msisdn": "+2348031234567",
            "email": "ada@example.com",
            "twitter_handle": "ada_k",
            "segment": "vip",
            "region": "Lagos",
            "plan": "Flex",
            "tenure_months": 3,
        },
        {
            "account_number": "BJN-00000002",
            "msisdn": "+2348030000002",
            "email": "bo@example.com",
            "twitter_handle": "bo",
            "segment": "consumer",
            "region": "Abuja",
            "plan": "Lite",
            "tenure_months": 9,
        },
    ]
)


def tweet(text="no signal in Ikeja", created_at="2026-11-26T07:15:02Z", handle="ada_k"):
    payload = {
        "data": {"id": "42", "text": text, "created_at": created_at, "author_id": "1"},
        "includes": {"users": [{"id": "1", "username": handle}]},
    }
    return clean_complaint(parse_tweet(make_raw("twitter", json.dumps(payload))))


def test_clean_record_passes_without_flags():
    assert validate_complaint(tweet(), RULES)["flags"] == []


@pytest.mark.parametrize(
    "kwargs,flag",
    [
        ({"text": "   "}, "empty_text"),
        ({"created_at": "2036-11-26T07:15:02Z"}, "future_timestamp"),
        ({"created_at": "2026-11-20T07:15:02Z"}, "late_arrival"),
        ({"created_at": "2024-01-20T07:15:02Z"}, "stale_event_time"),
        ({"handle": None}, "no_contact"),
    ],
)
def test_suspicious_records_are_flagged_not_rejected(kwargs, flag):
    assert flag in validate_complaint(tweet(**kwargs), RULES)["flags"]


def test_implausible_records_are_rejected_at_validate_stage():
    with pytest.raises(RecordError) as error:
        validate_complaint(tweet(created_at="1970-01-01T00:00:00Z"), RULES)
    assert (error.value.stage, error.value.error_type) == ("validate", "event_time_out_of_range")
    with pytest.raises(RecordError) as error:
        validate_complaint(tweet(text="x" * 20_001), RULES)
    assert error.value.error_type == "text_too_long"


def test_implausible_call_duration_is_flagged():
    complaint = tweet()
    complaint["call_duration_seconds"] = -60
    assert "implausible_call_duration" in validate_complaint(complaint, RULES)["flags"]


def test_customer_linking_follows_the_contract_order():
    complaint = tweet(handle="bo")
    complaint["_contacts"].update(account_number="BJN-00000001")
    assert link_customer(complaint, CUSTOMERS)[1] == "account_number"
    complaint["_contacts"]["account_number"] = "BJN-99999999"  # unknown account: fall through
    complaint["_contacts"]["msisdn_e164"] = "+2348031234567"
    assert link_customer(complaint, CUSTOMERS)[0]["account_number"] == "BJN-00000001"
    assert link_customer(complaint, CUSTOMERS)[1] == "msisdn"
    complaint["_contacts"]["msisdn_e164"] = None
    assert link_customer(complaint, CUSTOMERS) == (CUSTOMERS.by_handle["bo"], "twitter_handle")
    complaint["text"] = "my account is BJN-00000001"
    assert link_customer(complaint, CUSTOMERS)[1] == "account_in_text"


def test_contact_token_is_keyed_stable_and_never_the_value():
    contacts = {"msisdn_e164": "+2348031234567"}
    token = contact_token(contacts, KEY)
    assert token == contact_token(dict(contacts), KEY)
    assert token != contact_token(contacts, b"another-key")
    assert "2348031234567" not in token
    assert contact_token({}, KEY) is None


def test_contact_token_is_the_hmac_sha256_of_kind_and_value_so_tokens_of_earlier_runs_still_join():
    import hashlib
    import hmac

    for contacts, message in (
        ({"msisdn_e164": "+2348031234567", "email": "a@b.ng"}, "msisdn_e164:+2348031234567"),
        ({"email": "ada@example.com"}, "email:ada@example.com"),
        ({"twitter_handle": "ngozi_ok"}, "twitter_handle:ngozi_ok"),
    ):
        expected = hmac.new(KEY, message.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
        assert contact_token(contacts, KEY) == expected


def test_enrichment_produces_warehouse_rows_that_match_the_schema_and_mask_contacts():
    import schemas

    complaint = tweet(text="@BeejanCare no signal in Ikeja for 2 days, call me on 0803 123 4567 or ada@example.com 😡")
    rows = enrich_complaints([validate_complaint(complaint, RULES)], CUSTOMERS, RulesModel(), KEY)
    [row] = rows
    assert row["customer_id"] == "BJN-00000001" and row["segment"] == "vip"
    assert "0803" not in row["text"] and "ada@example.com" not in row["text"]
    assert "[phone]" in row["text"] and "[email]" in row["text"]
    assert row["category"] == "Network" and row["priority"] == "P1"
    assert row["route_queue"] == "priority-escalations"
    assert row["model_version"].startswith("rules-")
    schemas.validate("Complaint", {**row, "event_date": row["event_time"].date()})
    assert list(row) == [name for name in schemas.field_names("Complaint") if name != "event_date"]


def test_validation_and_enrichment_return_new_records_and_leave_their_input_as_it_was():
    import copy

    parsed = tweet(handle="stranger", text="")
    before = copy.deepcopy(parsed)
    validated = validate_complaint(parsed, RULES)
    assert parsed == before and "empty_text" in validated["flags"]
    validated_before = copy.deepcopy(validated)
    [row] = enrich_complaints([validated], CUSTOMERS, RulesModel(), KEY)
    assert validated == validated_before
    assert row["flags"] == ["empty_text", "unknown_customer"]


def test_unknown_customer_is_flagged():
    [row] = enrich_complaints([tweet(handle="stranger")], CUSTOMERS, RulesModel(), KEY)
    assert row["customer_id"] is None and row["customer_match"] == "none"
    assert "unknown_customer" in row["flags"]


@pytest.mark.parametrize(
    "text,category",
    [
        ("I was charged twice for my bundle, I want a refund", "Billing"),
        ("no network in Lekki since yesterday, data not working", "Network"),
        ("your agent was rude and hung up on me, no response to my ticket", "Customer Service"),
        ("how do I do a sim swap", "Other"),
    ],
)
def test_rules_model_categories(text, category):
    [prediction] = RulesModel().predict([{"text": text}])
    assert prediction.category == category
    assert 0 <= prediction.category_confidence <= 1


def test_rules_model_sentiment_and_priority_reasons():
    model = RulesModel()
    [angry] = model.predict([{"text": "worst service ever, absolutely useless!!! I will report you to the NCC 😡"}])
    [happy] = model.predict([{"text": "thank you, the data is fixed now, great support"}])
    assert angry.sentiment_label == "negative" and angry.sentiment_score < 0
    assert happy.sentiment_label == "positive" and happy.sentiment_score > 0
    assert "regulator or legal threat" in angry.priority_reasons
    assert angry.priority in ("P1", "P2") and happy.priority in ("P3", "P4")


def test_a_master_that_contradicts_itself_is_reported_and_shared_identifiers_link_no_one():
    base = {
        "msisdn": None,
        "email": None,
        "twitter_handle": None,
        "segment": "consumer",
        "region": "Lagos",
        "plan": "P",
        "full_name": "A",
        "tenure_months": 3,
    }
    rows = [
        {**base, "account_number": "BJN-1", "segment": "vip", "twitter_handle": "ada"},
        {**base, "account_number": "BJN-1", "segment": "consumer", "twitter_handle": "ada"},
        {**base, "account_number": "BJN-1", "segment": "business", "twitter_handle": "ada"},
        {**base, "account_number": "BJN-2", "twitter_handle": "shared", "msisdn": "+2348030000002"},
        {**base, "account_number": "BJN-3", "twitter_handle": "shared", "msisdn": "+2348030000003"},
    ]
    forwards, backwards = CustomerIndex(rows), CustomerIndex(list(reversed(rows)))
    assert forwards.conflicts == {"account_repeated_with_other_values": 2, "handle_shared": 1}
    assert forwards.by_account["BJN-1"] == backwards.by_account["BJN-1"]  # the same version whatever the order
    assert "shared" not in forwards.by_handle and forwards.by_handle["ada"]["account_number"] == "BJN-1"
    assert forwards.by_msisdn["+2348030000002"]["account_number"] == "BJN-2"
    assert forwards.conflict_examples["handle_shared"] == ["BJN-2 and BJN-3 share one handle"]


def test_the_customer_index_of_a_random_master_is_the_one_its_rules_define_whatever_the_row_order():
    import random

    rng = random.Random(3)

    def reference(rows):
        """The contract's rules, written plainly: the smallest version of an account by its values; an identifier
        listed by one account links to it, one listed by several links to none."""
        kept = {}
        for account in {row["account_number"] for row in rows}:
            versions = [row for row in rows if row["account_number"] == account]
            kept[account] = min(versions, key=lambda c: sorted((k, str(v)) for k, v in c.items()))
        lookups = {}
        for key in ("msisdn", "email", "twitter_handle"):
            owners = {}
            for account, row in kept.items():
                if row[key]:
                    owners.setdefault(row[key], set()).add(account)
            lookups[key] = {
                value: kept[next(iter(accounts))] for value, accounts in owners.items() if len(accounts) == 1
            }
        return kept, lookups

    for _ in range(200):
        rows = [
            {
                "account_number": f"BJN-{rng.randint(1, 12)}",
                "segment": rng.choice(["vip", "consumer"]),
                "msisdn": rng.choice([None, "+2348030000001", "+2348030000002", f"+23480{rng.randint(0, 10**8)}"]),
                "email": rng.choice([None, "a@b.ng", f"{rng.randint(0, 9)}@c.ng"]),
                "twitter_handle": rng.choice([None, "ada", f"h{rng.randint(0, 30)}"]),
            }
            for _ in range(rng.randint(0, 25))
        ]
        index, shuffled = CustomerIndex(rows), CustomerIndex(rng.sample(rows, len(rows)))
        kept, lookups = reference(rows)
        assert index.by_account == kept
        assert (index.by_msisdn, index.by_email, index.by_handle) == (
            lookups["msisdn"],
            lookups["email"],
            lookups["twitter_handle"],
        )
        assert (shuffled.conflicts, shuffled.conflict_examples) == (index.conflicts, index.conflict_examples)


@pytest.mark.parametrize(
    "rules, message",
    [
        # before: each complaint became a validate:unexpected_TypeError dead letter once the pipeline ran
        ({"max_text_chars": "40"}, "max_text_chars must be a whole number of at least 1, not '40'"),
        ({"batch_date": "2026-11-20"}, "batch_date must be a datetime.date or None, not '2026-11-20'"),
        ({"batch_date": dt.datetime(2026, 11, 20, tzinfo=dt.UTC)}, "batch_date must be a datetime.date or None"),
        ({"stale_after": 365}, "stale_after must be a datetime.timedelta, not 365"),
        ({"future_tolerance": dt.timedelta(minutes=-10)}, "future_tolerance must not be negative"),
        # before: silently judged as 0 days (late_after.days), so every event of an earlier day was late
        ({"late_after": dt.timedelta(hours=36)}, "late_after must be whole days"),
    ],
)
def test_validation_rules_the_validation_could_not_apply_are_refused_when_made(rules, message):
    from transforms.validation import ValidationRules

    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        ValidationRules(**rules)


def test_validation_rules_in_whole_days_and_the_defaults_are_accepted():
    from transforms.validation import ValidationRules

    rules = ValidationRules(batch_date=dt.date(2026, 11, 20), late_after=dt.timedelta(days=2), max_text_chars=40)
    assert (rules.late_after, rules.max_text_chars) == (dt.timedelta(days=2), 40)
    assert ValidationRules().late_after == dt.timedelta(days=1)
