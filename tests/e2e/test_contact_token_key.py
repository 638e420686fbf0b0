"""The contact-token key never travels with a pipeline the command line builds: the batch and the streaming graph
carry where the key is (``COMPLAINTS_CONTACT_TOKEN_KEY``) and a check of it, and the workers read the key as their
enrichment step sets up. With a known key in the launcher's environment (as Kubernetes' ``complaints-secrets``
gives it), the key is nowhere in the pipeline's proto (its pickled payloads decoded), its options, its outputs
or its logs, while every contact token written is exactly the one that key makes: a control run of the same day,
given the key by value through the library, writes the same token for every complaint."""

import datetime as dt
import json
import logging
import pickle
import secrets

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from beam_pipelines import batch
from beam_pipelines.config import load_settings
from tests.support.pickled import RecordingRunner, pipeline_bytes
from transforms import Clean, Dedupe, Enrich, ReadFromChannelFiles, Validate, ValidationRules
from transforms.enrichment import TOKEN_KEY_ENV, key_check
from warehouse.catalog import CatalogConfig
from warehouse.read import read_arrow

pytestmark = [pytest.mark.e2e]

DATE = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def small_day(tmp_path_factory):
    from beam_pipelines.generator import generate

    input_dir = tmp_path_factory.mktemp("input")
    generate(str(input_dir), DATE, volume=300, seed=31, defect_rate=0.1)
    return input_dir


@pytest.fixture
def the_key(monkeypatch):
    """A key of this test's own in the launcher's environment, as a deployment's secret puts it there."""
    key = "key-" + secrets.token_hex(16)
    monkeypatch.setenv(TOKEN_KEY_ENV, key)
    return key


def tokens_by_value(input_dir, key: str, tmp_path) -> dict:
    """complaint_id -> contact_token of the same day, the key given by value to the library (the control)."""
    out = tmp_path / "control.pkl"

    def write(rows):
        out.write_bytes(pickle.dumps({row["complaint_id"]: row["contact_token"] for row in rows}))

    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        read = pipeline | ReadFromChannelFiles(str(input_dir))
        enriched = (
            read
            | Clean()
            | Validate(ValidationRules(batch_date=DATE))
            | Dedupe()
            | Enrich(customers=read.customers, contact_token_key=key)
        )
        _ = enriched.complaints | beam.FlatMap(lambda shard: shard.records) | beam.combiners.ToList() | beam.Map(write)
    return pickle.loads(out.read_bytes())


def test_the_batch_writes_the_keys_tokens_though_its_pipeline_never_held_the_key(
    small_day, the_key, tmp_path, monkeypatch, caplog, capfd
):
    settings = load_settings("dev")
    assert settings.contact_token_key_source == "environment"
    sent = {}

    monkeypatch.setattr(batch, "make_runner", lambda name: RecordingRunner(sent))
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    plan = batch.plan_batch(
        str(small_day),
        str(out),
        settings,
        batch_date=DATE,
        # two worker processes: the key is read there, from the environment they inherit, not from the pipeline
        beam_args=["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    )
    manifest = batch.run_batch(plan, settings)
    assert manifest["status"] == "succeeded" and manifest["contact_token_key"] == "environment"

    written = read_arrow(CatalogConfig(str(out / "warehouse")), "complaints").to_pylist()
    tokens = {row["complaint_id"]: row["contact_token"] for row in written}
    assert len(tokens) == manifest["committed_rows"]["complaints"]["written"] > 0
    assert sum(1 for token in tokens.values() if token) > len(tokens) // 2
    # exactly the key's tokens (a worker that had found no key would have made the development key's)
    control = tokens_by_value(small_day, the_key, tmp_path)
    assert tokens == {complaint_id: control[complaint_id] for complaint_id in tokens}
    secret = the_key.encode()
    assert secret not in sent["pipeline"]
    # what it carries instead (so the search does reach the pickled enrichment step): where the key is, its check
    assert TOKEN_KEY_ENV.encode() in sent["pipeline"] and key_check(secret).encode() in sent["pipeline"]
    assert secret not in sent["options"]
    left = [path for path in out.rglob("*") if path.is_file() and secret in path.read_bytes()]
    assert left == [] and list((out / "_runs").glob("*.json"))
    printed = capfd.readouterr()
    assert the_key not in caplog.text and the_key not in printed.out and the_key not in printed.err


def test_the_stream_writes_the_keys_tokens_though_its_pipeline_never_held_the_key(the_key, tmp_path, caplog, capfd):
    """The streaming graph (one complaint at a time, through RunInference) on Beam's streaming DirectRunner: two
    web forms, one giving a phone number and one an e-mail address, get exactly the tokens the key makes of them."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
    from apache_beam.testing.test_stream import TestStream
    from apache_beam.transforms.window import TimestampedValue

    from beam_pipelines.config import StreamingSettings
    from beam_pipelines.parameters import stream_timing
    from beam_pipelines.streaming import StreamPlan, build_stream_graph
    from transforms.aggregates import SpikeRules
    from transforms.enrichment import contact_token
    from transforms.sources.messages import message_record

    arrival = dt.datetime(2026, 11, 26, 9, 0, 5, tzinfo=dt.UTC)
    by_phone = json.dumps(
        {
            "submission_id": "wf-phone",
            "submitted_at": "2026-11-26T09:00:01Z",
            "fields": {"message": "my data bundle vanished", "phone": "08031234567"},
        }
    ).encode()
    by_email = (
        b"submission_id=wf-email&submitted_at=2026-11-26T09%3A00%3A02Z&full_name=Ada&email=ada%40example.com"
        b"&message=I+was+billed+twice+this+month"
    )
    kinds = {"application/json": by_phone, "application/x-www-form-urlencoded": by_email}
    messages = [
        TimestampedValue(
            message_record("webform", body, f"topic/0/{n}", n, arrival, {"content_type": kind}, "run-test", "s-test"),
            arrival.timestamp(),
        )
        for n, (kind, body) in enumerate(kinds.items())
    ]
    stream = TestStream().advance_watermark_to(arrival.timestamp()).add_elements(messages)
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(runner=BundleBasedDirectRunner(), options=options)
    out = tmp_path / "out"
    plan = StreamPlan(str(out), "s-test", stream_timing(StreamingSettings()), SpikeRules())
    caplog.set_level(logging.DEBUG)
    build_stream_graph(pipeline | stream.advance_watermark_to_infinity(), plan, load_settings("dev"))
    sent = pipeline_bytes(pipeline)
    pipeline.run().wait_until_finish()

    written = read_arrow(CatalogConfig(str(out / "warehouse")), "complaints").to_pylist()
    tokens = {row["source_record_id"]: row["contact_token"] for row in written}
    assert tokens == {
        "wf-phone": contact_token({"msisdn_e164": "+2348031234567"}, the_key.encode()),
        "wf-email": contact_token({"email": "ada@example.com"}, the_key.encode()),
    }
    secret = the_key.encode()
    assert secret not in sent and key_check(secret).encode() in sent
    assert [path for path in out.rglob("*") if path.is_file() and secret in path.read_bytes()] == []
    printed = capfd.readouterr()
    assert the_key not in caplog.text and the_key not in printed.out and the_key not in printed.err
