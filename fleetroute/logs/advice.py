"""Tuning advice from one host's router log statistics, each item with the numbers behind it.

Rules (``Advice.rule``):

- ``cpu-blocked``: CPU-BLOCKED lines are many relative to CPU jobs. Raise the
  threshold, or max_cpu_jobs when the RAM budget allows it.
- ``gpu-room``: GPU slots are rarely full while CPU slots block. The threshold could
  rise; the new value is estimated from the VRAM budget.
- ``gpu-oom``: GPU jobs were killed (exit 137) under the threshold. Lower it below the
  smallest killed metric.
- ``cpu-oom``: CPU jobs were killed (exit 137). Lower max_cpu_jobs or correct
  workload_ram_mb.
- ``ram-underestimated``: CPU jobs peaked above workload_ram_mb.
- ``probe-one-path``, ``probe-unknown-metric``, ``probe-zero-metric``: every job went
  one way, many metrics were unknown, or GPU jobs had metric 0. Each means that the
  probe is likely failing.

The limits below are judgment calls: enough lines for a pattern, not one bad night.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleetroute.logs.parse import CPU, CPU_BLOCKED, GPU, GPU_BLOCKED
from fleetroute.logs.stats import (
    KILLED,
    METRIC,
    OOM_EXIT_CODE,
    PEAK_RSS,
    SAMPLE_FIRST,
    SAMPLE_UNKNOWN,
    SAMPLE_ZERO,
    LogStats,
)
from fleetroute.operations.budget import Budget
from fleetroute.settings import HostSettings

# cpu-blocked: at least this many CPU-BLOCKED lines, and at least this share of CPU jobs.
MIN_CPU_BLOCKED = 3
CPU_BLOCKED_RATIO = 0.10
# gpu-room: GPU slots count as rarely full when GPU-BLOCKED is at most this share of GPU calls.
GPU_FULL_RATIO = 0.01
# probe-one-path: at least this many jobs, all on one path.
MIN_JOBS_ONE_PATH = 20
# probe-unknown-metric: at least this many lines with an unknown metric, and this share of calls.
MIN_UNKNOWN = 3
UNKNOWN_RATIO = 0.05
# gpu-oom: the suggested threshold is this fraction of the smallest killed metric.
OOM_MARGIN = 0.9
# Modes whose metric decided the route, for the unknown-metric share.
ROUTED_MODES = (GPU, CPU, GPU_BLOCKED, CPU_BLOCKED, "UNKNOWN-FAILED")


@dataclass(frozen=True)
class Advice:
    """One tuning hint for one host: the rule that fired, a message, and its numbers."""

    rule: str
    host: str
    message: str
    numbers: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return the advice as a JSON-ready dict."""
        return {"rule": self.rule, "host": self.host, "message": self.message, "numbers": self.numbers}


@dataclass(frozen=True)
class HostContext:
    """Facts about a host that the rules use besides its log: settings and memory budget.

    ``budget`` is None when the host's RAM could not be read. ``gpu_vram_mb`` is the
    smallest VRAM among the host's GPUs (or the inventory's ``gpu_vram_mb``), None
    when unknown.
    """

    name: str
    settings: HostSettings
    budget: Budget | None
    gpu_vram_mb: int | None


def advise(stats: LogStats, context: HostContext) -> list[Advice]:
    """Return the advice that one host's statistics call for, in the order of the rules above."""
    rules = (
        _cpu_blocked,
        _gpu_room,
        _gpu_oom,
        _cpu_oom,
        _ram_underestimated,
        _probe_one_path,
        _probe_unknown_metric,
        _probe_zero_metric,
    )
    found = [rule(stats, context) for rule in rules]
    return [advice for advice in found if advice is not None]


def _cpu_blocks(stats: LogStats) -> bool:
    blocked, cpu = stats.counts[CPU_BLOCKED], stats.counts[CPU]
    return blocked >= MIN_CPU_BLOCKED and blocked >= CPU_BLOCKED_RATIO * cpu


def _number(value: float) -> str:
    """Format a metric: whole numbers without decimals, others with up to 2."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _cpu_blocked(stats: LogStats, context: HostContext) -> Advice | None:
    if not _cpu_blocks(stats):
        return None
    settings = context.settings
    blocked, cpu = stats.counts[CPU_BLOCKED], stats.counts[CPU]
    numbers = {
        "cpu_blocked": blocked,
        "cpu_jobs": cpu,
        "threshold_value": settings.threshold_value,
        "max_cpu_jobs": settings.max_cpu_jobs,
        "workload_ram_mb": settings.workload_ram_mb,
        "os_reserved_ram_mb": settings.os_reserved_ram_mb,
    }
    share = f" ({blocked / cpu:.0%} of CPU jobs)" if cpu else ""
    message = (
        f"{blocked} CPU-BLOCKED lines for {cpu} CPU jobs{share}: the CPU slots are often full. "
        f"Raise threshold_value (now {_number(settings.threshold_value)} {settings.threshold_unit}) so that "
        f"fewer jobs go to the CPU, or raise max_cpu_jobs (now {settings.max_cpu_jobs}) if the RAM budget allows. "
    )
    return Advice("cpu-blocked", context.name, message + _ram_room(context, numbers), numbers)


def _ram_room(context: HostContext, numbers: dict) -> str:
    """Describe how many CPU jobs the RAM budget fits, and add the figures to ``numbers``."""
    settings, budget = context.settings, context.budget
    if budget is None:
        return "The host's RAM is unknown, so the budget for more CPU jobs could not be checked."
    fit = budget.max_cpu_jobs_fit
    numbers.update(ram_total_mb=budget.ram_mb, max_cpu_jobs_fit=fit)
    worksheet = (
        f"({budget.ram_mb} MB RAM - {settings.os_reserved_ram_mb} MB reserved) // "
        f"{settings.workload_ram_mb} MB per job = {fit}"
    )
    if fit > settings.max_cpu_jobs:
        return f"RAM allows max_cpu_jobs up to {fit}: {worksheet}."
    return f"RAM does not allow more CPU jobs: {worksheet}."


def _gpu_room(stats: LogStats, context: HostContext) -> Advice | None:
    gpu = stats.counts[GPU]
    # With on_gpu_full: cpu, a full GPU shows as a CPU line with reason gpu-full instead of GPU-BLOCKED.
    gpu_full = stats.counts[GPU_BLOCKED] + sum(stats.gpu_full.values())
    if gpu == 0 or gpu_full > GPU_FULL_RATIO * (gpu + gpu_full) or not _cpu_blocks(stats):
        return None
    settings = context.settings
    numbers = {
        "gpu_jobs": gpu,
        "gpu_full": gpu_full,
        "cpu_blocked": stats.counts[CPU_BLOCKED],
        "threshold_value": settings.threshold_value,
        "max_gpu_jobs": settings.max_gpu_jobs,
        "workload_vram_mb": settings.workload_vram_mb,
        "gpu_vram_mb": context.gpu_vram_mb,
    }
    head = (
        f"GPU slots were full for {gpu_full} of {gpu + gpu_full} GPU calls while CPU slots blocked "
        f"{stats.counts[CPU_BLOCKED]} times: the GPU has room. "
    )
    return Advice("gpu-room", context.name, head + _threshold_estimate(stats, context, numbers), numbers)


def _threshold_estimate(stats: LogStats, context: HostContext, numbers: dict) -> str:
    """Estimate the threshold that the VRAM budget allows, and add it to ``numbers``.

    The estimate assumes that a job's VRAM grows in proportion to its metric and that
    workload_vram_mb is the VRAM of a job at the threshold. A fixed share of VRAM per
    job (model weights) makes the real limit higher, so the estimate errs low.
    """
    settings = context.settings
    if context.gpu_vram_mb is None:
        return "The GPU's VRAM is unknown; set gpu_vram_mb for this host to get an estimate."
    per_job_mb = context.gpu_vram_mb / settings.max_gpu_jobs
    estimate = settings.threshold_value * per_job_mb / settings.workload_vram_mb
    numbers["estimated_threshold"] = round(estimate, 2)
    budget = (
        f"{context.gpu_vram_mb} MB VRAM / {settings.max_gpu_jobs} GPU jobs = {per_job_mb:.0f} MB per job, "
        f"against workload_vram_mb {settings.workload_vram_mb} MB"
    )
    if estimate <= settings.threshold_value:
        return f"But the VRAM budget leaves no room to raise threshold_value: {budget}."
    cpu_metrics = stats.histogram(METRIC, CPU)
    moved = cpu_metrics.count_below(estimate)
    numbers["cpu_jobs_below_estimate"] = moved
    share = f" ({moved / cpu_metrics.count:.0%})" if cpu_metrics.count else ""
    return (
        f"threshold_value could rise from {_number(settings.threshold_value)} to about {estimate:.0f} "
        f"{settings.threshold_unit} within the VRAM budget ({budget}; an estimate that assumes VRAM grows in "
        f"proportion to the metric, so measure a job near the new value first). "
        f"{moved} of the {cpu_metrics.count} CPU jobs{share} had a metric below that."
    )


def _gpu_oom(stats: LogStats, context: HostContext) -> Advice | None:
    codes = stats.exits.get(GPU)
    killed = codes.get(OOM_EXIT_CODE, 0) if codes else 0
    if killed == 0:
        return None
    settings = context.settings
    metrics = stats.histogram(KILLED, GPU)
    numbers = {"gpu_jobs_killed": killed, "gpu_outcomes": sum(codes.values()), "threshold_value": settings.threshold_value}
    message = (
        f"{killed} of {sum(codes.values())} GPU jobs exited with 137 (killed by SIGKILL, as the OOM killer "
        f"does) under threshold_value {_number(settings.threshold_value)} {settings.threshold_unit}. "
    )
    if metrics.minimum is None:
        message += "Their metrics are unknown, so the log cannot say how far to lower the threshold."
        return Advice("gpu-oom", context.name, message, numbers)
    suggested = math.floor(metrics.minimum * OOM_MARGIN)
    numbers.update(smallest_killed_metric=metrics.minimum, suggested_threshold=suggested)
    message += (
        f"The smallest killed metric was {_number(metrics.minimum)}: lower threshold_value below it, for example "
        f"to {suggested}, or add a second probe if VRAM depends on something the metric does not measure."
    )
    return Advice("gpu-oom", context.name, message, numbers)


def _cpu_oom(stats: LogStats, context: HostContext) -> Advice | None:
    codes = stats.exits.get(CPU)
    killed = codes.get(OOM_EXIT_CODE, 0) if codes else 0
    if killed == 0:
        return None
    settings = context.settings
    numbers = {
        "cpu_jobs_killed": killed,
        "cpu_outcomes": sum(codes.values()),
        "max_cpu_jobs": settings.max_cpu_jobs,
        "workload_ram_mb": settings.workload_ram_mb,
    }
    message = (
        f"{killed} of {sum(codes.values())} CPU jobs exited with 137 (killed by SIGKILL, as the OOM killer "
        f"does): lower max_cpu_jobs (now {settings.max_cpu_jobs}), or raise workload_ram_mb "
        f"(now {settings.workload_ram_mb} MB) to the real peak and recheck the budget with deploy --check."
    )
    return Advice("cpu-oom", context.name, message, numbers)


def _ram_underestimated(stats: LogStats, context: HostContext) -> Advice | None:
    peaks = stats.histogram(PEAK_RSS, CPU)
    limit_kb = context.settings.workload_ram_mb * 1024
    if peaks.maximum is None or peaks.maximum <= limit_kb:
        return None
    above = peaks.count - peaks.count_below(limit_kb + 1)
    numbers = {
        "workload_ram_mb": context.settings.workload_ram_mb,
        "peak_rss_max_mb": round(peaks.maximum / 1024),
        "cpu_jobs_above": above,
        "cpu_jobs_measured": peaks.count,
    }
    message = (
        f"{above} of {peaks.count} CPU jobs peaked above workload_ram_mb ({context.settings.workload_ram_mb} MB), "
        f"up to {peaks.maximum / 1024:.0f} MB: raise workload_ram_mb, then check max_cpu_jobs against the RAM budget."
    )
    return Advice("ram-underestimated", context.name, message, numbers)


def _example(stats: LogStats, kind: str, mode: str) -> str:
    return stats.samples.get((kind, mode), "")


def _probe_one_path(stats: LogStats, context: HostContext) -> Advice | None:
    # A blocked call chose its path too, so it counts for that path.
    gpu = stats.counts[GPU] + stats.counts[GPU_BLOCKED]
    cpu = stats.counts[CPU] + stats.counts[CPU_BLOCKED]
    if stats.counts[GPU] + stats.counts[CPU] < MIN_JOBS_ONE_PATH or (gpu and cpu):
        return None
    path = GPU if gpu else CPU
    example = _example(stats, SAMPLE_FIRST, path)
    numbers = {"calls": gpu + cpu, "path": path, "example": example}
    message = (
        f"All {gpu + cpu} calls went to the {path}: the probe may be failing silently (input not readable by "
        f"the job's user, wrong input rule). Run the probe by hand on the input of this line: {example}"
    )
    return Advice("probe-one-path", context.name, message, numbers)


def _probe_unknown_metric(stats: LogStats, context: HostContext) -> Advice | None:
    unknown = sum(stats.unknown_metric[mode] for mode in ROUTED_MODES)
    calls = sum(stats.counts[mode] for mode in ROUTED_MODES)
    if unknown < MIN_UNKNOWN or unknown < UNKNOWN_RATIO * calls:
        return None
    mode = max(ROUTED_MODES, key=lambda name: stats.unknown_metric[name])
    example = _example(stats, SAMPLE_UNKNOWN, mode)
    numbers = {
        "unknown_metric": unknown,
        "routed_calls": calls,
        "on_unknown_metric": context.settings.on_unknown_metric,
        "example": example,
    }
    message = (
        f"{unknown} of {calls} calls ({unknown / calls:.0%}) had an unknown metric and were routed by "
        f"on_unknown_metric ({context.settings.on_unknown_metric}): the probe is failing on them. Its reason= field "
        f"says why; run the probe by hand on the input of this line: {example}"
    )
    return Advice("probe-unknown-metric", context.name, message, numbers)


def _probe_zero_metric(stats: LogStats, context: HostContext) -> Advice | None:
    zero = stats.zero_metric[GPU] + stats.zero_metric[GPU_BLOCKED]
    if zero == 0:
        return None
    mode = GPU if stats.zero_metric[GPU] else GPU_BLOCKED
    example = _example(stats, SAMPLE_ZERO, mode)
    numbers = {"gpu_metric_zero": zero, "gpu_calls": stats.counts[GPU] + stats.counts[GPU_BLOCKED], "example": example}
    message = (
        f"{zero} GPU calls had metric 0: the probe printed 0 instead of failing, as ffprobe's container duration "
        f"does for live-recorded WebM and MKV files, so these jobs went to the GPU whatever their size. Make the "
        f"probe treat 0 as unknown (fleetroute's duration probe reads stream durations instead). "
        f"Example: {example}"
    )
    return Advice("probe-zero-metric", context.name, message, numbers)
