"""Tuning advice: each rule fires on statistics made to trigger it, and none on a healthy log."""

from __future__ import annotations

import pytest

from fleetroute.facts.gpu import Gpu
from fleetroute.logs.advice import HostContext, advise
from fleetroute.logs.parse import ZoneTable
from fleetroute.logs.stats import LogStats
from fleetroute.operations.budget import compute_budget
from tests.logstats_lines import START_EPOCH, c_date, iso
from tests.unit.helpers import whisper_settings

UTC = ZoneTable()
A4000 = (Gpu(0, "NVIDIA RTX A4000", 16384, 0, "550.54.15"),)


def context(ram_mb: int | None = 64000, vram_mb: int | None = 16384, **overrides) -> HostContext:
    settings = whisper_settings(**overrides)
    gpus = A4000 if vram_mb else ()
    budget = compute_budget(settings, gpus, ram_mb) if ram_mb is not None else None
    return HostContext("gpu-01", settings, budget, vram_mb)


def stats_of(*groups: tuple[int, str, str]) -> LogStats:
    """Return stats of ``count`` lines per (count, mode, metric) group, one minute apart."""
    stats = LogStats()
    epoch = START_EPOCH
    for count, mode, metric in groups:
        for _ in range(count):
            epoch += 60
            stats.add_line(f"[ROUTER] {c_date(epoch)} mode={mode} metric={metric} time={iso(epoch)} input=x", UTC)
    return stats


def outcome(count: int, mode: str, metric: str, code: str, rss_kb: int = 1000) -> LogStats:
    stats = LogStats()
    for _ in range(count):
        stats.add_line(
            f"[ROUTER] - mode={mode}-EXIT metric={metric} time={iso(START_EPOCH)} reason=- exit={code} "
            f"elapsed=100.5 peak_rss_kb={rss_kb} input=x",
            UTC,
        )
    return stats


def healthy() -> LogStats:
    return stats_of((80, "GPU", "1200"), (20, "CPU", "5000"), (1, "CPU-BLOCKED", "5100"), (1, "GPU-BLOCKED", "100"))


def rules(stats: LogStats, host: HostContext | None = None) -> dict[str, object]:
    return {item.rule: item for item in advise(stats, host or context())}


def test_healthy_log_has_no_advice():
    stats = healthy()
    stats.merge(outcome(50, "GPU", "1200", "0"))
    stats.merge(outcome(10, "CPU", "5000", "0", rss_kb=5_000_000))

    assert rules(stats) == {}


def test_cpu_blocked_with_ram_room():
    stats = stats_of((50, "GPU", "1000"), (20, "CPU", "5000"), (10, "CPU-BLOCKED", "6000"))

    advice = rules(stats)["cpu-blocked"]

    assert advice.numbers["cpu_blocked"] == 10
    assert advice.numbers["cpu_jobs"] == 20
    assert advice.numbers["max_cpu_jobs_fit"] == (64000 - 3072) // 11000
    assert "RAM allows max_cpu_jobs up to 5" in advice.message


def test_cpu_blocked_without_ram_room():
    stats = stats_of((20, "CPU", "5000"), (10, "CPU-BLOCKED", "6000"))

    advice = rules(stats, context(ram_mb=16000))["cpu-blocked"]

    assert advice.numbers["max_cpu_jobs_fit"] == 1
    assert "RAM does not allow more CPU jobs" in advice.message


def test_cpu_blocked_with_unknown_ram():
    stats = stats_of((20, "CPU", "5000"), (10, "CPU-BLOCKED", "6000"))

    assert "RAM is unknown" in rules(stats, context(ram_mb=None))["cpu-blocked"].message


@pytest.mark.parametrize(("blocked", "cpu"), [(2, 2), (3, 40)])
def test_cpu_blocked_needs_enough_lines(blocked, cpu):
    stats = stats_of((cpu, "CPU", "5000"), (blocked, "CPU-BLOCKED", "6000"))

    assert "cpu-blocked" not in rules(stats)


def test_gpu_room_estimates_threshold():
    stats = stats_of((50, "GPU", "1000"), (10, "CPU", "4000"), (10, "CPU", "9000"), (10, "CPU-BLOCKED", "6000"))

    advice = rules(stats)["gpu-room"]

    # 16384 MB / 2 jobs = 8192 MB per job; 3600 s x 8192 / 3700 = 7970.6 s.
    assert advice.numbers["estimated_threshold"] == pytest.approx(7970.59, abs=0.01)
    assert advice.numbers["cpu_jobs_below_estimate"] == 10
    assert "estimate" in advice.message


def test_gpu_room_not_when_gpu_blocks():
    stats = stats_of((50, "GPU", "1000"), (5, "GPU-BLOCKED", "1000"), (10, "CPU", "4000"), (10, "CPU-BLOCKED", "6000"))

    assert "gpu-room" not in rules(stats)


def test_gpu_room_counts_gpu_full_reason():
    stats = stats_of((50, "GPU", "1000"), (10, "CPU", "4000"), (10, "CPU-BLOCKED", "6000"))
    for _ in range(5):
        stats.add_line(f"[ROUTER] - mode=CPU metric=1000 time={iso(START_EPOCH)} reason=gpu-full input=x", UTC)

    assert "gpu-room" not in rules(stats)
    assert "cpu-blocked" in rules(stats)


def test_gpu_room_without_vram_room():
    stats = stats_of((50, "GPU", "1000"), (10, "CPU", "4000"), (10, "CPU-BLOCKED", "6000"))

    advice = rules(stats, context(vram_mb=6144))["gpu-room"]

    assert "no room" in advice.message
    assert "cpu_jobs_below_estimate" not in advice.numbers


def test_gpu_room_with_unknown_vram():
    stats = stats_of((50, "GPU", "1000"), (10, "CPU", "4000"), (10, "CPU-BLOCKED", "6000"))

    assert "set gpu_vram_mb" in rules(stats, context(vram_mb=None))["gpu-room"].message


def test_gpu_oom_suggests_threshold_below_smallest_kill():
    stats = healthy()
    stats.merge(outcome(3, "GPU", "3100", "137"))
    stats.merge(outcome(2, "GPU", "2800", "137"))
    stats.merge(outcome(40, "GPU", "1000", "0"))

    advice = rules(stats)["gpu-oom"]

    assert advice.numbers["gpu_jobs_killed"] == 5
    assert advice.numbers["smallest_killed_metric"] == 2800
    assert advice.numbers["suggested_threshold"] == 2520
    assert advice.numbers["suggested_threshold"] < 2800


def test_gpu_oom_with_unknown_metrics():
    stats = outcome(2, "GPU", "unknown", "137")

    assert "unknown" in rules(stats)["gpu-oom"].message


def test_cpu_oom():
    stats = healthy()
    stats.merge(outcome(1, "CPU", "9000", "137"))

    advice = rules(stats)["cpu-oom"]

    assert advice.numbers["cpu_jobs_killed"] == 1
    assert "gpu-oom" not in rules(stats)


def test_ram_underestimated():
    stats = outcome(4, "CPU", "9000", "0", rss_kb=13_000_000)

    advice = rules(stats)["ram-underestimated"]

    assert advice.numbers["cpu_jobs_above"] == 4
    assert advice.numbers["peak_rss_max_mb"] == round(13_000_000 / 1024)


@pytest.mark.parametrize("path", ["GPU", "CPU"])
def test_every_job_on_one_path(path):
    stats = stats_of((30, path, "100" if path == "GPU" else "9000"))

    advice = rules(stats)["probe-one-path"]

    assert advice.numbers["path"] == path
    assert f"mode={path} " in advice.numbers["example"]


def test_blocked_calls_count_for_their_path():
    stats = stats_of((30, "GPU", "100"), (3, "CPU-BLOCKED", "9000"))

    assert "probe-one-path" not in rules(stats)


def test_one_path_needs_enough_jobs():
    assert "probe-one-path" not in rules(stats_of((19, "GPU", "100")))


def test_many_unknown_metrics():
    stats = healthy()
    stats.merge(stats_of((8, "CPU", "unknown")))

    advice = rules(stats)["probe-unknown-metric"]

    assert advice.numbers["unknown_metric"] == 8
    assert "metric=unknown" in advice.numbers["example"]


def test_few_unknown_metrics_are_tolerated():
    stats = healthy()
    stats.merge(stats_of((2, "CPU", "unknown")))

    assert "probe-unknown-metric" not in rules(stats)


def test_zero_metric_on_gpu():
    stats = healthy()
    stats.merge(stats_of((1, "GPU", "0")))

    advice = rules(stats)["probe-zero-metric"]

    assert advice.numbers["gpu_metric_zero"] == 1
    assert "metric=0 " in advice.numbers["example"]


def test_zero_metric_ignored_off_gpu():
    stats = healthy()
    stats.merge(stats_of((1, "CPU-DRYRUN", "0")))

    assert "probe-zero-metric" not in rules(stats)
