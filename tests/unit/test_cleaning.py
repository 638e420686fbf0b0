import copy
import datetime as dt
import re

import pytest

from transforms.cleaning import (
    clean_complaint,
    clean_text,
    mask_contacts,
    normalise_email,
    normalise_handle,
    normalise_phone,
    parse_timestamp,
)
from transforms.records import RecordError


@pytest.mark.parametrize(
    "raw", ["+2348031234567", "2348031234567", "08031234567", "0803 123 4567", "0803-123-4567", " +234 803 123 4567 "]
)
def test_nigerian_numbers_in_every_format_become_the_same_e164(raw):
    assert normalise_phone(raw) == "+2348031234567"


@pytest.mark.parametrize("raw", ["", None, "12345", "not a number", "MTN"])
def test_things_that_are_not_phone_numbers_give_none(raw):
    assert normalise_phone(raw) is None


def test_foreign_numbers_keep_their_country():
    assert normalise_phone("+44 7700 900123") == "+447700900123"


def test_clean_text_unescapes_entities_even_double_escaped_and_collapses_whitespace():
    assert (
        clean_text("no signal &amp;amp; no data &gt;&gt;  \u200b today\\nplease")
        == "no signal & no data >> today please"
    )


def test_clean_text_normalises_unicode_to_nfc_and_keeps_emoji():
    assert clean_text("cafe\u0301 😡") == "caf\u00e9 😡"


def test_mask_contacts_hides_phones_and_emails_but_keeps_accounts_and_amounts():
    masked = mask_contacts("call 0803 123 4567 or +2348031234567, mail ada.k@example.com, acct BJN-00012345, N5000")
    assert masked == "call [phone] or [phone], mail [email], acct BJN-00012345, N5000"


def test_contact_normalisers():
    assert normalise_email(" Ada@Example.COM ") == "ada@example.com"
    assert normalise_email("not-an-email") is None
    assert normalise_handle("@Ada_K") == "ada_k"


def test_timestamps_with_offsets_become_utc():
    assert parse_timestamp("2026-11-26T10:01:00+01:00", "t") == dt.datetime(2026, 11, 26, 9, 1, tzinfo=dt.UTC)
    assert parse_timestamp("2026-11-26T07:15:02.000Z", "t") == dt.datetime(2026, 11, 26, 7, 15, 2, tzinfo=dt.UTC)
    assert parse_timestamp("2026-11-26T10:00:00-08:00", "t").hour == 18


def test_local_wall_clock_time_uses_the_given_zone():
    assert parse_timestamp("2026-11-26 08:01:12", "t", local_zone="Africa/Lagos") == dt.datetime(
        2026, 11, 26, 7, 1, 12, tzinfo=dt.UTC
    )
    assert parse_timestamp("2026-07-01 08:00:00", "t", local_zone="Europe/London").hour == 7  # BST


def test_unpadded_local_times_from_real_exports_are_accepted():
    assert parse_timestamp("1999-02-01 7:02:55", "t", local_zone="UTC") == dt.datetime(
        1999, 2, 1, 7, 2, 55, tzinfo=dt.UTC
    )


def test_bad_timestamps_are_record_errors_with_a_reason():
    with pytest.raises(RecordError) as error:
        parse_timestamp("26/11/2026 10:00", "created_at")
    assert error.value.error_type == "invalid_timestamp"
    with pytest.raises(RecordError) as error:
        parse_timestamp("2026-11-26T10:00:00", "created_at")  # no offset and no local zone: ambiguous
    assert error.value.error_type == "invalid_timestamp"
    with pytest.raises(RecordError) as error:
        parse_timestamp(None, "created_at")
    assert error.value.error_type == "missing_field"
    with pytest.raises(RecordError) as error:
        parse_timestamp("2026-11-26 08:00:00", "start", local_zone="Mars/Olympus")
    assert error.value.error_type == "invalid_timezone"


def test_clean_complaint_normalises_text_and_contacts_into_a_new_record():
    parsed = {
        "text": "Hi &amp; bye ",
        "subject": " Charged  twice ",
        "language": "EN",
        "_contacts": {
            "msisdn": "0803 123 4567",
            "email": "A@B.COM",
            "twitter_handle": "@Ada",
            "account_number": " bjn-00000001 ",
        },
    }
    original = copy.deepcopy(parsed)
    complaint = clean_complaint(parsed)
    assert parsed == original  # the input record is left as it was: another consumer may read it
    assert complaint["text"] == "Hi & bye"
    assert complaint["subject"] == "Charged twice"
    assert complaint["language"] == "en"
    assert complaint["_contacts"] == {
        "msisdn": "0803 123 4567",
        "msisdn_e164": "+2348031234567",
        "email": "a@b.com",
        "twitter_handle": "ada",
        "account_number": "BJN-00000001",
    }


# Real-world spellings of contact details, each masked wherever it stands in a sentence.
PHONES = [
    "+234 (803) 555-0002",
    "+234 803 555 0002",
    "+2348035550002",
    "2348035550002",
    "08035550002",
    "0803 555 0002",
    "0803-555-0002",
    "0803.555.0002",
    "0803/555/0002",
    "0803_555_0002",
    "0803\u2013555\u20130002",
    "0803\u2014555\u20140002",
    "(0803) 555 0002",
    "+234-803-555-0002",
    "+234.803.555.0002",
    "0 803 555 0002",
    "+44 20 7946 0958",
    "+1 (415) 555-2671",
    "+254 712 345678",
    "07700 900123",
    "+33 1 42 68 53 00",
]
EMAILS = [
    "ada@example.com",
    "Ada.Okafor+billing@mail.example.ng",
    "ada@bücher.de",
    "чек@пример.рф",
    "ada_o@sub.domain.co.uk",
]
LOOK_ALIKES = [
    "https://t.co/AbC123xyz9",
    "https://t.co/12345678901",
    "http://beejan.ng/help/0803-5550002",
    "www.beejan.ng/offers/20261126",
    "2026-11-26",
    "26/11/2026",
    "2026-11-26T10:30:00",
    "10:30:15",
    "N5,000",
    "\u20a612,500.00",
    "N1,250,000",
    "BJN-00012345",
    "ORD-20261126001",
    "#A1234567B",
    "500MB",
    "4G",
    "5.5GB",
    "2 hours",
    # digits glued to letters that are not phone numbers: order and reference numbers, plan names, a
    # date of birth, prices per minute
    "A1234567B",
    "ref ABC12345678",
    "INV2026112600123",
    "LTE2000",
    "4GLTE150GB",
    "nat27081980",
    "ACL03530150PM",
    "MTN1GB-N1000",
    "SN00012345678",
    "IMEI356938035643809",
]


@pytest.mark.parametrize("phone", PHONES)
@pytest.mark.parametrize(
    "template", ["{}", "call me on {} please", "({})", "tel{}", "tel:{}", "{}, thanks", "my number: {}."]
)
def test_phone_numbers_are_masked_however_they_are_written(phone, template):
    masked = mask_contacts(template.format(phone))
    assert "[phone]" in masked and not any(
        part in masked for part in ("555", "7946", "2671", "345678", "900123", "42 68")
    ), masked


# Numbers glued to words as people and SMS gateways write them: "call09050000327", "08452810075over".
GLUED = [
    "{}ext",
    "tel{}x12",
    "phone{}",
    "{}please",
    "Help{}",
    "number:{}ok",
    "{}ext.12",
    "{}x12",
    "{}-AG17",
    "call{} now",
    "(Ikeja){}",
]


@pytest.mark.parametrize(
    "phone",
    [
        "08035550002",
        "0803 555 0002",
        "+2348035550002",
        "2348035550002",
        "+234-803-555-0002",
        "(0803) 555 0002",
        "0803_555_0002",
        "07700 900123",
        "+44 20 7946 0958",
        "09050000327",
    ],
)
@pytest.mark.parametrize("template", GLUED)
def test_phone_numbers_glued_to_words_are_masked_whole(phone, template):
    masked = mask_contacts("my line " + template.format(phone) + " is down")
    assert "[phone]" in masked and not any(part in masked for part in ("555", "0002", "7946", "900123", "0327"))
    assert masked.startswith("my line ") and masked.endswith(" is down")


def test_two_numbers_with_a_slash_between_them_are_both_masked():
    assert mask_contacts("call 08035550002/08055550003 today") == "call [phone]/[phone] today"


@pytest.mark.parametrize("email", EMAILS)
def test_email_addresses_are_masked_in_any_script(email):
    assert mask_contacts(f"write to {email} today") == "write to [email] today"


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_of_contact_details_stay_as_written(text):
    sentence = f"see {text} for it, and call 0803 555 0002"
    assert mask_contacts(sentence) == f"see {text} for it, and call [phone]"


def test_the_fast_path_for_nigerian_mobiles_gives_what_libphonenumber_gives():
    import random

    import phonenumbers

    from transforms.cleaning import normalise_phone

    def slow(raw):
        candidate = raw.strip()
        if candidate[0].isdigit() and candidate.startswith("234") and len(re.sub(r"\\D", "", candidate)) == 13:
            candidate = "+" + candidate
        try:
            number = phonenumbers.parse(candidate, "NG")
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    rng = random.Random(5)
    spellings = []
    for _ in range(3000):
        prefix = rng.choice("789") + rng.choice("01") + str(rng.randrange(10))
        rest = f"{rng.randrange(1000):03d}{rng.randrange(10000):04d}"
        start = rng.choice(["+234", "234", "0", "+234 ", "234-", "0 "])
        separator = rng.choice(["", " ", "-"])
        spellings.append(f"{start}{prefix}{separator}{rest[:3]}{separator}{rest[3:]}")
    for raw in spellings:
        assert normalise_phone(raw) == slow(raw), raw


@pytest.mark.parametrize(
    "value, local_zone",
    [
        ("0001-01-01T00:00:00+14:00", None),
        ("9999-12-31T23:59:59-14:00", None),
        ("0001-01-01 00:00:00", "Asia/Tokyo"),
        ("9999-12-31 23:00:00", "America/New_York"),
    ],
)
def test_a_time_with_no_utc_equivalent_is_an_invalid_timestamp_not_a_crash(value, local_zone):
    with pytest.raises(RecordError) as refused:
        parse_timestamp(value, "created_at", local_zone=local_zone)
    assert refused.value.error_type == "invalid_timestamp" and "created_at" in refused.value.message
