"""What the schedules run besides the pipelines: ``complaints alert``, the model registry (``complaints model
promote|rollback``) and the lake's retention (``complaints warehouse maintain``)."""

import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

from models import registry
from tests.support.cli import run_cli
from tests.support.models import write_fixture
from tests.support.paths import REPO


def _alert(*args, stdin="", env=None):
    return subprocess.run(
        [sys.executable, "-m", "beam_pipelines", "alert", *args],
        input=stdin,
        text=True,
        capture_output=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.fixture()
def webhook():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(
                (self.headers["Content-Type"], json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_alert_posts_the_json_payload_to_the_profiles_webhook(webhook, tmp_path):
    url, received = webhook
    profile = tmp_path / "ops.toml"
    profile.write_text(f'[security]\ncontact_token_key = "x"\n[alerts]\nwebhook_url = "{url}"\n')
    result = _alert("--profile", str(profile), stdin=json.dumps({"dag_id": "d", "task_id": "t", "reason": "r"}))
    assert result.returncode == 0, result.stderr
    assert "alert delivered (200)" in result.stdout
    content_type, payload = received[0]
    assert content_type == "application/json"
    assert payload["dag_id"] == "d" and payload["reason"] == "r" and "sent_at" in payload


def test_alert_without_a_webhook_prints_and_an_unreachable_one_prints_and_fails(tmp_path):
    printed = _alert("--message", "feed silent")
    assert printed.returncode == 0 and printed.stdout.startswith("ALERT ")
    assert json.loads(printed.stdout[len("ALERT ") :])["message"] == "feed silent"
    unreachable = _alert("--message", "x", env={"COMPLAINTS_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/none"})
    assert unreachable.returncode == 4 and "ALERT " in unreachable.stdout  # not lost: in the log
    assert unreachable.stderr.count("\n") == 1 and "did not take the alert" in unreachable.stderr
    bad = _alert(stdin="not json")
    assert bad.returncode == 2 and "not a JSON object" in bad.stderr and "Traceback" not in bad.stderr


def _model(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model_card.json").write_text(json.dumps({"version": name}))
    return folder


def test_promotion_follows_the_held_out_scores_and_rollback_returns_to_the_previous_model(tmp_path, monkeypatch):
    scores = {None: 0.70, "a": 0.80, "b": 0.75, "c": 0.80}

    def fake_score(model_dir, *args, **kwargs):
        """Held-out scores chosen by the test (the rules model, None, scores 0.70)."""
        name = None
        if model_dir is not None:
            with open(os.path.join(model_dir, "model_card.json")) as card:
                name = json.load(card)["version"]
        return {"model_version": name or "rules", "macro_f1": scores[name], "accuracy": 0.0, "examples": 10}

    monkeypatch.setattr(registry, "score", fake_score)
    models = tmp_path / "registry"
    first = registry.promote(str(_model(tmp_path, "a")), str(models), "holdout.csv", "text", "category")
    assert first["promoted"] and registry.current_dir(models).name == "a"
    assert not (models / "previous").exists()  # the rules model was serving: nothing to roll back to

    worse = registry.promote(str(_model(tmp_path, "b")), str(models), "holdout.csv", "text", "category")
    assert not worse["promoted"] and registry.current_dir(models).name == "a"
    assert not (models / "versions" / "b").exists()

    tie = registry.promote(str(_model(tmp_path, "c")), str(models), "holdout.csv", "text", "category")
    assert tie["promoted"]  # at least as good
    assert registry.current_dir(models).name == "c" and (models / "previous").resolve().name == "a"

    back = registry.rollback(str(models))
    assert registry.current_dir(models).name == "a" and (models / "previous").resolve().name == "c"
    assert back["event"] == "rollback"
    log = [json.loads(line) for line in (models / "promotions.jsonl").read_text().splitlines()]
    assert [entry.get("promoted", entry["event"]) for entry in log] == [True, False, True, "rollback"]
    assert all(os.path.islink(models / link) for link in ("current", "previous"))


def test_promote_model_scores_real_models_on_the_held_out_file(tmp_path):
    (tmp_path / "train").mkdir()
    write_fixture(tmp_path / "train" / "fixture.labelled.csv")
    write_fixture(tmp_path / "holdout.csv", count=200, seed=99)
    trained = run_cli("model", "train", "--data", str(tmp_path / "train"), "--output-dir", str(tmp_path / "candidate"))
    assert trained.returncode == 0, trained.stderr[-2000:]
    result = run_cli(
        "model",
        "promote",
        "--candidate",
        str(tmp_path / "candidate"),
        "--registry",
        str(tmp_path / "models"),
        "--holdout",
        str(tmp_path / "holdout.csv"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    decision = json.loads(result.stdout.strip().splitlines()[-1])
    assert decision["serving"]["model_version"].startswith("rules-")
    assert decision["promoted"] == (decision["candidate"]["macro_f1"] >= decision["serving"]["macro_f1"])
    assert (tmp_path / "models" / "current" / "model_card.json").exists() == decision["promoted"]
    missing = run_cli("model", "rollback", "--registry", str(tmp_path / "models"))
    assert missing.returncode == 3 and "no previous model" in missing.stderr


def test_maintain_removes_only_lake_partitions_older_than_the_retention(tmp_path):
    lake = tmp_path / "lake"  # beside OUT/warehouse, where maintain looks by default
    for source in ("sms", "twitter"):
        for day in ("2026-11-01", "2026-11-20", "2026-11-26"):
            partition = lake / "raw" / f"source={source}" / f"ingest_date={day}"
            partition.mkdir(parents=True)
            (partition / "b-x-00000.jsonl").write_text("{}\n")
    maintain = ("warehouse", "maintain", "--warehouse", str(tmp_path / "warehouse"))  # no table committed yet
    dry = run_cli(*maintain, "--lake-retention-days", "6", "--today", "2026-11-26", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("would remove") == 4, dry.stderr
    assert len(list(lake.rglob("*.jsonl"))) == 6
    done = run_cli(*maintain, "--lake-retention-days", "6", "--today", "2026-11-26")
    assert done.returncode == 0, done.stderr
    kept = sorted(str(path.relative_to(lake)) for path in lake.rglob("*.jsonl"))
    assert kept == [f"raw/source={source}/ingest_date=2026-11-26/b-x-00000.jsonl" for source in ("sms", "twitter")]
    everything = run_cli(*maintain, "--lake", str(lake), "--lake-retention-days", "0", "--today", "2030-01-01")
    assert everything.returncode == 0 and "keeps everything" in everything.stdout
    assert len(list(lake.rglob("*.jsonl"))) == 2
    missing = run_cli(*maintain, "--lake", str(tmp_path / "nope"))
    assert missing.returncode == 3 and "does not exist" in missing.stderr
    [line] = run_cli(*maintain, "--lake", str(lake), "--today", "26/11/2026").stderr.splitlines()
    assert "--today" in line and "YYYY-MM-DD" in line


def test_the_supervisor_reads_back_the_run_id_a_flink_job_name_carries():
    from runners.flink_supervisor import job_prefix, new_run_id, run_id_of
    from warehouse import runs

    assert new_run_id is runs.new_run_id  # the supervisor names its runs as every other run is named
    # Flink lower-cases job names: a run id complaints stream run made itself gets its capitals back
    assert run_id_of("complaints-stream-kafka-20261202t133629z-96bc5e", "stream-kafka") == "20261202T133629Z-96bc5e"
    assert run_id_of("complaints-stream-kafka-nightly-1", "stream-kafka") == "nightly-1"
    fresh = new_run_id()
    assert run_id_of(job_prefix("s") + fresh.lower(), "s") == fresh


def test_supervise_stream_refuses_flags_it_chooses_itself_and_a_stream_without_output():
    result = run_cli("stream", "supervise", "--", "--transport", "kafka", "--output-dir", "out", "--run-id", "x")
    assert result.returncode == 2 and "--run-id is chosen by the supervisor" in result.stderr
    result = run_cli(
        "stream", "supervise", "--flink-rest", "http://127.0.0.1:9", "--", "--transport", "kafka", "--output-dir", "out"
    )
    assert result.returncode == 4 and "cannot be reached" in result.stderr and "Traceback" not in result.stderr
