"""Readers of the live channels for the streaming pipeline: Kafka or Pub/Sub topics -> raw records.

Kafka (self-hosted, Flink): our cross-language read (``ReadLiveTopics`` in ``runners/services/xlang/src``, Beam's
Java ``KafkaIO`` served by the same expansion service as ``ReadFromKafka``), rows with the same metadata fields as
``ReadFromKafka(with_metadata=True)``, the record's CreateTime as the element timestamp, offsets committed when
bundles finalise. Its watermark differs from ``ReadFromKafka``'s CreateTime policy in one respect: a partition
that is caught up advances even if it has delivered nothing since the stream started, where Beam 2.72's holds
it, and with it every window, at the beginning of time (a quiet channel whose producer filled one of its two
partitions stalled the whole stream). It also polls for at most 1 s (KafkaIO's default is 2 s) before handing a
partition back, which on Flink shortens the read's bundles and with them the watermark's steps and checkpoints
(README, Performance). Pub/Sub (Dataflow): ``ReadFromPubSub`` with attributes, publish time as
timestamp. Topics and their settings are ``transforms.sources.transport``'s configs, shared with the publishers
(``ingest.transport``).
"""

from __future__ import annotations

import typing

import apache_beam as beam

from transforms.sources.messages import kafka_record, pubsub_record
from transforms.sources.transport import KafkaConfig, PubSubConfig, TransportError

# ReadLiveTopics's URN and expansion payload (its Java Configuration's setters, by snake_case name).
READ_LIVE_TOPICS_URN = "beejan:transform:kafka_read_live_topics:v1"


#: The payload of our Kafka read's expansion request. Beam derives its schema from the field types, so they are
#: real ``typing`` objects: the functional form (a class body's annotations would be strings under this module's
#: ``from __future__ import annotations``) and ``typing.Optional`` (Beam 2.77 reads ``int | None`` as an opaque
#: Python type, not a nullable INT64); with either, the expansion service cannot build the transform.
ReadLiveTopicsConfig = typing.NamedTuple(  # noqa: UP014 - see above
    "ReadLiveTopicsConfig",
    [
        ("consumer_config", typing.Mapping[str, str]),
        ("topics", typing.List[str]),  # noqa: UP006 - see above
        ("commit_offset_in_finalize", bool),
        ("max_num_records", typing.Optional[int]),  # noqa: UP045 - see above
    ],
)


class ReadKafkaMessages(beam.PTransform):
    """Kafka topics of the live channels -> raw records timestamped with their Kafka CreateTime; the watermark
    moves on while a partition is caught up, whether or not it has had records."""

    def __init__(self, config: KafkaConfig, run_id: str, stream_id: str):
        super().__init__()
        self.config, self.run_id, self.stream_id = config, run_id, stream_id

    def expand(self, pipeline):
        from apache_beam.transforms.external import ExternalTransform, NamedTupleBasedPayloadBuilder

        config, run_id, stream_id = self.config, self.run_id, self.stream_id
        topic_sources = {topic: source for source, topic in config.topics.items()}
        consumer = {
            "bootstrap.servers": config.bootstrap_servers,
            "group.id": config.group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": "false" if config.commit_on_finalize else "true",
        }
        payload = ReadLiveTopicsConfig(
            consumer_config=consumer,
            topics=sorted(topic_sources),
            commit_offset_in_finalize=config.commit_on_finalize and config.max_records is None,
            max_num_records=config.max_records,
        )
        try:
            rows = pipeline | "ReadFromKafka" >> ExternalTransform(
                READ_LIVE_TOPICS_URN, NamedTupleBasedPayloadBuilder(payload), config.expansion_service
            )
        except RuntimeError as error:
            if f"Unknown urn: {READ_LIVE_TOPICS_URN}" not in str(error):
                raise
            raise TransportError(
                f"the expansion service at {config.expansion_service} does not serve our Kafka read "
                f"({READ_LIVE_TOPICS_URN}): use the one runners/local_services.py starts, or put the jar that "
                "`mvn package` builds in runners/services/xlang on its classpath"
            ) from None
        return rows | "ToRawRecords" >> beam.Map(lambda row: kafka_record(row, topic_sources, run_id, stream_id))


class ReadPubSubMessages(beam.PTransform):
    """Pub/Sub subscriptions of the live channels -> raw records timestamped with their publish time."""

    def __init__(self, config: PubSubConfig, run_id: str, stream_id: str):
        super().__init__()
        self.config, self.run_id, self.stream_id = config, run_id, stream_id

    def expand(self, pipeline):
        from apache_beam.io.gcp.pubsub import ReadFromPubSub

        config, run_id, stream_id = self.config, self.run_id, self.stream_id
        reads = []
        for source, topic in sorted(config.topics.items()):
            subscription = config.subscriptions.get(source) or f"{topic}-stream"
            path = f"projects/{config.project}/subscriptions/{subscription}"
            reads.append(
                pipeline
                | f"Read{source}" >> ReadFromPubSub(subscription=path, with_attributes=True)
                | f"ToRawRecords{source}"
                >> beam.Map(lambda message, source=source: pubsub_record(message, source, run_id, stream_id))
            )
        return reads | "AllChannels" >> beam.Flatten()
