"""The ``fleetroute budget`` command: the memory budget worksheet of every host, as a table or JSON."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

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
from fleetroute.cli.output import STYLES
from fleetroute.operations.budget import budget_host
from fleetroute.report import HostReport, exit_code
from fleetroute.runner import DEFAULT_FORKS, run_on_hosts


def budget(
    inventory: InventoryOption,
    limit: LimitOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    json_output: JsonOption = False,
    ssh_config: SshConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    command_timeout: CommandTimeoutOption = 120.0,
    accept_new_host_keys: AcceptKeysOption = False,
    ask_become_pass: AskBecomePassOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Show each host's VRAM and RAM headroom, the slot counts that fit and the recommended MemoryMax.

    Exits 0 when every budget fits, with the 2 bit when a host's budget is negative
    or unknown, and the 4 bit when a host is unreachable.
    """
    setup_logging(verbose)
    connect = connect_options(ssh_config, connect_timeout, command_timeout, accept_new_host_keys, ask_become_pass)
    hosts = select_hosts(inventory, limit, ssh_config)
    reports = run_on_hosts(hosts, budget_host, connect=connect, forks=forks)
    status = exit_code(reports)
    if json_output:
        print_budget_json(reports, status)
    else:
        print_budget_table(reports)
    raise typer.Exit(status)


def host_document(report: HostReport) -> dict:
    """Return one host's JSON object: status, error and warnings, then the budget's fields."""
    return {"status": report.status, "error": report.error, "warnings": report.warnings, **(report.budget or {})}


def print_budget_json(reports: list[HostReport], exit_status: int) -> None:
    """Print the run as one JSON document on stdout."""
    document = {
        "command": "budget",
        "hosts": {report.name: host_document(report) for report in reports},
        "exit_code": exit_status,
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_budget_table(reports: list[HostReport]) -> None:
    """Print one row per host with one line per GPU, then each host's problems and warnings."""
    table = Table(title="memory budget (MB)", title_justify="left")
    for name in ("host", "status", "GPU", "VRAM", "VRAM used", "VRAM headroom", "GPU jobs fit"):
        table.add_column(name, no_wrap=True, justify="left" if name in ("host", "status", "GPU") else "right")
    for name in ("RAM", "RAM other", "RAM headroom", "CPU jobs fit", "MemoryMax"):
        table.add_column(name, no_wrap=True, justify="right")
    for report in reports:
        table.add_row(report.name, Text(report.status, style=STYLES.get(report.status, "")), *_budget_cells(report))
    console = Console(highlight=False, soft_wrap=True)
    # A terminal narrower than the table would cut numbers short; let the lines wrap instead.
    width = Measurement.get(console, console.options.update_width(1000), table).maximum
    if width > console.width:
        console = Console(highlight=False, soft_wrap=True, width=width)
    console.print(table)
    for report in reports:
        if report.error:
            console.print(Text(f"{report.name}: {report.error}", style=STYLES.get(report.status, "")))
        for warning in report.warnings:
            console.print(Text(f"{report.name}: warning: {warning}", style="yellow"))


def _budget_cells(report: HostReport) -> list[str | Text]:
    budget = report.budget
    if budget is None:
        return ["-"] * 10
    gpus = budget["gpus"]
    labels = [_gpu_label(gpu) for gpu in gpus]
    return [
        "\n".join(labels) or "-",
        "\n".join(_number(gpu["vram_mb"]) for gpu in gpus) or "-",
        _used_lines(gpus),
        _headroom_lines([gpu["vram_headroom_mb"] for gpu in gpus]),
        _number(budget["max_gpu_jobs_fit"]),
        _number(budget["ram_mb"]),
        _number(budget["ram_used_other_mb"]),
        _headroom_lines([budget["ram_headroom_mb"]]),
        _number(budget["max_cpu_jobs_fit"]),
        _number(budget["memory_max_mb"]),
    ]


def _used_lines(gpus: list[dict]) -> Text:
    """Return the VRAM-used cell: one line per GPU, in yellow with "!" where too little room is left (see warnings)."""
    text = Text()
    for position, gpu in enumerate(gpus):
        if position:
            text.append("\n")
        if gpu.get("crowded"):
            text.append(f"{_number(gpu.get('vram_used_mb'))}!", style="yellow")
        else:
            text.append(_number(gpu.get("vram_used_mb")))
    return text if gpus else Text("-")


def _gpu_label(gpu: dict) -> str:
    mig = f" MIG {gpu['mig_device']}" if "mig_device" in gpu else ""
    return f"{gpu['index']}{mig} {gpu['name']}"


def _headroom_lines(values: list[int | None]) -> Text:
    text = Text()
    for position, value in enumerate(values):
        if position:
            text.append("\n")
        if value is None:
            text.append("?")
        else:
            text.append(f"{value:+d}", style="red" if value < 0 else "green")
    return text if values else Text("-")


def _number(value: int | None) -> str:
    return "?" if value is None else str(value)
