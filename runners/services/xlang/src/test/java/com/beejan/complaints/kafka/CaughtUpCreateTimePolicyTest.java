package com.beejan.complaints.kafka;

import static org.junit.Assert.assertEquals;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.KafkaTimestampType;
import org.apache.beam.sdk.io.kafka.TimestampPolicy.PartitionContext;
import org.apache.beam.sdk.io.kafka.TimestampPolicyFactory;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.values.Row;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.joda.time.Duration;
import org.joda.time.Instant;
import org.junit.Test;

public class CaughtUpCreateTimePolicyTest {

  private static final Instant NOW = Instant.parse("2026-11-20T10:00:00Z");

  private static PartitionContext context(long backlog, Instant checkedAt) {
    return new PartitionContext() {
      @Override
      public long getMessageBacklog() {
        return backlog;
      }

      @Override
      public Instant getBacklogCheckTime() {
        return checkedAt;
      }
    };
  }

  private static KafkaRecord<byte[], byte[]> record(Instant createdAt) {
    return new KafkaRecord<>("tweets", 0, 7, createdAt.getMillis(), KafkaTimestampType.CREATE_TIME,
        new RecordHeaders().add("content_type", "json".getBytes()), "k".getBytes(), "v".getBytes());
  }

  @Test
  public void aCaughtUpPartitionThatDeliveredNothingAdvancesToTheBacklogCheck() {
    // Beam's own withCreateTime keeps this partition at the beginning of time, and every window with it
    CaughtUpCreateTimePolicy<byte[], byte[]> policy = new CaughtUpCreateTimePolicy<>(Duration.ZERO, Optional.empty());
    assertEquals(NOW.minus(Duration.millis(500)),
        policy.watermarkAt(context(0, NOW.minus(Duration.millis(500))), NOW));
  }

  @Test
  public void aPartitionWithBacklogHoldsAtItsNewestTimestamp() {
    CaughtUpCreateTimePolicy<byte[], byte[]> policy = new CaughtUpCreateTimePolicy<>(Duration.ZERO, Optional.empty());
    assertEquals(BoundedWindow.TIMESTAMP_MIN_VALUE, policy.watermarkAt(context(5, NOW), NOW));
    Instant created = NOW.minus(Duration.standardMinutes(3));
    assertEquals(created, policy.getTimestampForRecord(context(5, NOW), record(created)));
    policy.getTimestampForRecord(context(4, NOW), record(created.minus(Duration.standardSeconds(10))));
    assertEquals(created, policy.watermarkAt(context(4, NOW), NOW));  // an older record does not move it back
  }

  @Test
  public void theDelayIsKeptBehindTheNewestRecordAndTheBacklogCheck() {
    Duration delay = Duration.standardSeconds(5);
    CaughtUpCreateTimePolicy<byte[], byte[]> policy = new CaughtUpCreateTimePolicy<>(delay, Optional.empty());
    Instant created = NOW.minus(Duration.standardMinutes(1));
    policy.getTimestampForRecord(context(3, NOW), record(created));
    assertEquals(created.minus(delay), policy.watermarkAt(context(3, NOW), NOW));
    assertEquals(NOW.minus(delay), policy.watermarkAt(context(0, NOW), NOW));
  }

  @Test
  public void aTimestampFromTheFutureIsCappedByTheClock() {
    CaughtUpCreateTimePolicy<byte[], byte[]> policy = new CaughtUpCreateTimePolicy<>(Duration.ZERO, Optional.empty());
    policy.getTimestampForRecord(context(1, NOW), record(NOW.plus(Duration.standardHours(2))));
    assertEquals(NOW, policy.watermarkAt(context(1, NOW), NOW));
  }

  @Test
  public void aRestoredWatermarkIsWhereAPartitionStarts() {
    Instant restored = NOW.minus(Duration.standardMinutes(10));
    TimestampPolicyFactory<byte[], byte[]> factory = CaughtUpCreateTimePolicy.factory(Duration.ZERO);
    CaughtUpCreateTimePolicy<byte[], byte[]> policy = (CaughtUpCreateTimePolicy<byte[], byte[]>)
        factory.createTimestampPolicy(new org.apache.kafka.common.TopicPartition("tweets", 1), Optional.of(restored));
    assertEquals(restored, policy.watermarkAt(context(2, NOW), NOW));
  }

  @Test
  public void aRecordBecomesARowWithReadFromKafkasFieldNames() {
    Instant created = NOW.minus(Duration.standardSeconds(30));
    Row row = ReadLiveTopics.toRow(record(created));
    assertEquals("tweets", row.getString("topic"));
    assertEquals(Integer.valueOf(0), row.getInt32("partition"));
    assertEquals(Long.valueOf(7), row.getInt64("offset"));
    assertEquals(Long.valueOf(created.getMillis()), row.getInt64("timestamp"));
    assertEquals("v", new String(row.getBytes("value")));
    Row header = row.<Row>getArray("headers").iterator().next();
    assertEquals("content_type", header.getString("key"));
    assertEquals("json", new String(header.getBytes("value")));
    assertEquals("CreateTime", row.getString("timestampTypeName"));
  }

  @Test
  public void anUnboundedReadPollsForAtMostASecondABoundedOneKeepsKafkaIOsDefault() {
    Map<String, Object> consumer = Map.of("bootstrap.servers", "broker:9092");
    KafkaIO.Read<byte[], byte[]> live = new ReadLiveTopics(consumer, List.of("tweets"), true, null).kafkaRead();
    assertEquals(1L, live.getConsumerPollingTimeout());
    assertEquals(true, live.isCommitOffsetsInFinalizeEnabled());
    // the legacy source KafkaIO uses for a bounded read refuses a polling timeout other than its default
    KafkaIO.Read<byte[], byte[]> bounded = new ReadLiveTopics(consumer, List.of("tweets"), false, 500L).kafkaRead();
    assertEquals(KafkaIO.readBytes().getConsumerPollingTimeout(), bounded.getConsumerPollingTimeout());
    assertEquals(500L, bounded.getMaxNumRecords());
    assertEquals(false, bounded.isCommitOffsetsInFinalizeEnabled());
  }
}
