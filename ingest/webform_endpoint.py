"""The web-form intake endpoint: ``POST /webforms`` takes a submission as JSON or as an urlencoded form post,
checks it with the pipeline's own parse functions, and publishes the body verbatim to the web-form topic.

What an answer means (docs/operations/webform-endpoint.md):

- 202: the broker acknowledged this very message (its own delivery report); the body names its ``complaint_id``.
- 503 with ``"queued": false``: it is not on the topic (the transport is known down, refused it, or the local
  queue is full); retry after ``Retry-After``.
- 503 with ``"queued": "unknown"``: it was sent and no answer came in time; it may be on the topic. Retrying
  the same submission is safe: it has the same identity, so the pipeline keeps one complaint.
- 400/413/415 with a reason: not a submission, or one the pipeline would dead-letter; 408: the body did not
  arrive in time; 403: an origin or form token that is not allowed; 429: too many posts from the client.

Identity (``submission_identity``): a keyed hash of the form, the submission id, the submission's content and
the form token's nonce, sent as the message's ``identity`` attribute, which the pipeline uses for live web forms
(``transforms/sources/webform_parsing.py``). A retry of the same post is the same complaint; an edited re-post, or
another client's post under the same (guessable, sequential) submission id, is another one. The endpoint counts
a submission id that comes back with other content within the retry window (``webform_identity_collisions_total``).

Nothing here blocks the event loop or a thread pool: a message's delivery report resolves an asyncio future.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_urldispatcher import _default_expect_handler  # aiohttp's own 100 Continue (pinned 3.14)

from ingest.transport import FORM, JSON, Delivery, Outcome
from transforms.records import RecordError, complaint_id
from transforms.sources.webform_parsing import IDENTITY_ATTRIBUTE, parse_webform
from transforms.validation import ValidationRules, validate_complaint

ACCESS_LOG = logging.getLogger("complaints.webform.access")
LOG = logging.getLogger("complaints.webform")
FORM_TOKEN_HEADER = "X-Form-Token"
# what a request carries from the checks before its body to the handler and the access log
PRECHECKED = web.RequestKey("prechecked", bool)
CLIENT_IP = web.RequestKey("client_ip", str)
BODY_BYTES = web.RequestKey("body_bytes", int)
REFUSAL = web.RequestKey("refusal", str)
TOKEN_NONCE = web.RequestKey("token_nonce", str)
#: how much longer than the producer's own message timeout a post waits for its delivery report
REPORT_MARGIN_SECONDS = 2.0


def default_validation_rules() -> ValidationRules:
    """The pipeline's validation rules for live records with the default ``[validation]`` settings."""
    from beam_pipelines.config import ValidationSettings
    from beam_pipelines.parameters import validation_rules

    return validation_rules(ValidationSettings(), None)


@dataclass(frozen=True)
class EndpointConfig:
    """What the endpoint needs to know; ``from_settings`` builds it from a profile's ``[webform]`` section (and
    its ``[validation]`` rules). ``identity_key`` keys the identity hash (empty: an unkeyed hash, for tests only);
    ``form_token_key`` (None: no token needed) verifies X-Form-Token, and a token issued more than
    ``form_token_ttl`` seconds ago is refused as expired. The defaults here are a library's (no rate
    limit, no origin allowed); the profile's are in ``beam_pipelines.config.WebformSettings``."""

    identity_key: bytes = b""
    form_token_key: bytes | None = None
    max_body_bytes: int = 64 * 1024
    body_timeout: float = 10.0
    delivery_timeout: float = 10.0
    retry_after: int = 5
    allowed_origins: frozenset = frozenset()
    require_origin: bool = False
    trusted_proxies: tuple = ()
    rate_per_minute: float = 0.0
    rate_burst: int = 10
    retry_window: float = 86_400.0
    form_token_ttl: float = 3600.0
    validation: ValidationRules = field(default_factory=default_validation_rules)

    @classmethod
    def from_settings(
        cls, settings, identity_key: bytes, form_token_key: bytes | None, validation: ValidationRules | None = None
    ) -> EndpointConfig:
        return cls(
            identity_key=identity_key,
            form_token_key=form_token_key,
            validation=validation or default_validation_rules(),
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout_seconds,
            delivery_timeout=settings.delivery_timeout_seconds,
            retry_after=settings.retry_after_seconds,
            allowed_origins=frozenset(settings.allowed_origins),
            require_origin=settings.require_origin,
            trusted_proxies=tuple(ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies),
            rate_per_minute=settings.rate_per_minute,
            rate_burst=settings.rate_burst,
            retry_window=float(settings.retry_window_seconds),
            form_token_ttl=float(settings.form_token_ttl_seconds),
        )


class BadSubmission(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# -- what a post is -----------------------------------------------------------------------------------------
def submission_fields(content_type: str, body: bytes) -> dict:
    """The submission's fields from a JSON or urlencoded body; raises BadSubmission (4xx) when the body is not
    a submission: wrong media type, not decodable, not an object, or no submission_id / submitted_at."""
    if not body.strip():
        raise BadSubmission(400, "empty body")
    if content_type == JSON:
        try:
            payload = orjson.loads(body.removeprefix(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError as error:
            raise BadSubmission(400, f"body is not valid JSON: {error}") from None
        if not isinstance(payload, dict):
            raise BadSubmission(400, "body must be a JSON object")
        fields = payload
    elif content_type == FORM:
        try:
            fields = dict(
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=200)
            )
        except (UnicodeDecodeError, ValueError) as error:
            raise BadSubmission(400, f"body is not a valid urlencoded form: {error}") from None
    else:
        raise BadSubmission(415, f"unsupported content type {content_type or 'none'!r}: send {JSON} or {FORM}")
    for name in ("submission_id", "submitted_at"):
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise BadSubmission(400, f"missing {name}")
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise BadSubmission(400, f"{name} must be text")
    return fields


def check_as_the_pipeline_would(body: bytes, attributes: dict, rules: ValidationRules) -> None:
    """Run the pipeline's own web-form parser and validation rules on the message as the live reader will build
    it; a record it would dead-letter is refused here (BadSubmission 400 with the pipeline's reason), so a 202 is
    never a dead letter in waiting. (Enrichment, later, only flags: it rejects nothing.)"""
    record = {
        "source": "webform",
        "source_file": None,
        "message_id": "edge",
        "line": None,
        "offset": 0,
        "ingested_at": attributes["received_at"],
        "run_id": "edge",
        "batch_id": "edge",
        "raw": body.decode("utf-8", "replace"),
        "raw_encoding": "utf-8",
        "attributes": attributes,
    }
    try:
        body.decode("utf-8")
        validate_complaint(parse_webform(record), rules)
    except UnicodeDecodeError as error:
        raise BadSubmission(400, f"body is not UTF-8: {error.reason} at byte {error.start}") from None
    except RecordError as error:
        raise BadSubmission(400, f"{error.error_type}: {error.message}") from None


def content_digest(content_type: str, fields: dict) -> str:
    """A hash of what a submission says, the same for a byte-identical retry and for the same fields sent again
    in another order; the ``client`` block of a webhook payload (the sender's IP and user agent) is not content."""
    content = {key: value for key, value in fields.items() if key != "client"}
    return hashlib.sha256(
        content_type.encode() + b"\n" + orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def submission_identity(key: bytes, form_id: str, submission_id: str, digest: str, token_nonce: str = "") -> str:
    """The identity of a live web-form submission (the message's ``identity`` attribute, the complaint's
    ``complaint_id("webform", identity)``): ``v1.`` and 32 hex digits of an HMAC-SHA256 under the endpoint's key
    of the form, the submission id, the content digest and the form token's nonce. Keyed, so nobody outside can
    test a guessed content against a complaint id."""
    message = "\x1f".join((form_id, submission_id, digest, token_nonce)).encode("utf-8")
    return "v1." + hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


# -- form tokens ---------------------------------------------------------------------------------------------
def _token_signature(key: bytes, payload: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:18]).decode()


#: how far ahead of the endpoint's clock a token's issue time may be (the form page's clock may run fast)
FORM_TOKEN_CLOCK_SKEW_SECONDS = 60


def issue_form_token(key: bytes, now: float | None = None) -> str:
    """A signed form token for one rendered form (the page that serves the form calls this and puts the token
    in the X-Form-Token header of the post): ``<issued>.<nonce>.<signature>``, ``issued`` in Unix seconds. How
    long it is good is the endpoint's to decide (``[webform] form_token_ttl_seconds``)."""
    issued = int(time.time() if now is None else now)
    payload = f"{issued}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_token_signature(key, payload)}"


def verify_form_token(key: bytes, token: str | None, ttl_seconds: float, now: float | None = None) -> str:
    """The nonce of a valid form token issued at most ``ttl_seconds`` ago; BadSubmission 403 says what is wrong
    with any other (missing, forged, expired, or issued ahead of this clock by more than the skew allowed)."""
    if not token:
        raise BadSubmission(403, f"missing {FORM_TOKEN_HEADER}: load the form again")
    issued, _, rest = token.partition(".")
    nonce, _, signature = rest.partition(".")
    if not (
        issued.isdecimal()
        and nonce
        and signature
        and hmac.compare_digest(signature, _token_signature(key, f"{issued}.{nonce}"))
    ):
        raise BadSubmission(403, f"invalid {FORM_TOKEN_HEADER}")
    age = (time.time() if now is None else now) - int(issued)
    if age > ttl_seconds:
        raise BadSubmission(
            403,
            f"expired {FORM_TOKEN_HEADER}: issued {age:.0f} s ago, and form tokens are good for {ttl_seconds:.0f} s "
            "([webform] form_token_ttl_seconds): load the form again",
        )
    if age < -FORM_TOKEN_CLOCK_SKEW_SECONDS:
        raise BadSubmission(
            403, f"invalid {FORM_TOKEN_HEADER}: issued {-age:.0f} s in the future (is the form page's clock right?)"
        )
    return nonce


# -- who is asking ---------------------------------------------------------------------------------------------
def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: tuple) -> str:
    """The client's address: the connection's peer, unless the peer is a trusted proxy, in which case the
    right-most X-Forwarded-For entry that is not itself a trusted proxy (entries left of it could be forged by
    the client)."""

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted_proxies)

    peer = peer or "unknown"
    if not forwarded_for or not trusted(peer):
        return peer
    for entry in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            return peer  # a malformed chain: believe only the connection
        if not trusted(entry):
            return entry
    return peer


def rate_key(ip: str) -> str:
    """Whose bucket a client address fills: the address itself for IPv4, its /64 network for IPv6 (one
    subscriber's line usually gets a whole /64, so counting its addresses one by one would limit nothing)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


class RateLimiter:
    """A token bucket per client: ``burst`` posts at once, then ``per_minute`` a minute. Memory and time are
    bounded: past ``max_clients`` buckets, the full ones (clients quiet long enough to be back at ``burst``) are
    dropped, and if that does not free a tenth of them (a flood from many addresses), the oldest half goes: such
    clients start again with a full bucket, the price of a bounded table."""

    def __init__(self, per_minute: float, burst: int, max_clients: int = 100_000):
        self.rate, self.burst, self.max_clients = per_minute / 60.0, float(burst), max_clients
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str, now: float | None = None) -> float:
        """0 if ``client`` may post now (and takes a token), else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (self.burst, now))  # re-inserted: the dict is in order of use
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[client] = (tokens - 1, now)
        if len(self._buckets) > self.max_clients:
            self._shrink(now)
        return 0.0

    def __len__(self) -> int:
        return len(self._buckets)

    def _shrink(self, now: float) -> None:
        for client, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[client]
        if len(self._buckets) > self.max_clients * 0.9:
            for client in list(self._buckets)[: len(self._buckets) // 2]:  # the least recently seen
                del self._buckets[client]


class RecentSubmissions:
    """Submission ids seen within the retry window, with their content digests: one that comes back with other
    content is a collision (an edit, a reused or claimed id), counted; at most ``max_entries`` are kept."""

    def __init__(self, window: float, max_entries: int = 200_000):
        self.window, self.max_entries = window, max_entries
        self._seen: collections.OrderedDict = collections.OrderedDict()

    def note(self, form_id: str, submission_id: str, digest: str, now: float | None = None) -> str:
        """``new``, ``retry`` (same id, same content) or ``collision`` (same id, other content)."""
        now = time.monotonic() if now is None else now
        while self._seen and (
            len(self._seen) >= self.max_entries or next(iter(self._seen.values()))[1] < now - self.window
        ):
            self._seen.popitem(last=False)
        key = (form_id, submission_id)
        previous = self._seen.pop(key, None)
        digests = previous[0] if previous else frozenset()
        self._seen[key] = (digests | {digest}, now)
        if not previous:
            return "new"
        return "retry" if digest in digests else "collision"


@dataclass
class Counters:
    """The endpoint's counters, served at /metrics in Prometheus' text format."""

    answers: collections.Counter = field(default_factory=collections.Counter)  # (status, reason) -> n
    submissions: collections.Counter = field(default_factory=collections.Counter)  # new / retry / collision

    def exposition(self, transport_up: bool) -> str:
        lines = [
            "# HELP webform_answers_total Answers to POST /webforms by status and reason.",
            "# TYPE webform_answers_total counter",
        ]
        lines += [
            f'webform_answers_total{{status="{status}",reason="{reason}"}} {n}'
            for (status, reason), n in sorted(self.answers.items())
        ]
        lines += [
            "# HELP webform_identity_collisions_total Submission ids seen again with other content within "
            "the retry window.",
            "# TYPE webform_identity_collisions_total counter",
            f"webform_identity_collisions_total {self.submissions['collision']}",
            "# HELP webform_retries_total Submissions seen again with the same content (client retries).",
            "# TYPE webform_retries_total counter",
            f"webform_retries_total {self.submissions['retry']}",
            "# HELP webform_transport_up Whether the transport can take messages (1) or is known down (0).",
            "# TYPE webform_transport_up gauge",
            f"webform_transport_up {int(transport_up)}",
        ]
        return "\n".join(lines) + "\n"


class AccessLogger(AbstractAccessLogger):
    """One line per request, never its body: client address (as resolved from trusted proxies), method, path,
    status, body bytes received and sent, seconds, and the reason of a refusal."""

    def log(self, request, response, time_taken):
        self.logger.info(
            '%s "%s %s" %s in=%s out=%s %.3fs%s',
            request.get(CLIENT_IP) or request.remote,
            request.method,
            request.path,
            response.status,
            request.get(BODY_BYTES, 0),
            response.body_length,
            time_taken,
            f" reason={request[REFUSAL]}" if request.get(REFUSAL) else "",
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


# -- the application ---------------------------------------------------------------------------------------------
def transport_state(publisher) -> tuple[bool, str]:
    state = getattr(publisher, "state", None)
    return state.snapshot() if state is not None else (True, "")


def build_app(publisher, config: EndpointConfig | None = None, *, counters: Counters | None = None) -> web.Application:
    """The aiohttp application; ``publisher`` is a Kafka or Pub/Sub publisher (``ingest.transport``) or anything
    with the same ``deliver(source, payload, attributes, done)`` and (optional) ``state``."""
    config = config or EndpointConfig()
    counters = counters or Counters()
    limiter = RateLimiter(config.rate_per_minute, config.rate_burst)
    recent = RecentSubmissions(config.retry_window)

    def answer(
        request, status: int, payload: dict, reason: str = "", headers: dict | None = None, close: bool = False
    ) -> web.Response:
        counters.answers[(status, reason or "ok")] += 1
        if reason:
            request[REFUSAL] = reason
        response = web.json_response(payload, status=status, headers=headers)
        origin = request.headers.get("Origin")
        if origin and origin in config.allowed_origins:
            response.headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Vary": "Origin",
                    "Access-Control-Expose-Headers": "Retry-After",
                }
            )
        if close:
            response.force_close()
        return response

    def refuse(
        request, status: int, message: str, reason: str, headers: dict | None = None, close: bool = False
    ) -> web.Response:
        return answer(request, status, {"error": message}, reason, headers, close)

    def precheck(request: web.Request) -> web.Response | None:
        """Every refusal that needs no body, before aiohttp says 100 Continue and before the body is read."""
        request[PRECHECKED] = True
        ip = request[CLIENT_IP] = client_ip(
            request.remote, request.headers.get("X-Forwarded-For"), config.trusted_proxies
        )
        origin = request.headers.get("Origin")
        body_coming = bool(request.content_length) or request.headers.get("Transfer-Encoding", "") != ""
        if origin is not None and origin not in config.allowed_origins:
            return refuse(request, 403, f"origin {origin} may not post here", "origin", close=body_coming)
        if origin is None and config.require_origin:
            return refuse(request, 403, "an Origin header is required", "origin", close=body_coming)
        wait = limiter.allow(rate_key(ip))
        if wait:
            return refuse(
                request,
                429,
                "too many posts from this address, retry later",
                "rate_limited",
                {"Retry-After": str(max(1, round(wait)))},
                close=body_coming,
            )
        if request.content_length is not None and request.content_length > config.max_body_bytes:
            return refuse(request, 413, f"body larger than {config.max_body_bytes} bytes", "too_large", close=True)
        if request.content_type not in (JSON, FORM):
            return refuse(
                request,
                415,
                f"unsupported content type {request.content_type or 'none'!r}: send {JSON} or {FORM}",
                "media_type",
                close=body_coming,
            )
        if config.form_token_key is not None:
            try:
                request[TOKEN_NONCE] = verify_form_token(
                    config.form_token_key, request.headers.get(FORM_TOKEN_HEADER), config.form_token_ttl
                )
            except BadSubmission as error:
                return refuse(request, error.status, error.message, "form_token", close=body_coming)
        up, why = transport_state(publisher)
        if not up:
            return answer(
                request,
                503,
                {"error": f"cannot queue the submission now, retry later (transport down: {why})", "queued": False},
                "transport_down",
                {"Retry-After": str(config.retry_after)},
                close=body_coming,
            )
        return None

    async def expect(request: web.Request):
        """``Expect: 100-continue``: refuse before the client sends its body, else let it send."""
        refusal = precheck(request)
        if refusal is not None:
            return refusal
        await _default_expect_handler(request)
        return None

    async def read_body(request: web.Request) -> bytes:
        """The whole declared body (Content-Length, or a chunked body to its end), within the body timeout;
        BadSubmission 413 past the size limit, 408 when it does not arrive in time."""
        chunks, size = [], 0
        try:
            async with asyncio.timeout(config.body_timeout):
                while True:
                    chunk = await request.content.readany()
                    if not chunk:
                        break
                    size += len(chunk)
                    request[BODY_BYTES] = size
                    if size > config.max_body_bytes:
                        raise BadSubmission(413, f"body larger than {config.max_body_bytes} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise BadSubmission(408, f"the body did not arrive within {config.body_timeout:g} s") from None
        body = b"".join(chunks)
        if request.content_length is not None and len(body) != request.content_length:
            raise BadSubmission(400, f"body of {len(body)} bytes, Content-Length said {request.content_length}")
        return body

    async def accept(request: web.Request) -> web.Response:
        if not request.get(PRECHECKED):
            refusal = precheck(request)
            if refusal is not None:
                return refusal
        try:
            body = await read_body(request)
        except BadSubmission as error:
            reason = {408: "body_timeout", 413: "too_large"}.get(error.status, "bad_body")
            response = refuse(request, error.status, error.message, reason, close=True)
            if error.status == 408:  # a client this slow gets no lingering close: answer and hang up now
                await response.prepare(request)
                await response.write_eof()
                if request.transport is not None:
                    request.transport.close()
            return response
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            raise _ClientGone(error) from None
        except Exception as error:  # aiohttp's ClientPayloadError and kin: a body cut off or malformed
            if type(error).__name__ in (
                "ClientPayloadError",
                "PayloadEncodingError",
                "ContentLengthError",
                "TransferEncodingError",
            ):
                raise _ClientGone(error) from None
            raise
        received_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        try:
            fields = submission_fields(request.content_type, body)
            form_id = str(fields.get("form_id") or "")
            submission_id = str(fields["submission_id"]).strip()
            digest = content_digest(request.content_type, fields)
            identity = submission_identity(
                config.identity_key, form_id, submission_id, digest, request.get(TOKEN_NONCE, "")
            )
            attributes = {
                "content_type": request.content_type,
                "received_at": received_at,
                "client_ip": request[CLIENT_IP],
                IDENTITY_ATTRIBUTE: identity,
            }
            check_as_the_pipeline_would(body, attributes, config.validation)
        except BadSubmission as error:
            return refuse(request, error.status, error.message, "invalid" if error.status == 400 else "media_type")
        seen = recent.note(form_id, submission_id, digest)
        counters.submissions[seen] += 1
        if seen == "collision":
            LOG.warning(
                "submission id %r of form %r came again with other content within %g s (from %s): "
                "kept as another complaint",
                submission_id[:80],
                form_id[:80],
                config.retry_window,
                request[CLIENT_IP],
            )
        delivery = await deliver(publisher, body, attributes, config.delivery_timeout + REPORT_MARGIN_SECONDS)
        ids = {"submission_id": submission_id, "complaint_id": complaint_id("webform", identity)}
        retry = {"Retry-After": str(config.retry_after)}
        if delivery.outcome is Outcome.DELIVERED:
            return answer(request, 202, {"status": "accepted", **ids})
        if delivery.outcome is Outcome.NOT_DELIVERED:
            return answer(
                request,
                503,
                {"error": f"the submission was not queued, retry later ({delivery.detail})", "queued": False, **ids},
                "not_queued",
                retry,
            )
        return answer(
            request,
            503,
            {
                "error": f"the submission's delivery is unknown ({delivery.detail}); sending the same submission "
                "again is safe: it has the same complaint_id and the pipeline keeps it once",
                "queued": "unknown",
                **ids,
            },
            "delivery_unknown",
            retry,
        )

    async def preflight(request: web.Request) -> web.Response:
        origin = request.headers.get("Origin")
        if origin is None or origin not in config.allowed_origins:
            return refuse(request, 403, f"origin {origin} may not post here", "origin")
        if request.headers.get("Access-Control-Request-Method", "POST") != "POST":
            return refuse(request, 403, "only POST is allowed", "cors_method")
        counters.answers[(204, "preflight")] += 1
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Vary": "Origin",
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": f"Content-Type, {FORM_TOKEN_HEADER}",
                "Access-Control-Max-Age": "600",
            },
        )

    async def health(_request):
        up, why = transport_state(publisher)
        if up:
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "unavailable", "transport": why}, status=503)

    async def metrics(_request):
        return web.Response(
            text=counters.exposition(transport_state(publisher)[0]), content_type="text/plain", charset="utf-8"
        )

    @web.middleware
    async def client_gone(request, handler):
        try:
            return await handler(request)
        except _ClientGone as gone:
            LOG.info(
                "client %s went away before its body was read (%s)",
                request.get(CLIENT_IP) or request.remote,
                type(gone.cause).__name__,
            )
            request[REFUSAL] = "client_gone"
            counters.answers[(499, "client_gone")] += 1
            return web.Response(status=499)  # nginx's "client closed request": never reaches the client

    app = web.Application(client_max_size=config.max_body_bytes + 1024, middlewares=[client_gone])
    app.router.add_post("/webforms", accept, expect_handler=expect)
    app.router.add_route("OPTIONS", "/webforms", preflight)
    app.router.add_get("/healthz", health)
    app.router.add_get("/metrics", metrics)
    return app


class _ClientGone(Exception):
    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


async def deliver(publisher, body: bytes, attributes: dict, wait: float) -> Delivery:
    """Hand the message to the publisher and wait up to ``wait`` s for its own delivery report; no report by
    then is UNKNOWN (the message may still be delivered later)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(delivery: Delivery) -> None:
        if not future.done():
            future.set_result(delivery)

    def done(delivery: Delivery) -> None:  # any thread: the publisher's callback thread, or this one
        try:
            loop.call_soon_threadsafe(settle, delivery)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    publisher.deliver("webform", body, attributes, done)
    try:
        return await asyncio.wait_for(future, wait)
    except TimeoutError:
        return Delivery(Outcome.UNKNOWN, f"no delivery report within {wait:g} s")


def serve(publisher, host: str, port: int, config: EndpointConfig | None = None) -> None:
    """Run the endpoint until interrupted, with one access-log line per request (logger
    ``complaints.webform.access``)."""
    web.run_app(
        build_app(publisher, config),
        host=host,
        port=port,
        print=None,
        access_log=ACCESS_LOG,
        access_log_class=AccessLogger,
    )
