"""log-stats output: terminal tables, CSV and the Prometheus text format.

JSON comes from ``fleetroute.logs.fleet.report_json`` and the PNG from
``fleetroute.logs.plot``.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timezone

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fleetroute.cli.output import STYLES
from fleetroute.logs.fleet import FleetLogReport, Scope
from fleetroute.logs.parse import CPU, CPU_BLOCKED, DECISION_MODES, GPU, GPU_BLOCKED
from fleetroute.logs.stats import ELAPSED, METRIC, PEAK_RSS, LogStats, day_name
from fleetroute.logs.summary import PERCENTILES, count_kind, jobs_per_day, ordered_modes, ratio, summarise

# Days of the fleet's jobs-per-day table: the most recent ones.
TABLE_DAYS = 14
MAX_SHOWN_EXAMPLES = 3
DECISION_HEADERS = ("GPU", "CPU", "GPU\nblocked", "CPU\nblocked", "unknown\nmetric", "blocked\nshare", "jobs\nper day")
COVERAGE_HEADERS = ("lines", "unparsed", "dry run", "errors", "first entry", "last entry")
TIME_HEADERS = ("first entry", "last entry")


def _time(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _value(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _unit(report: FleetLogReport, scope: Scope) -> str:
    units = {host.settings.threshold_unit for host in report.hosts if host.name in scope.hosts}
    return units.pop() if len(units) == 1 else "mixed units"


def print_tables(report: FleetLogReport, by: str, console: Console | None = None) -> None:
    """Print the report as tables: decisions, metrics, outcomes, jobs per day, notes and advice."""
    console = console or Console(highlight=False)
    scopes = report.scopes(by)
    console.print(
        _scope_table(report, by, f"router decisions by {by}", DECISION_HEADERS, _decision_cells, with_status=True)
    )
    console.print(_scope_table(report, by, "log lines read (times in UTC)", COVERAGE_HEADERS, _coverage_cells))
    console.print(_metric_table(report, scopes))
    if any(scope.stats.exits for scope in scopes):
        console.print(_outcome_table(scopes))
    if report.fleet.stats.days:
        console.print(_day_table(report.fleet.stats))
    _print_notes(report, console)
    _print_advice(report, console)


def _title(report: FleetLogReport, text: str) -> str:
    if report.since is not None and report.until is not None:
        return f"{text}, from {_time(report.since)} to {_time(report.until)} UTC"
    if report.since is not None:
        return f"{text}, since {_time(report.since)} UTC"
    if report.until is not None:
        return f"{text}, until {_time(report.until)} UTC"
    return text


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)


def _scope_table(
    report: FleetLogReport, by: str, title: str, headers: tuple[str, ...], cells, *, with_status: bool = False
) -> Table:
    """Return a table with one row per scope of level ``by``; ``cells(stats)`` gives a row's figures.

    At host level every selected host has a row, with its status when ``with_status``,
    and a fleet row ends the table.
    """
    with_status = with_status and by == "host"
    table = _table(_title(report, title))
    names = [host.name for host in report.hosts] if by == "host" else [scope.name for scope in report.scopes(by)]
    table.add_column(by, no_wrap=True, min_width=min(max(map(len, names), default=5), 24))
    if with_status:
        table.add_column("status")
    for header in headers:
        if header in TIME_HEADERS:
            table.add_column(header, no_wrap=True, min_width=16)
        else:
            table.add_column(header, justify="right")
    if by != "host":
        for scope in report.scopes(by):
            table.add_row(Text(scope.name), *cells(scope.stats))
        return table
    for host in report.hosts:
        status = report.reports[host.name].status
        logs = report.logs.get(host.name)
        figures = cells(logs.stats) if logs else ["-"] * len(headers)
        status_cell = [Text(status, style=STYLES.get(status, ""))] if with_status else []
        table.add_row(Text(host.name), *status_cell, *figures)
    table.add_section()
    table.add_row("fleet", *([""] if with_status else []), *cells(report.fleet.stats))
    return table


def _decision_cells(stats: LogStats) -> list[str]:
    counts = stats.counts
    blocked = counts[GPU_BLOCKED] + counts[CPU_BLOCKED]
    per_day = jobs_per_day(stats)
    return [
        *(str(counts[mode]) for mode in DECISION_MODES),
        str(sum(stats.unknown_metric.values())),
        _percent(ratio(blocked, counts[GPU] + counts[CPU] + blocked)),
        "-" if per_day is None else f"{per_day:.1f}",
    ]


def _coverage_cells(stats: LogStats) -> list[str]:
    return [
        str(stats.lines),
        str(stats.unparsed),
        str(count_kind(stats, "dry-run")),
        str(count_kind(stats, "error")),
        _time(stats.first),
        _time(stats.last),
    ]


def _metric_table(report: FleetLogReport, scopes: list[Scope]) -> Table:
    table = _table("metric per mode")
    for name in ("scope", "mode", "unit"):
        table.add_column(name)
    for name in ("count", "min", *(f"p{p}" for p in PERCENTILES), "max"):
        table.add_column(name, justify="right")
    for scope in scopes:
        for mode in ordered_modes(scope.stats):
            histogram = scope.stats.histograms.get((METRIC, mode))
            if histogram is None:
                continue
            percentiles = [_value(histogram.percentile(p)) for p in PERCENTILES]
            cells = [str(histogram.count), _value(histogram.minimum), *percentiles, _value(histogram.maximum)]
            table.add_row(Text(scope.name), mode, _unit(report, scope), *cells)
    return table


def _outcome_table(scopes: list[Scope]) -> Table:
    table = _table("job outcomes (supervise mode)")
    table.add_column("scope")
    table.add_column("mode")
    table.add_column("jobs", justify="right")
    table.add_column("exit codes")
    table.add_column("OOM kills (137)", justify="right")
    table.add_column("run time p50/p90/max (s)", justify="right")
    table.add_column("peak RSS max (MB)", justify="right")
    for scope in scopes:
        outcomes = summarise(scope.stats)["outcomes"]
        for mode, outcome in outcomes.items():
            elapsed = scope.stats.histogram(ELAPSED, mode)
            rss = scope.stats.histogram(PEAK_RSS, mode).maximum
            table.add_row(
                Text(scope.name),
                mode,
                str(outcome["jobs"]),
                " ".join(f"{code}:{count}" for code, count in outcome["exits"].items()),
                str(outcome["oom_kills"]),
                "/".join(_value(elapsed.percentile(p)) for p in (50, 90, 100)),
                "-" if rss is None else f"{rss / 1024:.0f}",
            )
    return table


def _day_table(stats: LogStats) -> Table:
    table = _table(f"jobs per day, fleet (UTC, last {TABLE_DAYS} days)")
    table.add_column("day")
    for mode in DECISION_MODES:
        table.add_column(mode, justify="right")
    for day in sorted(stats.days)[-TABLE_DAYS:]:
        counts = stats.days[day]
        table.add_row(day_name(day), *(str(counts.get(mode, 0)) for mode in DECISION_MODES))
    return table


def _print_notes(report: FleetLogReport, console: Console) -> None:
    for host in report.hosts:
        host_report = report.reports[host.name]
        lines = [f"error: {host_report.error}"] if host_report.error else []
        lines += [f"warning: {warning}" for warning in host_report.warnings]
        logs = report.logs.get(host.name)
        if logs and logs.stats.unparsed:
            lines.append(f"{logs.stats.unparsed} unparsed line(s), for example:")
            lines += [f"  {example!r}" for example in logs.stats.unparsed_examples[:MAX_SHOWN_EXAMPLES]]
        for line in lines:
            console.print(Text(f"{host.name}: {line}"))


def _print_advice(report: FleetLogReport, console: Console) -> None:
    if not report.advice:
        console.print("advice: none; no rule found a problem in the logs read")
        return
    console.print(Text("advice:", style="bold"))
    for number, item in enumerate(report.advice, start=1):
        console.print(Text(f"{number}. {item.host} [{item.rule}] {item.message}"))


CSV_COLUMNS = (
    "level",
    "name",
    "status",
    "mode",
    "lines",
    "unknown_metric",
    "zero_metric",
    "metric_count",
    "metric_min",
    "metric_p50",
    "metric_p90",
    "metric_p99",
    "metric_max",
    "outcome_jobs",
    "oom_kills",
    "elapsed_p50_s",
    "elapsed_max_s",
    "first",
    "last",
)


def csv_text(report: FleetLogReport, by: str) -> str:
    """Return one CSV row per scope of level ``by`` and mode, plus an UNPARSED row per scope.

    A host that could not be read has one row with its status and empty figures.
    Times are ISO 8601 UTC; metrics are in each host's threshold unit.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    if by == "host":
        for host in report.hosts:
            status = report.reports[host.name].status
            logs = report.logs.get(host.name)
            if logs is None:
                writer.writerow({"level": "host", "name": host.name, "status": status})
                continue
            _write_scope_rows(writer, Scope("host", host.name, [host.name], logs.stats), status)
    else:
        for scope in report.scopes(by):
            _write_scope_rows(writer, scope, "")
    return buffer.getvalue()


def _write_scope_rows(writer: csv.DictWriter, scope: Scope, status: str) -> None:
    stats = scope.stats
    summary = summarise(stats)
    base = {"level": scope.level, "name": scope.name, "status": status, "first": summary["first"], "last": summary["last"]}
    for mode in ordered_modes(stats):
        row = {**base, "mode": mode, "lines": stats.counts[mode]}
        row.update(unknown_metric=stats.unknown_metric[mode], zero_metric=stats.zero_metric[mode])
        metric = summary["metrics"].get(mode)
        if metric:
            row.update({f"metric_{key}": metric[key] for key in ("count", "min", "p50", "p90", "p99", "max")})
        outcome = summary["outcomes"].get(mode)
        if outcome:
            row.update(outcome_jobs=outcome["jobs"], oom_kills=outcome["oom_kills"])
            row.update(elapsed_p50_s=outcome["elapsed_s"]["p50"], elapsed_max_s=outcome["elapsed_s"]["max"])
        writer.writerow(row)
    writer.writerow({**base, "mode": "UNPARSED", "lines": stats.unparsed})


def _label(value: str) -> str:
    """Escape a label value as the Prometheus text format requires."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    text = ",".join(f'{key}="{_label(str(val))}"' for key, val in labels.items())
    if math.isnan(value):
        number = "NaN"
    elif float(value).is_integer():
        number = str(int(value))
    else:
        number = repr(float(value))
    return f"{name}{{{text}}} {number}"


class _Family:
    """One metric family: HELP and TYPE lines, then its samples.

    In the Prometheus text format that node_exporter reads, a counter's HELP and TYPE
    lines name it with its ``_total`` suffix, as its samples do.
    """

    def __init__(self, name: str, kind: str, help_text: str):
        self.name, self.kind, self.help_text = name, kind, help_text
        self.samples: list[str] = []

    def add(self, labels: dict[str, str], value: float, suffix: str = "") -> None:
        self.samples.append(_sample(self.name + suffix, labels, value))

    def lines(self) -> list[str]:
        return [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} {self.kind}", *self.samples]


def prometheus_text(report: FleetLogReport) -> str:
    """Return the report in the Prometheus text format, for node_exporter's textfile collector.

    Counters count lines in the log files present now, so rotation that deletes an old
    file lowers them, which Prometheus reads as a counter reset. With --since or
    --until they cover that range only. Hosts that were not read have only
    ``fleetroute_logstats_host_read`` (0).
    """
    families = {
        "read": _Family("fleetroute_logstats_host_read", "gauge", "1 when the router log of the host was read in full, else 0."),
        "lines": _Family("fleetroute_router_log_lines_total", "counter", "Router log lines per host and mode."),
        "unknown": _Family("fleetroute_router_unknown_metric_total", "counter", "Router log lines with an unknown metric, per host and mode."),
        "zero": _Family("fleetroute_router_zero_metric_total", "counter", "Router log lines with metric 0, per host and mode."),
        "unparsed": _Family("fleetroute_router_unparsed_lines_total", "counter", "Router log lines in neither known format, per host."),
        "metric": _Family("fleetroute_router_metric", "summary", "Metric of routed calls per host and mode, in the host's threshold unit."),
        "exits": _Family("fleetroute_router_job_exits_total", "counter", "Jobs that exited, per host, mode and exit code (supervise mode)."),
        "oom": _Family("fleetroute_router_oom_kills_total", "counter", "Jobs that exited with 137 (SIGKILL), per host and mode."),
        "elapsed": _Family("fleetroute_router_job_duration_seconds", "summary", "Run time of jobs per host and mode (supervise mode)."),
        "first": _Family("fleetroute_router_first_entry_timestamp_seconds", "gauge", "Time of the first log entry read, per host."),
        "last": _Family("fleetroute_router_last_entry_timestamp_seconds", "gauge", "Time of the last log entry read, per host."),
    }  # fmt: skip
    for host in report.hosts:
        status = report.reports[host.name].status
        logs = report.logs.get(host.name)
        families["read"].add({"host": host.name}, 1 if logs is not None and status == "ok" else 0)
        if logs is not None:
            _add_host_samples(families, host.name, logs.stats)
    lines = [line for family in families.values() for line in family.lines()]
    return "\n".join(lines) + "\n"


def _add_host_samples(families: dict[str, _Family], host: str, stats: LogStats) -> None:
    families["unparsed"].add({"host": host}, stats.unparsed)
    if stats.first is not None:
        families["first"].add({"host": host}, stats.first)
        families["last"].add({"host": host}, stats.last)
    for mode in ordered_modes(stats):
        labels = {"host": host, "mode": mode}
        families["lines"].add(labels, stats.counts[mode])
        families["unknown"].add(labels, stats.unknown_metric[mode])
        families["zero"].add(labels, stats.zero_metric[mode])
        _add_summary(families["metric"], labels, stats.histograms.get((METRIC, mode)))
    for mode, codes in sorted(stats.exits.items()):
        for code, count in sorted(codes.items()):
            families["exits"].add({"host": host, "mode": mode, "code": code}, count)
        families["oom"].add({"host": host, "mode": mode}, codes.get("137", 0))
        _add_summary(families["elapsed"], {"host": host, "mode": mode}, stats.histograms.get((ELAPSED, mode)))


def _add_summary(family: _Family, labels: dict[str, str], histogram) -> None:
    if histogram is None or histogram.count == 0:
        return
    for percent in PERCENTILES:
        family.add({**labels, "quantile": str(percent / 100)}, histogram.percentile(percent))
    family.add(labels, histogram.total, "_sum")
    family.add(labels, histogram.count, "_count")

