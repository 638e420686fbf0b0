"""Twitter/X: X API v2 filtered-stream payloads (one JSON object per line) into complaints.

Identity is ``data.id``; event time ``data.created_at``. A retweet (``referenced_tweets`` of type
``retweeted``) repeats another complaint: it is marked as a duplicate and counted, not curated.
"""
from __future__ import annotations

import apache_beam as beam

from transforms.cleaning import parse_timestamp
from transforms.sources.channel import ReadChannel
from transforms.records import RecordError, new_complaint, raw_text
from transforms.sources.payloads import load_json_object

SOURCE = "twitter"


def parse_tweet(raw_record: dict) -> dict:
    """Raw X API v2 payload -> complaint (working form). Raises RecordError with the reason."""
    payload = load_json_object(raw_text(raw_record))
    data = payload.get("data")
    if not isinstance(data, dict):
        raise RecordError("missing_field", "payload has no 'data' object")
    tweet_id = data.get("id")
    if tweet_id is None:
        raise RecordError("missing_field", "missing data.id")
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        raise RecordError("invalid_field", "data.text is not a string")
    event_time = parse_timestamp(data.get("created_at"), "data.created_at")
    author_id = data.get("author_id")
    username = None
    users = (payload.get("includes") or {}).get("users") if isinstance(payload.get("includes"), dict) else None
    for user in users or []:
        if isinstance(user, dict) and str(user.get("id")) == str(author_id):
            username = user.get("username")
            break
    referenced = data.get("referenced_tweets") or []
    retweet_of = next((ref.get("id") for ref in referenced
                       if isinstance(ref, dict) and ref.get("type") == "retweeted"), None)
    complaint = new_complaint(raw_record, tweet_id, event_time, text,
                              contacts={"twitter_handle": username}, language=data.get("lang"))
    if retweet_of is not None:
        complaint["_duplicate_reason"] = "retweet"
    return complaint


class ReadTwitter(beam.PTransform):
    """Twitter/X files -> raw batches, complaints (retweets marked as duplicates), dead letters, tallies."""

    def __init__(self, context):
        super().__init__()
        self.context = context

    def expand(self, files):
        return files | ReadChannel(parse_tweet, self.context)
