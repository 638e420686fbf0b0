"""Dataflow, as far as it goes without Google Cloud: the streaming Flex Template's parameters are the CLI's
flags, and both pipelines build into a Dataflow job (the runner's own job translation, ``--dry_run``: the job
is made, not submitted)."""
import json

import apache_beam as beam
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e
METADATA = REPO / "runners" / "dataflow" / "stream-metadata.json"
DATAFLOW = ["--runner=DataflowRunner", "--project=beejan-test", "--region=europe-west1",
            "--temp_location=gs://beejan-test/tmp", "--no_auth", "--dry_run=True", "--sdk_location=container",
            "--sdk_container_image=europe-docker.pkg.dev/beejan-test/complaints/complaints-worker:0.1.0"]
#: flags of `complaints stream` a Pub/Sub template does not take: Kafka's, a bounded test run's, and what the
#: template fixes (transport, runner) or leaves to the console (progress lines)
NOT_IN_TEMPLATE = {"transport", "bootstrap_servers", "kafka_bootstrap_servers", "group_id", "expansion_service",
                   "max_records", "runner", "quiet", "help"}


def _stream_flags() -> dict:
    from beam_pipelines.cli import build_parser

    parser = build_parser("stream")._subparsers._group_actions[0].choices["stream"]
    flags = {}
    for action in parser._actions:
        names = {option.lstrip("-").replace("-", "_") for option in action.option_strings}
        for name in names:
            flags[name] = action
    return flags


def test_the_templates_parameters_are_the_clis_stream_flags():
    parameters = {p["name"]: p for p in json.loads(METADATA.read_text())["parameters"]}
    flags = _stream_flags()
    assert set(parameters) <= set(flags), set(parameters) - set(flags)
    offered = {action.dest for name, action in flags.items() if name in parameters}
    every = {action.dest for action in flags.values()} - NOT_IN_TEMPLATE - {"kafka_bootstrap_servers"}
    assert offered == every, every ^ offered
    required = {name for name, p in parameters.items() if not p.get("isOptional")}
    assert {flags[name].dest for name in required} == {"output_dir", "pubsub_project"}
    for name, parameter in parameters.items():  # what the console accepts, the CLI accepts too
        assert parameter["label"] and parameter["helpText"]
        if flags[name].type is int:
            assert parameter.get("regexes"), name


@pytest.fixture
def prod_settings(monkeypatch):
    from beam_pipelines.config import load_settings

    monkeypatch.setenv("COMPLAINTS_CONTACT_TOKEN_KEY", "a-secret-for-this-test-only")
    return load_settings("prod")


def test_the_streaming_pipeline_builds_as_a_dataflow_streaming_job(prod_settings):
    from beam_pipelines.streaming import StreamPlan, build_stream_graph, read_messages
    from ingest.transport import PubSubConfig
    from runners.options import stream_pipeline

    pipeline = stream_pipeline("pubsub", "DataflowRunner", [*DATAFLOW, "--streaming"])
    plan = StreamPlan("gs://beejan-test/complaints", "stream-pubsub", model_watch="gs://beejan-test/m/*/model_card.json")
    build_stream_graph(read_messages(pipeline, "pubsub", PubSubConfig(project="beejan-test"), plan), plan,
                       prod_settings)
    job = pipeline.run().job
    assert job.proto.type.name == "JOB_TYPE_STREAMING"
    names = {transform.unique_name for transform in job.proto_pipeline.components.transforms.values()}
    for step in ("ReadMessages", "Enrich", "WriteComplaints", "WriteStreamCounts", "WriteDeadLetters"):
        assert step in names, step


def test_the_batch_pipeline_builds_as_a_dataflow_batch_job(generated_day, prod_settings):
    from beam_pipelines.batch import build_batch_pipeline, plan_batch
    from runners.options import build_options

    settings = prod_settings
    plan = plan_batch(str(generated_day["dir"]), "gs://beejan-test/complaints", settings,
                      runner="DataflowRunner", beam_args=DATAFLOW)
    pipeline = beam.Pipeline(runner="DataflowRunner", options=build_options("DataflowRunner", DATAFLOW, {}))
    build_batch_pipeline(pipeline, plan, settings)
    job = pipeline.run().job
    assert job.proto.type.name == "JOB_TYPE_BATCH"
    names = {transform.unique_name for transform in job.proto_pipeline.components.transforms.values()}
    for step in ("ReadChannelFiles/ReadAllChannels", "WriteLake", "ReadChannelFiles/GroupIntoShards", "Clean",
                 "Validate", "Dedupe", "Enrich/EnrichComplaints", "WriteWarehouse", "WriteDeadLetter", "WriteCounts"):
        assert step in names, step
