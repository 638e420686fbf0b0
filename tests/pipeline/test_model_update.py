"""A running pipeline swaps in new models itself (``complaints stream run --model-watch``): the model handler looks
for a newer model card at most every ``watch_seconds`` and labels with it from then on; a directory that does
not load leaves the model in use. No side input is involved, so it works on every runner (Flink cannot
checkpoint a portable job with one, Prism does not trigger them)."""

import os
import shutil
import time

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from models.datasets import load_known_datasets
from models.inference import ComplaintModelHandler
from models.sklearn_model import ModelFactory
from models.training import train
from tests.support.models import write_fixture
from tests.support.pipelines import pipeline, tweet_line
from tests.support.records import make_raw
from transforms.cleaning import clean_complaint
from transforms.enrichment import EnrichComplaints
from transforms.sources.twitter import parse_tweet


def _two_model_dirs(tmp_path):
    write_fixture(tmp_path / "fixture.labelled.csv")
    examples = load_known_datasets(str(tmp_path))
    first, second = tmp_path / "models" / "a", tmp_path / "staging" / "b"
    versions = train(examples, str(first), seed=1)["version"], train(examples, str(second), seed=2)["version"]
    assert versions[0] != versions[1]
    return first, second, versions


def _complaints(n):
    return [
        clean_complaint(parse_tweet(make_raw("twitter", tweet_line(str(i), text="no signal at all"), line=i)))
        for i in range(1, n + 1)
    ]


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_handler_swaps_in_a_newer_model_card_after_watch_seconds(tmp_path, caplog):
    first, second, (first_version, second_version) = _two_model_dirs(tmp_path)
    clock = _Clock()
    handler = ComplaintModelHandler(
        str(first), watch=str(tmp_path / "models" / "*" / "model_card.json"), watch_seconds=60, clock=clock
    )
    model = handler.load_model()

    def versions():
        return {result.model_id for result in handler.run_inference(_complaints(2), model)}

    assert versions() == {first_version}
    newer = tmp_path / "models" / "b"
    shutil.copytree(second, newer)
    later = time.time() + 5
    os.utime(newer / "model_card.json", (later, later))
    clock.now = 30  # not yet looked again
    assert versions() == {first_version}
    clock.now = 61
    assert versions() == {second_version}

    broken = tmp_path / "models" / "c"
    broken.mkdir()
    (broken / "model_card.json").write_text("{ half written")
    os.utime(broken / "model_card.json", (later + 5, later + 5))
    clock.now = 200
    assert versions() == {second_version}
    assert "still using" in caplog.text


def test_a_streaming_enrichment_labels_with_the_newest_watched_model(tmp_path):
    """In a real Beam run: started with the first model, watching a folder whose newest card is the second,
    every complaint is labelled by the second."""
    first, second, (_, second_version) = _two_model_dirs(tmp_path)
    shutil.copytree(second, tmp_path / "models" / "b")
    later = time.time() + 5
    os.utime(tmp_path / "models" / "b" / "model_card.json", (later, later))
    assert ModelFactory(str(first)).version != second_version
    handler = ComplaintModelHandler(
        str(first), min_batch_size=1, watch_seconds=0, watch=str(tmp_path / "models" / "*" / "model_card.json")
    )
    with pipeline() as p:
        enriched = p | beam.Create(_complaints(3)) | EnrichComplaints(None, handler, b"key")
        assert_that(enriched["complaints"] | beam.Map(lambda r: r["model_version"]), equal_to([second_version] * 3))
