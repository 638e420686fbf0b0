"""``complaints model train|evaluate|promote|rollback|forecast``: the category and sentiment models (``models/``),
their registry (``models/registry.py``: what the scheduled batches use) and the volume forecast."""

from __future__ import annotations

import json
from pathlib import Path

from beam_pipelines.cli import serving
from beam_pipelines.cli.common import CliError, Command, Group, check_writable


def train_arguments(parser) -> None:
    parser.add_argument(
        "--data",
        required=True,
        action="append",
        help="directory with the known public layouts (uk_mobile_tweets/, sentitel_ug_telecom/) "
        "or *.labelled.csv; repeat to combine, e.g. with a generated DIR/_truth",
    )
    parser.add_argument("--output-dir", required=True, help="model directory to write")
    parser.add_argument("--seed", type=int, default=13, help="seed of the held-out split and the models")
    parser.add_argument(
        "--no-refit",
        dest="refit",
        action="store_false",
        help="ship the models trained on the 80%% split that the held-out scores describe "
        "(default: fit them again on all the data once the scores are known)",
    )


def run_train(args) -> int:
    from models.datasets import DatasetError, load_known_datasets
    from models.training import train

    try:
        examples = [example for data in args.data for example in load_known_datasets(data)]
        check_writable(args.output_dir)
        card = train(examples, args.output_dir, args.seed, refit=args.refit)
    except DatasetError as error:
        raise CliError(f"complaints model train: {error}") from None
    print(
        f"model {card['version']} written to {args.output_dir} ({card['training_data']['examples']} examples; "
        f"shipped models fitted on {card['training_data']['shipped_models_fitted_on']})"
    )
    for target, model in card["models"].items():
        print(
            f"  {target:<10} held-out macro-F1 {model['held_out']['macro_f1']:.3f} "
            + " ".join(f"[{d} {f:.3f}]" for d, f in model["held_out_macro_f1_by_dataset"].items())
        )
    return 0


def evaluate_arguments(parser) -> None:
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--input", required=True, help="labelled CSV or JSON-lines file")
    parser.add_argument("--text-column", required=True)
    parser.add_argument("--label-column", required=True)
    parser.add_argument(
        "--label-map",
        help="uk_mobile, uk_mobile_sentiment, sentitel, or a JSON file; without one, labels must already be ours",
    )
    parser.add_argument(
        "--target",
        choices=("category", "sentiment"),
        help="which model to score (default: the label map's target, else category)",
    )
    parser.add_argument("--output", help="where to write the metrics JSON (default: MODEL_DIR/evaluations/)")


def run_evaluate(args) -> int:
    from models.datasets import DatasetError
    from models.scoring import NoLabelledRows, evaluate_model_dir
    from models.sklearn_model import ModelDirectoryError

    try:
        metrics = evaluate_model_dir(
            args.model_dir, args.input, args.text_column, args.label_column, args.label_map, args.target
        )
    except (ModelDirectoryError, DatasetError, NoLabelledRows) as error:
        raise CliError(f"complaints model evaluate: {error}") from None
    output = (
        Path(args.output)
        if args.output
        else (Path(args.model_dir) / "evaluations" / f"{Path(args.input).stem}-{args.label_column}.json")
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(metrics, indent=2))
    print(format_evaluation(metrics))
    print(f"metrics written to {output}")
    return 0


def format_evaluation(metrics: dict) -> str:
    """The printed form of ``evaluate``'s metrics: scores, per-class table, confusion matrix, seen rows."""
    lines = [
        f"{metrics['model_version']} on {metrics['input']} ({metrics['examples']} rows, "
        f"{metrics['rows_left_out']} left out): macro-F1 {metrics['macro_f1']:.3f}, "
        f"accuracy {metrics['accuracy']:.3f}",
        f"{'class':<18}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}",
    ]
    for label, scores in metrics["per_class"].items():
        lines.append(
            f"{label:<18}{scores['precision']:>10.3f}{scores['recall']:>8.3f}{scores['f1']:>8.3f}{scores['support']:>9}"
        )
    labels = metrics["confusion"]["labels"]
    lines.append("confusion (rows: truth, columns: predicted): " + " | ".join(labels))
    for label, row in zip(labels, metrics["confusion"]["matrix"], strict=True):
        lines.append(f"  {label:<18}" + " ".join(f"{n:>6}" for n in row))
    routing = metrics.get("routing")
    if routing:
        precision = f"{routing['precision']:.1%}" if routing["precision"] is not None else "none"
        lines.append(
            f"routing at the card's threshold {routing['threshold']:.3f} ({routing['rows']} rows): "
            f"{routing['coverage']:.1%} routed automatically, {precision} of them to the right category; "
            "the rest go to the review queue"
        )
    if metrics.get("rows_seen_in_training"):
        if "unseen_rows" in metrics:
            unseen = metrics["unseen_rows"]
            lines.append(
                f"{metrics['rows_seen_in_training']} of these rows are texts (or retweets, copies) the "
                f"model was trained on; on the other {unseen['examples']}: macro-F1 "
                f"{unseen['macro_f1']:.3f}, accuracy {unseen['accuracy']:.3f}"
            )
        else:
            lines.append(
                "every row is a text (or a retweet, a copy) the model was trained on: "
                "these scores are not a held-out evaluation"
            )
    return "\n".join(lines)


def promote_arguments(parser) -> None:
    parser.add_argument("--candidate", required=True, help="a model directory from `complaints model train`")
    parser.add_argument("--registry", required=True, help="the registry: versions/, current, previous")
    parser.add_argument("--holdout", required=True, help="labelled CSV/JSONL file neither model was trained on")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--label-map", help="as for `complaints model evaluate`")
    parser.add_argument("--target", choices=("category", "sentiment"))


def run_promote(args) -> int:
    from models.datasets import DatasetError
    from models.registry import promote
    from models.sklearn_model import ModelDirectoryError

    try:
        decision = promote(
            args.candidate,
            args.registry,
            args.holdout,
            args.text_column,
            args.label_column,
            args.label_map,
            args.target,
        )
    except (ModelDirectoryError, DatasetError, ValueError) as error:
        raise CliError(f"complaints model promote: {error}") from None
    candidate, serving = decision["candidate"], decision["serving"]
    verdict = "promoted" if decision["promoted"] else "kept the serving model"
    print(
        f"{verdict}: candidate {candidate['model_version']} macro-F1 {candidate['macro_f1']:.3f} vs serving "
        f"{serving['model_version']} {serving['macro_f1']:.3f} on {candidate['examples']} held-out rows"
    )
    print(json.dumps(decision))
    return 0


def rollback_arguments(parser) -> None:
    parser.add_argument("--registry", required=True)


def run_rollback(args) -> int:
    from models.registry import rollback
    from models.sklearn_model import ModelDirectoryError

    try:
        entry = rollback(args.registry)
    except ModelDirectoryError as error:
        raise CliError(f"complaints model rollback: {error}") from None
    print(f"current model is now {entry['current']}")
    return 0


GROUP = Group(
    "model",
    "the category and sentiment models, their registry, and the volume forecast",
    (
        Command(
            "train",
            "train the category and sentiment models from labelled data",
            train_arguments,
            run_train,
            extra="pipeline",
        ),
        Command(
            "evaluate",
            "score a model directory on any labelled CSV/JSONL file",
            evaluate_arguments,
            run_evaluate,
            extra="pipeline",
        ),
        Command(
            "promote",
            "make a trained model current if it scores at least as well as the serving one",
            promote_arguments,
            run_promote,
            extra="pipeline",
        ),
        Command(
            "rollback", "make the previous model current again", rollback_arguments, run_rollback, extra="pipeline"
        ),
        Command(
            "forecast",
            "forecast daily volume per category and channel, with a backtest against seasonal-naive",
            serving.forecast_arguments,
            serving.cmd_forecast,
            extra="serving",
        ),
    ),
)
