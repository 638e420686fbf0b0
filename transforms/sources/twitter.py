"""Twitter/X: X API v2 filtered-stream payloads (one JSON object per line) into complaints.

Identity is ``data.id``; event time ``data.created_at``. A retweet (``referenced_tweets`` of type
``retweeted``) repeats another complaint: it is marked as a duplicate and counted, not curated.
"""

from __future__ import annotations

from transforms.cleaning import parse_timestamp
from transforms.records import RecordError, new_complaint, raw_text
from transforms.sources.payloads import identifier_field, load_json_object, string_field

SOURCE = "twitter"


def parse_tweet(raw_record: dict) -> dict:
    """Raw X API v2 payload -> complaint (working form). Raises RecordError with the reason."""
    payload = load_json_object(raw_text(raw_record))
    data = payload.get("data")
    if not isinstance(data, dict):
        raise RecordError("missing_field", "payload has no 'data' object")
    tweet_id = identifier_field(data.get("id"), "data.id")
    if tweet_id is None:
        raise RecordError("missing_field", "missing data.id")
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        raise RecordError("invalid_field", "data.text is not a string")
    event_time = parse_timestamp(string_field(data.get("created_at"), "data.created_at"), "data.created_at")
    author_id = identifier_field(data.get("author_id"), "data.author_id")
    language = string_field(data.get("lang"), "data.lang")
    username = None
    includes = payload.get("includes")
    users = includes.get("users") if isinstance(includes, dict) else None
    for user in users if isinstance(users, list) else []:
        if (
            isinstance(user, dict)
            and author_id is not None
            and user.get("id") is not None
            and identifier_field(user.get("id"), "includes.users.id") == author_id
        ):
            username = string_field(user.get("username"), "includes.users.username")
            break
    referenced = data.get("referenced_tweets")
    if referenced is not None and not isinstance(referenced, list):
        raise RecordError("invalid_field", "data.referenced_tweets is not a list")
    retweet_of = next(
        (ref.get("id") for ref in referenced or [] if isinstance(ref, dict) and ref.get("type") == "retweeted"), None
    )
    complaint = new_complaint(
        raw_record, tweet_id, event_time, text, contacts={"twitter_handle": username}, language=language
    )
    if retweet_of is not None:
        complaint["_duplicate_reason"] = "retweet"
    return complaint
