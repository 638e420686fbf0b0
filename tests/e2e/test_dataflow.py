"""Dataflow, as far as it goes without Google Cloud: the Flex Templates' parameters are the CLI's flags, and
both pipelines build into a Dataflow job (the runner's own job translation, ``--dry_run``: the job is made, not
submitted), the batch one with its commit step inside."""

import json

import apache_beam as beam
import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.e2e
METADATA = REPO / "runners" / "dataflow" / "stream-metadata.json"
BATCH_METADATA = REPO / "runners" / "dataflow" / "batch-metadata.json"
DATAFLOW = [
    "--runner=DataflowRunner",
    "--project=beejan-test",
    "--region=europe-west1",
    "--temp_location=gs://beejan-test/tmp",
    "--no_auth",
    "--dry_run=True",
    "--sdk_location=container",
    "--sdk_container_image=europe-docker.pkg.dev/beejan-test/complaints/complaints-worker:0.1.0",
]
#: flags of `complaints stream run` a Pub/Sub template does not take: Kafka's, a bounded test run's, and what the
#: template fixes (transport, runner) or leaves to the console (progress lines)
NOT_IN_TEMPLATE = {
    "transport",
    "bootstrap_servers",
    "kafka_bootstrap_servers",
    "group_id",
    "expansion_service",
    "max_records",
    "runner",
    "quiet",
    "help",
}


#: flags of `complaints batch` the batch template does not take: what it fixes (runner, detached), leaves to the
#: console (progress lines), and the other inputs' flags (the template runs a batch of channel files; a batch of
#: the lake or of the review queue runs from a launching machine)
NOT_IN_BATCH_TEMPLATE = {"runner", "quiet", "detach", "help", "from_lake", "from_review", "start", "end", "customers"}


def _stream_flags(command: str = "stream run") -> dict:
    from beam_pipelines.cli import command_parser

    parser = command_parser(command)
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


def test_the_batch_templates_parameters_are_the_clis_batch_flags():
    parameters = {p["name"]: p for p in json.loads(BATCH_METADATA.read_text())["parameters"]}
    flags = _stream_flags("batch")
    assert set(parameters) <= set(flags), set(parameters) - set(flags)
    offered = {action.dest for name, action in flags.items() if name in parameters}
    every = {action.dest for action in flags.values()} - NOT_IN_BATCH_TEMPLATE
    assert offered == every, every ^ offered
    required = {name for name, p in parameters.items() if not p.get("isOptional")}
    assert {flags[name].dest for name in required} == {"input_dir", "output_dir"}
    for parameter in parameters.values():
        assert parameter["label"] and parameter["helpText"]
    assert "2026-11-26" == _matching(parameters["date"], "2026-11-26")


def _matching(parameter: dict, value: str) -> str | None:
    import re

    return value if all(re.fullmatch(pattern, value) for pattern in parameter.get("regexes", [])) else None


def test_the_batch_template_is_the_batch_command_detached_on_dataflow(monkeypatch):
    """The template's entry point hands its parameters to `complaints batch --detach --runner DataflowRunner`,
    which the CLI accepts as they are."""
    import runpy
    import sys

    from beam_pipelines import cli

    seen = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(argv) or 0)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "batch_template.py",
            "--input_dir=gs://b/in",
            "--output_dir=gs://b/out",
            "--date=2026-11-26",
            "--profile=prod",
        ],
    )
    with pytest.raises(SystemExit) as ended:
        runpy.run_path(str(REPO / "runners" / "dataflow" / "batch_template.py"), run_name="__main__")
    assert ended.value.code == 0
    [argv] = seen
    assert argv[:4] == ["batch", "--detach", "--runner", "DataflowRunner"]
    parsed = cli.build_parser("batch").parse_args(argv)
    assert parsed.detach and parsed.runner == "DataflowRunner" and parsed.input_dir == "gs://b/in"
    assert parsed.output_dir == "gs://b/out" and parsed.date == "2026-11-26"


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
    plan = StreamPlan(
        "gs://beejan-test/complaints", "stream-pubsub", model_watch="gs://beejan-test/m/*/model_card.json"
    )
    build_stream_graph(
        read_messages(pipeline, "pubsub", PubSubConfig(project="beejan-test"), plan), plan, prod_settings
    )
    job = pipeline.run().job
    assert job.proto.type.name == "JOB_TYPE_STREAMING"
    names = {transform.unique_name for transform in job.proto_pipeline.components.transforms.values()}
    for step in ("ReadMessages", "Enrich", "WriteComplaints", "WriteStreamCounts", "WriteDeadLetters"):
        assert step in names, step
    assert_no_token_key_in(job, prod_settings)


def test_the_batch_pipeline_builds_as_a_dataflow_batch_job(generated_day, prod_settings):
    from beam_pipelines.batch import build_batch_pipeline, plan_batch
    from runners.options import build_options

    settings = prod_settings
    plan = plan_batch(
        str(generated_day["dir"]), "gs://beejan-test/complaints", settings, runner="DataflowRunner", beam_args=DATAFLOW
    )
    pipeline = beam.Pipeline(runner="DataflowRunner", options=build_options("DataflowRunner", DATAFLOW, {}))
    build_batch_pipeline(pipeline, plan, settings)
    job = pipeline.run().job
    assert job.proto.type.name == "JOB_TYPE_BATCH"
    names = {transform.unique_name for transform in job.proto_pipeline.components.transforms.values()}
    for step in (
        "ReadChannelFiles/ReadAllChannels",
        "WriteLake",
        "ReadChannelFiles/GroupIntoShards",
        "Clean",
        "Validate",
        "Dedupe",
        "Enrich/EnrichComplaints",
        "WriteWarehouse",
        "WriteWarehouse/WriteDeadLetters",
        "WriteWarehouse/CommitRun",
    ):  # the commit is a step of the job
        assert step in names, step
    assert_no_token_key_in(job, settings)


def assert_no_token_key_in(job, settings) -> None:
    """What Dataflow is sent (the job: its steps, options and the pipeline proto, pickled payloads decoded) holds
    where the workers find the contact-token key, never the key (docs/operations/secrets.md)."""
    from tests.support.pickled import readable_bytes

    sent = readable_bytes(str(job.proto).encode()) + readable_bytes(job.proto_pipeline.SerializeToString())
    assert settings.contact_token_key not in sent
    assert b"COMPLAINTS_CONTACT_TOKEN_KEY" in sent  # the search reaches the pickled enrichment step
