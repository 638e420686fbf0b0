"""Helpers for the ingestion-edge tests: a real HTTP server on localhost in a thread, and a publisher that
records what it was given (the transport itself is tested against the real broker in the kafka tests)."""

import asyncio
import json
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager

from aiohttp import web

from ingest.transport import TransportError
from tests.support.ports import free_port


class RecordingPublisher:
    """Records what it is given. ``down`` = True plays a transport that is unreachable: each message with an
    ``on_delivery`` is reported failed (and not recorded) and ``check`` raises ``TransportError``."""

    def __init__(self, fail_with=None):
        self.messages, self.flushes, self.fail_with, self.down = [], 0, fail_with, False

    def publish(self, source, payload, attributes=None, on_delivery=None):
        if on_delivery is not None and self.down:
            on_delivery("Local: Message timed out")
            return
        self.messages.append((source, payload, dict(attributes or {})))
        if on_delivery is not None:  # a broker that confirms at once
            on_delivery(None)

    def poll(self, timeout=0):
        return None

    def flush(self, timeout=60):
        self.flushes += 1
        if self.fail_with is not None:
            raise self.fail_with

    def check(self, timeout=10):
        if self.down:
            raise TransportError("cannot reach the broker")


@contextmanager
def serve_in_thread(app: web.Application, **runner_options):
    """Run ``app`` on a real localhost port in its own thread and event loop (``runner_options``: the AppRunner's,
    e.g. an access logger); yields the base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, **runner_options)
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()


class DeliveringPublisher:
    """A transport for the web-form endpoint (``deliver``) that reports ``outcome`` for each message from another
    thread, as a broker's client does (``report=False``: no report ever comes), and keeps the delivered ones in
    ``messages``, as the topic would; ``handed`` has every message it was given, ``state`` is its ``BrokerState``."""

    def __init__(self, outcome=None, report: bool = True):
        from ingest.transport import BrokerState, Delivery, Outcome

        self.outcome = outcome or Delivery(Outcome.DELIVERED)
        self.report, self.state, self.handed, self.messages = report, BrokerState(), [], []

    def deliver(self, source, payload, attributes, done):
        from ingest.transport import Outcome

        self.handed.append((source, payload, dict(attributes or {})))
        if self.outcome.outcome is Outcome.DELIVERED:
            self.messages.append((source, payload, dict(attributes or {})))
        if self.report:
            threading.Thread(target=done, args=(self.outcome,), daemon=True).start()


JSON = "application/json"


def post(url, body: bytes, content_type: str | None = JSON, headers: dict | None = None, timeout: float = 20):
    """POST ``body`` to ``url`` as a client would: (status, the JSON answer, the response headers)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)
