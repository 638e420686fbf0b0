"""Reading channel files into raw records, losslessly.

A raw record (schema ``RawRecord``) is one input record exactly as read: one line of a JSON-lines, form or SMS
file, one (possibly multi-line) CSV record, or one ``<call>`` element of an XML export. Bytes that are not
valid UTF-8 are kept as base64. Files are read through Beam's ``FileSystems``, so local paths, ``gs://`` and
compressed files (``.gz``) all work.

Records are emitted in ``RecordBatch`` chunks of up to ``chunk_size`` records with a deterministic chunk number,
so the lake writes one file per chunk with the same name in every run.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from transforms.packing import RecordBatch
from transforms.records import decode_raw

BOM = codecs.BOM_UTF8
READ_BLOCK = 1 << 16


class Position:
    LINE = "line"
    OFFSET = "offset"


#: What reading a damaged file raises part-way: a truncated or corrupt gzip stream, a failing disk.
READ_ERRORS = (OSError, EOFError, zlib.error)
READ_ERROR = "read_error"  # attribute of the raw record that stands for the unreadable rest of a file
#: ``error_type`` attribute of a raw record that says the export was cut off (a transfer that stopped): the dead
#: letter of the cut, while the complete records before it go on.
TRUNCATED_EXPORT = "truncated_export"


@contextlib.contextmanager
def _open(path: str):
    """The file's bytes, decompressed when it is gzip (``.gz``), as a stream that can be iterated by line."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        if path.lower().endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
                yield unpacked
        else:
            yield raw


def lines_of(stream) -> Iterator[bytes]:
    """The stream's lines with their endings, whichever of LF, CRLF or a lone CR (old Mac and some Windows
    exporters) ends them."""
    pending = b""
    while True:
        block = stream.read(READ_BLOCK)
        data = pending + block
        if not block:
            if data:
                yield data
            return
        # bytes.splitlines splits at exactly LF, CRLF and a lone CR, keeping the endings
        lines = data.splitlines(keepends=True)
        # the last piece waits for the next block if it has no ending yet, or ends in a CR that may be the first
        # half of a CRLF
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        yield from lines


def split_lines(stream) -> Iterator[tuple[str, int, bytes, dict]]:
    """Yield ('line', line_number, bytes, {}) for each non-blank line; CRLF/LF/CR and a leading BOM are removed."""
    for number, line in enumerate(lines_of(stream), start=1):
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM) :]
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield Position.LINE, number, line, {}


def split_sms_lines(stream) -> Iterator[tuple[str, int, bytes, dict]]:
    """Like ``split_lines``, but the optional header line of an SMS export is not a record."""
    for kind, number, line, attributes in split_lines(stream):
        if number == 1 and line.startswith(b"received_at|"):
            continue
        yield kind, number, line, attributes


def split_csv_records(stream) -> Iterator[tuple[str, int, bytes, dict]]:
    """Yield one item per CSV data record, joining lines inside quoted fields; each record's position is its first
    line and its bytes are the record exactly as written (line breaks inside quotes included, its own line end not).

    The header is not a record: it is passed along in each record's attributes (``header``), so a record
    can be re-parsed from the lake on its own.

    A record goes on past its line end only inside a quoted field: one that starts with a quote (RFC 4180;
    quotes doubled inside), as Python's ``csv`` reads it. A stray quote inside an unquoted field (``He said "no``)
    is text, so it cannot swallow the rest of the file. An export cut off in its last record (still inside quotes
    at end of file, or a last line with no line end and fewer fields than the header) yields that record with an
    ``error`` and ``error_type`` ``truncated_export``, so the cut is a dead letter that says so.
    """
    pending: list[bytes] = []
    in_quotes = False
    first_line = 0
    attributes: dict = {}
    for number, line in enumerate(lines_of(stream), start=1):
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM) :]
        if not pending:
            if not line.strip():
                continue
            first_line = number
        pending.append(line)
        if b'"' in line or in_quotes:
            in_quotes = _still_quoted(line, in_quotes)
        if not in_quotes:
            record = b"".join(pending).rstrip(b"\r\n")
            pending = []
            if not attributes:
                attributes = {"header": record.decode("utf-8", errors="replace")}
                continue
            cut = None if line.endswith((b"\n", b"\r")) else _cut_last_record(record, attributes["header"])
            yield Position.LINE, first_line, record, {**attributes, **cut} if cut else attributes
    if pending:
        yield (
            Position.LINE,
            first_line,
            b"".join(pending).rstrip(b"\r\n"),
            {
                **attributes,
                "error": f"truncated export: an unterminated quoted field at the end of the file, in the "
                f"record that starts on line {first_line}",
                "error_type": TRUNCATED_EXPORT,
            },
        )


def _cut_last_record(record: bytes, header: str) -> dict | None:
    """For a file's last record, which has no line end: the truncation attributes when it has fewer fields than the
    header (an export cut off in its last line), else None (many exporters leave the last line end out)."""
    columns = len(next(csv.reader([header]), []))
    fields = len(next(csv.reader(io.StringIO(record.decode("utf-8", errors="replace"), newline="")), []))
    if fields >= columns:
        return None
    return {
        "error": f"truncated export: the last line has {fields} of the header's {columns} fields and no line end",
        "error_type": TRUNCATED_EXPORT,
    }


def _still_quoted(line: bytes, in_quotes: bool) -> bool:
    """Whether a quoted CSV field is still open after ``line`` (given whether one was open before it; when not, the
    line starts a record). Scans from quote to quote with ``bytes.find``, so a line of quoted notes costs a few
    searches, not a Python step per byte."""
    index = 0
    if not in_quotes and line.startswith(b'"'):  # the record's first field is quoted
        in_quotes, index = True, 1
    while True:
        if in_quotes:
            index = line.find(b'"', index)
            if index < 0:
                return True
            if line[index + 1 : index + 2] == b'"':
                index += 2  # a doubled quote is a quote character in the field
            else:
                in_quotes, index = False, index + 1
        else:
            index = line.find(b',"', index)  # a quote opens a field only right after the comma that starts it
            if index < 0:
                return False
            in_quotes, index = True, index + 2


_CALL_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?call[\s>/]")
_CALL_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?call\s*>")
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


class _Utf8Stream:
    """An XML export's bytes as UTF-8, whatever it was written in: a UTF-16 file (by its byte-order mark) or one
    that declares another encoding (``ISO-8859-1``, ``windows-1252``) is decoded and re-encoded, with the
    declaration saying UTF-8, so each call's bytes can be kept as text and parsed on their own."""

    def __init__(self, stream, codec: str):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self.first = True

    @classmethod
    def wrap(cls, stream):
        head = stream.read(READ_BLOCK)
        codec = None
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            codec = "utf-16"
        else:
            declared = _DECLARED_ENCODING.match(head.removeprefix(BOM))
            name = declared.group(1).decode("ascii").lower() if declared else "utf-8"
            try:
                codec = None if codecs.lookup(name).name in ("utf-8", "ascii") else name
            except LookupError:
                codec = None  # an unknown encoding: the parser will say so, as a dead letter
        if codec is None:
            return _Prefixed(head, stream)
        return cls(_Prefixed(head, stream), codec)

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        text = self.decoder.decode(data, final=not data)
        if self.first:
            self.first = False
            text = re.sub(
                r"^(\ufeff?\s*<\?xml[^>]*?encoding\s*=\s*[\"'])[A-Za-z0-9._-]+",
                r"\g<1>UTF-8",
                text.removeprefix("\ufeff"),
            )
        return text.encode("utf-8") if text or not data else self.read(size)


class _Prefixed:
    """A stream with some of its first bytes already read."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.stream.read(size)
        if size is None or size < 0:
            data, self.head = self.head + self.stream.read(), b""
        else:
            data, self.head = self.head[:size], self.head[size:]
        return data


def local_name(tag: str) -> str:
    """An element's name without its namespace (``{urn:x}call`` -> ``call``)."""
    return tag.rsplit("}", 1)[-1]


class _CallBoundaries:
    """Parser target that records the byte span of every ``<call>`` element that is not inside another one
    (directly under ``<calls>``, or under a wrapper element; with or without a namespace) and the zone of the
    ``<calls>`` element around it."""

    def __init__(self):
        self.parser = None
        self.timezone: str | None = None
        self.root: str | None = None  # local name of the document's root element, once it has started
        self.open_start: int | None = None
        self.call_depth = 0  # how deep inside the open <call> the parser is (0: not in a call)
        self.completed: list[tuple[int, int]] = []  # (start, end-of-start-of-end-tag)

    def start(self, tag, attrib):
        name = local_name(tag)
        self.root = self.root or name
        if self.call_depth:
            self.call_depth += 1
        elif name == "calls":
            self.timezone = attrib.get("timezone") or self.timezone
        elif name == "call":
            self.open_start = self.parser.parser.CurrentByteIndex
            self.call_depth = 1

    def end(self, tag):
        if not self.call_depth:
            return
        self.call_depth -= 1
        if self.call_depth == 0 and self.open_start is not None:
            self.completed.append((self.open_start, self.parser.parser.CurrentByteIndex))
            self.open_start = None

    def data(self, _text):
        pass

    def close(self):
        return None


def split_xml_calls(stream) -> Iterator[tuple[str, int, bytes, dict]]:
    """Yield ('offset', byte_offset, element_bytes, {'timezone': ...}) for each ``<call>`` of an XML export.

    The file is parsed incrementally with a parser that refuses DTD entity declarations and external entities
    (defusedxml), so it is never held whole in memory and an entity bomb is never expanded. Each call's bytes
    are sliced from the input exactly as written. If the document turns out to be malformed, the rest of the
    file is split at ``<call>`` boundaries so that one bad call does not lose the good ones after it; the bytes
    that belong to no call are yielded with an ``error`` attribute, so they land in the dead letter.
    """
    stream = _Utf8Stream.wrap(stream)
    target = _CallBoundaries()
    parser = DefusedXMLParser(target=target)
    target.parser = parser
    buffer = b""
    buffer_start = 0  # file offset of buffer[0]
    consumed = 0  # file offset up to which bytes are accounted for (yielded, or structure between calls)
    attributes: dict = {}

    def take_completed():
        nonlocal consumed
        for start, end_tag_at in target.completed:
            match = _CALL_END.match(buffer, end_tag_at - buffer_start)
            end = buffer_start + match.end() if match else end_tag_at
            consumed = end
            yield Position.OFFSET, start, buffer[start - buffer_start : end - buffer_start], attributes
        target.completed.clear()

    error: Exception | None = None
    while True:
        block = stream.read(READ_BLOCK)  # a leading BOM goes to the parser too, so its byte index is the file's
        buffer += block
        try:
            if block:
                parser.feed(block)
            else:
                parser.close()
        except (SyntaxError, DefusedXmlException, ValueError) as caught:
            error = caught
        if target.timezone and not attributes:
            attributes = {"timezone": target.timezone}
        yield from take_completed()
        if error is not None or not block:
            break
        keep_from = target.open_start if target.open_start is not None else max(consumed, buffer_start)
        keep_from = min(keep_from, buffer_start + len(buffer) - READ_BLOCK) if target.open_start is None else keep_from
        if keep_from > buffer_start:
            buffer = buffer[keep_from - buffer_start :]
            buffer_start = keep_from

    if error is None:
        return
    # Malformed document: the rest of the file, from the first byte not yet accounted for.
    rest_start = target.open_start if target.open_start is not None else consumed
    rest = buffer[max(rest_start - buffer_start, 0) :] + stream.read()
    reason = f"{type(error).__name__}: {error}"
    end = rest_start + len(rest)
    yield from _marking_the_cut(
        _resync_calls(rest, rest_start, attributes, reason), _truncation(target.root, rest, end), end, attributes
    )


def _truncation(root: str | None, rest: bytes, end: int) -> str | None:
    """Why a malformed XML export is a truncated one, or None: its root element is never closed (a transfer that
    stopped, even right after a ``</call>``), or the file holds no document at all. ``rest`` is the file from the
    first byte no call accounts for, ``end`` the file's length."""
    if root is None:
        return None if rest.strip() else "truncated export: the file holds no XML document"
    if re.search(rb"</(?:[A-Za-z_][\w.-]*:)?" + re.escape(root.encode("utf-8")) + rb"\s*>", rest):
        return None  # closed (what follows, if anything, is another fault)
    return f"truncated export: the file ends at byte {end} before </{root}> closes it; calls after the cut are missing"


def _marking_the_cut(items: Iterator, cut: str | None, end: int, attributes: dict):
    """The resynchronised records of a malformed export, with the truncation ``cut`` (if any) said once: on the
    last record when it is the unfinished piece at the end of the file, else on a record of its own (no bytes,
    at the file's end), so a file cut right after a complete call still gets its dead letter."""
    last = None
    for item in items:
        if last is not None:
            yield last
        last = item
    if cut and last is not None and "error" in last[3] and last[1] + len(last[2]) == end:
        kind, position, data, found = last
        yield kind, position, data, {**found, "error": f"{cut}; {found['error']}", "error_type": TRUNCATED_EXPORT}
        return
    if last is not None:
        yield last
    if cut:
        yield Position.OFFSET, end, b"", {**attributes, "error": cut, "error_type": TRUNCATED_EXPORT}


def _resync_calls(rest: bytes, rest_start: int, attributes: dict, reason: str):
    """Split bytes after an XML error into call elements (parsed on their own later) and leftover bytes."""
    position = 0
    while position < len(rest):
        start_match = _CALL_START.search(rest, position)
        if start_match is None:
            break
        if rest[position : start_match.start()].strip():
            yield (
                Position.OFFSET,
                rest_start + position,
                rest[position : start_match.start()],
                {**attributes, "error": reason},
            )
        end_match = _CALL_END.search(rest, start_match.end())
        next_start = _CALL_START.search(rest, start_match.end())
        if end_match is None or (next_start is not None and next_start.start() < end_match.start()):
            stop = next_start.start() if next_start is not None else len(rest)
            yield (
                Position.OFFSET,
                rest_start + start_match.start(),
                rest[start_match.start() : stop],
                {**attributes, "error": reason + " (unterminated <call>)"},
            )
            position = stop
            continue
        yield Position.OFFSET, rest_start + start_match.start(), rest[start_match.start() : end_match.end()], attributes
        position = end_match.end()
    tail = rest[position:]
    if tail.strip() and not re.fullmatch(rb"(?:\s*</[^<>\s]+\s*>)*\s*", tail):  # end tags: </calls>, a wrapper's
        yield Position.OFFSET, rest_start + position, tail, {**attributes, "error": reason}


def splitter_for(source: str, path: str):
    lower = path.lower().removesuffix(".gz")
    if lower.endswith(".csv"):
        return split_csv_records
    if lower.endswith(".xml"):
        return split_xml_calls
    if source == "sms":
        return split_sms_lines
    return split_lines


def raw_records(
    source: str, path: str, display_path: str, *, run_id: str, batch_id: str, ingested_at: str
) -> Iterator[dict]:
    """All raw records of one file, in file order."""
    splitter = splitter_for(source, path)
    with _open(path) as stream:
        for kind, position, data, attributes in _until_unreadable(splitter(stream), display_path):
            raw, encoding = decode_raw(data)
            yield {
                "source": source,
                "source_file": display_path,
                "message_id": None,
                "line": position if kind == Position.LINE else None,
                "offset": position if kind == Position.OFFSET else None,
                "ingested_at": ingested_at,
                "run_id": run_id,
                "batch_id": batch_id,
                "raw": raw,
                "raw_encoding": encoding,
                "attributes": dict(attributes),
            }


def _until_unreadable(items: Iterator, display_path: str) -> Iterator[tuple[str, int | None, bytes, dict]]:
    """The splitter's records until the file cannot be read further (a corrupt or truncated ``.gz``), then one
    record that stands for the rest, so the failure is a dead letter with its reason and the run goes on."""
    try:
        yield from items
    except READ_ERRORS as error:
        yield (
            Position.OFFSET,
            None,
            b"",
            {READ_ERROR: f"{display_path} cannot be read past here: {type(error).__name__}: {error}"},
        )


def chunked(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class ReadRawBatches(beam.DoFn):
    """(source, path, display_path) -> RecordBatch((source, display_path, chunk number), raw records).

    Never fails on content: every byte of the file ends in some raw record. A file that cannot be opened
    raises, which fails the run (an unreadable input is an operational error, not a bad record).
    """

    def __init__(self, run_id: str, batch_id: str, ingested_at: str, chunk_size: int = 10_000):
        self.run_id, self.batch_id, self.ingested_at, self.chunk_size = run_id, batch_id, ingested_at, chunk_size

    def process(self, element):
        source, path, display_path = element
        records = raw_records(
            source, path, display_path, run_id=self.run_id, batch_id=self.batch_id, ingested_at=self.ingested_at
        )
        for number, chunk in enumerate(chunked(records, self.chunk_size)):
            yield RecordBatch((source, display_path, number), chunk)
