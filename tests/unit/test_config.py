"""Profiles: typed settings with one home for their defaults, refused typos, and Beam options the command
line overrides."""

import pytest

from beam_pipelines.config import ConfigError, StreamingSettings, ValidationSettings, load_settings
from beam_pipelines.parameters import stream_timing, validation_rules
from runners.options import build_options


def write_profile(tmp_path, text: str) -> str:
    path = tmp_path / "custom.toml"
    path.write_text('[security]\ncontact_token_key = "k"\n' + text)
    return str(path)


def test_a_profile_sets_only_what_differs_and_the_rest_are_the_dataclass_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLAINTS_CONTACT_TOKEN_KEY", "a-secret")
    settings = load_settings(
        write_profile(tmp_path, "[validation]\nstale_after_days = 30\n[streaming]\nwindow_seconds = 300\n")
    )
    assert settings.validation == ValidationSettings(stale_after_days=30)
    assert settings.streaming == StreamingSettings(window_seconds=300)
    assert validation_rules(settings.validation, None).stale_after.days == 30
    assert load_settings("prod").validation.stale_after_days == 180
    assert load_settings("dev").validation == ValidationSettings()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[validation]\nstale_after_dyas = 30\n", "unknown setting [validation] stale_after_dyas"),
        ("[streeming]\nwindow_seconds = 30\n", "unknown section streeming"),
        ('[pipeline]\nshards = "8"\n', "[pipeline] shards must be int, got '8'"),
        ("[streaming]\nwindow_seconds = true\n", "[streaming] window_seconds must be int, got True"),
    ],
)
def test_typos_and_wrong_types_are_refused_with_what_to_fix(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(write_profile(tmp_path, text))


def test_stream_flags_override_the_profile_and_bad_values_are_refused():
    timing = stream_timing(StreamingSettings(window_seconds=300), window_seconds=None, dedupe_horizon_seconds=60)
    assert (timing.window_seconds, timing.dedupe_horizon_seconds) == (300, 60)
    with pytest.raises(ValueError, match="window_seconds must be at least 1"):
        stream_timing(StreamingSettings(window_seconds=0))


def test_profile_runner_options_sit_under_the_command_line():
    defaults = {"direct_num_workers": 2, "direct_running_mode": "multi_processing"}
    given = build_options("DirectRunner", ["--direct_num_workers=1"], defaults).get_all_options()
    assert (given["direct_num_workers"], given["direct_running_mode"]) == (1, "multi_processing")
    assert build_options("DirectRunner", [], defaults).get_all_options()["direct_num_workers"] == 2
    # a remote runner gets only what the command line says
    assert build_options("FlinkRunner", [], defaults).get_all_options()["direct_num_workers"] == 1


def test_a_small_batch_runs_in_one_process_unless_the_command_line_says_how():
    from runners.options import local_runner_options

    profile = {"direct_num_workers": 2, "direct_running_mode": "multi_processing", "pipeline_type_check": True}
    one_process = {"direct_num_workers": 1, "direct_running_mode": "in_memory", "pipeline_type_check": True}
    mb = 2**20
    assert local_runner_options(profile, [], 16 * mb - 1, 16) == one_process
    assert local_runner_options(profile, [], 16 * mb, 16) == profile
    assert local_runner_options(profile, [], 1, 0) == profile  # 0: always the profile's
    for given in (["--direct_num_workers=2"], ["--direct_running_mode", "multi_threading"]):
        assert local_runner_options(profile, given, 1, 16) == profile
    assert local_runner_options(profile, ["--pipeline_type_check"], 1, 16) == one_process


def test_a_negative_single_process_size_is_refused(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text('[security]\ncontact_token_key = "k"\n[pipeline]\nsingle_process_below_mb = -1\n')
    with pytest.raises(ConfigError, match=r"single_process_below_mb must be 0 or more"):
        load_settings(str(profile))


def test_a_gzip_input_counts_as_the_data_it_holds_when_the_mode_is_chosen():
    import datetime as dt

    from beam_pipelines.batch import GZIP_RATIO, BatchPlan, InputFile

    files = [
        InputFile("twitter", "in/twitter/t.jsonl", "twitter/t.jsonl", 1000),
        InputFile("sms", "in/sms/s.txt.gz", "sms/s.txt.gz", 100),
    ]
    plan = BatchPlan("in", "out", dt.date(2026, 11, 20), "b", "r", dt.datetime.now(dt.UTC), files, 8, "DirectRunner")
    assert plan.input_bytes == 1000 + 100 * GZIP_RATIO
