"""Writing a generated day: the channel files in the layout of INPUT_FORMATS.md and the truth under ``_truth/``."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random

from beam_pipelines.generator.day import DayGenerator, Generated


def write_files(output_dir: str, generated: Generated, rng: random.Random) -> None:
    """Write every file, recording each defect's line number (or byte offset for XML) in its truth entry."""
    for path, entries in sorted(generated.files.items()):
        full = os.path.join(output_dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        entries = [e for e in entries if not e.last] + [e for e in entries if e.last]
        is_xml, is_sms = path.endswith(".xml"), path.startswith("sms/")
        crlf = path.startswith(("sms/", "phone_logs/")) and rng.random() < 0.5
        newline = b"\r\n" if crlf and not is_xml else b"\n"
        with open(full, "wb") as handle:
            line_number = 1
            if path.startswith("webforms/") and path.endswith(".jsonl") and rng.random() < 0.3:
                handle.write(b"\xef\xbb\xbf")  # a BOM, as some exporters write
            if is_sms and rng.random() < 0.7:
                handle.write(b"received_at|msisdn|shortcode|message_id|concat_ref|part|parts|body" + newline)
                line_number += 1
            for number, entry in enumerate(entries):
                if entry.truth is not None:
                    if is_xml:
                        entry.truth["offset"] = handle.tell() + 2  # after the two-space indent
                    else:
                        entry.truth["line"] = line_number
                handle.write(entry.data)
                line_number += entry.data.count(b"\n")
                if number < len(entries) - 1 or not entry.last:  # only the file's final line may lack it
                    handle.write(newline)
                    line_number += 1
                if not is_xml and number % 97 == 50:
                    handle.write(newline)  # stray blank lines are not records
                    line_number += 1


def generate(output_dir: str, date: dt.date, volume: int, seed: int = 7, defect_rate: float = 0.03) -> dict:
    """Write a day of input to ``output_dir``; returns the expected counts per source."""
    generator = DayGenerator(date, volume, seed, defect_rate)
    generated = generator.run()
    write_files(output_dir, generated, random.Random(seed + 1))
    truth_dir = os.path.join(output_dir, "_truth")
    os.makedirs(truth_dir, exist_ok=True)
    with open(os.path.join(truth_dir, "defects.jsonl"), "w", encoding="utf-8") as handle:
        for defect in generated.defects:
            handle.write(json.dumps(defect) + "\n")
    with open(os.path.join(truth_dir, "generated.labelled.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category", "source"])
        writer.writerows(generated.labels)
    expected = {source: dict(counts) for source, counts in sorted(generated.expected.items())}
    with open(os.path.join(truth_dir, "expected_counts.json"), "w", encoding="utf-8") as handle:
        json.dump(
            {
                "date": date.isoformat(),
                "volume": volume,
                "seed": seed,
                "defect_rate": defect_rate,
                "expected": expected,
            },
            handle,
            indent=2,
        )
    return expected
