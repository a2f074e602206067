"""Histograms and aggregates of router log lines: percentiles, bucket switch, merge, time range."""

from __future__ import annotations

import random

import pytest

from fleetroute.logs.parse import ZoneTable
from fleetroute.logs.stats import EXACT_VALUES_MAX, AwkOutputError, Histogram, LogStats, read_awk_output
from tests.logstats_lines import START_EPOCH, c_date, iso, nearest_rank

UTC = ZoneTable()


def filled(values) -> Histogram:
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    return histogram


def test_exact_percentiles():
    histogram = filled(range(1, 101))

    assert histogram.exact is not None
    assert histogram.percentile(50) == 50
    assert histogram.percentile(90) == 90
    assert histogram.percentile(99) == 99
    assert histogram.percentile(100) == 100
    assert histogram.summary()["mean"] == 50.5


def test_empty_histogram():
    summary = Histogram().summary()

    assert summary["count"] == 0
    assert summary["p50"] is None
    assert summary["max"] is None


def test_switch_to_buckets_keeps_percentiles_close():
    rng = random.Random(4)
    values = [rng.uniform(1, 50000) for _ in range(20000)]

    histogram = filled(values)

    assert histogram.exact is None
    assert histogram.count == len(values)
    assert histogram.minimum == min(values)
    assert histogram.maximum == max(values)
    assert histogram.total == pytest.approx(sum(values))
    for percent in (50, 90, 99):
        assert histogram.percentile(percent) == pytest.approx(nearest_rank(values, percent), rel=0.011)


def test_exact_up_to_the_limit():
    histogram = filled(range(EXACT_VALUES_MAX))

    assert histogram.exact is not None
    histogram.add(EXACT_VALUES_MAX)
    assert histogram.exact is None


def test_zero_has_its_own_bucket():
    histogram = filled([0] * 10 + list(range(1, 2000)))

    assert histogram.buckets[None] == 10
    assert histogram.percentile(0.1) == 0


def test_merge_exact_histograms():
    merged = filled([1, 2, 3])
    merged.merge(filled([3, 4]))

    assert merged.exact == {1: 1, 2: 1, 3: 2, 4: 1}
    assert merged.count == 5
    assert merged.maximum == 4


def test_merge_over_limit_switches_to_buckets():
    merged = filled(range(300))
    merged.merge(filled(range(300, 600)))

    assert merged.exact is None
    assert merged.count == 600
    assert sum(merged.buckets.values()) == 600


def test_merge_buckets_into_exact():
    merged = filled([5, 6])
    merged.merge(filled(range(1, 1000)))

    assert merged.exact is None
    assert merged.count == 1001
    assert merged.minimum == 1


def test_merge_equals_adding_everything():
    rng = random.Random(9)
    parts = [[rng.uniform(0, 9000) for _ in range(400)] for _ in range(3)]
    merged = Histogram()
    for part in parts:
        merged.merge(filled(part))

    direct = filled([value for part in parts for value in part])

    assert merged.buckets == direct.buckets
    assert merged.count == direct.count


def line(epoch: int, mode: str = "GPU", metric: str = "10") -> str:
    return f"[ROUTER] {c_date(epoch)} mode={mode} metric={metric} time={iso(epoch)} host=h input=x args: x"


def test_time_range():
    stats = LogStats()
    for hour in range(10):
        stats.add_line(line(START_EPOCH + hour * 3600), UTC, since=START_EPOCH + 2 * 3600, until=START_EPOCH + 5 * 3600)

    assert stats.parsed == 3
    assert stats.filtered == 7
    assert stats.first == START_EPOCH + 2 * 3600
    assert stats.last == START_EPOCH + 4 * 3600


def test_untimed_lines_excluded_by_a_range():
    untimed = "[ROUTER] - mode=GPU metric=1 time=- host=h input=x args: x"
    stats = LogStats()
    stats.add_line(untimed, UTC)
    ranged = LogStats()
    ranged.add_line(untimed, UTC, since=0)

    assert (stats.parsed, stats.untimed) == (1, 1)
    assert (ranged.parsed, ranged.filtered) == (0, 1)


def test_merge_stats():
    first, second = LogStats(), LogStats()
    first.add_line(line(START_EPOCH), UTC)
    first.add_line("garbage", UTC)
    second.add_line(line(START_EPOCH + 86400, "CPU", "5000"), UTC)
    second.add_line(line(START_EPOCH + 86400, "CPU", "unknown"), UTC)

    first.merge(second)

    assert first.counts == {"GPU": 1, "CPU": 2}
    assert first.lines == 4
    assert first.unparsed == 1
    assert first.unknown_metric == {"CPU": 1}
    assert first.first == START_EPOCH
    assert first.last == START_EPOCH + 86400
    assert len(first.days) == 2


@pytest.mark.parametrize(
    "record",
    ["nonsense\t1", "total\tbogus\t1", "count\tmode\tGPU", "hist\tmetric\tGPU\t1\t2", "day\t1\tGPU:x"],
)
def test_awk_output_errors(record):
    with pytest.raises(AwkOutputError):
        read_awk_output([record])


def test_awk_output_records():
    stats, file_lines, errors = read_awk_output(
        [
            "total\tlines\t7",
            "count\tmode\tGPU\t3",
            "hist\tmetric\tGPU\t3\t6\t1\t3",
            "exact\tmetric\tGPU\t1:1 2:1 3:1",
            "day\t20501\tGPU:3 CPU-BLOCKED:1",
            "exit\tGPU\t137\t2",
            "file\t0\t7",
            "readerror\t1\t1",
        ]
    )

    assert stats.lines == 7
    assert stats.counts == {"GPU": 3}
    assert stats.histogram("metric", "GPU").percentile(50) == 2
    assert stats.days == {20501: {"GPU": 3, "CPU-BLOCKED": 1}}
    assert stats.exits == {"GPU": {"137": 2}}
    assert file_lines == {0: 7}
    assert errors == {1: "1"}
