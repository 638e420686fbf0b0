"""The HTTP API as a CRM would use it: a real ``complaints serve`` process over a generated warehouse.

Answers are checked against the warehouse read independently with pyarrow, not against the server's own SQL.
"""

import datetime as dt
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pyarrow as pa
import pyarrow.compute as pc
import pytest

pytestmark = pytest.mark.e2e


def call(server, path, key="ops", params=None, headers=None):
    """(status, JSON body) of a GET; ``key`` None sends no key, a string not in the key set is sent as is."""
    url = server["base"] + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
    request = urllib.request.Request(url, headers=dict(headers or {}))
    if key is not None:
        request.add_header("X-API-Key", server["keys"].get(key, key))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def complaints_table(api_server):
    from tests.support.warehouse import read_table

    return read_table(api_server["warehouse"]["dir"] / "complaints")


# -- authentication ---------------------------------------------------------------------------------------------
def test_no_key_or_a_wrong_key_is_401_and_a_key_without_the_scope_is_403(api_server):
    status, body = call(api_server, "/api/v1/summary", key=None)
    assert status == 401 and body["error"] == "unauthorized"
    assert call(api_server, "/api/v1/summary", key="not-a-key")[0] == 401
    status, body = call(api_server, "/api/v1/complaints", key="wallboard")
    assert status == 403 and "complaints" in body["detail"]
    assert call(api_server, "/api/v1/summary", key="wallboard")[0] == 200
    bearer = {"Authorization": f"Bearer {api_server['keys']['ops']}"}
    assert call(api_server, "/api/v1/complaints", key=None, params={"limit": 1}, headers=bearer)[0] == 200


# -- complaints ---------------------------------------------------------------------------------------------------
def test_a_complaint_by_id_is_the_warehouse_row_with_contacts_only_as_tokens(api_server, complaints_table):
    row = complaints_table.slice(1234, 1).to_pylist()[0]
    status, body = call(api_server, f"/api/v1/complaints/{row['complaint_id']}")
    assert status == 200
    assert body["text"] == row["text"] and body["category"] == row["category"]
    assert body["priority_reasons"] == row["priority_reasons"]
    assert body["event_time"] == row["event_time"].isoformat().replace("+00:00", "Z")
    assert re.fullmatch(r"[0-9a-f]{32}", body["contact_token"])
    assert not {"msisdn", "email", "phone", "twitter_handle"} & set(body)
    assert call(api_server, "/api/v1/complaints/hi-does-not-exist")[0] == 404


def test_search_results_carry_no_phone_number_or_e_mail(api_server):
    status, body = call(api_server, "/api/v1/complaints", params={"limit": 500})
    assert status == 200 and len(body["items"]) == 500
    contact = re.compile(r"(\+?234|\b0)[789]\d{9}\b|[\w.+-]+@[\w-]+\.[\w.]+")
    leaks = [i["text"] for i in body["items"] if contact.search(i["text"] or "") or contact.search(i["subject"] or "")]
    assert leaks == []


def test_cursor_pages_return_every_matching_complaint_once_newest_first(api_server, complaints_table):
    params = {
        "category": "Billing",
        "priority": ["P1", "P2"],
        "start": "2026-11-20T00:00:00Z",
        "end": "2026-11-24T00:00:00Z",
        "limit": 7,
    }
    seen, cursor, pages = [], None, 0
    while True:
        status, body = call(
            api_server, "/api/v1/complaints", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert status == 200
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    end = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    table = complaints_table
    expected = table.filter(
        pc.and_(
            pc.and_(
                pc.equal(table["category"], "Billing"), pc.is_in(table["priority"], value_set=pa.array(["P1", "P2"]))
            ),
            pc.and_(pc.greater_equal(table["event_time"], start), pc.less(table["event_time"], end)),
        )
    )
    ids = [item["complaint_id"] for item in seen]
    assert len(ids) == len(set(ids)) == expected.num_rows > 7
    assert set(ids) == set(expected["complaint_id"].to_pylist())
    assert pages == -(-expected.num_rows // 7)
    keys = [(item["event_time"], item["complaint_id"]) for item in seen]
    assert keys == sorted(keys, reverse=True)


def test_search_filters_match_the_warehouse(api_server, complaints_table):
    customer = next(c for c in complaints_table["customer_id"].to_pylist() if c)
    status, body = call(api_server, "/api/v1/complaints", params={"customer_id": customer, "limit": 500})
    assert status == 200
    assert {i["complaint_id"] for i in body["items"]} == set(
        complaints_table.filter(pc.equal(complaints_table["customer_id"], customer))["complaint_id"].to_pylist()
    )
    status, body = call(
        api_server, "/api/v1/complaints", params={"flag": "unknown_customer", "source": ["sms", "phone"], "limit": 50}
    )
    assert status == 200 and body["items"]
    assert all(
        "unknown_customer" in i["flags"] and i["source"] in ("sms", "phone") and i["customer_id"] is None
        for i in body["items"]
    )
    status, body = call(api_server, "/api/v1/complaints", params={"q": "REFUND", "limit": 20})
    assert status == 200 and body["items"] and all("refund" in i["text"].lower() for i in body["items"])


@pytest.mark.parametrize(
    "params",
    [
        {"category": "Roaming"},
        {"source": "fax"},
        {"priority": "P0"},
        {"limit": 0},
        {"limit": 501},
        {"start": "yesterday"},
        {"start": "2026-11-25", "end": "2026-11-20"},
        {"cursor": "bm90LWEtY3Vyc29y"},
        {"cursor": "%%%"},
        {"sentiment": "angry"},
        {"q": "x" * 201},
        {"start": "0001-01-01T00:00:00+05:00"},
        {"end": "9999-12-31T23:59:59-05:00"},
    ],
)
def test_bad_search_parameters_get_a_400_that_names_the_problem(api_server, params):
    status, body = call(api_server, "/api/v1/complaints", params=params)
    assert status == 400, body
    assert body["error"] == "bad_request" and body["detail"]


# -- aggregates ---------------------------------------------------------------------------------------------------
def test_daily_volumes_by_category_add_up_to_the_warehouse(api_server, complaints_table):
    status, body = call(
        api_server,
        "/api/v1/volumes",
        key="wallboard",
        params={"granularity": "day", "by": "category", "start": "2026-11-01", "end": "2026-11-15"},
    )
    assert status == 200
    table = complaints_table
    window = table.filter(
        pc.and_(
            pc.greater_equal(table["event_time"], dt.datetime(2026, 11, 1, tzinfo=dt.UTC)),
            pc.less(table["event_time"], dt.datetime(2026, 11, 15, tzinfo=dt.UTC)),
        )
    )
    expected = {}
    for row in window.select(["event_time", "category"]).to_pylist():
        key = (row["event_time"].date().isoformat(), row["category"])
        expected[key] = expected.get(key, 0) + 1
    got = {(item["bucket"][:10], item["key"]): item["complaints"] for item in body["series"]}
    assert got == expected


def test_hourly_volumes_default_to_the_48_hours_before_the_newest_complaint(api_server):
    status, body = call(api_server, "/api/v1/volumes", key="wallboard", params={"granularity": "hour"})
    assert status == 200
    buckets = sorted({item["bucket"] for item in body["series"]})
    assert buckets[0] >= "2026-11-24T00:00:00Z" and buckets[-1] == "2026-11-25T23:00:00Z"
    assert call(api_server, "/api/v1/volumes", params={"granularity": "week"})[0] == 400
    assert (
        call(api_server, "/api/v1/volumes", params={"granularity": "hour", "start": "2026-01-01", "end": "2026-11-01"})[
            0
        ]
        == 400
    )


def test_summary_counts_the_newest_day(api_server, complaints_table):
    status, body = call(api_server, "/api/v1/summary", key="wallboard")
    assert status == 200
    day = dt.date(2026, 11, 25)
    expected = sum(1 for t in complaints_table["event_time"].to_pylist() if t.date() == day)
    assert body["day"] == "2026-11-25" and body["complaints"] == expected
    assert body["open_alerts"] == 2 and body["dead_letters"] > 0 and body["dead_letter_day"] == "2026-11-25"
    assert body["previous_days_with_data"] == 7


def test_live_volumes_sum_the_streaming_deltas(api_server):
    status, body = call(api_server, "/api/v1/volumes/live", key="wallboard", params={"minutes": 60})
    assert status == 200 and body["available"]
    network = {i["minute_start"]: i["complaints"] for i in body["series"] if i["category"] == "Network"}
    assert network["2026-11-25T23:55:00Z"] == 10 + 4  # the window's row, replaced by its late pane (4 more)
    assert len(network) == 6


def test_alerts_default_to_the_last_24_hours_and_skip_temporaries(api_server):
    status, body = call(api_server, "/api/v1/alerts", key="wallboard")
    assert status == 200
    assert [a["scope"] for a in body["items"]] == ["category:Network", "all"]
    assert call(api_server, "/api/v1/alerts", params={"since": "2026-11-26T00:00:00Z"})[1]["items"] == []


def test_forecast_serves_the_latest_run_with_actuals_and_backtest(api_server):
    status, body = call(api_server, "/api/v1/forecast", key="wallboard", params={"category": "Network"})
    assert status == 200 and body["available"]
    assert [f["forecast_date"] for f in body["forecast"]][:2] == ["2026-11-26", "2026-11-27"]
    assert len(body["forecast"]) == 14
    assert all(f["lower"] <= f["predicted"] <= f["upper"] for f in body["forecast"])
    assert body["actuals"][-1]["day"] == "2026-11-25"
    assert {b["method"] for b in body["backtest"]} == {"poisson_weekly", "seasonal_naive"}


def test_phrases_and_priority_mix(api_server):
    status, body = call(api_server, "/api/v1/phrases", key="wallboard", params={"days": 7, "top": 5})
    assert status == 200 and set(body["categories"]) >= {"Network", "Billing"}
    assert all(len(p) <= 5 for p in body["categories"].values())
    status, body = call(api_server, "/api/v1/priority-mix", key="wallboard")
    assert status == 200 and {i["priority"] for i in body["items"]} <= {"P1", "P2", "P3", "P4"}


def test_openapi_document_describes_every_api_path_and_the_key_schemes(api_server):
    status, document = call(api_server, "/openapi.json", key=None)
    assert status == 200
    assert {
        "/api/v1/complaints",
        "/api/v1/complaints/{complaint_id}",
        "/api/v1/volumes",
        "/api/v1/volumes/live",
        "/api/v1/alerts",
        "/api/v1/forecast",
        "/api/v1/summary",
        "/api/v1/phrases",
    } <= set(document["paths"])
    assert {"APIKeyHeader", "HTTPBearer"} <= set(document["components"]["securitySchemes"])


def test_every_operation_documents_its_answer_and_its_errors_by_model(api_server):
    status, document = call(api_server, "/openapi.json", key=None)
    assert status == 200
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert "$ref" in ok, f"{method} {path} answers an undocumented shape"
            assert ok["$ref"].rsplit("/", 1)[-1] in schemas
            errors = operation["responses"]["400"]["content"]["application/json"]["schema"]
            assert errors["$ref"].endswith("/ErrorBody")
    complaint = schemas["Complaint"]["properties"]
    assert "contact_token" in complaint and "source_file" not in complaint


def test_health_names_the_warehouse_without_the_hosts_path(api_server):
    status, body = call(api_server, "/healthz", key=None)
    assert status == 200 and body["warehouse"] == "warehouse" and "/" not in body["warehouse"]
    assert body["unreadable_files"] == [] and body["tables"]["complaints"] > 0
    from tests.support.warehouse import current_snapshots

    assert body["snapshots"]["complaints"] == current_snapshots(api_server["warehouse"]["dir"])["complaints"]
