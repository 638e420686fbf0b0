"""Where the live channels' messages are: the Kafka and Pub/Sub topics, as the streaming pipeline's readers
(``transforms/sources/live.py``) and the ingestion edge's publishers (``ingest/transport.py``) both name them.

Each live channel has its own topic; a web form's body kind travels as the ``content_type`` header (Kafka) or
attribute (Pub/Sub). Plain data, no Beam and no client library: the library's readers and the edge, which
installs without Beam, share these types from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: each live channel's topic, unless a configuration names another
DEFAULT_TOPICS = {"twitter": "complaints.twitter", "webform": "complaints.webforms"}


class TransportError(Exception):
    """The transport cannot be reached or is misconfigured; the message says what to fix."""


@dataclass
class KafkaConfig:
    """Kafka (self-hosted, Flink): the brokers, each channel's topic (``{"twitter": ..., "webform": ...}``), the
    consumer group of the streaming read and the expansion service that serves it (a cross-language read)."""

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
    """Pub/Sub (Dataflow): the Google Cloud project, each channel's topic, and the subscription the streaming read
    takes each from (default ``<topic>-stream``)."""

    project: str = ""
    topics: dict = field(default_factory=lambda: dict(DEFAULT_TOPICS))
    subscriptions: dict = field(default_factory=dict)  # source -> subscription name; default <topic>-stream
