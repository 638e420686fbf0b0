"""Bad use of the streaming commands: one clear line on stderr and a non-zero exit, never a traceback."""

import pytest

from tests.support.cli import run_cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "args, code, message",
    [
        (
            ["stream", "run", "--transport", "kafka", "--output-dir", "{tmp}", "--bootstrap-servers", "localhost:1"],
            3,
            "cannot reach Kafka at localhost:1",
        ),
        (
            ["stream", "run", "--transport", "kafka", "--output-dir", "{tmp}", "--window-seconds", "0"],
            2,
            "--window-seconds: expected a positive number",
        ),
        (["stream", "run", "--transport", "carrier-pigeon", "--output-dir", "{tmp}"], 2, "invalid choice"),
        (
            ["stream", "run", "--transport", "pubsub", "--output-dir", "{tmp}", "--pubsub-project", ""],
            2,
            "Pub/Sub needs --pubsub-project",
        ),
        (
            ["stream", "run", "--transport", "kafka", "--output-dir", "{tmp}", "--customers", "/nope.csv"],
            3,
            "customer file /nope.csv does not exist",
        ),
        (["stream", "run", "--transport", "kafka", "--output-dir", "{tmp}", "stray"], 2, "unexpected argument 'stray'"),
        (
            [
                "stream",
                "run",
                "--transport",
                "kafka",
                "--output-dir",
                "{tmp}",
                "--model-watch",
                "{tmp}/*/model_card.json",
            ],
            3,
            "matches no model_card.json",
        ),
        (
            [
                "stream",
                "run",
                "--transport",
                "pubsub",
                "--pubsub-project",
                "p",
                "--output-dir",
                "{tmp}",
                "--model-watch",
                "{tmp}/*/model_card.json",
            ],
            3,
            "matches no model_card.json",
        ),
        (["ingest", "publish", "--transport", "kafka", "--from", "/nonexistent"], 3, "does not exist"),
        (["ingest", "publish", "--transport", "kafka", "--from", "{tmp}", "--rate", "-3"], 2, "--rate"),
        (["ingest", "x", "--transport", "kafka"], 2, "set X_BEARER_TOKEN"),
        (["ingest", "x", "--transport", "kafka", "--backfill-minutes", "6"], 2, "--backfill-minutes: expected 0 to 5"),
        (["ingest", "x", "--transport", "kafka", "--max-in-flight", "0"], 2, "--max-in-flight: expected a positive"),
    ],
)
def test_bad_use_gives_one_line(tmp_path, args, code, message):
    result = run_cli(
        *[arg.replace("{tmp}", str(tmp_path)) for arg in args],
        env={"X_BEARER_TOKEN": "", "GOOGLE_CLOUD_PROJECT": ""},
        timeout=120,
    )
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("stream ")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
