"""Known, harmless runner noise the command line keeps off the user's terminal (the CLI's own log handlers only:
a program using the library as a library sees every record its runners log).

- **Beam Java's gRPC channel notice.** On Prism, the Java SDK harness that runs the cross-language Kafka read
  (``BeamFnDataGrpcClient``) lets a data channel to the runner be garbage-collected without closing it; grpc-java's
  orphan check (``ManagedChannelOrphanWrapper``) then logs ``*~*~*~ Previous channel ManagedChannelImpl{...,
  target=localhost:PORT} was garbage collected without being shut down!`` at SEVERE. The harness forwards its log
  to Prism, and Beam's ``PrismRunnerLogFilter`` re-emits it as an ERROR of ``PrismRunner``. Nothing is lost (the
  channel is no longer used when it is collected; the run's counts balance) and nothing on our side opens or
  holds that channel, so it cannot be fixed here; it is dropped from the terminal, and the Java worker's own log
  still has it.
"""

from __future__ import annotations

import logging

#: (words that must all be in the message): one entry per known harmless notice
KNOWN_NOISE = (
    ("ManagedChannelImpl", "garbage collected without being shut down"),
    ("ManagedChannelImpl", "was not shutdown properly"),  # the same notice, as older grpc-java words it
)


class KnownRunnerNoise(logging.Filter):
    """Drops the records of ``KNOWN_NOISE``; every other record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is not ours to judge: let it through
            return True
        return not any(all(word in message for word in words) for words in KNOWN_NOISE)


def keep_runner_noise_off_the_terminal(logger: logging.Logger | None = None) -> None:
    """Add ``KnownRunnerNoise`` to the handlers of ``logger`` (default: the root logger the CLI configured)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(existing, KnownRunnerNoise) for existing in handler.filters):
            handler.addFilter(KnownRunnerNoise())
