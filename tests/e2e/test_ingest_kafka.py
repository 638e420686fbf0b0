"""The ingestion edge with the real Kafka broker: what the web-form endpoint and the X connector accept is on
the topic, verbatim, with its content type."""
import json
import time
import urllib.request
import uuid

import pytest
from aiohttp import web

from ingest.webform_endpoint import build_app
from ingest.x_stream import run_connector
from ingest.transport import KafkaConfig, KafkaPublisher
from tests.ingest_helpers import serve_in_thread
from transforms.sources.messages import kafka_record, parse_message

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def consume(bootstrap: str, topic: str, expected: int, timeout: float = 30.0):
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "log_level": 3})
    consumer.subscribe([topic])
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            messages.append(message)
    consumer.close()
    return messages


def test_webform_endpoint_publishes_to_kafka(kafka_services):
    topic = f"t{uuid.uuid4().hex[:8]}.webforms"
    config = KafkaConfig(bootstrap_servers=kafka_services["bootstrap_servers"],
                         topics={"twitter": "unused", "webform": topic})
    body = b"submission_id=wf-77&submitted_at=2026-11-26T09%3A00%3A00Z&message=no+signal"
    with serve_in_thread(build_app(KafkaPublisher(config))) as url:
        request = urllib.request.Request(f"{url}/webforms", data=body, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
            answer = json.loads(response.read())
    [message] = consume(kafka_services["bootstrap_servers"], topic, 1)
    assert message.value() == body
    headers = dict(message.headers())
    assert headers["content_type"] == b"application/x-www-form-urlencoded"
    assert headers["client_ip"] == b"127.0.0.1" and headers["identity"].startswith(b"v1.")
    # the pipeline's live reader makes the record from the Kafka record and gives it the id the sender was told
    from types import SimpleNamespace

    row = SimpleNamespace(topic=message.topic(), partition=message.partition(), offset=message.offset(),
                          timestamp=message.timestamp()[1], value=message.value(), headers=message.headers())
    complaint = parse_message(kafka_record(row, {topic: "webform"}, "run-1", "b1"))
    assert complaint["complaint_id"] == answer["complaint_id"] and complaint["source_record_id"] == "wf-77"


def test_x_connector_publishes_to_kafka(kafka_services):
    topic = f"t{uuid.uuid4().hex[:8]}.twitter"
    lines = [json.dumps({"data": {"id": str(n), "text": "no signal", "created_at": "2026-11-26T09:00:00Z"}})
             .encode() for n in range(3)]

    async def stream(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for line in lines:
            await response.write(line + b"\r\n")
        return response

    app = web.Application()
    app.router.add_get("/2/tweets/search/stream", stream)
    config = KafkaConfig(bootstrap_servers=kafka_services["bootstrap_servers"],
                         topics={"twitter": topic, "webform": "unused"})
    with serve_in_thread(app) as url:
        stats = run_connector(f"{url}/2/tweets/search/stream", "t", KafkaPublisher(config), max_posts=3)
    assert stats.published == 3
    # two partitions: Kafka orders within a partition only
    assert sorted(m.value() for m in consume(kafka_services["bootstrap_servers"], topic, 3)) == sorted(lines)
