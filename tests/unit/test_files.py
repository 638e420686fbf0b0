import codecs
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.sources import files
from transforms.sources.files import raw_records, split_csv_records, split_lines, split_sms_lines, split_xml_calls


def test_lines_drop_bom_crlf_and_blank_lines_but_keep_line_numbers():
    data = b'\xef\xbb\xbf{"a":1}\r\n\r\n  \n{"b":2}\n{"trunc'
    assert [(n, line) for _, n, line, _ in split_lines(io.BytesIO(data))] == [
        (1, b'{"a":1}'),
        (4, b'{"b":2}'),
        (5, b'{"trunc'),
    ]


def test_lines_end_at_lf_crlf_or_a_lone_cr_wherever_the_read_blocks_cut_them(monkeypatch):
    import random
    import re

    def reference(data: bytes) -> list[bytes]:  # the whole input at once: each line up to and with its ending
        return [match.group(0) for match in re.finditer(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", data)]

    rng = random.Random(7)
    for _ in range(3000):
        data = bytes(rng.choice(b"ab \r\n\x0b\x0c\x1c\x85") for _ in range(rng.randint(0, 30)))
        monkeypatch.setattr(files, "READ_BLOCK", rng.randint(1, 7))
        assert list(files.lines_of(io.BytesIO(data))) == reference(data), data


def test_sms_header_is_not_a_record_but_a_first_data_line_is():
    with_header = b"received_at|msisdn|shortcode|message_id|concat_ref|part|parts|body\nx|y\n"
    assert [n for _, n, _, _ in split_sms_lines(io.BytesIO(with_header))] == [2]
    assert [n for _, n, _, _ in split_sms_lines(io.BytesIO(b"x|y\n"))] == [1]


def test_csv_records_join_quoted_newlines_and_carry_the_header():
    data = b'id,notes\r\n1,"line one\r\nline two, with comma"\r\n2,"say ""hi"""\n3,"never closed\n'
    records = list(split_csv_records(io.BytesIO(data)))
    assert [(n, raw) for _, n, raw, _ in records] == [
        (2, b'1,"line one\r\nline two, with comma"'),
        (4, b'2,"say ""hi"""'),
        (5, b'3,"never closed'),
    ]
    assert all(attrs["header"] == "id,notes" for _, _, _, attrs in records)
    assert "unterminated" in records[-1][3]["error"]
    assert "error" not in records[0][3]


XML = (
    b'<?xml version="1.0"?>\n<calls timezone="Africa/Lagos">\n'
    b'  <call id="A"><notes>one &amp; two</notes></call>\n'
    b'  <call id="B"><notes>multi\nline</notes></call>\n</calls>\n'
)


def test_xml_calls_are_sliced_verbatim_with_their_byte_offsets_and_time_zone():
    calls = list(split_xml_calls(io.BytesIO(XML)))
    assert [raw for _, _, raw, _ in calls] == [
        b'<call id="A"><notes>one &amp; two</notes></call>',
        b'<call id="B"><notes>multi\nline</notes></call>',
    ]
    for _, offset, raw, attributes in calls:
        assert XML[offset : offset + len(raw)] == raw
        assert attributes == {"timezone": "Africa/Lagos"}


def test_xml_is_read_incrementally_across_block_boundaries(monkeypatch):
    import transforms.sources.files as files

    monkeypatch.setattr(files, "READ_BLOCK", 7)
    body = b"".join(b'<call id="%d"><notes>%s</notes></call>' % (i, b"x" * (i % 13)) for i in range(200))
    data = b'<calls timezone="UTC">' + body + b"</calls>"
    calls = list(split_xml_calls(io.BytesIO(data)))
    assert len(calls) == 200
    assert all(data[offset : offset + len(raw)] == raw for _, offset, raw, _ in calls)


def test_entity_bomb_is_refused_not_expanded():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE calls [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b'<calls><call id="1"><notes>&b;</notes></call></calls>'
    )
    records = list(split_xml_calls(io.BytesIO(bomb)))
    assert "EntitiesForbidden" in records[0][3]["error"]
    assert b"aaaaaaaaaaaaaaaaaaaa" not in b"".join(raw for _, _, raw, _ in records)


def test_external_entities_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE calls [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<calls><call id="1"><notes>&x;</notes></call></calls>'
    ).encode()
    records = list(split_xml_calls(io.BytesIO(xxe)))
    assert all(b"TOP SECRET" not in raw for _, _, raw, _ in records)
    assert "Forbidden" in records[0][3]["error"]


def test_malformed_xml_keeps_the_good_calls_after_the_bad_one_and_loses_no_bytes():
    data = (
        b'<calls timezone="UTC">\n<call id="1"><notes>ok</notes></call>\n'
        b'<call id="2"><notes>AT&T</notes></call>\n<call id="3"><notes>fine</notes></call>\n'
        b'<call id="4"><notes>cut off'
    )
    calls = list(split_xml_calls(io.BytesIO(data)))
    raws = [raw for _, _, raw, _ in calls]
    assert raws[0] == b'<call id="1"><notes>ok</notes></call>'
    assert b'<call id="2"><notes>AT&T</notes></call>' in raws
    assert b'<call id="3"><notes>fine</notes></call>' in raws
    assert raws[-1] == b'<call id="4"><notes>cut off'
    assert "unterminated" in calls[-1][3]["error"]


def test_raw_records_keep_undecodable_bytes_as_base64(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"ok": "caf\xc3\xa9"}\n{"bad": "\xff\xfe"}\n')
    records = list(
        raw_records(
            "twitter", str(path), "twitter/t.jsonl", run_id="r", batch_id="b", ingested_at="2026-11-26T00:00:00+00:00"
        )
    )
    assert records[0]["raw"] == '{"ok": "café"}' and records[0]["raw_encoding"] == "utf-8"
    assert records[1]["raw_encoding"] == "base64"
    import base64

    assert base64.b64decode(records[1]["raw"]) == b'{"bad": "\xff\xfe"}'
    assert [r["line"] for r in records] == [1, 2]


def test_gzipped_files_are_read_like_plain_ones_and_a_corrupt_one_ends_in_a_read_error(tmp_path):
    import gzip

    lines = [f'{{"n": {n}}}' for n in range(50)]
    plain = tmp_path / "t.jsonl"
    plain.write_text("\n".join(lines) + "\n")
    packed = tmp_path / "t.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    read = list(raw_records("twitter", str(packed), "twitter/t.jsonl.gz", run_id="r", batch_id="b", ingested_at="x"))
    assert [r["raw"] for r in read] == lines and [r["line"] for r in read][:2] == [1, 2]
    truncated = tmp_path / "calls.xml.gz"
    truncated.write_bytes(gzip.compress(b"<calls>" + b"<call><call_id>1</call_id></call>" * 400 + b"</calls>")[:60])
    read = list(
        raw_records("phone", str(truncated), "phone_logs/calls.xml.gz", run_id="r", batch_id="b", ingested_at="x")
    )
    assert read and "cannot be read past here" in read[-1]["attributes"]["read_error"]


CALL = (
    '<call id="{id}"><start>2026-11-30T18:08:29</start><end>2026-11-30T18:29:00</end>'
    "<caller>+2348020116357</caller><notes>{notes}</notes></call>"
)


def _calls(tmp_path, name: str, data: bytes, keep_raw: bool = False) -> list:
    """The parsed calls of an export written to ``tmp_path/name`` (with ``keep_raw``: (call, raw record) pairs)."""
    from transforms.sources.phone_logs import parse_call

    path = tmp_path / name
    path.write_bytes(data)
    records = list(
        raw_records(
            "phone", str(path), f"phone_logs/{name}", run_id="r", batch_id="b", ingested_at="2026-12-01T00:00:00+00:00"
        )
    )
    return [(parse_call(record), record) if keep_raw else parse_call(record) for record in records]


@pytest.mark.parametrize(
    "name, document",
    [
        (
            "bom.xml",
            codecs.BOM_UTF8
            + b'<?xml version="1.0" encoding="UTF-8"?>\n<calls timezone="Africa/Lagos">'
            + CALL.format(id="c1", notes="no signal").encode()
            + CALL.format(id="c2", notes="data").encode()
            + b"</calls>",
        ),
        (
            "namespace.xml",
            b'<calls xmlns="urn:beejan:calls" timezone="Africa/Lagos">'
            + CALL.format(id="c1", notes="no signal").encode()
            + CALL.format(id="c2", notes="data").encode()
            + b"</calls>",
        ),
        (
            "wrapped.xml",
            b'<export><header/><calls timezone="Africa/Lagos">'
            + CALL.format(id="c1", notes="no signal").encode()
            + CALL.format(id="c2", notes="data").encode()
            + b"</calls></export>",
        ),
    ],
)
def test_xml_exports_with_a_bom_a_namespace_or_a_wrapper_yield_every_call(tmp_path, name, document):
    calls = _calls(tmp_path, name, document)
    assert [call["source_record_id"] for call in calls] == ["c1", "c2"]
    assert calls[0]["text"] == "no signal"


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16"])
def test_xml_exports_in_other_encodings_keep_their_non_ascii_notes(tmp_path, encoding):
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<calls timezone="Africa/Lagos">'
        + CALL.format(id="c1", notes="Réseau coupé à Ikoyi")
        + CALL.format(id="c2", notes="ça va")
        + "</calls>"
    )
    calls = _calls(tmp_path, f"{encoding}.xml", document.encode(encoding))
    assert [call["text"] for call in calls] == ["Réseau coupé à Ikoyi", "ça va"]


def test_inline_markup_in_notes_keeps_the_whole_note(tmp_path):
    document = (
        '<calls timezone="Africa/Lagos">'
        + CALL.format(id="c1", notes="Customer <b>very</b> upset, <i>no data</i> for 3 days")
        + "</calls>"
    )
    [call] = _calls(tmp_path, "markup.xml", document.encode())
    assert call["text"] == "Customer very upset, no data for 3 days"


HEADER = b"call_id,start_time,end_time,msisdn,account_number,agent_id,queue,wrap_up_code,disposition,notes"


def test_csv_with_cr_only_line_endings_reads_every_record(tmp_path):
    rows = [
        b"C-%d,2026-11-30 18:08:29,2026-11-30 18:20:00,08031234567,,A1,network,NO_SERVICE,open,note %d" % (n, n)
        for n in range(5)
    ]
    calls = _calls(tmp_path, "calls.csv", b"\r".join([HEADER, *rows]) + b"\r")
    assert [call["source_record_id"] for call in calls] == [f"C-{n}" for n in range(5)]
    lines = list(split_lines(io.BytesIO(b'{"a": 1}\r{"a": 2}\r\n{"a": 3}\n')))
    assert [line for _, _, line, _ in lines] == [b'{"a": 1}', b'{"a": 2}', b'{"a": 3}']


def test_a_stray_quote_in_an_unquoted_field_stays_in_its_own_record(tmp_path):
    rows = [
        b'C-1,2026-11-30 18:08:29,,08031234567,,A1,network,NO_SERVICE,open,He said "no signal at all',
        b'C-2,2026-11-30 18:09:29,,08031234567,,A1,network,NO_SERVICE,open,"quoted, with a comma"',
        b'C-3,2026-11-30 18:10:29,,08031234567,,A1,network,NO_SERVICE,open,"two\nlines"',
        b"C-4,2026-11-30 18:11:29,,08031234567,,A1,network,NO_SERVICE,open,plain",
    ]
    calls = _calls(tmp_path, "calls.csv", b"\n".join([HEADER, *rows]) + b"\n")
    assert [call["source_record_id"] for call in calls] == ["C-1", "C-2", "C-3", "C-4"]
    assert calls[0]["text"] == 'He said "no signal at all' and calls[2]["text"] == "two\nlines"


def test_lake_records_come_back_as_written_and_a_damaged_line_becomes_a_parse_dead_letter(tmp_path):
    """Reprocessing reads the lake back: a record keeps its channel, position, ingest time and raw text (only the
    run and batch change); a line that is not a lake record reaches the dead letter with its reason."""
    import json

    from transforms.outcomes import ParseRawRecords
    from transforms.sources.lake import lake_records
    from transforms.sources.sms import parse_sms_part

    original = {
        "source": "sms",
        "source_file": "sms/sms_2026112609.txt",
        "message_id": None,
        "line": 3,
        "offset": None,
        "ingested_at": "2026-11-26T10:00:00+00:00",
        "run_id": "old-run",
        "batch_id": "old",
        "raw": "2026-11-26T09:00:41+01:00|+2348031234567|3737|smsc-1|0|1|1|no data",
        "raw_encoding": "utf-8",
        "attributes": {},
    }
    partition = tmp_path / "lake" / "raw" / "source=sms" / "ingest_date=2026-11-26"
    partition.mkdir(parents=True)
    lake_file = partition / "old-sms_sms_2026112609.txt-00000.jsonl"
    lake_file.write_text(json.dumps(original) + "\n{not json\n")
    read = list(
        lake_records(
            str(lake_file),
            "lake/raw/x.jsonl",
            run_id="new-run",
            batch_id="reprocess",
            ingested_at="2026-12-02T00:00:00+00:00",
        )
    )
    assert read[0] == {**original, "run_id": "new-run", "batch_id": "reprocess"}
    assert read[1]["source"] == "sms" and "not a lake record" in read[1]["attributes"]["read_error"]
    outcomes = [list(ParseRawRecords(parse_sms_part).process(record)) for record in read]
    assert outcomes[0][0]["source_record_id"] == "smsc-1"
    dead = outcomes[1][0].value
    assert (dead["stage"], dead["error_type"], dead["source"]) == ("read", "unreadable_file", "sms")


# -- call-centre CSV exports as Python's csv module (RFC 4180) writes and reads them ------------------------------
CSV_COLUMNS = [
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
NOTE_TEXT = st.lists(
    st.characters(blacklist_categories=("Cs",))
    | st.sampled_from(['"', ",", "\n", "\r", "\r\n", '""', "\u2028", "\x0c", "\x85", "\x1e", " ", "\t"]),
    max_size=30,
).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    notes=st.lists(st.tuples(NOTE_TEXT, NOTE_TEXT), min_size=1, max_size=6),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    final_line_end=st.booleans(),
)
def test_a_csv_export_reads_back_record_by_record_as_pythons_csv_reads_it(
    tmp_path_factory, notes, line_end, final_line_end
):
    """Whatever the notes (and another field) hold (line breaks of any kind inside quotes, doubled quotes, commas,
    form feeds, Unicode line separators outside quotes), each record of the export is one raw record: its first
    line's number, its exact bytes, and the values csv.writer wrote. Records end in LF, CRLF or CR, the last one
    maybe in nothing."""
    import csv

    def record(row: list[str]) -> str:  # quoted as csv.writer quotes it: any field with a CR or LF among others
        text = io.StringIO(newline="")
        csv.writer(text, lineterminator="\r\n").writerow(row)
        return text.getvalue().removesuffix("\r\n")

    rows = [
        [f"C-{n}", "2026-11-26 08:01:12", "", "08031234567", "", "AG-1", "billing", wrap_up, "", note]
        for n, (wrap_up, note) in enumerate(notes)
    ]
    records = [record(row) for row in rows]
    data = line_end.join([record(CSV_COLUMNS), *records]) + (line_end if final_line_end else "")
    starts = [
        len(csv_lines(line_end.join([record(CSV_COLUMNS), *records[:n]]) + line_end)) + 1 for n in range(len(records))
    ]
    calls = _calls(tmp_path_factory.mktemp("csv"), "calls.csv", data.encode("utf-8"), keep_raw=True)
    assert [call["text"] for call, _ in calls] == [row[-1] for row in rows]
    assert [raw["line"] for _, raw in calls] == starts
    assert [raw["raw"] for _, raw in calls] == records


def csv_lines(text: str) -> list[str]:
    """The lines of a file's text as a reader of the file sees them: ended only by LF, CRLF or a lone CR."""
    return io.StringIO(text, newline="").readlines()


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x0c", "\x0b", "\x85", "\x1c"])
def test_a_unicode_line_separator_in_unquoted_notes_stays_in_its_record(tmp_path, separator):
    rows = [
        f"C-1,2026-11-30 18:08:29,,08031234567,,A1,network,NO_SERVICE,open,no 4G{separator}since Monday",
        "C-2,2026-11-30 18:09:29,,08031234567,,A1,network,NO_SERVICE,open,plain",
    ]
    calls = _calls(tmp_path, "calls.csv", "\n".join([HEADER.decode(), *rows, ""]).encode("utf-8"))
    assert [call["source_record_id"] for call in calls] == ["C-1", "C-2"]
    assert calls[0]["text"] == f"no 4G{separator}since Monday"


# -- truncated exports: the calls before the cut go on, the cut itself is a dead letter ---------------------------
EXPORT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<calls timezone="Africa/Lagos">\n'
    + CALL.format(id="c1", notes="no signal")
    + "\n"
    + CALL.format(id="c2", notes="charged twice")
)


@pytest.mark.parametrize("after_the_cut", ["", "\n", "\n  "])
def test_an_xml_export_cut_right_after_a_call_keeps_its_calls_and_dead_letters_the_cut(tmp_path, after_the_cut):
    from transforms.outcomes import ParseRawRecords
    from transforms.sources.phone_logs import parse_call

    data = (EXPORT + after_the_cut).encode()
    path = tmp_path / "calls.xml"
    path.write_bytes(data)
    records = list(
        raw_records(
            "phone",
            str(path),
            "phone_logs/calls.xml",
            run_id="r",
            batch_id="b",
            ingested_at="2026-12-01T00:00:00+00:00",
        )
    )
    outcomes = [next(iter(ParseRawRecords(parse_call).process(record))) for record in records]
    assert [call["source_record_id"] for call in outcomes[:2]] == ["c1", "c2"]
    [cut] = [outcome.value for outcome in outcomes[2:]]  # the dead letter, on Beam's tagged output
    assert (cut["stage"], cut["error_type"], cut["position"], cut["raw"]) == ("read", "truncated_export", len(data), "")
    assert "before </calls> closes it" in cut["error_message"]


def test_a_complete_xml_export_has_no_truncation_and_a_wrapped_one_neither(tmp_path):
    for name, document in [
        ("plain.xml", EXPORT + "\n</calls>\n"),
        ("wrapped.xml", "<export><header/>" + EXPORT.split("\n", 1)[1] + "</calls></export>"),
        ("bad-but-whole.xml", EXPORT + CALL.format(id="c3", notes="AT&T") + "</calls>"),
        ("junk-after.xml", EXPORT + "</calls>\nEND OF EXPORT\n"),
    ]:
        records = list(files.split_xml_calls(io.BytesIO(document.encode())))
        assert not any(attributes.get("error_type") == files.TRUNCATED_EXPORT for *_, attributes in records), name
        assert not any("error" in attributes for *_, attributes in records[:2]), name


def test_an_xml_export_cut_inside_a_call_says_so_once_on_the_unfinished_call():
    data = (EXPORT + "\n" + CALL.format(id="c3", notes="cut")[:40]).encode()
    records = list(files.split_xml_calls(io.BytesIO(data)))
    assert [attributes.get("error_type") for *_, attributes in records] == [None, None, files.TRUNCATED_EXPORT]
    assert records[-1][2] == CALL.format(id="c3", notes="cut")[:40].encode()
    assert "truncated export" in records[-1][3]["error"] and "unterminated <call>" in records[-1][3]["error"]


def test_an_empty_xml_export_is_a_truncated_one():
    [(_, position, data, attributes)] = list(files.split_xml_calls(io.BytesIO(b"")))
    assert (position, data, attributes["error_type"]) == (0, b"", files.TRUNCATED_EXPORT)


@pytest.mark.parametrize(
    "last_line, cut",
    [
        ("C-3,2026-11-30 18:10:29,,08031234567,,A1,network", True),  # fewer fields, no line end
        ('C-3,2026-11-30 18:10:29,,08031234567,,A1,network,NO_SERVICE,open,"two\nli', True),  # inside quotes
        ("C-3,2026-11-30 18:10:29,,08031234567,,A1,network,NO_SERVICE,open,no line end", False),
    ],
)
def test_a_csv_export_cut_in_its_last_line_dead_letters_that_line_as_truncated(tmp_path, last_line, cut):
    from transforms.outcomes import ParseRawRecords
    from transforms.sources.phone_logs import parse_call

    rows = [
        b"C-1,2026-11-30 18:08:29,,08031234567,,A1,network,NO_SERVICE,open,fine",
        b"C-2,2026-11-30 18:09:29,,08031234567,,A1,network,NO_SERVICE,open,fine",
    ]
    path = tmp_path / "calls.csv"
    path.write_bytes(b"\r\n".join([HEADER, *rows, last_line.encode()]))
    records = list(
        raw_records(
            "phone",
            str(path),
            "phone_logs/calls.csv",
            run_id="r",
            batch_id="b",
            ingested_at="2026-12-01T00:00:00+00:00",
        )
    )
    outcomes = [next(iter(ParseRawRecords(parse_call).process(record))) for record in records]
    assert [call["source_record_id"] for call in outcomes[:2]] == ["C-1", "C-2"]
    last = outcomes[2]
    if cut:
        dead = last.value
        assert (dead["stage"], dead["error_type"], dead["position"]) == ("read", "truncated_export", 4)
        assert dead["raw"] == last_line
    else:  # many exporters leave the final line end out: a whole last record is a call
        assert last["source_record_id"] == "C-3"
