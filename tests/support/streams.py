"""A streaming scenario the Prism and Flink end-to-end tests both run."""

import uuid

from tests.support.warehouse import read_table


def stream_totals(output_dir):
    """``stream_counts``' totals per source of every run in ``output_dir``."""
    from beam_pipelines.streaming import stream_totals as totals

    return totals(str(output_dir))


def stream_with_a_partition_that_gets_nothing(kafka_services, generated_day, tmp_path, runner_args=()):
    """A live job (on Prism, or on the runner ``runner_args`` choose) over topics of two partitions each, where
    the day's tweets all land in one partition and the web-form topic gets nothing at all (a quiet channel; a
    producer that fills one partition): the watermark still moves, so windows close and every tweet is
    committed and counted. With Beam 2.72's CreateTime policy, a partition that has delivered nothing since the
    job started holds every window open for good."""
    import signal
    import subprocess
    import sys
    import time

    from confluent_kafka import Producer

    from ingest.replay import channel_messages
    from ingest.transport import KafkaConfig, KafkaPublisher
    from tests.support.paths import REPO

    topics = {"twitter": f"quiet{uuid.uuid4().hex[:8]}.twitter", "webform": f"quiet{uuid.uuid4().hex[:8]}.webforms"}
    KafkaPublisher(KafkaConfig(bootstrap_servers=kafka_services["bootstrap_servers"], topics=topics)).ensure_topics(
        partitions=2
    )
    producer = Producer({"bootstrap.servers": kafka_services["bootstrap_servers"]})
    tweets = [payload for source, payload, _ in channel_messages(str(generated_day["dir"])) if source == "twitter"]
    for payload in tweets:
        producer.produce(topics["twitter"], value=payload, partition=0)
    assert producer.flush(30) == 0

    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "stream",
            "run",
            "--transport",
            "kafka",
            "--bootstrap-servers",
            kafka_services["bootstrap_servers"],
            "--twitter-topic",
            topics["twitter"],
            "--webform-topic",
            topics["webform"],
            "--output-dir",
            str(tmp_path),
            "--window-seconds",
            "5",
            "--allowed-lateness",
            "30",
            "--expansion-service",
            kafka_services["expansion_service"],
            "--quiet",
            "--group-id",
            f"quiet-{uuid.uuid4().hex[:6]}",
            *runner_args,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, totals = time.monotonic() + 180, {}
        while time.monotonic() < deadline:
            totals = stream_totals(tmp_path)
            if totals.get("twitter", {}).get("read", 0) >= len(tweets) and totals["twitter"]["balanced"]:
                break
            assert job.poll() is None, job.stderr.read()[-3000:]
            time.sleep(1)
    finally:
        job.send_signal(signal.SIGINT)
        try:
            job.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            job.kill()
            raise
    assert "twitter" in totals, "nothing was counted in 180 s: no window closed (the watermark did not move)"
    expected = generated_day["expected"]["twitter"]
    assert {outcome: totals["twitter"][outcome] for outcome in ("read", "written", "rejected", "duplicates")} == {
        outcome: expected.get(outcome, 0) for outcome in ("read", "written", "rejected", "duplicates")
    }, totals
    assert "webform" not in totals  # nothing arrived there, and nothing was made up
    complaints = read_table(tmp_path / "warehouse" / "complaints").to_pylist()
    assert len(complaints) == expected["written"] and {row["source"] for row in complaints} == {"twitter"}
