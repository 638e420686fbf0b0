"""Record logic of the streaming pipeline: message records, event time, spike detection."""

import datetime as dt
from types import SimpleNamespace

import pytest

from beam_pipelines.config import StreamingSettings
from beam_pipelines.parameters import stream_timing
from transforms.aggregates import SpikeRules, detect_spike, volume_key
from transforms.event_time import event_timestamp, window_start
from transforms.records import RecordError
from transforms.sources.messages import kafka_record, message_record, parse_message

T0 = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)


def test_kafka_record_keeps_payload_verbatim_with_its_identity_and_headers():
    row = SimpleNamespace(
        topic="complaints.webforms",
        partition=3,
        offset=42,
        timestamp=1795683600000,
        value=b"submission_id=1&message=hi",
        headers=[SimpleNamespace(key="content_type", value=b"application/x-www-form-urlencoded")],
    )
    record = kafka_record(row, {"complaints.webforms": "webform"}, "run-1", "s-1")
    assert record["source"] == "webform"
    assert record["message_id"] == "complaints.webforms/3/42" and record["offset"] == 42
    assert record["raw"] == "submission_id=1&message=hi" and record["raw_encoding"] == "utf-8"
    assert record["attributes"] == {"content_type": "application/x-www-form-urlencoded"}
    assert record["ingested_at"].startswith("2026-11-26T")


def test_undecodable_payload_is_kept_as_base64_and_rejected_at_read():
    record = message_record("twitter", b"\xff\xfe", "t/0/1", 1, T0, {}, "r", "s")
    assert record["raw_encoding"] == "base64"
    with pytest.raises(RecordError) as error:
        parse_message(record)
    assert error.value.error_type == "invalid_utf8"


def test_unknown_topic_is_a_clear_parse_error():
    record = message_record("unknown:other", b"{}", "other/0/1", 1, T0, {}, "r", "s")
    with pytest.raises(RecordError, match="no parser"):
        parse_message(record)


def complaint(event, arrival):
    return {"event_time": event, "ingested_at": arrival}


@pytest.mark.parametrize(
    "event_offset, arrival_offset, expected_offset, too_late",
    [
        (0, 5, 0, False),  # on time: its event time
        (0, 3599, 0, False),  # late but within the allowed lateness: still its event time
        (0, 3601, 3601, True),  # beyond: its arrival, flagged
        (1200, 0, 0, False),  # 20 minutes in the future (clock skew): its arrival
        (300, 0, 300, False),  # 5 minutes ahead is within the tolerance
    ],
)
def test_event_timestamp(event_offset, arrival_offset, expected_offset, too_late):
    timing = stream_timing(StreamingSettings(), allowed_lateness_seconds=3600, future_tolerance_seconds=600)
    moment, late = event_timestamp(
        complaint(T0 + dt.timedelta(seconds=event_offset), T0 + dt.timedelta(seconds=arrival_offset)), timing
    )
    assert moment == T0 + dt.timedelta(seconds=expected_offset)
    assert late is too_late


def test_timing_rejects_nonsense():
    with pytest.raises(ValueError, match="window_seconds"):
        stream_timing(StreamingSettings(), window_seconds=0)
    with pytest.raises(ValueError, match="allowed_lateness"):
        stream_timing(StreamingSettings(), allowed_lateness_seconds=-1)


def test_window_start_and_volume_key():
    assert window_start(T0 + dt.timedelta(seconds=119), 60) == T0 + dt.timedelta(seconds=60)
    row = {"event_time": T0 + dt.timedelta(seconds=61), "source": "twitter", "category": "Network", "priority": "P2"}
    assert volume_key(row, 60) == ((T0 + dt.timedelta(seconds=60)).isoformat(), "twitter", "Network", "P2")


RULES = SpikeRules(baseline_minutes=10, warmup_minutes=5, ratio=3.0, sigmas=3.0, min_complaints=10)
START = int(T0.timestamp())


def history(values):
    return {START + 60 * i: n for i, n in enumerate(values)}


def test_spike_against_a_steady_baseline():
    minute = START + 60 * 10
    alert = detect_spike("all", minute, 40, history([4] * 10), START, 60, RULES)
    assert alert["complaints"] == 40 and alert["baseline_mean"] == 4.0 and alert["threshold"] == 12.0
    assert alert["severity"] == "critical"
    assert detect_spike("all", minute, 11, history([4] * 10), START, 60, RULES) is None


def test_no_spike_during_warmup_or_below_the_floor_or_in_noisy_series():
    assert detect_spike("all", START + 60 * 3, 100, history([1, 1, 1]), START, 60, RULES) is None
    assert detect_spike("all", START + 60 * 10, 9, history([1] * 10), START, 60, RULES) is None
    noisy = history([0, 20, 0, 20, 0, 20, 0, 20, 0, 20])
    assert detect_spike("all", START + 60 * 10, 30, noisy, START, 60, RULES) is None


def test_quiet_minutes_missing_from_history_count_as_zero():
    alert = detect_spike("all", START + 60 * 10, 12, {START: 2}, START, 60, RULES)
    assert alert is not None and alert["baseline_mean"] == pytest.approx(0.2)


def test_a_complaint_file_keeps_the_first_arrival_of_each_complaint_and_counts_the_copies():
    from transforms.windowed_sinks import COMPLAINTS, first_copies

    rows = [
        {"complaint_id": "wf-1", "ingested_at": T0 + dt.timedelta(seconds=5), "source": "webform"},
        {"complaint_id": "wf-2", "ingested_at": T0, "source": "webform"},
        {"complaint_id": "wf-1", "ingested_at": T0, "source": "webform"},
    ]
    kept, copies = first_copies(rows, COMPLAINTS.identity)
    assert sorted((r["complaint_id"], r["ingested_at"]) for r in kept) == [("wf-1", T0), ("wf-2", T0)]
    assert [(r["complaint_id"], r["ingested_at"]) for r in copies] == [("wf-1", T0 + dt.timedelta(seconds=5))]
    assert COMPLAINTS.unique


def test_volumes_count_a_complaint_once_however_many_copies_reach_them():
    from transforms.aggregates import CountDistinct

    combine = CountDistinct()
    left = combine.add_input(combine.add_input(combine.create_accumulator(), "wf-1"), "wf-1")
    right = combine.add_input(combine.create_accumulator(), "wf-2")
    assert combine.extract_output(combine.merge_accumulators([left, right, {"wf-1"}])) == 2


class _RunnerResult:
    """A runner's result whose wait ends when ``finish`` is set (or never), then fails or not."""

    def __init__(self, error: Exception | None = None):
        import threading

        self.finish, self.error = threading.Event(), error

    def wait_until_finish(self):
        self.finish.wait()
        if self.error:
            raise self.error


def stop_requests(count: int):
    from beam_pipelines.streaming import StopRequests

    stop = StopRequests()
    for _ in range(count):
        stop.request()
    return stop


def test_a_stop_request_cancels_the_job_and_stops_waiting_for_a_runner_that_never_confirms(monkeypatch):
    import threading
    import time

    from beam_pipelines import streaming

    monkeypatch.setattr(streaming, "CANCEL_GRACE_SECONDS", 0.5)
    stop, cancels = stop_requests(0), []
    threading.Timer(0.2, stop.request).start()
    started = time.monotonic()
    cancelling = streaming._wait_for_the_job(_RunnerResult(), stop, lambda: cancels.append("cancel"))
    assert 0.6 < time.monotonic() - started < 5  # the runner never reports the end
    cancelling.join(5)
    assert cancels == ["cancel"]


def test_a_second_stop_request_ends_the_wait_at_once(monkeypatch):
    from beam_pipelines import streaming

    monkeypatch.setattr(streaming, "CANCEL_GRACE_SECONDS", 3600)
    streaming._wait_for_the_job(_RunnerResult(), stop_requests(2), lambda: None)  # returns, not waits an hour


def test_a_job_that_fails_on_its_own_raises_and_one_failing_because_it_was_cancelled_does_not():
    from beam_pipelines import streaming

    failed = _RunnerResult(RuntimeError("Pipeline failed."))
    failed.finish.set()
    with pytest.raises(RuntimeError, match="Pipeline failed"):
        streaming._wait_for_the_job(failed, stop_requests(0), lambda: None)
    cancelled = _RunnerResult(RuntimeError("Pipeline failed."))
    cancelled.finish.set()
    streaming._wait_for_the_job(cancelled, stop_requests(1), lambda: None)
