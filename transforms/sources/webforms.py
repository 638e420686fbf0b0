"""Web forms: webhook JSON payloads (``*.jsonl``) and raw urlencoded bodies (``*.form``) into complaints.

Identity is ``submission_id`` (a live message from the web-form endpoint: its ``identity`` attribute); event time
``submitted_at`` (any ISO 8601 offset, stored in UTC). The customer's own ``topic`` is kept as ``customer_topic``:
it may be empty or wrong, so it is not the category. The parse functions live in ``webform_parsing.py``, which
needs no Beam, so the endpoint checks a post with the same code.
"""

from __future__ import annotations

from transforms.sources.webform_parsing import (  # noqa: F401 - the parse functions' home for the pipeline
    FIELD_NAMES,
    SOURCE,
    parse_webform,
    parse_webform_body,
    parse_webform_json,
)
