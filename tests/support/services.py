"""The local services and tools tests need (``runners/local_services.py``, Debian's Prometheus), and what a
test does when one is missing."""

import os

import pytest

from runners import local_services

# the ports runners/local_services.py opens the services on (its COMPLAINTS_*_PORT overrides included)
SERVICE_PORTS = {
    "Kafka": local_services.KAFKA_PORT,
    "the expansion service": local_services.EXPANSION_PORT,
    "the Java worker pool": local_services.JAVA_WORKER_PORT,
}

FLINK_PORTS = {
    "the Flink JobManager": local_services.FLINK_REST_PORT,
    "Beam's Flink job server": local_services.FLINK_JOB_PORT,
    "the Python SDK worker pool": local_services.PYTHON_POOL_PORT,
}

MONITORING_TOOLS = {
    "promtool": "promtool",
    "prometheus": "prometheus",
    "amtool": "amtool",
    "alertmanager": "prometheus-alertmanager",
}


def unavailable(message: str):
    """A service or tool a test needs is missing: skip it on a laptop, fail it under
    ``COMPLAINTS_REQUIRE_SERVICES=1`` (set by ``.ci/run``), so CI cannot pass by skipping."""
    if os.environ.get("COMPLAINTS_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)
