"""The pipelines' typed options: one definition for the CLI and for launchers that speak Beam's flags."""

import datetime as dt
from types import SimpleNamespace

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines.options import (
    BatchOptions,
    ComplaintsOptions,
    OptionsError,
    StreamOptions,
    check_batch,
    check_stream,
)


def test_beam_spellings_and_cli_spellings_set_the_same_options():
    options = PipelineOptions(
        [
            "--input_dir=/in",
            "--output-dir=/out",
            "--date=2026-11-26",
            "--batch_id=b1",
            "--transport=kafka",
            "--kafka_bootstrap_servers=broker:9092",
            "--window_seconds=30",
        ]
    )
    batch, common, stream = (
        options.view_as(BatchOptions),
        options.view_as(ComplaintsOptions),
        options.view_as(StreamOptions),
    )
    assert (batch.input_dir, common.output_dir, batch.batch_id) == ("/in", "/out", "b1")
    values = SimpleNamespace(
        input_dir=batch.input_dir, output_dir=common.output_dir, date=batch.date, batch_id=batch.batch_id
    )
    assert check_batch(values) == dt.date(2026, 11, 26)
    assert (stream.kafka_bootstrap_servers, stream.window_seconds) == ("broker:9092", 30)
    # Beam's own options are untouched by ours (its Kafka Streams runner owns --bootstrap_servers)
    assert options.get_all_options()["bootstrap_servers"] == "localhost:9092"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"input_dir": None}, "--input-dir is required"),
        ({"date": "26/11/2026"}, "invalid date"),
        ({"batch_id": "2026-11-26/retry"}, "--batch-id"),
        ({"batch_id": "../../x"}, "--batch-id"),
    ],
)
def test_batch_options_are_checked_up_front(values, message):
    given = {"input_dir": "/in", "output_dir": "/out", "date": None, "batch_id": None, **values}
    with pytest.raises(OptionsError, match=message):
        check_batch(SimpleNamespace(**given))


def test_stream_options_are_checked_up_front():
    values = {
        "output_dir": "/out",
        "transport": "kafka",
        "max_records": None,
        "model_watch_seconds": 60,
        "window_seconds": 60,
        "dedupe_horizon": None,
        "shards": 1,
        "allowed_lateness": -1,
        "early_firing_count": None,
    }
    with pytest.raises(OptionsError, match="--allowed-lateness: expected zero or more, got -1"):
        check_stream(SimpleNamespace(**values))
    check_stream(SimpleNamespace(**{**values, "allowed_lateness": 0}))


def test_flink_stream_flags_add_checkpoints_and_leave_the_users_own_alone():
    from runners.options import FLINK_CHECKPOINT_MS, flink_stream_flags

    unbounded = flink_stream_flags(["--parallelism=2"], bounded=False)
    assert unbounded == [f"--checkpointing_interval={FLINK_CHECKPOINT_MS}", "--finish_bundle_before_checkpointing"]
    # the interval is the stream's latency on Flink: a user's choice replaces the default, never sits beside it
    chosen = flink_stream_flags(["--checkpointing_interval=60000"], bounded=False)
    assert not any(flag.startswith("--checkpointing_interval") for flag in chosen)
    assert "--shutdown_sources_after_idle_ms=5000" in flink_stream_flags([], bounded=True)
    assert "--shutdown_sources_after_idle_ms=5000" not in unbounded
