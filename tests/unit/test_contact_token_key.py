"""The contact-token key is found where it is used: a pipeline carries ``ContactTokenKey`` (where the key is and a
check of it), each worker reads the key as its enrichment step sets up (``resolve``), and the profile says where
(``[security]``). A worker that finds no key, or another, fails there; a key given by value warns that it travels."""

import logging
import pickle

import pytest

from beam_pipelines.config import ConfigError, load_settings
from beam_pipelines.parameters import contact_token_key_for_workers
from tests.support.pickled import readable_bytes
from transforms import Enrich
from transforms.enrichment import (
    DEVELOPMENT_TOKEN_KEY,
    TOKEN_KEY_ENV,
    ContactTokenKey,
    ContactTokenKeyError,
    key_check,
)

SECRET = "a-worker-key-not-in-any-pipeline-7f3c"
ENV = "TEST_CONTACT_TOKEN_KEY_7F3C"


@pytest.fixture
def no_key(monkeypatch):
    """Neither the test's variable nor the default one set (restored afterwards)."""
    for name in (ENV, TOKEN_KEY_ENV):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_the_worker_reads_the_variable_else_the_file_else_takes_the_development_key(no_key, monkeypatch, tmp_path):
    secret_file = tmp_path / "contact-token-key"
    secret_file.write_text(SECRET + "-from-file\n")  # a Kubernetes secret volume: the key and a newline
    where = ContactTokenKey(env=ENV, file=str(secret_file))
    assert where.resolve() == (SECRET + "-from-file").encode()
    monkeypatch.setenv(ENV, SECRET)
    assert where.resolve() == SECRET.encode()
    assert ContactTokenKey(env="", file="").resolve() == DEVELOPMENT_TOKEN_KEY


def test_a_key_file_that_cannot_be_read_is_an_error_never_the_development_key(no_key, tmp_path):
    with pytest.raises(ContactTokenKeyError, match=r"cannot read the contact-token key from .*missing"):
        ContactTokenKey(env=ENV, file=str(tmp_path / "missing")).resolve()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ContactTokenKeyError, match=r"the contact-token key file .* is empty"):
        ContactTokenKey(env=ENV, file=str(tmp_path / "empty")).resolve()


def test_a_worker_that_finds_no_key_or_another_fails_and_never_says_a_key(no_key, monkeypatch):
    expected = ContactTokenKey.expecting(SECRET.encode(), env=ENV)
    with pytest.raises(ContactTokenKeyError, match=rf"no contact-token key here \(\${ENV}\)") as none:
        expected.resolve()  # without the check it would take the development key: tokens that join nothing
    monkeypatch.setenv(ENV, "another-key")
    with pytest.raises(ContactTokenKeyError, match=rf"the contact-token key in \${ENV} is not the one") as other:
        expected.resolve()
    for refused in (none, other):
        assert SECRET not in str(refused.value) and "another-key" not in str(refused.value)
    monkeypatch.setenv(ENV, SECRET)
    assert expected.resolve() == SECRET.encode()
    # the development key passes its own check with nothing set: the dev profile runs on any worker as it is
    monkeypatch.delenv(ENV)
    assert ContactTokenKey.expecting(DEVELOPMENT_TOKEN_KEY, env=ENV).resolve() == DEVELOPMENT_TOKEN_KEY


def test_what_travels_holds_no_key_and_the_launchers_own_key_is_checked(no_key, monkeypatch):
    monkeypatch.setenv(ENV, SECRET)
    here = ContactTokenKey.found_here(env=ENV)
    assert here == ContactTokenKey(ENV, "", key_check(SECRET.encode()))
    assert SECRET.encode() not in readable_bytes(pickle.dumps(here)) and SECRET not in repr(here)
    assert ContactTokenKey.found_here(env="UNSET_" + ENV).check == ""  # no key here: the workers take theirs


def test_enrich_warns_only_when_the_key_is_given_by_value(no_key, caplog):
    with caplog.at_level(logging.WARNING, logger="transforms.stages"):
        Enrich(contact_token_key=ContactTokenKey(env=ENV))
        Enrich()
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING, logger="transforms.stages"):
        by_value = Enrich(contact_token_key=SECRET)
    assert "given by value, so it is pickled into the pipeline" in caplog.text and SECRET not in caplog.text
    assert by_value.contact_token_key == SECRET.encode()
    with pytest.raises(TypeError, match="contact_token_key must be a ContactTokenKey"):
        Enrich(contact_token_key=42)


def test_enrich_by_default_carries_the_variables_name_and_a_check_of_the_launchers_key(no_key, monkeypatch):
    monkeypatch.setenv(TOKEN_KEY_ENV, SECRET)
    assert Enrich().contact_token_key == ContactTokenKey(TOKEN_KEY_ENV, "", key_check(SECRET.encode()))


def test_the_profile_names_a_key_file_and_the_settings_say_where_the_key_came_from(no_key, monkeypatch, tmp_path):
    secret_file = tmp_path / "contact-token-key"
    secret_file.write_text(SECRET + "\n")
    profile = tmp_path / "with-file.toml"
    profile.write_text(f'[security]\ncontact_token_key_file = "{secret_file}"\n')
    settings = load_settings(str(profile))
    assert (settings.contact_token_key, settings.contact_token_key_source) == (SECRET.encode(), "key file")
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert not settings.public_contact_token_key
    travels = contact_token_key_for_workers(settings)
    assert travels == ContactTokenKey(TOKEN_KEY_ENV, str(secret_file), key_check(SECRET.encode()))
    monkeypatch.setenv(TOKEN_KEY_ENV, "from-the-environment")  # the variable comes first, as on the workers
    assert load_settings(str(profile)).contact_token_key_source == "environment"
    secret_file.unlink()
    monkeypatch.delenv(TOKEN_KEY_ENV)
    with pytest.raises(ConfigError, match=r"cannot read the contact-token key from .*contact-token-key"):
        load_settings(str(profile))
    with pytest.raises(ConfigError, match=f"set the environment variable {TOKEN_KEY_ENV} or .*contact_token_key_file"):
        load_settings("prod")


def test_a_profile_files_own_key_is_handed_to_the_launchers_workers_in_the_environment(no_key, tmp_path):
    """A key written in a profile (public: it warns) is put where the workers this launcher starts find it; the
    development key is not (a worker that finds none takes it), so the dev profile leaves the environment alone."""
    import os

    dev = load_settings("dev")
    assert contact_token_key_for_workers(dev) == ContactTokenKey.expecting(DEVELOPMENT_TOKEN_KEY)
    assert TOKEN_KEY_ENV not in os.environ
    profile = tmp_path / "own.toml"
    profile.write_text('[security]\ncontact_token_key = "a-profile-key"\n')
    own = load_settings(str(profile))
    assert own.public_contact_token_key
    assert contact_token_key_for_workers(own).resolve() == b"a-profile-key"
    assert os.environ[TOKEN_KEY_ENV] == "a-profile-key"


def test_the_launcher_says_when_a_profiles_own_key_cannot_reach_the_workers(no_key, tmp_path, capsys):
    from beam_pipelines.cli.pipelines import warn_if_key_not_sent

    profile = tmp_path / "own.toml"
    profile.write_text('[security]\ncontact_token_key = "a-profile-key"\n')
    own, dev = load_settings(str(profile)), load_settings("dev")
    warn_if_key_not_sent(own, "FlinkRunner", ["--environment_type=LOOPBACK"], "batch")  # its workers are here
    warn_if_key_not_sent(dev, "FlinkRunner", ["--environment_type=EXTERNAL"], "batch")  # they take the dev key
    assert capsys.readouterr().err == ""
    warn_if_key_not_sent(own, "FlinkRunner", ["--environment_type=EXTERNAL"], "batch")
    (line,) = capsys.readouterr().err.splitlines()
    assert "contact-token key is not sent with the job" in line and f"${TOKEN_KEY_ENV}" in line
    assert "a-profile-key" not in line
