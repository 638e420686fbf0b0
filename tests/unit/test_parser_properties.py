"""Property: whatever a record holds, each channel's parser returns a complaint or raises ``RecordError``, never
another exception; and a complaint it returns goes through cleaning, validation and enrichment into a row that
the warehouse's Arrow schema accepts (a tweet whose ``lang`` was ``false`` once failed the whole run there)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from beam_pipelines.config import ValidationSettings
from beam_pipelines.parameters import validation_rules
from models.rules import RulesModel
from tests.support.records import make_raw
from transforms.cleaning import clean_complaint
from transforms.enrichment import enrich_complaints
from transforms.records import RecordError
from transforms.sources.customers import CustomerIndex, parse_customer
from transforms.sources.phone_logs import parse_call
from transforms.sources.sms import parse_sms_part
from transforms.sources.twitter import parse_tweet
from transforms.sources.webforms import parse_webform
from transforms.validation import validate_complaint

RULES = validation_rules(ValidationSettings(), None)
SCHEMA = schemas.arrow_schema("Complaint")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["2026-11-20T10:00:00Z", "2026-11-20 10:00:00", "+2348031234567"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def through_the_pipeline(parse, raw_record) -> None:
    """Parse, then clean, validate, enrich and make the Arrow table: only RecordError may stop a record."""
    try:
        complaint = parse(raw_record)
        complaint = validate_complaint(clean_complaint(complaint), RULES)
    except RecordError:
        return
    rows = enrich_complaints([complaint], CustomerIndex([]), RulesModel(), b"key")
    schemas.arrow_table(rows, SCHEMA)


@PROPERTY
@given(st.binary(max_size=300))
@pytest.mark.parametrize(
    "source, parse, name",
    [
        ("twitter", parse_tweet, "t.jsonl"),
        ("webform", parse_webform, "w.jsonl"),
        ("webform", parse_webform, "w.form"),
        ("sms", parse_sms_part, "s.txt"),
        ("phone", parse_call, "c.xml"),
    ],
)
def test_arbitrary_bytes_are_a_complaint_or_a_record_error(source, parse, name, data):
    through_the_pipeline(parse, make_raw(source, data, source_file=name))


@PROPERTY
@given(
    id_=json_values,
    text=json_values,
    created=json_values,
    lang=json_values,
    author=json_values,
    referenced=json_values,
    includes=json_values,
)
def test_tweets_with_any_json_values_are_a_complaint_or_a_record_error(
    id_, text, created, lang, author, referenced, includes
):
    payload = {
        "data": {
            "id": id_,
            "text": text,
            "created_at": created,
            "lang": lang,
            "author_id": author,
            "referenced_tweets": referenced,
        },
        "includes": includes,
    }
    through_the_pipeline(parse_tweet, make_raw("twitter", json.dumps(payload)))


@PROPERTY
@given(
    submission=json_values,
    submitted=json_values,
    fields=st.dictionaries(
        st.sampled_from(["full_name", "email", "phone", "account_number", "topic", "subject", "message", "x"]),
        json_values,
        max_size=7,
    )
    | json_values,
)
def test_web_forms_with_any_json_values_are_a_complaint_or_a_record_error(submission, submitted, fields):
    payload = {"submission_id": submission, "submitted_at": submitted, "fields": fields}
    through_the_pipeline(parse_webform, make_raw("webform", json.dumps(payload), source_file="w.jsonl"))


@PROPERTY
@given(st.lists(st.text(max_size=20), min_size=8, max_size=8))
def test_sms_lines_with_any_field_values_are_a_complaint_or_a_record_error(fields):
    through_the_pipeline(parse_sms_part, make_raw("sms", "|".join(fields), source_file="s.txt"))


CALL_HEADER = "call_id,start_time,end_time,msisdn,account_number,agent_id,queue,wrap_up_code,disposition,notes"


@PROPERTY
@given(st.lists(st.text(max_size=20), min_size=10, max_size=10))
def test_call_rows_with_any_values_are_a_complaint_or_a_record_error(values):
    import csv
    import io

    line = io.StringIO()
    csv.writer(line).writerow(values)
    raw = make_raw("phone", line.getvalue().rstrip("\r\n"), source_file="c.csv", attributes={"header": CALL_HEADER})
    through_the_pipeline(parse_call, raw)


@PROPERTY
@given(st.lists(st.text(max_size=20), min_size=9, max_size=9))
def test_customer_rows_with_any_values_are_a_profile_or_a_record_error(values):
    import csv
    import io

    line = io.StringIO()
    csv.writer(line).writerow(values)
    header = "account_number,msisdn,email,twitter_handle,full_name,segment,region,plan,tenure_months"
    try:
        parse_customer(
            make_raw("customers", line.getvalue().rstrip("\r\n"), source_file="c.csv", attributes={"header": header})
        )
    except RecordError:
        pass


@pytest.mark.parametrize("lang", [False, 0, [], {}, True, 1.5])
def test_a_tweet_whose_lang_is_not_text_is_a_dead_letter_with_a_reason(lang):
    payload = {"data": {"id": "19", "text": "no signal", "created_at": "2026-11-20T10:00:00Z", "lang": lang}}
    with pytest.raises(RecordError) as error:
        parse_tweet(make_raw("twitter", json.dumps(payload)))
    assert error.value.error_type == "invalid_field" and "data.lang" in error.value.message


@pytest.mark.parametrize(
    "tweet_id, accepted",
    [
        ("1900000000000000005", True),
        (1900000000000000005, True),
        (1.9000000000000005e18, False),
        (True, False),
        ([1], False),
        ({"id": 1}, False),
    ],
)
def test_ids_are_exact_text_or_refused(tweet_id, accepted):
    payload = {"data": {"id": tweet_id, "text": "no signal", "created_at": "2026-11-20T10:00:00Z"}}
    raw = make_raw("twitter", json.dumps(payload))
    if accepted:
        assert parse_tweet(raw)["source_record_id"] == "1900000000000000005"
    else:
        with pytest.raises(RecordError):
            parse_tweet(raw)
