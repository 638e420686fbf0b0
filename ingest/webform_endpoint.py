"""The web-form intake endpoint: ``POST /webforms`` takes a submission as JSON or as an urlencoded form post,
checks that it is a submission at all, and publishes the body verbatim to the web-form topic.

It answers 202 with the submission's ``complaint_id`` once the transport has acknowledged the message, so a
sender that got 202 knows the complaint is in the pipeline, and a sender that got anything else knows it is
not. Bad requests get a clear 4xx and a JSON reason; a transport that is down gets 503 with Retry-After, so
the sender retries. Everything else (cleaning, validation, enrichment) is the pipeline's job, which keeps
every accepted body, even an odd one, in the lake and the warehouse or the dead letter.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from ingest.transport import FORM, JSON, TransportError
from transforms.records import complaint_id

MAX_BODY_BYTES = 64 * 1024
PUBLISH_TIMEOUT_SECONDS = 10


class BadSubmission(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


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
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True,
                                    max_num_fields=200))
        except (UnicodeDecodeError, ValueError) as error:
            raise BadSubmission(400, f"body is not a valid urlencoded form: {error}") from None
    else:
        raise BadSubmission(415, f"unsupported content type {content_type or 'none'!r}: send {JSON} or {FORM}")
    for name in ("submission_id", "submitted_at"):
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise BadSubmission(400, f"missing {name}")
        if not isinstance(value, (str, int)):
            raise BadSubmission(400, f"{name} must be text")
    return fields


def build_app(publisher) -> web.Application:
    """The aiohttp application; ``publisher`` is a Kafka or Pub/Sub publisher (``ingest.transport``)."""

    async def accept(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            body = await request.content.read(MAX_BODY_BYTES + 1)
            if len(body) > MAX_BODY_BYTES:
                raise BadSubmission(413, f"body larger than {MAX_BODY_BYTES} bytes")
            fields = submission_fields(request.content_type, body)
        except BadSubmission as error:
            return _error(error.status, error.message)
        attributes = {"content_type": request.content_type,
                      "received_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")}
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, _publish_and_wait, publisher, body, attributes)
        except TransportError as error:
            return _error(503, f"cannot queue the submission now, retry later ({error})", {"Retry-After": "5"})
        submission_id = str(fields["submission_id"]).strip()
        return web.json_response({"status": "accepted", "submission_id": submission_id,
                                  "complaint_id": complaint_id("webform", submission_id)}, status=202)

    async def health(_request):
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=MAX_BODY_BYTES + 1024)
    app.router.add_post("/webforms", accept)
    app.router.add_get("/healthz", health)
    return app


def _publish_and_wait(publisher, body: bytes, attributes: dict) -> None:
    publisher.publish("webform", body, attributes)
    publisher.flush(PUBLISH_TIMEOUT_SECONDS)


def _error(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def serve(publisher, host: str, port: int) -> None:
    web.run_app(build_app(publisher), host=host, port=port, print=None)
