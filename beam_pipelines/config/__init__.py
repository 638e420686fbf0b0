"""Environment profiles (dev, staging, prod): version-controlled TOML files beside this module, selected by
``--profile`` (or ``COMPLAINTS_PROFILE``), or any TOML file given by path."""
from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from transforms.validation import ValidationRules

PROFILES = ("dev", "staging", "prod")
_DIR = Path(__file__).parent


class ConfigError(Exception):
    """A profile that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Settings:
    profile: str
    shards: int
    chunk_size: int
    sms_timeout: dt.timedelta
    call_centre_timezone: str
    validation: dict
    contact_token_key: bytes
    runner_defaults: dict

    def rules(self, batch_date: dt.date) -> ValidationRules:
        v = self.validation
        return ValidationRules(
            batch_date=batch_date,
            future_tolerance=dt.timedelta(minutes=v.get("future_tolerance_minutes", 10)),
            late_after=dt.timedelta(days=v.get("late_after_days", 1)),
            stale_after=dt.timedelta(days=v.get("stale_after_days", 365)),
            max_text_chars=v.get("max_text_chars", 20_000),
            max_call_duration=dt.timedelta(hours=v.get("max_call_duration_hours", 4)),
        )


def load_settings(profile: str | None = None) -> Settings:
    name = profile or os.environ.get("COMPLAINTS_PROFILE", "dev")
    path = Path(name) if name.endswith(".toml") else _DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)} or a .toml file")
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"profile {path} is not valid TOML: {error}") from None
    pipeline, security = data.get("pipeline", {}), data.get("security", {})
    key_env = security.get("contact_token_key_env", "COMPLAINTS_CONTACT_TOKEN_KEY")
    key = os.environ.get(key_env) or security.get("contact_token_key")
    if not key:
        raise ConfigError(f"profile {name!r} needs the contact-token key: set the environment variable {key_env}")
    return Settings(
        profile=path.stem,
        shards=int(pipeline.get("shards", 0)),
        chunk_size=int(pipeline.get("chunk_size", 10_000)),
        sms_timeout=dt.timedelta(hours=pipeline.get("sms_reassembly_timeout_hours", 24)),
        call_centre_timezone=pipeline.get("call_centre_timezone", "Africa/Lagos"),
        validation=data.get("validation", {}),
        contact_token_key=key.encode("utf-8"),
        runner_defaults=data.get("runner", {}),
    )
