"""Readers of the live channels for the streaming pipeline: Kafka or Pub/Sub topics -> raw records.

Kafka (self-hosted, Flink): Beam's cross-language ``ReadFromKafka`` with metadata, the record's CreateTime as the
element timestamp and watermark, offsets committed when bundles finalise. Pub/Sub (Dataflow): ``ReadFromPubSub``
with attributes, publish time as timestamp. Topics and their settings are ``ingest.transport``'s configs, shared
with the publishers.
"""
from __future__ import annotations

import apache_beam as beam

from ingest.transport import KafkaConfig, PubSubConfig
from transforms.sources.messages import kafka_record, pubsub_record


class ReadKafkaMessages(beam.PTransform):
    """Kafka topics of the live channels -> raw records timestamped with their Kafka CreateTime."""

    def __init__(self, config: KafkaConfig, run_id: str, stream_id: str):
        super().__init__()
        self.config, self.run_id, self.stream_id = config, run_id, stream_id

    def expand(self, pipeline):
        from apache_beam.io.kafka import ReadFromKafka

        config, run_id, stream_id = self.config, self.run_id, self.stream_id
        topic_sources = {topic: source for source, topic in config.topics.items()}
        consumer = {"bootstrap.servers": config.bootstrap_servers, "group.id": config.group_id,
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": "false" if config.commit_on_finalize else "true"}
        return (pipeline
                | "ReadFromKafka" >> ReadFromKafka(
                    consumer_config=consumer, topics=sorted(topic_sources), with_metadata=True,
                    timestamp_policy=ReadFromKafka.create_time_policy,
                    commit_offset_in_finalize=config.commit_on_finalize and config.max_records is None,
                    max_num_records=config.max_records, expansion_service=config.expansion_service)
                | "ToRawRecords" >> beam.Map(lambda row: kafka_record(row, topic_sources, run_id, stream_id)))


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
            reads.append(pipeline
                         | f"Read{source}" >> ReadFromPubSub(subscription=path, with_attributes=True)
                         | f"ToRawRecords{source}" >> beam.Map(
                             lambda message, source=source: pubsub_record(message, source, run_id, stream_id)))
        return reads | "AllChannels" >> beam.Flatten()
