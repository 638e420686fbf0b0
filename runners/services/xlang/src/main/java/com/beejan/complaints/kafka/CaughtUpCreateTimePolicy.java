package com.beejan.complaints.kafka;

import java.util.Optional;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.TimestampPolicy;
import org.apache.beam.sdk.io.kafka.TimestampPolicyFactory;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.joda.time.Duration;
import org.joda.time.Instant;

/**
 * Each record's Kafka timestamp (its CreateTime, or LogAppendTime on a topic set to it) as its event time. The
 * watermark of a partition is the newest timestamp read minus {@code maxDelay}, never ahead of the clock, and it
 * moves up to "the last backlog check minus {@code maxDelay}" whenever the partition is caught up.
 *
 * <p>Beam's own {@code withCreateTime} policy (Beam 2.72) moves a caught-up partition's watermark only once the
 * partition has delivered a record since the reader started. A partition that gets nothing, such as one of two
 * partitions of a quiet channel's topic whose producer sends every record to the other, keeps its watermark at the
 * beginning of time, and so does every window downstream of it: a stream then never commits anything. Here a
 * caught-up partition advances whether or not it has delivered anything, which is the assumption Beam's policy
 * already makes for a partition that has: a record that arrives later carries a timestamp no older than the time
 * it arrives minus {@code maxDelay}, and an older one is late data (the pipeline's allowed lateness).
 */
public class CaughtUpCreateTimePolicy<K, V> extends TimestampPolicy<K, V> {

  private final Duration maxDelay;
  private Instant newestTimestamp;

  /**
   * @param previousWatermark the watermark the reader had reached (restored with a checkpoint, or carried from
   *     the partition's previous bundle); its absence means the beginning of time
   */
  public CaughtUpCreateTimePolicy(Duration maxDelay, Optional<Instant> previousWatermark) {
    this.maxDelay = maxDelay;
    this.newestTimestamp = previousWatermark.orElse(BoundedWindow.TIMESTAMP_MIN_VALUE).plus(maxDelay);
  }

  /** The policy for every partition of a read. */
  public static <K, V> TimestampPolicyFactory<K, V> factory(Duration maxDelay) {
    return (partition, previousWatermark) -> new CaughtUpCreateTimePolicy<>(maxDelay, previousWatermark);
  }

  @Override
  public Instant getTimestampForRecord(PartitionContext context, KafkaRecord<K, V> record) {
    Instant timestamp = new Instant(record.getTimestamp());
    if (timestamp.isAfter(newestTimestamp)) {
      newestTimestamp = timestamp;
    }
    return timestamp;
  }

  @Override
  public Instant getWatermark(PartitionContext context) {
    return watermarkAt(context, Instant.now());
  }

  /** The watermark when the clock reads {@code now} (separate so tests can set the clock). */
  Instant watermarkAt(PartitionContext context, Instant now) {
    if (newestTimestamp.isAfter(now)) {
      return now.minus(maxDelay); // a timestamp from the future: the clock caps the watermark
    }
    Instant caughtUpAt = context.getBacklogCheckTime().minus(maxDelay);
    if (context.getMessageBacklog() == 0 && caughtUpAt.isAfter(newestTimestamp)) {
      return caughtUpAt;
    }
    return newestTimestamp.minus(maxDelay);
  }
}
