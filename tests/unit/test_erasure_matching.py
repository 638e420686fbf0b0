"""How an erasure tells a person's records (warehouse/erasure.py): phone numbers in any spelling, e-mails in form
posts, handles, customer ids, raw text kept as base64, a request that gives only a contact token; and the atomic
rewrite of a JSON-lines file that keeps every other line byte for byte."""

import base64
import gzip
import json

import pytest

from warehouse.erasure import ErasureError, Linked, Matcher, Subject, contact_token, line_matches, rewrite_without

KEY = b"unit-test-key"
PERSON = Subject.of(
    KEY, customer_ids=["BJN-00000081"], contacts=["0806 900 4642", "Aisha.Lawal81@Example.com", "@Aisha_L81"]
)


def test_the_token_is_the_pipelines_contact_token():
    from transforms.enrichment import contact_token as pipeline_token

    for kind, value in (("msisdn_e164", "+2348069004642"), ("email", "a@b.ng"), ("twitter_handle", "aisha_l81")):
        assert contact_token(KEY, kind, value) == pipeline_token({kind: value}, KEY)


def test_a_request_names_contacts_in_any_spelling_and_refuses_what_is_none():
    assert PERSON.phones == {"+2348069004642"}
    assert PERSON.emails == {"aisha.lawal81@example.com"} and PERSON.handles == {"aisha_l81"}
    with pytest.raises(ErasureError):
        Subject.of(KEY, contacts=["not a contact!"])


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20T01:51:30+01:00|0806-900-4642|3737|smsc-1|0|1|1|no signal",  # an SMS line, beside other digits
        "call me on +234 (806) 900 4642 please",
        "234.806.900.4642",
        "tel:08069004642",
        "submission_id=wf-1&email=aisha.lawal81%40example.com&phone=0806+900+4642",  # a form post
        '{"includes": {"users": [{"username": "Aisha_L81"}]}}',
        "thanks @aisha_l81!",
        "C-1,2026-11-20 19:54:34,,bjn00000081,AG-28,billing",  # the id without its hyphen
    ],
)
def test_the_person_is_found_however_they_are_written(text):
    assert Matcher(PERSON).names(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20T01:51:30+01:00|0806-900-4643|3737|smsc-1|0|1|1|no signal",  # one digit off
        "aisha.lawal810@example.com",
        "@aisha_l810",
        "BJN-000000812",
        "user aisha_l81 without an at or a field",
        "the 08069 bundle cost 004642 naira",
    ],
)
def test_other_people_and_near_misses_are_not(text):
    assert not Matcher(PERSON).names(text)


def test_raw_text_kept_as_base64_is_decoded():
    raw = base64.b64encode(b'{"phone": "08069004642", "bad": "\xe9\xff"}').decode("ascii")
    assert Matcher(PERSON).names_raw(raw, "base64") and not Matcher(PERSON).names_raw(raw, "utf-8")


def test_a_token_alone_finds_raw_text_through_the_keyed_hash():
    token = contact_token(KEY, "msisdn_e164", "+2348069004642")
    only_token = Matcher(Subject.of(KEY, tokens=[token]))
    assert only_token.names("from 0806 900 4642") and not only_token.names("from 0806 900 4643")


def test_a_lake_line_goes_by_its_key_its_complaint_or_its_text():
    linked = Linked(complaint_ids={"tw-1"}, lake_keys={("sms", "sms/a.txt", 7)})
    matcher = Matcher(PERSON)
    assert line_matches({"source": "sms", "source_file": "sms/a.txt", "line": 7, "raw": "x"}, matcher, linked)
    assert line_matches({"text": "x", "complaint_id": "tw-1"}, matcher, linked)
    assert line_matches(
        {"source": "sms", "source_file": "sms/a.txt", "line": 8, "raw": "from 08069004642"}, matcher, linked
    )
    assert not line_matches({"source": "sms", "source_file": "sms/a.txt", "line": 8, "raw": "x"}, matcher, linked)


@pytest.mark.parametrize("compressed", [False, True])
def test_a_rewrite_keeps_every_other_line_byte_for_byte(tmp_path, compressed):
    lines = [
        b'{"raw": "keep \\u00e9 me",  "n": 1}\n',
        b'{"raw": "08069004642"}\n',
        b"not json at all\n",
        b'{"raw":"keep too"}',
    ]  # odd spacing, an escape, a line that is not JSON, no final newline
    path = tmp_path / ("part.jsonl.gz" if compressed else "part.jsonl")
    (gzip.open if compressed else open)(path, "wb").write(b"".join(lines))
    matcher = Matcher(PERSON)
    assert rewrite_without(path, lambda record: line_matches(record, matcher, Linked())) == 1
    assert (gzip.open if compressed else open)(path, "rb").read() == b"".join(lines[:1] + lines[2:])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    before = path.stat().st_mtime_ns
    assert rewrite_without(path, lambda record: False) == 0 and path.stat().st_mtime_ns == before  # untouched
    assert json.loads(lines[0])["n"] == 1


def test_the_audits_hash_names_the_request_without_its_identifiers():
    by_contact = Subject.of(KEY, contacts=["08069004642"])
    by_token = Subject.of(KEY, tokens=[contact_token(KEY, "msisdn_e164", "+2348069004642")])
    assert by_contact.fingerprint() == by_token.fingerprint()  # one person, however the request named them
    assert by_contact.fingerprint() != Subject.of(KEY, contacts=["08069004643"]).fingerprint()
    assert by_contact.fingerprint() != Subject.of(b"another key", contacts=["08069004642"]).fingerprint()
    assert "8069004642" not in PERSON.fingerprint() and "00000081" not in PERSON.fingerprint()
