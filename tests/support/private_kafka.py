"""A private single-node Kafka broker (KRaft) for a test that must stop and restart its broker: its own ports and
data directory, from the jars ``runners/local_services.py fetch`` put in ``.services/kafka/libs``. The shared
broker on 9092 is never touched.

    with PrivateKafka(tmp_path / "kafka") as kafka:
        kafka.bootstrap_servers     # "localhost:PORT"
        kafka.stop()                # SIGTERM, wait until it has exited and the port is free
        kafka.start()               # the same data directory: topics and messages are still there
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIBS = Path(os.environ.get("COMPLAINTS_SERVICES_DIR", REPO / ".services")) / "kafka" / "libs"
LOG4J = REPO / "runners" / "services" / "kafka" / "log4j2.properties"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class PrivateKafka:
    """One broker+controller in KRaft mode under ``home`` (config, data, log). ``available()`` says whether the
    jars are there; the constructor does not start it (``start()`` or ``with`` does)."""

    def __init__(self, home: Path, port: int | None = None, heap: str = "-Xmx384m"):
        self.home, self.heap = Path(home), heap
        self.port, self.controller_port = port or free_port(), free_port()
        self.process: subprocess.Popen | None = None
        self.home.mkdir(parents=True, exist_ok=True)
        self.data, self.config, self.log = self.home / "data", self.home / "server.properties", self.home / "kafka.log"

    @staticmethod
    def available() -> bool:
        return LIBS.is_dir() and any(LIBS.glob("kafka_*.jar"))

    @property
    def bootstrap_servers(self) -> str:
        return f"localhost:{self.port}"

    def _java(self, *arguments: str) -> list[str]:
        return ["java", self.heap, f"-Dlog4j2.configurationFile={LOG4J}", "-cp", f"{LIBS}/*", *arguments]

    def _write_config(self) -> None:
        self.config.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.voters=1@localhost:{self.controller_port}",
            f"listeners=PLAINTEXT://localhost:{self.port},CONTROLLER://localhost:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://localhost:{self.port}",
            "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={self.data}", "num.partitions=2",
            "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1", "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1", "group.initial.rebalance.delay.ms=0",
            "offsets.topic.num.partitions=1",  # a consumer group in seconds, not 50 partitions
            "auto.create.topics.enable=true",
        ]) + "\n")

    def start(self, timeout: float = 120) -> None:
        """Start the broker (formatting its data directory the first time) and wait until it listens."""
        if self.process is not None and self.process.poll() is None:
            return
        if not self.config.exists():
            self._write_config()
        if not (self.data / "meta.properties").exists():
            subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", "pRiVaTeKaFkAcLuStEr01g", "-c",
                                      str(self.config)), check=True, capture_output=True, timeout=120)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self._java("kafka.Kafka", str(self.config)), stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not listening(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"private Kafka exited with {self.process.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"private Kafka not listening on {self.port} after {timeout:.0f} s; see {self.log}")
            time.sleep(0.3)

    def stop(self, timeout: float = 60) -> None:
        """Stop the broker this object started (SIGTERM, then SIGKILL after ``timeout``); idempotent."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        while listening(self.port):
            time.sleep(0.2)

    def create_topic(self, topic: str, partitions: int = 2, timeout: float = 60) -> None:
        """Create ``topic`` and wait until the broker's metadata shows a leader for each partition. Producing to
        a topic created a moment before can meet metadata that still says it does not exist, and librdkafka's
        idempotent producer may then confirm a message the broker never stored (librdkafka issues 3712, 4904):
        a test that counts every message waits here first."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 3})
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(timeout)
        deadline = time.monotonic() + timeout
        while True:
            found = admin.list_topics(topic, timeout=10).topics.get(topic)
            if found and found.error is None and len(found.partitions) == partitions and \
                    all(partition.leader >= 0 for partition in found.partitions.values()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic} has no leader on the private broker after {timeout:.0f} s")
            time.sleep(0.2)

    def __enter__(self) -> "PrivateKafka":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
