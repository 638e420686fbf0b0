"""A running pipeline swaps in a new model directory from RunInference's model-update side input.

In production the side input is WatchFilePattern over ``MODELS/*/model_card.json`` (``complaints stream
--model-watch``), which needs a streaming runner with triggered side inputs. Here the same updates arrive as a
windowed side input on the FnApiRunner, the pattern Beam's own RunInference tests use: complaints in the window
where a new model card appears, and after it, must be labelled by that model; earlier ones by the first."""
import apache_beam as beam
from apache_beam.ml.inference.base import ModelMetadata
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from models.datasets import load_known_datasets
from models.inference import ComplaintModelHandler
from models.training import train
from tests.conftest import make_raw
from tests.pipeline.test_pipeline_wiring import pipeline, tweet_line
from tests.unit.test_models_training import write_fixture
from transforms.cleaning import clean_complaint
from transforms.enrichment import EnrichComplaints
from transforms.sources.customers import CustomerIndex
from transforms.sources.twitter import parse_tweet

WINDOW = 60
START = 1_764_000_000 - 1_764_000_000 % WINDOW  # the start of a window


def _two_model_dirs(tmp_path):
    write_fixture(tmp_path / "fixture.labelled.csv")
    examples = load_known_datasets(str(tmp_path))
    first, second = tmp_path / "models-a", tmp_path / "models-b"
    versions = train(examples, str(first), seed=1)["version"], train(examples, str(second), seed=2)["version"]
    assert versions[0] != versions[1]
    return first, second, versions


def test_complaints_after_a_model_update_are_labelled_by_the_new_model(tmp_path):
    first, second, (first_version, second_version) = _two_model_dirs(tmp_path)
    arrivals = {"1": START + 5, "2": START + 30, "3": START + WINDOW + 5, "4": START + 2 * WINDOW + 5}
    complaints = [clean_complaint(parse_tweet(make_raw("twitter", tweet_line(tweet_id, text="no signal at all"),
                                                       line=int(tweet_id))))
                  for tweet_id in arrivals]

    def in_windows(pcoll, label):
        # a GroupByKey per window makes each window's elements arrive together, after its side input is ready
        return (pcoll | f"{label}Windows" >> beam.WindowInto(window.FixedWindows(WINDOW))
                | f"{label}Key" >> beam.Map(lambda value: ("all", value))
                | f"{label}Group" >> beam.GroupByKey()
                | f"{label}Values" >> beam.FlatMap(lambda grouped: grouped[1]))

    with pipeline() as p:
        updates = in_windows(p | "Cards" >> beam.Create([
            (START + WINDOW + 1, ModelMetadata(model_id=str(second / "model_card.json"), model_name="b"))])
            | "StampCards" >> beam.Map(lambda pair: window.TimestampedValue(pair[1], pair[0])), "Updates")
        stamped = in_windows(p | "Complaints" >> beam.Create(complaints)
                             | "Arrive" >> beam.Map(lambda c: window.TimestampedValue(
                                 c, arrivals[c["source_record_id"]])), "Main")
        index = p | "Index" >> beam.Create([CustomerIndex([])])
        enriched = stamped | EnrichComplaints(index, ComplaintModelHandler(str(first), min_batch_size=1),
                                              b"key", model_metadata=updates)
        assert_that(enriched["complaints"] | beam.Map(lambda r: (r["source_record_id"], r["model_version"])),
                    equal_to([("1", first_version), ("2", first_version),
                              ("3", second_version), ("4", second_version)]), label="versions")
        assert_that(enriched["dead_letters"], equal_to([]), label="no dead letters")
