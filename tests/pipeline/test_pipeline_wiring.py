"""Pipeline tests: the Beam wrappers wired as in production, on Beam's FnApiRunner (named explicitly)."""

import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.support.pipelines import pipeline, tweet_line
from tests.support.records import make_raw
from transforms import Clean, Dedupe, ReadFromSms, ReadFromTwitter, Validate
from transforms.records import RunContext

CONTEXT = RunContext("run-t", "b-t", dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC), chunk_size=2)
#: the same run identity, as the public readers take it
RUN = {
    "run_id": "run-t",
    "batch_id": "b-t",
    "ingested_at": dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC),
    "chunk_size": 2,
    "shards": 3,
}


def records(stage_or_read, label: str):
    """The complaints of a Stage (or a reader's result), one element per complaint."""
    return stage_or_read.complaints | f"{label}Records" >> beam.FlatMap(lambda batch: batch.records)


def channel_tallies(read):
    """A reader's tallies without the customer master's (a channel reader counts its empty master as 0)."""
    return read.tallies | "ChannelTallies" >> beam.Filter(lambda tally: tally[0][0] != "customers")


@pytest.fixture()
def twitter_file(tmp_path):
    path = tmp_path / "tweets.jsonl"
    lines = [
        tweet_line("1"),
        "{not json",
        "",
        tweet_line("2"),
        tweet_line("3", referenced_tweets=[{"type": "retweeted", "id": "1"}]),
        tweet_line("1"),
    ]
    path.write_bytes(("\n".join(lines)).encode() + b"\n\xff\xfe garbage")
    return str(path)


def test_read_twitter_splits_every_line_into_complaints_or_dead_letters(twitter_file):
    with pipeline() as p:
        read = p | ReadFromTwitter(twitter_file, **RUN)
        assert_that(
            records(read, "Read") | "Ids" >> beam.Map(lambda c: c["source_record_id"]),
            equal_to(["1", "2", "3", "1"]),
            label="complaints",
        )
        assert_that(
            read.dead_letters | "Reasons" >> beam.Map(lambda d: (d["position"], d["stage"], d["error_type"])),
            equal_to([(2, "parse", "invalid_json"), (7, "read", "invalid_utf8")]),
            label="dead",
        )
        assert_that(
            read.raw_batches | "Chunks" >> beam.Map(lambda b: (b.key[2], len(b.records))),
            equal_to([(0, 2), (1, 2), (2, 2)]),
            label="chunks",
        )
        assert_that(channel_tallies(read), equal_to([(("twitter", "read", ""), 2)] * 3), label="tallies")


def test_dedupe_keeps_the_first_copy_and_counts_retweets_and_repeats(twitter_file):
    with pipeline() as p:
        deduped = p | ReadFromTwitter(twitter_file, **RUN) | Clean() | Validate() | Dedupe()
        kept = records(deduped, "Kept") | beam.Map(lambda c: (c["source_record_id"], c["source_position"]))
        assert_that(kept, equal_to([("1", 1), ("2", 4)]), label="kept")
        totals = deduped.tallies | beam.Filter(lambda tally: tally[0][1] == "duplicates") | beam.CombinePerKey(sum)
        assert_that(
            totals,
            equal_to([(("twitter", "duplicates", "retweet"), 1), (("twitter", "duplicates", "same_complaint_id"), 1)]),
            label="tally",
        )


def test_sms_assembly_joins_parts_from_different_chunks_and_counts_merges(tmp_path):
    lines = [
        "2026-11-26T09:59:58+01:00|08031234567|3737|m1|a7|1|2|Hello ",
        "2026-11-26T09:00:00+01:00|08030000001|3737|m3|0|1|1|single",
        "2026-11-26T10:00:02+01:00|+2348031234567|3737|m2|a7|2|2|world",
    ]
    (tmp_path / "sms_2026112609.txt").write_text("\n".join(lines) + "\n")
    with pipeline() as p:
        cleaned = p | ReadFromSms(str(tmp_path / "*.txt"), **RUN) | Clean(dt.timedelta(hours=24))
        assert_that(
            records(cleaned, "Cleaned") | beam.Map(lambda c: (c["text"], c["flags"])),
            equal_to([("Hello world", []), ("single", [])]),
            label="texts",
        )
        merged = cleaned.tallies | beam.Filter(lambda tally: tally[0][1] == "merged_parts")
        assert_that(merged, equal_to([(("sms", "merged_parts", ""), 1)]), label="merged")


def test_per_record_clean_and_validate_stages_route_failures_to_the_dead_letter():
    from beam_pipelines.config import ValidationSettings
    from beam_pipelines.parameters import validation_rules
    from transforms.cleaning import clean_complaint
    from transforms.outcomes import apply_stage
    from transforms.sources.twitter import parse_tweet
    from transforms.validation import validate_complaint

    good = parse_tweet(make_raw("twitter", tweet_line("1", text="no signal &amp; no data")))
    ancient = parse_tweet(make_raw("twitter", tweet_line("2", created_at="1970-01-01T00:00:00Z"), line=2))
    rules = validation_rules(ValidationSettings(), dt.date(2026, 11, 26))
    with pipeline() as p:
        cleaned, clean_failures = apply_stage(p | beam.Create([good, ancient]), "Clean", clean_complaint, "clean")
        valid, invalid = apply_stage(cleaned, "Validate", validate_complaint, "validate", rules)
        assert_that(valid | beam.Map(lambda c: c["text"]), equal_to(["no signal & no data"]), label="valid")
        assert_that(
            invalid | beam.Map(lambda d: (d["position"], d["stage"], d["error_type"])),
            equal_to([(2, "validate", "event_time_out_of_range")]),
            label="invalid",
        )
        assert_that(clean_failures, equal_to([]), label="clean")


def test_read_sms_joins_parts_written_in_different_files(tmp_path):
    first, second = tmp_path / "sms_2026112609.txt", tmp_path / "sms_2026112610.txt"
    first.write_text(
        "received_at|msisdn|shortcode|message_id|concat_ref|part|parts|body\n"
        "2026-11-26T09:59:59+01:00|08031234567|3737|m1|a7|1|2|Billed twice\n"
    )
    second.write_text(
        "2026-11-26T10:00:03+01:00|+2348031234567|3737|m2|a7|2|2| this month\ngarbage line without fields\n"
    )
    with pipeline() as p:
        read = p | ReadFromSms(str(tmp_path / "sms_*.txt"), **RUN) | Clean()
        assert_that(
            records(read, "Joined") | beam.Map(lambda c: (c["source_record_id"], c["text"])),
            equal_to([("m1", "Billed twice this month")]),
            label="joined",
        )
        assert_that(
            read.dead_letters | beam.Map(lambda d: (d["source_file"], d["error_type"])),
            equal_to([("sms/sms_2026112610.txt", "wrong_field_count")]),
            label="dead",
        )


def test_outcomes_are_also_beam_counters(twitter_file):
    from apache_beam.metrics.metric import MetricsFilter

    p = pipeline()
    _ = p | ReadFromTwitter(twitter_file, **RUN) | Clean() | Validate() | Dedupe()
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]}
    assert counters["twitter.read"] == 6
    assert counters["twitter.parse.parsed"] == 4 and counters["twitter.parse.rejected"] == 2
    assert counters["twitter.duplicates.retweet"] == 1


class _FlakyModel:
    """A model that fails on complaints mentioning 'explode': to prove one bad complaint is dead-lettered alone."""

    version = "flaky-1"

    def predict(self, complaints):
        from models.rules import RulesModel

        if any("explode" in c["text"] for c in complaints):
            raise ValueError("model cannot read this")
        return RulesModel().predict(complaints)


def test_run_inference_enrichment_labels_each_complaint_and_dead_letters_only_failures():
    from models.inference import ComplaintModelHandler
    from transforms.cleaning import clean_complaint
    from transforms.enrichment import EnrichComplaints
    from transforms.sources.twitter import parse_tweet

    complaints = [
        clean_complaint(parse_tweet(make_raw("twitter", tweet_line(str(n), text=text), line=n)))
        for n, text in enumerate(
            ["no signal in Ikeja", "charged twice for my bundle", "this will explode", "agent was rude"], start=1
        )
    ]
    with pipeline() as p:
        enriched = (
            p
            | beam.Create(complaints)
            | EnrichComplaints(
                None, ComplaintModelHandler(model_factory=_FlakyModel, min_batch_size=4, max_batch_size=4), b"key"
            )
        )
        assert_that(
            enriched["complaints"] | beam.Map(lambda r: (r["source_record_id"], r["category"], r["model_version"])),
            equal_to([("1", "Network", "flaky-1"), ("2", "Billing", "flaky-1"), ("4", "Customer Service", "flaky-1")]),
            label="rows",
        )
        assert_that(
            enriched["dead_letters"] | beam.Map(lambda d: (d["position"], d["stage"])),
            equal_to([(3, "enrich")]),
            label="dead",
        )


def test_read_all_channels_ships_each_chunk_as_one_list_per_shard_with_every_copy_and_part_together(tmp_path):
    """The batch's read stage: complaints leave in pickled lists, one per (chunk, shard); after grouping, every
    copy of a complaint_id and every part of an SMS message are in one shard; customer profiles leave as
    batches and are counted; unparsable lines are dead letters with their reason."""
    from transforms.packing import GroupPackedLists
    from transforms.sources.all_channels import ReadAllChannels

    tweets = tmp_path / "tweets.jsonl"
    tweets.write_text(
        "\n".join([tweet_line("1"), tweet_line("2"), "{not json", tweet_line("1"), tweet_line("3")]) + "\n"
    )
    sms = tmp_path / "sms.txt"
    sms.write_text(
        "2026-11-26T09:59:58+01:00|08031234567|3737|m1|a7|1|2|Hello \n"
        "2026-11-26T10:00:01+01:00|08030000009|3737|m3|0|1|1|single\n"
        "2026-11-26T10:00:02+01:00|+2348031234567|3737|m2|a7|2|2|world\n"
    )
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "account_number,msisdn,email,twitter_handle,segment,region,plan,tenure_months\n"
        "BJN-000001,08031234567,a@example.com,alice,vip,Lagos,Pro,12\n"
        "BJN-000002,08030000009,b@example.com,bob,consumer,Abuja,Basic,3\n"
        "BJN-000003,08030000010,c@example.com,carol,consumer,Kano,Basic,1\n"
    )
    files = [
        ("twitter", str(tweets), "twitter/tweets.jsonl"),
        ("sms", str(sms), "sms/sms.txt"),
        ("customers", str(customers), "customers/customers.csv"),
    ]
    with pipeline() as p:
        read = p | beam.Create(files) | ReadAllChannels(CONTEXT, shards=3)
        # chunks of 2 raw records: 3 tweet chunks, 2 SMS chunks, each leaving at most one list per shard
        lists = read["complaint_shards"] | "Lists" >> beam.combiners.Count.Globally()
        assert_that(lists, lambda counts: counts[0] <= 5 * 3 and counts[0] >= 5, label="lists")
        shards = read["complaint_shards"] | GroupPackedLists()
        placed = shards | beam.FlatMap(
            lambda batch: [
                (c["complaint_id"] if "_sms" not in c else c["source_record_id"], batch.key) for c in batch.records
            ]
        )
        together = (
            placed
            | beam.GroupByKey()
            | beam.MapTuple(lambda identity, keys: (identity, len(list(keys)), len(set(keys))))
        )

        def every_copy_in_one_shard(rows):
            assert sorted(n for _, n, _ in rows) == [1, 1, 1, 1, 1, 2], rows  # tweet 1 twice; m1, m2, m3; 2; 3
            assert all(distinct == 1 for _, _, distinct in rows), rows

        assert_that(together, every_copy_in_one_shard, label="together")
        sms_shards = (
            shards
            | beam.FlatMap(
                lambda batch: [batch.key for c in batch.records if c.get("source_record_id") in ("m1", "m2")]
            )
            | "DistinctSmsShards" >> beam.Distinct()
        )
        assert_that(sms_shards | "CountSmsShards" >> beam.combiners.Count.Globally(), equal_to([1]), label="sms")
        assert_that(
            read["customers"] | beam.Map(lambda batch: sorted(c["account_number"] for c in batch.records)),
            equal_to([["BJN-000001", "BJN-000002"], ["BJN-000003"]]),
            label="customers",
        )
        assert_that(
            read["dead_letters"] | beam.Map(lambda d: (d["source"], d["position"], d["error_type"])),
            equal_to([("twitter", 3, "invalid_json")]),
            label="dead",
        )
        assert_that(
            read["tallies"] | "Loaded" >> beam.Filter(lambda t: t[0][1] == "loaded"),
            equal_to([(("customers", "loaded", ""), 3)]),
            label="loaded",
        )
