"""The ``fleetroute verify`` command: run the checks on every host, print a table or JSON, exit."""

from __future__ import annotations

import json
import sys
from typing import Annotated

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
from fleetroute.cli.output import STYLES, HostPrinter
from fleetroute.operations.verify import (
    CHECKS,
    DEGRADED_STATUS,
    INCOMPLETE,
    VerifyOptions,
    verify_exit_code,
    verify_host,
)
from fleetroute.operations.verify.checks import DEGRADED, FAIL, PASS, SKIPPED
from fleetroute.report import HostReport
from fleetroute.runner import DEFAULT_FORKS, run_on_hosts

STATUS_STYLES = {**STYLES, DEGRADED_STATUS: "magenta", INCOMPLETE: "yellow"}
VERDICT_STYLES = {PASS: "green", FAIL: "red", SKIPPED: "yellow", DEGRADED: "magenta"}

FullOption = Annotated[
    bool,
    typer.Option(
        "--full",
        help="Run the real workload on the sample inputs and sample nvidia-smi, instead of the router's dry run.",
    ),
]


def verify(
    inventory: InventoryOption,
    limit: LimitOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    full: FullOption = False,
    json_output: JsonOption = False,
    ssh_config: SshConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    command_timeout: CommandTimeoutOption = 120.0,
    accept_new_host_keys: AcceptKeysOption = False,
    ask_become_pass: AskBecomePassOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Check the router on every host: install, GPUs, GPU and CPU paths, and blocking when slots are full."""
    setup_logging(verbose)
    options = VerifyOptions(
        connect=connect_options(ssh_config, connect_timeout, command_timeout, accept_new_host_keys, ask_become_pass), full=full
    )
    hosts = select_hosts(inventory, limit, ssh_config)
    printer = VerifyPrinter([host.name for host in hosts], quiet=json_output)
    reports = run_on_hosts(
        hosts,
        lambda host, ssh, report: verify_host(host, ssh, report, options),
        connect=options.connect,
        forks=forks,
        on_done=printer,
    )
    status = verify_exit_code(reports)
    if json_output:
        print_verify_json(reports, status, full=full)
    else:
        print_verify_table(reports, "verify recap" + (" (--full: real workload runs)" if full else ""))
    raise typer.Exit(status)


def host_document(report: HostReport) -> dict:
    """Return one host's JSON object: the report's fields and its ``checks``."""
    return {**report.to_dict(), "checks": getattr(report, "checks", {})}


def print_verify_json(reports: list[HostReport], exit_status: int, *, full: bool) -> None:
    """Print the run as one JSON document on stdout."""
    document = {
        "command": "verify",
        "full": full,
        "hosts": {report.name: host_document(report) for report in reports},
        "exit_code": exit_status,
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


class VerifyPrinter(HostPrinter):
    """Prints each host's status and the reason of every check that did not pass, as hosts finish."""

    styles = STATUS_STYLES

    def print_details(self, report: HostReport, prefix: str) -> None:
        """Print one line per check that did not pass: its verdict and reason."""
        for name, check in getattr(report, "checks", {}).items():
            if check["verdict"] != PASS:
                verdict = Text(f"{prefix}  {name}: ")
                verdict.append(check["verdict"], style=VERDICT_STYLES.get(check["verdict"], ""))
                verdict.append(f": {check['reason']}")
                self.console.print(verdict)


def print_verify_table(reports: list[HostReport], title: str) -> None:
    """Print the recap: one row per host and one column per check, then the totals."""
    table = Table(title=title, title_justify="left")
    table.add_column("host", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for name in CHECKS:
        table.add_column(name.replace("_", " "), no_wrap=True)
    table.add_column("time (s)", justify="right")
    for report in reports:
        checks = getattr(report, "checks", {})
        cells = [_verdict_cell(checks.get(name)) for name in CHECKS]
        status = Text(report.status, style=STATUS_STYLES.get(report.status, ""))
        table.add_row(report.name, status, *cells, f"{report.duration_s:.1f}")
    console = Console(highlight=False)
    # A terminal narrower than the table would cut verdicts short; let the lines wrap instead.
    width = Measurement.get(console, console.options.update_width(1000), table).maximum
    if width > console.width:
        console = Console(highlight=False, width=width)
    console.print(table)
    statuses = sorted({report.status for report in reports})
    console.print("  ".join(f"{status}={sum(1 for r in reports if r.status == status)}" for status in statuses))


def _verdict_cell(check: dict | None) -> Text:
    if check is None:
        return Text("-")
    return Text(check["verdict"], style=VERDICT_STYLES.get(check["verdict"], ""))
