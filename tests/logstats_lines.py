"""Generate router log lines of every kind, and count what was generated.

Used by the log-stats integration tests and by bench/logstats.py. The counts come from
the generator's own choices, never from parsing the lines, so they are an independent
check of log-stats.
"""

from __future__ import annotations

import functools
import gzip
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
THRESHOLD = 3600
# 2026-02-17T00:00:00Z
START_EPOCH = 1771286400

# Lines that are in neither format: each must count as unparsed.
GARBAGE = (
    "",
    "plain text that is not a router line",
    "[ROUTER] no mode field here",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=gpu metric=12 args: lower-case mode",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU args: no metric field",
    "[ROUTER] mar. 17 févr. 2026 03:12:44 CET mode=GPU metric=12 args: French locale date",
    "[ROUTER] Tue Feb 31 27:12:44 UTC 2026 mode=CPU metric=12 args: impossible clock",
    "[ROUTER]\x0cTue Feb 17 03:12:44 UTC 2026 mode=GPU metric=12 args: form feed after the tag",
    "ROUTER Tue Feb 17 03:12:44 UTC 2026 mode=GPU metric=12 args: no brackets",
    "\t  [ROUTE] Tue Feb 17 03:12:44 UTC 2026 mode=CPU metric=1",
)


def c_date(epoch: int) -> str:
    """Return date(1)'s output in the C locale and UTC for ``epoch``, built field by field."""
    days, seconds = divmod(epoch, 86400)
    year, month, day = _civil(days)
    weekday = WEEKDAYS[(days + 3) % 7]  # 1970-01-01 was a Thursday
    hour, minute, second = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{weekday} {MONTHS[month - 1]} {day:2d} {hour:02d}:{minute:02d}:{second:02d} UTC {year}"


def iso(epoch: int) -> str:
    """Return ``YYYY-MM-DDTHH:MM:SSZ`` for ``epoch``."""
    days, seconds = divmod(epoch, 86400)
    year, month, day = _civil(days)
    return f"{year:04d}-{month:02d}-{day:02d}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


def day_of(epoch: int) -> str:
    """Return the UTC date of ``epoch`` as YYYY-MM-DD."""
    return iso(epoch)[:10]


@functools.lru_cache(maxsize=4096)
def _civil(days: int) -> tuple[int, int, int]:
    # Walks the calendar one month at a time, unlike the parser's closed formula.
    year, month = 1970, 1
    while True:
        length = 366 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 365
        if days < length:
            break
        days -= length
        year += 1
    lengths = [31, 29 if length == 366 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    while days >= lengths[month - 1]:
        days -= lengths[month - 1]
        month += 1
    return year, month, days + 1


@dataclass
class Expected:
    """What the generated lines contain: counts per mode and kind, times, metrics, outcomes."""

    lines: int = 0
    unparsed: int = 0
    counts: Counter = field(default_factory=Counter)
    unknown: Counter = field(default_factory=Counter)
    zero: Counter = field(default_factory=Counter)
    gpu_full: Counter = field(default_factory=Counter)
    per_day: Counter = field(default_factory=Counter)  # (YYYY-MM-DD, mode) -> lines
    metrics: dict[str, list[float]] = field(default_factory=dict)
    exits: dict[str, Counter] = field(default_factory=dict)
    killed: dict[str, list[float]] = field(default_factory=dict)
    first: int | None = None
    last: int | None = None

    def record(
        self, mode: str, epoch: int, metric: float | None, exit_code: str | None = None, gpu_full: bool = False
    ) -> None:
        """Count one parsed line."""
        self.counts[mode] += 1
        self.gpu_full[mode] += gpu_full
        self.per_day[(day_of(epoch), mode)] += 1
        self.first = epoch if self.first is None else min(self.first, epoch)
        self.last = epoch if self.last is None else max(self.last, epoch)
        if exit_code is not None:
            base = mode.removesuffix("-EXIT")
            self.exits.setdefault(base, Counter())[exit_code] += 1
            if exit_code == "137" and metric is not None:
                self.killed.setdefault(base, []).append(metric)
            return
        if metric is None:
            self.unknown[mode] += 1
        else:
            self.metrics.setdefault(mode, []).append(metric)
            if metric == 0:
                self.zero[mode] += 1

    def merge(self, other: Expected) -> None:
        """Add every count of ``other``."""
        self.lines += other.lines
        self.unparsed += other.unparsed
        for name in ("counts", "unknown", "zero", "gpu_full", "per_day"):
            getattr(self, name).update(getattr(other, name))
        for mode, values in other.metrics.items():
            self.metrics.setdefault(mode, []).extend(values)
        for mode, values in other.killed.items():
            self.killed.setdefault(mode, []).extend(values)
        for mode, codes in other.exits.items():
            self.exits.setdefault(mode, Counter()).update(codes)
        for epoch in (other.first, other.last):
            if epoch is not None:
                self.first = epoch if self.first is None else min(self.first, epoch)
                self.last = epoch if self.last is None else max(self.last, epoch)


def nearest_rank(values: list[float], percent: float) -> float:
    """Return the nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


@dataclass
class Mix:
    """Share of each kind of line; the rest are GPU and CPU jobs in fleetroute's format.

    ``gpu_share`` is the share of jobs whose metric is below the threshold.
    ``gpu_blocked`` and ``cpu_blocked`` are the shares of each path's calls that block.
    ``gpu_full_to_cpu`` is the share of GPU jobs that take a CPU slot (reason gpu-full).
    """

    runbook: float = 0.2
    gpu_blocked: float = 0.1
    cpu_blocked: float = 0.1
    gpu_full_to_cpu: float = 0.02
    dry_run: float = 0.02
    errors: float = 0.01
    unknown_metric: float = 0.02
    zero_metric: float = 0.005
    garbage: float = 0.01
    outcomes: float = 0.1
    oom: float = 0.0
    gpu_share: float = 0.7
    decimals: float = 0.3
    peak_rss_kb: tuple[int, int] = (100_000, 3_000_000)


class LineGenerator:
    """Generate lines for one host, one every ``step_s`` seconds (a fraction is allowed) from ``start``."""

    def __init__(self, host: str, mix: Mix, *, seed: int = 1, start: int = START_EPOCH, step_s: float = 7):
        self.host = host
        self.mix = mix
        self.random = random.Random(seed)
        self.start = start
        self.step_s = step_s
        self.count = 0
        self.epoch = start
        self.expected = Expected()

    def lines(self, count: int) -> list[str]:
        """Return ``count`` more lines, counted in ``expected``."""
        return [self._line() for _ in range(count)]

    def _line(self) -> str:
        self.count += 1
        self.epoch = self.start + int(self.count * self.step_s)
        self.expected.lines += 1
        draw, mix = self.random.random(), self.mix
        if draw < mix.garbage:
            self.expected.unparsed += 1
            return self.random.choice(GARBAGE)
        if draw < mix.garbage + mix.outcomes:
            return self._outcome()
        if draw < mix.garbage + mix.outcomes + mix.dry_run:
            return self._fleetroute(self._path() + "-DRYRUN", self._metric())
        if draw < mix.garbage + mix.outcomes + mix.dry_run + mix.errors:
            mode = self.random.choice(("GPU-CONFIG-ERROR", "CPU-CONFIG-ERROR", "UNKNOWN-FAILED"))
            return self._fleetroute(mode, None if mode == "UNKNOWN-FAILED" else self._metric())
        path = self._path()
        blocked = mix.gpu_blocked if path == "GPU" else mix.cpu_blocked
        mode = path + "-BLOCKED" if self.random.random() < blocked else path
        metric = self._metric(path)
        if mode == "GPU" and self.random.random() < mix.gpu_full_to_cpu:
            return self._fleetroute("CPU", metric, reason="gpu-full")
        if self.random.random() < mix.runbook and metric is not None:
            return self._runbook(mode, metric)
        return self._fleetroute(mode, metric)

    def _path(self) -> str:
        return "GPU" if self.random.random() < self.mix.gpu_share else "CPU"

    def _metric(self, path: str = "GPU") -> float | None:
        draw = self.random.random()
        if draw < self.mix.unknown_metric:
            return None
        if path == "GPU" and draw < self.mix.unknown_metric + self.mix.zero_metric:
            return 0.0
        value = self.random.randint(1, THRESHOLD - 1) if path == "GPU" else self.random.randint(THRESHOLD, 40000)
        if self.random.random() < self.mix.decimals:
            return value + self.random.randint(0, 999) / 1000
        return float(value)

    @staticmethod
    def _metric_text(metric: float | None) -> str:
        if metric is None:
            return "unknown"
        return f"{metric:.6f}" if not metric.is_integer() else str(int(metric))

    def _fleetroute(self, mode: str, metric: float | None, reason: str = "-") -> str:
        self.expected.record(mode, self.epoch, metric, gpu_full=reason == "gpu-full")
        name = f"talk {self.random.randint(1, 999)} exit=137 elapsed=1.mp4"  # free text that looks like fields
        quoted = name.replace(" ", "\\ ")
        return (
            f"[ROUTER] {c_date(self.epoch)} mode={mode} metric={self._metric_text(metric)} time={iso(self.epoch)} "
            f"host={self.host} unit=seconds threshold={THRESHOLD} slot=0 pid={self.random.randint(2, 99999)} "
            f"reason={reason} input=/srv/media/{quoted} args: /srv/media/{quoted} --model medium"
        )

    def _runbook(self, mode: str, metric: float) -> str:
        self.expected.record(mode, self.epoch, metric)
        tail = "(slot full, exiting)" if mode.endswith("BLOCKED") else "args: /srv/media/lightning talk.webm --model medium"
        return f"[ROUTER] {c_date(self.epoch)} mode={mode} metric={int(metric)} {tail}"

    def _outcome(self) -> str:
        path = self._path()
        metric = self._metric(path)
        code = "137" if self.random.random() < self.mix.oom else self.random.choice(("0", "0", "0", "1"))
        self.expected.record(path + "-EXIT", self.epoch, metric, exit_code=code)
        return (
            f"[ROUTER] {c_date(self.epoch)} mode={path}-EXIT metric={self._metric_text(metric)} time={iso(self.epoch)} "
            f"host={self.host} unit=seconds threshold={THRESHOLD} slot=0 pid=77 reason=- exit={code} "
            f"elapsed={self.random.randint(1, 9000)}.250 peak_rss_kb={self.random.randint(*self.mix.peak_rss_kb)} "
            f"input=/srv/media/x.mp4"
        )


def write_log_set(log: Path, generator: LineGenerator, sizes: list[int], *, gzip_from: int = 2) -> list[Path]:
    """Write rotated files, oldest first: with sizes [a, b, c], LOG.2.gz has a lines, LOG.1 b and LOG c.

    Files with a rotation number of ``gzip_from`` or more are gzipped. Every file ends
    with a newline except the current log, unless its last line is empty. Returns the
    paths written.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for age, count in zip(range(len(sizes) - 1, -1, -1), sizes):
        path = log if age == 0 else log.with_name(f"{log.name}.{age}")
        lines = generator.lines(count)
        text = "\n".join(lines)
        final_newline = bool(lines) and (age != 0 or lines[-1] == "")
        data = (text + "\n" if final_newline else text).encode("utf-8")
        if age >= gzip_from:
            path = path.with_name(path.name + ".gz")
            path.write_bytes(gzip.compress(data, compresslevel=1))
        else:
            path.write_bytes(data)
        paths.append(path)
    return paths
