package com.beejan.complaints.kafka;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.expansion.ExternalTransformRegistrar;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.schemas.Schema.FieldType;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.ExternalTransformBuilder;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PBegin;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.Row;
import org.apache.kafka.common.header.Header;
import org.joda.time.Duration;

/**
 * Kafka topics -> one row per record with its metadata (the fields and names of Beam's
 * {@code ReadFromKafka(with_metadata=True)}), timestamped by {@link CaughtUpCreateTimePolicy}, so a partition
 * that receives nothing does not hold the stream's windows open forever. Offsets are committed to the
 * consumer group when a bundle's output is final, if asked.
 *
 * <p>Python reaches it as an external transform: {@link #URN}, served by the expansion service this module's jar
 * is on the classpath of (and run by the Java SDK worker beside it).
 */
public class ReadLiveTopics extends PTransform<PBegin, PCollection<Row>> {

  public static final String URN = "beejan:transform:kafka_read_live_topics:v1";

  static final Schema HEADER = Schema.builder()
      .addStringField("key")
      .addNullableField("value", FieldType.BYTES)
      .build();

  /** The fields and names Beam's {@code ReadFromKafka(with_metadata=True)} gives its rows. */
  public static final Schema RECORD = Schema.builder()
      .addStringField("topic")
      .addInt32Field("partition")
      .addInt64Field("offset")
      .addInt64Field("timestamp")
      .addNullableField("key", FieldType.BYTES)
      .addNullableField("value", FieldType.BYTES)
      .addNullableField("headers", FieldType.array(FieldType.row(HEADER)))
      .addInt32Field("timestampTypeId")
      .addStringField("timestampTypeName")
      .build();

  private final Map<String, Object> consumerConfig;
  private final List<String> topics;
  private final boolean commitOffsetsInFinalize;
  private final Long maxNumRecords;

  public ReadLiveTopics(Map<String, Object> consumerConfig, List<String> topics, boolean commitOffsetsInFinalize,
                        Long maxNumRecords) {
    this.consumerConfig = consumerConfig;
    this.topics = topics;
    this.commitOffsetsInFinalize = commitOffsetsInFinalize;
    this.maxNumRecords = maxNumRecords;
  }

  /**
   * KafkaIO's read as this transform configures it. An unbounded read's consumer polls for at most 1 s (KafkaIO's
   * default is 2 s) before the read hands its partition back: on Flink the read's bundle, and with it the
   * watermark after the read and every checkpoint barrier, waits for that. Measured with tweets at 400/s and
   * 10 s checkpoints: p99 from publish to readable 22-24 s with 2 s, 17-19 s with 1 s; checkpoints took 8-18 s,
   * then 3-8 s. A bounded read ({@code maxNumRecords}) is KafkaIO's legacy source, which has no such timeout.
   */
  KafkaIO.Read<byte[], byte[]> kafkaRead() {
    KafkaIO.Read<byte[], byte[]> read = KafkaIO.readBytes()
        .withConsumerConfigUpdates(consumerConfig)
        .withTopics(topics)
        .withTimestampPolicyFactory(CaughtUpCreateTimePolicy.factory(Duration.ZERO));
    if (commitOffsetsInFinalize) {
      read = read.commitOffsetsInFinalize();
    }
    if (maxNumRecords != null) {
      read = read.withMaxNumRecords(maxNumRecords);
    } else {
      read = read.withConsumerPollingTimeout(1);
    }
    return read;
  }

  @Override
  public PCollection<Row> expand(PBegin input) {
    return input
        .apply("ReadKafka", kafkaRead())
        .apply("ToRows", ParDo.of(new ToRow()))
        .setRowSchema(RECORD);
  }

  /** A record -> its row, in {@link #RECORD}'s schema. */
  static class ToRow extends DoFn<KafkaRecord<byte[], byte[]>, Row> {
    @ProcessElement
    public void process(@Element KafkaRecord<byte[], byte[]> record, OutputReceiver<Row> out) {
      out.output(toRow(record));
    }
  }

  static Row toRow(KafkaRecord<byte[], byte[]> record) {
    List<Row> headers = null;
    if (record.getHeaders() != null) {
      headers = new ArrayList<>();
      for (Header header : record.getHeaders()) {
        headers.add(Row.withSchema(HEADER).addValues(header.key(), header.value()).build());
      }
    }
    return Row.withSchema(RECORD)
        .addValues(record.getTopic(), record.getPartition(), record.getOffset(), record.getTimestamp(),
            record.getKV().getKey(), record.getKV().getValue(), headers, record.getTimestampType().id,
            record.getTimestampType().name)
        .build();
  }

  /** The expansion request's payload: its fields' snake_case names map to these setters. */
  public static class Configuration {
    private Map<String, String> consumerConfig = new HashMap<>();
    private List<String> topics = new ArrayList<>();
    private Boolean commitOffsetInFinalize = false;
    private Long maxNumRecords;

    public void setConsumerConfig(Map<String, String> consumerConfig) {
      this.consumerConfig = consumerConfig;
    }

    public void setTopics(List<String> topics) {
      this.topics = topics;
    }

    public void setCommitOffsetInFinalize(Boolean commitOffsetInFinalize) {
      this.commitOffsetInFinalize = commitOffsetInFinalize;
    }

    public void setMaxNumRecords(Long maxNumRecords) {
      this.maxNumRecords = maxNumRecords;
    }
  }

  /** Builds the transform from an expansion request. */
  public static class Builder
      implements ExternalTransformBuilder<Configuration, PBegin, PCollection<Row>> {
    @Override
    public PTransform<PBegin, PCollection<Row>> buildExternal(Configuration config) {
      if (config.topics == null || config.topics.isEmpty()) {
        throw new IllegalArgumentException("ReadLiveTopics needs at least one topic");
      }
      return new ReadLiveTopics(new HashMap<>(config.consumerConfig), new ArrayList<>(config.topics),
          Boolean.TRUE.equals(config.commitOffsetInFinalize), config.maxNumRecords);
    }
  }

  /** Registers {@link #URN} with the expansion service (found through {@code META-INF/services}). */
  public static class Registrar implements ExternalTransformRegistrar {
    @Override
    public Map<String, Class<? extends ExternalTransformBuilder<?, ?, ?>>> knownBuilders() {
      return Map.of(URN, Builder.class);
    }
  }
}
