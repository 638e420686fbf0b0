"""The customer master (reference data): ``account_number,msisdn,email,twitter_handle,full_name,segment,
region,plan,tenure_months``. Rows become customer profiles; bad rows go to the dead letter."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import apache_beam as beam
from apache_beam.runners.worker.statecache import CacheAware

from transforms.cleaning import normalise_email, normalise_handle, normalise_phone
from transforms.outcomes import as_record_error, count_tally
from transforms.packing import RecordBatch
from transforms.records import RecordError, raw_text
from transforms.sources.payloads import parse_csv_row

_LOG = logging.getLogger(__name__)

SOURCE = "customers"
SEGMENTS = ("consumer", "business", "vip")


def parse_customer(raw_record: dict) -> dict:
    attributes = raw_record.get("attributes") or {}
    if attributes.get("error"):
        raise RecordError(attributes.get("error_type") or "malformed_export", attributes["error"])
    values = parse_csv_row(raw_text(raw_record), attributes.get("header", ""))
    account = (values.get("account_number") or "").strip().upper()
    if not account:
        raise RecordError("missing_field", "missing account_number")
    segment = (values.get("segment") or "").strip().lower()
    if segment not in SEGMENTS:
        raise RecordError("invalid_field", f"segment {segment!r} is not one of {', '.join(SEGMENTS)}")
    tenure = (values.get("tenure_months") or "").strip()
    return {
        "account_number": account,
        "msisdn": normalise_phone(values.get("msisdn")),
        "email": normalise_email(values.get("email")),
        "twitter_handle": normalise_handle(values.get("twitter_handle")),
        "segment": segment,
        "region": (values.get("region") or "").strip() or None,
        "plan": (values.get("plan") or "").strip() or None,
        "tenure_months": int(tenure) if tenure.isdigit() else None,
    }


class CustomerIndex(CacheAware):
    """Look-ups from each identifier to a customer profile, in the linking order of the contract.

    A master that contradicts itself is not resolved silently: an account listed again with other values keeps
    its first version in a fixed order (the smallest by its values, whatever order the files were read in) and
    counts as ``account_repeated_with_other_values``; a phone, e-mail or handle that two accounts share links to
    neither (a complaint must not be put on the wrong customer's account) and counts as ``<identifier>_shared``.
    ``conflicts`` holds the counts by reason, ``conflict_examples`` a few of each.
    """

    IDENTIFIERS = (("msisdn", "msisdn"), ("email", "email"), ("twitter_handle", "handle"))

    def __init__(self, customers):
        self.by_account, self.by_msisdn, self.by_email, self.by_handle = {}, {}, {}, {}
        self.conflicts: dict[str, int] = {}
        self.rejected: dict[str, int] = {}  # rows of the file that could not be parsed, by reason
        self.conflict_examples: dict[str, list[str]] = {}
        by_account, repeated = self.by_account, {}
        for customer in customers:
            account = customer["account_number"]
            if account in by_account:
                repeated.setdefault(account, [by_account[account]]).append(customer)
            else:
                by_account[account] = customer
        # Only what conflicts is put in order (accounts, then identifiers): the examples kept are always the
        # same ones, and a master of a million rows is not sorted whole.
        for account in sorted(repeated):  # the version kept is the smallest by its values
            rows = sorted(repeated[account], key=lambda c: sorted((k, str(v)) for k, v in c.items()))
            by_account[account] = rows[0]
            for other in rows[1:]:
                if other != rows[0]:
                    self._conflict("account_repeated_with_other_values", account)
        lookups = {"msisdn": self.by_msisdn, "email": self.by_email, "twitter_handle": self.by_handle}
        shared = []
        for key, name in self.IDENTIFIERS:
            owner: dict[str, str] = {}  # identifier value -> the first account listing it
            sharers: dict[str, list[str]] = {}  # value -> every account listing it, when more than one does
            for account, customer in by_account.items():
                value = customer.get(key)
                if value:
                    first = owner.setdefault(value, account)
                    if first != account:
                        sharers.setdefault(value, [first]).append(account)
            lookups[key].update(
                (value, by_account[account]) for value, account in owner.items() if value not in sharers
            )
            shared.extend((key, value, name, sorted(accounts)) for value, accounts in sharers.items())
        for _, _, name, accounts in sorted(shared):
            self._conflict(f"{name}_shared", f"{' and '.join(accounts)} share one {name}")

    def _conflict(self, reason: str, example: str) -> None:
        self.conflicts[reason] = self.conflicts.get(reason, 0) + 1
        examples = self.conflict_examples.setdefault(reason, [])
        if len(examples) < 5:
            examples.append(example)

    def __len__(self):
        return len(self.by_account)

    def get_referents_for_cache(self) -> list:
        """What Beam's side-input cache measures: nothing beyond the index object. Without this, every worker
        walked all 33k profiles of a 100k-complaint day object by object to weigh its one cached copy (1-2 s)."""
        return []


class BuildCustomerIndex(beam.CombineFn):
    """Customer profiles, or RecordBatches of them -> one CustomerIndex (used as a side input by enrichment)."""

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, customers):
        if isinstance(customers, RecordBatch):
            accumulator.extend(customers.records)
        else:
            accumulator.append(customers)
        return accumulator

    def merge_accumulators(self, accumulators):
        return [customer for accumulator in accumulators for customer in accumulator]

    def extract_output(self, accumulator):
        return CustomerIndex(accumulator)


class CountLoaded(beam.PTransform):
    """Customer profiles, or RecordBatches of them -> one tally ((customers, loaded, ''), n), also a Beam
    counter."""

    def expand(self, profiles):
        return (
            profiles
            | "Profiles" >> beam.Map(lambda item: len(item.records) if isinstance(item, RecordBatch) else 1)
            | "Count" >> beam.CombineGlobally(sum)
            | "Tally" >> beam.Map(lambda n: count_tally((SOURCE, "loaded", ""), n))
        )


def conflict_tallies(index: CustomerIndex) -> list[tuple]:
    """The master's conflicts as tallies ``((customers, conflict, reason), n)`` for the run manifest."""
    return [count_tally((SOURCE, "conflict", reason), n) for reason, n in sorted(index.conflicts.items())]


def load_customer_index(path: str) -> CustomerIndex:
    """The customer master file at ``path`` (any Beam filesystem) -> one CustomerIndex, without Beam. Rows that
    cannot be parsed are left out and counted by reason in ``index.rejected``."""
    from transforms.sources.files import raw_records

    profiles, rejected = [], Counter()
    for raw in raw_records(
        SOURCE, path, path.rsplit("/", 1)[-1], run_id="customers", batch_id="customers", ingested_at=""
    ):
        try:
            profiles.append(parse_customer(raw))
        except Exception as error:  # noqa: BLE001 - a bad row is counted, the others still link
            rejected[as_record_error(error, "parse").error_type] += 1
    index = CustomerIndex(profiles)
    index.rejected = dict(rejected)
    if rejected:
        _LOG.warning(
            "customer master %s: %d rows left out (%s)",
            path,
            sum(rejected.values()),
            ", ".join(f"{reason} {n}" for reason, n in sorted(rejected.items())),
        )
    return index


class CustomerMaster:
    """The customer index of a streaming job, read from its file by each worker (no side input: Beam's Flink
    runner cannot checkpoint a portable job's side inputs) and read again when the file changes, looked at
    no more often than every ``refresh_seconds``. Without a path, every complaint is unknown. One per worker
    process and file (``customer_master``), shared by the threads that run bundles there."""

    def __init__(self, path: str | None, refresh_seconds: float = 300):
        self.path, self.refresh_seconds = path, refresh_seconds
        self._index, self._stamp, self._checked = None, None, float("-inf")
        self._lock = threading.Lock()

    def _file_stamp(self):
        from apache_beam.io.filesystems import FileSystems

        metadata = FileSystems.match([self.path])[0].metadata_list[0]
        return metadata.size_in_bytes, metadata.last_updated_in_seconds

    def current(self) -> CustomerIndex:
        with self._lock:
            if self.path is None:
                self._index = self._index or CustomerIndex([])
                return self._index
            now = time.monotonic()
            if self._index is None or now - self._checked >= self.refresh_seconds:
                self._checked = now
                try:
                    stamp = self._file_stamp()
                except Exception as error:  # keep linking with what was read before
                    if self._index is None:
                        raise
                    _LOG.warning(
                        "customer master %s unreadable (%s): still using the one read before", self.path, error
                    )
                    return self._index
                if stamp != self._stamp:
                    self._index, self._stamp = load_customer_index(self.path), stamp
            return self._index


_MASTERS: dict[tuple, CustomerMaster] = {}
_MASTERS_LOCK = threading.Lock()


def customer_master(path: str | None, refresh_seconds: float = 300) -> CustomerMaster:
    """This process's CustomerMaster of ``path``."""
    with _MASTERS_LOCK:
        return _MASTERS.setdefault((path, refresh_seconds), CustomerMaster(path, refresh_seconds))
