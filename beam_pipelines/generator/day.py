"""One generated day: every channel's raw records with realistic defects injected at a given rate, and the truth
of where each must land (``DayGenerator``). Writing them out is ``files.py`` beside it."""

from __future__ import annotations

import datetime as dt
import json
import random
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

from beam_pipelines.generator import text as texts
from beam_pipelines.generator.population import (
    CATEGORY_WEIGHTS,
    CHANNEL_WEIGHTS,
    FIRST,
    LAST,
    QUEUES,
    WRAP_UPS,
    make_customers,
    phone_format,
)

DEFECTS = {
    "twitter": [
        "duplicate",
        "retweet",
        "malformed_json",
        "bad_utf8",
        "truncated_line",
        "missing_field",
        "bad_timestamp",
        "late_record",
        "future_timestamp",
        "empty_text",
    ],
    "webform": [
        "duplicate",
        "malformed_json",
        "bad_utf8",
        "missing_field",
        "odd_timezone",
        "late_record",
        "empty_text",
        "bad_timestamp",
    ],
    "sms": [
        "duplicate",
        "sms_split_hours",
        "sms_missing_part",
        "bad_utf8",
        "wrong_field_count",
        "missing_field",
        "bad_timestamp",
        "empty_text",
    ],
    "phone": [
        "duplicate",
        "implausible_call_duration",
        "missing_field",
        "bad_timestamp",
        "malformed_xml",
        "empty_text",
        "late_record",
    ],
}
LAGOS = dt.timezone(dt.timedelta(hours=1))
SMS_PART_CHARS = 153
MAX_LABELS = 20_000


@dataclass
class Entry:
    """One raw record to write (bytes), and the truth about it (filled with its position when written)."""

    data: bytes
    truth: dict | None = None
    last: bool = False  # must be the file's last line (a truncated line)


@dataclass
class Generated:
    files: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    expected: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    defects: list[dict] = field(default_factory=list)
    labels: list[tuple[str, str, str]] = field(default_factory=list)  # (text, category, source)


def _iso_z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class DayGenerator:
    def __init__(self, date: dt.date, volume: int, seed: int, defect_rate: float):
        self.date, self.volume, self.defect_rate = date, volume, defect_rate
        self.rng = random.Random(seed)
        self.out = Generated()
        self.customers = make_customers(max(50, min(200_000, volume // 3)), self.rng)
        self.with_handle = [c for c in self.customers if c["twitter_handle"]]
        self.day_start = dt.datetime.combine(date, dt.time(0, 0), tzinfo=dt.UTC)
        self.tag = date.strftime("%Y%m%d")
        self.unknown_serial = 0

    # -- helpers ------------------------------------------------------------------------------------------
    def moment(self) -> dt.datetime:
        """A complaint time on the day (UTC), busier in the daytime, before 22:30 so local dates agree."""
        hour = self.rng.choices(range(23), [1, 1, 1, 1, 1, 2, 4, 7, 9, 9, 9, 8, 8, 8, 8, 8, 8, 8, 7, 6, 5, 4, 2])[0]
        return self.day_start + dt.timedelta(
            hours=hour, seconds=self.rng.randrange(1800 if hour == 22 else 3600), milliseconds=self.rng.randrange(1000)
        )

    def customer(self, channel: str) -> tuple[dict, bool]:
        if self.rng.random() < 0.85:
            pool = self.with_handle if channel == "twitter" and self.with_handle else self.customers
            return self.rng.choice(pool), True
        self.unknown_serial += 1
        serial = self.unknown_serial
        return {
            "account_number": "",
            "msisdn": "+234" + "70" + f"{serial:08d}"[-8:],
            "email": f"visitor{serial}@mail.example.org",
            "twitter_handle": f"someone_{serial}",
            "full_name": f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}",
        }, False

    def label(self, text: str, category: str, source: str):
        """Remember the true category of a complaint's text (training data; the first MAX_LABELS only)."""
        if text and len(self.out.labels) < MAX_LABELS:
            self.out.labels.append((text, category, source))

    def defect_for(self, channel: str) -> str | None:
        if self.rng.random() >= self.defect_rate:
            return None
        return self.rng.choice(DEFECTS[channel])

    def expect(self, source: str, **counts):
        for name, value in counts.items():
            self.out.expected[source][name] += value

    def truth(self, defect: str, source: str, record_id: str | None, expect: str, **details) -> dict:
        entry = {"defect": defect, "source": source, "source_record_id": record_id, "expect": expect, **details}
        self.out.defects.append(entry)
        return entry

    def corrupt(self, line: bytes) -> bytes:
        """Invalid UTF-8: a stray Latin-1 byte in the middle, as a misconfigured exporter writes it."""
        middle = len(line) // 2
        return line[:middle] + b"\xe9\xff" + line[middle:]

    def add(self, path: str, entry: Entry):
        self.out.files[path].append(entry)

    def outcome(
        self,
        source: str,
        defect: str | None,
        record_id: str,
        flags: list[str],
        *,
        error: tuple[str, str] | None = None,
        **details,
    ) -> dict | None:
        """Count the expected outcome of one record and return its truth entry (for defects)."""
        if error is not None:
            self.expect(source, read=1, rejected=1)
            return self.truth(defect, source, record_id, "dead_letter", stage=error[0], error_type=error[1], **details)
        self.expect(source, read=1, written=1)
        for flag in flags:
            self.expect(source, **{f"flag:{flag}": 1})
        if defect is None:
            return None
        return self.truth(defect, source, record_id, "written", flags=flags, **details)

    def event_time_for(self, defect: str | None, base: dt.datetime) -> tuple[dt.datetime, list[str]]:
        if defect == "late_record":
            return base - dt.timedelta(days=3), ["late_arrival"]
        if defect == "future_timestamp":
            return base.replace(year=base.year + 10), ["future_timestamp"]
        return base, []

    # -- channels -----------------------------------------------------------------------------------------
    def twitter(self, index: int, category: str):
        defect = self.defect_for("twitter")
        arrived = self.moment()
        event_time, flags = self.event_time_for(defect, arrived)
        customer, known = self.customer("twitter")
        flags = flags + ([] if known else ["unknown_customer"])
        tweet_id = str(1_860_000_000_000_000_000 + int(self.tag) * 1_000_000 + index)
        author_id = str(900_000 + zlib.crc32(customer["twitter_handle"].encode()) % 9_000_000)
        text = "" if defect == "empty_text" else texts.tweet(category, self.rng)
        self.label(text, category, "twitter")
        if defect == "empty_text":
            flags.append("empty_text")
        data = {
            "id": tweet_id,
            "text": text,
            "created_at": _iso_z(event_time),
            "author_id": author_id,
            "lang": "en",
            "conversation_id": tweet_id,
        }
        if defect == "missing_field":
            del data["created_at"]
        if defect == "bad_timestamp":
            data["created_at"] = event_time.strftime("%d/%m/%Y %H:%M")
        payload = {
            "data": data,
            "includes": {
                "users": [{"id": author_id, "username": customer["twitter_handle"], "name": customer["full_name"]}]
            },
            "matching_rules": [{"id": "17", "tag": "beejan-support"}],
        }
        if self.rng.random() < 0.2:  # fields in another order, and an unknown extra field
            payload = {
                "matching_rules": payload["matching_rules"],
                "includes": payload["includes"],
                "data": data,
                "edit_history_tweet_ids": [tweet_id],
            }
        line = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        path = f"twitter/tweets_{arrived:%Y%m%d%H}.jsonl"
        error = {
            "malformed_json": ("parse", "invalid_json"),
            "bad_utf8": ("read", "invalid_utf8"),
            "truncated_line": ("parse", "invalid_json"),
            "missing_field": ("parse", "missing_field"),
            "bad_timestamp": ("parse", "invalid_timestamp"),
        }.get(defect)
        if defect == "malformed_json":
            line = line.replace(b'"text":', b'"text"', 1)
        elif defect == "bad_utf8":
            line = self.corrupt(line)
        elif defect == "truncated_line":
            line = line[: len(line) * 2 // 3]
        truth = self.outcome("twitter", defect, tweet_id, flags, error=error, source_file=path)
        self.add(path, Entry(line, truth, last=defect == "truncated_line"))
        if defect == "duplicate":  # redelivered in a later file
            redelivered = min(arrived + dt.timedelta(hours=1), self.day_start + dt.timedelta(hours=22))
            later = f"twitter/tweets_{redelivered:%Y%m%d%H}.jsonl"
            self.add(later, Entry(line))
            self.expect("twitter", read=1, duplicates=1)
        if defect == "retweet":
            retweet_id = str(int(tweet_id) + 500_000)
            rt = {
                "data": {
                    "id": retweet_id,
                    "text": f"RT @{customer['twitter_handle']}: {text}"[:280],
                    "created_at": _iso_z(event_time + dt.timedelta(minutes=3)),
                    "author_id": "4242",
                    "lang": "en",
                    "referenced_tweets": [{"type": "retweeted", "id": tweet_id}],
                },
                "includes": {"users": [{"id": "4242", "username": "retweeter_ng", "name": "RT Bot"}]},
            }
            self.add(path, Entry(json.dumps(rt, ensure_ascii=False).encode("utf-8")))
            self.expect("twitter", read=1, duplicates=1)

    def webform(self, index: int, category: str):
        defect = self.defect_for("webform")
        arrived = self.moment().replace(microsecond=0)  # forms submit whole seconds
        event_time, flags = self.event_time_for(defect, arrived)
        customer, known = self.customer("webform")
        flags = flags + ([] if known else ["unknown_customer"])
        submission_id = f"wf-{self.date.isoformat()}-{index:07d}"
        subject, message = texts.web_message(category, self.rng, customer["full_name"])
        self.label(f"{subject} {message}", category, "webform")
        if defect == "empty_text":
            message = ""
            flags.append("empty_text")
        offset = {"odd_timezone": self.rng.choice([dt.timedelta(hours=5, minutes=30), dt.timedelta(hours=-8)])}.get(
            defect, dt.timedelta(hours=1) if self.rng.random() < 0.7 else dt.timedelta(0)
        )
        submitted = event_time.astimezone(dt.timezone(offset)).isoformat(timespec="seconds")
        if defect == "bad_timestamp":
            submitted = event_time.strftime("%d %b %Y %H:%M")
        topic = self.rng.choices([category, self.rng.choice(list(CATEGORY_WEIGHTS)), ""], [0.7, 0.15, 0.15])[0]
        known_fields = {
            "full_name": customer["full_name"],
            "email": customer["email"] if self.rng.random() < 0.8 else "",
            "phone": phone_format(customer["msisdn"], self.rng),
            "account_number": customer["account_number"] if self.rng.random() < 0.6 else "",
            "topic": topic,
            "subject": subject,
            "message": message,
        }
        as_form = self.rng.random() < 0.25
        if as_form:
            path = f"webforms/forms_{self.tag}.form"
            body = {"submission_id": submission_id, "submitted_at": submitted, **known_fields}
            if defect == "missing_field":
                del body["submission_id"]
            line = urlencode(body).encode("ascii")
            if defect == "malformed_json":  # a form body cut off mid-escape is the urlencoded equivalent
                defect = "missing_field"
                line = urlencode({k: v for k, v in body.items() if k != "submission_id"}).encode("ascii")
        else:
            path = f"webforms/forms_{arrived:%Y%m%d%H}.jsonl"
            payload = {
                "submission_id": submission_id,
                "form_id": "complaint-v3",
                "submitted_at": submitted,
                "fields": known_fields,
                "client": {
                    "ip": f"203.0.113.{self.rng.randrange(1, 255)}",
                    "user_agent": "Mozilla/5.0 (Linux; Android 14)",
                },
            }
            if defect == "missing_field":
                del payload["submission_id"]
            line = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            if defect == "malformed_json":
                line = line.replace(b"{", b"[", 1)
        if defect == "bad_utf8":
            line = self.corrupt(line)
        error = {
            "malformed_json": ("parse", "invalid_json"),
            "bad_utf8": ("read", "invalid_utf8"),
            "missing_field": ("parse", "missing_field"),
            "bad_timestamp": ("parse", "invalid_timestamp"),
        }.get(defect)
        truth = self.outcome(
            "webform",
            defect,
            submission_id,
            flags,
            error=error,
            source_file=path,
            event_time=event_time.astimezone(dt.UTC).isoformat(),
        )
        self.add(path, Entry(line, truth))
        if defect == "duplicate":
            self.add(path, Entry(line))
            self.expect("webform", read=1, duplicates=1)

    def sms(self, index: int, category: str):
        defect = self.defect_for("sms")
        received = self.moment()
        if defect == "sms_split_hours":
            received = received.replace(minute=59, second=57)
        customer, known = self.customer("sms")
        flags = [] if known else ["unknown_customer"]
        long = defect in ("sms_split_hours", "sms_missing_part") or self.rng.random() < 0.25
        body = "" if defect == "empty_text" else texts.sms_body(category, self.rng, long)
        self.label(body, category, "sms")
        if defect == "empty_text":
            flags.append("empty_text")
        if body and self.rng.random() < 0.05:
            body += " | plan: " + self.rng.choice(texts.PLANS)  # a '|' inside the body
        if body and self.rng.random() < 0.05:
            body = body.replace(". ", ".\\n", 1)  # a literal newline, written as \n
        parts = [body[i : i + SMS_PART_CHARS] for i in range(0, len(body), SMS_PART_CHARS)] or [""]
        if defect in ("sms_split_hours", "sms_missing_part") and len(parts) < 3:
            third = max(1, len(body) // 3)
            parts = [body[:third], body[third : 2 * third], body[2 * third :]]
        if len(parts) > 1 and defect not in ("sms_split_hours", "sms_missing_part"):
            defect = (
                None
                if defect in ("bad_utf8", "wrong_field_count", "missing_field", "bad_timestamp", "duplicate")
                else defect
            )  # defects on single lines only
        sender = phone_format(customer["msisdn"], self.rng)
        concat_ref = f"{self.rng.randrange(256):02x}" if len(parts) > 1 else "0"
        lines = []
        for number, text in enumerate(parts, start=1):
            moment = received + dt.timedelta(seconds=4 * (number - 1))
            message_id = f"smsc-{self.tag}-{index:07d}-{number}"
            stamp = moment.astimezone(LAGOS).isoformat(timespec="seconds")
            if defect == "bad_timestamp":
                stamp = moment.strftime("%Y%m%d%H%M%S")
            fields = [
                stamp,
                sender,
                "3737",
                "" if defect == "missing_field" else message_id,
                concat_ref,
                str(number),
                str(len(parts)),
                text,
            ]
            line = "|".join(fields).encode("utf-8")
            if defect == "wrong_field_count":
                line = "|".join(fields[:3] + fields[4:5]).encode("utf-8") + b" " + text.encode("utf-8")
            if defect == "bad_utf8":
                line = self.corrupt(line)
            lines.append((moment, line))
        record_id = f"smsc-{self.tag}-{index:07d}-1"
        if defect == "sms_missing_part":
            lines.pop(len(lines) // 2 if len(lines) > 2 else 1)
            flags.append("partial_sms")
        if defect == "sms_split_hours":
            lines.reverse()  # out of order, across the hour
        error = {
            "bad_utf8": ("read", "invalid_utf8"),
            "wrong_field_count": ("parse", "wrong_field_count"),
            "missing_field": ("parse", "missing_field"),
            "bad_timestamp": ("parse", "invalid_timestamp"),
        }.get(defect)

        def path_of(moment):
            return f"sms/sms_{moment.astimezone(LAGOS):%Y%m%d%H}.txt"

        truth = self.outcome("sms", defect, record_id, flags, error=error, source_file=path_of(lines[0][0]))
        self.expect("sms", read=len(lines) - 1, merged_parts=len(lines) - 1)
        for number, (moment, line) in enumerate(lines):
            self.add(path_of(moment), Entry(line, truth if number == 0 else None))
        if defect == "duplicate":
            self.add(path_of(lines[0][0] + dt.timedelta(hours=1)), Entry(lines[0][1]))
            self.expect("sms", read=1, duplicates=1)

    def phone(self, index: int, category: str, rows_csv: list, rows_xml: list):
        defect = self.defect_for("phone")
        start = self.day_start + dt.timedelta(hours=self.rng.randint(6, 20), seconds=self.rng.randrange(3600))
        event_time, flags = self.event_time_for(defect, start)
        customer, known = self.customer("phone")
        flags = flags + ([] if known else ["unknown_customer"])
        duration = dt.timedelta(seconds=self.rng.randint(60, 1800))
        if defect == "implausible_call_duration":
            duration = self.rng.choice([dt.timedelta(hours=9), dt.timedelta(minutes=-20)])
            flags.append("implausible_call_duration")
        notes = "" if defect == "empty_text" else texts.agent_note(category, self.rng)
        self.label(notes, category, "phone")
        if defect == "empty_text":
            flags.append("empty_text")
        call_id = f"C-{self.tag}-{index:06d}"
        local_start = event_time.astimezone(LAGOS).replace(tzinfo=None)
        record = {
            "call_id": "" if defect == "missing_field" else call_id,
            "start": local_start,
            "end": local_start + duration,
            "caller": phone_format(customer["msisdn"], self.rng),
            "account": customer["account_number"] if self.rng.random() < 0.5 else "",
            "agent": f"AG-{self.rng.randint(1, 40):02d}",
            "queue": QUEUES[category],
            "wrap_up": self.rng.choice(WRAP_UPS[category]),
            "disposition": self.rng.choice(["resolved", "escalated", "callback", "open"]),
            "notes": notes,
        }
        as_xml = self.rng.random() < 0.5 or defect == "malformed_xml"
        error = {
            "missing_field": ("parse", "missing_field"),
            "bad_timestamp": ("parse", "invalid_timestamp"),
            "malformed_xml": ("parse", "invalid_xml"),
        }.get(defect)
        path = f"phone_logs/calls_{self.tag}.{'xml' if as_xml else 'csv'}"
        truth = self.outcome("phone", defect, call_id, flags, error=error, source_file=path)
        target = rows_xml if as_xml else rows_csv
        target.append((record, defect, truth))
        if defect == "duplicate":
            target.append((record, None, None))
            self.expect("phone", read=1, duplicates=1)

    # -- files --------------------------------------------------------------------------------------------
    def phone_files(self, rows_csv: list, rows_xml: list):
        header = ",".join(
            [
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
                "site",
            ]
        )
        path = f"phone_logs/calls_{self.tag}.csv"
        self.add(path, Entry(header.encode()))
        for record, defect, truth in rows_csv:
            start = record["start"].strftime("%Y-%m-%d %H:%M:%S")
            if defect == "bad_timestamp":
                start = record["start"].strftime("%d.%m.%Y %Hh%M")
            values = [
                record["call_id"],
                start,
                record["end"].strftime("%Y-%m-%d %H:%M:%S"),
                record["caller"],
                record["account"],
                record["agent"],
                record["queue"],
                record["wrap_up"],
                record["disposition"],
                record["notes"],
                "LOS-1",
            ]
            line = ",".join('"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v for v in values)
            self.add(path, Entry(line.encode("utf-8"), truth))
        xml_path = f"phone_logs/calls_{self.tag}.xml"
        exported_at = f"{self.date + dt.timedelta(days=1)}T01:00:00+01:00"
        self.add(
            xml_path,
            Entry(
                f'<?xml version="1.0" encoding="UTF-8"?>\n<calls exported_at="{exported_at}" '
                f'timezone="Africa/Lagos">'.encode(),
                None,
            ),
        )
        for record, defect, truth in rows_xml:
            start = record["start"].isoformat()
            if defect == "bad_timestamp":
                start = record["start"].strftime("%d/%m/%Y %H:%M")
            notes = escape(record["notes"])
            if defect == "malformed_xml":
                notes = notes.replace("&amp;", "&") + " & co"
            id_attr = f" id={quoteattr(record['call_id'])}" if record["call_id"] else ""
            element = (
                f"  <call{id_attr}>\n    <start>{start}</start><end>{record['end'].isoformat()}</end>\n"
                f"    <caller>{escape(record['caller'])}</caller><account>{record['account']}</account>\n"
                f"    <agent>{record['agent']}</agent><queue>{record['queue']}</queue>"
                f"<wrap_up>{record['wrap_up']}</wrap_up>\n    <disposition>{record['disposition']}</disposition>\n"
                f"    <notes>{notes}</notes>\n  </call>"
            )
            self.add(xml_path, Entry(element.encode("utf-8"), truth))
        self.add(xml_path, Entry(b"</calls>"))

    def customer_file(self):
        path = "customers/customers.csv"
        columns = [
            "account_number",
            "msisdn",
            "email",
            "twitter_handle",
            "full_name",
            "segment",
            "region",
            "plan",
            "tenure_months",
        ]
        self.add(path, Entry(",".join(columns).encode()))
        for customer in self.customers:
            row = dict(customer, msisdn=phone_format(customer["msisdn"], self.rng))
            self.add(path, Entry(",".join(str(row[c]) for c in columns).encode("utf-8")))
        self.expect("customers", read=len(self.customers), loaded=len(self.customers))
        if self.defect_rate > 0:
            bad = "BJN-99999999,08030000000,,,Bad Segment,platinum,Lagos,Night Plan,3"
            self.add(
                path,
                Entry(
                    bad.encode(),
                    self.truth(
                        "invalid_segment",
                        "customers",
                        "BJN-99999999",
                        "dead_letter",
                        stage="parse",
                        error_type="invalid_field",
                        source_file=path,
                    ),
                ),
            )
            self.expect("customers", read=1, rejected=1)

    def run(self):
        rows_csv, rows_xml = [], []
        channels, weights = list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values())
        categories, category_weights = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
        for index in range(self.volume):
            channel = self.rng.choices(channels, weights)[0]
            category = self.rng.choices(categories, category_weights)[0]
            if channel == "phone":
                self.phone(index, category, rows_csv, rows_xml)
            else:
                getattr(self, channel)(index, category)
        self.phone_files(rows_csv, rows_xml)
        self.customer_file()
        return self.out
