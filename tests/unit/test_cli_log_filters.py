"""The command line keeps Beam Java's harmless gRPC channel notice (relayed by Prism) off the terminal, and only it."""

import io
import logging

from beam_pipelines.cli.log_filters import keep_runner_noise_off_the_terminal

# as `complaints stream` on Prism printed it (the Java SDK harness's notice, re-emitted by Beam's PrismRunner filter)
PRISM_NOTICE = (
    "[SDK] *~*~*~ Previous channel ManagedChannelImpl{logId=10, target=localhost:44713} was garbage "
    "collected without being shut down! ~*~*~*\n    Make sure to call shutdown()/shutdownNow() ()"
)


def test_the_channel_notice_is_dropped_and_every_other_record_passes():
    stream = io.StringIO()
    logger = logging.getLogger("tests.log_filters")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        keep_runner_noise_off_the_terminal(logger)
        keep_runner_noise_off_the_terminal(logger)  # twice is once
        assert len(handler.filters) == 1
        logger.error(PRISM_NOTICE)
        logger.error("SEVERE: *~*~*~ Channel ManagedChannelImpl{logId=3, target=x:1} was not shutdown properly!!!")
        logger.error("job failed: ManagedChannelImpl{logId=4} UNAVAILABLE: io exception")
        logger.warning("customer master customers.csv: 1 rows left out (invalid_field 1)")
        logger.error("%s collected %d", "nothing", 3)
    finally:
        logger.removeHandler(handler)
    printed = stream.getvalue()
    assert "garbage collected" not in printed and "not shutdown properly" not in printed
    assert "UNAVAILABLE: io exception" in printed and "1 rows left out" in printed and "nothing collected 3" in printed


def test_library_code_adds_no_filter_to_the_root_logger_on_import():
    import beam_pipelines.cli  # noqa: F401 - importing the command line must not touch the host's logging

    assert not any(type(f).__name__ == "KnownRunnerNoise" for h in logging.getLogger().handlers for f in h.filters)
