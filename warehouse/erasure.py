"""Erasure of one person (right to erasure: NDPR, GDPR article 17) from the warehouse, the lake and the review files.

Who the person is (:class:`Subject`): their customer ids (account numbers), their contact tokens, and their
contact details in clear when known (the customer master's row, or what the requester gave): phone numbers in
E.164, e-mail addresses, Twitter handles. The contact tokens of the complaints linked to one of their customer ids
through their own contact or the account number they gave join the subject, so records they sent from the same
phone, address or handle without being linked are found too.

What is theirs:

- ``complaints``: a row linked to one of their customer ids, made from one of their contacts (``contact_token``),
  or whose text, subject or topic names one of their identifiers (an account number is kept in the text; phone
  numbers and e-mails are masked there, handles are not).
- ``dead_letter``: a rejected record holds the person only in its ``raw`` text (and sometimes its
  ``error_message``): a record that could not be parsed has no customer id or token. The raw text (base64-decoded
  when it was not UTF-8, URL-decoded for form posts) is searched for every phone number in any spelling
  (``0803 555 0002``, ``+234-803-555-0002``, ``2348035550002``: each digit run normalised to E.164), every e-mail
  address, every ``@handle`` and every ``username``/``handle`` field, and for the customer ids; a candidate matches
  when it equals one of their contacts, or when its contact token (the same keyed hash the pipeline makes) is one
  of theirs, so a request that gives only a token still finds raw text. A record that names the person is
  erased whole, whoever sent it.
- ``complaint_events`` (the CRM's events): the events of an erased complaint, or whose note names the person.
- ``reviews`` (the review queue's decisions): the decisions about an erased complaint or dead letter, or whose
  corrected raw text, reason or outcome names the person.
- The other warehouse tables (volumes, alerts, stream counts, forecasts) hold counts, never a person: untouched.
- The lake (``OUT/lake/raw/**.jsonl[.gz]``) and the review files (``OUT/_review/**.jsonl``: re-injected
  corrections and labelled training examples): a line is dropped when it is the record an erased row was read
  from (source, file or message id, line or offset), belongs to an erased complaint (``complaint_id``), or names
  the person in any of its text. Each of the SMS gateway's parts of a merged message is its own lake line with the
  sender's number, so every part goes.

How: every table's rows are removed in ONE snapshot per table (and per branch that holds them) through pyiceberg's
own overwrite (the same building blocks ``Transaction.delete`` uses: files read with their delete files applied,
the rows kept written as new data files, the old files dropped), with the snapshot summary property
``erasure-run``. Data files are searched as written on disk, so a file still holding a row of the person that
another engine's position delete already hides is rewritten too. ``Transaction.delete`` itself is not used: it
commits files it can drop whole in a DELETE snapshot and files it rewrites in a second OVERWRITE snapshot, and the
first of the two is a state where only part of the person is gone. The committer's per-table lock
(``warehouse/commit.py``) is held from reading to the last table's commit, so no batch or stream commits in
between. Lake files are rewritten atomically (a temporary file in the same directory, fsync, rename): every other
line is kept byte for byte.

Erasing leaves the person in the table's history (time travel, older snapshots, their data files) until
:func:`expire_erased` removes it: it seals each table with an empty append (which carries forward only the manifests
of live files: the erasure's own manifest of dropped files keeps their column bounds, a customer id among them),
expires every snapshot older than the seal (``warehouse/maintenance.py``), and deletes exactly the files that the
expired snapshots referenced and maintenance's orphan finder shows no remaining snapshot, branch or tag references.
A tag (an immutable name for an old snapshot) that holds the person is never moved or dropped silently: the expiry
is refused, naming the tag.

The audit record (``OUT/_erasures/<erasure_id>.json``) holds counts, snapshot ids and times, the requester's
reference, and a keyed hash of the subject (under the contact-token key): never an identifier in clear.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hmac
import itertools
import json
import os
import re
import secrets
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote_plus

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table import Table as IcebergTable
from pyiceberg.table.refs import SnapshotRefType

from schemas import tables
from transforms.cleaning import normalise_email, normalise_handle, normalise_phone
from warehouse import maintenance
from warehouse.commit import _RETRYABLE, CommitConflict, _turn
from warehouse.runs import new_run_id
from warehouse.uris import is_local

ERASURE_DIR = "_erasures"
REVIEW_DIR = "_review"
STAGING_DIR = "_staging"
SNAPSHOT_PROPERTY = "erasure-run"
MAIN = "main"

#: The warehouse tables that can hold a person's rows, in the order they are erased (a complaint's events and
#: reviews follow it), and the columns of each whose free text is searched for the person's identifiers.
PERSONAL_TABLES: dict[str, tuple[str, ...]] = {
    tables.COMPLAINTS.name: ("text", "subject", "customer_topic"),
    tables.DEAD_LETTER.name: ("raw", "error_message"),
    tables.COMPLAINT_EVENTS.name: ("note",),
    tables.REVIEWS.name: ("corrected_raw", "reason", "outcome"),
}
#: Tables of counts only (no customer id, contact or text): an erasure leaves them as they are.
COUNT_TABLES = tuple(name for name in tables.WAREHOUSE_TABLES if name not in PERSONAL_TABLES)


class ErasureError(Exception):
    """The erasure cannot be done as asked; the message (one line) says why and what to do. Nothing was changed
    unless the message says so."""


class RefHoldsSubject(ErasureError):
    """A tag (an immutable name for an old snapshot) holds the person's rows: expiry would keep them."""


# -- who ------------------------------------------------------------------------------------------------------
def contact_token(key: bytes, kind: str, value: str) -> str:
    """The pipeline's contact token of one normalised contact (``kind`` is ``msisdn_e164``, ``email`` or
    ``twitter_handle``): the same keyed hash as ``transforms.enrichment.contact_token`` (a test holds them equal)."""
    return hmac.digest(key, f"{kind}:{value}".encode(), "sha256")[:16].hex()


@dataclass(frozen=True)
class Subject:
    """The person to erase: every identifier the warehouse, the lake and the review files may hold of them.
    ``token_key`` is the profile's contact-token key (tokens of contacts found in raw text are made with it)."""

    token_key: bytes
    customer_ids: frozenset[str] = frozenset()
    tokens: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()  # E.164
    emails: frozenset[str] = frozenset()  # lower case
    handles: frozenset[str] = frozenset()  # lower case, no @

    @classmethod
    def of(cls, token_key: bytes, customer_ids=(), tokens=(), contacts=()) -> Subject:
        """A subject from the request: customer ids, contact tokens, and contacts in clear (a phone number in any
        spelling, an e-mail address, or a handle with or without ``@``; each is normalised). Raises
        ``ErasureError`` for a contact that is none of these."""
        phones, emails, handles = set(), set(), set()
        for contact in contacts:
            contact = (contact or "").strip()
            if "@" in contact[1:] and normalise_email(contact):
                emails.add(normalise_email(contact))
            elif any(ch.isdigit() for ch in contact) and normalise_phone(contact):
                phones.add(normalise_phone(contact))
            elif re.fullmatch(r"@?\w{1,50}", contact):
                handles.add(normalise_handle(contact))
            else:
                raise ErasureError(f"{contact!r} is not a phone number, an e-mail address or a handle")
        return cls(
            token_key,
            frozenset(i.strip().upper() for i in customer_ids if i and i.strip()),
            frozenset(t.strip().lower() for t in tokens if t and t.strip()),
            frozenset(phones),
            frozenset(emails),
            frozenset(handles),
        )

    def widened(self, customers=(), tokens=()) -> Subject:
        """This subject with the contacts of customer-master rows (dicts of ``transforms.sources.customers``:
        ``msisdn``, ``email``, ``twitter_handle``) and more contact tokens."""
        phones, emails, handles = set(self.phones), set(self.emails), set(self.handles)
        for customer in customers:
            if customer.get("msisdn"):
                phones.add(customer["msisdn"])
            if customer.get("email"):
                emails.add(customer["email"])
            if customer.get("twitter_handle"):
                handles.add(customer["twitter_handle"])
        return replace(
            self,
            phones=frozenset(phones),
            emails=frozenset(emails),
            handles=frozenset(handles),
            tokens=self.tokens | frozenset(t for t in tokens if t),
        )

    @property
    def all_tokens(self) -> frozenset[str]:
        """The tokens given or found, and those of the contacts known in clear."""
        made = {contact_token(self.token_key, "msisdn_e164", phone) for phone in self.phones}
        made |= {contact_token(self.token_key, "email", email) for email in self.emails}
        made |= {contact_token(self.token_key, "twitter_handle", handle) for handle in self.handles}
        return self.tokens | frozenset(made)

    @property
    def empty(self) -> bool:
        return not (self.customer_ids or self.tokens or self.phones or self.emails or self.handles)

    def fingerprint(self) -> str:
        """A keyed hash (HMAC-SHA256 under the contact-token key) of the customer ids and the contact tokens (given,
        or of the contacts given) the request named, for the audit: whoever holds the key can tell whether a given
        person was erased; nobody can read who was from it."""
        named = "|".join(sorted(self.customer_ids)) + "#" + "|".join(sorted(self.all_tokens))
        return hmac.digest(self.token_key, f"erasure-subject:{named}".encode(), "sha256").hex()


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_AT_HANDLE = re.compile(r"(?<![\w@.])@(\w{1,50})")
_HANDLE_FIELD = re.compile(
    r"""["']?\b(?:username|screen_name|handle|twitter_handle|twitter)["']?\s*[:=]\s*["']?@?(\w{1,50})""", re.IGNORECASE
)
# digits in groups separated by at most two of the characters people write between them
_DIGIT_RUN = re.compile(r"\+?\d+(?:[ \-./()_\u2010-\u2015]{1,2}\d+)*")


def phone_numbers_in(text: str) -> set[str]:
    """Every phone number (E.164) written in ``text``, however it is spelled: each run of digit groups, and each
    stretch of 7 to 15 digits of consecutive groups in it, normalised (a number beside other digits, as in
    ``|0706-653-3673|3737|``, is found)."""
    found = set()
    for run in _DIGIT_RUN.finditer(text):
        groups = re.findall(r"\d+", run.group(0))
        plus = run.group(0).startswith("+")
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > 15:
                    break
                if len(digits) >= 7:
                    number = normalise_phone(("+" if plus and start == 0 else "") + digits)
                    if number:
                        found.add(number)
    return found


class Matcher:
    """Tells whether a text, a row or a lake line belongs to (or names) the subject."""

    def __init__(self, subject: Subject):
        self.subject = subject
        self.tokens = subject.all_tokens
        self._ids = None
        if subject.customer_ids:  # an id as written in text: any case, its hyphen optional, not inside a word
            spelled = [re.escape(i).replace(r"\-", "-?") for i in sorted(subject.customer_ids)]
            self._ids = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(spelled) + r")(?![A-Za-z0-9])", re.IGNORECASE)

    def _token_of(self, kind: str, value: str) -> bool:
        return bool(self.tokens) and contact_token(self.subject.token_key, kind, value) in self.tokens

    def _names_in(self, text: str) -> bool:
        subject = self.subject
        if self._ids is not None and self._ids.search(text):
            return True
        if "@" in text:
            for email in _EMAIL.findall(text):
                email = email.lower()
                if email in subject.emails or self._token_of("email", email):
                    return True
        for pattern in (_AT_HANDLE, _HANDLE_FIELD):
            for handle in pattern.findall(text):
                handle = handle.lower()
                if handle in subject.handles or self._token_of("twitter_handle", handle):
                    return True
        if subject.phones or self.tokens:
            for number in phone_numbers_in(text):
                if number in subject.phones or self._token_of("msisdn_e164", number):
                    return True
        return False

    def names(self, text: str | None) -> bool:
        """True when ``text`` holds one of the subject's identifiers (as written, or URL-encoded as a form posts
        it)."""
        if not text:
            return False
        if self._names_in(text):
            return True
        if "%" in text or "+" in text:
            decoded = unquote_plus(text)
            return decoded != text and self._names_in(decoded)
        return False

    def names_raw(self, raw: str | None, encoding: str | None) -> bool:
        """``names`` for a raw record's text, decoded first when it was kept as base64."""
        if raw and encoding == "base64":
            try:
                raw = base64.b64decode(raw).decode("utf-8", errors="replace")
            except ValueError:
                pass
        return self.names(raw)


# -- the warehouse ---------------------------------------------------------------------------------------------
@dataclass
class Linked:
    """What the erasure has found so far, that later tables and the lake are matched by."""

    complaint_ids: set[str] = field(default_factory=set)
    error_ids: set[str] = field(default_factory=set)
    lake_keys: set[tuple] = field(default_factory=set)  # (source, file or message id, line or offset)


def _column(rows: pa.Table, name: str) -> list:
    return rows[name].to_pylist() if name in rows.column_names else [None] * len(rows)


def matching_rows(name: str, rows: pa.Table, matcher: Matcher, linked: Linked) -> list[bool]:
    """For each row of warehouse table ``name``: does it belong to (or name) the subject?"""
    subject, hits = matcher.subject, [False] * len(rows)
    if name == tables.COMPLAINTS.name:
        customers_and_tokens = zip(_column(rows, "customer_id"), _column(rows, "contact_token"), strict=True)
        for i, (customer, token) in enumerate(customers_and_tokens):
            hits[i] = (customer or "").upper() in subject.customer_ids or token in matcher.tokens
    elif name == tables.COMPLAINT_EVENTS.name:
        hits = [complaint in linked.complaint_ids for complaint in _column(rows, "complaint_id")]
    elif name == tables.REVIEWS.name:
        for i, (kind, ref) in enumerate(zip(_column(rows, "item_kind"), _column(rows, "ref_id"), strict=True)):
            hits[i] = ref in (linked.complaint_ids if kind == "complaint" else linked.error_ids)
    encodings = _column(rows, "raw_encoding")
    for column in PERSONAL_TABLES.get(name, ()):
        for i, text in enumerate(_column(rows, column)):
            if not hits[i] and text:
                hits[i] = matcher.names_raw(text, encodings[i]) if column == "raw" else matcher.names(text)
    return hits


def _remember(name: str, rows: pa.Table, linked: Linked) -> None:
    """Note the erased rows' ids and the lake records they were read from."""
    if name == tables.COMPLAINTS.name:
        linked.complaint_ids.update(_column(rows, "complaint_id"))
        linked.lake_keys.update(
            zip(_column(rows, "source"), _column(rows, "source_file"), _column(rows, "source_position"), strict=True)
        )
    elif name == tables.DEAD_LETTER.name:
        linked.error_ids.update(_column(rows, "error_id"))
        references = [
            file or message
            for file, message in zip(_column(rows, "source_file"), _column(rows, "message_id"), strict=True)
        ]
        linked.lake_keys.update(zip(_column(rows, "source"), references, _column(rows, "position"), strict=True))


@dataclass
class TableErasure:
    """What the erasure did to one table: rows removed per ref (``main`` and any branch), the snapshots it made."""

    table: str
    rows: dict[str, int] = field(default_factory=dict)
    files_rewritten: int = 0
    snapshots: dict[str, int] = field(default_factory=dict)  # ref -> the erasure's snapshot id
    hidden_rows: int = 0  # rows already deleted by another engine's delete file but still in a data file


#: the columns ``matching_rows`` reads of each table (besides its text columns)
_MATCHED_BY = {
    tables.COMPLAINTS.name: ("customer_id", "contact_token"),
    tables.DEAD_LETTER.name: ("raw_encoding",),
    tables.COMPLAINT_EVENTS.name: ("complaint_id",),
    tables.REVIEWS.name: ("item_kind", "ref_id"),
}


def _read_file(iceberg: IcebergTable, path: str, name: str) -> pa.Table:
    """The columns of data file ``path`` that tell whether a row is the subject's, as written (no delete file
    applied)."""
    wanted = {*_MATCHED_BY.get(name, ()), *PERSONAL_TABLES.get(name, ())}
    with iceberg.io.new_input(path).open() as handle:
        parquet = pq.ParquetFile(handle)
        return parquet.read(columns=[column for column in parquet.schema_arrow.names if column in wanted])


def _plan(iceberg: IcebergTable, name: str, snapshot_id: int, matcher: Matcher, linked: Linked):
    """The data files of snapshot ``snapshot_id`` that hold the subject's rows (in the file as written, also rows
    a delete file already hides), the rows to keep of each, and the erased rows."""
    plan = []
    for task in iceberg.scan(snapshot_id=snapshot_id).plan_files():
        written = _read_file(iceberg, task.file.file_path, name)
        if not any(matching_rows(name, written, matcher, linked)):
            continue
        live = ArrowScan(
            table_metadata=iceberg.metadata, io=iceberg.io, projected_schema=iceberg.schema(), row_filter=AlwaysTrue()
        ).to_table(tasks=[task])
        hits = pa.array(matching_rows(name, live, matcher, linked), pa.bool_())
        plan.append((task.file, live.filter(pc.invert(hits)), live.filter(hits), len(written) - len(live)))
    return plan


def _erase_ref(
    iceberg: IcebergTable,
    name: str,
    ref: str,
    matcher: Matcher,
    linked: Linked,
    properties: dict[str, str],
    attempts: int = 8,
    dry_run: bool = False,
) -> tuple[int, int, int | None, int]:
    """Remove the subject's rows from the head of ``ref`` in one overwrite snapshot. Returns (rows removed, files
    rewritten, the new snapshot id or None when the ref held none or ``dry_run``, hidden rows); a dry run counts
    what it would remove and commits nothing. The caller holds the table's turn."""
    for attempt in range(1, attempts + 1):
        iceberg.refresh()
        head = iceberg.metadata.refs.get(ref)
        if head is None:
            return 0, 0, None, 0
        plan = _plan(iceberg, name, head.snapshot_id, matcher, linked)
        if not plan:
            return 0, 0, None, 0
        if dry_run:
            for _, _, erased, _ in plan:
                _remember(name, erased, linked)
            return (sum(len(erased) for _, _, erased, _ in plan), len(plan), None, sum(hidden for *_, hidden in plan))
        write_uuid, counter, written = uuid.uuid4(), itertools.count(0), []
        try:
            with iceberg.transaction() as transaction:
                with transaction.update_snapshot(snapshot_properties=properties, branch=ref).overwrite() as overwrite:
                    for data_file, kept, _, _ in plan:
                        overwrite.delete_data_file(data_file)
                        if len(kept):
                            new_files = list(
                                _dataframe_to_data_files(
                                    iceberg.metadata, kept, iceberg.io, write_uuid=write_uuid, counter=counter
                                )
                            )
                            written.extend(new_files)
                            for new_file in new_files:
                                overwrite.append_data_file(new_file)
        except _RETRYABLE:
            for new_file in written:
                iceberg.io.delete(new_file.file_path)
            time.sleep(min(5.0, 0.05 * 2**attempt))
            continue
        for _, _, erased, _ in plan:
            _remember(name, erased, linked)
        iceberg.refresh()
        return (
            sum(len(erased) for _, _, erased, _ in plan),
            len(plan),
            iceberg.metadata.refs[ref].snapshot_id,
            sum(hidden for *_, hidden in plan),
        )
    raise CommitConflict(
        f"{name}: other writers kept committing; the erasure of {ref} gave up after {attempts} "
        "attempts (nothing of it is in the table)"
    )


def _branches(iceberg: IcebergTable) -> list[str]:
    """``main`` first, then the other branches."""
    others = sorted(
        name
        for name, ref in iceberg.metadata.refs.items()
        if ref.snapshot_ref_type == SnapshotRefType.BRANCH and name != MAIN
    )
    return ([MAIN] if MAIN in iceberg.metadata.refs else []) + others


def _tags(iceberg: IcebergTable) -> dict[str, int]:
    return {
        name: ref.snapshot_id
        for name, ref in iceberg.metadata.refs.items()
        if ref.snapshot_ref_type == SnapshotRefType.TAG
    }


#: how a complaint may be linked to a customer for its contact to count as the customer's: the contact itself is
#: the customer's (phone, e-mail, handle of the master) or the sender gave the account number; an account number
#: merely written in the text (``account_in_text``) may be someone writing about another person's account.
OWN_CONTACT_MATCHES = ("account_number", "msisdn", "email", "twitter_handle")


def tokens_of_customers(iceberg: IcebergTable | None, customer_ids: frozenset[str]) -> set[str]:
    """The contact tokens of the complaints (on every branch) linked to ``customer_ids`` by one of
    ``OWN_CONTACT_MATCHES``."""
    found = set()
    if iceberg is None or not customer_ids:
        return found
    for branch in _branches(iceberg):
        rows = iceberg.scan(
            snapshot_id=iceberg.metadata.refs[branch].snapshot_id,
            selected_fields=("customer_id", "customer_match", "contact_token"),
        ).to_arrow()
        wanted = pa.array(sorted(customer_ids), rows.schema.field("customer_id").type)
        own = pa.array(OWN_CONTACT_MATCHES, rows.schema.field("customer_match").type)
        linked = rows.filter(
            pc.and_(
                pc.is_in(pc.utf8_upper(rows["customer_id"]), value_set=wanted),
                pc.is_in(rows["customer_match"], value_set=own),
            )
        )
        found.update(token for token in linked["contact_token"].to_pylist() if token)
    return found


def tags_holding(iceberg: IcebergTable, name: str, matcher: Matcher, linked: Linked) -> list[str]:
    """The tags of the table whose snapshot holds rows of the subject; the rows found are added to ``linked`` (a
    tag of complaints holds complaint ids whose events a tag of events may hold)."""
    holding = []
    for tag, snapshot_id in sorted(_tags(iceberg).items()):
        plan = _plan(iceberg, name, snapshot_id, matcher, linked)
        if plan:
            holding.append(tag)
            for _, _, erased, _ in plan:
                _remember(name, erased, linked)
    return holding


def refuse_tags_holding(icebergs: dict[str, IcebergTable], matcher: Matcher, erasure_id: str) -> None:
    """Raise ``RefHoldsSubject`` naming the first tag (tables in ``PERSONAL_TABLES`` order) whose snapshot holds
    rows of the subject, judged with what the branches link to them (a dry run of the erasure); changes nothing."""
    if not any(_tags(iceberg) for iceberg in icebergs.values()):
        return
    linked = Linked()
    erase_tables(icebergs, matcher, erasure_id, linked, {}, dry_run=True)
    for name in PERSONAL_TABLES:
        iceberg = icebergs.get(name)
        holding = tags_holding(iceberg, name, matcher, linked) if iceberg is not None else []
        if holding:
            raise RefHoldsSubject(
                f"tag {holding[0]!r} of table {name} holds the person's rows (snapshot "
                f"{_tags(iceberg)[holding[0]]}): remove the tag, then erase again; nothing was "
                "erased"
            )


def erase_tables(
    icebergs: dict[str, IcebergTable],
    matcher: Matcher,
    erasure_id: str,
    linked: Linked | None = None,
    results: dict | None = None,
    dry_run: bool = False,
) -> tuple[dict[str, TableErasure], Linked]:
    """Erase the subject from every personal table given (name -> Iceberg table), in ``PERSONAL_TABLES`` order,
    on ``main`` and every other branch, holding every table's commit turn until the last commit (a batch or a
    stream waits, then commits from the erased state). Returns what was done per table (also filled into
    ``results`` as each table is done, so a failure part way leaves a record of what was), and what was found."""
    linked = linked if linked is not None else Linked()
    properties = {SNAPSHOT_PROPERTY: erasure_id, "writer": "erase"}
    results = results if results is not None else {}
    ordered = [name for name in PERSONAL_TABLES if icebergs.get(name) is not None]
    with ExitStack() as turns:
        for name in sorted(ordered):  # one order for every taker of several turns
            turns.enter_context(_turn(icebergs[name]))
        for name in ordered:
            iceberg, result = icebergs[name], TableErasure(name)
            iceberg.refresh()
            for branch in _branches(iceberg):
                rows, files, snapshot_id, hidden = _erase_ref(
                    iceberg, name, branch, matcher, linked, properties, dry_run=dry_run
                )
                result.rows[branch] = rows
                result.files_rewritten += files
                result.hidden_rows += hidden
                if snapshot_id is not None:
                    result.snapshots[branch] = snapshot_id
            results[name] = result
    return results, linked


# -- expiry -----------------------------------------------------------------------------------------------------
@dataclass
class TableExpiry:
    table: str
    seal_snapshot: int | None = None
    snapshots_expired: int = 0
    files_removed: int = 0
    snapshots_left: int = 0
    leftovers: int = 0  # data files no snapshot references (a writer's leftovers) that still hold the subject


def _seal(iceberg: IcebergTable, properties: dict[str, str]) -> dict[str, int]:
    """An empty append on every branch: the new head carries forward only manifests of live files, so nothing of
    the erased rows (not even a column bound in a manifest of dropped files) is in what remains. Returns the new
    head of each branch."""
    heads = {}
    with _turn(iceberg):
        for branch in _branches(iceberg):
            iceberg.refresh()
            with iceberg.transaction() as transaction:
                with transaction.update_snapshot(snapshot_properties=properties, branch=branch).fast_append():
                    pass
            iceberg.refresh()
            heads[branch] = iceberg.metadata.refs[branch].snapshot_id
    return heads


def remove_released_files(iceberg: IcebergTable, released: set[str]) -> int:
    """Delete the files of ``released`` (file keys, ``maintenance.file_key``) that maintenance's orphan finder,
    run under the table's commit turn, finds unreferenced by any snapshot, branch, tag or metadata file of the
    table; returns how many were deleted. Local tables only.

    Only files that an expired snapshot referenced are ever given: they were committed, so no writer is about to
    commit them, and once unreferenced nothing refers to them again (unlike a writer's new files, which the
    orphan removal of ``complaints warehouse maintain`` protects by their age)."""
    if not is_local(iceberg.location()) or not released:
        return 0
    removed = 0
    with _turn(iceberg):
        now = dt.datetime.now(dt.UTC)
        for path in maintenance.find_orphans(iceberg, now):
            if maintenance.file_key(path) in released:
                try:
                    os.remove(path)
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed


def unreferenced_files_holding(iceberg: IcebergTable, name: str, matcher: Matcher, linked: Linked) -> list[str]:
    """The data files under the table's (local) location that no snapshot references and that hold rows of the
    subject: a killed writer's leftovers, or a writer's files not committed yet. They are not the erasure's to
    delete (a writer may be about to commit them); ``complaints warehouse maintain`` removes them once older than its
    orphan age."""
    holding = []
    for path in maintenance.find_orphans(iceberg, dt.datetime.now(dt.UTC) + dt.timedelta(days=1)):
        if path.endswith(".parquet"):
            try:
                rows = _read_file(iceberg, path, name)
            except Exception:  # noqa: BLE001 - not a data file of this table (a delete file, a torn write)
                continue
            if any(matching_rows(name, rows, matcher, linked)):
                holding.append(path)
    return holding


def expire_erased(iceberg: IcebergTable, name: str, matcher: Matcher, linked: Linked, erasure_id: str) -> TableExpiry:
    """Remove the subject from the history of one table (after :func:`erase_tables`): seal it, expire every
    snapshot older than the seal (branch heads and tags are kept by Iceberg; the caller has refused tags that hold
    the subject), delete the files only the expired snapshots referenced, and check that no remaining snapshot
    holds a row of the subject (``ErasureError`` names the one that does)."""
    result = TableExpiry(name)
    time.sleep(0.002)  # the seal is strictly younger than the erasure's own snapshots
    heads = _seal(iceberg, {SNAPSHOT_PROPERTY: erasure_id, "writer": "erase", "erasure-step": "seal"})
    result.seal_snapshot = heads.get(MAIN)
    if not heads:  # a table without a snapshot has no history
        return result
    iceberg.refresh()
    seal_time = min(iceberg.snapshot_by_id(head).timestamp_ms for head in heads.values())
    before_ids = {snapshot.snapshot_id for snapshot in iceberg.snapshots()}
    before_files = maintenance.referenced_files(iceberg)
    older_than = dt.datetime.fromtimestamp(seal_time // 1000, dt.UTC) + dt.timedelta(
        milliseconds=seal_time % 1000
    )  # exact: a float would round a millisecond off
    maintenance.expire_snapshots(iceberg, older_than)
    iceberg.refresh()
    left = iceberg.snapshots()
    result.snapshots_expired = len(before_ids - {snapshot.snapshot_id for snapshot in left})
    result.snapshots_left = len(left)
    result.files_removed = remove_released_files(iceberg, before_files)
    result.leftovers = len(unreferenced_files_holding(iceberg, name, matcher, linked))
    for snapshot in left:
        if _plan(iceberg, name, snapshot.snapshot_id, matcher, linked):
            holders = [ref for ref, head in iceberg.metadata.refs.items() if head.snapshot_id == snapshot.snapshot_id]
            why = (
                f"the head of {', '.join(holders)}"
                if holders
                else "kept by a branch's or the table's snapshot retention (min-snapshots-to-keep, max-snapshot-age-ms)"
            )
            raise ErasureError(
                f"{name}: snapshot {snapshot.snapshot_id} ({why}) still holds the person's rows after "
                "expiry; the current snapshots no longer do"
            )
    return result


# -- the lake and the review files -------------------------------------------------------------------------------
@dataclass
class FileErasure:
    """What the erasure did to JSON-lines files under one root (``lake`` or ``_review``)."""

    root: str
    records: dict[str, int] = field(default_factory=dict)  # per source (``source=...`` folder, or the file name)
    files_rewritten: int = 0


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def line_matches(record, matcher: Matcher, linked: Linked) -> bool:
    """Does one JSON-lines record (a lake line, a re-injected correction, a labelled example) belong to or name the
    subject?"""
    if not isinstance(record, dict):
        return any(matcher.names(text) for text in _strings(record))
    reference = record.get("source_file") or record.get("message_id")
    position = record.get("line") if record.get("line") is not None else record.get("offset")
    if (record.get("source"), reference, position) in linked.lake_keys:
        return True
    if record.get("complaint_id") in linked.complaint_ids:
        return True
    if matcher.names_raw(record.get("raw"), record.get("raw_encoding")):
        return True
    return any(matcher.names(text) for key, value in record.items() if key != "raw" for text in _strings(value))


def rewrite_without(path: Path, drop, dry_run: bool = False) -> int:
    """Rewrite the JSON-lines file ``path`` (``.gz`` too) without the lines ``drop(record)`` is true for, atomically:
    the kept lines, byte for byte, go to a temporary file in the same directory, which is flushed to disk and
    renamed over the original. Returns how many lines were dropped (0, or ``dry_run``: the file is not touched). A
    line that is not JSON is kept (and searched as text)."""
    compressed = path.suffix == ".gz"
    with (gzip.open if compressed else open)(path, "rb") as handle:
        lines = handle.readlines()
    kept, dropped = [], 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            record = line.decode("utf-8", errors="replace")
        if drop(record):
            dropped += 1
        else:
            kept.append(line)
    if not dropped or dry_run:
        return dropped
    temporary = path.with_name(f".{path.name}.erasing-{secrets.token_hex(4)}")
    try:
        with open(temporary, "wb") as raw:
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
                    packed.writelines(kept)
            else:
                raw.writelines(kept)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temporary, os.stat(path).st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return dropped


def _jsonl_files(root: Path):
    if root.is_dir():
        yield from sorted(
            path
            for pattern in ("*.jsonl", "*.jsonl.gz")
            for path in root.rglob(pattern)
            if not path.name.startswith(".")
        )


def erase_files(root: Path, label: str, matcher: Matcher, linked: Linked, dry_run: bool = False) -> FileErasure:
    """Drop the subject's lines from every JSON-lines file under ``root`` (counted per ``source=`` folder, else
    per file name)."""
    result = FileErasure(label)
    for path in _jsonl_files(root):
        dropped = rewrite_without(path, lambda record: line_matches(record, matcher, linked), dry_run)
        if dropped:
            source = next(
                (part.removeprefix("source=") for part in path.parts if part.startswith("source=")), path.name
            )
            result.records[source] = result.records.get(source, 0) + dropped
            result.files_rewritten += 1
    return result


def staging_left(output_dir: str | Path) -> list[str]:
    """The runs whose staged output is still under ``OUT/_staging`` (running, or kept for inspection): not erased."""
    root = Path(output_dir) / STAGING_DIR
    return sorted(entry.name for entry in root.iterdir() if entry.is_dir()) if root.is_dir() else []


# -- the whole erasure ---------------------------------------------------------------------------------------------
def new_erasure_id(now: dt.datetime | None = None) -> str:
    return f"erasure-{new_run_id(now)}"


@dataclass
class Erasure:
    """One erasure: what it removed where, and its audit record."""

    erasure_id: str
    started_at: dt.datetime
    subject: Subject
    reference: str | None = None
    expire: bool = False
    finished_at: dt.datetime | None = None
    tables: dict[str, TableErasure] = field(default_factory=dict)
    files: list[FileErasure] = field(default_factory=list)
    expiry: dict[str, TableExpiry] = field(default_factory=dict)
    staging_left: list[str] = field(default_factory=list)
    # done; refused (a tag holds the subject: nothing changed); failed (``error`` says what stopped it, the counts
    # what was done before)
    status: str = "running"
    tokens_found: int = 0  # contact tokens of the customer's complaints beyond those the request named
    error: str | None = None

    @property
    def rows_erased(self) -> int:
        return sum(sum(table.rows.values()) for table in self.tables.values())

    @property
    def records_erased(self) -> int:
        return sum(sum(files.records.values()) for files in self.files)

    def audit(self) -> dict:
        """The audit record: counts, snapshot ids and times, never an identifier or a record's content."""
        return {
            "erasure_id": self.erasure_id,
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "reference": self.reference,
            "subject_hash": self.subject.fingerprint(),
            "subject_hash_algorithm": "HMAC-SHA256 under the profile's contact-token key of 'erasure-subject:' + "
            "the sorted customer ids + '#' + the sorted contact tokens named or given "
            "as contacts, each list joined by '|'",
            "identifiers": {
                "customer_ids": len(self.subject.customer_ids),
                "contact_tokens": len(self.subject.tokens),
                "phones": len(self.subject.phones),
                "emails": len(self.subject.emails),
                "handles": len(self.subject.handles),
                "contact_tokens_of_their_complaints": self.tokens_found,
            },
            "tables": {
                name: {
                    "rows": table.rows,
                    "files_rewritten": table.files_rewritten,
                    "snapshots": {ref: str(snapshot) for ref, snapshot in table.snapshots.items()},
                    "hidden_rows_removed": table.hidden_rows,
                }
                for name, table in self.tables.items()
            },
            "untouched_count_tables": list(COUNT_TABLES),
            "files": {
                files.root: {"records": files.records, "files_rewritten": files.files_rewritten} for files in self.files
            },
            "expire": self.expire,
            "expiry": {
                name: {
                    "seal_snapshot": str(result.seal_snapshot),
                    "snapshots_expired": result.snapshots_expired,
                    "files_removed": result.files_removed,
                    "snapshots_left": result.snapshots_left,
                    "unreferenced_files_holding_them": result.leftovers,
                }
                for name, result in self.expiry.items()
            },
            "staging_runs_not_erased": len(self.staging_left),
        }


def write_audit(output_dir: str | Path, erasure: Erasure) -> Path:
    """``OUT/_erasures/<erasure_id>.json``, written atomically."""
    folder = Path(output_dir) / ERASURE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{erasure.erasure_id}.json"
    temporary = folder / f".{path.name}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(erasure.audit(), handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def erase(
    output_dir: str | Path,
    icebergs: dict[str, IcebergTable],
    subject: Subject,
    *,
    expire: bool = False,
    reference: str | None = None,
    customers=(),
    erasure_id: str | None = None,
    dry_run: bool = False,
) -> Erasure:
    """Erase ``subject`` from the warehouse tables given (name -> Iceberg table, or None when it does not exist),
    the lake and the review files under ``output_dir``; with ``expire``, from the tables' history too. ``customers``
    are the subject's customer-master rows (their contacts widen the subject). Writes the audit record and returns
    the erasure. Raises ``RefHoldsSubject`` (before changing anything) when ``expire`` is asked and a tag holds
    the subject's rows; ``ErasureError`` when the subject names nobody. Once started, the audit record is written
    whatever happens (``status`` done, refused or failed). ``dry_run``: count what would be erased (and refuse as
    the erasure would), change nothing, write no audit record."""
    if subject.empty:
        raise ErasureError("name the person: a customer id, a contact token or a contact")
    started = dt.datetime.now(dt.UTC)
    erasure = Erasure(erasure_id or new_erasure_id(started), started, subject, reference, expire)
    output, linked = Path(output_dir), Linked()
    try:
        found = tokens_of_customers(icebergs.get(tables.COMPLAINTS.name), subject.customer_ids)
        erasure.tokens_found = len(found - subject.all_tokens)
        subject = subject.widened(customers, found)
        matcher = Matcher(subject)
        present = {
            name: iceberg for name, iceberg in icebergs.items() if name in PERSONAL_TABLES and iceberg is not None
        }
        if expire:
            refuse_tags_holding(present, matcher, erasure.erasure_id)
        erase_tables(present, matcher, erasure.erasure_id, linked, erasure.tables, dry_run=dry_run)
        for root, label in ((output / tables.LAKE_DIR, "lake"), (output / REVIEW_DIR, REVIEW_DIR)):
            erasure.files.append(erase_files(root, label, matcher, linked, dry_run))
        if expire and not dry_run:
            for name, iceberg in present.items():
                erasure.expiry[name] = expire_erased(iceberg, name, matcher, linked, erasure.erasure_id)
        erasure.staging_left = staging_left(output)
        erasure.status = "dry-run" if dry_run else "done"
    except Exception as error:
        erasure.status = "refused" if isinstance(error, RefHoldsSubject) else "failed"
        erasure.error = (f"{type(error).__name__}: {error}".splitlines() or ["failed"])[0][:300]
        raise
    finally:
        erasure.finished_at = dt.datetime.now(dt.UTC)
        if not dry_run:
            write_audit(output, erasure)
    return erasure
