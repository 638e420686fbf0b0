"""The floor every runner is measured against: read every channel file of an input directory, parse each record
with the fastest standard parser for its format (orjson, csv, ElementTree, urllib, ``str.split``) and write the
records back as Parquet with pyarrow. No cleaning, validation, enrichment or bookkeeping: what no pipeline over
these files can beat on this machine.

    python benchmarks/floor.py --input-dir DIR --output-dir OUT
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from urllib.parse import parse_qsl

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

CALL_ELEMENT = re.compile(r"<call\b.*?</call>", re.DOTALL)
CHANNELS = {"twitter": ".jsonl", "webforms": (".jsonl", ".form"), "sms": ".txt", "phone_logs": (".csv", ".xml")}


def parse_file(path: Path) -> list[dict]:
    """Every record of one channel file as {"raw": its text, "fields": its parsed fields as JSON} (null when a
    line is not JSON)."""
    data = path.read_bytes()
    text = data.decode("utf-8", errors="replace")
    if path.suffix == ".xml":  # one <call> element at a time, so a damaged call spoils only itself
        records = []
        for fragment in CALL_ELEMENT.findall(text):
            try:
                fields = {child.tag: child.text for child in ElementTree.fromstring(fragment)}
            except ElementTree.ParseError:
                fields = None
            records.append({"raw": fragment, "fields": orjson.dumps(fields).decode()})
        return records
    if path.suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        return [{"raw": None, "fields": orjson.dumps(row).decode()} for row in reader]
    records = []
    for line in text.splitlines():
        if not line:
            continue
        if path.suffix == ".jsonl":
            try:
                fields = orjson.loads(line)
            except orjson.JSONDecodeError:  # the generator's damaged lines: kept, unparsed
                fields = None
        elif path.suffix == ".form":
            fields = dict(parse_qsl(line))
        else:
            fields = line.split("|", 7)
        records.append({"raw": line, "fields": orjson.dumps(fields).decode()})
    return records


def run(input_dir: str, output_dir: str) -> dict:
    os.makedirs(output_dir, exist_ok=True)
    read = 0
    for folder, suffixes in CHANNELS.items():
        for path in sorted(Path(input_dir, folder).glob("*")):
            if not path.name.endswith(suffixes):
                continue
            records = parse_file(path)
            read += len(records)
            pq.write_table(
                pa.Table.from_pylist(records),
                os.path.join(output_dir, f"{folder}-{path.name}.parquet"),
                compression="snappy",
            )
    return {"read": read}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True)
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args.input_dir, args.output_dir)
    result["seconds"] = round(time.perf_counter() - started, 2)
    print(orjson.dumps(result).decode())
    sys.exit(0)
