"""Response SLAs: cases across channels, the clock, targets' status, compliance; CRM event rows; [sla] settings."""

import datetime as dt

import pytest

from beam_pipelines.config import ConfigError, SlaSettings, load_section
from serving import events, sla

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def complaint(cid, customer, minutes, source="twitter", priority="P3", segment=None, queue="general", ingested=None):
    event_time = T0 + dt.timedelta(minutes=minutes)
    return {
        "complaint_id": cid,
        "customer_id": customer,
        "event_time": event_time,
        "ingested_at": ingested or event_time + dt.timedelta(minutes=1),
        "priority": priority,
        "segment": segment,
        "source": source,
        "route_queue": queue,
    }


def test_one_customer_on_two_channels_within_the_window_is_one_case_started_at_the_first_contact():
    cases = sla.link_cases(
        [
            complaint("tw-1", "C1", 0, "twitter", "P3"),
            complaint("ph-1", "C1", 90, "phone", "P1"),  # same customer, 1.5 h later: the same case
            complaint("sm-1", "C1", 60 * 49, "sms"),  # 49 h after the first contact: a new case
            complaint("wf-1", None, 10, "webform"),  # no customer: a case of its own
            complaint("wf-2", None, 11, "webform"),
            complaint("tw-2", "C2", 5, "twitter"),
        ],
        dt.timedelta(hours=48),
    )
    by_id = {case.case_id: case for case in cases}
    assert sorted(by_id) == ["sm-1", "tw-1", "tw-2", "wf-1", "wf-2"]
    first = by_id["tw-1"]
    assert first.complaint_ids == ["tw-1", "ph-1"] and first.channels == {"twitter", "phone"}
    assert first.started_at == T0 and first.priority == "P1"  # the most urgent complaint's priority
    assert first.source == "twitter"


def test_the_clock_starts_at_arrival_when_the_device_clock_is_ahead():
    ahead = complaint("tw-9", "C9", 120, ingested=T0)  # claims 11:00, arrived 09:00
    assert sla.link_cases([ahead], dt.timedelta(hours=48))[0].started_at == T0


def test_a_reopened_case_is_not_resolved_until_resolved_again():
    def at(minutes):
        return T0 + dt.timedelta(minutes=minutes)

    events_ = [
        {"event_type": "first_response", "occurred_at": at(50)},
        {"event_type": "first_response", "occurred_at": at(30)},
        {"event_type": "resolved", "occurred_at": at(100)},
        {"event_type": "reopened", "occurred_at": at(200)},
    ]
    assert sla.case_times(events_) == (at(30), None)
    assert sla.case_times([*events_, {"event_type": "resolved", "occurred_at": at(300)}]) == (at(30), at(300))


@pytest.mark.parametrize(
    "done_minutes, as_of_minutes, expected",
    [
        (59, 120, "met"),  # done within the hour
        (60, 120, "met"),  # on the due minute itself
        (61, 120, "breached"),  # done late
        (None, 61, "breached"),  # not done, past due
        (None, 50, "at_risk"),  # 10 of 60 minutes left: under a quarter
        (None, 40, "pending"),  # 20 minutes left
        (70, 50, "at_risk"),  # done later than as_of: not known yet then
    ],
)
def test_target_status(done_minutes, as_of_minutes, expected):
    done = T0 + dt.timedelta(minutes=done_minutes) if done_minutes is not None else None
    status, due = sla.target_status(T0, done, 3600, T0 + dt.timedelta(minutes=as_of_minutes), 0.25)
    assert status == expected and due == T0 + dt.timedelta(hours=1)


def test_segments_override_the_allowance_of_their_customers_only():
    settings = SlaSettings(segments={"enterprise": {"first_response_minutes": {"P1": 15}}})
    assert settings.allowance("P1", "enterprise") == (900, 24 * 3600)
    assert settings.allowance("P1", "consumer") == (3600, 24 * 3600)
    assert settings.allowance(None, None) == (2880 * 60, 336 * 3600)  # no priority: the least urgent


def test_compliance_counts_decided_targets_per_group():
    settings = SlaSettings()
    cases = sla.link_cases(
        [
            complaint("a", "A", 0, priority="P1", queue="network"),
            complaint("b", "B", 0, priority="P1", queue="network"),
            complaint("c", "C", 0, priority="P1", queue="billing"),
        ],
        dt.timedelta(hours=48),
    )
    responses = {
        "a": [{"event_type": "first_response", "occurred_at": T0 + dt.timedelta(minutes=20)}],
        "b": [{"event_type": "first_response", "occurred_at": T0 + dt.timedelta(minutes=80)}],
    }
    evaluated = sla.evaluate_cases(cases, responses, settings, T0 + dt.timedelta(minutes=55))
    groups = {group["key"]: group for group in sla.compliance(evaluated, "route_queue")}
    # at 09:55, b's late response (10:20) is not known yet: b and c are at risk, a is met
    assert groups["network"]["first_response_met"] == 1 and groups["network"]["first_response_at_risk"] == 1
    assert groups["network"]["first_response_compliance"] == 1.0
    assert groups["billing"]["first_response_compliance"] is None  # nothing decided yet
    later = sla.compliance(sla.evaluate_cases(cases, responses, settings, T0 + dt.timedelta(hours=2)), "day")
    assert later[0]["first_response_met"] == 1 and later[0]["first_response_breached"] == 2
    assert later[0]["first_response_compliance"] == pytest.approx(1 / 3)


def test_an_event_row_is_utc_and_refuses_the_future_and_unknown_types():
    now = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
    row = events.event_row(
        "tw-1", {"event_id": "e1", "type": "resolved", "occurred_at": dt.datetime(2026, 11, 21, 9)}, "crm", now
    )
    assert row["occurred_at"] == dt.datetime(2026, 11, 21, 9, tzinfo=dt.UTC)
    assert row["event_date"] == dt.date(2026, 11, 21) and row["client"] == "crm"
    with pytest.raises(events.EventRefused, match="in the future"):
        events.event_row(
            "tw-1", {"event_id": "e2", "type": "resolved", "occurred_at": now + dt.timedelta(hours=1)}, None, now
        )
    with pytest.raises(events.EventRefused, match="type must be"):
        events.event_row("tw-1", {"event_id": "e3", "type": "escalated", "occurred_at": now}, None, now)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[sla]\nfirst_response_minutes = {P5 = 10}\n", "unknown priority 'P5'"),
        ("[sla]\nresolve_hours = {P1 = -1}\n", "positive number of hours"),
        ("[sla]\nsegments = {vip = {escalate = 1}}\n", "may set first_response_minutes and resolve_hours only"),
        ("[sla]\nat_risk_share = 1.5\n", "at_risk_share between 0 and 1"),
    ],
)
def test_bad_sla_settings_are_refused_with_the_reason(tmp_path, text, problem):
    profile = tmp_path / "bad.toml"
    profile.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_section("sla", str(profile))


def test_a_profile_sets_only_the_priorities_it_names(tmp_path):
    profile = tmp_path / "sla.toml"
    profile.write_text("[sla]\nfirst_response_minutes = {P1 = 30}\n")
    settings = load_section("sla", str(profile))
    assert settings.first_response_minutes == {"P1": 30, "P2": 240, "P3": 1440, "P4": 2880}
