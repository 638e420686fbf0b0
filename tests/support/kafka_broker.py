"""A private Kafka broker for tests that must stop, kill or restart one: its own ports and data directory,
started from the jars that ``runners/local_services.py fetch`` puts in ``.services/kafka/libs`` (the shared
broker on 9092 is never touched). KRaft mode, one node, the same ``server.properties`` as the shared broker.

    def test_outage(private_kafka):
        private_kafka.stop()      # SIGTERM, waits until it is gone
        private_kafka.start()     # same port, same data: the topics and their messages are still there

A broker takes 10-20 s to start on a busy machine, so the fixture is shared by a module; ``tests/conftest.py``
registers this module as a plugin, so every test module has it without an import.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from runners import local_services
from tests.support.ports import free_port, listening


class BrokerError(Exception):
    pass


class PrivateKafka:
    """One KRaft broker in ``workdir`` (``data/``, ``server.properties``, ``broker.log``) on two free ports.

    ``start()`` formats the data directory the first time and returns once the broker answers a metadata
    request; ``stop()`` ends it with SIGTERM (SIGKILL after ``grace`` seconds), ``kill()`` with SIGKILL at once.
    Both keep the data, so a later ``start()`` is a restart of the same broker on the same port."""

    def __init__(self, workdir: Path, libs: Path | None = None, heap: str = "384m"):
        self.workdir = Path(workdir)
        self.libs = Path(libs or local_services.HOME / "kafka" / "libs")
        self.port, self.controller_port = free_port(), free_port()
        self.heap = heap
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"localhost:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "broker.log"

    def available(self) -> str | None:
        """Why this broker cannot run here (no jars, no java), or None."""
        if not (self.libs / f"kafka-clients-{_kafka_version(self.libs)}.jar").exists():
            return f"no Kafka jars in {self.libs} (python runners/local_services.py fetch)"
        if subprocess.run(["java", "-version"], capture_output=True).returncode != 0:
            return "no java on PATH"
        return None

    def _java(self, *arguments: str) -> list[str]:
        return ["java", f"-Xmx{self.heap}", *local_services.kafka_log_options(), "-cp", f"{self.libs}/*", *arguments]

    def _format(self, config: Path) -> None:
        if (self.workdir / "data" / "meta.properties").exists():
            return
        # Kafka's cluster id: 16 random bytes, base64url without padding (what ``StorageTool random-uuid`` prints;
        # like Kafka's own, never one that starts with "-", which a command line would read as an option)
        cluster = "-"
        while cluster.startswith("-"):
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster}", "-c", str(config)),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BrokerError(f"cannot format {self.workdir / 'data'}: {(result.stdout + result.stderr)[-1500:]}")

    def start(self, timeout: float = 120) -> None:
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "server.properties"
        config.write_text(local_services.kafka_properties(self.port, self.controller_port, self.workdir / "data"))
        self._format(config)
        deadline = time.monotonic() + timeout
        while listening(self.port) and time.monotonic() < deadline:  # a port still held by a stopped broker
            time.sleep(0.2)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                self._java("kafka.Kafka", str(config)), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"private Kafka exited with {self.process.returncode}; see {self.log_file}")
            if listening(self.port) and self._answers():
                return
            time.sleep(0.3)
        self.kill()
        raise BrokerError(f"private Kafka not ready on port {self.port} after {timeout:.0f} s; see {self.log_file}")

    def _answers(self) -> bool:
        from confluent_kafka.admin import AdminClient

        try:
            metadata = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0}).list_topics(timeout=2)
        except Exception:  # noqa: BLE001 - not ready yet
            return False
        return bool(metadata.brokers)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 30) -> None:
        """A clean shutdown (SIGTERM to the broker's process group), SIGKILL if it is not gone in ``grace`` s."""
        self._signal(signal.SIGTERM, grace)

    def kill(self) -> None:
        """A crash: SIGKILL, nothing flushed or handed over."""
        self._signal(signal.SIGKILL, 10)

    def _signal(self, which: int, grace: float) -> None:
        if not self.running:
            return
        try:
            os.killpg(self.process.pid, which)
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass

    def create_topic(self, topic: str, partitions: int = 2, timeout: float = 60) -> None:
        """Create ``topic`` and wait until the broker's metadata shows a leader for each partition. Producing to
        a topic created a moment before can meet metadata that still says it does not exist, and librdkafka's
        idempotent producer may then confirm a message the broker never stored (librdkafka issues 3712, 4904):
        a test that counts every message waits here first."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(timeout)
        deadline = time.monotonic() + timeout
        while True:
            found = admin.list_topics(topic, timeout=10).topics.get(topic)
            if (
                found
                and found.error is None
                and len(found.partitions) == partitions
                and all(partition.leader >= 0 for partition in found.partitions.values())
            ):
                return
            if time.monotonic() > deadline:
                raise BrokerError(f"topic {topic} has no leader on the private broker after {timeout:.0f} s")
            time.sleep(0.2)


def _kafka_version(libs: Path) -> str:
    jars = sorted(libs.glob("kafka-clients-*.jar"))
    return jars[-1].name.removeprefix("kafka-clients-").removesuffix(".jar") if jars else "?"


def consume_all(
    bootstrap_servers: str, topic: str, timeout: float = 30.0, idle: float = 3.0, expected: int | None = None
) -> list:
    """Every message on ``topic`` from the beginning (a fresh consumer group): reads until ``expected`` messages
    arrived, or, without ``expected``, until nothing new came for ``idle`` seconds; ``timeout`` bounds both."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    consumer.subscribe([topic])
    messages, deadline, last = [], time.monotonic() + timeout, time.monotonic()
    try:
        while time.monotonic() < deadline:
            if expected is not None and len(messages) >= expected:
                break
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
                last = time.monotonic()
            elif expected is None and messages and time.monotonic() - last > idle:
                break
    finally:
        consumer.close()
    return messages


@pytest.fixture(scope="module")
def private_kafka(tmp_path_factory):
    """A private broker for the module (skipped on a laptop without the jars; fails under
    ``COMPLAINTS_REQUIRE_SERVICES=1``); a test that stops it must start it again before it ends."""
    from tests.support.services import unavailable

    broker = PrivateKafka(tmp_path_factory.mktemp("private-kafka"))
    missing = broker.available()
    if missing:
        unavailable(missing)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
