"""Training and evaluation on a small labelled fixture made here, and the trained model in the pipeline."""

import csv
import json

import pytest

from models.datasets import DatasetError, load_label_map, load_labelled_file, near_duplicate_key
from models.evaluation import classification_metrics, majority_baseline
from tests.support.cli import run_cli
from tests.support.models import write_fixture


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    write_fixture(data / "fixture.labelled.csv")
    models = tmp_path_factory.mktemp("models")
    result = run_cli("model", "train", "--data", str(data), "--output-dir", str(models))
    assert result.returncode == 0, result.stderr
    return {"data": data, "models": models, "card": json.loads((models / "model_card.json").read_text())}


def test_trained_models_beat_the_majority_classifier_on_held_out_data(trained):
    for target in ("category", "sentiment"):
        held_out = trained["card"]["models"][target]["held_out"]
        truth = [label for label, scores in held_out["per_class"].items() for _ in range(scores["support"])]
        floor = majority_baseline(truth, truth)["macro_f1"]
        assert held_out["macro_f1"] > floor + 0.2, (target, held_out["macro_f1"], floor)


def test_model_card_records_version_data_and_libraries(trained):
    card = trained["card"]
    assert card["version"].startswith("sklearn-")
    assert len(card["training_data"]["fingerprint"]) == 16
    assert "scikit-learn" in card["libraries"]
    assert (trained["models"] / "model_card.md").read_text().startswith(f"# Model card: {card['version']}")


def test_shipped_models_are_refitted_on_all_examples_unless_asked_not_to(trained, tmp_path):
    card = trained["card"]
    assert card["training_data"]["shipped_models_fitted_on"] == "all examples"
    for target in ("category", "sentiment"):
        model = card["models"][target]
        assert model["train_examples"] == 600
        assert model["evaluated_model_train_examples"] + model["held_out_examples"] == 600
    assert "fitted again on all examples" in (trained["models"] / "model_card.md").read_text()

    split_only = tmp_path / "split-only"
    result = run_cli("model", "train", "--data", str(trained["data"]), "--output-dir", str(split_only), "--no-refit")
    assert result.returncode == 0, result.stderr
    card = json.loads((split_only / "model_card.json").read_text())
    assert card["training_data"]["shipped_models_fitted_on"] == "the training split"
    assert card["version"] == trained["card"]["version"] + "-split"
    for target in ("category", "sentiment"):
        model = card["models"][target]
        assert model["train_examples"] == model["evaluated_model_train_examples"] < 600
        # the same split and seed give the same held-out scores either way
        assert model["held_out"] == trained["card"]["models"][target]["held_out"]


def test_evaluate_prints_and_writes_metrics_for_any_labelled_file(trained, tmp_path):
    output = tmp_path / "metrics.json"
    result = run_cli(
        "model",
        "evaluate",
        "--model-dir",
        str(trained["models"]),
        "--input",
        str(trained["data"] / "fixture.labelled.csv"),
        "--text-column",
        "text",
        "--label-column",
        "sentiment",
        "--target",
        "sentiment",
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(output.read_text())
    assert {"macro_f1", "per_class", "confusion"} <= set(metrics)
    assert metrics["target"] == "sentiment" and "macro-F1" in result.stdout


def test_evaluate_separates_rows_the_model_was_trained_on(trained, tmp_path):
    # the fixture itself: every row was a training text (the shipped models are refitted on all of it)
    seen_file = tmp_path / "seen.json"
    result = run_cli(
        "model",
        "evaluate",
        "--model-dir",
        str(trained["models"]),
        "--input",
        str(trained["data"] / "fixture.labelled.csv"),
        "--text-column",
        "text",
        "--label-column",
        "category",
        "--output",
        str(seen_file),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(seen_file.read_text())["rows_seen_in_training"] == 600
    assert "not a held-out evaluation" in result.stdout

    # a retweet of a training text counts as seen; new texts are scored on their own as well
    with open(trained["data"] / "fixture.labelled.csv") as handle:
        first_row = next(csv.DictReader(handle))
    mixed = tmp_path / "mixed.csv"
    with open(mixed, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerow([f"RT @someone: {first_row['text']}", first_row["category"]])
        writer.writerow(["my bill shows a charge I never agreed to", "Billing"])
        writer.writerow(["no signal anywhere in town since monday", "Network"])
    mixed_file = tmp_path / "mixed.json"
    result = run_cli(
        "model",
        "evaluate",
        "--model-dir",
        str(trained["models"]),
        "--input",
        str(mixed),
        "--text-column",
        "text",
        "--label-column",
        "category",
        "--output",
        str(mixed_file),
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(mixed_file.read_text())
    assert metrics["rows_seen_in_training"] == 1 and metrics["unseen_rows"]["examples"] == 2
    assert "1 of these rows are texts" in result.stdout


def test_batch_with_a_model_dir_stamps_its_version(trained, generated_day, tmp_path):

    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(tmp_path),
        "--date",
        generated_day["date"],
        "--model-dir",
        str(trained["models"]),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from tests.support.warehouse import read_table

    versions = set(
        read_table(tmp_path / "warehouse" / "complaints", ["model_version"]).column("model_version").to_pylist()
    )
    assert versions == {trained["card"]["version"]}


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda d: None, "not a model directory"),
        (lambda d: (d / "model_card.json").write_text('{"version": "v", "models": {}}'), "incomplete or corrupted"),
        (
            lambda d: (
                (d / "model_card.json").write_text(
                    '{"version": "v", "models": {"category": {"file": "c.joblib"}, "sentiment": {"file": "s.joblib"}}}'
                ),
                (d / "c.joblib").write_bytes(b"not a pickle"),
            ),
            "incomplete or corrupted",
        ),
    ],
)
def test_a_bad_model_directory_fails_at_start_up_with_one_line(setup, message, generated_day, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    setup(model_dir)
    result = run_cli(
        "batch",
        "--input-dir",
        str(generated_day["dir"]),
        "--output-dir",
        str(tmp_path / "out"),
        "--model-dir",
        str(model_dir),
    )
    assert result.returncode == 3
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "running" not in result.stderr  # refused before the pipeline started
    assert not (tmp_path / "out").exists()  # and before anything was written


def test_label_maps_and_their_errors(tmp_path):
    assert load_label_map("uk_mobile")["map"]["contract"] == "Billing"
    with pytest.raises(DatasetError):
        load_label_map("no-such-map")
    path = tmp_path / "x.csv"
    path.write_text("Tweet,Subject\nno signal,Network\nhello,\nbill wrong,CONTRACT\n")
    examples, skipped = load_labelled_file(str(path), "Tweet", "Subject", "uk_mobile")
    assert [(e.text, e.category) for e in examples] == [("no signal", "Network"), ("bill wrong", "Billing")]
    assert skipped == 1
    with pytest.raises(DatasetError):
        load_labelled_file(str(path), "text", "Subject", "uk_mobile")


def test_retweets_share_a_near_duplicate_group():
    assert near_duplicate_key("RT @ada: No signal in Ikeja! https://t.co/x") == near_duplicate_key("no signal in ikeja")


def test_metrics_shape():
    metrics = classification_metrics(["a", "a", "b"], ["a", "b", "b"])
    assert metrics["confusion"] == {"labels": ["a", "b"], "matrix": [[1, 1], [0, 1]]}
    assert metrics["per_class"]["a"]["recall"] == 0.5


def test_run_inference_handler_loads_the_rules_or_a_model_dir(trained):
    from models.base import CATEGORIES
    from models.inference import ComplaintModelHandler

    assert ComplaintModelHandler().load_model().version.startswith("rules-")
    handler = ComplaintModelHandler(str(trained["models"]))
    model = handler.load_model()
    assert model.version == trained["card"]["version"]
    [result] = handler.run_inference([{"text": "no signal in Lekki since morning"}], model)
    assert result.model_id == model.version and result.inference.category in CATEGORIES


def test_generator_labels_are_training_data_but_alone_lack_sentiment(generated_day, tmp_path):
    labels = generated_day["dir"] / "_truth" / "generated.labelled.csv"
    rows = list(csv.DictReader(labels.open(encoding="utf-8")))
    assert len(rows) > 1000 and {r["category"] for r in rows} == {"Network", "Billing", "Customer Service", "Other"}
    result = run_cli("model", "train", "--data", str(generated_day["dir"] / "_truth"), "--output-dir", str(tmp_path))
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "complaints model train: not enough sentiment labels to train on (need at least "
        "two classes); add a labelled dataset with a sentiment column"
    )


def test_lexicon_features_measure_positive_and_negative_vocabulary():
    from models.lexicon import LexiconFeatures

    features = LexiconFeatures().fit([])
    rows = features.transform(
        [
            "thank you so much, great help and very happy",
            "terrible awful service, I hate it",
            "my sim card was moved to the new phone",
        ]
    ).toarray()
    happy, angry, neutral = rows
    assert happy[0] > 0 and happy[1] == 0 and happy[5] == 1.0  # positive only
    assert angry[1] > 0 and angry[0] == 0 and angry[6] == 1.0  # negative only
    assert not neutral.any()


def test_the_routing_threshold_is_the_lowest_that_keeps_routed_predictions_precise():
    from models.evaluation import routing_threshold

    confidences = [0.9, 0.8, 0.8, 0.7, 0.6, 0.5]
    correct = [True, True, False, True, True, False]
    # the observed share alone (z=0)
    strict = routing_threshold(confidences, correct, precision=0.9, z=0)
    assert (strict["threshold"], strict["precision"], strict["coverage"]) == (0.9, 1.0, round(1 / 6, 4))
    loose = routing_threshold(confidences, correct, precision=0.75, z=0)
    assert (loose["threshold"], loose["precision"], loose["coverage"]) == (0.6, 0.8, round(5 / 6, 4))
    # a threshold never splits a tie: 0.8 with only the first of the two 0.8s would be 2/2 right
    assert routing_threshold([0.8, 0.8], [True, False], precision=0.9, z=0)["threshold"] > 1
    assert routing_threshold([0.8, 0.8], [True, False], precision=0.9, z=0)["coverage"] == 0
    # with the default margin, 1 right of 1 is too little evidence of 90%; 95 right of the top 100 is enough
    assert routing_threshold(confidences, correct, precision=0.9)["coverage"] == 0
    many = [1 - n / 1000 for n in range(200)]
    right = [(n < 100 and n % 20 != 0) or (n >= 100 and n % 2 == 0) for n in range(200)]  # 95 of the top 100
    chosen = routing_threshold(many, right, precision=0.9)
    assert chosen["precision_lower_bound"] >= 0.9 and chosen["precision"] > 0.9
    assert 0.45 < chosen["coverage"] < 0.55  # where the top half ends: below it only half are right


def test_the_wilson_lower_bound_tightens_with_the_sample():
    from models.evaluation import lower_bound

    assert lower_bound(9, 10) < lower_bound(90, 100) < lower_bound(900, 1000) < 0.9
    assert lower_bound(0, 0) == 0.0 and abs(lower_bound(950, 1000) - 0.9374) < 0.002


def test_the_card_and_evaluate_report_precision_and_coverage_at_the_routing_threshold(trained, tmp_path):
    routing = trained["card"]["models"]["category"]["routing"]
    assert routing["target_precision"] == 0.9 and 0 < routing["coverage"] <= 1
    assert routing["precision"] >= 0.9  # on the held-out split it was chosen on
    assert f"{routing['threshold']:.3f}" in (trained["models"] / "model_card.md").read_text()
    mixed = tmp_path / "new.csv"
    with open(mixed, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        for text, category in [
            ("my bill shows a charge I never agreed to", "Billing"),
            ("no signal anywhere in town since monday", "Network"),
            ("the agent on the phone was rude to me", "Customer Service"),
            ("where is your nearest shop", "Other"),
        ]:
            writer.writerow([text, category])
    output = tmp_path / "metrics.json"
    result = run_cli(
        "model",
        "evaluate",
        "--model-dir",
        str(trained["models"]),
        "--input",
        str(mixed),
        "--text-column",
        "text",
        "--label-column",
        "category",
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr
    reported = json.loads(output.read_text())["routing"]
    assert reported["threshold"] == routing["threshold"] and reported["examples"] == 4
    assert "routed automatically" in result.stdout


def test_a_prediction_below_the_threshold_goes_to_the_review_queue_unless_it_is_p1():
    from models.base import Prediction
    from transforms.enrichment import ESCALATION_QUEUE, REVIEW_QUEUE, ROUTES, finish_row

    complaint = {"text": "hello", "flags": ["unknown_customer"]}
    unsure = finish_row(complaint, Prediction("Billing", 0.41, -0.2, "negative", "P3", [], needs_review=True), "m")
    assert unsure["route_queue"] == REVIEW_QUEUE and unsure["flags"] == ["low_confidence", "unknown_customer"]
    sure = finish_row(complaint, Prediction("Billing", 0.93, -0.2, "negative", "P3", []), "m")
    assert sure["route_queue"] == ROUTES["Billing"] and "low_confidence" not in sure["flags"]
    urgent = finish_row(complaint, Prediction("Billing", 0.41, -0.9, "negative", "P1", [], needs_review=True), "m")
    assert urgent["route_queue"] == ESCALATION_QUEUE and "low_confidence" in urgent["flags"]
