"""The streaming graph under TestStream: event time, watermarks, late data, dedup, dead letters, aggregates.

Runs on Beam's streaming DirectRunner (``BundleBasedDirectRunner``, named explicitly) and, where the Prism
binary has been built (``runners/local_services.py``), on Prism as well: the runner ``complaints stream run``
uses with Kafka.
"""

import datetime as dt
import json
import os
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue

from beam_pipelines.config import StreamingSettings, load_settings
from beam_pipelines.parameters import stream_timing
from beam_pipelines.streaming import StreamPlan, build_stream_graph
from transforms.aggregates import SpikeRules
from transforms.sources.messages import message_record

T0 = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
PRISM = Path(__file__).resolve().parents[2] / ".services" / "bin" / "prism"


def seconds(n):
    return dt.timedelta(seconds=n)


def tweet_message(n: int, event: dt.datetime, arrival: dt.datetime, *, text: str | None = None, retweet_of=None):
    data = {
        "id": str(1000 + n),
        "text": text or f"no signal in lekki since morning ({n})",
        "created_at": event.isoformat().replace("+00:00", "Z"),
        "author_id": "9",
    }
    if retweet_of:
        data["referenced_tweets"] = [{"type": "retweeted", "id": str(retweet_of)}]
    record = message_record(
        "twitter",
        json.dumps({"data": data}).encode(),
        f"complaints.twitter/0/{n}",
        n,
        arrival,
        {},
        "run-test",
        "s-test",
    )
    return TimestampedValue(record, arrival.timestamp())


def raw_message(n: int, payload: bytes, arrival: dt.datetime, source="twitter", attributes=None):
    record = message_record(source, payload, f"topic/0/{n}", n, arrival, attributes or {}, "run-test", "s-test")
    return TimestampedValue(record, arrival.timestamp())


def streaming_options():
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    return options


def run_stream(test_stream, output_dir, runner="direct", timing=None, spike_rules=None):
    if runner == "prism":
        pipeline = beam.Pipeline(
            options=PipelineOptions(
                ["--runner=PrismRunner", f"--prism_location={PRISM}", "--environment_type=LOOPBACK", "--streaming"]
            )
        )
    else:
        from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

        pipeline = beam.Pipeline(runner=BundleBasedDirectRunner(), options=streaming_options())
    plan = StreamPlan(
        str(output_dir), "s-test", timing or stream_timing(StreamingSettings()), spike_rules or SpikeRules()
    )
    build_stream_graph(pipeline | test_stream, plan, load_settings("dev"))
    pipeline.run().wait_until_finish()
    return plan


def table(output_dir, name):
    """The rows of warehouse table ``warehouse/<name>`` (through its catalog)."""
    from tests.support.warehouse import read_table

    return read_table(Path(output_dir) / name).to_pylist()


def commits(output_dir, name, key):
    """Each commit of a warehouse table in order: (the window panes it holds, keys it added or replaced)."""
    from schemas.tables import WAREHOUSE_TABLES
    from warehouse.catalog import CatalogConfig, load_table, open_catalog

    config = CatalogConfig(str(Path(output_dir) / "warehouse"))
    iceberg = load_table(open_catalog(config), config, WAREHOUSE_TABLES[name])
    found, before = [], {}
    for snapshot in sorted(iceberg.snapshots(), key=lambda s: s.sequence_number):
        rows = {row[key]: row for row in iceberg.scan(snapshot_id=snapshot.snapshot_id).to_arrow().to_pylist()}
        changed = {k for k, row in rows.items() if before.get(k) != row}
        found.append((snapshot.summary.get("panes").split(","), changed))
        before = rows
    return found


def counts(output_dir):
    totals = {}
    for row in table(output_dir, "warehouse/stream_counts"):
        key = (row["source"], row["outcome"], row["reason"])
        totals[key] = totals.get(key, 0) + row["count"]
    return totals


def late_data_stream():
    """Five tweets on time, a redelivery, a retweet, a poison message, one tweet late within the allowed
    lateness and one far beyond it."""
    return (
        BeamTestStream()
        .advance_watermark_to(T0.timestamp())
        .add_elements([tweet_message(n, T0 + seconds(n), T0 + seconds(n + 1)) for n in range(5)])
        .add_elements([tweet_message(2, T0 + seconds(2), T0 + seconds(9))])
        .add_elements([tweet_message(7, T0 + seconds(7), T0 + seconds(9), retweet_of=1001)])
        .add_elements([raw_message(99, b"{not json", T0 + seconds(10))])
        .advance_watermark_to((T0 + dt.timedelta(minutes=3)).timestamp())
        .add_elements([tweet_message(50, T0 + seconds(20), T0 + dt.timedelta(minutes=3))])
        .advance_watermark_to((T0 + dt.timedelta(hours=3)).timestamp())
        .add_elements([tweet_message(60, T0 + seconds(30), T0 + dt.timedelta(hours=3))])
        .advance_watermark_to_infinity()
    )


RUNNERS = [
    "direct",
    pytest.param(
        "prism",
        marks=pytest.mark.skipif(
            not PRISM.exists() and not os.environ.get("COMPLAINTS_REQUIRE_SERVICES"),
            reason="Prism not built (python runners/local_services.py fetch)",
        ),
    ),
]


@pytest.mark.parametrize("runner", RUNNERS)
def test_every_message_lands_once_and_late_data_is_written_not_dropped(tmp_path, runner):
    run_stream(late_data_stream(), tmp_path, runner)

    complaints = table(tmp_path, "warehouse/complaints")
    ids = sorted(row["source_record_id"] for row in complaints)
    assert ids == ["1000", "1001", "1002", "1003", "1004", "1050", "1060"]  # once each, late ones included
    by_id = {row["source_record_id"]: row for row in complaints}
    assert "arrived_after_window" in by_id["1060"]["flags"]
    assert "arrived_after_window" not in by_id["1050"]["flags"]
    assert all(row["event_time"].date() == T0.date() for row in complaints)

    dead = table(tmp_path, "warehouse/dead_letter")
    assert [(d["stage"], d["error_type"], d["raw"], d["message_id"]) for d in dead] == [
        ("parse", "invalid_json", "{not json", "topic/0/99")
    ]

    lake = [
        json.loads(line) for path in (tmp_path / "lake/raw").rglob("*.jsonl") for line in path.read_text().splitlines()
    ]
    assert len(lake) == 10  # every message read, verbatim, duplicates and poison included
    assert sum(1 for record in lake if record["raw"] == "{not json") == 1

    totals = counts(tmp_path)
    assert totals[("twitter", "read", "")] == 10
    assert totals[("twitter", "written", "")] == 7
    assert totals[("twitter", "rejected", "parse:invalid_json")] == 1
    assert totals[("twitter", "duplicates", "same_complaint_id")] == 1
    assert totals[("twitter", "duplicates", "retweet")] == 1


@pytest.mark.parametrize("runner", RUNNERS)
def test_late_record_within_lateness_goes_to_a_late_pane_of_its_event_window(tmp_path, runner):
    run_stream(late_data_stream(), tmp_path, runner)

    complaints = {row["complaint_id"]: row["source_record_id"] for row in table(tmp_path, "warehouse/complaints")}
    nine_oclock = [
        (pane, ids)
        for panes, ids in commits(tmp_path, "complaints", "complaint_id")
        for pane in panes
        if pane.startswith("2026-11-26T09:00:00+00:00/")
    ]
    # the on-time pane and one late pane of the 09:00 window; the late one is its own commit
    assert [pane for pane, _ in nine_oclock] == ["2026-11-26T09:00:00+00:00/0", "2026-11-26T09:00:00+00:00/1"]
    assert [complaints[i] for i in nine_oclock[1][1]] == ["1050"]

    volume = table(tmp_path, "warehouse/complaint_volume")
    per_minute = {}
    for row in volume:
        per_minute[row["minute_start"]] = per_minute.get(row["minute_start"], 0) + row["complaints"]
    assert per_minute == {T0: 7}  # the late and the too-late complaint count in their true minute
    # the 09:00 window's row was last replaced by its late pane, with the window's total (5 on time + 1 late)
    nine = [row for row in volume if row["window_start"] == T0]
    assert [(row["pane"], row["complaints"]) for row in nine] == [("late", 6)]


def test_dedupe_horizon_forgets_old_ids(tmp_path):
    horizon = 600
    stream = (
        BeamTestStream()
        .advance_watermark_to(T0.timestamp())
        .add_elements([tweet_message(1, T0, T0 + seconds(1))])
        .advance_watermark_to((T0 + seconds(horizon + 120)).timestamp())
        .add_elements([tweet_message(1, T0, T0 + seconds(horizon + 121))])  # a replay after the horizon
        .add_elements([tweet_message(1, T0, T0 + seconds(horizon + 122))])  # and its redelivery
        .advance_watermark_to_infinity()
    )
    run_stream(stream, tmp_path, timing=stream_timing(StreamingSettings(), dedupe_horizon_seconds=horizon))
    totals = counts(tmp_path)
    assert totals[("twitter", "written", "")] == 2
    assert totals[("twitter", "duplicates", "same_complaint_id")] == 1


def test_web_forms_json_and_urlencoded_and_poison_messages(tmp_path):
    form = (
        b"submission_id=wf-2&submitted_at=2026-11-26T09%3A00%3A05Z&full_name=Ada&email=ada%40example.com"
        b"&message=I+was+billed+twice+this+month"
    )
    payload = json.dumps(
        {
            "submission_id": "wf-1",
            "submitted_at": "2026-11-26T10:00:03+01:00",
            "fields": {"message": "my data bundle vanished", "phone": "08031234567"},
        }
    ).encode()
    stream = (
        BeamTestStream()
        .advance_watermark_to(T0.timestamp())
        .add_elements(
            [
                raw_message(1, payload, T0 + seconds(4), "webform", {"content_type": "application/json"}),
                raw_message(2, form, T0 + seconds(6), "webform", {"content_type": "application/x-www-form-urlencoded"}),
                raw_message(3, b"\xff\xfe\x00", T0 + seconds(7), "webform"),
                raw_message(4, b"", T0 + seconds(8), "webform"),
            ]
        )
        .advance_watermark_to_infinity()
    )
    run_stream(stream, tmp_path)
    complaints = {row["source_record_id"]: row for row in table(tmp_path, "warehouse/complaints")}
    assert set(complaints) == {"wf-1", "wf-2"}
    assert complaints["wf-1"]["event_time"] == T0 + seconds(3)  # +01:00 normalised to UTC
    assert "08031234567" not in complaints["wf-1"]["text"] and complaints["wf-1"]["contact_token"]
    dead = sorted((d["message_id"], d["stage"]) for d in table(tmp_path, "warehouse/dead_letter"))
    assert [message_id for message_id, _ in dead] == ["topic/0/3", "topic/0/4"]
    totals = counts(tmp_path)
    assert totals[("webform", "read", "")] == 4
    assert (
        totals[("webform", "written", "")]
        + sum(n for (s, o, _), n in totals.items() if s == "webform" and o == "rejected")
        == 4
    )


def test_spike_alert_when_the_minute_volume_jumps(tmp_path):
    quiet = [
        tweet_message(n, T0 + dt.timedelta(minutes=n // 2, seconds=n % 2), T0 + dt.timedelta(minutes=n // 2, seconds=5))
        for n in range(20)
    ]  # 2 a minute
    outage_minute = T0 + dt.timedelta(minutes=10)
    outage = [
        tweet_message(
            100 + n,
            outage_minute + seconds(n % 50),
            outage_minute + seconds(55),
            text=f"total network outage, no service at all ({n})",
        )
        for n in range(30)
    ]
    stream = BeamTestStream().advance_watermark_to(T0.timestamp())
    for minute in range(10):
        stream = stream.add_elements(quiet[2 * minute : 2 * minute + 2]).advance_watermark_to(
            (T0 + dt.timedelta(minutes=minute + 1)).timestamp()
        )
    stream = stream.add_elements(outage).advance_watermark_to_infinity()
    run_stream(
        stream,
        tmp_path,
        spike_rules=SpikeRules(baseline_minutes=10, warmup_minutes=5, ratio=3.0, sigmas=3.0, min_complaints=10),
    )
    alerts = table(tmp_path, "warehouse/alerts")
    scopes = {alert["scope"]: alert for alert in alerts}
    assert "all" in scopes, alerts
    assert scopes["all"]["minute_start"] == outage_minute
    assert scopes["all"]["complaints"] == 30
    assert scopes["all"]["baseline_mean"] == pytest.approx(2.0)
    assert all(alert["minute_start"] == outage_minute for alert in alerts)  # no alert in the quiet minutes


def test_pubsub_messages_take_the_same_path(tmp_path):
    """Pub/Sub cannot run here (no emulator): its edge is proven by feeding PubsubMessages, as ReadFromPubSub
    emits them with attributes, through the conversion ``ReadPubSubMessages`` applies."""
    from apache_beam.io.gcp.pubsub import PubsubMessage
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
    from apache_beam.utils.timestamp import Timestamp

    from transforms.sources.messages import pubsub_record

    def message(source, n, payload, arrival, attributes=None):
        return TimestampedValue(
            (
                source,
                PubsubMessage(
                    payload, attributes or {}, message_id=f"m-{n}", publish_time=Timestamp.of(arrival.timestamp())
                ),
            ),
            arrival.timestamp(),
        )

    tweet = json.dumps({"data": {"id": "77", "text": "no 4G in Ikeja", "created_at": "2026-11-26T09:00:01Z"}})
    form = b"submission_id=wf-5&submitted_at=2026-11-26T09%3A00%3A02Z&message=double+charge"
    stream = (
        BeamTestStream()
        .advance_watermark_to(T0.timestamp())
        .add_elements(
            [
                message("twitter", 1, tweet.encode(), T0 + seconds(2)),
                message("twitter", 2, b"oops", T0 + seconds(3)),
                message("webform", 3, form, T0 + seconds(4), {"content_type": "application/x-www-form-urlencoded"}),
            ]
        )
        .advance_watermark_to_infinity()
    )
    pipeline = beam.Pipeline(runner=BundleBasedDirectRunner(), options=streaming_options())
    raw = (
        pipeline
        | stream
        | "AsReadPubSubMessagesDoes" >> beam.MapTuple(lambda source, m: pubsub_record(m, source, "run-t", "s-t"))
    )
    build_stream_graph(raw, StreamPlan(str(tmp_path), "s-test"), load_settings("dev"))
    pipeline.run().wait_until_finish()

    complaints = {row["source_record_id"]: row for row in table(tmp_path, "warehouse/complaints")}
    assert set(complaints) == {"77", "wf-5"}
    assert complaints["77"]["ingested_at"] == T0 + seconds(2)  # the publish time
    [dead] = table(tmp_path, "warehouse/dead_letter")
    assert dead["message_id"] == "m-2" and dead["error_type"] == "invalid_json"


def test_pubsub_read_edge_builds_for_dataflow_and_the_emulator():
    """The Pub/Sub edge constructs on the streaming DirectRunner (where PUBSUB_EMULATOR_HOST works) with one
    subscription per channel and attributes on."""
    from apache_beam.io.gcp.pubsub import ReadFromPubSub

    from ingest.transport import PubSubConfig
    from transforms.sources.live import ReadPubSubMessages

    pipeline = beam.Pipeline(options=streaming_options())
    plan = StreamPlan("/tmp/unused", "s-test")
    raw = pipeline | ReadPubSubMessages(PubSubConfig(project="beejan-prod"), plan.run_id, plan.stream_id)
    build_stream_graph(raw, plan, load_settings("dev"))
    reads = [
        t.transform for t in pipeline.transforms_stack[0].parts[0].parts if isinstance(t.transform, ReadFromPubSub)
    ]
    subscriptions = sorted(read._source.full_subscription for read in reads)
    assert subscriptions == [
        "projects/beejan-prod/subscriptions/complaints.twitter-stream",
        "projects/beejan-prod/subscriptions/complaints.webforms-stream",
    ]
    assert all(read.with_attributes for read in reads)


def test_the_streaming_graph_has_no_side_inputs_and_the_model_handler_watches(tmp_path):
    """Beam's Flink runner cannot checkpoint a portable streaming job with a side input (its state coder does
    not match what it stores), so neither the customer master nor model updates may come as one."""
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.portability.api import beam_runner_api_pb2

    pipeline = beam.Pipeline(options=streaming_options())
    plan = StreamPlan(
        str(tmp_path),
        "s-test",
        model_watch=str(tmp_path / "*" / "model_card.json"),
        model_watch_seconds=5,
        customers_path=str(tmp_path / "customers.csv"),
    )
    build_stream_graph(pipeline | beam.Create([]), plan, load_settings("dev"))
    proto = pipeline.to_runner_api()
    with_side_inputs = []
    for transform in proto.components.transforms.values():
        if transform.spec.urn == "beam:transform:pardo:v1":
            payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
            if payload.side_inputs:
                with_side_inputs.append(transform.unique_name)
    assert with_side_inputs == []
    found = []

    def visit(node):
        if isinstance(node.transform, RunInference):
            found.append(node.transform)
        for part in node.parts:
            visit(part)

    visit(pipeline.transforms_stack[0])
    handler = found[0]._model_handler._unkeyed  # RunInference(KeyedModelHandler(ours))
    assert (handler.watch, handler.watch_seconds) == (plan.model_watch, 5)


def test_a_bounded_run_remembers_every_id_until_its_input_ends():
    """Without a horizon (a bounded run) no expiry timer is set: a copy that comes long after the first is still
    a duplicate, even once the watermark has passed any horizon."""
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.dedupe import DedupeWithinHorizon

    def complaint(n):
        return {"complaint_id": "tw-1", "source": "twitter", "copy": n}

    stream = (
        BeamTestStream()
        .advance_watermark_to(T0.timestamp())
        .add_elements([TimestampedValue(complaint(1), T0.timestamp())])
        .advance_watermark_to((T0 + seconds(10 * 86400)).timestamp())
        .add_elements([TimestampedValue(complaint(2), (T0 + seconds(10 * 86400 + 1)).timestamp())])
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(runner=BundleBasedDirectRunner(), options=streaming_options()) as pipeline:
        deduped = pipeline | stream | DedupeWithinHorizon(None)
        assert_that(deduped["complaints"] | beam.Map(lambda c: c["copy"]), equal_to([1]), label="FirstOnly")
        assert_that(deduped["tallies"] | beam.Map(lambda t: "duplicate"), equal_to(["duplicate"]), label="OneDuplicate")
