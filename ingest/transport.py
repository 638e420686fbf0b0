"""The live topics of the channels and their publishers, outside Beam.

Each live channel has its own topic on Kafka (self-hosted, Flink) or Pub/Sub (Dataflow); a web form's body kind
travels as the ``content_type`` header/attribute. Publishing to Kafka uses librdkafka (confluent-kafka) with an
idempotent producer; to Pub/Sub the Google client, which honours ``PUBSUB_EMULATOR_HOST``. The streaming
pipeline's readers of the same topics are ``transforms/sources/live.py``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

# librdkafka's own log (one line per failed connection attempt) goes through Python logging, quiet by default:
# failures reach the user as one TransportError line.
_LIBRDKAFKA_LOG = logging.getLogger("complaints.librdkafka")
_LIBRDKAFKA_LOG.setLevel(logging.CRITICAL)
DEFAULT_TOPICS = {"twitter": "complaints.twitter", "webform": "complaints.webforms"}
JSON, FORM = "application/json", "application/x-www-form-urlencoded"


def add_transport_arguments(parser, required: bool = True) -> None:
    """The flags that name a transport and its topics, shared by the streaming pipeline and the publishers. Each
    has a dash and an underscore spelling (Beam's pipeline options use the latter); the broker list's is
    ``--kafka_bootstrap_servers``, since Beam's Kafka Streams runner options own ``--bootstrap_servers``."""
    def flag(name, alias, **kwargs):
        parser.add_argument(f"--{name}", alias, dest=alias[2:], **kwargs)

    parser.add_argument("--transport", required=required, choices=("kafka", "pubsub"))
    flag("bootstrap-servers", "--kafka_bootstrap_servers", default=os.environ.get("COMPLAINTS_KAFKA", "localhost:9092"),
         help="Kafka brokers (default localhost:9092 or COMPLAINTS_KAFKA)")
    flag("pubsub-project", "--pubsub_project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", ""),
         help="Google Cloud project of the Pub/Sub topics")
    flag("twitter-topic", "--twitter_topic", default=DEFAULT_TOPICS["twitter"])
    flag("webform-topic", "--webform_topic", default=DEFAULT_TOPICS["webform"])


class TransportError(Exception):
    """The transport cannot be reached or is misconfigured; the message says what to fix."""


@dataclass
class KafkaConfig:
    bootstrap_servers: str = "localhost:9092"
    topics: dict = field(default_factory=lambda: dict(DEFAULT_TOPICS))
    group_id: str = "complaints-stream"
    expansion_service: str = "localhost:18097"
    max_records: int | None = None  # a bounded read (tests, benchmarks, backfills); None = run until stopped
    # Commit offsets when a bundle's output is final (needs a runner with stable input: Flink, Dataflow).
    # Off, the consumer auto-commits what it has read: Prism has no stable input (nor checkpoints).
    commit_on_finalize: bool = True


@dataclass
class PubSubConfig:
    project: str = ""
    topics: dict = field(default_factory=lambda: dict(DEFAULT_TOPICS))
    subscriptions: dict = field(default_factory=dict)  # source -> subscription name; default <topic>-stream


class KafkaPublisher:
    """Publishes channel payloads to their Kafka topics (acks=all, idempotent producer)."""

    def __init__(self, config: KafkaConfig):
        from confluent_kafka import Producer

        self.topics, self.servers = config.topics, config.bootstrap_servers
        self._producer = Producer({"bootstrap.servers": config.bootstrap_servers, "enable.idempotence": True,
                                   "linger.ms": 20, "socket.timeout.ms": 10000, "message.timeout.ms": 30000,
                                   "logger": _LIBRDKAFKA_LOG})
        self._errors: list[str] = []

    def _delivered(self, error, message):
        if error is not None:
            self._errors.append(str(error))

    def publish(self, source: str, payload: bytes, attributes: dict | None = None, on_delivery=None) -> None:
        """Queue one message. ``on_delivery``, if given, is called once, from a later ``poll`` or ``flush``, with
        None (the broker has it) or the error's text; such a failure is the caller's, and ``flush`` does not
        raise for it."""
        headers = [(key, str(value).encode("utf-8")) for key, value in (attributes or {}).items()]
        report = self._delivered if on_delivery is None else \
            (lambda error, message: on_delivery(None if error is None else str(error)))
        while True:
            try:
                self._producer.produce(self.topics[source], value=payload, headers=headers, on_delivery=report)
                break
            except BufferError:  # the local queue is full: let deliveries drain
                self._producer.poll(0.5)
        self._producer.poll(0)

    def poll(self, timeout: float = 0) -> None:
        """Serve the delivery reports that have come (``on_delivery``), waiting up to ``timeout`` s for one."""
        self._producer.poll(timeout)

    def ensure_topics(self, partitions: int = 2, timeout: float = 15) -> list[str]:
        """Create the channel topics that do not exist yet (KafkaIO refuses to read a missing topic);
        returns the ones created."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.servers, "logger": _LIBRDKAFKA_LOG})
        existing = set(admin.list_topics(timeout=timeout).topics)
        missing = sorted(set(self.topics.values()) - existing)
        if not missing:
            return []
        futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)
                                       for topic in missing])
        for topic, future in futures.items():
            try:
                future.result(timeout)
            except Exception as error:  # noqa: BLE001 - a topic created meanwhile is fine
                if "TOPIC_ALREADY_EXISTS" not in str(error):
                    raise TransportError(f"cannot create Kafka topic {topic}: {error}") from None
        return missing

    def flush(self, timeout: float = 60) -> None:
        remaining = self._producer.flush(timeout)
        errors, self._errors = self._errors, []
        if remaining or errors:
            raise TransportError(f"Kafka did not accept {remaining + len(errors)} messages "
                                 f"({(errors or ['timed out'])[0]})")

    def check(self, timeout: float = 5) -> None:
        """Fail fast, with one clear line, when the broker cannot be reached."""
        try:
            self._producer.list_topics(timeout=timeout)
        except Exception as error:  # noqa: BLE001 - librdkafka raises KafkaException with a code
            raise TransportError(f"cannot reach Kafka at {self.servers}: {error}") from None


class PubSubPublisher:
    """Publishes channel payloads to their Pub/Sub topics (honours ``PUBSUB_EMULATOR_HOST``)."""

    def __init__(self, config: PubSubConfig):
        from google.cloud import pubsub_v1

        if not config.project:
            raise TransportError("Pub/Sub needs a project: pass --pubsub-project")
        self._client = pubsub_v1.PublisherClient()
        self._paths = {source: self._client.topic_path(config.project, topic)
                       for source, topic in config.topics.items()}
        self._futures = []

    def publish(self, source: str, payload: bytes, attributes: dict | None = None, on_delivery=None) -> None:
        """Queue one message; ``on_delivery`` as for ``KafkaPublisher.publish`` (called on the client's thread)."""
        future = self._client.publish(self._paths[source], payload,
                                      **{k: str(v) for k, v in (attributes or {}).items()})
        if on_delivery is None:
            self._futures.append(future)
        else:
            future.add_done_callback(lambda done: on_delivery(None if done.exception() is None
                                                              else str(done.exception())))

    def poll(self, timeout: float = 0) -> None:
        return None

    def flush(self, timeout: float = 60) -> None:
        failures = []
        for future in self._futures:
            try:
                future.result(timeout=timeout)
            except Exception as error:  # noqa: BLE001
                failures.append(str(error))
        self._futures = []
        if failures:
            raise TransportError(f"Pub/Sub did not accept {len(failures)} messages ({failures[0]})")

    def check(self, timeout: float = 10) -> None:
        return None


def content_type_of(file_name: str) -> str:
    """A web-form file's body kind: urlencoded for ``.form``, JSON otherwise."""
    return FORM if file_name.removesuffix(".gz").endswith(".form") else JSON



def publisher_for(config: KafkaConfig | PubSubConfig):
    """A Kafka or Pub/Sub publisher for ``config``, checked against its broker (``TransportError`` if not)."""
    publisher = KafkaPublisher(config) if isinstance(config, KafkaConfig) else PubSubPublisher(config)
    publisher.check()
    return publisher
