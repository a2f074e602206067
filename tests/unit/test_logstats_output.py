"""log-stats output: JSON document, CSV, Prometheus text format, PNG plot, tables and time options."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from datetime import datetime, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from fleetroute.facts.gpu import Gpu
from fleetroute.inventory import Host
from fleetroute.logs.fleet import assemble_report, report_json
from fleetroute.logs.formats import csv_text, print_tables, prometheus_text
from fleetroute.logs.parse import ZoneTable
from fleetroute.logs.plot import plot_size, write_plot
from fleetroute.logs.stats import Histogram, LogStats
from fleetroute.logs.timerange import parse_time
from fleetroute.operations.logstats import HostLogs, LogFile
from fleetroute.report import FAILED, OK, UNREACHABLE, HostReport
from tests.logstats_lines import START_EPOCH, c_date, iso
from tests.unit.helpers import whisper_settings

UTC = ZoneTable()


def lines_of(*groups: tuple[int, str, str]) -> LogStats:
    stats = LogStats()
    epoch = START_EPOCH
    for count, mode, metric in groups:
        for _ in range(count):
            epoch += 3600
            stats.add_line(f"[ROUTER] {c_date(epoch)} mode={mode} metric={metric} time={iso(epoch)} input=x", UTC)
    return stats


def host_logs(stats: LogStats) -> HostLogs:
    files = [LogFile(0, "/var/log/fleetroute/whisper-ctranslate2.log", "plain", 1000, stats.lines)]
    gpus = (Gpu(0, "NVIDIA RTX A4000", 16376, 0, "550.54.15"),)
    return HostLogs(stats, files, "awk", UTC, ram_total_mb=32000, gpus=gpus, bytes_received=2048)


@pytest.fixture
def report():
    """Three hosts: two read in two groups, one unreachable."""
    settings = whisper_settings()
    hosts = [
        Host("gpu-01", ("gpu_hosts", "east"), {}, settings),
        Host("gpu-02", ("gpu_hosts",), {}, settings),
        Host("gpu-03", ("gpu_hosts",), {}, settings),
    ]
    first = lines_of((30, "GPU", "1200"), (10, "CPU", "5000"), (5, "CPU-BLOCKED", "7000"), (1, "GPU", "0"))
    first.add_line("not a router line", UTC)
    first.add_line(f"[ROUTER] - mode=GPU-EXIT metric=3100 time={iso(START_EPOCH)} reason=- exit=137 elapsed=9.5 input=x", UTC)
    second = lines_of((4, "GPU", "900.5"), (2, "CPU", "unknown"))
    logs = {"gpu-01": host_logs(first), "gpu-02": host_logs(second)}
    reports = [
        HostReport("gpu-01", status=OK),
        HostReport("gpu-02", status=OK),
        HostReport("gpu-03", status=UNREACHABLE, error="cannot connect"),
    ]
    return assemble_report(hosts, reports, logs)


def test_json_hosts(report):
    document = report_json(report)
    host = document["hosts"]["gpu-01"]

    assert host["counts"] == {"GPU": 31, "CPU": 10, "GPU-BLOCKED": 0, "CPU-BLOCKED": 5, "GPU-EXIT": 1}
    assert host["unparsed_lines"] == 1
    assert host["unparsed_examples"] == ["not a router line"]
    assert host["jobs"] == 41
    assert host["metrics"]["GPU"]["p50"] == 1200
    assert host["outcomes"]["GPU"]["oom_kills"] == 1
    assert host["log"]["state"] == "read"
    assert host["bytes_received"] == 2048
    assert host["budget"]["ram_mb"] == 32000


def test_json_unreachable_host_has_status_only(report):
    host = report_json(report)["hosts"]["gpu-03"]

    assert host["status"] == "unreachable"
    assert host["error"] == "cannot connect"
    assert "counts" not in host


def test_json_groups_and_fleet(report):
    document = report_json(report)

    assert document["fleet"]["counts"]["GPU"] == 35
    assert document["fleet"]["hosts"] == ["gpu-01", "gpu-02"]
    assert document["groups"]["gpu_hosts"]["counts"]["CPU"] == 12
    assert document["groups"]["east"]["counts"]["CPU"] == 10
    assert document["fleet"]["unknown_metric_total"] == 2
    assert document["exit_code"] == 4


def test_json_advice(report):
    advice = report_json(report)["advice"]

    assert {(item["host"], item["rule"]) for item in advice} >= {("gpu-01", "probe-zero-metric"), ("gpu-01", "gpu-oom")}
    assert all(item["numbers"] for item in advice)


def test_exit_code_bits(report):
    report.reports["gpu-02"].status = FAILED

    assert report.exit_code == 6


def test_csv_rows(report):
    rows = list(csv.DictReader(io.StringIO(csv_text(report, "host"))))
    by_key = {(row["name"], row["mode"]): row for row in rows}

    assert by_key[("gpu-01", "GPU")]["lines"] == "31"
    assert by_key[("gpu-01", "CPU-BLOCKED")]["metric_max"] == "7000.0"
    assert by_key[("gpu-01", "UNPARSED")]["lines"] == "1"
    assert by_key[("gpu-01", "GPU-EXIT")]["lines"] == "1"
    assert by_key[("gpu-02", "CPU")]["unknown_metric"] == "2"
    assert by_key[("gpu-03", "")]["status"] == "unreachable"


@pytest.mark.parametrize(("by", "names"), [("group", {"gpu_hosts", "east"}), ("fleet", {"fleet"})])
def test_csv_levels(report, by, names):
    rows = list(csv.DictReader(io.StringIO(csv_text(report, by))))

    assert {row["name"] for row in rows} == names
    assert {row["level"] for row in rows} == {by}


def families(report) -> dict:
    return {family.name: family for family in text_string_to_metric_families(prometheus_text(report))}


def samples(family) -> dict[tuple, float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value for sample in family.samples}


def test_prometheus_parses(report):
    parsed = families(report)

    assert parsed["fleetroute_router_log_lines"].type == "counter"
    lines = samples(parsed["fleetroute_router_log_lines"])
    assert lines[("fleetroute_router_log_lines_total", (("host", "gpu-01"), ("mode", "GPU")))] == 31
    assert lines[("fleetroute_router_log_lines_total", (("host", "gpu-02"), ("mode", "CPU")))] == 2


def test_prometheus_summary_and_outcomes(report):
    parsed = families(report)

    assert parsed["fleetroute_router_metric"].type == "summary"
    metric = samples(parsed["fleetroute_router_metric"])
    assert metric[("fleetroute_router_metric", (("host", "gpu-01"), ("mode", "GPU"), ("quantile", "0.5")))] == 1200
    assert metric[("fleetroute_router_metric_count", (("host", "gpu-01"), ("mode", "GPU")))] == 31
    oom = samples(parsed["fleetroute_router_oom_kills"])
    assert oom[("fleetroute_router_oom_kills_total", (("host", "gpu-01"), ("mode", "GPU")))] == 1


def test_prometheus_host_read(report):
    read = samples(families(report)["fleetroute_logstats_host_read"])

    assert read[("fleetroute_logstats_host_read", (("host", "gpu-01"),))] == 1
    assert read[("fleetroute_logstats_host_read", (("host", "gpu-03"),))] == 0


def test_prometheus_help_and_type_lines(report):
    text = prometheus_text(report)

    assert "# TYPE fleetroute_router_log_lines_total counter\n" in text
    assert "# TYPE fleetroute_router_unparsed_lines_total counter\n" in text
    assert "# TYPE fleetroute_router_metric summary\n" in text
    assert "# HELP fleetroute_router_log_lines_total " in text


def png_size(data: bytes) -> tuple[int, int]:
    """Return (width, height) of a PNG after checking its signature, IHDR CRC and IEND chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    body, crc = data[16:29], struct.unpack(">I", data[29:33])[0]
    assert zlib.crc32(b"IHDR" + body) == crc
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return struct.unpack(">II", body[:8])


def test_plot_png(report, tmp_path):
    path = tmp_path / "stats.png"

    size = write_plot(report, path)

    assert size == plot_size(2)
    assert png_size(path.read_bytes()) == size


def test_plot_without_metrics(tmp_path):
    settings = whisper_settings()
    report = assemble_report([Host("a", ("g",), {}, settings)], [HostReport("a")], {"a": host_logs(LogStats())})

    size = write_plot(report, tmp_path / "empty.png")

    assert png_size((tmp_path / "empty.png").read_bytes()) == size == plot_size(1)


def test_tables(report):
    console = Console(record=True, width=200)

    print_tables(report, "host", console)

    text = console.export_text()
    assert "gpu-03" in text
    assert "unreachable" in text
    assert "[probe-zero-metric]" in text
    assert "job outcomes" in text
    assert "'not a router line'" in text


@pytest.mark.parametrize("by", ["group", "fleet"])
def test_tables_by_level(report, by):
    console = Console(record=True, width=200)

    print_tables(report, by, console)

    assert f"router decisions by {by}" in console.export_text()


NOW = datetime(2026, 2, 17, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "seconds_before_now"),
    [("24h", 86400), ("7d", 7 * 86400), ("30m", 1800), ("2w", 14 * 86400), ("90s", 90), ("now", 0)],
)
def test_relative_times(text, seconds_before_now):
    assert parse_time(text, NOW) == int(NOW.timestamp()) - seconds_before_now


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2026-02-17T03:12:44Z", 1771297964),
        ("2026-02-17T04:12:44+01:00", 1771297964),
        ("2026-02-17 03:12:44z", 1771297964),
    ],
)
def test_iso_times(text, epoch):
    assert parse_time(text, NOW) == epoch


def test_date_without_offset_is_local():
    expected = int(datetime(2026, 2, 17).astimezone().timestamp())

    assert parse_time("2026-02-17", NOW) == expected


@pytest.mark.parametrize("text", ["yesterday-ish", "24x", "", "17/02/2026"])
def test_invalid_times(text):
    with pytest.raises(ValueError, match="invalid time"):
        parse_time(text, NOW)


def test_plot_range_covers_values_beside_zeros():
    from fleetroute.logs.plot import _log_edges

    histograms = {"GPU": Histogram(), "CPU": Histogram()}
    for value in (0, 2, 3000):
        histograms["GPU"].add(value)
    histograms["CPU"].add(5000)
    hosts = [Host("a", ("g",), {}, whisper_settings())]

    edges = _log_edges(histograms, hosts)

    assert edges[0] <= 2
    assert edges[-1] >= 5000
