"""The live topics of the channels and their publishers, outside Beam.

Each live channel has its own topic on Kafka (self-hosted, Flink) or Pub/Sub (Dataflow); a web form's body kind
travels as the ``content_type`` header/attribute. Publishing to Kafka uses librdkafka (confluent-kafka) with an
idempotent producer; to Pub/Sub the Google client, which honours ``PUBSUB_EMULATOR_HOST``. The streaming
pipeline's readers of the same topics are ``transforms/sources/live.py``; the topics' configurations
(``KafkaConfig``, ``PubSubConfig``) and ``TransportError`` are the library's (``transforms/sources/transport.py``),
imported from there.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# the topics' configurations are the library's (its live readers take them); the publishers here take the same
from transforms.sources.transport import DEFAULT_TOPICS, KafkaConfig, PubSubConfig, TransportError

# librdkafka's own log (one line per failed connection attempt) goes through Python logging, quiet by default:
# failures reach the user as one TransportError line.
_LIBRDKAFKA_LOG = logging.getLogger("complaints.librdkafka")
_LIBRDKAFKA_LOG.setLevel(logging.CRITICAL)
_LOG = logging.getLogger("complaints.transport")
JSON, FORM = "application/json", "application/x-www-form-urlencoded"


def add_transport_arguments(parser, required: bool = True) -> None:
    """The flags that name a transport and its topics, shared by the streaming pipeline and the publishers. Each
    has a dash and an underscore spelling (Beam's pipeline options use the latter); the broker list's is
    ``--kafka_bootstrap_servers``, since Beam's Kafka Streams runner options own ``--bootstrap_servers``."""

    def flag(name, alias, **kwargs):
        parser.add_argument(f"--{name}", alias, dest=alias[2:], **kwargs)

    parser.add_argument("--transport", required=required, choices=("kafka", "pubsub"))
    flag(
        "bootstrap-servers",
        "--kafka_bootstrap_servers",
        default=os.environ.get("COMPLAINTS_KAFKA", "localhost:9092"),
        help="Kafka brokers (default localhost:9092 or COMPLAINTS_KAFKA)",
    )
    flag(
        "pubsub-project",
        "--pubsub_project",
        default=os.environ.get("GOOGLE_CLOUD_PROJECT", ""),
        help="Google Cloud project of the Pub/Sub topics",
    )
    flag("twitter-topic", "--twitter_topic", default=DEFAULT_TOPICS["twitter"])
    flag("webform-topic", "--webform_topic", default=DEFAULT_TOPICS["webform"])


class Outcome(enum.Enum):
    """What became of one message handed to ``deliver``, from its own delivery report."""

    DELIVERED = "delivered"  # the broker acknowledged it (acks=all)
    NOT_DELIVERED = "not_delivered"  # refused before or by the broker: it is not on the topic
    UNKNOWN = "unknown"  # sent, no answer (a timeout, a lost connection): it may or may not be there


@dataclass(frozen=True)
class Delivery:
    """One message's outcome and, when it was not delivered, the client library's reason."""

    outcome: Outcome
    detail: str = ""


class BrokerState:
    """Whether the transport can take messages now, as the client library reports it: down on "all brokers
    down" or a delivery that failed for want of a broker, up again on a delivery or a metadata answer. Safe to
    read from any thread; ``since`` is a ``time.monotonic()`` instant. A transport with no way to probe (Pub/Sub)
    sets ``recheck_after``: that long after it went down it reads as up again, so the next message tries."""

    def __init__(self, recheck_after: float | None = None):
        self.up, self.reason, self.since = True, "", time.monotonic()
        self.recheck_after = recheck_after
        self._lock = threading.Lock()

    def mark(self, up: bool, reason: str = "") -> None:
        with self._lock:
            changed = up != self.up
            if changed or (not up and self.recheck_after is not None):  # a failed recheck waits again
                self.since = time.monotonic()
            if changed:
                (_LOG.info if up else _LOG.warning)(
                    "transport %s%s", "up" if up else "down", f": {reason}" if reason else ""
                )
            self.up, self.reason = up, "" if up else reason

    def snapshot(self) -> tuple[bool, str]:
        with self._lock:
            if not self.up and self.recheck_after is not None and time.monotonic() - self.since >= self.recheck_after:
                return True, ""
            return self.up, self.reason


# delivery errors after which the message is certainly not on the topic: refused locally before it was sent, or
# refused by the broker. Any other error (a timeout, a lost connection) leaves it possibly written: UNKNOWN.
_KAFKA_NOT_WRITTEN = {
    "_PURGE_QUEUE",
    "_QUEUE_FULL",
    "_UNKNOWN_TOPIC",
    "_UNKNOWN_PARTITION",
    "_INVALID_ARG",
    "MSG_SIZE_TOO_LARGE",
    "RECORD_LIST_TOO_LARGE",
    "INVALID_RECORD",
    "TOPIC_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "UNKNOWN_TOPIC_OR_PART",
    "INVALID_REQUIRED_ACKS",
    "POLICY_VIOLATION",
    "_VALUE_SERIALIZATION",
    "_KEY_SERIALIZATION",
}
# delivery errors that say no broker is reachable: the transport counts as down until one answers again
_KAFKA_DOWN = {
    "_MSG_TIMED_OUT",
    "_TRANSPORT",
    "_ALL_BROKERS_DOWN",
    "_TIMED_OUT",
    "_RESOLVE",
    "NETWORK_EXCEPTION",
    "REQUEST_TIMED_OUT",
    "NOT_ENOUGH_REPLICAS",
    "LEADER_NOT_AVAILABLE",
}


def kafka_delivery(error) -> Delivery:
    """A confluent-kafka delivery report's error (None when acknowledged) as a ``Delivery``."""
    if error is None:
        return Delivery(Outcome.DELIVERED)
    name = error.name() if hasattr(error, "name") else str(error)
    outcome = Outcome.NOT_DELIVERED if name in _KAFKA_NOT_WRITTEN else Outcome.UNKNOWN
    return Delivery(outcome, f"{name}: {error.str() if hasattr(error, 'str') else error}")


class KafkaPublisher:
    """Publishes channel payloads to their Kafka topics (acks=all, idempotent producer).

    Two ways to publish: ``publish`` + ``flush`` (a batch: replay, the X connector) and ``deliver`` (one
    message, its own delivery report to a callback: the web-form endpoint). ``deliver`` starts a thread that
    serves librdkafka's callbacks and, while the broker is known down, asks it for metadata every second;
    ``state`` says whether it is up. ``message_timeout`` bounds how long librdkafka keeps retrying a message
    before it reports it failed."""

    def __init__(self, config: KafkaConfig, message_timeout: float = 30):
        from confluent_kafka import Producer

        self.topics, self.servers = config.topics, config.bootstrap_servers
        self.state = BrokerState()
        self._producer = Producer(
            {
                "bootstrap.servers": config.bootstrap_servers,
                "enable.idempotence": True,
                "linger.ms": 20,
                "socket.timeout.ms": 10000,
                "message.timeout.ms": int(message_timeout * 1000),
                "logger": _LIBRDKAFKA_LOG,
                "error_cb": self._client_error,
            }
        )
        self._errors: list[str] = []
        self._poller: threading.Thread | None = None
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()

    def _delivered(self, error, message):
        if error is not None:
            self._errors.append(str(error))

    def publish(self, source: str, payload: bytes, attributes: dict | None = None, on_delivery=None) -> None:
        """Queue one message. ``on_delivery``, if given, is called once, from a later ``poll`` or ``flush``, with
        None (the broker has it) or the error's text; such a failure is the caller's, and ``flush`` does not
        raise for it."""
        headers = [(key, str(value).encode("utf-8")) for key, value in (attributes or {}).items()]
        report = (
            self._delivered
            if on_delivery is None
            else (lambda error, message: on_delivery(None if error is None else str(error)))
        )
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
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1) for topic in missing]
        )
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
            raise TransportError(
                f"Kafka did not accept {remaining + len(errors)} messages ({(errors or ['timed out'])[0]})"
            )

    def check(self, timeout: float = 5) -> None:
        """Fail fast, with one clear line, when the broker cannot be reached."""
        try:
            self._producer.list_topics(timeout=timeout)
        except Exception as error:  # noqa: BLE001 - librdkafka raises KafkaException with a code
            raise TransportError(f"cannot reach Kafka at {self.servers}: {error}") from None

    def _client_error(self, error) -> None:
        """librdkafka's error callback (served by poll): "all brokers down" marks the transport down."""
        if error.name() == "_ALL_BROKERS_DOWN" or error.fatal():
            self.state.mark(False, f"{error.name()}: {error.str()}")

    def deliver(self, source: str, payload: bytes, attributes: dict | None, done: Callable[[Delivery], None]) -> None:
        """Hand one message to the producer; ``done`` gets its ``Delivery`` exactly once, from the callback
        thread (or at once, in the calling thread, when the producer's local queue is full: NOT_DELIVERED).
        Never blocks."""
        self._ensure_poller()
        headers = [(key, str(value).encode("utf-8")) for key, value in (attributes or {}).items()]

        def report(error, _message):
            delivery = kafka_delivery(error)
            if delivery.outcome is Outcome.DELIVERED:
                self.state.mark(True)
            elif error is not None and error.name() in _KAFKA_DOWN:
                self.state.mark(False, delivery.detail)
            done(delivery)

        try:
            self._producer.produce(self.topics[source], value=payload, headers=headers, on_delivery=report)
        except BufferError:
            done(Delivery(Outcome.NOT_DELIVERED, "the producer's local queue is full"))
        except Exception as error:  # noqa: BLE001 - KafkaException: refused before it was queued
            done(Delivery(Outcome.NOT_DELIVERED, f"not queued: {error}"))

    def _ensure_poller(self) -> None:
        if self._poller is not None:
            return
        with self._start_lock:
            if self._poller is None:
                self._poller = threading.Thread(
                    target=self._serve_callbacks, name="kafka-delivery-reports", daemon=True
                )
                self._poller.start()

    def _serve_callbacks(self) -> None:
        last_probe = 0.0
        while not self._stopping.is_set():
            self._producer.poll(0.1)
            up, _ = self.state.snapshot()
            if not up and time.monotonic() - last_probe >= 1.0:
                last_probe = time.monotonic()
                self._probe()

    def _probe(self) -> None:
        try:
            metadata = self._producer.list_topics(timeout=1)
        except Exception as error:  # noqa: BLE001 - still down
            self.state.mark(False, f"no answer to a metadata request: {error}")
            return
        if metadata.brokers:
            self.state.mark(True)

    def close(self, timeout: float = 10) -> int:
        """Stop the callback thread after waiting up to ``timeout`` s for what is in flight; returns how many
        messages were still undelivered."""
        remaining = self._producer.flush(timeout)
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout)
        return remaining


class PubSubPublisher:
    """Publishes channel payloads to their Pub/Sub topics (honours ``PUBSUB_EMULATOR_HOST``)."""

    def __init__(self, config: PubSubConfig):
        from google.cloud import pubsub_v1

        if not config.project:
            raise TransportError("Pub/Sub needs a project: pass --pubsub-project")
        self._client = pubsub_v1.PublisherClient()
        self._paths = {
            source: self._client.topic_path(config.project, topic) for source, topic in config.topics.items()
        }
        self._futures = []
        self.state = BrokerState(recheck_after=5.0)  # the client has no probe: try again after a while

    def publish(self, source: str, payload: bytes, attributes: dict | None = None, on_delivery=None) -> None:
        """Queue one message; ``on_delivery`` as for ``KafkaPublisher.publish`` (called on the client's thread)."""
        future = self._client.publish(
            self._paths[source], payload, **{k: str(v) for k, v in (attributes or {}).items()}
        )
        if on_delivery is None:
            self._futures.append(future)
        else:
            future.add_done_callback(
                lambda done: on_delivery(None if done.exception() is None else str(done.exception()))
            )

    def poll(self, timeout: float = 0) -> None:
        return None

    def flush(self, timeout: float = 60) -> None:
        failures = []
        for future in self._futures:
            try:
                future.result(timeout=timeout)
            except Exception as error:  # noqa: BLE001 - any refusal: all are reported in one TransportError
                failures.append(str(error))
        self._futures = []
        if failures:
            raise TransportError(f"Pub/Sub did not accept {len(failures)} messages ({failures[0]})")

    def check(self, timeout: float = 10) -> None:
        return None

    def deliver(self, source: str, payload: bytes, attributes: dict | None, done: Callable[[Delivery], None]) -> None:
        """Publish one message; ``done`` gets its ``Delivery`` from the message's own future, in the client's
        thread. Never blocks."""
        try:
            future = self._client.publish(
                self._paths[source], payload, **{k: str(v) for k, v in (attributes or {}).items()}
            )
        except Exception as error:  # noqa: BLE001 - refused before it was sent (too large, client stopped)
            done(Delivery(Outcome.NOT_DELIVERED, f"not queued: {error}"))
            return

        def report(finished):
            error = finished.exception()
            if error is None:
                self.state.mark(True)
                done(Delivery(Outcome.DELIVERED))
                return
            delivery = pubsub_delivery(error)
            if delivery.outcome is Outcome.UNKNOWN:
                self.state.mark(False, delivery.detail)
            done(delivery)

        future.add_done_callback(report)

    def close(self, timeout: float = 10) -> int:
        self._client.stop()
        return 0


def pubsub_delivery(error: BaseException) -> Delivery:
    """A failed Pub/Sub publish future's exception as a ``Delivery``: the service's refusals (a missing topic, no
    permission, an invalid message) are NOT_DELIVERED; anything else (deadline, unavailable) UNKNOWN."""
    refused = {"NotFound", "PermissionDenied", "InvalidArgument", "Unauthenticated", "FailedPrecondition"}
    outcome = Outcome.NOT_DELIVERED if type(error).__name__ in refused else Outcome.UNKNOWN
    return Delivery(outcome, f"{type(error).__name__}: {error}")


def content_type_of(file_name: str) -> str:
    """A web-form file's body kind: urlencoded for ``.form``, JSON otherwise."""
    return FORM if file_name.removesuffix(".gz").endswith(".form") else JSON


def publisher_for(config: KafkaConfig | PubSubConfig):
    """A Kafka or Pub/Sub publisher for ``config``, checked against its broker (``TransportError`` if not)."""
    publisher = KafkaPublisher(config) if isinstance(config, KafkaConfig) else PubSubPublisher(config)
    publisher.check()
    return publisher
