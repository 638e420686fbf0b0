"""Enrichment: customer linking and profile, contact token, masking, model labels, priority and routing.

``enrich_complaints`` takes cleaned, validated complaints (working form) and returns rows of the warehouse
``complaints`` schema. Customer linking tries, in order: the account number given, an account number written
in the text, the MSISDN, the e-mail, the Twitter handle. ``contact_token`` is an HMAC-SHA256 of the
normalised contact under a key from configuration, so the same contact always gets the same token without the
value ever being stored. The key is a secret, so a pipeline carries only where it is (``ContactTokenKey``): each
worker reads it when its enrichment step sets up.
"""

from __future__ import annotations

import hmac
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics

import schemas
from models.base import ComplaintModel, Prediction
from transforms.cleaning import mask_contacts
from transforms.outcomes import DEAD_LETTER, as_record_error
from transforms.packing import RecordBatch
from transforms.records import ENRICH, dead_letter_from_complaint
from transforms.sources.customers import CustomerIndex
from warehouse.secrets import SecretError, read_secret

ACCOUNT_IN_TEXT = re.compile(r"\bBJN-?\d{6,10}\b", re.IGNORECASE)
ROUTES = {
    "Network": "network-operations",
    "Billing": "billing-disputes",
    "Customer Service": "customer-care",
    "Other": "general-enquiries",
}
ESCALATION_QUEUE = "priority-escalations"
REVIEW_QUEUE = "complaint-review"  # complaints whose category is too uncertain to route on (see route_queue)
COMPLAINT_FIELDS = [name for name in schemas.field_names("Complaint") if name != "event_date"]
MODEL_METRICS = "complaints_model"


def link_customer(complaint: dict, index: CustomerIndex) -> tuple[dict | None, str]:
    """Return (customer profile or None, how it was matched)."""
    contacts = complaint["_contacts"]
    account = contacts.get("account_number")
    if account and account in index.by_account:
        return index.by_account[account], "account_number"
    for match in ACCOUNT_IN_TEXT.finditer(complaint.get("text") or ""):
        candidate = match.group(0).upper()
        candidate = candidate if "-" in candidate else candidate[:3] + "-" + candidate[3:]
        if candidate in index.by_account:
            return index.by_account[candidate], "account_in_text"
    for key, lookup in (
        ("msisdn_e164", index.by_msisdn),
        ("email", index.by_email),
        ("twitter_handle", index.by_handle),
    ):
        value = contacts.get(key)
        if value and value in lookup:
            return lookup[value], "msisdn" if key == "msisdn_e164" else key
    return None, "none"


def contact_token(contacts: dict, key: bytes) -> str | None:
    """Keyed hash of the complaint's best contact (phone, else e-mail, else handle); None if it has none."""
    for kind in ("msisdn_e164", "email", "twitter_handle"):
        value = contacts.get(kind)
        if value:
            # hmac.digest is the one-call C path; the first 16 bytes are the 32 hex characters of the hexdigest
            return hmac.digest(key, f"{kind}:{value}".encode(), "sha256")[:16].hex()
    return None


#: the ``dev`` profile's key of ``contact_token`` (``beam_pipelines/config/dev.toml``): not a secret
DEVELOPMENT_TOKEN_KEY = b"dev-only-contact-token-key-not-a-secret"
#: the environment variable the contact-token key is read from, by default
TOKEN_KEY_ENV = "COMPLAINTS_CONTACT_TOKEN_KEY"


class ContactTokenKeyError(Exception):
    """A worker cannot use the contact-token key: its file cannot be read, or the key it found is not the one its
    pipeline was built with. The message says where it looked, never a key."""


def key_check(key: bytes) -> str:
    """A check value of a contact-token key: 16 hex digits of an HMAC-SHA256 of a fixed text under it. It tells
    whether two processes hold the same key and gives away no more of it than any contact token does (each is
    an HMAC under the key of a text that may be guessed)."""
    return hmac.digest(key, b"beejan complaints: contact-token key check", "sha256")[:8].hex()


@dataclass(frozen=True)
class ContactTokenKey:
    """Where the key of ``contact_token`` is found: what a pipeline carries to its workers in place of the key.

    ``resolve()``, called where the key is used (the enrichment step's ``DoFn.setup`` on each worker), reads the
    environment variable ``env`` names, else the first line of ``file`` (a path such as a Kubernetes secret
    volume, or a URI Beam's filesystems read, such as a ``gs://`` object only the workers may read:
    ``warehouse.secrets.read_secret``), else takes the development key ``DEVELOPMENT_TOKEN_KEY``. When ``check``
    is given (``key_check`` of the key the pipeline was built with, see ``expecting``), the key found must match
    it: a worker that finds no key, or another one, fails as it sets up instead of writing tokens that join no
    earlier run's (nor an erasure request's).

    Args:
      env: the environment variable that holds the key. Default ``COMPLAINTS_CONTACT_TOKEN_KEY``; "" for none.
      file: a file (path or URI) whose first line is the key; "" for none. A file that is named but cannot be
        read is an error, never a fall-back.
      check: ``key_check`` of the key the workers must find; "" to take whatever key they find.
    """

    env: str = TOKEN_KEY_ENV
    file: str = ""
    check: str = ""

    @classmethod
    def expecting(cls, key: bytes | None, env: str = TOKEN_KEY_ENV, file: str = "") -> ContactTokenKey:
        """Where the workers find the key ``key`` (which a launcher holds: it is not kept, only its check)."""
        return cls(env, file, key_check(key) if key else "")

    @classmethod
    def found_here(cls, env: str = TOKEN_KEY_ENV, file: str = "") -> ContactTokenKey:
        """Where the workers find the key that this process (the launcher) finds there now, checked against it; no
        check when it finds none (or cannot read ``file``, which only the workers may be allowed to read)."""
        try:
            found = read_secret(env, file, "the contact-token key")
        except SecretError:
            found = None  # the workers read the file themselves, and fail there if they cannot
        return cls.expecting(found.encode("utf-8") if found else None, env, file)

    def resolve(self) -> bytes:
        """The key, found here and now (see the class); ``ContactTokenKeyError`` when it cannot be used."""
        try:
            found = read_secret(self.env, self.file, "the contact-token key")
        except SecretError as error:
            raise ContactTokenKeyError(str(error)) from None
        key = found.encode("utf-8") if found else DEVELOPMENT_TOKEN_KEY
        if self.check and key_check(key) != self.check:
            looked = " or ".join(place for place in (f"${self.env}" if self.env else "", self.file) if place)
            if found is None:
                raise ContactTokenKeyError(
                    f"no contact-token key here ({looked or 'nowhere named'}), and the pipeline was built with one: "
                    "give the workers the launcher's key there"
                )
            where = f"${self.env}" if self.env and os.environ.get(self.env) else self.file
            raise ContactTokenKeyError(
                f"the contact-token key in {where} is not the one the pipeline was built with: give the workers "
                "the launcher's key"
            )
        return key


def resolved_token_key(key: bytes | ContactTokenKey) -> bytes:
    """The key of a DoFn's ``token_key`` argument: resolved here when it says where the key is."""
    return key.resolve() if isinstance(key, ContactTokenKey) else bytes(key)


def route_queue(category: str, priority: str, needs_review: bool = False) -> str:
    """P1 escalates whatever the category; a category too uncertain to route on goes to people; else its queue."""
    if priority == "P1":
        return ESCALATION_QUEUE
    return REVIEW_QUEUE if needs_review else ROUTES.get(category, ROUTES["Other"])


def link_and_protect(complaint: dict, index: CustomerIndex, token_key: bytes) -> dict:
    """A new complaint with the customer profile (or the ``unknown_customer`` flag) and the contact token."""
    customer, match = link_customer(complaint, index)
    return {
        **complaint,
        "customer_id": customer["account_number"] if customer else None,
        "customer_match": match,
        "segment": customer["segment"] if customer else None,
        "region": customer["region"] if customer else None,
        "plan": customer["plan"] if customer else None,
        "flags": complaint["flags"] if customer else [*complaint["flags"], "unknown_customer"],
        "contact_token": contact_token(complaint["_contacts"], token_key),
    }


def finish_row(complaint: dict, prediction: Prediction, model_version: str) -> dict:
    """A labelled complaint -> its warehouse row (a new dict of the ``Complaint`` schema's fields): contacts
    masked in the text, labels, route, versions."""
    finished = {
        "text": mask_contacts(complaint["text"]),
        "subject": mask_contacts(complaint["subject"]) if complaint.get("subject") else complaint.get("subject"),
        "customer_topic": (
            mask_contacts(complaint["customer_topic"])
            if complaint.get("customer_topic")
            else complaint.get("customer_topic")
        ),
        "category": prediction.category,
        "category_confidence": float(prediction.category_confidence),
        "sentiment_score": float(prediction.sentiment_score),
        "sentiment_label": prediction.sentiment_label,
        "priority": prediction.priority,
        "priority_reasons": list(prediction.priority_reasons),
        "route_queue": route_queue(prediction.category, prediction.priority, prediction.needs_review),
        "model_version": model_version,
        "schema_version": schemas.SCHEMA_VERSION,
        "flags": sorted({*complaint["flags"], *(["low_confidence"] if prediction.needs_review else [])}),
    }
    row = dict(zip(COMPLAINT_FIELDS, map(complaint.get, COMPLAINT_FIELDS), strict=True))  # in the schema's order
    row.update(finished)  # every key of ``finished`` is a schema field, so the order stays the schema's
    return row


def record_prediction_metrics(predictions: Sequence[Prediction]) -> None:
    """Per batch: how many of each category, and the confidence distribution, so a drift shows as metrics."""
    counts = Counter()
    confidence = Metrics.distribution(MODEL_METRICS, "category_confidence_permille")
    for prediction in predictions:
        counts[f"category.{prediction.category}"] += 1
        counts[f"sentiment.{prediction.sentiment_label}"] += 1
        confidence.update(round(prediction.category_confidence * 1000))
    for name, count in counts.items():
        Metrics.counter(MODEL_METRICS, name).inc(count)


def enrich_complaints(
    complaints: Sequence[dict], index: CustomerIndex, model: ComplaintModel, token_key: bytes
) -> list[dict]:
    """Working-form complaints -> warehouse rows (schema ``Complaint``), labelled by ``model`` in one batch."""
    complaints = [link_and_protect(complaint, index, token_key) for complaint in complaints]
    predictions = model.predict(complaints)
    record_prediction_metrics(predictions)
    return [
        finish_row(complaint, prediction, model.version)
        for complaint, prediction in zip(complaints, predictions, strict=True)
    ]


class EnrichShardsFn(beam.DoFn):
    """RecordBatch(shard, complaints) -> ``batch_class``(shard, warehouse rows); a complaint that fails -> dead
    letter (enrich).

    The model comes from ``model_factory`` once per worker (``setup``), and so does the contact-token key when
    ``token_key`` says where it is (``ContactTokenKey``). The customer index is a side input. A failing batch is
    retried one complaint at a time, so only the complaints that fail are dead-lettered.
    """

    def __init__(self, model_factory, token_key: bytes | ContactTokenKey, batch_class: type = RecordBatch):
        self.model_factory, self.token_key, self.batch_class = model_factory, token_key, batch_class
        self.model, self.key = None, None

    def setup(self):
        self.key = resolved_token_key(self.token_key)
        self.model = self.model_factory()

    def process(self, keyed, customer_index):
        shard, complaints = keyed
        try:
            rows = enrich_complaints(complaints, customer_index, self.model, self.key)
        except Exception:  # noqa: BLE001 - isolate the complaints that fail
            rows = []
            for complaint in complaints:
                try:
                    rows.extend(enrich_complaints([complaint], customer_index, self.model, self.key))
                except Exception as error:  # noqa: BLE001
                    yield beam.pvalue.TaggedOutput(
                        DEAD_LETTER, dead_letter_from_complaint(complaint, as_record_error(error, ENRICH))
                    )
        yield self.batch_class(shard, rows)


class EnrichShards(beam.PTransform):
    """Link customers, label with the model, prioritise and route; {'complaints', 'dead_letters'}.
    ``customer_index``: a PCollection of at most one CustomerIndex; when it is empty, no complaint links."""

    def __init__(
        self, customer_index, model_factory, token_key: bytes | ContactTokenKey, batch_class: type = RecordBatch
    ):
        super().__init__()
        self.customer_index, self.model_factory, self.token_key = customer_index, model_factory, token_key
        self.batch_class = batch_class

    def expand(self, shards):
        enriched = shards | "Enrich" >> beam.ParDo(
            EnrichShardsFn(self.model_factory, self.token_key, self.batch_class),
            customer_index=beam.pvalue.AsSingleton(self.customer_index, default_value=CustomerIndex([])),
        ).with_output_types(self.batch_class).with_outputs(DEAD_LETTER, main="complaints")
        return {"complaints": enriched.complaints, "dead_letters": enriched[DEAD_LETTER]}


class LinkCustomersFn(beam.DoFn):
    """complaint -> (complaint_id, complaint linked to its customer, contacts protected). The customer index
    is this worker's ``CustomerMaster`` of ``customers_path``, read again when the file changes; the contact-token
    key is found as the worker sets up when ``token_key`` says where it is (``ContactTokenKey``)."""

    def __init__(self, customers_path: str | None, token_key: bytes | ContactTokenKey, refresh_seconds: float):
        self.customers_path, self.token_key, self.refresh_seconds = customers_path, token_key, refresh_seconds
        self.master, self.key = None, None

    def setup(self):
        from transforms.sources.customers import customer_master

        self.key = resolved_token_key(self.token_key)
        self.master = customer_master(self.customers_path, self.refresh_seconds)

    def process(self, complaint):
        yield complaint["complaint_id"], link_and_protect(complaint, self.master.current(), self.key)


class EnrichComplaints(beam.PTransform):
    """Per-record enrichment through Beam's RunInference (for pipelines that carry single complaints, such as
    streaming): link customers, label with the model (keyed by complaint_id, batched, loaded once per worker),
    prioritise, route, mask. {'complaints': warehouse rows, 'dead_letters': complaints the model failed on}.

    No side inputs, so the job checkpoints on Flink: the customer master is read by each worker from
    ``customers_path`` (and again when it changes, see ``CustomerMaster``), and a model handler with ``watch``
    swaps in new models itself.
    """

    def __init__(
        self,
        customers_path: str | None,
        model_handler,
        token_key: bytes | ContactTokenKey,
        customers_refresh_seconds: float = 300,
    ):
        super().__init__()
        self.customers_path, self.model_handler = customers_path, model_handler
        self.token_key, self.customers_refresh_seconds = token_key, customers_refresh_seconds

    def expand(self, complaints):
        from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

        from models.inference import PredictionError

        keyed = complaints | "LinkCustomers" >> beam.ParDo(
            LinkCustomersFn(self.customers_path, self.token_key, self.customers_refresh_seconds)
        )
        results, failures = (
            keyed | "Label" >> RunInference(KeyedModelHandler(self.model_handler)).with_exception_handling()
        )

        def finish(keyed_result):
            _, result = keyed_result
            if isinstance(result.inference, PredictionError):
                yield beam.pvalue.TaggedOutput(
                    DEAD_LETTER,
                    dead_letter_from_complaint(
                        result.example, as_record_error(RuntimeError(str(result.inference)), ENRICH)
                    ),
                )
                return
            record_prediction_metrics([result.inference])
            yield finish_row(result.example, result.inference, result.model_id)

        rows = results | "FinishRows" >> beam.FlatMap(finish).with_outputs(DEAD_LETTER, main="complaints")
        failed_batches = failures.failed_inferences | "FailedBatches" >> beam.FlatMap(
            lambda failed: [
                dead_letter_from_complaint(complaint, as_record_error(failed[1], ENRICH)) for _, complaint in failed[0]
            ]
        )
        dead_letters = (rows[DEAD_LETTER], failed_batches) | "EnrichFailures" >> beam.Flatten()
        return {"complaints": rows.complaints, "dead_letters": dead_letters}
