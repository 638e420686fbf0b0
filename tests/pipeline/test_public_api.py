"""The public API (``transforms.__all__``) is enough to build the batch's pipeline: a pipeline composed only of
``ReadFromChannelFiles | Clean() | Validate() | Dedupe() | Enrich()`` on a generated day emits exactly the curated
rows, dead letters and counts that ``complaints batch`` committed for that day; the per-channel readers give the
same rows for their channel; typed rows work with Beam's schema transforms; and a miswired chain fails when the
pipeline is built.

The chain's PCollections are collected with a plain sink and compared with the tables ``complaints batch``
committed, read back through their catalog; the same chain ending in the public writers (``WriteToLake``,
``WriteToWarehouse``) commits the same tables and counts.
"""

import datetime as dt
import json
import pickle
import re
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from tests.support.cli import latest_manifest, run_cli
from tests.support.warehouse import read_table
from transforms import (
    Clean,
    Complaint,
    Dedupe,
    Enrich,
    ReadCustomers,
    ReadFromChannelFiles,
    ReadFromPhoneLogs,
    ReadFromSms,
    ReadFromTwitter,
    ReadFromWebforms,
    Stage,
    ToRows,
    Validate,
    ValidationRules,
    WriteToLake,
    WriteToWarehouse,
)

DATE = dt.date(2026, 11, 20)


def collect(pcoll, path: Path, label: str):
    """A plain sink: every element of ``pcoll`` pickled into one file (the test reads it back)."""

    def write(elements):
        path.write_bytes(pickle.dumps(list(elements)))

    return pcoll | f"{label}All" >> beam.combiners.ToList() | f"{label}Write" >> beam.Map(write)


def collect_stage(stage: Stage, out: Path):
    collect(stage.complaints | "Rows" >> beam.FlatMap(lambda batch: batch.records), out / "rows.pkl", "Rows")
    collect(stage.dead_letters, out / "dead_letters.pkl", "DeadLetters")
    collect(stage.tallies, out / "tallies.pkl", "Tallies")


def load(path: Path):
    return pickle.loads(path.read_bytes())


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A small generated day with defects, run through ``complaints batch``."""
    from beam_pipelines.generator import generate

    input_dir = tmp_path_factory.mktemp("input")
    generate(str(input_dir), DATE, volume=300, seed=23, defect_rate=0.1)
    output_dir = tmp_path_factory.mktemp("batch")
    result = run_cli(
        "batch", "--input-dir", str(input_dir), "--output-dir", str(output_dir), "--date", DATE.isoformat()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = latest_manifest(output_dir)
    run = {
        "run_id": manifest["run_id"],
        "batch_id": manifest["batch_id"],
        "ingested_at": dt.datetime.fromisoformat(manifest["started_at"]),
    }
    return {"input": input_dir, "output": output_dir, "manifest": manifest, "run": run}


@pytest.fixture(scope="module")
def composed(day, tmp_path_factory):
    """The day through a pipeline built only from the public API (with the batch's run identity, so that the
    records carry the same run and batch ids and are judged against the same ingestion time)."""
    out = tmp_path_factory.mktemp("composed")
    with beam.Pipeline(runner=FnApiRunner()) as p:
        read = p | ReadFromChannelFiles(str(day["input"]), **day["run"])
        enriched = (
            read | Clean() | Validate(ValidationRules(batch_date=DATE)) | Dedupe() | Enrich(customers=read.customers)
        )
        collect_stage(enriched, out)
        # and the same chain committed by the public writers, into a warehouse of its own
        run = day["run"]
        in_lake = read.raw_batches | WriteToLake(
            str(out / "committed"), run_id=run["run_id"], batch_id=run["batch_id"], ingest_date=DATE
        )
        enriched | WriteToWarehouse(
            str(out / "committed" / "warehouse"),
            run_id=run["run_id"],
            batch_id=run["batch_id"],
            batch_date=DATE,
            lake=in_lake,
        )
        # what the lake writer counts: every raw record read
        collect(read.raw_batches | beam.Map(lambda batch: (batch.key[0], len(batch.records))), out / "raw.pkl", "Raw")
        by_category = (
            enriched
            | ToRows()
            | beam.GroupBy("category").aggregate_field("complaint_id", beam.combiners.CountCombineFn(), "complaints")
        )
        collect(
            by_category | beam.Map(lambda row: (row.category, row.complaints)), out / "categories.pkl", "Categories"
        )
        collect(
            enriched
            | "Rows2" >> ToRows()
            | beam.Select("source", "priority")
            | beam.Map(lambda row: (row.source, row.priority)),
            out / "selected.pkl",
            "Selected",
        )
    return out


def warehouse_rows(output_dir: Path, name: str) -> list[dict]:
    return read_table(output_dir / "warehouse" / name).to_pylist()


def as_table_row(row: dict) -> dict:
    """A row the chain emits as the warehouse table holds it (with its partition column)."""
    return {**row, "event_date": row["event_time"].date()}


def test_the_composed_chain_emits_exactly_the_batch_commands_complaint_rows(day, composed):
    batch_rows = sorted(warehouse_rows(day["output"], "complaints"), key=lambda r: r["complaint_id"])
    chain_rows = sorted(map(as_table_row, load(composed / "rows.pkl")), key=lambda r: r["complaint_id"])
    assert len(chain_rows) == sum(c["written"] for c in day["manifest"]["counts"].values()) > 250
    assert [r["complaint_id"] for r in chain_rows] == [r["complaint_id"] for r in batch_rows]
    for chain_row, batch_row in zip(chain_rows, batch_rows, strict=True):
        assert {k: chain_row.get(k) for k in batch_row} == batch_row


def test_the_composed_chain_emits_exactly_the_batch_commands_dead_letters(day, composed):
    def key(letter):
        # when it failed is each run's own; the batch's dead-letter writer files a letter under the batch's
        # logical date (its ingest_date partition), which is the writer's business, not the chain's
        return {k: v for k, v in letter.items() if k not in ("failed_at", "ingest_date")}

    batch_letters = sorted(map(key, warehouse_rows(day["output"], "dead_letter")), key=lambda d: d["error_id"])
    chain_letters = sorted(map(key, load(composed / "dead_letters.pkl")), key=lambda d: d["error_id"])
    assert len(batch_letters) >= 10
    assert chain_letters == batch_letters


def test_the_composed_chains_tallies_give_the_batch_commands_counts(day, composed):
    """Counts: the chain's tallies, plus what its writers count (rows written with their flags, dead letters by
    reason, records in the lake) give the manifest's counts, source by source, duplicates and merges included."""
    from beam_pipelines.batch import summarise_counts

    tallies = Counter()
    for key, count in load(composed / "tallies.pkl"):
        tallies[key] += count
    for row in load(composed / "rows.pkl"):
        tallies[(row["source"], "written", "")] += 1
        for flag in row["flags"]:
            tallies[(row["source"], "flagged", flag)] += 1
    for letter in load(composed / "dead_letters.pkl"):
        tallies[(letter["source"], "rejected", f"{letter['stage']}:{letter['error_type']}")] += 1
    for source, count in load(composed / "raw.pkl"):
        if source != "customers":
            tallies[(source, "in_lake", "")] += count
    counts = summarise_counts(
        [{"source": s, "outcome": o, "reason": r, "count": n} for (s, o, r), n in tallies.items()]
    )
    assert counts == day["manifest"]["counts"]
    assert counts["twitter"]["duplicates_by_reason"].get("retweet", 0) > 0  # the trap: retweets are counted
    assert all(entry["balanced"] for entry in counts.values())


def test_the_composed_chain_ending_in_the_public_writers_commits_what_the_batch_command_commits(day, composed):
    """Through ``WriteToLake`` and ``WriteToWarehouse``: the same complaint rows, the same dead letters (filed
    under the same ingest date), the same counts in the run manifest the pipeline wrote."""
    committed = composed / "committed"
    run_id = day["run"]["run_id"]
    manifest = json.loads((committed / "_runs" / f"{run_id}.json").read_text())
    assert manifest["status"] == "succeeded"
    assert manifest["counts"] == day["manifest"]["counts"]

    def rows(output_dir, name, key, drop=()):
        found = [{k: v for k, v in row.items() if k not in drop} for row in warehouse_rows(output_dir, name)]
        return sorted(found, key=lambda row: row[key])

    assert rows(committed, "complaints", "complaint_id") == rows(day["output"], "complaints", "complaint_id")
    assert rows(committed, "dead_letter", "error_id", ["failed_at"]) == rows(
        day["output"], "dead_letter", "error_id", ["failed_at"]
    )


def test_typed_rows_group_and_select_with_beams_schema_transforms(day, composed):
    batch_rows = warehouse_rows(day["output"], "complaints")
    assert dict(load(composed / "categories.pkl")) == dict(Counter(r["category"] for r in batch_rows))
    assert Counter(load(composed / "selected.pkl")) == Counter((r["source"], r["priority"]) for r in batch_rows)


def test_typed_rows_are_the_avro_schema_as_a_beam_row_type_and_round_trip_through_row_coder(composed):
    from apache_beam.typehints.schemas import named_tuple_to_schema

    import schemas
    from transforms.rows import complaint_row

    coder = beam.coders.registry.get_coder(Complaint)
    assert isinstance(coder, beam.coders.RowCoder)
    assert list(Complaint._fields) == schemas.field_names("Complaint")
    # every field a Beam type that SQL and the other SDKs read (a nullable string is a nullable STRING, not an
    # opaque Python object)
    fields = named_tuple_to_schema(Complaint).fields
    assert not [f.name for f in fields if "pythonsdk_any" in str(f.type)]
    assert {f.name for f in fields if f.type.nullable} == {
        f["name"] for f in schemas.avro_schema("Complaint")["fields"] if isinstance(f["type"], list)
    }
    row = complaint_row(load(composed / "rows.pkl")[0])
    assert coder.decode(coder.encode(row)) == row
    assert row.event_date == row.event_time.to_utc_datetime().date()


def test_sql_rows_carry_no_type_beam_sql_cannot_read_and_keep_every_value(composed):
    """``ToSqlRows``: no logical type left in ``SqlComplaint``'s schema (Beam SQL refuses micros instants and
    misreads dates), the instants as whole microseconds, ``event_date`` as ISO text, the rest unchanged; anything
    but ``Complaint`` rows is refused when the pipeline is built."""
    from apache_beam.typehints.decorators import TypeCheckError
    from apache_beam.typehints.schemas import named_tuple_to_schema

    from transforms import SqlComplaint, ToSqlRows
    from transforms.rows import complaint_row, sql_row

    fields = named_tuple_to_schema(SqlComplaint).fields
    assert [f.name for f in fields if f.type.WhichOneof("type_info") == "logical_type"] == []
    assert isinstance(beam.coders.registry.get_coder(SqlComplaint), beam.coders.RowCoder)

    complaint = complaint_row(load(composed / "rows.pkl")[0])
    with beam.Pipeline(runner=FnApiRunner()) as p:
        got = p | beam.Create([complaint]).with_output_types(Complaint) | ToSqlRows()
        assert got.element_type is SqlComplaint
        assert_that(got, equal_to([sql_row(complaint)]))
    row = sql_row(complaint)._asdict()
    assert row.pop("event_time_micros") == complaint.event_time.micros
    assert row.pop("ingested_at_micros") == complaint.ingested_at.micros
    assert row.pop("event_date") == complaint.event_date.isoformat()
    kept = complaint._asdict()
    assert row == {name: kept[name] for name in row}

    with pytest.raises(TypeCheckError, match=r"requires PCollections of type .*rows\.Complaint"):
        with beam.Pipeline(runner=FnApiRunner()) as p:
            _ = p | beam.Create(["not a complaint"]).with_output_types(str) | ToSqlRows()


def test_one_channel_from_a_file_pattern_gives_that_channels_rows(day, tmp_path):
    """``ReadFromTwitter(pattern)`` and ``Enrich(customers=ReadCustomers(pattern))``: the batch's twitter rows,
    and the twitter and customer-master dead letters."""
    with beam.Pipeline(runner=FnApiRunner()) as p:
        customers = p | ReadCustomers(str(day["input"] / "customers" / "*.csv"), **day["run"])
        enriched = (
            p
            | ReadFromTwitter(str(day["input"] / "twitter" / "*.jsonl"), **day["run"])
            | Clean()
            | Validate(ValidationRules(batch_date=DATE))
            | Dedupe()
            | Enrich(customers=customers)
        )
        collect_stage(enriched, tmp_path)
    batch_rows = [r for r in warehouse_rows(day["output"], "complaints") if r["source"] == "twitter"]
    chain_rows = [as_table_row(r) for r in load(tmp_path / "rows.pkl")]
    assert sorted(chain_rows, key=lambda r: r["complaint_id"]) == sorted(batch_rows, key=lambda r: r["complaint_id"])
    batch_letters = {
        d["error_id"] for d in warehouse_rows(day["output"], "dead_letter") if d["source"] in ("twitter", "customers")
    }
    assert {d["error_id"] for d in load(tmp_path / "dead_letters.pkl")} == batch_letters
    tallies = Counter()
    for key, count in load(tmp_path / "tallies.pkl"):
        tallies[key] += count
    counts = day["manifest"]["counts"]
    assert tallies[("twitter", "read", "")] == counts["twitter"]["read"]
    assert tallies[("customers", "loaded", "")] == counts["customers"]["loaded"]
    assert tallies[("twitter", "duplicates", "retweet")] == counts["twitter"]["duplicates_by_reason"]["retweet"]


def test_readers_flattened_before_clean_commit_the_batch_commands_rows_each_once(day, tmp_path):
    """One reader per channel (two for tweets and for SMS, each half the hours, and a third tweet reader of a copy
    of one hour's file), their Stages flattened by hand, then the chain and the writers: the run commits exactly
    the rows ``complaints batch`` committed, and counts every copy as a duplicate. Before, each reader's shard was
    a batch of its own: a complaint's copies read by two readers were both kept, the parts of an SMS read by two
    readers were never joined, and the warehouse writer's files of one shard overwrote each other (the commit
    refused the run as unbalanced)."""
    input_dir, run = day["input"], day["run"]
    again = tmp_path / "again"
    again.mkdir()
    copied = sorted((input_dir / "twitter").glob("*.jsonl"))[0]
    (again / "tweets_again.jsonl").write_bytes(copied.read_bytes())
    out = tmp_path / "out"
    with beam.Pipeline(runner=FnApiRunner()) as p:
        reads = [
            p | "Tweets0" >> ReadFromTwitter(str(input_dir / "twitter" / "*_????????[01]?.jsonl"), **run),
            p | "Tweets2" >> ReadFromTwitter(str(input_dir / "twitter" / "*_????????2?.jsonl"), **run),
            p | "TweetsAgain" >> ReadFromTwitter(str(again / "*.jsonl"), **run),
            p | "Sms0" >> ReadFromSms(str(input_dir / "sms" / "*_????????[01]?.txt"), **run),
            p | "Sms2" >> ReadFromSms(str(input_dir / "sms" / "*_????????2?.txt"), **run),
            p | ReadFromWebforms(str(input_dir / "webforms" / "*"), **run),
            p | ReadFromPhoneLogs(str(input_dir / "phone_logs" / "*"), **run),
        ]
        customers = p | ReadCustomers(str(input_dir / "customers" / "*.csv"), **run)
        read = Stage(
            *(tuple(getattr(r, name) for r in reads) | f"All{name}" >> beam.Flatten() for name in Stage._fields)
        )
        (
            read
            | Clean()
            | Validate(ValidationRules(batch_date=DATE))
            | Dedupe()
            | Enrich(customers=customers)
            | WriteToWarehouse(str(out / "warehouse"), run_id=run["run_id"], batch_id=run["batch_id"], batch_date=DATE)
        )
    manifest = json.loads((out / "_runs" / f"{run['run_id']}.json").read_text())
    assert manifest["status"] == "succeeded", manifest.get("reason")
    key = "complaint_id"
    assert sorted(warehouse_rows(out, "complaints"), key=lambda r: r[key]) == sorted(
        warehouse_rows(day["output"], "complaints"), key=lambda r: r[key]
    )
    tweets = manifest["counts"]["twitter"]
    assert (
        tweets["duplicates"]
        == day["manifest"]["counts"]["twitter"]["duplicates"]
        + tweets["parsed"]
        - (day["manifest"]["counts"]["twitter"]["parsed"])
    )


def test_two_chains_flattened_after_enrich_commit_both_channels_rows(day, tmp_path):
    """A chain per channel (each could have its own model), their enriched Stages flattened into one
    ``WriteToWarehouse``: the run commits the batch command's rows of both channels. Before, the two chains'
    batches of one shard key wrote the same staged file, and the commit refused the run as unbalanced."""
    input_dir, run, out = day["input"], day["run"], tmp_path / "out"
    with beam.Pipeline(runner=FnApiRunner()) as p:
        customers = p | ReadCustomers(str(input_dir / "customers" / "*.csv"), **run)
        chains = []
        for name, reader, customers_of_chain in (
            ("Tweets", ReadFromTwitter(str(input_dir / "twitter" / "*.jsonl"), **run), customers),
            ("Sms", ReadFromSms(str(input_dir / "sms" / "*.txt"), **run), customers.profiles),  # counted once
        ):
            chains.append(
                p
                | name >> reader
                | f"Clean{name}" >> Clean()
                | f"Validate{name}" >> Validate(ValidationRules(batch_date=DATE))
                | f"Dedupe{name}" >> Dedupe()
                | f"Enrich{name}" >> Enrich(customers=customers_of_chain)
            )
        both = Stage(
            *(tuple(getattr(c, name) for c in chains) | f"All{name}" >> beam.Flatten() for name in Stage._fields)
        )
        both | WriteToWarehouse(str(out / "warehouse"), run_id=run["run_id"], batch_id=run["batch_id"], batch_date=DATE)
    manifest = json.loads((out / "_runs" / f"{run['run_id']}.json").read_text())
    assert manifest["status"] == "succeeded", manifest.get("reason")
    key = "complaint_id"
    batch_rows = [r for r in warehouse_rows(day["output"], "complaints") if r["source"] in ("twitter", "sms")]
    assert sorted(warehouse_rows(out, "complaints"), key=lambda r: r[key]) == sorted(batch_rows, key=lambda r: r[key])


def test_a_readers_result_reaching_the_writer_twice_fails_at_construction(day):
    """One ``ReadCustomers`` result given whole to the ``Enrich`` of two chains that are flattened: its rows would
    be counted twice and its dead letters written twice. Before, the pipeline ran, counted 202 master rows read
    of 101, and its commit failed on the dead letters' duplicate keys; now it is refused when it is built."""
    input_dir, run = day["input"], day["run"]
    p = beam.Pipeline(runner=FnApiRunner())
    customers = p | ReadCustomers(str(input_dir / "customers" / "*.csv"), **run)
    chains = [
        p
        | name >> reader
        | f"Clean{name}" >> Clean()
        | f"Validate{name}" >> Validate()
        | f"Dedupe{name}" >> Dedupe()
        | f"Enrich{name}" >> Enrich(customers=customers)
        for name, reader in (
            ("Tweets", ReadFromTwitter(str(input_dir / "twitter" / "*.jsonl"), **run)),
            ("Sms", ReadFromSms(str(input_dir / "sms" / "*.txt"), **run)),
        )
    ]
    both = Stage(*(tuple(getattr(c, name) for c in chains) | f"All{name}" >> beam.Flatten() for name in Stage._fields))
    with pytest.raises(ValueError, match=re.escape("would count what a reader read more than once: ReadCustomers (2")):
        both | WriteToWarehouse("unused/warehouse", run_id=run["run_id"])


def test_a_run_composed_with_the_default_run_ids_commits_the_run_its_rows_and_dead_letters_name(day, tmp_path):
    """No run id anywhere: ``WriteToWarehouse`` commits the run the reader stamped the records with, and
    ``Enrich(customers=pattern)`` stamps the master's dead letters with it too. Before, the reader, the master
    read inside Enrich and the writer each made a run id of their own: the manifest and the snapshots named a
    run that no row or dead letter named."""
    input_dir, out = day["input"], tmp_path / "out"
    with beam.Pipeline(runner=FnApiRunner()) as p:
        (
            p
            | ReadFromTwitter(str(input_dir / "twitter" / "*.jsonl"))
            | Clean()
            | Validate(ValidationRules(batch_date=DATE))
            | Dedupe()
            | Enrich(customers=str(input_dir / "customers" / "*.csv"))
            | WriteToWarehouse(str(out / "warehouse"), batch_date=DATE)
        )
    (manifest_path,) = (out / "_runs").glob("*.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "succeeded" and manifest["counts"]["customers"]["rejected"] == 1
    named = {r["run_id"] for name in ("complaints", "dead_letter") for r in warehouse_rows(out, name)}
    assert named == {manifest["run_id"]}
    assert manifest["run_id"] == manifest_path.stem


def test_a_writer_given_another_run_id_than_its_readers_fails_at_construction(tweets):
    pipeline = beam.Pipeline(runner=FnApiRunner())
    enriched = pipeline | ReadFromTwitter(tweets, run_id="read-as") | Clean() | Validate() | Dedupe() | Enrich()
    with pytest.raises(ValueError, match="would commit run other, but its records were read as run read-as"):
        enriched | WriteToWarehouse("unused/warehouse", run_id="other")


# -- a miswired chain fails when the pipeline is built ------------------------------------------------------
@pytest.fixture()
def tweets(tmp_path):
    path = tmp_path / "tweets.jsonl"
    path.write_text('{"data": {"id": "1", "text": "no signal", "created_at": "2026-11-26T07:00:00Z"}}\n')
    return str(path)


@pytest.mark.parametrize(
    "chain, message",
    [
        (lambda read: read | Enrich(), "apply Clean(), then Validate(), then Dedupe() first"),
        (lambda read: read | Validate(), "apply Clean() first"),
        (lambda read: read | Clean() | Validate() | Enrich(), "apply Dedupe() first"),
        (lambda read: read | Clean() | Dedupe(), "apply Validate() first"),
        (lambda read: read | Clean() | "CleanAgain" >> Clean(), "went through Clean() already"),
        (lambda read: read | ToRows(), "apply Clean(), then Validate(), then Dedupe(), then Enrich() first"),
        # before: built, then failed at run time inside pyarrow ("customer_match is declared non-nullable")
        (
            lambda read: read | Clean() | Validate() | Dedupe() | WriteToWarehouse("unused/warehouse"),
            "WriteToWarehouse() takes the complaints Enrich() emits (EnrichedBatch), not UniqueBatch: "
            "apply Enrich() first",
        ),
    ],
)
def test_a_miswired_chain_fails_at_construction_with_what_is_missing(tweets, chain, message):
    pipeline = beam.Pipeline(runner=FnApiRunner())
    read = pipeline | ReadFromTwitter(tweets)
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        chain(read)


@pytest.mark.parametrize(
    "chain, message",
    [
        (lambda parsed: parsed | Enrich(), "apply Clean(), then Validate(), then Dedupe() first"),
        (lambda parsed: parsed | Clean() | Validate() | Enrich(), "apply Dedupe() first"),
        (
            lambda parsed: parsed | Clean() | Validate() | Dedupe() | Enrich() | "Again" >> Dedupe(),
            "went through Enrich() already",
        ),
        (
            lambda parsed: parsed | Clean() | Validate() | Dedupe() | Enrich() | WriteToWarehouse("unused/warehouse"),
            "WriteToWarehouse() takes complaints batched as Enrich() emits them in a batch pipeline",
        ),
    ],
)
def test_a_miswired_stream_fails_at_construction_too(chain, message):
    """The same stages on a stream (one complaint at a time, as ``complaints stream`` runs them) check their
    order the same way."""
    from transforms.sources.messages import ParseMessages

    parsed = beam.Pipeline(runner=FnApiRunner()) | beam.Create([]) | ParseMessages()
    with pytest.raises(TypeError, match=re.escape(message)):
        chain(parsed)


@pytest.mark.parametrize(
    "stage, message",
    [
        # before: Clean failed on the workers ("'>' not supported between ... timedelta and 'int'") ...
        (lambda: Clean(sms_timeout=3600), "Clean(): sms_timeout must be a datetime.timedelta, not 3600"),
        # ... and Validate dead-lettered every complaint as validate:unexpected_AttributeError, the run refused
        (lambda: Validate({"max_text_chars": 40}), "Validate(): rules must be a ValidationRules or None"),
        (lambda: Dedupe(horizon_seconds="1d"), "Dedupe(): horizon_seconds must be seconds or None, not '1d'"),
        (lambda: Enrich(contact_token_key=1234), "Enrich(): contact_token_key must be a ContactTokenKey"),
    ],
)
def test_a_stage_given_an_argument_of_the_wrong_kind_fails_when_it_is_constructed(stage, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        stage()


def test_a_stream_windowed_before_the_stages_keeps_its_windows_and_a_copy_in_another_window_is_counted():
    """Live tweets put into one-minute windows before ``ParseMessages``, as a Beam user windows a source: the
    complaints ``Dedupe`` keeps, and its tally of the redelivered copy (in the next minute), are in the windows
    the complaints came in. Before, Dedupe's tallies came out in the global window and were flattened with the
    windowed ones: the pipeline was built, then failed at run time decoding ``Dedupe/DedupeTallies``."""
    from apache_beam.transforms.window import FixedWindows, GlobalWindow, TimestampedValue

    from transforms.sources.messages import ParseMessages, message_record

    def tweet(number: int, tweet_id: str, at: str):
        payload = json.dumps({"data": {"id": tweet_id, "text": "no signal at home", "created_at": at}}).encode()
        published = dt.datetime.fromisoformat(at)
        return message_record("twitter", payload, f"tweets/0/{number}", number, published, None, "run", "live")

    messages = [tweet(0, "1", "2026-11-26T07:00:10+00:00"), tweet(1, "2", "2026-11-26T07:01:10+00:00")]
    messages.append(tweet(2, "1", "2026-11-26T07:01:30+00:00"))  # tweet 1 again, a minute later

    class InWindow(beam.DoFn):
        def process(self, element, window=beam.DoFn.WindowParam):
            if isinstance(window, GlobalWindow):
                yield "global", element
            else:
                yield window.start.to_utc_datetime().strftime("%H:%M"), element

    with beam.Pipeline(runner=FnApiRunner()) as p:
        unique = (
            p
            | beam.Create(messages)
            | beam.Map(lambda raw: TimestampedValue(raw, dt.datetime.fromisoformat(raw["ingested_at"]).timestamp()))
            | beam.WindowInto(FixedWindows(60))
            | ParseMessages()
            | Clean()
            | Validate()
            | Dedupe()
        )
        kept = (
            unique.complaints | "Kept" >> beam.Map(lambda c: c["source_record_id"]) | "KeptIn" >> beam.ParDo(InWindow())
        )
        assert_that(kept, equal_to([("07:00", "1"), ("07:01", "2")]), label="KeptInTheirWindows")
        duplicates = unique.tallies | beam.Filter(lambda tally: tally[0][1] == "duplicates") | beam.ParDo(InWindow())
        expected = [("07:01", (("twitter", "duplicates", "same_complaint_id"), 1))]
        assert_that(duplicates, equal_to(expected), label="DuplicateCountedInItsWindow")


def test_a_stage_refuses_records_that_did_not_come_from_a_reader(tweets):
    pipeline = beam.Pipeline(runner=FnApiRunner())
    records = pipeline | beam.Create([{"text": "raw"}])
    with pytest.raises(TypeError, match="takes a Stage"):
        _ = records | Clean()
    fake = Stage(records, records, records)  # a Stage of untyped elements
    with pytest.raises(TypeError, match="did not come from this library's reader"):
        _ = fake | Enrich()


def test_a_pattern_that_matches_nothing_fails_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file matches"):
        _ = beam.Pipeline(runner=FnApiRunner()) | ReadFromTwitter(str(tmp_path / "none" / "*.jsonl"))
    with pytest.raises(FileNotFoundError, match="no channel files"):
        _ = beam.Pipeline(runner=FnApiRunner()) | ReadFromChannelFiles(str(tmp_path))


def test_a_reader_given_a_directory_reads_the_files_in_it(tweets, tmp_path):
    """``ReadFromTwitter("in/twitter")``: the files directly in the directory, not its sub-folders, which a glob
    matching them leaves out too. Before, the directory itself was listed as the one input file, and the run
    failed on the workers with ``IsADirectoryError``."""
    (tmp_path / "older").mkdir()
    (tmp_path / "older" / "tweets.jsonl").write_text("not read\n")
    for pattern in (str(tmp_path), str(tmp_path / "*")):
        with beam.Pipeline(runner=FnApiRunner()) as p:
            read = p | ReadFromTwitter(pattern)
            reads = read.tallies | beam.Filter(lambda tally: tally[0][1] == "read") | beam.Map(lambda t: t[1])
            assert_that(reads | beam.CombineGlobally(sum), equal_to([1]))
    (tmp_path / "older" / "empty").mkdir()  # an empty directory matches no file
    with pytest.raises(FileNotFoundError, match="no file matches"):
        _ = beam.Pipeline(runner=FnApiRunner()) | ReadFromTwitter(str(tmp_path / "older" / "empty"))


def test_the_librarys_default_rules_are_the_profiles_defaults():
    from beam_pipelines.config import ValidationSettings
    from beam_pipelines.parameters import validation_rules

    assert validation_rules(ValidationSettings(), None) == ValidationRules()


def test_every_public_transform_documents_its_arguments():
    import transforms

    for name in transforms.__all__:
        value = getattr(transforms, name)
        if isinstance(value, type) and issubclass(value, beam.PTransform):
            assert value.__doc__ and ("Args:" in value.__doc__ or "No arguments" in value.__doc__), name
            assert "Emits" in value.__doc__ or "emits" in value.__doc__, name


class _EverythingIsBilling:
    """A model object of one's own (not a factory): every complaint is Billing, P2."""

    version = "billing-only-1"

    def predict(self, complaints):
        from models.base import Prediction

        return [Prediction("Billing", 0.9, -0.5, "negative", "P2") for _ in complaints]


def test_enrich_takes_a_model_object_and_a_key_of_ones_own(tmp_path):
    import json

    from transforms.enrichment import contact_token

    tweet = {
        "data": {"id": "7", "text": "charged twice", "created_at": "2026-11-26T07:00:00Z", "author_id": "42"},
        "includes": {"users": [{"id": "42", "username": "Ada_Obi"}]},
    }
    (tmp_path / "tweets.jsonl").write_text(json.dumps(tweet) + "\n")
    with beam.Pipeline(runner=FnApiRunner()) as p:
        enriched = (
            p
            | ReadFromTwitter(str(tmp_path / "tweets.jsonl"))
            | Clean()
            | Validate()
            | Dedupe()
            | Enrich(model=_EverythingIsBilling(), contact_token_key="my-own-key")
        )
        collect_stage(enriched, tmp_path)
    (row,) = load(tmp_path / "rows.pkl")
    assert (row["category"], row["priority"], row["model_version"]) == ("Billing", "P2", "billing-only-1")
    assert row["route_queue"] == "billing-disputes" and "unknown_customer" in row["flags"]
    assert row["contact_token"] == contact_token({"twitter_handle": "ada_obi"}, b"my-own-key")
