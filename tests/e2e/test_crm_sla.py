"""The CRM loop end to end, against a real ``complaints serve``: the CRM posts events (some late, one replayed,
one id reused), and the SLA figures come out exactly as the policy says, with the clock of a case that spans two
channels starting at its first contact.

Five cases on 2026-11-20, complaints made from a real batch run's rows (so every column is as the pipeline
writes it), judged at 2026-11-21 12:00 UTC with the default policy (P1 1 h / 24 h, P2 4 h / 72 h, P3 24 h / 7 d,
P4 48 h / 14 d):

    case complaints                           queue    first response                    resolution
    A    CA twitter 09:00 P2, phone 10:00 P1  network  10:30, 90 min from 09:00: breached  none by 11-21 09:00: breached
    B    CB sms 11:00 P1                      network  11:45 (posted twice): met         11-21 09:00 (22 h): met
    C    CC webform 12:00 P2                  billing  17:00 (5 h): breached             11-21 12:00: met
    D    no customer, phone 13:00 P3          general  none, 1 h of 24 left: at risk     pending
    E    CE twitter 14:00 P4                  general  acknowledged only: pending        pending
"""

import datetime as dt

import pytest

from tests.support.serving import call_api, start_server, stop_server, write_key_file

KEYS = {"crm": ("crm-key-2f9a", ["write", "complaints"]), "ops": ("ops-key-77d0", ["complaints", "aggregates"])}
DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
AS_OF = "2026-11-21T12:00:00Z"


def at(hour: int, minute: int = 0, day: int = 0) -> dt.datetime:
    return DAY + dt.timedelta(days=day, hours=hour, minutes=minute)


COMPLAINTS = [  # complaint_id, customer_id, source, event time, priority, route_queue
    ("sla-a1", "CA", "twitter", at(9), "P2", "network"),
    ("sla-a2", "CA", "phone", at(10), "P1", "network"),
    ("sla-b1", "CB", "sms", at(11), "P1", "network"),
    ("sla-c1", "CC", "webform", at(12), "P2", "billing"),
    ("sla-d1", None, "phone", at(13), "P3", "general"),
    ("sla-e1", "CE", "twitter", at(14), "P4", "general"),
]
EVENTS = [  # complaint_id, event_id, type, occurred_at
    ("sla-a2", "crm-a-1", "first_response", at(10, 30)),  # 30 min after the phone call, 90 after the tweet
    ("sla-b1", "crm-b-1", "first_response", at(11, 45)),
    ("sla-b1", "crm-b-2", "resolved", at(9, day=1)),
    ("sla-c1", "crm-c-1", "first_response", at(17)),
    ("sla-c1", "crm-c-2", "resolved", at(12, day=1)),
    ("sla-c1", "crm-c-3", "reopened", at(13, day=1)),  # after AS_OF: not known then
    ("sla-e1", "crm-e-1", "acknowledged", at(14, 10)),
]


def call(base, path, key, body=None, params=None):
    return call_api(base, path, KEYS[key][0], body, params)


@pytest.fixture(scope="module")
def crm_warehouse(batch_output, tmp_path_factory):
    """A warehouse of the five cases' complaints, made from a real batch run's rows."""
    from schemas import tables
    from warehouse.catalog import CatalogConfig
    from warehouse.commit import write_rows
    from warehouse.read import read_arrow

    template = (
        read_arrow(CatalogConfig(str(batch_output["dir"] / "warehouse")), "complaints").slice(0, 1).to_pylist()[0]
    )
    warehouse = tmp_path_factory.mktemp("crm") / "warehouse"
    rows = [
        {
            **template,
            "complaint_id": cid,
            "customer_id": customer,
            "source": source,
            "event_time": when,
            "ingested_at": when + dt.timedelta(minutes=1),
            "event_date": when.date(),
            "priority": priority,
            "route_queue": queue,
            "segment": None,
            "source_record_id": cid,
        }
        for cid, customer, source, when, priority, queue in COMPLAINTS
    ]
    write_rows(CatalogConfig(str(warehouse)), tables.COMPLAINTS, rows)
    return warehouse


@pytest.fixture(scope="module")
def crm_server(crm_warehouse):
    key_file = write_key_file(crm_warehouse.parent / "keys.toml", KEYS)
    process, base = start_server(["--warehouse", str(crm_warehouse), "--api-keys", str(key_file)])
    yield base
    stop_server(process)


@pytest.fixture(scope="module")
def posted(crm_server):
    answers = {}
    for complaint_id, event_id, kind, when in EVENTS:
        answers[event_id] = call(
            crm_server,
            f"/api/v1/complaints/{complaint_id}/events",
            "crm",
            {"event_id": event_id, "type": kind, "occurred_at": when.isoformat(), "agent": "agent-7"},
        )
    return answers


def test_events_are_recorded_once_and_a_replay_is_a_duplicate_not_a_second_row(crm_server, posted):
    assert {status for status, _ in posted.values()} == {201}
    replay = call(
        crm_server,
        "/api/v1/complaints/sla-b1/events",
        "crm",
        {"event_id": "crm-b-1", "type": "first_response", "occurred_at": at(11, 45).isoformat(), "agent": "agent-7"},
    )
    assert replay[0] == 200 and replay[1]["status"] == "duplicate"
    status, listed = call(crm_server, "/api/v1/complaints/sla-b1/events", "crm")
    assert status == 200 and [e["event_id"] for e in listed["items"]] == ["crm-b-1", "crm-b-2"]
    assert listed["items"][0]["client"] == "crm" and listed["items"][0]["occurred_at"] == "2026-11-20T11:45:00Z"


def test_an_event_id_reused_for_other_content_unknown_complaints_and_bad_events_are_refused(crm_server, posted):
    status, body = call(
        crm_server,
        "/api/v1/complaints/sla-b1/events",
        "crm",
        {"event_id": "crm-b-1", "type": "resolved", "occurred_at": at(12).isoformat()},
    )
    assert status == 409 and body["error"] == "conflict" and "crm-b-1" in body["detail"]
    assert (
        call(
            crm_server,
            "/api/v1/complaints/no-such/events",
            "crm",
            {"event_id": "x-1", "type": "resolved", "occurred_at": at(12).isoformat()},
        )[0]
        == 404
    )
    status, body = call(
        crm_server,
        "/api/v1/complaints/sla-b1/events",
        "crm",
        {"event_id": "x-2", "type": "escalated", "occurred_at": at(12).isoformat()},
    )
    assert status == 400 and body["detail"][0]["parameter"] == "type"
    status, body = call(
        crm_server,
        "/api/v1/complaints/sla-b1/events",
        "crm",
        {"event_id": "x-3", "type": "resolved", "occurred_at": "2099-01-01T00:00:00Z"},
    )
    assert status == 400 and "future" in body["detail"]
    for extreme in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):  # overflow when made UTC
        status, body = call(
            crm_server,
            "/api/v1/complaints/sla-b1/events",
            "crm",
            {"event_id": "x-4", "type": "resolved", "occurred_at": extreme},
        )
        assert status == 400 and body["detail"][0]["parameter"] == "occurred_at", (extreme, body)


def test_posting_events_needs_the_write_scope(crm_server, posted):
    status, body = call(
        crm_server,
        "/api/v1/complaints/sla-b1/events",
        "ops",
        {"event_id": "ops-1", "type": "resolved", "occurred_at": at(12).isoformat()},
    )
    assert status == 403 and "write" in body["detail"]
    assert call(crm_server, "/api/v1/sla", "crm")[0] == 403  # and the CRM's key reads no aggregates


def test_sla_compliance_per_queue_and_channel_is_exact(crm_server, posted):
    status, report = call(
        crm_server, f"/api/v1/sla?start=2026-11-20&end=2026-11-20&by=route_queue&as_of={AS_OF}", "ops"
    )
    assert status == 200
    groups = {group["key"]: group for group in report["groups"]}

    def figures(g):
        return (
            g["cases"],
            g["first_response_met"],
            g["first_response_breached"],
            g["first_response_at_risk"],
            g["first_response_pending"],
            g["resolution_met"],
            g["resolution_breached"],
            g["resolution_at_risk"],
            g["resolution_pending"],
        )

    assert figures(groups["network"]) == (2, 1, 1, 0, 0, 1, 1, 0, 0)
    assert figures(groups["billing"]) == (1, 0, 1, 0, 0, 1, 0, 0, 0)
    assert figures(groups["general"]) == (2, 0, 0, 1, 1, 0, 0, 0, 2)
    assert groups["network"]["first_response_compliance"] == 0.5
    assert groups["general"]["first_response_compliance"] is None
    assert [case["case_id"] for case in report["at_risk"]] == ["sla-d1"] and report["at_risk_total"] == 1
    assert report["breached_total"] == 2
    assert report["at_risk"][0]["first_response_due"] == "2026-11-21T13:00:00Z"
    assert sorted(case["case_id"] for case in report["breaches"]) == ["sla-a1", "sla-c1"]
    case_a = next(case for case in report["breaches"] if case["case_id"] == "sla-a1")
    assert case_a["complaint_ids"] == ["sla-a1", "sla-a2"] and case_a["channels"] == ["phone", "twitter"]
    assert case_a["priority"] == "P1" and case_a["started_at"] == "2026-11-20T09:00:00Z"
    assert case_a["first_response_due"] == "2026-11-20T10:00:00Z"  # an hour from the tweet, not from the call

    _, by_source = call(crm_server, f"/api/v1/sla?start=2026-11-20&end=2026-11-20&by=source&as_of={AS_OF}", "ops")
    assert {g["key"]: g["cases"] for g in by_source["groups"]} == {"phone": 1, "sms": 1, "twitter": 2, "webform": 1}


def test_a_reopened_case_counts_as_unresolved_after_the_reopening(crm_server, posted):
    _, report = call(
        crm_server, "/api/v1/sla?start=2026-11-20&end=2026-11-20&by=route_queue&as_of=2026-11-21T14:00:00Z", "ops"
    )
    billing = next(group for group in report["groups"] if group["key"] == "billing")
    assert billing["resolution_met"] == 0 and billing["resolution_pending"] == 1  # reopened at 13:00, 72 h allowed


def test_the_daily_report_carries_the_sla_compliance_per_queue(crm_warehouse, posted, tmp_path):
    """The report judges at the time it is made: only figures that no later day can change are checked."""
    import csv

    from tests.support.cli import run_cli

    result = run_cli(
        "report",
        "--warehouse",
        str(crm_warehouse),
        "--period",
        "daily",
        "--date",
        "2026-11-20",
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "complaints-daily-2026-11-20"
    by_queue = {row["key"]: row for row in csv.DictReader(open(folder / "sla_by_queue.csv"))}
    assert by_queue["network"]["cases"] == "2" and float(by_queue["network"]["first_response_compliance"]) == 0.5
    assert by_queue["billing"]["first_response_breached"] == "1"
    cases = {row["case_id"]: row for row in csv.DictReader(open(folder / "sla_cases.csv"))}
    assert set(cases) == {"sla-a1", "sla-b1", "sla-c1", "sla-d1", "sla-e1"}
    assert cases["sla-a1"]["channels"] == "phone twitter" and cases["sla-b1"]["resolution"] == "met"
    assert "Response SLAs by queue" in (tmp_path / "complaints-daily-2026-11-20.html").read_text()
