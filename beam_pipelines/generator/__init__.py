"""``complaints generate day``: a realistic day of complaints for every channel, plus the customer master.

The output is laid out as INPUT_FORMATS.md describes. A configurable share of records carries a realistic
defect (duplicates, retweets, SMS parts split across hours or missing, malformed JSON, bad UTF-8, truncated
lines, missing fields, bad timestamps, unknown customers, odd time zones, late and future records,
implausible call durations, empty text, malformed XML). What was injected is written to ``_truth/``:
``defects.jsonl`` (one line per defect, with where it should land) and ``expected_counts.json`` (per source:
read, written, rejected, duplicates, merged_parts), so tests can check that every record lands where it should;
``generated.labelled.csv`` holds the true category of the first 20,000 complaint texts (training data in our
labels: ``complaints model train --data DIR/_truth``).

The generator is in modules: ``population`` (customers, names, the channel and category mix), ``text`` (the
complaint texts in each channel's style), ``day`` (one day's records with defects and their truth), ``files``
(writing the channel files and ``_truth/``) and ``history`` (weeks of curated complaints straight into a
warehouse).
"""

from beam_pipelines.generator.files import generate

__all__ = ["generate"]
