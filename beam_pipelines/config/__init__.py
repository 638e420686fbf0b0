"""Environment profiles (dev, staging, prod): version-controlled TOML files beside this module, selected by
``--profile`` (or ``COMPLAINTS_PROFILE``), or any TOML file given by path.

The settings are typed dataclasses, and each default has one home: here, or, where the library needs the value
without a profile (the commit's quality limits), the library's dataclass that the section extends. A profile sets
what differs, an unknown section or key is refused (a typo must not silently fall back to a default), and the
pipelines turn the settings into the transforms' parameters (``beam_pipelines/parameters.py``). This module
imports no Beam (``transforms.run_checks`` is plain Python), so every command can read a profile.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from transforms.run_checks import QualityLimits
from warehouse.secrets import SecretError, read_secret

PROFILES = ("dev", "staging", "prod")
CHANNELS = ("twitter", "webform", "sms", "phone")  # the complaint channels, as the `source` column names them
_DIR = Path(__file__).parent


class ConfigError(Exception):
    """A profile that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class PipelineSettings:
    """``[pipeline]``: how a batch is cut up and read."""

    shards: int = 0  # 0 = one shard per ~32 MB of input (at least 8)
    chunk_size: int = 10_000  # raw records per lake file
    sms_reassembly_timeout_hours: int = 24  # parts of a long SMS still joined when this far apart
    call_centre_timezone: str = "Africa/Lagos"  # wall-clock zone of call-centre exports without an offset
    #: a batch whose input is smaller than this many MB runs on the local runner in one process (``in_memory``)
    #: instead of the [runner] options' worker processes, which cost more than they gain below about 30,000
    #: complaints (README, "Performance"); 0 = always the [runner] options. A mode or worker count given on the
    #: command line always wins
    single_process_below_mb: int = 16

    def __post_init__(self):
        if self.single_process_below_mb < 0:
            raise ValueError("[pipeline] single_process_below_mb must be 0 or more")


@dataclass(frozen=True)
class ValidationSettings:
    """``[validation]``: thresholds of the validation rules (``transforms/validation.py``). The defaults are the
    library's own (``transforms.validation.ValidationRules()``; a test keeps them equal), so a pipeline built
    without a profile applies the same rules."""

    future_tolerance_minutes: int = 10  # timed further than this after its ingestion: flagged future_timestamp
    late_after_days: int = 1  # event day this many days before the batch date: flagged late_arrival
    stale_after_days: int = 365  # timed this long before its ingestion: flagged stale_event_time
    max_text_chars: int = 20_000  # a longer text is rejected (text_too_long)
    max_call_duration_hours: int = 4  # a call logged longer (or negative): flagged implausible_call_duration


@dataclass(frozen=True)
class StreamingSettings:
    """``[streaming]``: event-time windows, lateness and dedupe of the streaming pipeline; the ``stream``
    command's flags override them."""

    window_seconds: int = 60  # fixed event-time windows of files and live aggregates
    allowed_lateness_seconds: int = 3600  # how long after its window closes a record still joins it
    early_firing_count: int = 1000  # an open window writes early once this many records wait (0: never)
    dedupe_horizon_seconds: int = 86400  # a complaint_id seen again within this is a duplicate
    future_tolerance_seconds: int = 600  # clock skew allowed between a payload's time and arrival


@dataclass(frozen=True)
class QualitySettings(QualityLimits):
    """``[quality]``: what a batch must meet before its output is committed (the library's
    ``transforms.run_checks.QualityLimits``, whose defaults these are), and the feed-health alerts' limits."""

    #: per channel: minutes without a new record (complaint or dead letter) before the feed counts as silent
    #: (alert FeedSilent); the call centre exports once a day, so its gap is a day and two hours
    max_silence_minutes: dict = field(
        default_factory=lambda: {"twitter": 60.0, "webform": 180.0, "sms": 180.0, "phone": 1560.0}
    )
    #: per channel: complaints expected at least, per complete day (alert VolumeLow); a channel not listed has
    #: no minimum
    min_daily_volume: dict = field(default_factory=dict)

    def __post_init__(self):
        super().__post_init__()
        for name in ("max_silence_minutes", "min_daily_volume"):
            for channel, value in getattr(self, name).items():
                if channel not in CHANNELS:
                    raise ValueError(f"[quality] {name}: unknown channel {channel!r} (known: {', '.join(CHANNELS)})")
                if type(value) not in (int, float) or value <= 0:
                    raise ValueError(f"[quality] {name}.{channel} must be a positive number, got {value!r}")


PRIORITY_LEVELS = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True)
class SlaSettings:
    """``[sla]``: complaint-response service levels, per priority, with overrides per customer segment (read by
    the API, the dashboard, the reports and /metrics; ``serving/sla.py``)."""

    #: minutes from the first contact to the first response, per priority
    first_response_minutes: dict = field(default_factory=lambda: {"P1": 60, "P2": 240, "P3": 1440, "P4": 2880})
    #: hours from the first contact to resolution, per priority
    resolve_hours: dict = field(default_factory=lambda: {"P1": 24, "P2": 72, "P3": 168, "P4": 336})
    #: per segment, tables like the two above that replace their values for that segment's customers, e.g.
    #: segments = { enterprise = { first_response_minutes = { P1 = 30 } } }
    segments: dict = field(default_factory=dict)
    case_window_hours: float = 48.0  # one customer's complaints (any channel) this close to the first are one case
    at_risk_share: float = 0.25  # an open case with less than this share of its allowance left is at risk

    def __post_init__(self):
        def check(table: dict, where: str, unit: str) -> None:
            for priority, value in table.items():
                if priority not in PRIORITY_LEVELS:
                    raise ValueError(
                        f"[sla] {where}: unknown priority {priority!r} (known: {', '.join(PRIORITY_LEVELS)})"
                    )
                if type(value) not in (int, float) or value <= 0:
                    raise ValueError(f"[sla] {where}.{priority} must be a positive number of {unit}, got {value!r}")

        check(self.first_response_minutes, "first_response_minutes", "minutes")
        check(self.resolve_hours, "resolve_hours", "hours")
        for segment, overrides in self.segments.items():
            if not isinstance(overrides, dict) or set(overrides) - {"first_response_minutes", "resolve_hours"}:
                raise ValueError(f"[sla] segments.{segment} may set first_response_minutes and resolve_hours only")
            check(overrides.get("first_response_minutes", {}), f"segments.{segment}.first_response_minutes", "minutes")
            check(overrides.get("resolve_hours", {}), f"segments.{segment}.resolve_hours", "hours")
        if self.case_window_hours < 0 or not 0 < self.at_risk_share < 1:
            raise ValueError("[sla] case_window_hours must be >= 0 and at_risk_share between 0 and 1")

    def allowance(self, priority: str | None, segment: str | None) -> tuple[float, float]:
        """(seconds to the first response, seconds to resolution) for a case of ``priority`` and ``segment``."""
        priority = priority if priority in PRIORITY_LEVELS else "P4"
        overrides = self.segments.get(segment or "", {})
        minutes = overrides.get("first_response_minutes", {}).get(priority, self.first_response_minutes[priority])
        hours = overrides.get("resolve_hours", {}).get(priority, self.resolve_hours[priority])
        return minutes * 60.0, hours * 3600.0


@dataclass(frozen=True)
class WarehouseSettings:
    """``[warehouse]``: the Iceberg catalog of the warehouse tables (``warehouse/catalog.py``) and their upkeep
    (``complaints warehouse maintain``)."""

    catalog: str = ""  # "": embedded SQLite catalog in OUT/warehouse; else a catalog name that
    #                                     pyiceberg is configured with (~/.pyiceberg.yaml, PYICEBERG_CATALOG__*)
    #: the database of a shared Iceberg SQL catalog that every worker reaches, as a SQLAlchemy URI, e.g.
    #: postgresql+psycopg://USER@HOST:5432/DATABASE (docs/operations/shared-catalog.md); "": the embedded
    #: (or the named) catalog. Its password is best given apart (the two keys below); one written into the URI
    #: is taken out of it by the launcher and handed to its local workers in catalog_password_env
    catalog_uri: str = ""
    catalog_uri_env: str = "COMPLAINTS_CATALOG_URI"  # an environment variable whose URI, when set, is used instead
    #: the environment variable the catalog's password is read from by whichever process opens the catalog (the
    #: launcher, each worker): only its name travels with a job; unset there, the file below, then libpq's own
    #: PGPASSWORD, PGPASSFILE or ~/.pgpass are tried
    catalog_password_env: str = "COMPLAINTS_CATALOG_PASSWORD"
    #: a file holding the catalog's password, read where the catalog is opened: a path (a Kubernetes secret
    #: volume) or a URI Beam's filesystems read (gs://, readable by the workers' service account only); "": none
    catalog_password_file: str = ""
    namespace: str = "beejan"  # the catalog namespace of the tables
    commit_attempts: int = 8  # a commit refused because another writer committed first is redone
    snapshot_retention_hours: int = 168  # maintain: snapshots older than this expire (time travel reaches back so far)
    orphan_age_hours: int = 24  # maintain: unreferenced files older than this are removed
    compact_min_files: int = 8  # maintain: a partition with at least this many files is rewritten


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]``: where the scheduled jobs' failure alerts go (``complaints alert``, the Airflow DAGs'
    failure callback)."""

    webhook_url: str = ""  # POSTed a JSON alert; "": alerts are printed to standard output (the task log)
    webhook_url_env: str = "COMPLAINTS_ALERT_WEBHOOK_URL"  # an environment variable that overrides it (secrets)
    timeout_seconds: int = 10


@dataclass(frozen=True)
class LakeSettings:
    """``[lake]``: how long the raw records are kept (``complaints warehouse maintain`` removes older ones)."""

    retention_days: int = 730  # ingest_date partitions older than this are removed; 0 keeps everything


@dataclass(frozen=True)
class SecuritySettings:
    """``[security]``: where the contact-token key comes from (only dev may carry one in the file). The launcher
    and every worker read it there themselves (``transforms.enrichment.ContactTokenKey``): a pipeline carries the
    names below, never the key."""

    #: the environment variable that holds the key (a Kubernetes secret); looked at first
    contact_token_key_env: str = "COMPLAINTS_CONTACT_TOKEN_KEY"
    #: a file whose first line is the key, when the variable is not set: a path (a Kubernetes secret volume) or a
    #: URI Beam's filesystems read (gs://, readable only by the launcher's and the workers' service accounts: for
    #: Dataflow, whose workers get no environment variables); "": none
    contact_token_key_file: str = ""
    #: the key itself, public (dev only): used when neither of the above gives one
    contact_token_key: str | None = None


@dataclass(frozen=True)
class WebformSettings:
    """``[webform]``: the public web-form endpoint (``complaints ingest webform``; docs/operations/
    webform-endpoint.md). Keys are named by environment variables (secrets); only dev may carry one in the file."""

    max_body_bytes: int = 65_536  # a larger body is refused with 413 (before 100 Continue when declared)
    body_timeout_seconds: float = 10.0  # the whole body must arrive within this after the headers, else 408
    delivery_timeout_seconds: float = 10.0  # how long a post waits for its message's delivery report (then 503)
    retry_after_seconds: int = 5  # the Retry-After of a 503 (transport down, outcome unknown) and a 429
    #: the browser origins (scheme://host[:port]) whose pages may post (CORS); a request with any other Origin
    #: header is refused with 403. Empty: no cross-origin browser post at all
    allowed_origins: list = field(default_factory=list)
    require_origin: bool = False  # true: a request without an Origin header is refused too (browsers only)
    #: reverse proxies (IP addresses or CIDR networks) whose X-Forwarded-For is believed; from anyone else the
    #: header is ignored and the client is the connection's peer
    trusted_proxies: list = field(default_factory=list)
    rate_per_minute: float = 30.0  # posts per client IP per minute, sustained (0: no limit)
    rate_burst: int = 10  # posts a client IP may make at once before the rate applies
    retry_window_seconds: int = 86_400  # a submission id seen again with other content within this is counted
    #                                        as a collision (metric webform_identity_collisions_total)
    identity_key_env: str = "COMPLAINTS_WEBFORM_IDENTITY_KEY"  # the key of the identity hash (a secret)
    identity_key: str | None = None  # dev only: the key in the file
    #: the key that signs form tokens (X-Form-Token); "" = no token needed. Set it where the form page can
    #: issue tokens (ingest.webform_endpoint.issue_form_token)
    form_token_key_env: str = ""
    form_token_ttl_seconds: int = 3600  # a form token issued longer ago than this is refused (403, expired)

    def __post_init__(self):
        if self.max_body_bytes < 1 or self.body_timeout_seconds <= 0 or self.delivery_timeout_seconds <= 0:
            raise ValueError(
                "[webform] max_body_bytes, body_timeout_seconds and delivery_timeout_seconds must be positive"
            )
        if self.form_token_ttl_seconds < 1:
            raise ValueError(f"[webform] form_token_ttl_seconds must be at least 1, got {self.form_token_ttl_seconds}")
        if self.rate_per_minute < 0 or self.rate_burst < 1 or self.retry_after_seconds < 1:
            raise ValueError("[webform] rate_per_minute must be >= 0, rate_burst and retry_after_seconds >= 1")
        for origin in self.allowed_origins:
            if (
                not isinstance(origin, str)
                or not origin.startswith(("http://", "https://"))
                or origin.rstrip("/") != origin
            ):
                raise ValueError(f"[webform] allowed_origins: {origin!r} is not an origin like https://example.com")
        import ipaddress

        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except (TypeError, ValueError):
                raise ValueError(f"[webform] trusted_proxies: {proxy!r} is not an IP address or network") from None


@dataclass(frozen=True)
class Settings:
    profile: str
    contact_token_key: bytes = field(repr=False)  # a secret: never in a log line or a traceback's locals
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    streaming: StreamingSettings = field(default_factory=StreamingSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    sla: SlaSettings = field(default_factory=SlaSettings)
    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    lake: LakeSettings = field(default_factory=LakeSettings)
    webform: WebformSettings = field(default_factory=WebformSettings)
    #: ``[runner]``: Beam pipeline options for the local runner, under whatever the command line gives
    runner_defaults: dict = field(default_factory=dict)
    #: where the contact-token key came from: ``environment`` or ``key file`` (a secret), or ``profile file`` (the
    #: dev profile's public key: tokens made with it can be reversed by anyone who has the repository)
    contact_token_key_source: str = "environment"
    #: ``[security]``: where the key is found, which is what a pipeline carries to its workers
    security: SecuritySettings = field(default_factory=SecuritySettings)

    @property
    def public_contact_token_key(self) -> bool:
        return self.contact_token_key_source == "profile file"

    # the pipeline settings the graphs read most, by their short names
    @property
    def shards(self) -> int:
        return self.pipeline.shards

    @property
    def chunk_size(self) -> int:
        return self.pipeline.chunk_size

    @property
    def sms_timeout(self) -> dt.timedelta:
        return dt.timedelta(hours=self.pipeline.sms_reassembly_timeout_hours)

    @property
    def call_centre_timezone(self) -> str:
        return self.pipeline.call_centre_timezone


SECTIONS = {
    "pipeline": PipelineSettings,
    "validation": ValidationSettings,
    "streaming": StreamingSettings,
    "quality": QualitySettings,
    "sla": SlaSettings,
    "warehouse": WarehouseSettings,
    "alerts": AlertSettings,
    "lake": LakeSettings,
    "security": SecuritySettings,
    "webform": WebformSettings,
}


def _section(path: Path, name: str, values: dict):
    """The ``[name]`` table of a profile as its dataclass; unknown keys and wrong types are refused."""
    kind = SECTIONS[name]
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"profile {path}: unknown setting [{name}] {', '.join(unknown)} (known: {', '.join(fields)})")
    for key, value in values.items():
        expected = type(getattr(kind(), key)) if getattr(kind(), key) is not None else str
        if expected is float and type(value) is int:
            value = values[key] = float(value)
        if expected is dict and type(value) is dict:  # a table of per-channel values adds to the defaults
            values[key] = {**getattr(kind(), key), **value}
        if type(value) is not expected:  # exactly: a bool is not an int setting
            raise ConfigError(f"profile {path}: [{name}] {key} must be {expected.__name__}, got {value!r}")
    try:
        return kind(**values)
    except ValueError as error:  # a section's own check of its values
        raise ConfigError(f"profile {path}: {error}") from None


def _read_profile(profile: str | None) -> tuple[str, Path, dict]:
    name = profile or os.environ.get("COMPLAINTS_PROFILE", "dev")
    path = Path(name) if name.endswith(".toml") else _DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)} or a .toml file")
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"profile {path} is not valid TOML: {error}") from None
    unknown = sorted(set(data) - set(SECTIONS) - {"runner"})
    if unknown:
        raise ConfigError(
            f"profile {path}: unknown section {', '.join(unknown)} (known: {', '.join([*SECTIONS, 'runner'])})"
        )
    return name, path, data


def load_warehouse_settings(profile: str | None = None) -> WarehouseSettings:
    """Only the ``[warehouse]`` section of a profile: what the warehouse's upkeep needs (no contact-token key)."""
    return load_section("warehouse", profile)


def load_section(name: str, profile: str | None = None):
    """One section of a profile (e.g. ``alerts``), for commands that need no contact-token key."""
    _, path, data = _read_profile(profile)
    return _section(path, name, data.get(name, {}))


def webform_keys(settings: WebformSettings) -> tuple[bytes, bytes | None]:
    """(identity key, form-token key or None) of the ``[webform]`` section, from their environment variables (the
    dev profile's identity key may be in the file); ConfigError names the variable to set."""
    identity = os.environ.get(settings.identity_key_env) or settings.identity_key
    if not identity:
        raise ConfigError(
            f"the web-form endpoint needs its identity key: set the environment variable {settings.identity_key_env}"
        )
    token = None
    if settings.form_token_key_env:
        token = os.environ.get(settings.form_token_key_env)
        if not token:
            raise ConfigError(f"[webform] form_token_key_env names {settings.form_token_key_env}, which is not set")
    return identity.encode("utf-8"), token.encode("utf-8") if token else None


def load_settings(profile: str | None = None) -> Settings:
    name, path, data = _read_profile(profile)
    sections = {key: _section(path, key, data.get(key, {})) for key in SECTIONS}
    security = sections["security"]
    try:
        key = read_secret(security.contact_token_key_env, security.contact_token_key_file, "the contact-token key")
    except SecretError as error:
        raise ConfigError(f"profile {name!r}: {error}") from None
    source = "key file" if key and not os.environ.get(security.contact_token_key_env or "") else "environment"
    if not key and security.contact_token_key:
        key, source = security.contact_token_key, "profile file"
    if not key:
        env = security.contact_token_key_env
        where = (f"the environment variable {env} or " if env else "") + "[security] contact_token_key_file"
        raise ConfigError(f"profile {name!r} needs the contact-token key: set {where}")
    return Settings(
        profile=path.stem,
        contact_token_key=key.encode("utf-8"),
        runner_defaults=data.get("runner", {}),
        contact_token_key_source=source,
        **sections,
    )
