"""The ``fleetroute log-stats`` command: a fleet-wide routing report with tuning advice."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from fleetroute.cli.common import (
    AcceptKeysOption,
    AskBecomePassOption,
    CommandTimeoutOption,
    ConnectTimeoutOption,
    ForksOption,
    InventoryOption,
    JsonOption,
    LimitOption,
    SshConfigOption,
    VerboseOption,
    connect_options,
    select_hosts,
    setup_logging,
)
from fleetroute.errors import FleetrouteError
from fleetroute.logs.fleet import assemble_report, report_json
from fleetroute.logs.formats import csv_text, print_tables, prometheus_text
from fleetroute.logs.plot import check_matplotlib, write_plot
from fleetroute.logs.timerange import parse_time
from fleetroute.operations.logstats import HostLogs, LogStatsOptions, collect_host_logs
from fleetroute.runner import DEFAULT_FORKS, run_on_hosts


class Level(str, Enum):
    """Rows of the report's tables and CSV."""

    HOST = "host"
    GROUP = "group"
    FLEET = "fleet"


TIME_HELP = "ISO date or time (local unless it has an offset or Z), or a duration before now such as 24h or 7d."


def log_stats(
    inventory: InventoryOption,
    limit: LimitOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    since: Annotated[Optional[str], typer.Option("--since", help=f"Count entries from this time on. {TIME_HELP}")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help=f"Count entries before this time. {TIME_HELP}")] = None,
    by: Annotated[Level, typer.Option("--by", help="Rows of the tables and CSV: one per host, per group, or one for the fleet.")] = Level.HOST,
    json_output: JsonOption = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV, one row per host (or group) and mode.")] = False,
    prometheus: Annotated[
        bool, typer.Option("--prometheus", help="Print the Prometheus text format for node_exporter's textfile collector.")
    ] = False,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Also write a PNG of the metric distribution per mode and group.")
    ] = None,
    ssh_config: SshConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    command_timeout: CommandTimeoutOption = 120.0,
    accept_new_host_keys: AcceptKeysOption = False,
    ask_become_pass: AskBecomePassOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Count the routers' decisions in their logs across the fleet, and advise on tuning."""
    setup_logging(verbose)
    chosen = [name for name, on in (("--json", json_output), ("--csv", csv_output), ("--prometheus", prometheus)) if on]
    if len(chosen) > 1:
        raise typer.BadParameter(f"{' and '.join(chosen)} cannot be combined; choose one output format")
    since_s = _time_option("--since", since)
    until_s = _time_option("--until", until)
    if since_s is not None and until_s is not None and since_s >= until_s:
        raise typer.BadParameter(f"--since {since!r} is not before --until {until!r}")
    if plot is not None:
        check_matplotlib()

    hosts = select_hosts(inventory, limit, ssh_config)
    options = LogStatsOptions(
        connect=connect_options(ssh_config, connect_timeout, command_timeout, accept_new_host_keys, ask_become_pass),
        since=since_s,
        until=until_s,
    )
    results: dict[str, HostLogs] = {}
    reports = run_on_hosts(
        hosts,
        lambda host, ssh, report: collect_host_logs(host, ssh, report, options, results),
        connect=options.connect,
        forks=forks,
    )
    report = assemble_report(hosts, reports, results, since=since_s, until=until_s)

    machine_output = bool(chosen)
    if plot is not None:
        _write_plot(report, plot, to_stderr=machine_output)
    if json_output:
        json.dump(report_json(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif csv_output:
        sys.stdout.write(csv_text(report, by.value))
    elif prometheus:
        sys.stdout.write(prometheus_text(report))
    else:
        print_tables(report, by.value)
    raise typer.Exit(report.exit_code)


def _time_option(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{name}: {exc}") from None


def _write_plot(report, path: Path, *, to_stderr: bool) -> None:
    try:
        width, height = write_plot(report, path)
    except OSError as exc:
        raise FleetrouteError(f"cannot write the plot to {path}: {exc.strerror or exc}") from None
    Console(stderr=to_stderr, highlight=False).print(f"wrote {path} ({width} x {height} px)", markup=False)
