"""Aggregates of router log lines: counts per mode, metric histograms, days, outcomes.

A ``LogStats`` is built either on the host, by logstats.awk, and read back with
``read_awk_output``, or here from lines with ``LogStats.add_line``. Both paths give
the same result for the same lines. Aggregates of several hosts merge with
``LogStats.merge``. Sizes stay bounded whatever the number of lines. A histogram
keeps at most ``EXACT_VALUES_MAX`` distinct values, then switches to log-spaced
buckets. Examples and samples are capped. Days grow with the time a log covers, not
with its lines.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from fleetroute.logs.parse import DECISION_MODES, OUTCOME_SUFFIX, LogEntry, ZoneTable, bucket_index, parse_line, parse_number

# Distinct values a histogram keeps exactly before it switches to buckets. Values are
# kept rounded to EXACT_DIGITS significant digits.
EXACT_VALUES_MAX = 500
EXACT_DIGITS = 10
# Ratio between bucket bounds. A bucket's value is its geometric middle, so a
# percentile read from buckets is within 1% of the exact one.
BUCKET_RATIO = 1.02
MAX_EXAMPLES = 5
EXAMPLE_BYTES = 300
# Distinct modes counted; lines with further new modes count as unparsed.
MAX_MODES = 64
# Distinct zone abbreviations counted as guesses; later ones are not listed.
MAX_GUESSED_ZONES = 10

# Histogram kinds. Decision lines give the metric. Outcome lines give the run time in
# seconds, the peak RSS in KiB, and the metric of jobs killed with exit 137.
METRIC, ELAPSED, PEAK_RSS, KILLED = "metric", "elapsed", "peak_rss_kb", "killed"
# Sample lines kept per mode: the first line, the first with metric 0 and the first
# with an unknown metric.
SAMPLE_FIRST, SAMPLE_ZERO, SAMPLE_UNKNOWN = "first", "zero", "unknown"
_EXIT_CODE = re.compile(r"^[0-9]{1,3}$")
OOM_EXIT_CODE = "137"  # 128 + SIGKILL, which the kernel's OOM killer and cgroup limits send


@dataclass
class Histogram:
    """Distribution of non-negative numbers: exact values with counts, or log-spaced buckets.

    ``exact`` maps value, rounded to ``EXACT_DIGITS`` significant digits, to count
    while at most ``EXACT_VALUES_MAX`` distinct values were seen. It is None after
    that, and ``buckets`` (bucket index, None for 0, to count) contains the distribution.
    ``count``, ``total``, ``minimum`` and ``maximum`` are always exact.
    """

    count: int = 0
    total: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    exact: dict[float, int] | None = field(default_factory=dict)
    buckets: dict[int | None, int] = field(default_factory=dict)

    def add(self, value: float, count: int = 1) -> None:
        """Count ``value`` ``count`` times."""
        self.count += count
        self.total += value * count
        self.minimum = value if self.minimum is None else min(self.minimum, value)
        self.maximum = value if self.maximum is None else max(self.maximum, value)
        self._add_to_distribution(value, count)

    def _add_to_distribution(self, value: float, count: int) -> None:
        if self.exact is None:
            index = bucket_index(value, BUCKET_RATIO)
            self.buckets[index] = self.buckets.get(index, 0) + count
            return
        key = float(f"{value:.{EXACT_DIGITS}g}")
        self.exact[key] = self.exact.get(key, 0) + count
        if len(self.exact) > EXACT_VALUES_MAX:
            self._switch_to_buckets()

    def _switch_to_buckets(self) -> None:
        values, self.exact = self.exact or {}, None
        for value, count in values.items():
            self._add_to_distribution(value, count)

    def merge(self, other: Histogram) -> None:
        """Add every value of ``other``."""
        if other.count == 0:
            return
        self.count += other.count
        self.total += other.total
        self.minimum = other.minimum if self.minimum is None else min(self.minimum, other.minimum)
        self.maximum = other.maximum if self.maximum is None else max(self.maximum, other.maximum)
        if other.exact is not None:
            for value, count in other.exact.items():
                self._add_to_distribution(value, count)
            return
        if self.exact is not None:
            self._switch_to_buckets()
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count

    def values(self) -> list[tuple[float, int]]:
        """Return (value, count) pairs in ascending order; bucket values are their geometric middles."""
        if self.exact is not None:
            return sorted(self.exact.items())
        pairs = [(self._bucket_value(index), count) for index, count in self.buckets.items()]
        return sorted(pairs)

    def _bucket_value(self, index: int | None) -> float:
        if index is None:
            return 0.0
        middle = BUCKET_RATIO ** (index + 0.5)
        return min(max(middle, self.minimum or 0.0), self.maximum or 0.0)

    def percentile(self, percent: float) -> float | None:
        """Return the nearest-rank percentile, or None when empty; the 100th is the exact maximum."""
        if self.count == 0:
            return None
        if percent >= 100:
            return self.maximum
        rank = max(1, math.ceil(percent / 100 * self.count))
        seen = 0
        for value, count in self.values():
            seen += count
            if seen >= rank:
                return value
        return self.maximum

    def count_below(self, limit: float) -> int:
        """Return how many values are below ``limit``; bucket values count by their middle."""
        return sum(count for value, count in self.values() if value < limit)

    def summary(self) -> dict:
        """Return count, min, p50, p90, p99, max and mean, and whether the percentiles are exact."""
        return {
            "count": self.count,
            "min": self.minimum,
            "p50": self.percentile(50),
            "p90": self.percentile(90),
            "p99": self.percentile(99),
            "max": self.maximum,
            "mean": self.total / self.count if self.count else None,
            "exact": self.exact is not None,
        }


@dataclass
class LogStats:
    """Aggregate of the router log lines of one host, or of several hosts merged.

    ``lines`` counts every line read; each one is ``parsed``, ``unparsed`` or
    ``filtered`` (outside the --since/--until range). ``untimed`` counts parsed lines
    without a time, which a time range excludes. ``counts`` maps each mode as logged
    (GPU, CPU-BLOCKED, GPU-DRYRUN, GPU-EXIT, ...) to its lines. ``gpu_full`` counts,
    per mode, the decision lines whose reason lists ``gpu-full``: GPU jobs that took a
    CPU slot because every GPU slot was busy. ``days`` maps the UTC
    day (days since 1970-01-01) to lines per mode. ``first`` and ``last`` are epoch
    seconds. ``exits`` maps the job mode of outcome lines (GPU for GPU-EXIT) to exit
    code counts, ``"?"`` for a missing code.
    """

    lines: int = 0
    parsed: int = 0
    unparsed: int = 0
    filtered: int = 0
    untimed: int = 0
    unparsed_examples: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    unknown_metric: Counter = field(default_factory=Counter)
    zero_metric: Counter = field(default_factory=Counter)
    gpu_full: Counter = field(default_factory=Counter)
    histograms: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    samples: dict[tuple[str, str], str] = field(default_factory=dict)
    days: dict[int, Counter] = field(default_factory=dict)
    first: int | None = None
    last: int | None = None
    exits: dict[str, Counter] = field(default_factory=dict)
    guessed_zones: Counter = field(default_factory=Counter)

    def histogram(self, kind: str, mode: str) -> Histogram:
        """Return the histogram of ``kind`` (metric, elapsed, killed) for ``mode``, empty if none."""
        return self.histograms.get((kind, mode)) or Histogram()

    def add_line(self, line: str, zones: ZoneTable, since: int | None = None, until: int | None = None) -> None:
        """Count one line (without its newline), as logstats.awk does.

        ``since`` and ``until`` are epoch seconds. A line before ``since``, or at or
        after ``until``, counts as filtered. So does a line without a time when either
        is set.
        """
        self.lines += 1
        if line.endswith("\r"):
            line = line[:-1]
        entry = parse_line(line, zones)
        if entry is not None and entry.mode not in self.counts and len(self.counts) >= MAX_MODES:
            entry = None
        if entry is None:
            self.unparsed += 1
            if len(self.unparsed_examples) < MAX_EXAMPLES:
                self.unparsed_examples.append(_example(line))
            return
        if not self._in_range(entry, since, until):
            self.filtered += 1
            return
        self._add_entry(entry, _example(line))

    def _in_range(self, entry: LogEntry, since: int | None, until: int | None) -> bool:
        if entry.epoch is None:
            return since is None and until is None
        return (since is None or entry.epoch >= since) and (until is None or entry.epoch < until)

    def _add_entry(self, entry: LogEntry, example: str) -> None:
        self.parsed += 1
        mode = entry.mode
        self.counts[mode] += 1
        self.samples.setdefault((SAMPLE_FIRST, mode), example)
        self._add_time(entry)
        if mode.endswith(OUTCOME_SUFFIX):
            self._add_outcome(mode[: -len(OUTCOME_SUFFIX)], entry)
            return
        if "gpu-full" in entry.reason.split(","):
            self.gpu_full[mode] += 1
        value = parse_number(entry.metric)
        if value is None:
            self.unknown_metric[mode] += 1
            self.samples.setdefault((SAMPLE_UNKNOWN, mode), example)
            return
        if mode in DECISION_MODES:
            self._histogram_for(METRIC, mode).add(value)
        if value == 0:
            self.zero_metric[mode] += 1
            self.samples.setdefault((SAMPLE_ZERO, mode), example)

    def _add_time(self, entry: LogEntry) -> None:
        if entry.guessed_zone and (entry.guessed_zone in self.guessed_zones or len(self.guessed_zones) < MAX_GUESSED_ZONES):
            self.guessed_zones[entry.guessed_zone] += 1
        if entry.epoch is None:
            self.untimed += 1
            return
        self.first = entry.epoch if self.first is None else min(self.first, entry.epoch)
        self.last = entry.epoch if self.last is None else max(self.last, entry.epoch)
        self.days.setdefault(entry.epoch // 86400, Counter())[entry.mode] += 1

    def _add_outcome(self, mode: str, entry: LogEntry) -> None:
        code = entry.exit_code if _EXIT_CODE.match(entry.exit_code) else "?"
        self.exits.setdefault(mode, Counter())[code] += 1
        elapsed = parse_number(entry.elapsed)
        if elapsed is not None:
            self._histogram_for(ELAPSED, mode).add(elapsed)
        peak_rss = parse_number(entry.peak_rss_kb)
        if peak_rss is not None:
            self._histogram_for(PEAK_RSS, mode).add(peak_rss)
        metric = parse_number(entry.metric)
        if code == OOM_EXIT_CODE and metric is not None:
            self._histogram_for(KILLED, mode).add(metric)

    def _histogram_for(self, kind: str, mode: str) -> Histogram:
        return self.histograms.setdefault((kind, mode), Histogram())

    def merge(self, other: LogStats) -> None:
        """Add every count of ``other``; examples and samples keep the first ones seen."""
        for name in ("lines", "parsed", "unparsed", "filtered", "untimed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        room = MAX_EXAMPLES - len(self.unparsed_examples)
        self.unparsed_examples += other.unparsed_examples[: max(room, 0)]
        for name in ("counts", "unknown_metric", "zero_metric", "gpu_full", "guessed_zones"):
            getattr(self, name).update(getattr(other, name))
        for key, histogram in other.histograms.items():
            self._histogram_for(*key).merge(histogram)
        for key, line in other.samples.items():
            self.samples.setdefault(key, line)
        for day, counts in other.days.items():
            self.days.setdefault(day, Counter()).update(counts)
        for mode, codes in other.exits.items():
            self.exits.setdefault(mode, Counter()).update(codes)
        if other.first is not None:
            self.first = other.first if self.first is None else min(self.first, other.first)
        if other.last is not None:
            self.last = other.last if self.last is None else max(self.last, other.last)


def _example(line: str) -> str:
    return line[:EXAMPLE_BYTES]


def day_name(day: int) -> str:
    """Return the ISO date of a day counted from 1970-01-01."""
    return datetime.fromtimestamp(day * 86400, tz=timezone.utc).strftime("%Y-%m-%d")


class AwkOutputError(ValueError):
    """A record of logstats.awk's output has an unexpected shape."""


def read_awk_output(lines: list[str]) -> tuple[LogStats, dict[int, int], dict[int, str]]:
    """Read logstats.awk's records into (stats, lines per file index, read error per file index).

    Each record is ``KIND<TAB>FIELD...``; logstats.awk's header lists the kinds.
    Raises ``AwkOutputError`` naming the first record it cannot read.
    """
    reader = _AwkReader()
    for line in lines:
        if not line:
            continue
        kind, _, rest = line.partition("\t")
        handler = getattr(reader, f"read_{kind}", None)
        if handler is None:
            raise AwkOutputError(f"unknown record {line[:80]!r}")
        try:
            handler(rest)
        except (ValueError, IndexError) as exc:
            raise AwkOutputError(f"invalid record {line[:80]!r}: {exc}") from None
    return reader.stats, reader.file_lines, reader.read_errors


def _pairs(text: str) -> list[tuple[str, int]]:
    """Split ``KEY:N KEY:N ...`` into (key, n) pairs."""
    pairs = []
    for word in text.split(" "):
        key, _, count = word.rpartition(":")
        pairs.append((key, int(count)))
    return pairs


class _AwkReader:
    """One method per record kind of logstats.awk's output."""

    def __init__(self) -> None:
        self.stats = LogStats()
        self.file_lines: dict[int, int] = {}
        self.read_errors: dict[int, str] = {}

    def read_total(self, rest: str) -> None:
        name, value = rest.split("\t")
        if name not in ("lines", "parsed", "unparsed", "filtered", "untimed"):
            raise ValueError(f"unknown total {name!r}")
        setattr(self.stats, name, int(value))

    def read_time(self, rest: str) -> None:
        name, value = rest.split("\t")
        if name not in ("first", "last"):
            raise ValueError(f"unknown time {name!r}")
        setattr(self.stats, name, int(value))

    def read_example(self, rest: str) -> None:
        self.stats.unparsed_examples.append(rest)

    def read_count(self, rest: str) -> None:
        table, mode, value = rest.split("\t")
        target = {
            "mode": self.stats.counts,
            "unknown": self.stats.unknown_metric,
            "zero": self.stats.zero_metric,
            "gpufull": self.stats.gpu_full,
        }
        target[table][mode] = int(value)

    def read_sample(self, rest: str) -> None:
        kind, mode, line = rest.split("\t", 2)
        self.stats.samples[(kind, mode)] = line

    def read_hist(self, rest: str) -> None:
        kind, mode, count, total, minimum, maximum = rest.split("\t")
        histogram = self.stats.histograms.setdefault((kind, mode), Histogram())
        histogram.count, histogram.total = int(count), float(total)
        histogram.minimum, histogram.maximum = float(minimum), float(maximum)

    def read_exact(self, rest: str) -> None:
        kind, mode, pairs = rest.split("\t")
        histogram = self.stats.histograms.setdefault((kind, mode), Histogram())
        for value, count in _pairs(pairs):
            histogram.exact[float(value)] = count

    def read_bucket(self, rest: str) -> None:
        kind, mode, pairs = rest.split("\t")
        histogram = self.stats.histograms.setdefault((kind, mode), Histogram())
        histogram.exact = None
        for index, count in _pairs(pairs):
            histogram.buckets[None if index == "z" else int(index)] = count

    def read_day(self, rest: str) -> None:
        day, pairs = rest.split("\t")
        counts = self.stats.days.setdefault(int(day), Counter())
        for mode, count in _pairs(pairs):
            counts[mode] = count

    def read_exit(self, rest: str) -> None:
        mode, code, count = rest.split("\t")
        self.stats.exits.setdefault(mode, Counter())[code] = int(count)

    def read_zone(self, rest: str) -> None:
        zone, count = rest.split("\t")
        self.stats.guessed_zones[zone] = int(count)

    def read_file(self, rest: str) -> None:
        index, count = rest.split("\t")
        self.file_lines[int(index)] = int(count)

    def read_readerror(self, rest: str) -> None:
        index, status = rest.split("\t")
        self.read_errors[int(index)] = status
