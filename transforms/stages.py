"""The one result shape every public stage takes and returns, so stages chain with ``|``, and the stages.

A stage (``Clean``, ``Validate``, ``Dedupe``, ``Enrich``; a reader produces the first one) returns its good
complaints, and beside them every dead letter and every tally of the stages so far, so that nothing one stage
rejects or counts can fall out of the chain::

    read | Clean() | Validate() | Dedupe() | Enrich() | WriteToWarehouse(...)

``Stage`` is a ``NamedTuple`` of three PCollections. Beam treats a tuple of PCollections as a transform's input
and output, so ``stage | NextStage()`` hands the whole tuple to ``NextStage.expand``, which reads the three
fields by name.

Each stage's complaints have their own element type, a ``RecordBatch`` subclass that says how far they came
(``ParsedBatch`` -> ``CleanBatch`` -> ``ValidBatch`` -> ``UniqueBatch`` -> ``EnrichedBatch``). A stage checks the
type of what it is given when the pipeline is built and refuses anything else with a message that names the
stages missing: enriching parsed complaints, or validating before cleaning, fails at construction, never at run
time. In particular ``Enrich`` takes only deduplicated complaints, so retweets and repeated copies are always
counted as duplicates (``Dedupe``), never written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import apache_beam as beam

from transforms.packing import RecordBatch, RecordBatchCoder

if TYPE_CHECKING:
    from models.base import ComplaintModel
    from transforms.enrichment import ContactTokenKey
    from transforms.sources.readers import CustomerRead
    from transforms.validation import ValidationRules

_log = logging.getLogger(__name__)


class Stage(NamedTuple):
    """What a stage emits.

    complaints: the complaints that went through the stage, batched (``transforms.packing.RecordBatch``
        elements, each the complaints of one shard: every copy of a complaint_id is in the same shard).
    dead_letters: every record rejected so far, one dead-letter dict (the ``dead_letter`` table's row) each.
    tallies: ``((source, outcome, reason), count)`` for every outcome counted so far that is not a row anywhere
        (records read, duplicates, merged SMS parts, flags); the run manifest and the balance check sum them.
    """

    complaints: beam.PCollection
    dead_letters: beam.PCollection
    tallies: beam.PCollection


# -- the element types of the stages' complaints ------------------------------------------------------------
class ParsedBatch(RecordBatch):
    """A shard of parsed complaints in working form, as a reader emits them (SMS parts not yet joined)."""


class CleanBatch(RecordBatch):
    """A shard of cleaned complaints (SMS parts joined into messages), as ``Clean`` emits them."""


class ValidBatch(RecordBatch):
    """A shard of validated complaints (review flags added), as ``Validate`` emits them."""


class UniqueBatch(RecordBatch):
    """A shard holding each complaint_id once, as ``Dedupe`` emits them."""


class EnrichedBatch(RecordBatch):
    """A shard of warehouse rows (dicts of the Avro ``Complaint`` schema's fields), as ``Enrich`` emits them."""


for _batch_class in (ParsedBatch, CleanBatch, ValidBatch, UniqueBatch, EnrichedBatch):
    beam.coders.registry.register_coder(_batch_class, RecordBatchCoder)


# Live complaints (a stream) travel one by one: their PCollections carry plain dicts, typed with these markers
# (never instantiated; Beam codes them as it codes any dict) so that the same stage names check their order.
class ParsedRecord:
    """Type of a stream's parsed complaints, one dict each (``transforms.sources.messages.ParseMessages``)."""


class CleanRecord:
    """Type of a stream's cleaned complaints (``Clean``)."""


class ValidRecord:
    """Type of a stream's validated complaints (``Validate``)."""


class UniqueRecord:
    """Type of a stream's complaints, each complaint_id once within the horizon (``Dedupe``)."""


class EnrichedRecord:
    """Type of a stream's warehouse rows (``Enrich``)."""


#: The chain, in order: who emits each element type, batched and live.
CHAIN = (
    ("a reader (ReadFromChannelFiles, ReadFrom<Channel>, ParseMessages)", ParsedBatch, ParsedRecord),
    ("Clean()", CleanBatch, CleanRecord),
    ("Validate()", ValidBatch, ValidRecord),
    ("Dedupe()", UniqueBatch, UniqueRecord),
    ("Enrich()", EnrichedBatch, EnrichedRecord),
)
ORDER = "read | Clean() | Validate() | Dedupe() | Enrich()"
BATCHED, LIVE = 1, 2  # columns of CHAIN


def stage_input(pvalueish, transform: str, expected: type) -> tuple[Stage, bool]:
    """The ``Stage`` a stage transform was applied to, checked when the pipeline is built: it must be a Stage
    (or a reader's result, which has the same three fields) whose complaints are of type ``expected`` (a batch
    type of ``CHAIN``) or of its live counterpart. Returns (the Stage, whether its complaints are live). Raises
    ``TypeError`` saying which stages are missing or repeated."""
    if not all(isinstance(getattr(pvalueish, name, None), beam.PCollection) for name in Stage._fields):
        raise TypeError(
            f"{transform} takes a Stage (complaints, dead_letters, tallies) as a reader or the stage "
            f"before it emits ({ORDER}), not {type(pvalueish).__name__}"
        )
    stage = Stage(pvalueish.complaints, pvalueish.dead_letters, pvalueish.tallies)
    given = stage.complaints.element_type
    wanted = [row[BATCHED] for row in CHAIN].index(expected)
    known, live = None, False
    for position, row in enumerate(CHAIN):
        for column in (BATCHED, LIVE):
            if isinstance(given, type) and issubclass(given, row[column]):
                known, live = position, column == LIVE
    if known == wanted:
        return stage, live
    name = getattr(given, "__name__", str(given))
    if known is None:
        why = "they did not come from this library's reader and stages"
    elif known < wanted:
        why = "apply " + ", then ".join(row[0] for row in CHAIN[known + 1 : wanted + 1]) + " first"
    else:
        why = f"they went through {CHAIN[known][0]} already: each stage applies once"
    raise TypeError(
        f"{transform} takes the complaints {CHAIN[wanted][0]} emits ({expected.__name__}), "
        f"not {name}: {why} (the chain is {ORDER})"
    )


# -- whole shards ---------------------------------------------------------------------------------------------
# The batched stages work a shard at a time, so each shard must be one batch holding every copy of its complaints
# and every part of its SMS messages. A reader's complaints are (it groups them); anything else, such as the
# Flatten of two readers' complaints (two batches per shard, sharded by two counts), ``Clean`` regroups first.
# The stages after it keep a shard a batch, so their complaints carry the mark on; a writer given several
# chains' complaints flattened merges their batches per shard (``merge_flattened_shards``).
_WHOLE_SHARDS = "_complaints_whole_shards"  # attribute of a complaints PCollection: its shard count


def mark_whole_shards(complaints: beam.PCollection, shards: int) -> beam.PCollection:
    """Record, when the pipeline is built, that ``complaints`` (a reader's or a stage's) hold each of ``shards``
    shards in one batch."""
    setattr(complaints, _WHOLE_SHARDS, shards)
    return complaints


def _shard_count(pcoll: beam.PCollection, default: int) -> tuple[int, bool]:
    """(how many shards ``pcoll``'s complaints were sharded into, whether each shard is one batch): the reader's
    mark, or, for a collection made from readers' (a Flatten), the largest of their counts."""
    marked = getattr(pcoll, _WHOLE_SHARDS, None)
    if marked is not None:
        return marked, True
    producer = getattr(pcoll, "producer", None)
    upstream = [_shard_count(p, 0)[0] for p in getattr(producer, "main_inputs", {}).values()]
    return max([*upstream, default]), False


def _reshard(batch: RecordBatch, shards: int):
    """A batch -> (shard, pickled list of its records in that shard) for each shard it has records in."""
    from transforms.dedupe import shard_of
    from transforms.packing import pack

    by_shard: dict[int, list] = {}
    for record in batch.records:
        by_shard.setdefault(shard_of(record, shards), []).append(record)
    for shard, records in by_shard.items():
        yield shard, pack(records)


def _same_shards(output: beam.PCollection, given: beam.PCollection) -> beam.PCollection:
    """A batch-by-batch stage's ``output`` holds whole shards when the complaints it was ``given`` did."""
    shards = getattr(given, _WHOLE_SHARDS, None)
    return output if shards is None else mark_whole_shards(output, shards)


def _flattened_whole_shards(pcoll: beam.PCollection) -> bool:
    """``pcoll`` is the Flatten of collections that each hold whole shards (several chains' complaints)."""
    producer = getattr(pcoll, "producer", None)
    if producer is None or not isinstance(producer.transform, beam.Flatten):
        return False
    inputs = list(producer.main_inputs.values())
    return bool(inputs) and all(
        getattr(p, _WHOLE_SHARDS, None) is not None or _flattened_whole_shards(p) for p in inputs
    )


def merge_flattened_shards(complaints: beam.PCollection) -> beam.PCollection:
    """Several chains' complaints flattened (two batches with one shard key) as one batch per shard key, so that
    a writer's file per shard holds them all; anything else as it is."""
    from transforms.packing import GroupPackedLists, KeyedBytes, pack

    if not _flattened_whole_shards(complaints):
        return complaints
    given = complaints.element_type
    batch_class = given if isinstance(given, type) and issubclass(given, RecordBatch) else RecordBatch
    return (
        complaints
        | "PackShards" >> beam.Map(lambda batch: (batch.key, pack(batch.records))).with_output_types(KeyedBytes)
        | "MergeShards" >> GroupPackedLists(batch_class)
    )


def whole_shards(complaints: beam.PCollection, min_shards: int) -> beam.PCollection:
    """``complaints`` (``ParsedBatch``) as one batch per shard: as they are when a reader emitted them, else
    regrouped (every record sharded again by ``dedupe.shard_of``)."""
    from transforms.packing import GroupPackedLists, KeyedBytes

    shards, whole = _shard_count(complaints, min_shards)
    if whole:
        return complaints
    return (
        complaints
        | "Reshard" >> beam.FlatMap(_reshard, shards).with_output_types(KeyedBytes)
        | "RegroupShards" >> GroupPackedLists(ParsedBatch)
    )


# -- the run the records carry --------------------------------------------------------------------------------
# A reader stamps every record and dead letter with its run id (given, or a new one). Its tallies PCollection is
# marked with that RunContext, so that the transforms after it can find, when the pipeline is built, which runs
# the records they take were read as (tallies flow from every reader to every writer through the stages).
_RUN = "_complaints_run_context"


def mark_run(tallies: beam.PCollection, context) -> beam.PCollection:
    """Record, when the pipeline is built, that a reader's records carry ``context`` (a ``RunContext``)."""
    setattr(tallies, _RUN, context)
    return tallies


def _readers_tallies(tallies: beam.PCollection) -> dict[int, tuple[beam.PCollection, int]]:
    """id -> (a reader's marked tallies that flow into ``tallies``, along how many paths)."""
    paths: dict[int, dict] = {}

    def reached(pcoll) -> dict:
        if id(pcoll) not in paths:
            if getattr(pcoll, _RUN, None) is not None:
                found = {id(pcoll): (pcoll, 1)}
            else:
                found = {}
                producer = getattr(pcoll, "producer", None)
                for upstream in getattr(producer, "main_inputs", {}).values():
                    if isinstance(upstream, beam.PCollection):
                        for key, (marked, count) in reached(upstream).items():
                            found[key] = (marked, found.get(key, (marked, 0))[1] + count)
            paths[id(pcoll)] = found
        return paths[id(pcoll)]

    return reached(tallies)


def runs_read(tallies: beam.PCollection) -> dict:
    """run id -> ``RunContext`` of every reader whose tallies flow into ``tallies``."""
    contexts = (getattr(marked, _RUN) for marked, _ in _readers_tallies(tallies).values())
    return {context.run_id: context for context in contexts}


def refuse_tallies_counted_twice(tallies: beam.PCollection, transform: str) -> None:
    """Refuse, when the pipeline is built, tallies into which a reader's tallies flow along several paths: its
    records would be counted (and its dead letters written) more than once, e.g. one ``ReadCustomers`` result
    given whole to the ``Enrich`` of two chains that are then flattened."""
    twice = [(marked, count) for marked, count in _readers_tallies(tallies).values() if count > 1]
    if twice:
        readers = ", ".join(f"{marked.producer.full_label.split('/')[0]} ({count} times)" for marked, count in twice)
        raise ValueError(
            f"{transform} would count what a reader read more than once: {readers}. Its result reaches the "
            "writer along several paths; given whole to the Enrich of each flattened chain? Give it to one, and "
            "its .profiles to the others"
        )


def refuse_other_stages(pvalueish, transform: str, expected: type) -> None:
    """For a transform that also takes complaints batched by its caller (element type ``Any`` or a
    ``RecordBatch`` of the caller's): refuse, when the pipeline is built, complaints this library's chain typed
    as another stage's than ``expected``'s batches (``stage_input``'s message says which stages are missing), and
    live complaints (one record per element)."""
    given = getattr(getattr(pvalueish, "complaints", None), "element_type", None)
    chain_types = tuple(row[column] for row in CHAIN for column in (BATCHED, LIVE))
    if isinstance(given, type) and issubclass(given, chain_types):
        _, live = stage_input(pvalueish, transform, expected)
        if live:
            raise TypeError(
                f"{transform} takes complaints batched as {CHAIN[[row[BATCHED] for row in CHAIN].index(expected)][0]} "
                f"emits them in a batch pipeline ({expected.__name__}), not a stream's one record at a time "
                f"({given.__name__})"
            )


def _add(stage: Stage, label: str, complaints, dead_letters=(), tallies=()) -> Stage:
    """The next Stage: ``complaints``, and the upstream dead letters and tallies with this stage's own."""
    if dead_letters:
        dead_letters = (stage.dead_letters, *dead_letters) | f"{label}DeadLetters" >> beam.Flatten()
    else:
        dead_letters = stage.dead_letters
    if tallies:
        tallies = (stage.tallies, *tallies) | f"{label}Tallies" >> beam.Flatten()
    else:
        tallies = stage.tallies
    return Stage(complaints, dead_letters, tallies)


def check_argument(transform: str, name: str, value, kinds: tuple, what: str) -> None:
    """Refuse, when the transform is constructed, an argument that is not one of ``kinds`` (``what`` says what
    is wanted), instead of a failure on the workers (or every record dead-lettered) once the pipeline runs."""
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise TypeError(f"{transform}: {name} must be {what}, not {value!r}")


# -- the stages ---------------------------------------------------------------------------------------------
class Clean(beam.PTransform):
    """Joins the parts of every long SMS into its message, then cleans each complaint.

    Cleaning normalises text (Unicode NFC, HTML entities, control characters, whitespace) and the contact
    identifiers (E.164 phone numbers, lower-case e-mail addresses and handles, upper-case account numbers);
    ``transforms.cleaning.clean_complaint`` is the record logic. SMS assembly happens here, not in the readers,
    because the parts of one message can be in different files: a reader's shards hold every part of a message
    together, and this stage joins them (``transforms.sources.sms.assemble_parts``). Complaints that are not one
    reader's as it emitted them (several readers' Stages flattened, field by field, with ``beam.Flatten``) are
    first regrouped into whole shards, so that copies and SMS parts read by different readers meet. A set of parts still
    incomplete after ``sms_timeout`` becomes a complaint flagged ``partial_sms``.

    Args:
      sms_timeout: parts of one message more than this far apart (by their time) are two messages.
        Default 24 hours.

    Takes the ``Stage`` a reader emits (``ParsedBatch`` complaints) and emits a ``Stage`` of ``CleanBatch``
    complaints. A complaint that cannot be cleaned (an unknown time zone) becomes a dead letter at stage
    ``clean``; merged SMS parts are tallied ``(sms, merged_parts)``, a part repeated with the same message id
    ``(sms, duplicates, repeated_sms_part)``.
    """

    def __init__(self, sms_timeout: dt.timedelta = dt.timedelta(hours=24)):
        super().__init__()
        check_argument("Clean()", "sms_timeout", sms_timeout, (dt.timedelta,), "a datetime.timedelta")
        self.sms_timeout = sms_timeout

    def expand(self, pvalueish) -> Stage:
        from transforms.cleaning import clean_complaint
        from transforms.outcomes import apply_stage, apply_stage_to_batches
        from transforms.records import CLEAN
        from transforms.sources.sms import AssembleSmsInBatches

        stage, live = stage_input(pvalueish, "Clean()", ParsedBatch)
        if live:  # the live channels (Twitter/X, web forms) have no SMS parts to join
            cleaned, failures = apply_stage(stage.complaints, "Clean", clean_complaint, CLEAN, output_type=CleanRecord)
            return _add(stage, "Clean", cleaned, [failures])
        from transforms.sources.layout import MIN_SHARDS

        complaints = whole_shards(stage.complaints, MIN_SHARDS)
        assembled = complaints | "AssembleSms" >> AssembleSmsInBatches(self.sms_timeout)
        cleaned, failures = apply_stage_to_batches(
            assembled["complaints"], "Clean", clean_complaint, CLEAN, batch_class=CleanBatch
        )
        mark_whole_shards(cleaned, _shard_count(complaints, MIN_SHARDS)[0])
        return _add(stage, "Clean", cleaned, [failures], [assembled["tallies"]])


class Validate(beam.PTransform):
    """Rejects what cannot be curated truthfully and flags what people should review.

    Rejected (dead letter at stage ``validate``): an event time before 1990 or from 2100 on, a text longer
    than ``rules.max_text_chars``. Flagged, and kept: empty text, a future, stale or late event time, an
    implausible call duration, an invalid phone number, no contact at all (``transforms.validation``).

    Args:
      rules: a ``transforms.validation.ValidationRules``. Default ``ValidationRules()``: the documented
        thresholds (10 minutes' future tolerance, late after 1 day, stale after 365 days, 20,000 characters,
        4-hour calls), judged against each record's ingestion date. Pass ``ValidationRules(batch_date=...)`` to
        judge lateness against a batch's logical date.

    Takes the ``Stage`` that ``Clean`` emits (``CleanBatch``) and emits a ``Stage`` of ``ValidBatch``
    complaints, each with its review flags.
    """

    def __init__(self, rules: ValidationRules | None = None):
        super().__init__()
        from transforms.validation import ValidationRules

        check_argument("Validate()", "rules", rules, (ValidationRules, type(None)), "a ValidationRules or None")
        self.rules = rules

    def expand(self, pvalueish) -> Stage:
        from transforms.outcomes import apply_stage, apply_stage_to_batches
        from transforms.records import VALIDATE
        from transforms.validation import ValidationRules, validate_complaint

        stage, live = stage_input(pvalueish, "Validate()", CleanBatch)
        rules = self.rules if self.rules is not None else ValidationRules()
        if live:
            valid, invalid = apply_stage(
                stage.complaints, "Validate", validate_complaint, VALIDATE, rules, output_type=ValidRecord
            )
            return _add(stage, "Validate", valid, [invalid])
        valid, invalid = apply_stage_to_batches(
            stage.complaints, "Validate", validate_complaint, VALIDATE, rules, batch_class=ValidBatch
        )
        return _add(stage, "Validate", _same_shards(valid, stage.complaints), [invalid])


class Dedupe(beam.PTransform):
    """Keeps one complaint per ``complaint_id`` and counts every other copy.

    Every copy of a complaint is in the same shard (the readers shard by complaint_id), so each shard is
    deduplicated on its own: the first copy in input order (source file, then position) is kept. Retweets are
    counted as duplicates outright. Nothing is dropped silently: each removed copy is tallied
    ``(source, duplicates, retweet | same_complaint_id)``.

    Live complaints (a stream) are deduplicated by state per complaint_id in the global window, whatever their
    windowing, so a copy that arrives in another window is still caught; the complaints kept and the duplicates'
    tallies are then put back into the windows (and trigger) the complaints came in.

    Args:
      horizon_seconds: for live complaints, how long (in event time) a complaint_id is remembered after its first
        copy, so that a job running for months keeps bounded state. Default None: until the input ends (a bounded
        stream). Batches need none: a batch is deduplicated whole.

    Takes the ``Stage`` that ``Validate`` emits (``ValidBatch``, or ``ValidRecord`` for a stream) and emits a
    ``Stage`` of ``UniqueBatch`` (``UniqueRecord``) complaints.
    """

    def __init__(self, horizon_seconds: int | None = None):
        super().__init__()
        check_argument("Dedupe()", "horizon_seconds", horizon_seconds, (int, float, type(None)), "seconds or None")
        self.horizon_seconds = horizon_seconds

    def expand(self, pvalueish) -> Stage:
        from apache_beam.transforms.window import GlobalWindows

        from transforms.dedupe import DedupeShards, DedupeWithinHorizon

        stage, live = stage_input(pvalueish, "Dedupe()", ValidBatch)
        if live:
            deduped = stage.complaints | "Dedupe" >> DedupeWithinHorizon(self.horizon_seconds)
            unique, tallies = deduped["complaints"], deduped["tallies"]
            windowing = stage.complaints.windowing
            if not isinstance(windowing.windowfn, GlobalWindows):  # back into the caller's windows
                unique, tallies = (
                    pcoll
                    | f"{name}InTheirWindows"
                    >> beam.WindowInto(
                        windowing.windowfn,
                        trigger=windowing.triggerfn,
                        accumulation_mode=windowing.accumulation_mode,
                        timestamp_combiner=windowing.timestamp_combiner,
                        allowed_lateness=windowing.allowed_lateness,
                    )
                    for name, pcoll in (("Complaints", unique), ("Tallies", tallies))
                )
            unique = unique | "Unique" >> beam.Map(lambda complaint: complaint).with_output_types(UniqueRecord)
            return _add(stage, "Dedupe", unique, tallies=[tallies])
        deduped = stage.complaints | "Dedupe" >> DedupeShards(UniqueBatch)
        unique = _same_shards(deduped["complaints"], stage.complaints)
        return _add(stage, "Dedupe", unique, tallies=[deduped["tallies"]])


class Enrich(beam.PTransform):
    """Links each complaint to its customer, labels it with a model, and turns it into a warehouse row.

    Customer linking tries the account number given, one written in the text, the phone number, the e-mail and
    the Twitter handle, in that order; an unlinked complaint is flagged ``unknown_customer``. The contact is kept
    only as ``contact_token`` (HMAC-SHA256 under ``contact_token_key``); phone numbers and e-mail addresses in
    the text are masked. The model gives category, sentiment and priority, and the route follows from them
    (``transforms.enrichment``). A batch is labelled a shard at a time: one model call per shard. Live
    complaints (a stream) are labelled through Beam's ``RunInference``, batched by it, with no side input (so
    the job checkpoints on Flink): each worker reads the customer master itself, and again when it changes.

    Args:
      model: the model: a zero-argument callable that returns a ``models.base.ComplaintModel`` (such as the
        class ``models.rules.RulesModel``; called once per worker), or a model object. For a stream, a
        RunInference ``ModelHandler`` (``models.inference.ComplaintModelHandler``). Default: the rules model.
      customers: the customer master: a file pattern of its CSV files (read here, as the run the complaints
        were read as: its rejected rows join the dead letters, its ``(customers, read)`` and
        ``(customers, loaded)`` tallies the tallies), or the
        ``customers`` PCollection of ``ReadFromChannelFiles``' result, or ``ReadCustomers``' result; for a
        stream, the path of its CSV file. Default None: no master, so no complaint is linked.
      contact_token_key: where each worker finds the key of ``contact_token``, as it sets up: a
        ``transforms.enrichment.ContactTokenKey`` (an environment variable, a file or a ``gs://`` object; only
        that name is pickled into the pipeline). Default: ``COMPLAINTS_CONTACT_TOKEN_KEY``, else the development
        key of the ``dev`` profile (not a secret: set a key of your own for real data); when the variable is set
        here, the workers must find the same key (``ContactTokenKey.found_here``). A key given by value (bytes
        or str) is used as it is, and pickled into the pipeline, which a runner ships to every worker and may
        show or store (Dataflow's job graph): a warning says so.

    Takes only the ``Stage`` that ``Dedupe`` emits (``UniqueBatch``, or ``UniqueRecord`` for a stream), so a
    retweet or a repeated copy can never reach the warehouse uncounted, and emits a ``Stage`` of ``EnrichedBatch``
    (``EnrichedRecord``) complaints (rows of the Avro
    ``Complaint`` schema; ``ToRows`` makes them typed rows). A complaint the model fails on becomes a dead
    letter at stage ``enrich``; a customer master that contradicts itself is tallied ``(customers, conflict)``.
    """

    def __init__(
        self,
        model: Callable[[], ComplaintModel] | ComplaintModel | None = None,
        customers: str | beam.PCollection | CustomerRead | None = None,
        contact_token_key: ContactTokenKey | bytes | str | None = None,
    ):
        super().__init__()
        self.model, self.customers = model, customers
        self.contact_token_key = token_key(contact_token_key)

    def expand(self, pvalueish) -> Stage:
        from transforms.enrichment import EnrichShards
        from transforms.sources.customers import BuildCustomerIndex, conflict_tallies

        stage, live = stage_input(pvalueish, "Enrich()", UniqueBatch)
        if live:
            return self._enrich_live(stage)
        profiles, dead_letters, tallies = self._customer_profiles(stage)
        if profiles is None:
            index = stage.complaints.pipeline | "NoCustomers" >> beam.Create([])
        else:
            # no default: without profiles there is no index, and no complaint links (EnrichShards); Beam would
            # otherwise spend a stage of its own on the empty case, pickling the whole index once more
            index = profiles | "BuildCustomerIndex" >> beam.CombineGlobally(BuildCustomerIndex()).without_defaults()
            tallies.append(index | "CountCustomerConflicts" >> beam.FlatMap(conflict_tallies))
        enriched = stage.complaints | "EnrichComplaints" >> EnrichShards(
            index, model_factory(self.model), self.contact_token_key, EnrichedBatch
        )
        rows = _same_shards(enriched["complaints"], stage.complaints)
        return _add(stage, "Enrich", rows, [enriched["dead_letters"], *dead_letters], tallies)

    def _enrich_live(self, stage: Stage) -> Stage:
        """One complaint at a time, through RunInference; the dead letters of its batches get their failure time
        as timestamp (they leave RunInference at the end of the global window), so they are written with the
        current windows."""
        from apache_beam.transforms.window import TimestampedValue

        from transforms.enrichment import EnrichComplaints

        if self.customers is not None and not isinstance(self.customers, str):
            raise TypeError(
                "Enrich() of live complaints takes the customer master as the path of its CSV file "
                "(customers='in/customers/customers.csv'), which each worker reads itself"
            )
        handler = self.model
        if handler is None:
            from models.inference import ComplaintModelHandler

            handler = ComplaintModelHandler(None, min_batch_size=1, max_batch_size=256)
        enriched = stage.complaints | "EnrichComplaints" >> EnrichComplaints(
            self.customers, handler, self.contact_token_key
        )
        rows = enriched["complaints"] | "Rows" >> beam.Map(lambda row: row).with_output_types(EnrichedRecord)
        failures = enriched["dead_letters"] | "RestampFailures" >> beam.Map(
            lambda letter: TimestampedValue(letter, letter["failed_at"].timestamp())
        )
        return _add(stage, "Enrich", rows, [failures])

    def _customer_profiles(self, stage: Stage):
        """(profiles PCollection or None, dead letters to add, tallies to add) of the ``customers`` argument. A
        master read here stamps its dead letters with the run the complaints were read as (when they were read
        as one), so the run's dead letters all name it."""
        customers = self.customers
        if customers is None:
            return None, [], []
        if isinstance(customers, str):
            from transforms.sources.readers import ReadCustomers

            runs = list(runs_read(stage.tallies).values())
            run = {}
            if len(runs) == 1:
                run = {
                    "run_id": runs[0].run_id,
                    "batch_id": runs[0].batch_id,
                    "ingested_at": dt.datetime.fromisoformat(runs[0].ingested_at),
                }
            customers = stage.complaints.pipeline | "ReadCustomers" >> ReadCustomers(customers, **run)
        if isinstance(customers, beam.PCollection):
            return customers, [], []
        if all(
            isinstance(getattr(customers, name, None), beam.PCollection)
            for name in ("profiles", "dead_letters", "tallies")
        ):
            return customers.profiles, [customers.dead_letters], [customers.tallies]
        raise TypeError(
            "Enrich(customers=...) takes a file pattern, ReadCustomers(...)'s result or the customers "
            f"of ReadFromChannelFiles(...)'s result, not {type(customers).__name__}"
        )


def token_key(key: ContactTokenKey | bytes | str | None) -> ContactTokenKey | bytes:
    """``Enrich``'s ``contact_token_key`` as its enrichment step takes it: where the workers find the key (for
    None, ``COMPLAINTS_CONTACT_TOKEN_KEY`` checked against this process's), or a key given by value, with a
    warning that it travels with the pipeline."""
    from transforms.enrichment import ContactTokenKey

    if key is None:
        return ContactTokenKey.found_here()
    if isinstance(key, ContactTokenKey):
        return key
    if not isinstance(key, (bytes, str)):
        raise TypeError(
            "Enrich(): contact_token_key must be a ContactTokenKey (where the workers find the key), the key as "
            f"bytes or str, or None, not {key!r}"
        )
    _log.warning(
        "Enrich: the contact-token key is given by value, so it is pickled into the pipeline and travels with the "
        "job (a runner ships it to every worker and may show or store it, as Dataflow's job graph does); name "
        "where the workers find it instead: contact_token_key=ContactTokenKey(env=..., file=...)"
    )
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


class _ModelInstance:
    """A model factory that hands out one given model object (pickled with the transform)."""

    def __init__(self, model):
        self.model = model
        self.version = getattr(model, "version", None)

    def __call__(self):
        return self.model


def model_factory(model):
    """``Enrich``'s ``model`` argument as a zero-argument factory."""
    if model is None:
        from models.rules import RulesModel

        return RulesModel
    if hasattr(model, "predict") and not isinstance(model, type):
        return _ModelInstance(model)
    if callable(model):
        return model
    raise TypeError(f"Enrich(model=...) takes a model or a callable that returns one, not {type(model).__name__}")
