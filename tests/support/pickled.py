"""What a pipeline carries to its workers, made greppable: Beam stores each pickled function of a pipeline proto as
base64 of a bz2 (or zlib) compressed pickle (``apache_beam.internal.pickler``), so a string inside one never shows
in the serialized bytes as it is. ``readable_bytes`` decodes every such payload it finds, nested ones too;
``RecordingRunner`` keeps what a runner is sent."""

from __future__ import annotations

import base64
import binascii
import bz2
import json
import re
import zlib

from apache_beam.runners.portability.fn_api_runner import FnApiRunner

#: a run of base64 long enough to be a pickled payload rather than a name
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{40,}={0,2}")


def _decoded(run: bytes) -> bytes | None:
    try:
        packed = base64.b64decode(run, validate=True)
    except (binascii.Error, ValueError):
        return None
    for unpack in (bz2.decompress, zlib.decompress):
        try:
            return unpack(packed)
        except (OSError, ValueError, zlib.error):
            continue
    return None


def readable_bytes(data: bytes, depth: int = 3) -> bytes:
    """``data`` followed by the decompressed pickle of every base64 payload in it (and in those, ``depth`` deep):
    a string pickled into a pipeline is found in the result with ``in``."""
    found = [data]
    if depth:
        for run in BASE64_RUN.findall(data):
            decoded = _decoded(run)
            if decoded is not None:
                found.append(readable_bytes(decoded, depth - 1))
    return b"\n".join(found)


def pipeline_bytes(pipeline) -> bytes:
    """The pipeline's runner API proto, serialized (what a runner is sent), with its pickled payloads decoded."""
    return readable_bytes(pipeline.to_runner_api().SerializeToString())


class RecordingRunner(FnApiRunner):
    """The local runner, noting in ``sent`` the pipeline (``sent["pipeline"]``, ``pipeline_bytes``) and options
    (``sent["options"]``, as JSON) it is given: what a remote runner would be sent."""

    def __init__(self, sent: dict):
        super().__init__()
        self.sent = sent

    def run_pipeline(self, pipeline, options):
        self.sent["pipeline"] = pipeline_bytes(pipeline)
        self.sent["options"] = json.dumps(options.get_all_options(), default=str).encode()
        return super().run_pipeline(pipeline, options)
