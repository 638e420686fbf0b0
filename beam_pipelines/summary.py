"""The short, human summary printed after a batch run."""

from __future__ import annotations

import os
import shlex

from schemas import tables


def format_summary(manifest: dict) -> str:
    out = manifest["output_dir"]
    lines = [
        f"run {manifest['run_id']} ({manifest['runner']}, {manifest['duration_seconds']:.1f} s): "
        f"{'counts balance' if manifest['balanced'] else 'COUNTS DO NOT BALANCE'}",
        f"{'source':<10}{'read':>9}{'written':>9}{'rejected':>9}{'dupes':>7}{'merged':>8}",
    ]
    for source, c in sorted(manifest["counts"].items()):
        if source == "customers":
            continue
        lines.append(
            f"{source:<10}{c['read']:>9}{c['written']:>9}{c['rejected']:>9}{c['duplicates']:>7}{c['merged_parts']:>8}"
        )
    customers = manifest["counts"].get("customers")
    if customers:
        conflicts = customers.get("conflicts") or {}
        lines.append(
            f"customers: {customers.get('loaded', 0)} loaded, {customers['rejected']} rejected"
            + (
                ", conflicts in the master: " + ", ".join(f"{reason} {n}" for reason, n in sorted(conflicts.items()))
                if conflicts
                else ""
            )
        )
    reasons: dict[str, int] = {}
    for c in manifest["counts"].values():
        for reason, count in c["rejected_by_reason"].items():
            reasons[reason] = reasons.get(reason, 0) + count
    if reasons:
        lines.append(
            "rejected by reason: " + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda i: -i[1]))
        )
    for warning in manifest.get("quality_warnings", []):
        lines.append(f"quality warning: {warning}")
    lines += _where_to_look(manifest, out, sum(reasons.values()))
    return "\n".join(lines)


def _where_to_look(manifest: dict, out: str, rejected: int) -> list[str]:
    """Where a person reads what the run wrote: the tables through ``complaints query`` and ``complaints report``
    (the Iceberg tables' folders are the catalog's to read, not people's: files there may be replaced or no
    longer part of the table), the raw records in the lake, and the run manifest."""
    day = manifest.get("batch_date")
    warehouse = shlex.quote(os.path.join(out, "warehouse"))
    on_day = f" WHERE ingest_date = DATE '{day}'" if day else ""
    report = shlex.quote(os.path.join(out, "reports"))
    return [
        f"batch date:  {day} (the lake's and the dead letters' ingest_date; the report of this day)",
        f'warehouse:   complaints query --warehouse {warehouse} "SELECT category, count(*) FROM complaints GROUP BY 1"',
        f"dead letter: {rejected} rejected: complaints query --warehouse {warehouse} "
        f'"SELECT source, stage, error_type, count(*) FROM dead_letter{on_day} GROUP BY ALL"',
        f"report:      complaints report --warehouse {warehouse} --period daily"
        + (f" --date {day}" if day else "")
        + f" --output {report}",
        f"lake:        {os.path.join(out, tables.LAKE.path)} (the raw records as received, JSON lines)",
        f"manifest:    {os.path.join(out, '_runs', manifest['run_id'] + '.json')}",
    ]
