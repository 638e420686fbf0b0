"""Serving logic without a server: keys, cursors, periods, spreadsheet safety, phrases, forecasting pieces."""

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from models import forecast
from serving import queries
from serving.auth import ApiKeys, KeyFileError
from serving.phrases import distinctive_phrases
from serving.query import QueryRefused, check_read_only
from serving.report import period_containing, spreadsheet_safe
from serving.warehouse import Warehouse


# -- API keys ------------------------------------------------------------------------------------------------------
def test_key_file_with_a_hash_and_an_environment_key(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text(
        f'[[keys]]\nname = "crm"\nsha256 = "{hashlib.sha256(b"s3cret").hexdigest()}"\n'
        'scopes = ["complaints", "aggregates"]\n\n'
        '[[keys]]\nname = "board"\nkey_env = "BOARD_KEY"\nscopes = ["aggregates"]\n'
    )
    keys = ApiKeys.from_file(str(path), environ={"BOARD_KEY": "b0ard"})
    assert keys.client_for("s3cret").name == "crm"
    assert keys.client_for("b0ard").scopes == frozenset({"aggregates"})
    assert keys.client_for("s3cret ") is None and keys.client_for("") is None and keys.client_for(None) is None
    with pytest.raises(KeyFileError, match="BOARD_KEY is not set"):
        ApiKeys.from_file(str(path), environ={})


@pytest.mark.parametrize(
    "text, problem",
    [
        ('[[keys]]\nname = "x"\nsha256 = "abc"\nscopes = ["aggregates"]\n', "64 hex digits"),
        ('[[keys]]\nname = "x"\nsha256 = "' + "0" * 64 + '"\nscopes = ["admin"]\n', "needs scopes"),
        ('[[keys]]\nscopes = ["aggregates"]\n', "needs a name"),
        ('[[keys]]\nname = "x"\nscopes = ["aggregates"]\n', "needs sha256 or key_env"),
        ("keys = [", "not readable TOML"),
        ("", "no [[keys]]"),
    ],
)
def test_bad_key_files_are_refused_with_the_reason(tmp_path, text, problem):
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(KeyFileError, match=problem.replace("[", r"\[")):
        ApiKeys.from_file(str(path), environ={})


# -- pagination, periods, spreadsheets ---------------------------------------------------------------------------------
def test_cursor_round_trips_and_foreign_cursors_are_refused():
    moment = dt.datetime(2026, 11, 25, 10, 11, 12, 345678, tzinfo=dt.UTC)
    assert queries.decode_cursor(queries.encode_cursor(moment, "tw-abc")) == (moment, "tw-abc")
    for foreign in ("abc", "W10", "WzEuNSwgIngiXQ", "eyJhIjogMX0"):
        with pytest.raises(queries.BadCursor):
            queries.decode_cursor(foreign)


def test_periods_cover_whole_weeks_and_months():
    week = period_containing("weekly", dt.date(2026, 11, 26))
    assert (week.start, week.end, week.label) == (dt.date(2026, 11, 23), dt.date(2026, 11, 30), "2026-W48")
    month = period_containing("monthly", dt.date(2026, 3, 31))
    assert (month.start, month.end, month.label) == (dt.date(2026, 3, 1), dt.date(2026, 4, 1), "2026-03")
    assert month.previous().start == dt.date(2026, 2, 1) and month.previous().end == dt.date(2026, 3, 1)
    day = period_containing("daily", dt.date(2026, 1, 1))
    assert day.previous().start == dt.date(2025, 12, 31)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+1", "'=1+1"),
        ("+234803", "'+234803"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain text", "plain text"),
        (" =not first", " =not first"),
        (-2, -2),
        (3.5, 3.5),
        (None, None),
        (["a", "=b"], "a; =b"),
        (["=a"], "'=a"),
    ],
)
def test_spreadsheet_safe_cells(value, expected):
    assert spreadsheet_safe(value) == expected


@pytest.mark.parametrize("sql", ["SELECT 1", "WITH a AS (SELECT 1 AS x) SELECT x FROM a", "  select 1  "])
def test_read_only_queries_pass(sql):
    check_read_only(sql)


@pytest.mark.parametrize(
    "sql", ["INSERT INTO t VALUES (1)", "ATTACH 'x.db'", "PRAGMA version", "", "SELECT 1; DROP TABLE t"]
)
def test_anything_else_is_refused(sql):
    with pytest.raises(QueryRefused):
        check_read_only(sql)


# -- warehouse views --------------------------------------------------------------------------------------------------
def test_warehouse_reads_committed_snapshots_only_and_tables_that_do_not_exist_yet_are_empty(tmp_path):
    from tests.support.warehouse import add_rows

    row = {
        "alert_id": "a1",
        "scope": "all",
        "minute_start": dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC),
        "window_seconds": 60,
        "complaints": 50,
        "baseline_mean": 4.0,
        "baseline_stddev": 1.0,
        "threshold": 12.0,
        "severity": "critical",
        "detected_at": dt.datetime(2026, 11, 25, 10, 1, tzinfo=dt.UTC),
        "alert_date": dt.date(2026, 11, 25),
    }
    assert Warehouse(tmp_path, refresh_seconds=0).scalar("SELECT count(*) FROM alerts") == 0  # no catalog yet
    add_rows(tmp_path, "alerts", [row])
    target = tmp_path / "alerts" / "alert_date=2026-11-25"
    (target / "written-not-committed.parquet").write_bytes(b"a data file no snapshot has yet")
    warehouse = Warehouse(tmp_path, refresh_seconds=0)
    assert warehouse.rows("SELECT alert_id, alert_date FROM alerts") == [
        {"alert_id": "a1", "alert_date": dt.date(2026, 11, 25)}
    ]
    assert warehouse.scalar("SELECT count(*) FROM complaints") == 0
    assert "event_date" in [r["column_name"] for r in warehouse.rows("DESCRIBE complaints")]
    add_rows(tmp_path, "alerts", [{**row, "alert_id": "a2"}])
    version = warehouse.version
    assert warehouse.scalar("SELECT count(*) FROM alerts") == 2  # a new snapshot is seen
    assert warehouse.version == version + 1  # and caches keyed on the version are invalidated
    warehouse.refresh()
    assert warehouse.version == version + 1  # nothing changed since
    add_rows(tmp_path, "alerts", [{**row, "severity": "warning"}])  # the same key again: replaced, not added
    assert warehouse.rows("SELECT severity FROM alerts WHERE alert_id = 'a1'") == [{"severity": "warning"}]
    [committed] = [f for f in warehouse._files["alerts"] if "a1" in str(pq.read_table(f)["alert_id"].to_pylist())]
    Path(committed).write_bytes(b"PAR1 not really parquet")  # a data file damaged on disk
    warehouse.refresh(force=True)
    assert warehouse.scalar("SELECT count(*) FROM alerts") == 1  # the rest is still served
    assert warehouse.unreadable_files() == [str(Path(committed).relative_to(tmp_path.resolve()))]


# -- phrases ----------------------------------------------------------------------------------------------------------
def test_distinctive_phrases_are_the_ones_a_category_owns():
    texts = {
        "Network": [
            "no signal in Lekki since morning",
            "no signal at home again",
            "network down no signal",
            "calls dropping and no signal",
            "my data is slow today",
        ]
        * 3,
        "Billing": [
            "charged twice for my bundle",
            "refund my airtime please",
            "charged twice this month",
            "airtime deducted and charged twice",
            "my data is slow today",
        ]
        * 3,
    }
    ranked = distinctive_phrases(texts, top=3, min_count=3)
    assert ranked["Network"][0]["phrase"] in ("signal", "no signal")
    assert "charged twice" in [p["phrase"] for p in ranked["Billing"]] or ranked["Billing"][0]["phrase"] == "charged"
    assert all(p["phrase"] not in ("data", "slow") for p in ranked["Network"] + ranked["Billing"])
    assert distinctive_phrases({}) == {}


def test_phrases_leave_out_filler_words_and_list_each_phrase_once_in_its_longest_form():
    network = [
        "my home fibre keeps dropping every evening",
        "home fibre shows red light all week",
        "the home fibre router keeps blinking this week",
        "home fibre down again, modem shows los",
    ] * 6
    care = [
        "passed between agents, no solution after a week",
        "getting passed between agents with no solution",
        "I keep getting passed between agents for no solution",
        "agents promised a callback that never came",
    ] * 6
    ranked = distinctive_phrases({"Network": network, "Customer Service": care}, top=6, min_count=3)
    listed = {category: [p["phrase"] for p in phrases] for category, phrases in ranked.items()}
    everything = [phrase for phrases in listed.values() for phrase in phrases]
    assert not {"keeps", "keep", "shows", "week", "getting"} & {w for p in everything for w in p.split()}
    assert "home fibre" in listed["Network"]
    assert "home" not in listed["Network"] and "fibre" not in listed["Network"]  # all three counted 24
    for phrases in ranked.values():  # no listed word or phrase overlaps another listed with nearly its count
        for a in phrases:
            for b in phrases:
                if a is not b and set(a["phrase"].split()) & set(b["phrase"].split()):
                    assert min(a["count"], b["count"]) < 0.8 * max(a["count"], b["count"]), (a, b)


# -- forecasting pieces -----------------------------------------------------------------------------------------------
def test_complete_history_fills_missing_days_with_zero():
    daily = pd.DataFrame(
        {
            "day": [dt.date(2026, 11, 1), dt.date(2026, 11, 4)],
            "category": ["Network"] * 2,
            "source": ["sms"] * 2,
            "complaints": [3, 5],
        }
    )
    full = forecast.complete_history(daily)
    assert full["complaints"].tolist() == [3.0, 0.0, 0.0, 5.0]


def test_spike_mask_flags_an_outage_day_but_not_a_busy_monday():
    days = pd.date_range("2026-09-07", periods=56)
    counts = np.where(days.day_of_week == 0, 200.0, 100.0)
    counts[30] = 600.0
    mask = forecast.spike_mask(days, counts, z_threshold=5.0)
    assert mask.tolist().count(True) == 1 and mask[30]


def test_seasonal_naive_repeats_last_week():
    history = np.arange(14, dtype=float)
    assert forecast.seasonal_naive(history, 9).tolist() == [7, 8, 9, 10, 11, 12, 13, 7, 8]


def test_a_past_outage_does_not_lift_the_forecast():
    days = pd.date_range("2026-08-03", periods=84)
    rng = np.random.default_rng(3)
    base = np.where(days.day_of_week >= 5, 60.0, 100.0)
    counts = rng.poisson(base).astype(float)
    counts[-5] = 700.0  # an outage five days ago
    future = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=7)
    predicted, _, method = forecast.fit_predict_series(days, counts, future, forecast.ForecastSettings(), set())
    assert method == "poisson_weekly"
    weekday = predicted[future.day_of_week < 5]
    assert np.all(np.abs(weekday - 100) < 15)


def test_materialized_complaints_follow_appends_and_replacements(tmp_path):
    from beam_pipelines.generator.history import write_history
    from tests.support.warehouse import add_rows, read_table

    write_history(str(tmp_path), dt.date(2026, 11, 25), days=3, per_day=40, seed=2)
    warehouse = Warehouse(tmp_path, refresh_seconds=0, materialize=("complaints",))
    first = warehouse.scalar("SELECT count(*) FROM complaints")
    rows = read_table(tmp_path / "complaints").to_pylist()
    assert first == len(rows)
    add_rows(tmp_path, "complaints", [{**row, "complaint_id": f"new-{n}"} for n, row in enumerate(rows[:5])])
    assert warehouse.scalar("SELECT count(*) FROM complaints") == first + 5  # appended
    assert warehouse.scalar("SELECT event_date FROM complaints WHERE complaint_id = 'new-0'") == rows[0]["event_date"]
    add_rows(tmp_path, "complaints", [{**row, "text": "reprocessed"} for row in rows[:7]])  # replaces 7 rows
    assert warehouse.scalar("SELECT count(*) FROM complaints") == first + 5
    assert warehouse.scalar("SELECT count(*) FROM complaints WHERE text = 'reprocessed'") == 7


def test_published_replaces_a_file_or_folder_whole_and_leaves_nothing_when_a_write_fails(tmp_path):
    from serving.files import published

    target = tmp_path / "out" / "report.csv"
    with published(target) as hidden:
        assert hidden.parent == target.parent and hidden.name.startswith(".tmp-")
        hidden.write_text("first")
    with pytest.raises(RuntimeError):
        with published(target) as hidden:
            hidden.write_text("half of the second")
            raise RuntimeError("disk full")
    assert target.read_text() == "first"

    folder = tmp_path / "out" / "forecast_run=1"
    for content in ("old", "new"):
        with published(folder, folder=True) as hidden:
            (hidden / f"{content}.parquet").write_text(content)
    assert [p.name for p in folder.iterdir()] == ["new.parquet"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["forecast_run=1", "report.csv"]


def test_the_summary_baseline_counts_only_days_that_were_ingested(tmp_path):
    from beam_pipelines.generator.history import write_history
    from serving import queries

    end = dt.date(2026, 11, 25)
    from tests.support.warehouse import add_rows, read_table

    write_history(str(tmp_path), end, days=2, per_day=100, seed=3)
    day_before = [
        row
        for row in read_table(tmp_path / "complaints").to_pylist()
        if row["event_date"] == end - dt.timedelta(days=1)
    ]
    late = [
        {
            **row,
            "complaint_id": f"late-{n}",
            "flags": ["late_arrival"],
            "event_date": dt.date(2026, 11, 21),
            "event_time": dt.datetime(2026, 11, 21, 9, tzinfo=dt.UTC),
        }
        for n, row in enumerate(day_before[:3])
    ]
    add_rows(tmp_path, "complaints", late)
    summary = queries.summary(Warehouse(tmp_path, refresh_seconds=0))
    assert summary["day"] == "2026-11-25"
    assert summary["previous_days_with_data"] == 1  # 2026-11-24; the 21st has only 3 late arrivals
    assert summary["previous_7_day_mean"] == float(len(day_before))


def test_newest_first_places_a_mis_clocked_complaint_at_its_arrival_and_pages_still_cover_everything(tmp_path):
    from beam_pipelines.generator.history import write_history
    from serving import queries

    end = dt.date(2026, 11, 25)
    from tests.support.warehouse import add_rows, read_table

    write_history(str(tmp_path), end, days=1, per_day=60, seed=4)
    [template] = read_table(tmp_path / "complaints").slice(0, 1).to_pylist()
    arrived = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    future = {
        **template,
        "complaint_id": "fx-2036",
        "flags": ["future_timestamp"],
        "event_date": dt.date(2036, 11, 25),
        "event_time": dt.datetime(2036, 11, 25, 9, tzinfo=dt.UTC),
        "ingested_at": arrived,
    }
    add_rows(tmp_path, "complaints", [future])
    warehouse = Warehouse(tmp_path, refresh_seconds=0)
    seen, cursor = [], None
    while True:
        page = queries.search_complaints(warehouse, queries.SearchFilters(), 9, cursor)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [item["complaint_id"] for item in seen]
    assert ids[0] != "fx-2036" and ids.count("fx-2036") == 1
    assert len(ids) == len(set(ids)) == warehouse.scalar("SELECT count(*) FROM complaints")
    position = ids.index("fx-2036")
    before, after = seen[position - 1]["event_time"], seen[position + 1]["event_time"]
    assert before >= "2026-11-25T12:00:00Z" >= after  # between the complaints that came before and after it
