"""Beam pipelines and channel lines for the pipeline tests."""

import json

from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline


def pipeline():
    """A TestPipeline on Beam's FnApiRunner, named explicitly (what the pipeline tests run on)."""
    return BeamTestPipeline(runner=FnApiRunner())


def tweet_line(tweet_id, **data):
    """One line of an X (Twitter) export: a tweet ``tweet_id`` with ``data`` over a default body."""
    body = {"id": tweet_id, "text": "no signal", "created_at": "2026-11-26T07:00:00Z", "author_id": "1", **data}
    return json.dumps({"data": body})
