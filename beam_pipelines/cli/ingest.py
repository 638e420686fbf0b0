"""``complaints ingest publish|webform|x``: the ingestion edge (``ingest/``) that puts live complaints on the Kafka
or Pub/Sub topics, and the transport flags the streaming pipeline shares."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from beam_pipelines.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    CliError,
    Command,
    Group,
    non_negative,
    positive,
    positive_float,
)
from ingest.transport import add_transport_arguments


def commits_on_finalize(runner: str) -> bool:
    """Whether the Kafka read commits its offsets when a bundle is finalised (else the consumer auto-commits).
    Not on Prism, which finalises nothing; not on Flink, where the offsets are in each checkpoint (a restore
    or a savepoint resumes exactly there) and Beam 2.70's Flink runner, restoring a job whose read commits on
    finalise, fails its stable-input replay ("State backend must be locked") on every restart."""
    return runner not in ("PrismRunner", "FlinkRunner")


def transport_config(args):
    """The Kafka or Pub/Sub configuration that the transport flags describe."""
    from transforms.sources.transport import KafkaConfig, PubSubConfig

    topics = {"twitter": args.twitter_topic, "webform": args.webform_topic}
    if args.transport == "kafka":
        return KafkaConfig(
            bootstrap_servers=args.kafka_bootstrap_servers,
            topics=topics,
            group_id=getattr(args, "group_id", "complaints-stream"),
            expansion_service=getattr(args, "expansion_service", "localhost:18097"),
            max_records=getattr(args, "max_records", None),
            commit_on_finalize=commits_on_finalize(getattr(args, "runner", None) or "PrismRunner"),
        )
    if not args.pubsub_project:
        raise CliError(
            f"complaints {args.command}: Pub/Sub needs --pubsub-project (or GOOGLE_CLOUD_PROJECT)", EXIT_USAGE
        )
    return PubSubConfig(project=args.pubsub_project, topics=topics)


def checked_publisher(args):
    """A publisher for the transport flags, after the broker has answered."""
    from ingest.transport import TransportError, publisher_for

    try:
        return publisher_for(transport_config(args))
    except TransportError as error:
        raise CliError(f"complaints {args.command}: {error}") from None


def publish_arguments(parser) -> None:
    parser.add_argument(
        "--from",
        dest="input_dir",
        required=True,
        help="directory with twitter/*.jsonl and webforms/*.jsonl|*.form (e.g. from `complaints generate day`)",
    )
    parser.add_argument("--rate", type=positive_float, help="messages per second (default: as fast as it goes)")
    parser.add_argument("--limit", type=positive, help="publish at most this many messages")
    add_transport_arguments(parser)


def run_publish(args) -> int:
    from ingest.replay import replay
    from ingest.transport import TransportError

    if not os.path.isdir(args.input_dir):
        raise CliError(f"complaints ingest publish: input directory {args.input_dir} does not exist")
    publisher = checked_publisher(args)
    try:
        published = replay(args.input_dir, publisher, args.rate, args.limit)
    except TransportError as error:
        raise CliError(f"complaints ingest publish: {error}") from None
    if not published:
        raise CliError(f"complaints ingest publish: no twitter/ or webforms/ records under {args.input_dir}")
    print("published " + ", ".join(f"{n} {source} messages" for source, n in sorted(published.items())))
    batch_only = [folder for folder in ("sms", "phone_logs") if os.path.isdir(os.path.join(args.input_dir, folder))]
    if batch_only:
        print(
            f"complaints ingest publish: {' and '.join(f'{folder}/' for folder in batch_only)} left out: SMS "
            "gateway files and call-centre exports are batch inputs (complaints batch), only Twitter/X and web "
            "forms are live",
            file=sys.stderr,
        )
    return 0


def endpoint_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=positive, default=8085)
    parser.add_argument(
        "--profile",
        help="dev (default), staging, prod, or a .toml file: its [webform] section "
        "(limits, origins, trusted proxies, keys)",
    )
    add_transport_arguments(parser)


def endpoint_config(args):
    """The endpoint's configuration from the profile's ``[webform]`` section and the keys it names."""
    from beam_pipelines.config import ConfigError, load_section, webform_keys
    from beam_pipelines.parameters import validation_rules
    from ingest.webform_endpoint import EndpointConfig

    try:
        settings = load_section("webform", args.profile)
        identity_key, form_token_key = webform_keys(settings)
        rules = validation_rules(load_section("validation", args.profile), None)
    except ConfigError as error:
        raise CliError(f"complaints {args.command}: {error}", EXIT_USAGE) from None
    return settings, EndpointConfig.from_settings(settings, identity_key, form_token_key, rules)


def run_webform_endpoint(args) -> int:
    import logging

    from ingest.transport import KafkaConfig, KafkaPublisher, TransportError
    from ingest.webform_endpoint import serve

    settings, config = endpoint_config(args)
    transport = transport_config(args)
    try:
        # librdkafka gives up on a message as the endpoint stops waiting for it, so its answer is rarely "unknown"
        publisher = (
            KafkaPublisher(transport, message_timeout=settings.delivery_timeout_seconds)
            if isinstance(transport, KafkaConfig)
            else checked_publisher(args)
        )
        publisher.check()
    except TransportError as error:
        raise CliError(f"complaints {args.command}: {error}") from None
    # the CLI owns the process: the access log (one line per request) and the transport's ups and downs on stderr,
    # unless COMPLAINTS_LOG_LEVEL says otherwise
    if "COMPLAINTS_LOG_LEVEL" not in os.environ:
        for name in ("complaints.webform", "complaints.transport"):
            logging.getLogger(name).setLevel(logging.INFO)
    print(
        f"web-form endpoint on http://{args.host}:{args.port}/webforms publishing to {args.transport} "
        f"topic {args.webform_topic} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    try:
        serve(publisher, args.host, args.port, config)
    finally:
        publisher.close()
    return 0


def x_stream_arguments(parser) -> None:
    parser.add_argument(
        "--url", default="https://api.x.com/2/tweets/search/stream", help="the filtered-stream endpoint"
    )
    parser.add_argument("--max-posts", type=positive, help="stop after this many posts (duplicates not counted)")
    parser.add_argument(
        "--spool-dir",
        default=os.environ.get("COMPLAINTS_X_SPOOL", "x-stream-spool"),
        help="where posts the transport has not confirmed wait, on disk, to be sent again (also "
        "after a restart); default x-stream-spool or COMPLAINTS_X_SPOOL",
    )
    parser.add_argument(
        "--backfill-minutes",
        type=backfill_minutes,
        default=5,
        help="minutes of posts X replays on each reconnect, 1-5 (0: off, for access levels "
        "without backfill); default 5",
    )
    parser.add_argument(
        "--flush-seconds",
        type=positive_float,
        default=10.0,
        help="on stopping, how long to wait for the transport to confirm what is in flight "
        "before it goes to the spool (default 10)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=positive,
        default=1000,
        help="stop reading X while this many posts await the transport's confirmation",
    )
    parser.add_argument(
        "--spool-max-mb",
        type=positive,
        default=1024,
        help="stop reading X while the spool holds this many megabytes (default 1024)",
    )
    add_transport_arguments(parser)


def backfill_minutes(value: str) -> int:
    minutes = non_negative(value)
    if minutes > 5:
        raise argparse.ArgumentTypeError(f"expected 0 to 5 (X's limit), got {minutes}")
    return minutes


def run_x_stream(args) -> int:
    """Run the connector until ``--max-posts``, SIGTERM or SIGINT (which stop the reading: what is in flight is
    confirmed or spooled); prints one summary line. Exit 0 when nothing was lost (spooled posts are not lost:
    the next start sends them), 4 when some were (each logged with its post id)."""
    from ingest.x_stream import XStreamError, run_connector

    token = os.environ.get("X_BEARER_TOKEN")
    if not token:
        raise CliError("complaints ingest x: set X_BEARER_TOKEN to the app's bearer token", EXIT_USAGE)
    publisher = checked_publisher(args)
    stop = threading.Event()

    def stop_reading(signum, frame):
        if not stop.is_set():
            print(
                f"complaints ingest x: {signal.Signals(signum).name}: stopping; flushing what is in flight "
                f"(at most {args.flush_seconds:.0f} s), the rest goes to the spool",
                file=sys.stderr,
                flush=True,
            )
        stop.set()

    previous = {signum: signal.signal(signum, stop_reading) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        stats = run_connector(
            args.url,
            token,
            publisher,
            args.spool_dir,
            max_posts=args.max_posts,
            backfill_minutes=args.backfill_minutes,
            stop=stop,
            flush_seconds=args.flush_seconds,
            max_in_flight=args.max_in_flight,
            spool_max_bytes=args.spool_max_mb << 20,
        )
    except XStreamError as error:
        raise CliError(f"complaints ingest x: {error}") from None
    except OSError as error:
        raise CliError(f"complaints ingest x: spool {args.spool_dir}: {error}") from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(stats.summary(), flush=True)
    if stats.delivery.lost:
        raise CliError(
            f"complaints ingest x: {stats.delivery.lost} posts lost (each logged with its post id)", EXIT_FAILED
        )
    return 0


GROUP = Group(
    "ingest",
    "the live edge: put complaints on the Kafka or Pub/Sub topics the stream reads",
    (
        Command("publish", "replay channel files into the live topics", publish_arguments, run_publish, extra="ingest"),
        Command(
            "webform",
            "HTTP endpoint that accepts web-form posts and publishes them",
            endpoint_arguments,
            run_webform_endpoint,
            extra="ingest",
        ),
        Command(
            "x",
            "read the X API v2 filtered stream and publish each post (bearer token from X_BEARER_TOKEN)",
            x_stream_arguments,
            run_x_stream,
            extra="ingest",
        ),
    ),
)
