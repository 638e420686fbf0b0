"""End to end on the real Kafka broker: ``complaints ingest publish`` replays a generated day into topics, ``complaints
stream`` reads them through our cross-language Kafka read (Beam's KafkaIO) on Prism, and the lake, warehouse and
stream_counts are read back and checked against the generator's truth and the batch pipeline's output."""

import json
import uuid
from pathlib import Path

import pytest

from tests.support.cli import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
LIVE = ("twitter", "webform")


from tests.support.streams import stream_totals  # noqa: E402 - stream_counts' totals of an output directory
from tests.support.warehouse import read_table  # noqa: E402 - the warehouse tables through their catalog


@pytest.fixture(scope="module")
def streamed(kafka_services, generated_day, tmp_path_factory):
    """The generated day published twice (a full replay: every message redelivered) and streamed once."""
    topics = {"twitter": f"t{uuid.uuid4().hex[:8]}.twitter", "webform": f"t{uuid.uuid4().hex[:8]}.webforms"}
    transport = [
        "--transport",
        "kafka",
        "--bootstrap-servers",
        kafka_services["bootstrap_servers"],
        "--twitter-topic",
        topics["twitter"],
        "--webform-topic",
        topics["webform"],
    ]
    published = 0
    for _ in range(2):
        result = run_cli("ingest", "publish", "--from", str(generated_day["dir"]), *transport)
        assert result.returncode == 0, result.stderr[-2000:]
        published += sum(int(n) for n in result.stdout.split() if n.isdigit())
    output_dir = tmp_path_factory.mktemp("stream-out")
    customers = next((Path(generated_day["dir"]) / "customers").glob("*.csv"))
    result = run_cli(
        "stream",
        "run",
        *transport,
        "--output-dir",
        str(output_dir),
        "--max-records",
        str(published),
        "--expansion-service",
        kafka_services["expansion_service"],
        "--customers",
        str(customers),
        "--group-id",
        f"e2e-{uuid.uuid4().hex[:6]}",
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return {"dir": output_dir, "published": published, "stdout": result.stdout, "stderr": result.stderr}


def test_the_stream_prints_no_harmless_runner_channel_notice(streamed):
    """Beam Java's gRPC channel notice, relayed by Prism as an ERROR, is kept off the terminal (log_filters.py)."""
    assert "ManagedChannelImpl" not in streamed["stderr"]


def test_stream_counts_balance_and_match_the_generators_truth(streamed, generated_day):
    totals = stream_totals(streamed["dir"])
    assert sum(entry["read"] for entry in totals.values()) == streamed["published"]
    for source in LIVE:
        expected = generated_day["expected"][source]
        entry = totals[source]
        assert entry["balanced"], entry
        assert entry["read"] == 2 * expected["read"]
        assert entry["written"] == expected["written"]
        assert entry["rejected"] == 2 * expected.get("rejected", 0)  # a poison message is rejected each time
        # the replay of every message that got past validation is a duplicate, plus the day's own duplicates
        replayed = expected["read"] - expected.get("rejected", 0)
        assert entry["duplicates"] == replayed + expected.get("duplicates", 0)
    assert "balanced" in streamed["stdout"]


def test_warehouse_holds_each_complaint_once_with_the_same_ids_as_batch(streamed, batch_output):
    streamed_rows = read_table(streamed["dir"] / "warehouse" / "complaints").to_pylist()
    ids = [row["complaint_id"] for row in streamed_rows]
    assert len(ids) == len(set(ids))
    batch_rows = read_table(batch_output["dir"] / "warehouse" / "complaints").to_pylist()
    batch_live = {row["complaint_id"]: row for row in batch_rows if row["source"] in LIVE}
    assert set(ids) == set(batch_live)
    for row in streamed_rows:  # same curated values as batch, whatever the edge
        twin = batch_live[row["complaint_id"]]
        for column in (
            "event_time",
            "text",
            "category",
            "priority",
            "customer_id",
            "contact_token",
            "sentiment_label",
            "route_queue",
        ):
            assert row[column] == twin[column], (column, row["complaint_id"])


def test_lake_keeps_every_message_verbatim_with_its_kafka_identity(streamed, generated_day):
    lines = [
        json.loads(line)
        for path in (streamed["dir"] / "lake" / "raw").rglob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(lines) == streamed["published"]
    identities = {line["message_id"] for line in lines}
    assert len(identities) == len(lines)  # topic/partition/offset: each message once
    tweets = [line["raw"] for line in lines if line["source"] == "twitter"]
    first_file = sorted((Path(generated_day["dir"]) / "twitter").glob("*.jsonl"))[0]
    first_line = first_file.read_bytes().splitlines()[0].decode("utf-8-sig")
    assert first_line in tweets


def test_dead_letters_carry_reason_and_raw_message(streamed):
    dead = read_table(streamed["dir"] / "warehouse" / "dead_letter").to_pylist()
    assert dead, "the generated day has poison messages"
    for record in dead:
        assert record["source"] in LIVE and record["error_type"] and record["error_message"]
        assert record["message_id"].count("/") == 2 and record["raw"] is not None


def test_live_volume_adds_up_to_the_warehouse(streamed):
    volume = read_table(streamed["dir"] / "warehouse" / "complaint_volume").to_pylist()
    complaints = read_table(streamed["dir"] / "warehouse" / "complaints").num_rows
    assert sum(row["complaints"] for row in volume) == complaints


def test_unbounded_stream_writes_while_running_and_stops_cleanly(kafka_services, generated_day, tmp_path):
    """A live job (no --max-records): windows close on the watermark while it runs; Ctrl-C stops it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.support.paths import REPO

    topics = [f"live{uuid.uuid4().hex[:8]}.twitter", f"live{uuid.uuid4().hex[:8]}.webforms"]
    transport = [
        "--transport",
        "kafka",
        "--bootstrap-servers",
        kafka_services["bootstrap_servers"],
        "--twitter-topic",
        topics[0],
        "--webform-topic",
        topics[1],
    ]
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beam_pipelines",
            "stream",
            "run",
            *transport,
            "--output-dir",
            str(tmp_path),
            "--window-seconds",
            "5",
            "--allowed-lateness",
            "30",
            "--expansion-service",
            kafka_services["expansion_service"],
            "--group-id",
            f"live-{uuid.uuid4().hex[:6]}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        published = run_cli(
            "ingest", "publish", "--from", str(generated_day["dir"]), *transport, "--rate", "50", "--limit", "150"
        )
        assert published.returncode == 0, published.stderr
        deadline, totals = time.monotonic() + 120, {}
        while time.monotonic() < deadline:
            totals = stream_totals(tmp_path)
            if sum(entry["read"] for entry in totals.values()) >= 150 and all(
                entry["balanced"] for entry in totals.values()
            ):
                break
            assert job.poll() is None, job.stderr.read()[-3000:]
            time.sleep(1)
        assert sum(entry["read"] for entry in totals.values()) == 150, totals
        assert all(entry["balanced"] for entry in totals.values()), totals
    finally:
        job.send_signal(signal.SIGINT)
        try:
            _, stderr = job.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            job.kill()
            raise
    assert job.returncode == 130 and "interrupted" in stderr
    assert "Traceback" not in stderr and "Bundle" not in stderr, stderr[-2000:]  # one line for the stop
    ids = [row["complaint_id"] for row in read_table(tmp_path / "warehouse" / "complaints").to_pylist()]
    assert len(ids) == len(set(ids)) == sum(entry["written"] for entry in totals.values())
    assert not list(tmp_path.rglob(".tmp-*")), "no half-written files left behind"
    assert os.listdir(tmp_path / "lake" / "raw")


def test_a_partition_that_gets_nothing_does_not_hold_the_windows(kafka_services, generated_day, tmp_path):
    """On Prism: see ``stream_with_a_partition_that_gets_nothing`` (the Flink test runs it too)."""
    from tests.support.streams import stream_with_a_partition_that_gets_nothing

    stream_with_a_partition_that_gets_nothing(kafka_services, generated_day, tmp_path)


def test_an_expansion_service_without_our_kafka_read_is_one_clear_line(kafka_services, tmp_path):
    """Beam's stock expansion service (the same jars, without ours) does not know our Kafka read: the stream
    says so in one line and which service to use, instead of a Java stack trace."""
    import socket
    import subprocess
    import time

    from tests.support.paths import REPO
    from tests.support.ports import listening

    libs = REPO / ".services" / "xlang" / "libs"
    classpath = ":".join(str(jar) for jar in sorted(libs.glob("*.jar")) if jar.name != "beejan-kafka-read.jar")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = subprocess.Popen(
        ["java", "-Xmx256m", "-cp", classpath, "org.apache.beam.sdk.expansion.service.ExpansionService", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            assert time.monotonic() < deadline and service.poll() is None, "the stock expansion service did not start"
            time.sleep(0.5)
        result = run_cli(
            "stream",
            "run",
            "--transport",
            "kafka",
            "--bootstrap-servers",
            kafka_services["bootstrap_servers"],
            "--expansion-service",
            f"localhost:{port}",
            "--output-dir",
            str(tmp_path / "out"),
            "--max-records",
            "1",
            "--quiet",
        )
    finally:
        service.kill()
        service.wait()
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"complaints stream run: the expansion service at localhost:{port} does not serve our Kafka read"
    ), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "java.lang" not in result.stderr


def _files_per_partition(table_dir: Path) -> dict:
    from tests.support.warehouse import live_files

    found: dict = {}
    for path in live_files(table_dir):
        found[Path(path).parent.name] = found.get(Path(path).parent.name, 0) + 1
    return found


def test_maintain_after_a_streamed_day_leaves_a_few_files_per_partition_and_the_same_rows(streamed):
    warehouse = streamed["dir"] / "warehouse"
    before = {
        name: sorted(map(str, read_table(warehouse / name).to_pylist()))
        for name in ("complaints", "complaint_volume", "dead_letter", "stream_counts")
    }
    result = run_cli(
        "warehouse",
        "maintain",
        "--warehouse",
        str(warehouse),
        "--min-files",
        "2",
        "--retention-hours",
        "0",
        "--orphan-age-hours",
        "0",
    )
    assert result.returncode == 0, result.stderr
    for name, rows in before.items():
        assert sorted(map(str, read_table(warehouse / name).to_pylist())) == rows, name
        assert max(_files_per_partition(warehouse / name).values(), default=0) <= 2, name
        on_disk = list((warehouse / name).glob("*=*/*.parquet"))
        assert len(on_disk) == sum(_files_per_partition(warehouse / name).values()), name  # orphans removed


def test_a_batch_backfill_of_the_streamed_day_holds_each_complaint_once_as_batch_made_it(
    streamed, batch_output, generated_day
):
    """The day streamed live, then its channel files run through batch into the same warehouse: every complaint
    once, with the values of batch (the later processing wins)."""
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(streamed["dir"]),
        "--date",
        generated_day["date"],
        "--quiet",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    volatile = {"run_id", "batch_id", "ingested_at"}

    def by_id(out):
        rows = read_table(out / "warehouse" / "complaints").to_pylist()
        found = {row["complaint_id"]: {k: v for k, v in row.items() if k not in volatile} for row in rows}
        assert len(found) == len(rows)
        return found

    assert by_id(streamed["dir"]) == by_id(batch_output["dir"])
