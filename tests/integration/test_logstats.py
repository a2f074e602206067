"""log-stats on the lab fleet: generated logs of every kind, checked against the generator's own counts."""

from __future__ import annotations

import csv
import io
import shlex
import shutil
import struct
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetroute.logs.parse import DECISION_MODES
from fleetroute.logs.plot import plot_size
from lab.media import make_media
from tests.conftest import REALWORLD
from tests.logstats_lines import Expected, LineGenerator, Mix, iso, nearest_rank, write_log_set

from .conftest import BINARY, ROUTER_LOG, fleetroute, host_file

pytestmark = pytest.mark.lab

RUNBOOK_LOG = REALWORLD / "logs" / "runbook-format.log"
RUNBOOK_EXPECTED = {"GPU": 4, "CPU": 2, "CPU-BLOCKED": 2}
# Healthy routing: few blocked calls, no unknown or zero metrics, no kills, RSS below
# the lab's workload_ram_mb of 2000 MB.
HEALTHY = Mix(
    gpu_blocked=0.005,
    cpu_blocked=0.01,
    gpu_full_to_cpu=0,
    unknown_metric=0,
    zero_metric=0,
    oom=0,
    errors=0,
    peak_rss_kb=(100_000, 1_500_000),
)


def log_stats(lab, *args: str):
    return fleetroute("log-stats", "-i", str(lab.inventory), *args)


def write_logs(lab, host: str, mix: Mix, sizes: list[int], *, seed: int = 1) -> Expected:
    """Write rotated logs of ``sizes`` lines on ``host`` and return what they contain."""
    generator = LineGenerator(host, mix, seed=seed)
    write_log_set(host_file(lab, host, ROUTER_LOG), generator, sizes)
    return generator.expected


def expected_counts(expected: Expected) -> dict[str, int]:
    return {**{mode: 0 for mode in DECISION_MODES}, **expected.counts}


def expected_per_day(expected: Expected) -> dict[str, dict[str, int]]:
    days: dict[str, dict[str, int]] = {}
    for (day, mode), count in sorted(expected.per_day.items()):
        days.setdefault(day, {})[mode] = count
    return {day: dict(sorted(counts.items())) for day, counts in days.items()}


def assert_host_matches(host: dict, expected: Expected) -> None:
    """Check every count of one host's JSON report against the generator's counts."""
    assert host["counts"] == expected_counts(expected)
    assert host["lines"] == expected.lines
    assert host["unparsed_lines"] == expected.unparsed
    assert host["parsed_lines"] == expected.lines - expected.unparsed
    assert host["unknown_metric"] == dict(sorted((+expected.unknown).items()))
    assert host["zero_metric"] == dict(sorted((+expected.zero).items()))
    assert host["gpu_full_to_cpu"] == dict(sorted((+expected.gpu_full).items()))
    assert host["per_day"] == expected_per_day(expected)
    assert host["first"] == iso(expected.first)
    assert host["last"] == iso(expected.last)
    assert {mode: outcome["exits"] for mode, outcome in host["outcomes"].items()} == {
        mode: dict(codes) for mode, codes in expected.exits.items()
    }


def assert_metrics_match(host: dict, expected: Expected) -> None:
    for mode in DECISION_MODES:
        values = expected.metrics.get(mode, [])
        metric = host["metrics"].get(mode)
        if not values:
            assert metric is None
            continue
        assert metric["count"] == len(values)
        assert metric["min"] == min(values)
        assert metric["max"] == max(values)
        for percent in (50, 90, 99):
            assert metric[f"p{percent}"] == pytest.approx(nearest_rank(values, percent), rel=0.011)


def test_counts_match_generated_logs(fleet):
    a4000 = write_logs(fleet, "a4000", Mix(oom=0.02), [100_000, 100_000, 50_000, 50_000], seed=1)
    host_file(fleet, "a100x4", ROUTER_LOG).parent.mkdir(parents=True, exist_ok=True)
    host_file(fleet, "a100x4", ROUTER_LOG).write_bytes(b"")
    sentinels = write_logs(fleet, "sentinels", HEALTHY, [5_000], seed=2)
    shutil.copy(RUNBOOK_LOG, host_file(fleet, "sentinels", ROUTER_LOG + ".1"))
    nodriver = write_logs(fleet, "nodriver", Mix(), [2_000, 1_000], seed=3)

    result = log_stats(fleet, "--json")

    assert result.exit_code == 4, result.stderr
    hosts = result.json["hosts"]
    assert {name: host["status"] for name, host in hosts.items()} == {
        "a4000": "ok",
        "a100x4": "ok",
        "mixed": "ok",
        "sentinels": "ok",
        "nodriver": "ok",
        "offline": "unreachable",
    }
    assert_host_matches(hosts["a4000"], a4000)
    assert_metrics_match(hosts["a4000"], a4000)
    assert_host_matches(hosts["nodriver"], nodriver)
    assert [(Path(f["path"]).name, f["lines"]) for f in hosts["a4000"]["log"]["files"]] == [
        ("whisper-ctranslate2.log", 50_000),
        ("whisper-ctranslate2.log.1", 50_000),
        ("whisper-ctranslate2.log.2.gz", 100_000),
        ("whisper-ctranslate2.log.3.gz", 100_000),
    ]

    sentinels_counts = hosts["sentinels"]["counts"]
    for mode, count in RUNBOOK_EXPECTED.items():
        assert sentinels_counts[mode] == sentinels.counts[mode] + count
    assert hosts["sentinels"]["zero_metric"] == {"GPU": 1}


def test_empty_and_missing_logs_are_reported(fleet):
    host_file(fleet, "a100x4", ROUTER_LOG).parent.mkdir(parents=True, exist_ok=True)
    host_file(fleet, "a100x4", ROUTER_LOG).write_bytes(b"")

    result = log_stats(fleet, "--json", "--limit", "a100x4,mixed")

    assert result.exit_code == 0, result.stderr
    hosts = result.json["hosts"]
    assert hosts["a100x4"]["log"]["state"] == "empty"
    assert hosts["mixed"]["log"]["state"] == "missing"
    assert any("is empty" in warning for warning in hosts["a100x4"]["warnings"])
    assert any("not found" in warning for warning in hosts["mixed"]["warnings"])
    assert hosts["mixed"]["counts"] == {mode: 0 for mode in DECISION_MODES}


def test_fleet_and_group_totals(fleet):
    parts = {
        "a4000": write_logs(fleet, "a4000", Mix(), [20_000], seed=4),
        "mixed": write_logs(fleet, "mixed", Mix(), [10_000], seed=5),
        "nodriver": write_logs(fleet, "nodriver", Mix(), [5_000], seed=6),
    }
    gpu_hosts, fleet_total = Expected(), Expected()
    for name, expected in parts.items():
        fleet_total.merge(expected)
        if name != "nodriver":
            gpu_hosts.merge(expected)

    document = log_stats(fleet, "--json").json

    assert document["fleet"]["counts"] == expected_counts(fleet_total)
    assert document["fleet"]["unparsed_lines"] == fleet_total.unparsed
    assert document["groups"]["gpu_hosts"]["counts"] == expected_counts(gpu_hosts)
    assert document["groups"]["faulty"]["counts"] == expected_counts(parts["nodriver"])
    assert document["groups"]["gpu_hosts"]["per_day"] == expected_per_day(gpu_hosts)


def test_since_until(fleet):
    expected = write_logs(fleet, "a4000", Mix(), [30_000, 20_000], seed=7)
    day = "2026-02-18"

    document = log_stats(fleet, "--json", "--limit", "a4000", "--since", f"{day}T00:00:00Z", "--until", "2026-02-19T00:00:00Z").json

    host = document["hosts"]["a4000"]
    in_range = {mode: count for (date, mode), count in expected.per_day.items() if date == day}
    assert host["counts"] == {**{mode: 0 for mode in DECISION_MODES}, **in_range}
    assert host["outside_time_range"] == expected.lines - expected.unparsed - sum(in_range.values())
    assert list(host["per_day"]) == [day]
    assert document["since"] == f"{day}T00:00:00Z"


def test_host_without_awk_streams_lines(fleet):
    if fleet.state.isolation != "namespace":
        pytest.skip("a per-host awk needs namespace isolation")
    for host in ("a4000", "mixed"):
        write_logs(fleet, host, Mix(oom=0.05), [15_000, 15_000], seed=8)
    fake_awk = host_file(fleet, "mixed", "/usr/local/bin/awk")
    fake_awk.write_text("#!/bin/sh\necho 'awk: command not found' >&2\nexit 127\n")
    fake_awk.chmod(0o755)

    hosts = log_stats(fleet, "--json", "--limit", "a4000,mixed").json["hosts"]

    assert hosts["a4000"]["method"] == "awk"
    assert hosts["mixed"]["method"] == "stream"
    assert any("awk does not work" in warning for warning in hosts["mixed"]["warnings"])
    for key in ("counts", "unknown_metric", "zero_metric", "metrics", "per_day", "outcomes", "unparsed_examples"):
        assert hosts["mixed"][key] == hosts["a4000"][key], key
    assert hosts["mixed"]["bytes_received"] > 50 * hosts["a4000"]["bytes_received"]


def test_bytes_do_not_grow_with_the_log(fleet):
    write_logs(fleet, "a4000", Mix(), [10_000], seed=9)
    write_logs(fleet, "mixed", Mix(), [50_000, 50_000], seed=9)

    hosts = log_stats(fleet, "--json", "--limit", "a4000,mixed").json["hosts"]

    small, large = hosts["a4000"]["bytes_received"], hosts["mixed"]["bytes_received"]
    assert large < 64_000
    assert large < 1.5 * small


def advice_by_host(document: dict) -> dict[str, dict[str, dict]]:
    found: dict[str, dict[str, dict]] = {}
    for item in document["advice"]:
        found.setdefault(item["host"], {})[item["rule"]] = item["numbers"]
    return found


def test_advice_rules(fleet):
    blocked_cpu = write_logs(fleet, "a4000", Mix(**{**HEALTHY.__dict__, "cpu_blocked": 0.4}), [20_000], seed=10)
    killed = write_logs(fleet, "a100x4", Mix(**{**HEALTHY.__dict__, "oom": 0.2, "peak_rss_kb": (1_000_000, 3_000_000)}), [20_000], seed=11)
    write_logs(fleet, "mixed", Mix(**{**HEALTHY.__dict__, "gpu_share": 1.0, "unknown_metric": 0.2}), [20_000], seed=12)
    host_file(fleet, "sentinels", ROUTER_LOG).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(RUNBOOK_LOG, host_file(fleet, "sentinels", ROUTER_LOG))
    write_logs(fleet, "nodriver", HEALTHY, [20_000], seed=13)

    advice = advice_by_host(log_stats(fleet, "--json").json)

    assert set(advice["a4000"]) == {"cpu-blocked", "gpu-room"}
    assert set(advice["a100x4"]) == {"gpu-oom", "cpu-oom", "ram-underestimated"}
    assert set(advice["mixed"]) == {"probe-one-path", "probe-unknown-metric"}
    assert set(advice["sentinels"]) == {"probe-zero-metric"}
    assert "nodriver" not in advice

    assert advice["a4000"]["cpu-blocked"]["cpu_blocked"] == blocked_cpu.counts["CPU-BLOCKED"]
    assert advice["a4000"]["cpu-blocked"]["ram_total_mb"] == meminfo_total_mb()
    # a4000: 16376 MB VRAM / 2 GPU jobs = 8188 MB per job; 3600 s x 8188 / 3700 MB.
    assert advice["a4000"]["gpu-room"]["estimated_threshold"] == pytest.approx(3600 * 8188 / 3700, abs=0.01)
    assert advice["a100x4"]["gpu-oom"]["smallest_killed_metric"] == min(killed.killed["GPU"])
    assert advice["a100x4"]["gpu-oom"]["gpu_jobs_killed"] == killed.exits["GPU"]["137"]
    assert "live-recording.webm" in advice["sentinels"]["probe-zero-metric"]["example"]


def meminfo_total_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def test_prometheus_and_plot(fleet, tmp_path):
    expected = write_logs(fleet, "a4000", Mix(), [5_000], seed=14)
    write_logs(fleet, "nodriver", Mix(), [1_000], seed=15)
    plot = tmp_path / "routing.png"

    result = log_stats(fleet, "--prometheus", "--plot", str(plot))

    assert result.exit_code == 4, result.stderr
    families = {family.name: family for family in text_string_to_metric_families(result.stdout)}
    samples = {
        (sample.labels["host"], sample.labels["mode"]): sample.value
        for sample in families["fleetroute_router_log_lines"].samples
    }
    assert samples[("a4000", "GPU")] == expected.counts["GPU"]
    assert samples[("a4000", "CPU-BLOCKED")] == expected.counts["CPU-BLOCKED"]
    read = {sample.labels["host"]: sample.value for sample in families["fleetroute_logstats_host_read"].samples}
    assert read["offline"] == 0
    assert read["a4000"] == 1

    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == plot_size(2)
    assert str(plot) in result.stderr


def test_csv_by_group(fleet):
    expected = write_logs(fleet, "a4000", Mix(), [5_000], seed=16)

    result = log_stats(fleet, "--csv", "--by", "group", "--limit", "gpu_hosts")

    assert result.exit_code == 0, result.stderr
    rows = {(row["name"], row["mode"]): row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert int(rows[("gpu_hosts", "GPU")]["lines"]) == expected.counts["GPU"]
    assert int(rows[("gpu_hosts", "UNPARSED")]["lines"]) == expected.unparsed


def test_corrupt_rotated_file_fails_the_host(fleet):
    write_logs(fleet, "a4000", Mix(), [1_000], seed=17)
    corrupt = host_file(fleet, "a4000", ROUTER_LOG + ".2.gz")
    corrupt.write_bytes(b"\x1f\x8b\x08\x00 not really gzip")

    result = log_stats(fleet, "--json", "--limit", "a4000")

    assert result.exit_code == 2
    host = result.json["hosts"]["a4000"]
    assert host["status"] == "failed"
    assert "whisper-ctranslate2.log.2.gz" in host["error"]
    assert host["lines"] == 1_000


def test_routed_jobs_are_counted(fleet):
    assert fleetroute("deploy", "-i", str(fleet.inventory), "--limit", "a4000").exit_code == 0
    short = make_media(fleet.shared_dir / "short talk.mp3", 60)
    long = make_media(fleet.shared_dir / "long lecture.mp3", 4000)
    for media in (short, long, short):
        done = fleet.ssh("a4000", shlex.join([BINARY, str(media), "--model", "small", "--output_dir", "/tmp"]))
        assert done.returncode == 0, done.stderr

    result = log_stats(fleet, "--limit", "a4000")

    assert result.exit_code == 0, result.stderr
    assert "router decisions by host" in result.stdout
    host = log_stats(fleet, "--json", "--limit", "a4000").json["hosts"]["a4000"]
    assert host["counts"] == {"GPU": 2, "CPU": 1, "GPU-BLOCKED": 0, "CPU-BLOCKED": 0}
    # ffmpeg makes MP3 files up to 0.2 s longer than asked.
    assert host["metrics"]["GPU"]["max"] == pytest.approx(60, abs=0.25)
    assert host["metrics"]["CPU"]["max"] == pytest.approx(4000, abs=0.25)
