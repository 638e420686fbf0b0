import datetime as dt
import json
from urllib.parse import urlencode

import pytest

from tests.support.records import make_raw
from transforms.records import RecordError
from transforms.sources.customers import CustomerIndex, parse_customer
from transforms.sources.phone_logs import parse_call
from transforms.sources.sms import assemble_parts, parse_sms_part
from transforms.sources.twitter import parse_tweet
from transforms.sources.webforms import parse_webform

TWEET = {
    "data": {
        "id": "1861234567890123456",
        "text": "@BeejanCare no signal in Ikeja &amp; Yaba 😡",
        "created_at": "2026-11-26T07:15:02.000Z",
        "author_id": "998877",
        "lang": "en",
    },
    "includes": {"users": [{"id": "998877", "username": "ada_k", "name": "Ada K"}]},
}


def test_tweet_becomes_a_complaint_with_deterministic_id_and_author_handle():
    complaint = parse_tweet(make_raw("twitter", json.dumps(TWEET, ensure_ascii=False)))
    again = parse_tweet(make_raw("twitter", json.dumps(TWEET), line=99))
    assert complaint["complaint_id"] == again["complaint_id"]
    assert complaint["source_record_id"] == "1861234567890123456"
    assert complaint["event_time"] == dt.datetime(2026, 11, 26, 7, 15, 2, tzinfo=dt.UTC)
    assert complaint["_contacts"]["twitter_handle"] == "ada_k"
    assert complaint["language"] == "en"
    assert "_duplicate_reason" not in complaint


def test_retweet_is_marked_as_a_duplicate_and_extra_fields_are_ignored():
    payload = json.loads(json.dumps(TWEET))
    payload["data"]["referenced_tweets"] = [{"type": "retweeted", "id": "1"}]
    payload["data"]["new_field_from_x"] = {"anything": True}
    assert parse_tweet(make_raw("twitter", json.dumps(payload)))["_duplicate_reason"] == "retweet"


@pytest.mark.parametrize(
    "line,error_type",
    [
        ('{"data": {"id": "1", "text": "x", "created_at": "2026-11-26T07:15:02Z"', "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('{"data": {"text": "x", "created_at": "2026-11-26T07:15:02Z"}}', "missing_field"),
        ('{"data": {"id": "1", "text": "x"}}', "missing_field"),
        ('{"data": {"id": "1", "text": "x", "created_at": "yesterday"}}', "invalid_timestamp"),
        ('{"includes": {}}', "missing_field"),
    ],
)
def test_bad_tweets_raise_record_errors_with_a_reason(line, error_type):
    with pytest.raises(RecordError) as error:
        parse_tweet(make_raw("twitter", line))
    assert error.value.error_type == error_type


def test_invalid_utf8_is_rejected_at_read_stage():
    with pytest.raises(RecordError) as error:
        parse_tweet(make_raw("twitter", b'{"data": "\xff"}'))
    assert (error.value.stage, error.value.error_type) == ("read", "invalid_utf8")


FORM_FIELDS = {
    "full_name": "Ada Kalu",
    "email": "ada@example.com",
    "phone": "0803 123 4567",
    "account_number": "BJN-00012345",
    "topic": "Billing",
    "subject": "Charged twice",
    "message": "I was charged twice",
}


def test_webform_json_and_urlencoded_bodies_give_the_same_complaint():
    payload = {"submission_id": "wf-1", "submitted_at": "2026-11-26T10:01:00+01:00", "fields": FORM_FIELDS}
    from_json = parse_webform(make_raw("webform", json.dumps(payload), source_file="webforms/a.jsonl"))
    body = urlencode({"submission_id": "wf-1", "submitted_at": "2026-11-26T10:01:00+01:00", **FORM_FIELDS})
    from_form = parse_webform(make_raw("webform", body, source_file="webforms/a.form"))
    for complaint in (from_json, from_form):
        assert complaint["complaint_id"] == from_json["complaint_id"]
        assert complaint["event_time"] == dt.datetime(2026, 11, 26, 9, 1, tzinfo=dt.UTC)
        assert complaint["customer_topic"] == "Billing"
        assert complaint["_contacts"]["account_number"] == "BJN-00012345"
        assert complaint["text"] == "I was charged twice"


def test_webform_without_submission_id_or_with_garbage_is_rejected():
    with pytest.raises(RecordError) as error:
        parse_webform(
            make_raw(
                "webform",
                json.dumps({"submitted_at": "2026-11-26T10:01:00Z", "fields": {}}),
                source_file="webforms/a.jsonl",
            )
        )
    assert error.value.error_type == "missing_field"
    with pytest.raises(RecordError) as error:
        parse_webform(make_raw("webform", "just some text", source_file="webforms/a.form"))
    assert error.value.error_type == "invalid_form_body"


def sms(line, n=1, source_file="sms/sms_2026112609.txt"):
    return parse_sms_part(make_raw("sms", line, source_file=source_file, line=n))


def test_sms_body_may_contain_pipes_and_numbers_become_e164():
    part = sms("2026-11-26T09:00:41+01:00|08031234567|3737|smsc-1|0|1|1|data | voice both down")
    assert part["text"] == "data | voice both down"
    assert part["_sms"]["sender"] == "+2348031234567"
    assert part["sms_parts_expected"] == 1


@pytest.mark.parametrize(
    "line,error_type",
    [
        ("2026-11-26T09:00:41+01:00|0803|3737", "wrong_field_count"),
        ("2026-11-26T09:00:41+01:00|08031234567|3737||0|1|1|hi", "missing_field"),
        ("2026-11-26T09:00:41+01:00|08031234567|3737|m|a7|3|2|hi", "invalid_part_numbers"),
        ("2026-11-26T09:00:41+01:00|08031234567|3737|m|a7|x|2|hi", "invalid_field"),
        ("20261126090041|08031234567|3737|m|0|1|1|hi", "invalid_timestamp"),
    ],
)
def test_bad_sms_lines_are_rejected(line, error_type):
    with pytest.raises(RecordError) as error:
        sms(line)
    assert error.value.error_type == error_type


def test_multipart_sms_joins_out_of_order_across_files_in_both_phone_formats():
    parts = [
        sms("2026-11-26T10:00:02+01:00|+2348031234567|3737|smsc-9|a7|2|2| this month.", 3, "sms/sms_2026112610.txt"),
        sms("2026-11-26T09:59:58+01:00|08031234567|3737|smsc-8|a7|1|2|Billed twice", 7, "sms/sms_2026112609.txt"),
    ]
    complaints, merged, duplicates = assemble_parts(parts, dt.timedelta(hours=24))
    assert (merged, duplicates) == (1, 0)
    [complaint] = complaints
    assert complaint["text"] == "Billed twice this month."
    assert complaint["source_record_id"] == "smsc-8"
    assert complaint["event_time"] == dt.datetime(2026, 11, 26, 8, 59, 58, tzinfo=dt.UTC)
    assert complaint["flags"] == []
    assert complaint["_raw"]["raw"].count("\n") == 1  # both parts' lines kept for the dead letter


def test_incomplete_sms_is_emitted_with_partial_flag_and_repeated_parts_are_duplicates():
    line = "2026-11-26T09:00:00+01:00|08031234567|3737|smsc-1|b1|1|3|first part"
    parts = [sms(line), sms(line, 2), sms("2026-11-26T09:00:09+01:00|08031234567|3737|smsc-3|b1|3|3| third part", 3)]
    complaints, merged, duplicates = assemble_parts(parts, dt.timedelta(hours=24))
    assert (len(complaints), merged, duplicates) == (1, 1, 1)
    assert complaints[0]["flags"] == ["partial_sms"]
    assert (complaints[0]["sms_parts_expected"], complaints[0]["sms_parts_received"]) == (3, 2)


def test_a_reused_concat_reference_starts_a_new_message():
    parts = [
        sms("2026-11-26T09:00:00+01:00|08031234567|3737|m1|c3|1|2|first message a"),
        sms("2026-11-26T09:00:04+01:00|08031234567|3737|m2|c3|2|2|first message b"),
        sms("2026-11-26T15:00:00+01:00|08031234567|3737|m3|c3|1|2|second message a"),
        sms("2026-11-26T15:00:04+01:00|08031234567|3737|m4|c3|2|2|second message b"),
    ]
    complaints, merged, _ = assemble_parts(parts, dt.timedelta(hours=1))
    assert sorted(c["text"] for c in complaints) == [
        "first message afirst message b",
        "second message asecond message b",
    ]
    assert merged == 2


CSV_HEADER = "call_id,start_time,end_time,caller_number,account_number,agent_id,queue,wrap_up_code,disposition,notes"


def test_phone_csv_row_uses_local_call_centre_time_and_its_own_header_order():
    row = (
        "C-1,2026-11-26 08:01:12,2026-11-26 08:09:40,08031234567,BJN-00012345,AG-17,billing,BILL_DISPUTE,"
        'resolved,"Charged twice,\nrefund raised"'
    )
    complaint = parse_call(
        make_raw("phone", row, source_file="phone_logs/calls.csv", attributes={"header": CSV_HEADER})
    )
    assert complaint["event_time"] == dt.datetime(2026, 11, 26, 7, 1, 12, tzinfo=dt.UTC)
    assert complaint["call_duration_seconds"] == 508
    assert complaint["text"] == "Charged twice,\nrefund raised"
    reordered = "notes,call_id,start_time\n"
    complaint = parse_call(
        make_raw("phone", '"hello",C-2,2026-11-26 08:00:00', attributes={"header": reordered.strip()})
    )
    assert complaint["source_record_id"] == "C-2" and complaint["text"] == "hello"


def test_phone_csv_row_with_wrong_field_count_is_rejected():
    with pytest.raises(RecordError) as error:
        parse_call(make_raw("phone", "C-1,2026-11-26 08:01:12", attributes={"header": CSV_HEADER}))
    assert error.value.error_type == "wrong_field_count"


def test_phone_xml_call_uses_the_export_time_zone():
    element = (
        '<call id="C-2"><start>2026-11-26T08:05:00</start><end>2026-11-26T08:20:31</end>'
        "<caller>+2348039876543</caller><account/><queue>network</queue><wrap_up>NO_SERVICE</wrap_up>"
        "<notes>No 4G in Lekki &amp; Ajah</notes></call>"
    )
    complaint = parse_call(make_raw("phone", element, line=None, offset=120, attributes={"timezone": "Europe/London"}))
    assert complaint["event_time"] == dt.datetime(2026, 11, 26, 8, 5, tzinfo=dt.UTC)
    assert complaint["text"] == "No 4G in Lekki & Ajah"
    assert complaint["wrap_up_code"] == "NO_SERVICE" and complaint["source_position"] == 120


def test_phone_xml_errors_from_the_reader_are_rejected_at_read_stage():
    with pytest.raises(RecordError) as error:
        parse_call(
            make_raw("phone", "<!DOCTYPE ...>", offset=0, line=None, attributes={"error": "EntitiesForbidden: ..."})
        )
    assert (error.value.stage, error.value.error_type) == ("read", "xml_forbidden")


def test_customer_rows_are_normalised_and_indexed():
    header = "account_number,msisdn,email,twitter_handle,full_name,segment,region,plan,tenure_months"
    customer = parse_customer(
        make_raw(
            "customers",
            "bjn-00000001,0803 123 4567,Ada@Example.com,@Ada,Ada K,VIP,Lagos,Flex,12",
            attributes={"header": header},
        )
    )
    assert customer["account_number"] == "BJN-00000001" and customer["msisdn"] == "+2348031234567"
    assert customer["segment"] == "vip" and customer["twitter_handle"] == "ada"
    index = CustomerIndex([customer])
    assert index.by_email["ada@example.com"] is customer
    with pytest.raises(RecordError):
        parse_customer(make_raw("customers", "BJN-2,,,,X,platinum,,,", attributes={"header": header}))


def test_two_senders_reusing_one_message_id_are_two_complaints_and_one_sender_resending_is_one():
    ada = sms("2026-11-26T09:00:00+01:00|08031234567|3737|msg-1|0|1|1|no network in Yaba")
    bola = sms("2026-11-26T09:05:00+01:00|08037654321|3737|msg-1|0|1|1|charged twice for data")
    again = sms("2026-11-26T09:06:00+01:00|+2348031234567|3737|msg-1|0|1|1|no network in Yaba")
    assert ada["complaint_id"] != bola["complaint_id"]
    assert ada["complaint_id"] == again["complaint_id"]  # the same sender in another format
    assert ada["source_record_id"] == bola["source_record_id"] == "msg-1"


def test_a_partial_sms_without_its_first_part_carries_no_phone_number_in_its_record_id():
    parts = [sms("2026-11-26T09:00:09+01:00|08031234567|3737|smsc-3|b1|3|3| third part", 3)]
    complaints, _, _ = assemble_parts(parts, dt.timedelta(hours=24))
    [complaint] = complaints
    assert complaint["source_record_id"].startswith("partial-")
    assert "8031234567" not in complaint["source_record_id"] and "partial_sms" in complaint["flags"]
