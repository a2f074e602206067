"""Router log line parser: the runbook's format, fleetroute's format, outcome lines and garbage."""

from __future__ import annotations

import pytest

from fleetroute.logs.advice import HostContext, advise
from fleetroute.logs.parse import ZoneTable, days_from_civil, human_epoch, iso_epoch, parse_line, parse_number
from fleetroute.logs.stats import LogStats
from fleetroute.logs.summary import summarise
from tests.unit.helpers import whisper_settings

UTC = ZoneTable()
# 2026-02-17T03:12:44Z
EPOCH = 1771297964
FLEETROUTE_LINE = (
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode={mode} metric={metric} time=2026-02-17T03:12:44Z "
    "host=a4000 unit=seconds threshold=3600 slot=0 pid=4242 reason=- input=/srv/media/talk.mp4 "
    "args: /srv/media/talk.mp4 --device cuda"
)


def read_runbook_log(realworld) -> LogStats:
    stats = LogStats()
    for line in (realworld / "logs" / "runbook-format.log").read_text().splitlines():
        stats.add_line(line, UTC)
    return stats


def test_runbook_log_counts(realworld):
    stats = read_runbook_log(realworld)

    assert stats.counts == {"GPU": 4, "CPU": 2, "CPU-BLOCKED": 2}
    assert stats.unparsed == 0
    assert stats.zero_metric == {"GPU": 1}
    assert sum(stats.unknown_metric.values()) == 0


def test_runbook_log_times(realworld):
    stats = read_runbook_log(realworld)
    summary = summarise(stats)

    assert summary["first"] == "2026-02-17T03:12:44Z"
    assert summary["last"] == "2026-02-17T04:31:12Z"
    assert summary["per_day"] == {"2026-02-17": {"CPU": 2, "CPU-BLOCKED": 2, "GPU": 4}}


def test_runbook_log_metrics(realworld):
    metrics = summarise(read_runbook_log(realworld))["metrics"]

    assert metrics["GPU"]["count"] == 4
    assert metrics["GPU"]["min"] == 0
    assert metrics["GPU"]["p50"] == 612
    assert metrics["GPU"]["max"] == 3599
    assert metrics["CPU"]["p50"] == 3600
    assert metrics["CPU"]["max"] == 34012
    assert metrics["CPU-BLOCKED"]["max"] == 9120
    assert metrics["GPU"]["exact"] is True


def test_runbook_log_zero_metric_advice(realworld):
    stats = read_runbook_log(realworld)
    context = HostContext("runner", whisper_settings(), budget=None, gpu_vram_mb=16384)

    advice = {item.rule: item for item in advise(stats, context)}

    assert "probe-zero-metric" in advice
    assert "live-recording.webm" in advice["probe-zero-metric"].numbers["example"]
    assert advice["probe-zero-metric"].numbers["gpu_metric_zero"] == 1


def test_fleetroute_line_fields():
    entry = parse_line(FLEETROUTE_LINE.format(mode="GPU", metric="5.000000"), UTC)

    assert entry is not None
    assert entry.mode == "GPU"
    assert entry.metric == "5.000000"
    assert parse_number(entry.metric) == 5.0
    assert entry.epoch == EPOCH


def test_time_field_wins_over_date():
    line = FLEETROUTE_LINE.format(mode="CPU", metric="1").replace("time=2026-02-17T03:12:44Z", "time=2026-02-18T00:00:00Z")

    assert parse_line(line, UTC).epoch == EPOCH - 3 * 3600 - 12 * 60 - 44 + 86400


def test_quoted_unit_cannot_replace_time():
    line = FLEETROUTE_LINE.format(mode="GPU", metric="1").replace("unit=seconds", "unit=x\\ time=2020-01-01T00:00:00Z")

    assert parse_line(line, UTC).epoch == EPOCH


def test_dash_date_with_time_field():
    line = "[ROUTER] - mode=GPU metric=12 time=2026-02-17T03:12:44Z host=x unit=seconds threshold=10 input='' args:"

    assert parse_line(line, UTC).epoch == EPOCH


def test_dash_date_without_time_is_untimed():
    line = "[ROUTER] - mode=GPU metric=12 time=- host=x unit=seconds threshold=10 input='' args:"

    entry = parse_line(line, UTC)

    assert entry is not None
    assert entry.epoch is None


@pytest.mark.parametrize(
    "mode",
    ["GPU-DRYRUN", "CPU-DRYRUN", "GPU-CONFIG-ERROR", "CPU-CONFIG-ERROR", "UNKNOWN-FAILED", "GPU-BLOCKED-DRYRUN"],
)
def test_fleetroute_modes_parse(mode):
    assert parse_line(FLEETROUTE_LINE.format(mode=mode, metric="unknown"), UTC).mode == mode


def test_dry_run_is_not_a_job():
    stats = LogStats()
    stats.add_line(FLEETROUTE_LINE.format(mode="GPU-DRYRUN", metric="5"), UTC)
    stats.add_line(FLEETROUTE_LINE.format(mode="GPU", metric="5"), UTC)

    summary = summarise(stats)

    assert summary["counts"]["GPU"] == 1
    assert summary["counts"]["GPU-DRYRUN"] == 1
    assert summary["jobs"] == 1
    assert summary["dry_run"] == 1


def test_errors_are_not_jobs():
    stats = LogStats()
    for mode in ("GPU-CONFIG-ERROR", "CPU-CONFIG-ERROR", "UNKNOWN-FAILED"):
        stats.add_line(FLEETROUTE_LINE.format(mode=mode, metric="unknown"), UTC)

    summary = summarise(stats)

    assert summary["jobs"] == 0
    assert summary["errors"] == 3
    assert summary["unknown_metric"] == {"CPU-CONFIG-ERROR": 1, "GPU-CONFIG-ERROR": 1, "UNKNOWN-FAILED": 1}


def test_unknown_metric_counted():
    stats = LogStats()
    stats.add_line(FLEETROUTE_LINE.format(mode="CPU", metric="unknown"), UTC)

    assert stats.counts["CPU"] == 1
    assert stats.unknown_metric["CPU"] == 1
    assert ("metric", "CPU") not in stats.histograms


@pytest.mark.parametrize("text", ["", "N/A", "-1", "1e3", "12,5", "0x10", "١٢", "9" * 31, "1" + "0" * 18])
def test_unusable_metrics(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(("text", "value"), [("5.000000", 5.0), ("12.", 12.0), (".5", 0.5), ("0", 0.0), ("5417.39", 5417.39)])
def test_usable_metrics(text, value):
    assert parse_number(text) == value


def test_outcome_line():
    line = (
        "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU-EXIT metric=3000 time=2026-02-17T03:12:44Z host=a "
        "unit=seconds threshold=3600 slot=0 pid=9 reason=- exit=137 elapsed=12.250 peak_rss_kb=2048 input=/a"
    )

    entry = parse_line(line, UTC)

    assert entry.mode == "GPU-EXIT"
    assert entry.exit_code == "137"
    assert entry.elapsed == "12.250"
    assert entry.peak_rss_kb == "2048"


def test_outcome_counts_and_kills():
    stats = LogStats()
    for code, metric in (("0", "100"), ("137", "3000"), ("137", "2500"), ("1", "10")):
        stats.add_line(
            f"[ROUTER] - mode=GPU-EXIT metric={metric} time=2026-02-17T03:12:44Z reason=- exit={code} elapsed=5 input=x",
            UTC,
        )

    outcome = summarise(stats)["outcomes"]["GPU"]

    assert summarise(stats)["jobs"] == 0
    assert outcome["exits"] == {"0": 1, "1": 1, "137": 2}
    assert outcome["oom_kills"] == 2
    assert outcome["killed_metric"]["min"] == 2500
    assert outcome["elapsed_s"]["count"] == 4


def test_gpu_full_reason_counted():
    stats = LogStats()
    for reason in ("gpu-full", "probe-exit-1,gpu-full", "-", "gpu-fullness"):
        stats.add_line(FLEETROUTE_LINE.format(mode="CPU", metric="100").replace("reason=-", f"reason={reason}"), UTC)

    assert stats.counts["CPU"] == 4
    assert stats.gpu_full == {"CPU": 2}


def test_keys_after_input_are_ignored():
    line = (
        "[ROUTER] - mode=GPU-EXIT metric=1 time=2026-02-17T03:12:44Z reason=- exit=0 "
        "input=/srv/a\\ exit=137 args: exit=137 elapsed=9"
    )

    entry = parse_line(line, UTC)

    assert entry.exit_code == "0"
    assert entry.elapsed == ""


def test_padded_day_of_month():
    entry = parse_line("[ROUTER] Tue Feb  3 04:05:06 UTC 2026 mode=GPU metric=1 args: x", UTC)

    assert entry.epoch == days_from_civil(2026, 2, 3) * 86400 + 4 * 3600 + 5 * 60 + 6


def test_cr_line_ending():
    stats = LogStats()
    stats.add_line("[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=CPU-BLOCKED metric=9120\r", UTC)

    assert stats.counts["CPU-BLOCKED"] == 1
    assert stats.histogram("metric", "CPU-BLOCKED").maximum == 9120


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("UTC", 0), ("CET", 3600), ("CEST", 7200), ("EST", -18000), ("+0530", 19800), ("-03", -10800)],
)
def test_zone_offsets(zone, offset):
    fields = ["Tue", "Feb", "17", "03:12:44", zone, "2026"]

    assert human_epoch(fields, UTC) == (EPOCH - offset, None)


def test_host_zone_resolves_ambiguous_abbreviation():
    zones = ZoneTable(host_zone="IST", host_offset_s=19800)

    assert human_epoch(["Tue", "Feb", "17", "03:12:44", "IST", "2026"], zones) == (EPOCH - 19800, None)


def test_unknown_zone_is_a_guess():
    zones = ZoneTable(host_zone="CET", host_offset_s=3600)
    stats = LogStats()
    stats.add_line("[ROUTER] Tue Feb 17 03:12:44 XYZT 2026 mode=GPU metric=1 args: x", zones)

    assert stats.first == EPOCH - 3600
    assert stats.guessed_zones == {"XYZT": 1}


GARBAGE = [
    "",
    "hello",
    "[ROUTER]",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=gpu metric=1 args: x",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU args: x metric=1",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode= metric=1",
    "[ROUTER] Feb 17 03:12:44 UTC 2026 mode=GPU metric=1",
    "[ROUTER] Tue Foo 17 03:12:44 UTC 2026 mode=GPU metric=1",
    "[ROUTER] Tue Feb 17 3:12:44 UTC 2026 mode=GPU metric=1",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 1969 mode=GPU metric=1",
    "[ROUTER] Tue Feb 32 03:12:44 UTC 2026 mode=GPU metric=1",
    "[ROUTER] mar. 17 févr. 2026 03:12:44 CET mode=GPU metric=1",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 x y z mode=GPU metric=1",
    "[ROUTER]\x0cTue Feb 17 03:12:44 UTC 2026 mode=GPU metric=1",
    "[ROUTER] -- mode=GPU metric=1 time=2026-02-17T03:12:44 input=x",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=" + "A" * 41 + " metric=1",
    "router: [ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU metric=1",
]


@pytest.mark.parametrize("line", GARBAGE)
def test_garbage_is_unparsed(line):
    assert parse_line(line, UTC) is None


def test_unparsed_lines_are_counted_with_examples():
    stats = LogStats()
    for line in GARBAGE:
        stats.add_line(line, UTC)

    assert stats.unparsed == len(GARBAGE)
    assert stats.lines == len(GARBAGE)
    assert stats.unparsed_examples == GARBAGE[:5]


def test_mode_limit_makes_further_modes_unparsed():
    stats = LogStats()
    for number in range(70):
        stats.add_line(FLEETROUTE_LINE.format(mode=f"M{number}", metric="1"), UTC)

    assert len(stats.counts) == 64
    assert stats.unparsed == 6


@pytest.mark.parametrize(
    ("text", "epoch"),
    [("2026-02-17T03:12:44Z", EPOCH), ("1970-01-01T00:00:00Z", 0), ("2026-02-17 03:12:44Z", None), ("2026-13-01T00:00:00Z", None)],
)
def test_iso_epoch(text, epoch):
    assert iso_epoch(text) == epoch
