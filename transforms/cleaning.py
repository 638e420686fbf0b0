"""Cleaning: Unicode, HTML entities, whitespace, E.164 phone numbers, UTC times, masking of contact details.

Plain functions on values and records; the pipelines apply ``clean_complaint`` as a stage with
``transforms.outcomes.apply_stage`` (or ``apply_stage_to_batches``), which dead-letters what it rejects.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import unicodedata
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from transforms.records import CLEAN, RecordError

DEFAULT_REGION = "NG"  # Beejan's home network: local numbers like 0803... are Nigerian.

_CONTROL_CHARS = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b\u200e\u200f\u2028\u2029\ufeff]")
_WHITESPACE = re.compile(r"\s+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# In text: an e-mail address whose parts may be in any script (internationalised domains such as bücher.de).
_EMAIL_IN_TEXT = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+\.[^\W\d_]{2,}")
# A phone number as people write it: digits with a leading + or (, spaces, dots, dashes (en and em dashes too),
# slashes, underscores or brackets between them; the whole run of them, wherever it stands (alone, or glued to
# letters: "tel08035550002x12", "08035550002ext"). ``_mask_phone_match`` decides whether the run is a number.
_PHONE_CANDIDATE = re.compile(r"(?<![\d+])(?:\+|\()?\d[\d\s().\-/_\u2010-\u2015]{5,}\d(?!\d)")
_SEVEN_DIGITS = re.compile(r"(?:\d\D{0,4}){6}\d")  # cheap test that a text may hold a phone number at all
# What looks like a phone number but is not one: links, dates and times (3:13pm too).
_NOT_A_PHONE = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?\b"
    r"|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b|\b\d{1,2}:\d{2}(?::\d{2})?(?!\d)",
    re.IGNORECASE,
)


def clean_text(text: str | None) -> str:
    """NFC-normalise, unescape HTML entities (twice-escaped too), drop control characters, collapse spaces."""
    if not text:
        return ""
    text = text.replace("\\n", "\n")
    for _ in range(2):  # feeds double-escape: &amp;gt; -> &gt; -> >
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL_CHARS.sub("", text)
    return _WHITESPACE.sub(" ", text).strip()


# A Nigerian mobile number written plainly: +234 / 234 / 0, then 7, 8 or 9, then 0 or 1, then 8 digits, with at
# most single spaces or dashes between the groups. Its E.164 form needs no parsing (libphonenumber gives the same).
_NG_MOBILE = re.compile(r"(?:\+?234|0)[ -]?([789][01]\d)[ -]?(\d{3})[ -]?(\d{4})")


@lru_cache(maxsize=200_000)
def normalise_phone(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of a phone number in any local or international format; None if it is not a phone number.
    The common case, a Nigerian mobile number in one of its plain spellings, takes a fast path."""
    if not raw or not raw.strip():
        return None
    candidate = raw.strip()
    if region == DEFAULT_REGION:
        plain = _NG_MOBILE.fullmatch(candidate)
        if plain:
            return "+234" + "".join(plain.groups())
    if candidate[0].isdigit() and candidate.startswith("234") and len(re.sub(r"\D", "", candidate)) == 13:
        candidate = "+" + candidate  # international form without the plus sign
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str | None) -> str | None:
    if not raw:
        return None
    email = raw.strip().lower()
    return email if _EMAIL.fullmatch(email) else None


def normalise_handle(raw: str | None) -> str | None:
    if not raw:
        return None
    handle = raw.strip().lstrip("@").lower()
    return handle or None


def mask_contacts(text: str) -> str:
    """Replace e-mail addresses with [email] and phone numbers with [phone], in any of the ways people write
    them (``+234 (803) 555-0002``, ``0803/555/0002``, ``0803_555_0002``, en dashes, glued to words:
    ``tel08035550002x12``, ``08035550002ext``); links, dates, times, amounts, plan names and account and order
    numbers are kept."""
    if not text:
        return text
    if "@" in text:
        text = _EMAIL_IN_TEXT.sub("[email]", text)
    if _SEVEN_DIGITS.search(text):
        # links, dates and times step aside (as one private-use character each) while numbers are masked
        kept = [match.group(0) for match in _NOT_A_PHONE.finditer(text)]
        if kept:
            kept_iter = iter(range(len(kept)))
            text = _NOT_A_PHONE.sub(lambda _: chr(_KEPT + next(kept_iter)), text)
        text = _PHONE_CANDIDATE.sub(_mask_phone_match, text)
        if kept:
            text = re.sub(f"[{chr(_KEPT)}-{chr(_KEPT + len(kept) - 1)}]", lambda m: kept[ord(m.group(0)) - _KEPT], text)
    return text


_KEPT = 0xF0000  # start of a private-use plane: never in a complaint's text after cleaning


def _mask_phone_match(match: re.Match) -> str:
    """``[phone]`` for a run of digits that is a phone number, else the run as it was (``_masked_run``)."""
    text = match.string
    before = text[match.start() - 1] if match.start() else " "
    after = text[match.end()] if match.end() < len(text) else " "
    return _masked_run(match.group(0), before.isalpha() or before in "_-", after.isalnum() or after in "_-")


def _masked_run(run: str, glued_before: bool, glued_after: bool) -> str:
    """A run of digits and separators, masked where it holds phone numbers. Standing alone, it is one when it has
    7 to 15 digits. Glued to a letter (or a dash: ``BJN-00012345``) before or after, it is one only when it has a
    phone number's own shape (``_glued_phone``), so order numbers, plan names and dates in words stay; if not, the
    group of digits that touches the word may belong to it (``Upd8 0800...``, ``0871... (10p/min)``) and the rest
    is judged on its own. Two numbers with a slash between them (``0803.../0805...``) are masked one by one."""
    digits = re.sub(r"\D", "", run)
    if len(digits) > 15 and "/" in run:
        pieces = run.split("/")
        return "/".join(
            _masked_run(piece, glued_before and number == 0, glued_after and number == len(pieces) - 1)
            for number, piece in enumerate(pieces)
        )
    if not (glued_before or glued_after):
        return "[phone]" if 7 <= len(digits) <= 15 else run
    if _glued_phone(run, digits):
        return "[phone]"
    if glued_after and (last := re.fullmatch(r"(.*\d)(\D+)(\d+)", run)):
        rest, separator, group = last.groups()
        return _masked_run(rest, glued_before, False) + separator + group
    if glued_before and (first := re.fullmatch(r"(\D?\d+)(\D+)(\d.*)", run)):
        group, separator, rest = first.groups()
        return group + separator + _masked_run(rest, False, glued_after)
    return run


def _glued_phone(run: str, digits: str) -> bool:
    """Whether digits glued to letters are a phone number: written internationally (``+`` and a possible number;
    ``234`` and a valid Nigerian number), or nationally with the trunk prefix 0 (not 00) and 11 digits in all
    (a Nigerian mobile, and the national length of many other countries) or another length that is a valid
    Nigerian number. An order number, a date of birth (``nat27081980``), an account number (``BJN-00012345``) or
    a web page's element id (``yiv0123456789``) has neither shape."""
    if run.startswith("+"):
        try:
            return phonenumbers.is_possible_number(phonenumbers.parse(run, DEFAULT_REGION))
        except phonenumbers.NumberParseException:
            return False
    if digits.startswith("234") and len(digits) == 13:
        return normalise_phone(digits) is not None
    if not digits.startswith("0") or digits.startswith("00") or not 9 <= len(digits) <= 12:
        return False
    return len(digits) == 11 or phonenumbers.is_valid_number(phonenumbers.parse(digits, DEFAULT_REGION))


@lru_cache(maxsize=64)
def zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecordError("invalid_timezone", f"unknown time zone {name!r}", CLEAN) from None


_UNPADDED = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")


def _unpadded_timestamp(text: str) -> dt.datetime | None:
    """``2026-11-26 7:02:55``: unambiguous, and what real call-centre exports write; no offset."""
    match = _UNPADDED.fullmatch(text)
    if match is None:
        return None
    try:
        return dt.datetime(*(int(group or 0) for group in match.groups()))
    except ValueError:
        return None


def parse_timestamp(value: str | None, field: str, *, local_zone: str | None = None) -> dt.datetime:
    """Parse an ISO 8601 timestamp to an aware UTC datetime.

    A value with an offset (``Z``, ``+01:00``) is converted by it. A value without one is wall-clock time in
    ``local_zone`` when given (call-centre exports); otherwise it is rejected as ambiguous. A time that has no
    UTC equivalent (year 1 east of UTC, year 9999 west of it) is rejected too.
    """
    if value is None or not str(value).strip():
        raise RecordError("missing_field", f"missing {field}")
    text = str(value).strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        parsed = _unpadded_timestamp(text)
        if parsed is None:
            raise RecordError("invalid_timestamp", f"{field} is not an ISO 8601 time: {text[:60]!r}") from None
    if parsed.tzinfo is None:
        if local_zone is None:
            raise RecordError("invalid_timestamp", f"{field} has no UTC offset: {text[:60]!r}")
        parsed = parsed.replace(tzinfo=zone(local_zone))
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise RecordError("invalid_timestamp", f"{field} is outside the calendar in UTC: {text[:60]!r}") from None


def clean_complaint(complaint: dict) -> dict:
    """A parsed complaint -> a new, cleaned complaint: text and subject, and its contact identifiers in canonical
    form (E.164 phone, lower-case e-mail and handle, upper-case account number). The input is left as it was."""
    contacts = complaint["_contacts"]
    cleaned = {
        **complaint,
        "text": clean_text(complaint["text"]),
        "_contacts": {
            **contacts,
            "account_number": (contacts.get("account_number") or "").strip().upper() or None,
            "msisdn_e164": normalise_phone(contacts.get("msisdn")),
            "email": normalise_email(contacts.get("email")),
            "twitter_handle": normalise_handle(contacts.get("twitter_handle")),
        },
    }
    if complaint.get("subject") is not None:
        cleaned["subject"] = clean_text(complaint["subject"]) or None
    if complaint.get("language"):
        cleaned["language"] = str(complaint["language"]).strip().lower()[:12] or None
    return cleaned
