"""Property: whatever a client sends to any operation in the served OpenAPI document, the answer is JSON with
200, 400 or 404, never a 500. Parameters are drawn from their schema (enums, integer bounds, dates) and from
arbitrary text, so both valid and hostile requests are covered."""
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.e2e

HOSTILE = st.one_of(st.text(max_size=40), st.sampled_from(["", "-1", "0", "9" * 30, "2026-13-45", "NaN", "' OR 1=1 --",
                                                           "%00", "null", "[]", "{}", "\u202e", "2026-11-25T25:61:00Z",
                                                           "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                                                           "0001-01-02T00:00:00Z"]))


def _schema_values(schema: dict):
    options = schema.get("anyOf", [schema])
    strategies = []
    for option in options:
        if "enum" in option:
            strategies.append(st.sampled_from(option["enum"]))
        elif option.get("type") == "integer":
            strategies.append(st.integers(min_value=option.get("minimum", -10) - 2, max_value=option.get("maximum", 1000) + 2))
        elif option.get("type") == "array":
            strategies.append(st.lists(_schema_values(option.get("items", {})), max_size=3))
        elif option.get("format") in ("date-time", "date"):
            strategies.append(st.dates(min_value=__import__("datetime").date(2026, 1, 1)).map(str))
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
        choices.append(st.tuples(st.just(path), st.fixed_dictionaries({}, optional=query),
                                 st.fixed_dictionaries(paths)))
    return st.one_of(choices)


def test_no_request_built_from_the_openapi_document_gets_a_server_error(api_server):
    with urllib.request.urlopen(api_server["base"] + "/openapi.json", timeout=30) as response:
        document = json.loads(response.read())
    assert len(list(_operations(document))) >= 9

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(_request_strategy(document))
    def check(request):
        path, query, path_values = request
        for name, value in path_values.items():
            path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        url = api_server["base"] + path + "?" + urllib.parse.urlencode(query, doseq=True)
        http_request = urllib.request.Request(url, headers={"X-API-Key": api_server["keys"]["ops"]})
        try:
            with urllib.request.urlopen(http_request, timeout=30) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        assert status in (200, 400, 404), (url, status, body[:300])
        json.loads(body)

    check()
