"""The ``fleetroute calibrate`` command: measure the workload on one host and propose its threshold."""

from __future__ import annotations

import json
import posixpath
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fleetroute.cli.common import (
    AcceptKeysOption,
    AskBecomePassOption,
    CommandTimeoutOption,
    ConnectTimeoutOption,
    InventoryOption,
    JsonOption,
    SshConfigOption,
    VerboseOption,
    connect_options,
    select_hosts,
    setup_logging,
)
from fleetroute.cli.output import STYLES
from fleetroute.connectors.ssh import SSHHost
from fleetroute.errors import FleetrouteError, InventoryError
from fleetroute.inventory import Host
from fleetroute.operations.calibrate import Calibration, CalibrateOptions, calibrate_host
from fleetroute.operations.calibrate.fit import DEFAULT_MARGIN, DEFAULT_MIN_R2
from fleetroute.report import HostReport, exit_code
from fleetroute.runner import run_on_hosts

ENV_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

def calibrate(
    inventory: InventoryOption,
    host: Annotated[str, typer.Option("--host", help="Inventory name of the one host to calibrate.")],
    inputs: Annotated[
        str,
        typer.Option("--inputs", help="Directory on the host with the sample inputs (its files, not subdirectories)."),
    ],
    json_output: JsonOption = False,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Also write a PNG of peak VRAM against the metric.")
    ] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Write the proposed values into the host's entry of the inventory file.")
    ] = False,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, max=0.9, help="Share of the GPU's VRAM kept free (0.1 = 10%).")
    ] = DEFAULT_MARGIN,
    min_r2: Annotated[
        float, typer.Option("--min-r2", min=0.0, max=1.0, help="Smallest R² of the fit that gets a threshold.")
    ] = DEFAULT_MIN_R2,
    run_timeout: Annotated[
        Optional[int],
        typer.Option("--run-timeout", min=1, help="Seconds one run may take (default: verify_job_timeout_seconds)."),
    ] = None,
    max_inputs: Annotated[int, typer.Option("--max-inputs", min=1, help="Most inputs run, in name order.")] = 20,
    input_flag: Annotated[
        str, typer.Option("--input-flag", help="Option that precedes the input, such as --input (default: none).")
    ] = "",
    env: Annotated[
        Optional[list[str]], typer.Option("--env", help="NAME=VALUE added to each run's environment; repeatable.")
    ] = None,
    ssh_config: SshConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    command_timeout: CommandTimeoutOption = 120.0,
    accept_new_host_keys: AcceptKeysOption = False,
    ask_become_pass: AskBecomePassOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Run the workload on each sample input, fit peak VRAM against the metric and propose threshold_value.

    Exits 0 when a threshold is proposed, 2 when none is (the reason is printed), 4 when the host is unreachable.
    """
    setup_logging(verbose)
    if plot is not None:
        from fleetroute.logs.plot import check_matplotlib

        check_matplotlib()
    for entry in env or ():
        if not ENV_ENTRY.match(entry):
            raise typer.BadParameter(f"{entry!r} is not NAME=VALUE with a shell variable name", param_hint="--env")
    selected = _one_host(inventory, host, ssh_config)
    if write:
        from fleetroute.operations.calibrate.write import check_writable

        check_writable(inventory, selected.name)
    options = CalibrateOptions(
        connect=connect_options(ssh_config, connect_timeout, command_timeout, accept_new_host_keys, ask_become_pass),
        inputs_dir=inputs,
        run_timeout_s=run_timeout or selected.settings.verify_job_timeout_seconds,
        max_inputs=max_inputs,
        margin=margin,
        min_r2=min_r2,
        input_flag=input_flag,
        env=tuple(env or ()),
    )
    results: dict[str, Calibration] = {}

    def task(target: Host, ssh: SSHHost, report: HostReport) -> None:
        results[target.name] = calibrate_host(target, ssh, report, options)

    (report,) = run_on_hosts([selected], task, connect=options.connect, forks=1)
    calibration = results.get(selected.name)
    status = exit_code([report])
    written = _write_back(inventory, selected.name, calibration) if write and calibration else None
    if plot is not None and calibration is not None:
        _write_plot(calibration, selected.settings.threshold_unit, plot)
    if json_output:
        _print_json(report, calibration, status, written)
    else:
        _print_text(report, calibration, selected, written)
    raise typer.Exit(status)


def _one_host(inventory: Path, name: str, ssh_config: Path | None) -> Host:
    hosts = [host for host in select_hosts(inventory, name, ssh_config) if host.name == name]
    if not hosts:
        raise InventoryError([f"{inventory}: host {name!r} not found; --host takes one inventory host name"])
    return hosts[0]


def proposed_values(calibration: Calibration) -> dict[str, tuple[int, str]]:
    """Return the inventory variables that the proposal sets, as name: (value, note); empty without a threshold."""
    proposal = calibration.proposal
    if proposal is None or proposal.threshold_value is None or proposal.fit is None:
        return {}
    fit = proposal.fit
    values = {
        "threshold_value": (
            proposal.threshold_value,
            f"R² {fit.r_squared:.3f} over {fit.points} runs, {proposal.margin:.0%} VRAM margin",
        ),
        "workload_vram_mb": (proposal.workload_vram_mb, "predicted peak VRAM at the threshold"),
    }
    return values


def _write_back(inventory: Path, host: str, calibration: Calibration) -> Path | None:
    """Write the proposal into the inventory and return the file written, or None when there is nothing to write."""
    from fleetroute.operations.calibrate.write import write_proposal

    values = proposed_values(calibration)
    if not values:
        return None
    return write_proposal(inventory, host, values)


def _write_plot(calibration: Calibration, unit: str, path: Path) -> None:
    from fleetroute.operations.calibrate.plot import write_calibration_plot

    try:
        write_calibration_plot(calibration, unit, path)
    except OSError as exc:
        raise FleetrouteError(f"cannot write the plot to {path}: {exc.strerror or exc}") from None


def _print_json(report: HostReport, calibration: Calibration | None, status: int, written: Path | None) -> None:
    document = {
        "command": "calibrate",
        "host": report.name,
        "status": report.status,
        "error": report.error,
        "calibration": calibration.to_dict() if calibration else None,
        "written": written is not None,
        "written_to": str(written) if written else None,
        "exit_code": status,
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _print_text(report: HostReport, calibration: Calibration | None, host: Host, written: Path | None) -> None:
    console = Console(highlight=False, soft_wrap=True)
    if calibration is None:
        console.print(Text(f"{report.name}: {report.status}: {report.error}", style=STYLES.get(report.status, "")))
        return
    unit = host.settings.threshold_unit
    console.print(_runs_table(calibration, unit))
    for path, reason in calibration.skipped:
        console.print(f"skipped {posixpath.basename(path)}: {reason}", markup=False)
    if calibration.stopped_for_memory:
        console.print(Text("stopped early: the last run failed for memory, so larger inputs were not run", style="red"))
    for line in _proposal_lines(calibration, unit, host):
        console.print(line, markup=False)
    if written:
        console.print(
            f"wrote {', '.join(proposed_values(calibration))} into the entry of {host.name} in {written}", markup=False
        )


def _runs_table(calibration: Calibration, unit: str) -> Table:
    table = Table(title=f"calibration runs of {calibration.binary}", title_justify="left")
    for name in ("input", f"metric ({unit})", "exit", "time (s)", "peak VRAM (MB)", "peak RAM (MB)", "samples"):
        table.add_column(name, no_wrap=True, justify="left" if name == "input" else "right")
    for run in calibration.runs:
        exit_text = Text(str(run.exit_code), style="" if run.exit_code == 0 else "red")
        if run.oom:
            exit_text.append(" (out of memory)")
        elif run.timed_out:
            exit_text.append(" (timed out)")
        table.add_row(
            posixpath.basename(run.path),
            f"{run.metric:g}",
            exit_text,
            f"{run.seconds:.1f}",
            "?" if run.peak_vram_mb is None else str(run.peak_vram_mb),
            "?" if run.peak_ram_mb is None else str(run.peak_ram_mb),
            str(run.samples),
        )
    return table


def _proposal_lines(calibration: Calibration, unit: str, host: Host) -> list[str]:
    proposal = calibration.proposal
    if proposal is None:
        return []
    lines = []
    if proposal.fit:
        fit = proposal.fit
        r_squared = "undefined" if fit.r_squared is None else f"{fit.r_squared:.3f}"
        lines.append(
            f"fit: peak VRAM = {fit.intercept:.0f} MB + {fit.slope:.4g} MB x metric "
            f"(R² {r_squared}, {fit.points} runs)"
        )
    if proposal.threshold_value is None:
        lines.append(f"no threshold proposed: {proposal.reason}")
    else:
        lines.append(
            f"proposed threshold_value: {proposal.threshold_value} {unit} "
            f"(now {host.settings.threshold_value}; {proposal.max_gpu_jobs} GPU job(s) in {proposal.gpu_vram_mb} MB "
            f"less {proposal.margin:.0%})"
        )
        lines.append(f"proposed workload_vram_mb: {proposal.workload_vram_mb} (predicted VRAM at the threshold)")
    if proposal.gpu_run_ram_mb is not None:
        lines.append(
            f"peak RAM of the GPU runs + 20%: {proposal.gpu_run_ram_mb} MB. Not proposed as workload_ram_mb, which is "
            f"the RAM of one CPU-path job and sets MemoryMax; measure a large input on the CPU path for it"
        )
    lines += [f"note: {note}" for note in proposal.notes]
    return lines
