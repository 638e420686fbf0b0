"""The ``complaints`` command line (also ``python -m beam_pipelines``).

Bad arguments, a missing input directory or an unwritable output give one clear line on stderr and a
non-zero exit, never a traceback. Unknown ``--flags`` of ``batch`` pass through to Beam unchanged.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import uuid

EXIT_USAGE, EXIT_INPUT, EXIT_FAILED, EXIT_UNBALANCED = 2, 3, 4, 5


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise CliError(f"{self.prog}: {message} (see --help)", EXIT_USAGE)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {value!r}, expected YYYY-MM-DD") from None


def _whole_number(value: str, minimum: int, requirement: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < minimum:
        raise argparse.ArgumentTypeError(f"expected {requirement}, got {number}")
    return number


def _positive(value: str) -> int:
    return _whole_number(value, 1, "a positive number")


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value!r}") from None
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {rate}")
    return rate


def _non_negative(value: str) -> int:
    return _whole_number(value, 0, "zero or more")


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="complaints", description="Beejan complaint data platform: pipelines and tools.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    generate = commands.add_parser("generate", help="write a realistic day of sample input for every channel")
    generate.add_argument("--output-dir", required=True, help="directory to write twitter/, webforms/, sms/, ...")
    generate.add_argument("--date", type=_date, help="the day (YYYY-MM-DD); default yesterday (UTC)")
    generate.add_argument("--volume", type=_positive, default=10_000, help="number of complaints (default 10000)")
    generate.add_argument("--seed", type=int, default=7, help="random seed: same seed, same files")
    generate.add_argument("--defect-rate", type=_rate, default=0.03,
                          help="share of records with a realistic defect (default 0.03)")

    batch = commands.add_parser("batch", help="run the batch pipeline on a directory of channel files",
                                epilog="Other --flags are Beam pipeline options and pass through unchanged.")
    batch.add_argument("--input-dir", required=True, help="input laid out as twitter/, webforms/, sms/, ...")
    batch.add_argument("--output-dir", required=True, help="where lake/, warehouse/ and _runs/ go")
    batch.add_argument("--date", type=_date, help="logical date of the batch (ingest_date); default today (UTC)")
    batch.add_argument("--batch-id", help="identity of the batch; a rerun with the same id replaces its output "
                                          "(default: from the date and the input directory)")
    batch.add_argument("--runner", default="DirectRunner",
                       help="DirectRunner (default, local), FlinkRunner, DataflowRunner or any Beam runner")
    batch.add_argument("--profile", help="configuration profile: dev (default), staging, prod, or a .toml file")
    batch.add_argument("--model-dir", help="trained models from `complaints train` (default: the rules model)")
    batch.add_argument("--quiet", action="store_true", help="print only the summary")

    train = commands.add_parser("train", help="train the category and sentiment models from labelled data")
    train.add_argument("--data", required=True, action="append",
                       help="directory with the known public layouts (uk_mobile_tweets/, sentitel_ug_telecom/) "
                            "or *.labelled.csv; repeat to combine, e.g. with a generated DIR/_truth")
    train.add_argument("--output-dir", required=True, help="model directory to write")
    train.add_argument("--seed", type=int, default=13, help="seed of the held-out split and the models")
    train.add_argument("--no-refit", dest="refit", action="store_false",
                       help="ship the models trained on the 80%% split that the held-out scores describe "
                            "(default: fit them again on all the data once the scores are known)")

    evaluate = commands.add_parser("evaluate", help="score a model directory on any labelled CSV/JSONL file")
    evaluate.add_argument("--model-dir", required=True)
    evaluate.add_argument("--input", required=True, help="labelled CSV or JSON-lines file")
    evaluate.add_argument("--text-column", required=True)
    evaluate.add_argument("--label-column", required=True)
    evaluate.add_argument("--label-map", help="uk_mobile, uk_mobile_sentiment, sentitel, or a JSON file; "
                                              "without one, labels must already be ours")
    evaluate.add_argument("--target", choices=("category", "sentiment"),
                          help="which model to score (default: the label map's target, else category)")
    evaluate.add_argument("--output", help="where to write the metrics JSON (default: MODEL_DIR/evaluations/)")

    stream = commands.add_parser(
        "stream", help="run the streaming pipeline on the live channels (Kafka or Pub/Sub)",
        epilog="Other --flags are Beam pipeline options and pass through unchanged. Kafka runs on Prism by "
               "default (start the local services with `python runners/local_services.py start`).")
    stream.add_argument("--transport", required=True, choices=("kafka", "pubsub"))
    stream.add_argument("--output-dir", required=True, help="where lake/ and warehouse/ go")
    _transport_arguments(stream)
    stream.add_argument("--group-id", default="complaints-stream", help="Kafka consumer group")
    stream.add_argument("--expansion-service", default=os.environ.get("COMPLAINTS_EXPANSION_SERVICE",
                                                                      "localhost:18097"),
                        help="address of Beam's Java expansion service for ReadFromKafka")
    stream.add_argument("--max-records", type=_positive,
                        help="stop after reading this many messages (a bounded run: tests, backfills)")
    stream.add_argument("--customers", help="customer master CSV for linking (default: none, all unknown)")
    stream.add_argument("--model-dir", help="trained models from `complaints train` (default: the rules model)")
    stream.add_argument("--model-watch", metavar="PATTERN",
                        help="swap in new models while running: a glob of model cards, e.g. "
                             "'MODELS/*/model_card.json' (each new directory from `complaints train`)")
    stream.add_argument("--model-watch-seconds", type=_positive, default=60,
                        help="how often to look for a new model (default 60)")
    stream.add_argument("--stream-id", help="name of this stream in file names and stream_counts "
                                            "(default: stream-<transport>)")
    stream.add_argument("--window-seconds", type=_positive, default=60, help="event-time window (default 60)")
    stream.add_argument("--allowed-lateness", type=_non_negative, default=3600,
                        help="seconds after a window closes that late records still join it (default 3600)")
    stream.add_argument("--early-firing-count", type=_non_negative, default=1000,
                        help="write an open window early once this many records wait (default 1000, 0: never)")
    stream.add_argument("--dedupe-horizon", type=_positive, default=86400,
                        help="seconds a complaint_id is remembered for dedup (default 86400)")
    stream.add_argument("--shards", type=_positive, default=1, help="files per partition and pane (default 1)")
    stream.add_argument("--runner", help="PrismRunner (default for kafka), DirectRunner (default for pubsub), "
                                         "FlinkRunner, DataflowRunner")
    stream.add_argument("--profile", help="configuration profile: dev (default), staging, prod, or a .toml file")
    stream.add_argument("--quiet", action="store_true", help="no progress lines, only the final totals")

    publish = commands.add_parser("publish", help="replay channel files into the live topics")
    publish.add_argument("--transport", required=True, choices=("kafka", "pubsub"))
    publish.add_argument("--from", dest="input_dir", required=True,
                         help="directory with twitter/*.jsonl and webforms/*.jsonl|*.form (e.g. from generate)")
    publish.add_argument("--rate", type=_positive_float, help="messages per second (default: as fast as it goes)")
    publish.add_argument("--limit", type=_positive, help="publish at most this many messages")
    _transport_arguments(publish)

    endpoint = commands.add_parser("webform-endpoint",
                                   help="HTTP endpoint that accepts web-form posts and publishes them")
    endpoint.add_argument("--transport", required=True, choices=("kafka", "pubsub"))
    endpoint.add_argument("--host", default="127.0.0.1")
    endpoint.add_argument("--port", type=_positive, default=8085)
    _transport_arguments(endpoint)

    x_stream = commands.add_parser("x-stream", help="read the X API v2 filtered stream and publish each post "
                                                    "(bearer token from X_BEARER_TOKEN)")
    x_stream.add_argument("--transport", required=True, choices=("kafka", "pubsub"))
    x_stream.add_argument("--url", default="https://api.x.com/2/tweets/search/stream",
                          help="the filtered-stream endpoint")
    x_stream.add_argument("--max-posts", type=_positive, help="stop after this many posts")
    _transport_arguments(x_stream)

    from beam_pipelines.serving import commands as serving_commands

    serving_commands.add_parsers(commands)
    return parser


def _transport_arguments(parser) -> None:
    parser.add_argument("--bootstrap-servers", default=os.environ.get("COMPLAINTS_KAFKA", "localhost:9092"),
                        help="Kafka brokers (default localhost:9092 or COMPLAINTS_KAFKA)")
    parser.add_argument("--pubsub-project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", ""),
                        help="Google Cloud project of the Pub/Sub topics")
    parser.add_argument("--twitter-topic", default="complaints.twitter")
    parser.add_argument("--webform-topic", default="complaints.webforms")


def _check_writable(output_dir: str) -> None:
    if "://" in output_dir:
        return
    try:
        os.makedirs(output_dir, exist_ok=True)
        probe = os.path.join(output_dir, f".write-test-{uuid.uuid4().hex}")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError as error:
        raise CliError(f"complaints: output directory {output_dir} is not writable: {error.strerror}") from None


def cmd_generate(args) -> int:
    from beam_pipelines.generator import generate

    _check_writable(args.output_dir)
    args.date = args.date or dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    expected = generate(args.output_dir, args.date, args.volume, args.seed, args.defect_rate)
    records = sum(counts.get("read", 0) for source, counts in expected.items() if source != "customers")
    print(f"wrote {args.volume} complaints ({records} raw records, defect rate {args.defect_rate}) for "
          f"{args.date} to {args.output_dir}; injected defects in {args.output_dir}/_truth/")
    return 0


def cmd_train(args) -> int:
    from models.datasets import DatasetError, load_known_datasets
    from models.training import train

    try:
        examples = [example for data in args.data for example in load_known_datasets(data)]
        _check_writable(args.output_dir)
        card = train(examples, args.output_dir, args.seed, refit=args.refit)
    except DatasetError as error:
        raise CliError(f"complaints train: {error}") from None
    print(f"model {card['version']} written to {args.output_dir} ({card['training_data']['examples']} examples; "
          f"shipped models fitted on {card['training_data']['shipped_models_fitted_on']})")
    for target, model in card["models"].items():
        print(f"  {target:<10} held-out macro-F1 {model['held_out']['macro_f1']:.3f} "
              + " ".join(f"[{d} {f:.3f}]" for d, f in model["held_out_macro_f1_by_dataset"].items()))
    return 0


def cmd_evaluate(args) -> int:
    import json
    from pathlib import Path

    from models.datasets import DatasetError, load_label_map, load_labelled_file
    from models.evaluation import classification_metrics
    from models.sklearn_model import ModelDirectoryError, SklearnComplaintModel
    from models.training import seen_in_training

    try:
        model = SklearnComplaintModel(args.model_dir)
        target = args.target or (load_label_map(args.label_map).get("target") if args.label_map else "category")
        examples, skipped = load_labelled_file(args.input, args.text_column, args.label_column, args.label_map,
                                               target)
    except (ModelDirectoryError, DatasetError) as error:
        raise CliError(f"complaints evaluate: {error}") from None
    if not examples:
        raise CliError(f"complaints evaluate: no rows of {args.input} have a usable label ({skipped} left out)")
    predictions = model.predict([{"text": example.text} for example in examples])
    predicted = [p.category if target == "category" else p.sentiment_label for p in predictions]
    metrics = classification_metrics([getattr(example, target) for example in examples], predicted)
    metrics.update({"model_version": model.version, "input": args.input, "target": target,
                    "label_map": args.label_map, "rows_left_out": skipped})
    seen = seen_in_training(args.model_dir, [example.text for example in examples])
    if seen is not None:
        metrics["rows_seen_in_training"] = sum(seen)
        unseen = [i for i, was_seen in enumerate(seen) if not was_seen]
        if 0 < len(unseen) < len(seen):
            metrics["unseen_rows"] = classification_metrics([getattr(examples[i], target) for i in unseen],
                                                            [predicted[i] for i in unseen])
    output = Path(args.output) if args.output else (
        Path(args.model_dir) / "evaluations" / f"{Path(args.input).stem}-{args.label_column}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(metrics, indent=2))
    print(f"{model.version} on {args.input} ({metrics['examples']} rows, {skipped} left out): "
          f"macro-F1 {metrics['macro_f1']:.3f}, accuracy {metrics['accuracy']:.3f}")
    print(f"{'class':<18}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}")
    for label, scores in metrics["per_class"].items():
        print(f"{label:<18}{scores['precision']:>10.3f}{scores['recall']:>8.3f}{scores['f1']:>8.3f}"
              f"{scores['support']:>9}")
    labels = metrics["confusion"]["labels"]
    print("confusion (rows: truth, columns: predicted): " + " | ".join(labels))
    for label, row in zip(labels, metrics["confusion"]["matrix"]):
        print(f"  {label:<18}" + " ".join(f"{n:>6}" for n in row))
    if metrics.get("rows_seen_in_training"):
        if "unseen_rows" in metrics:
            print(f"{metrics['rows_seen_in_training']} of these rows are texts (or retweets, copies) the model was "
                  f"trained on; on the other {metrics['unseen_rows']['examples']}: macro-F1 "
                  f"{metrics['unseen_rows']['macro_f1']:.3f}, accuracy {metrics['unseen_rows']['accuracy']:.3f}")
        else:
            print("every row is a text (or a retweet, a copy) the model was trained on: "
                  "these scores are not a held-out evaluation")
    print(f"metrics written to {output}")
    return 0


def _settings_for_pipeline(args, beam_args: list[str]):
    """The profile's settings, after checking that every argument left for Beam is a --flag."""
    from beam_pipelines.config import ConfigError, load_settings

    for flag in beam_args:
        if not flag.startswith("--"):
            raise CliError(f"complaints {args.command}: unexpected argument {flag!r} (see --help)", EXIT_USAGE)
    try:
        return load_settings(args.profile)
    except ConfigError as error:
        raise CliError(f"complaints: {error}") from None


def cmd_batch(args, beam_args: list[str]) -> int:
    from beam_pipelines.batch import InputError, UnbalancedRun, plan_batch, run_batch
    from beam_pipelines.summary import format_summary
    from models.sklearn_model import ModelDirectoryError, ModelFactory

    settings = _settings_for_pipeline(args, beam_args)
    input_dir = args.input_dir if "://" in args.input_dir else os.path.abspath(args.input_dir)
    output_dir = args.output_dir if "://" in args.output_dir else os.path.abspath(args.output_dir)
    if "://" not in input_dir and not os.path.isdir(input_dir):
        raise CliError(f"complaints: input directory {args.input_dir} does not exist")
    _check_writable(output_dir)
    model_factory = ModelFactory(os.path.abspath(args.model_dir) if args.model_dir else None)
    try:
        model_factory()  # load once here: a bad model directory fails now, not on a worker mid-run
    except ModelDirectoryError as error:
        raise CliError(f"complaints: {error}") from None
    try:
        plan = plan_batch(input_dir, output_dir, settings, batch_date=args.date, batch_id=args.batch_id,
                          runner=args.runner, beam_args=beam_args)
    except InputError as error:
        raise CliError(f"complaints: {error}") from None
    if not args.quiet:
        total = sum(f.size for f in plan.files)
        print(f"run {plan.run_id}: batch {plan.batch_id}, {len(plan.files)} input files ({total / 1e6:.1f} MB), "
              f"{plan.shards} shards, runner {plan.runner}; running...", file=sys.stderr, flush=True)
    try:
        manifest = run_batch(plan, settings, model_factory, show_progress=not args.quiet)
    except UnbalancedRun as error:
        raise CliError(f"complaints: counts did not balance, nothing committed: {error}", EXIT_UNBALANCED) from None
    except Exception as error:  # noqa: BLE001 - a failed run is reported in one line; details are logged
        logging.getLogger(__name__).debug("pipeline failed", exc_info=True)
        message = failure_reason(error)
        raise CliError(f"complaints: the pipeline failed, nothing was committed: {message[:500]}",
                       EXIT_FAILED) from None
    print(format_summary(manifest))
    return 0


def _transport_config(args, transport: str):
    from beam_pipelines.transports import KafkaConfig, PubSubConfig

    topics = {"twitter": args.twitter_topic, "webform": args.webform_topic}
    if transport == "kafka":
        return KafkaConfig(bootstrap_servers=args.bootstrap_servers, topics=topics,
                           group_id=getattr(args, "group_id", "complaints-stream"),
                           expansion_service=getattr(args, "expansion_service", "localhost:18097"),
                           max_records=getattr(args, "max_records", None),
                           commit_on_finalize=(getattr(args, "runner", None) or "PrismRunner") != "PrismRunner")
    if not args.pubsub_project:
        raise CliError(f"complaints {args.command}: Pub/Sub needs --pubsub-project (or GOOGLE_CLOUD_PROJECT)",
                       EXIT_USAGE)
    return PubSubConfig(project=args.pubsub_project, topics=topics)


def _publisher(args):
    from beam_pipelines.transports import KafkaPublisher, PubSubPublisher, TransportError

    config = _transport_config(args, args.transport)
    try:
        publisher = KafkaPublisher(config) if args.transport == "kafka" else PubSubPublisher(config)
        publisher.check()
    except TransportError as error:
        raise CliError(f"complaints {args.command}: {error}") from None
    return publisher


def cmd_stream(args, beam_args: list[str]) -> int:
    from beam_pipelines.streaming import StreamPlan, run_stream
    from beam_pipelines.transports import TransportError
    from models.sklearn_model import ModelDirectoryError, ModelFactory
    from runners.options import STREAM_RUNNER_FOR, RunnerSetupError, prism_location
    from transforms.event_time import StreamTiming

    settings = _settings_for_pipeline(args, beam_args)
    output_dir = args.output_dir if "://" in args.output_dir else os.path.abspath(args.output_dir)
    _check_writable(output_dir)
    if args.customers and not os.path.isfile(args.customers):
        raise CliError(f"complaints stream: customer file {args.customers} does not exist")
    model_dir = os.path.abspath(args.model_dir) if args.model_dir else None
    if args.model_watch and (args.runner or STREAM_RUNNER_FOR[args.transport]) == "PrismRunner":
        raise CliError("complaints stream: --model-watch needs a runner with triggered side inputs (Flink, "
                       "Dataflow, or the DirectRunner with Pub/Sub); Prism 2.77 does not support them "
                       "(apache/beam#31438): restart the stream with --model-dir to change models there",
                       EXIT_USAGE)
    if args.model_watch:
        import glob

        cards = sorted(glob.glob(args.model_watch), key=os.path.getmtime)
        if not cards or not all(card.endswith("model_card.json") for card in cards):
            raise CliError(f"complaints stream: --model-watch {args.model_watch} matches no model_card.json "
                           "(it must match at least one model directory's card when the stream starts)")
        model_dir = model_dir or os.path.dirname(os.path.abspath(cards[-1]))
    try:
        ModelFactory(model_dir)()  # a bad model directory fails now, not on a worker mid-stream
    except ModelDirectoryError as error:
        raise CliError(f"complaints: {error}") from None
    timing = StreamTiming(window_seconds=args.window_seconds, allowed_lateness_seconds=args.allowed_lateness,
                          early_firing_count=args.early_firing_count, dedupe_horizon_seconds=args.dedupe_horizon)
    plan = StreamPlan(output_dir, args.stream_id or f"stream-{args.transport}", timing,
                      customers_path=os.path.abspath(args.customers) if args.customers else None,
                      model_dir=model_dir, shards=args.shards, model_watch=args.model_watch,
                      model_watch_seconds=args.model_watch_seconds, bounded=args.max_records is not None)
    config = _transport_config(args, args.transport)
    if args.transport == "kafka":
        if (args.runner or "PrismRunner") == "PrismRunner":
            try:
                prism_location()
            except RunnerSetupError as error:
                raise CliError(f"complaints stream: {error}") from None
        publisher = _publisher(args)  # the broker must answer before a job is started against it
        try:
            publisher.ensure_topics()
        except TransportError as error:
            raise CliError(f"complaints stream: {error}") from None
    print(f"stream {plan.stream_id} run {plan.run_id}: reading {args.transport} topics "
          f"{', '.join(sorted(config.topics.values()))}; writing to {output_dir} (Ctrl-C to stop)",
          file=sys.stderr, flush=True)
    try:
        totals = run_stream(plan, settings, args.transport, config, runner=args.runner, beam_args=beam_args,
                            show_progress=not args.quiet)
    except RunnerSetupError as error:
        raise CliError(f"complaints stream: {error}") from None
    except KeyboardInterrupt:
        raise
    except Exception as error:  # noqa: BLE001 - reported in one line; details are logged
        logging.getLogger(__name__).debug("stream failed", exc_info=True)
        message = failure_reason(error)
        raise CliError(f"complaints: the streaming pipeline failed: {message[:500]}", EXIT_FAILED) from None
    for source, entry in sorted(totals.items()):
        print(f"{source:<8} read {entry['read']:>7}  written {entry['written']:>7}  rejected {entry['rejected']:>6}"
              f"  duplicates {entry['duplicates']:>6}  {'balanced' if entry['balanced'] else 'NOT BALANCED'}")
    if not all(entry["balanced"] for entry in totals.values()):
        return EXIT_UNBALANCED
    return 0


def failure_reason(error: Exception) -> str:
    """The line of a runner's failure that says what went wrong (a Java cause, a Python error), not the
    last line of a stack trace."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    causes = [line for line in lines if "Exception:" in line or "Error:" in line]
    if causes:
        return causes[-1].split("Exception: ", 1)[-1] if "Exception: " in causes[-1] else causes[-1]
    return lines[-1] if lines else type(error).__name__


def cmd_publish(args) -> int:
    from beam_pipelines.ingest.replay import replay
    from beam_pipelines.transports import TransportError

    if not os.path.isdir(args.input_dir):
        raise CliError(f"complaints publish: input directory {args.input_dir} does not exist")
    publisher = _publisher(args)
    try:
        published = replay(args.input_dir, publisher, args.rate, args.limit)
    except TransportError as error:
        raise CliError(f"complaints publish: {error}") from None
    if not published:
        raise CliError(f"complaints publish: no twitter/ or webforms/ records under {args.input_dir}")
    print("published " + ", ".join(f"{n} {source} messages" for source, n in sorted(published.items())))
    return 0


def cmd_webform_endpoint(args) -> int:
    from beam_pipelines.ingest.webform_endpoint import serve

    publisher = _publisher(args)
    print(f"web-form endpoint on http://{args.host}:{args.port}/webforms publishing to {args.transport} "
          f"topic {args.webform_topic} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    serve(publisher, args.host, args.port)
    return 0


def cmd_x_stream(args) -> int:
    from beam_pipelines.ingest.x_stream import XStreamError, run_connector

    token = os.environ.get("X_BEARER_TOKEN")
    if not token:
        raise CliError("complaints x-stream: set X_BEARER_TOKEN to the app's bearer token", EXIT_USAGE)
    publisher = _publisher(args)
    try:
        stats = run_connector(args.url, token, publisher, max_posts=args.max_posts)
    except XStreamError as error:
        raise CliError(f"complaints x-stream: {error}") from None
    print(f"published {stats.published} posts over {stats.connections} connections")
    return 0


def main(argv: list[str] | None = None) -> int:
    level = os.environ.get("COMPLAINTS_LOG_LEVEL", "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if "COMPLAINTS_LOG_LEVEL" not in os.environ:
        # Beam's local job service relays its SDK workers' start-up warnings; they are not the user's concern.
        logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.command == "batch":
            return cmd_batch(args, extra)
        if args.command == "stream":
            return cmd_stream(args, extra)
        if extra:
            raise CliError(f"complaints {args.command}: unrecognised arguments: {' '.join(extra)} (see --help)",
                           EXIT_USAGE)
        if args.command == "train":
            return cmd_train(args)
        if args.command == "evaluate":
            return cmd_evaluate(args)
        if args.command == "publish":
            return cmd_publish(args)
        if args.command == "webform-endpoint":
            return cmd_webform_endpoint(args)
        if args.command == "x-stream":
            return cmd_x_stream(args)
        from beam_pipelines.serving import commands as serving_commands

        if args.command in serving_commands.COMMANDS:
            return serving_commands.run(args)
        return cmd_generate(args)
    except CliError as error:
        print(str(error), file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("complaints: interrupted", file=sys.stderr)
        return 130
