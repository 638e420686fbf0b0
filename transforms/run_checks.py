"""What a batch run's counts must show before its output is committed: the balance of every record read, and
the quality guard (``QualityLimits``, a profile's ``[quality]``). Plain functions over the run's tallies, used by
the commit step of ``WriteToWarehouse`` (``transforms/warehouse_io.py``), and the exceptions that say why a run
was not committed.

Tallies are ``((source, outcome, reason), count)``; ``summarise_counts`` turns their sums into the per-source
counts a run manifest records, each with ``balanced``: every record read is written, rejected, a counted
duplicate or a merged SMS part, and (for the channels) verbatim in the lake.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class QualityLimits:
    """What a batch must meet before its output is committed (``WriteToWarehouse``'s ``quality``). Every limit
    has its documented default; a profile's ``[quality]`` section is one of these with more fields (the
    feed-health alerts' limits), so the defaults here are the profile's."""

    max_reject_ratio: float = 0.25  # per source: rejected / read above this refuses the commit (exit 5) when
    #                                  the run has enough records to tell (the two settings below)
    #: a source with fewer records read than this is never refused for its rejected share: 3 bad SMS of 4 in a
    #: quiet hour say little about the feed, and refusing would hold back every channel's good complaints
    min_records_for_reject_ratio: int = 20
    #: the share must be above max_reject_ratio with this confidence: the run is refused only when the lower
    #: bound of the Wilson score interval of its rejected share is above the limit, so a small run needs a
    #: clearer excess than a large one (0.95: a run at the limit is refused about 5% of the time at worst)
    reject_ratio_confidence: float = 0.95
    max_unexpected_errors: int = 10  # records that hit an unexpected exception in our code: above this, the run
    #                                  fails (exit 4): a bug, not bad data, and its dead letters would hide it
    max_flagged_ratio: float = 0.5  # per source: flags (by reason; a complaint may carry two) per written
    #                                  complaint above this is a warning in the run manifest and an alert
    #                                  (FlaggedRatioHigh), not a refusal: flagged complaints are kept

    def __post_init__(self):
        if not 0 <= self.max_flagged_ratio <= 1 or not 0 <= self.max_reject_ratio <= 1:
            raise ValueError("[quality] max_reject_ratio and max_flagged_ratio must be between 0 and 1")
        if not 0.5 <= self.reject_ratio_confidence < 1:
            raise ValueError(
                "[quality] reject_ratio_confidence must be at least 0.5 and below 1, "
                f"got {self.reject_ratio_confidence!r}"
            )
        if type(self.min_records_for_reject_ratio) is not int or self.min_records_for_reject_ratio < 1:
            raise ValueError(
                "[quality] min_records_for_reject_ratio must be a whole number of at least 1, "
                f"got {self.min_records_for_reject_ratio!r}"
            )


def summarise_counts(rows: list[dict], with_lake: bool = True) -> dict:
    """Tally rows -> per-source counts with rejections by reason, flags by flag, and the balance check. A run
    that writes no lake (``with_lake`` false) is not checked for its ``in_lake`` count."""
    sources: dict[str, dict] = {}
    for row in rows:
        entry = sources.setdefault(
            row["source"],
            {
                "read": 0,
                "written": 0,
                "rejected": 0,
                "duplicates": 0,
                "merged_parts": 0,
                "rejected_by_reason": {},
                "duplicates_by_reason": {},
                "flagged": {},
            },
        )
        outcome, reason, count = row["outcome"], row["reason"], row["count"]
        if outcome == "rejected":
            entry["rejected"] += count
            entry["rejected_by_reason"][reason] = count
        elif outcome == "duplicates":
            entry["duplicates"] += count
            entry["duplicates_by_reason"][reason] = count
        elif outcome == "flagged":
            entry["flagged"][reason] = count
        elif outcome == "conflict":
            entry.setdefault("conflicts", {})[reason] = count
        else:
            entry[outcome] = entry.get(outcome, 0) + count
    for source, entry in sources.items():
        if source == "customers":
            accounted = entry.get("loaded", 0) + entry["rejected"]
        else:
            accounted = entry["written"] + entry["rejected"] + entry["duplicates"] + entry["merged_parts"]
            early = sum(
                n for reason, n in entry["rejected_by_reason"].items() if reason.startswith(("read:", "parse:"))
            )
            entry["parsed"] = entry["read"] - early
            if with_lake:
                entry.setdefault("in_lake", 0)
        # every record read is accounted for in the tables, and (for the channels) verbatim in the lake
        entry["balanced"] = entry["read"] == accounted and entry.get("in_lake", entry["read"]) == entry["read"]
    return sources


class UnbalancedRun(Exception):
    """The counts did not balance: nothing was committed; the staged output is kept for inspection."""


class RefusedRun(Exception):
    """The run's output breaks the profile's ``[quality]`` thresholds: nothing was committed; the staged output
    is kept for inspection (``staging``) and the run manifest says why."""

    def __init__(self, message: str, staging: str):
        super().__init__(message)
        self.staging = staging


class CommitFailed(Exception):
    """The run succeeded but its output could not be committed to the tables (the catalog unreachable, other
    writers committing without end): the tables are at their previous snapshot; a rerun is idempotent."""


class RunIdReused(Exception):
    """A run id that names a committed run came back with other counts: not a retry of that run but another run
    under its id. Nothing was committed; its staged output is kept; the committed run's manifest stays."""


class BrokenStage(RefusedRun):
    """Too many records hit an unexpected exception in our own code: a bug, so the run failed."""


def unexpected_errors(counts: dict) -> dict[str, int]:
    """``stage:unexpected_<Type>`` rejections over every source: exceptions in our code, not bad data."""
    found: dict[str, int] = {}
    for entry in counts.values():
        for reason, n in entry["rejected_by_reason"].items():
            if reason.split(":", 1)[-1].startswith("unexpected_"):
                found[reason] = found.get(reason, 0) + n
    return found


def wilson_lower_bound(successes: int, trials: int, confidence: float) -> float:
    """The lower bound of the Wilson score interval of a proportion ``successes / trials`` at ``confidence``
    (two-sided): the share that the data show with that confidence, wider apart from the observed share the
    fewer the trials."""
    if trials <= 0:
        return 0.0
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    share = successes / trials
    centre = share + z * z / (2 * trials)
    spread = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - spread) / (1 + z * z / trials))


def reject_guard(counts: dict, quality) -> dict:
    """The commit guard's judgement of each source's rejected share, as the run manifest records it: per
    source its records read and rejected, the share, the share's lower bound at ``[quality]
    reject_ratio_confidence`` and the decision, ``refuse`` (the lower bound is above ``max_reject_ratio``),
    ``pass``, or ``too_few`` (fewer records than ``min_records_for_reject_ratio``: not judged)."""
    sources = {}
    for source, entry in sorted(counts.items()):
        read, rejected = entry.get("read", 0), entry.get("rejected", 0)
        if source == "customers" or not read:
            continue
        lower = wilson_lower_bound(rejected, read, quality.reject_ratio_confidence)
        if read < quality.min_records_for_reject_ratio:
            decision = "too_few"
        elif lower > quality.max_reject_ratio:
            decision = "refuse"
        else:
            decision = "pass"
        sources[source] = {
            "read": read,
            "rejected": rejected,
            "reject_ratio": round(rejected / read, 6),
            "lower_bound": round(lower, 6),
            "decision": decision,
        }
    return {
        "max_reject_ratio": quality.max_reject_ratio,
        "confidence": quality.reject_ratio_confidence,
        "min_records": quality.min_records_for_reject_ratio,
        "sources": sources,
    }


def guard_verdict(guard: dict) -> str:
    """One sentence on why the guard refused the run or let it pass, for the manifest and the summary."""
    limit, confidence = guard["max_reject_ratio"], guard["confidence"]
    refused = {s: e for s, e in guard["sources"].items() if e["decision"] == "refuse"}
    if refused:
        listed = ", ".join(
            f"{source} {e['rejected']} of {e['read']} ({e['reject_ratio']:.0%}, at least "
            f"{e['lower_bound']:.0%} at {confidence:.0%} confidence)"
            for source, e in refused.items()
        )
        return f"rejected share above {limit:.0%} ([quality] max_reject_ratio): {listed}"
    above = {s: e for s, e in guard["sources"].items() if e["reject_ratio"] > limit}
    if not above:
        return f"every source's rejected share is within {limit:.0%} ([quality] max_reject_ratio)"
    reasons = []
    for source, e in above.items():
        if e["decision"] == "too_few":
            reasons.append(
                f"{source} {e['rejected']} of {e['read']}: fewer than {guard['min_records']} records, "
                "too few to judge ([quality] min_records_for_reject_ratio)"
            )
        else:
            reasons.append(
                f"{source} {e['rejected']} of {e['read']} ({e['reject_ratio']:.0%}): not above "
                f"{limit:.0%} at {confidence:.0%} confidence (at least {e['lower_bound']:.0%})"
            )
    return "committed although above the rejected share's limit: " + "; ".join(reasons)


def quality_warnings(counts: dict, quality) -> list[str]:
    """What breaks the profile's soft ``[quality]`` limits (the run is committed; the manifest and the alerts say
    so): sources whose flagged / written is above ``max_flagged_ratio``."""
    warnings = []
    for source, entry in sorted(counts.items()):
        flagged = sum(entry.get("flagged", {}).values())
        if source != "customers" and entry.get("written") and flagged / entry["written"] > quality.max_flagged_ratio:
            # flags are counted by reason and a complaint may carry several, so this is not a share of complaints
            warnings.append(
                f"{source}: {flagged / entry['written']:.2f} flags per written complaint, above "
                f"{quality.max_flagged_ratio:.2f} ([quality] max_flagged_ratio)"
            )
    return warnings


def check_quality(counts: dict, quality, staging: str) -> None:
    """Refuse to commit a run that a bug broke or whose inputs are mostly unusable (``RefusedRun``)."""
    unexpected = unexpected_errors(counts)
    if sum(unexpected.values()) > quality.max_unexpected_errors:
        listed = ", ".join(f"{reason} {n}" for reason, n in sorted(unexpected.items(), key=lambda i: -i[1]))
        raise BrokenStage(
            f"{sum(unexpected.values())} records hit unexpected errors in the pipeline's code "
            f"({listed}; at most {quality.max_unexpected_errors} allowed by [quality] "
            "max_unexpected_errors)",
            staging,
        )
    guard = reject_guard(counts, quality)
    if any(entry["decision"] == "refuse" for entry in guard["sources"].values()):
        raise RefusedRun(guard_verdict(guard), staging)
