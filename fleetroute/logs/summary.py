"""Turn a ``LogStats`` into the figures that log-stats reports for a host, a group or the fleet."""

from __future__ import annotations

from datetime import datetime, timezone

from fleetroute.logs.parse import (
    CPU,
    CPU_BLOCKED,
    DECISION_MODES,
    DRY_RUN_SUFFIX,
    ERROR_MODES,
    GPU,
    GPU_BLOCKED,
    JOB_MODES,
    OUTCOME_SUFFIX,
)
from fleetroute.logs.stats import ELAPSED, KILLED, METRIC, OOM_EXIT_CODE, PEAK_RSS, LogStats, day_name

PERCENTILES = (50, 90, 99)


def mode_kind(mode: str) -> str:
    """Return what a mode stands for: job, blocked, error, dry-run, outcome or other."""
    if mode in JOB_MODES:
        return "job"
    if mode in (GPU_BLOCKED, CPU_BLOCKED):
        return "blocked"
    if mode in ERROR_MODES:
        return "error"
    if mode.endswith(DRY_RUN_SUFFIX):
        return "dry-run"
    if mode.endswith(OUTCOME_SUFFIX):
        return "outcome"
    return "other"


def iso_time(epoch: int | None) -> str | None:
    """Return epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ``, or None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ordered_modes(stats: LogStats) -> list[str]:
    """Return the four decision modes, then every other mode seen, sorted by name."""
    others = sorted(mode for mode in stats.counts if mode not in DECISION_MODES)
    return [*DECISION_MODES, *others]


def count_kind(stats: LogStats, kind: str) -> int:
    """Return the lines whose mode is of ``kind`` (see ``mode_kind``)."""
    return sum(count for mode, count in stats.counts.items() if mode_kind(mode) == kind)


def jobs_per_day(stats: LogStats) -> float | None:
    """Return GPU and CPU jobs divided by the calendar days from the first to the last entry."""
    if stats.first is None or stats.last is None:
        return None
    days = stats.last // 86400 - stats.first // 86400 + 1
    return (stats.counts[GPU] + stats.counts[CPU]) / days


def ratio(part: int, whole: int) -> float | None:
    """Return part / whole, or None when whole is 0."""
    return part / whole if whole else None


def summarise(stats: LogStats) -> dict:
    """Return the JSON-ready figures of one scope.

    ``counts`` has every mode seen, and GPU, CPU, GPU-BLOCKED and CPU-BLOCKED always.
    ``jobs`` counts GPU and CPU lines, the jobs that ran; dry runs, blocked calls,
    configuration errors and outcome lines are not jobs. ``blocked_ratio`` is blocked
    lines over jobs plus blocked lines. A retried job that was blocked several times
    counts once per try.
    """
    counts = {mode: stats.counts.get(mode, 0) for mode in ordered_modes(stats)}
    jobs = counts[GPU] + counts[CPU]
    blocked = counts[GPU_BLOCKED] + counts[CPU_BLOCKED]
    return {
        "lines": stats.lines,
        "parsed_lines": stats.parsed,
        "unparsed_lines": stats.unparsed,
        "unparsed_examples": list(stats.unparsed_examples),
        "outside_time_range": stats.filtered,
        "untimed_lines": stats.untimed,
        "counts": counts,
        "jobs": jobs,
        "blocked": blocked,
        "dry_run": count_kind(stats, "dry-run"),
        "errors": count_kind(stats, "error"),
        "blocked_ratio": ratio(blocked, jobs + blocked),
        "cpu_blocked_per_cpu_job": ratio(counts[CPU_BLOCKED], counts[CPU]),
        "unknown_metric": dict(sorted(stats.unknown_metric.items())),
        "unknown_metric_total": sum(stats.unknown_metric.values()),
        "zero_metric": dict(sorted(stats.zero_metric.items())),
        "gpu_full_to_cpu": dict(sorted(stats.gpu_full.items())),
        "metrics": metric_summaries(stats),
        "per_day": {day_name(day): dict(sorted(counts.items())) for day, counts in sorted(stats.days.items())},
        "jobs_per_day": jobs_per_day(stats),
        "first": iso_time(stats.first),
        "last": iso_time(stats.last),
        "outcomes": outcome_summaries(stats),
        "guessed_zones": dict(stats.guessed_zones),
    }


def metric_summaries(stats: LogStats) -> dict[str, dict]:
    """Return {mode: count, min, p50, p90, p99, max, mean} of the metric, for modes with known metrics."""
    modes = [mode for mode in ordered_modes(stats) if (METRIC, mode) in stats.histograms]
    return {mode: stats.histogram(METRIC, mode).summary() for mode in modes}


def outcome_summaries(stats: LogStats) -> dict[str, dict]:
    """Return, per job mode with outcome lines: exit codes, OOM kills, run times, peak RSS and killed metrics."""
    outcomes = {}
    for mode in sorted(stats.exits):
        codes = stats.exits[mode]
        outcomes[mode] = {
            "jobs": sum(codes.values()),
            "exits": dict(sorted(codes.items(), key=lambda item: (not item[0].isdigit(), item[0].zfill(3)))),
            "oom_kills": codes.get(OOM_EXIT_CODE, 0),
            "elapsed_s": stats.histogram(ELAPSED, mode).summary(),
            "peak_rss_kb": stats.histogram(PEAK_RSS, mode).summary(),
            "killed_metric": stats.histogram(KILLED, mode).summary(),
        }
    return outcomes
