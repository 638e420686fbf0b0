"""Property: whatever a client sends to any operation in the served OpenAPI document, the answer is JSON with
200, 400 or 404, never a 500. Parameters are drawn from their schema (enums, integer bounds, dates) and from
arbitrary text, so both valid and hostile requests are covered. Times at the ends of the calendar (year 1 or 9999,
with any UTC offset: they overflow when converted to UTC) on any date or time parameter are a 400 naming it."""

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.e2e

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "-1",
            "0",
            "9" * 30,
            "2026-13-45",
            "NaN",
            "' OR 1=1 --",
            "%00",
            "null",
            "[]",
            "{}",
            "\u202e",
            "2026-11-25T25:61:00Z",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "0001-01-02T00:00:00Z",
        ]
    ),
)


# A time at either end of the calendar, with any offset from -14:00 to +14:00 (or Z, or none): valid ISO 8601 that
# a parser accepts, but out of the API's range, and out of datetime's range once converted to UTC.
OFFSETS = st.one_of(
    st.sampled_from(["Z", ""]),
    st.builds("{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 14), st.sampled_from([0, 30, 45])),
)
MONTH_DAYS = st.sampled_from(["01-01", "12-31"]) | st.dates(dt.date(2001, 1, 1), dt.date(2001, 12, 31)).map(
    lambda day: day.strftime("%m-%d")
)  # 2001, year 1 and 9999 have no 29 February
EXTREME_YEARS = st.sampled_from(["0001", "9999"])
EXTREME_TIMES = st.builds(
    "{}-{}T{}{}".format,
    EXTREME_YEARS,
    MONTH_DAYS,
    st.sampled_from(["00:00:00", "23:59:59"]) | st.times().map(lambda t: t.isoformat()),
    OFFSETS,
)
EXTREME_DAYS = st.builds("{}-{}".format, EXTREME_YEARS, MONTH_DAYS) | st.builds(
    "{}-{}T00:00:00{}".format, EXTREME_YEARS, MONTH_DAYS, OFFSETS
)


def _extremes(schema: dict):
    """Extreme values for a date or time parameter's schema, or None for other parameters."""
    formats = {option.get("format") for option in schema.get("anyOf", [schema])}
    if "date-time" in formats:
        return EXTREME_TIMES
    if "date" in formats:
        return EXTREME_DAYS
    return None


def _schema_values(schema: dict):
    options = schema.get("anyOf", [schema])
    strategies = []
    for option in options:
        if "enum" in option:
            strategies.append(st.sampled_from(option["enum"]))
        elif option.get("type") == "integer":
            strategies.append(
                st.integers(min_value=option.get("minimum", -10) - 2, max_value=option.get("maximum", 1000) + 2)
            )
        elif option.get("type") == "array":
            strategies.append(st.lists(_schema_values(option.get("items", {})), max_size=3))
        elif option.get("format") in ("date-time", "date"):
            strategies.append(st.dates(min_value=dt.date(2026, 1, 1)).map(str))
            strategies.append(_extremes(option))
    strategies.append(HOSTILE)
    return st.one_of(strategies)


def _operations(document: dict):
    for path, methods in document["paths"].items():
        operation = methods.get("get")
        if operation and path.startswith("/api/"):
            yield path, operation


def _request_strategy(document):
    choices = []
    for path, operation in _operations(document):
        parameters = operation.get("parameters", [])
        query = {p["name"]: _schema_values(p.get("schema", {})) for p in parameters if p["in"] == "query"}
        paths = {p["name"]: HOSTILE.filter(lambda v: v not in ("", ".", "..")) for p in parameters if p["in"] == "path"}
        choices.append(
            st.tuples(st.just(path), st.fixed_dictionaries({}, optional=query), st.fixed_dictionaries(paths))
        )
    return st.one_of(choices)


def _document(api_server) -> dict:
    with urllib.request.urlopen(api_server["base"] + "/openapi.json", timeout=30) as response:
        return json.loads(response.read())


def _get(api_server, path: str, query: dict) -> tuple[int, bytes]:
    url = api_server["base"] + path + "?" + urllib.parse.urlencode(query, doseq=True)
    http_request = urllib.request.Request(url, headers={"X-API-Key": api_server["keys"]["ops"]})
    try:
        with urllib.request.urlopen(http_request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_an_extreme_time_on_any_date_or_time_parameter_is_a_400_that_names_it(api_server):
    document = _document(api_server)
    parameters = [
        (path, parameter["name"], _extremes(parameter.get("schema", {})))
        for path, operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and _extremes(parameter.get("schema", {})) is not None
    ]
    assert {name for _, name, _ in parameters} >= {"start", "end", "since", "before", "as_of"}
    assert "/api/v1/sla" in {path for path, _, _ in parameters}

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(st.sampled_from(parameters).flatmap(lambda found: st.tuples(st.just(found[:2]), found[2])))
    def check(request):
        (path, name), value = request
        status, body = _get(api_server, path, {name: value})
        assert status == 400, (path, name, value, status, body[:300])
        detail = json.loads(body)["detail"]
        assert isinstance(detail, list) and name in [problem["parameter"] for problem in detail], (path, value, detail)

    check()


def test_no_request_built_from_the_openapi_document_gets_a_server_error(api_server):
    document = _document(api_server)
    assert len(list(_operations(document))) >= 9

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(_request_strategy(document))
    def check(request):
        path, query, path_values = request
        for name, value in path_values.items():
            path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        status, body = _get(api_server, path, query)
        assert status in (200, 400, 404), (path, query, status, body[:300])
        json.loads(body)

    check()
