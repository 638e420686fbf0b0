"""Monitoring: the shipped Prometheus rules and configurations (checked and unit-tested by Prometheus' own
promtool and amtool), what /metrics derives from run manifests and the profile, and the soft quality limits."""

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from beam_pipelines.batch import quality_warnings
from beam_pipelines.config import ConfigError, QualitySettings, load_section
from serving.health import RunManifests
from serving.metrics import run_families, threshold_families

MONITORING = Path(__file__).resolve().parents[2] / "runners" / "monitoring"


def test_the_alert_rules_pass_their_promtool_unit_tests(monitoring_tools):
    checked = subprocess.run(
        [monitoring_tools["promtool"], "check", "rules", "alerts.yml"], cwd=MONITORING, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [monitoring_tools["promtool"], "test", "rules", "alerts_test.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_a_broken_rule_fails_its_promtool_tests(monitoring_tools, tmp_path):
    """The rule tests do test: FeedSilent with the comparison turned around fails them."""
    rules = (MONITORING / "alerts.yml").read_text()
    broken = rules.replace(
        "> on (source) complaints_quality_max_silence_seconds", "< on (source) complaints_quality_max_silence_seconds"
    )
    assert broken != rules
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts_test.yml").write_text((MONITORING / "alerts_test.yml").read_text())
    tested = subprocess.run(
        [monitoring_tools["promtool"], "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert tested.returncode != 0 and "FeedSilent" in tested.stdout + tested.stderr


def test_the_prometheus_and_alertmanager_configurations_are_valid(monitoring_tools, tmp_path):
    for name in ("prometheus.yml", "alerts.yml", "alertmanager.yml"):
        (tmp_path / name).write_text((MONITORING / name).read_text())
    (tmp_path / "metrics.key").write_text("a-scrape-key\n")
    prometheus = subprocess.run(
        [monitoring_tools["promtool"], "check", "config", "prometheus.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert prometheus.returncode == 0, prometheus.stdout + prometheus.stderr
    alertmanager = subprocess.run(
        [monitoring_tools["amtool"], "check-config", "alertmanager.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert alertmanager.returncode == 0, alertmanager.stdout + alertmanager.stderr


def _samples(families) -> dict:
    """{(name, labels as a sorted tuple): value} of collected families, as Prometheus would read them."""
    registry = CollectorRegistry(auto_describe=False)

    class Fixed:
        def collect(self):
            return families

    registry.register(Fixed())
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
    }


def _manifest(run_id: str, finished: str, status: str, counts: dict, **extra) -> dict:
    return {
        "run_id": run_id,
        "finished_at": finished,
        "status": status,
        "duration_seconds": 12.5,
        "counts": counts,
        **extra,
    }


def _counts(read, written, rejected, reasons=None, flagged=None):
    return {
        "read": read,
        "written": written,
        "rejected": rejected,
        "duplicates": read - written - rejected,
        "merged_parts": 0,
        "rejected_by_reason": reasons or {},
        "flagged": flagged or {},
    }


def test_run_metrics_report_each_sources_latest_run_and_its_last_success(tmp_path):
    runs = tmp_path / "_runs"
    runs.mkdir()
    manifests = [
        _manifest(
            "r1",
            "2026-11-26T01:00:00+00:00",
            "succeeded",
            {"sms": _counts(100, 95, 5, {"parse:missing_field": 5}), "phone": _counts(50, 50, 0)},
        ),
        _manifest(
            "r2",
            "2026-11-26T02:00:00+00:00",
            "refused",
            {"sms": _counts(100, 60, 40, {"parse:invalid_timestamp": 40}, {"possible_duplicate": 9})},
            quality_warnings=["sms: 0.15 flags per written complaint, above 0.10 ([quality] max_flagged_ratio)"],
        ),
    ]
    for manifest in manifests:
        (runs / f"{manifest['run_id']}.json").write_text(json.dumps(manifest))
    (runs / "r3.json.tmp").write_text("{half")  # a manifest being written is not a run
    samples = _samples(run_families(RunManifests(runs).all()))
    assert samples[("complaints_batch_runs_total", (("status", "refused"),))] == 1
    assert samples[("complaints_batch_runs_total", (("status", "succeeded"),))] == 1
    sms, phone = (("source", "sms"),), (("source", "phone"),)
    assert samples[("complaints_batch_last_run_succeeded", sms)] == 0  # the refused run is sms's latest
    assert samples[("complaints_batch_last_run_succeeded", phone)] == 1
    assert samples[("complaints_batch_last_run_reject_ratio", sms)] == pytest.approx(0.4)
    assert samples[("complaints_batch_last_run_flagged_ratio", sms)] == pytest.approx(9 / 60)
    assert samples[("complaints_batch_last_run_quality_warnings", sms)] == 1
    assert (
        samples[
            ("complaints_batch_last_run_rejected_records", (("reason", "parse:invalid_timestamp"), ("source", "sms")))
        ]
        == 40
    )
    assert (
        "complaints_batch_last_run_rejected_records",
        (("reason", "parse:missing_field"), ("source", "sms")),
    ) not in samples  # an older run's reason
    assert samples[("complaints_batch_last_run_records", (("outcome", "written"), ("source", "sms")))] == 60
    # the last success of sms is the earlier run; phone's is the same run
    one, two = (dt.datetime(2026, 11, 26, hour, tzinfo=dt.UTC).timestamp() for hour in (1, 2))
    assert samples[("complaints_batch_last_success_timestamp_seconds", sms)] == one
    assert samples[("complaints_batch_last_success_timestamp_seconds", phone)] == one
    assert samples[("complaints_batch_last_run_timestamp_seconds", sms)] == two


def test_the_profiles_quality_limits_are_exported_per_channel_and_added_to_the_defaults(tmp_path):
    profile = tmp_path / "strict.toml"
    profile.write_text(
        "[quality]\nmax_reject_ratio = 0.05\nmax_silence_minutes = {twitter = 5}\nmin_daily_volume = {phone = 120}\n"
    )
    quality = load_section("quality", str(profile))
    samples = _samples(threshold_families(quality))
    assert samples[("complaints_quality_max_silence_seconds", (("source", "twitter"),))] == 300
    assert (
        samples[("complaints_quality_max_silence_seconds", (("source", "phone"),))]
        == QualitySettings().max_silence_minutes["phone"] * 60
    )  # not set: the default stays
    assert samples[("complaints_quality_min_daily_volume", (("source", "phone"),))] == 120
    assert ("complaints_quality_min_daily_volume", (("source", "sms"),)) not in samples
    assert samples[("complaints_quality_max_reject_ratio", ())] == 0.05


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[quality]\nmin_daily_volume = {fax = 3}\n", "unknown channel 'fax'"),
        ("[quality]\nmax_silence_minutes = {sms = 0}\n", "must be a positive number"),
        ("[quality]\nmax_flagged_ratio = 1.5\n", "between 0 and 1"),
    ],
)
def test_bad_quality_limits_are_refused_with_the_reason(tmp_path, text, problem):
    profile = tmp_path / "bad.toml"
    profile.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_section("quality", str(profile))


def test_a_source_flagged_above_the_limit_is_a_warning_not_a_refusal():
    counts = {
        "sms": _counts(100, 80, 20, flagged={"possible_duplicate": 30, "missing_customer": 20}),
        "phone": _counts(100, 100, 0, flagged={"possible_duplicate": 10}),
        "customers": {"read": 10, "loaded": 10, "rejected": 0, "rejected_by_reason": {}},
    }
    warnings = quality_warnings(counts, QualitySettings(max_flagged_ratio=0.5))
    assert warnings == ["sms: 0.62 flags per written complaint, above 0.50 ([quality] max_flagged_ratio)"]
    assert quality_warnings(counts, QualitySettings(max_flagged_ratio=0.7)) == []
