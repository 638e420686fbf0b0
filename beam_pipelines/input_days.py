"""The day a batch's input files are named for, the batch date a run takes when it is not given one.

The channels name their exports by day or hour (INPUT_FORMATS.md: ``sms_YYYYMMDDHH.txt``, ``calls_YYYYMMDD.csv``;
the X and web-form spools ``tweets_YYYYMMDDHH.jsonl``, ``forms_YYYYMMDD.form``). A day's delivery run the next
morning belongs to that day, not to the day it happened to run: its lake partition, its dead letters and its
report are filed under the day the files are named for.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable

#: ``_YYYYMMDD`` or ``_YYYYMMDDHH`` right before the file's extension(s)
DATED_NAME = re.compile(r"_(\d{4})(\d{2})(\d{2})(?:\d{2})?\.[A-Za-z.]+$")


def day_in_name(path: str) -> dt.date | None:
    """The day a file name carries (``sms/sms_2026112609.txt`` -> 2026-11-26), or None."""
    found = DATED_NAME.search(path.rsplit("/", 1)[-1])
    if not found:
        return None
    try:
        return dt.date(*(int(part) for part in found.groups()))
    except ValueError:  # _20261340: digits, not a day
        return None


#: a day counts as delivered when its files weigh at least this share of the heaviest day's
DELIVERED_SHARE = 0.5


def day_named_by(files: Iterable[tuple[str, int]]) -> dt.date | None:
    """The newest day the input is named for, among the days whose files (path, size in bytes) weigh at least
    ``DELIVERED_SHARE`` of the heaviest day's: a stray early-hours file of the next day does not move a day's
    delivery, and a folder holding several whole days is filed under the newest. None when no name carries a day."""
    weight: Counter = Counter()
    for path, size in files:
        day = day_in_name(path)
        if day is not None:
            weight[day] += max(size, 1)
    if not weight:
        return None
    heaviest = max(weight.values())
    return max(day for day, total in weight.items() if total >= DELIVERED_SHARE * heaviest)
