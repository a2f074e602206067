"""The ``fleetroute`` command. Thin: parse options, call the library, print, exit.

Exit codes, mapped in ``run()`` only:
  0    every host ok or changed
  2    at least one host failed (bit 2)
  4    at least one host unreachable (bit 4); 6 when both
  1    invalid inventory or configuration; nothing was touched
  64   invalid command-line usage
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

try:  # Recent typer releases vendor click under a private name.
    from typer._click.exceptions import UsageError
except ImportError:
    from click.exceptions import UsageError

from fleetroute import __version__
from fleetroute.cli.output import HostPrinter, print_json, print_recap
from fleetroute.connectors.ssh import ConnectOptions
from fleetroute.errors import FleetrouteError, InventoryError
from fleetroute.inventory import load_inventory
from fleetroute.operations.deploy import DeployOptions, deploy_host, uninstall_host
from fleetroute.report import EXIT_INTERRUPTED, exit_code
from fleetroute.runner import DEFAULT_FORKS, run_on_hosts

EXIT_CONFIG = 1
EXIT_USAGE = 64

app = typer.Typer(
    name="fleetroute",
    help="Deploy, verify and tune a GPU/CPU job router on a fleet of hosts over SSH.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

InventoryOption = Annotated[
    Path, typer.Option("--inventory", "-i", help="Ansible-style YAML inventory file.", show_default=False)
]
LimitOption = Annotated[
    Optional[str],
    typer.Option("--limit", "-l", help="Host pattern: names, groups, globs, 'a,b', '!exclude', '&intersect'."),
]
ForksOption = Annotated[int, typer.Option("--forks", "-f", min=1, help="Maximum hosts worked on at once (hosts).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
SshConfigOption = Annotated[
    Optional[Path],
    typer.Option("--ssh-config", help="OpenSSH client config file; overrides the inventory's ssh_config_file."),
]
ConnectTimeoutOption = Annotated[
    float, typer.Option("--connect-timeout", min=0.1, help="Seconds to wait for TCP connect, SSH banner and auth.")
]
CommandTimeoutOption = Annotated[
    float, typer.Option("--command-timeout", min=0.1, help="Seconds one remote command may run.")
]
AcceptKeysOption = Annotated[
    bool,
    typer.Option("--accept-new-host-keys", help="Record unknown host keys in known_hosts (OpenSSH accept-new)."),
]
VerboseOption = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-v info, -vv debug).")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fleetroute {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Deploy, verify and tune a GPU/CPU job router on a fleet of hosts over SSH."""


@app.command()
def deploy(
    inventory: InventoryOption,
    limit: LimitOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    check: Annotated[bool, typer.Option("--check", help="Change nothing; report what would change.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show the diff of the router against the installed one.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Deploy even when the memory budget is negative.")] = False,
    json_output: JsonOption = False,
    ssh_config: SshConfigOption = None,
    connect_timeout: ConnectTimeoutOption = 10.0,
    command_timeout: CommandTimeoutOption = 120.0,
    accept_new_host_keys: AcceptKeysOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Install or update the router in front of the workload binary on every host."""
    _setup_logging(verbose)
    options = DeployOptions(
        connect=_connect_options(ssh_config, connect_timeout, command_timeout, accept_new_host_keys),
        check=check,
        diff=diff,
        force=force,
    )
    title = "deploy recap" + (" (check mode: nothing was changed)" if check else "")
    _run("deploy", inventory, limit, forks, json_output, check, lambda h, r: deploy_host(h, r, options), title)


@app.command()
def uninstall(
    inventory: InventoryOption,
    limit: LimitOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    check: Annotated[bool, typer.Option("--check", help="Change nothing; report what would change.")] = False,
    json_output: JsonOption = False,
    ssh_config: SshConfigOption = None,
    connect_timeout: ConnectTimeoutOption = 10.0,
    command_timeout: CommandTimeoutOption = 120.0,
    accept_new_host_keys: AcceptKeysOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Restore the original workload binary everywhere and remove the router."""
    _setup_logging(verbose)
    options = DeployOptions(
        connect=_connect_options(ssh_config, connect_timeout, command_timeout, accept_new_host_keys), check=check
    )
    title = "uninstall recap" + (" (check mode: nothing was changed)" if check else "")
    _run("uninstall", inventory, limit, forks, json_output, check, lambda h, r: uninstall_host(h, r, options), title)


@app.command("inventory")
def show_inventory(
    inventory: InventoryOption,
    limit: LimitOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the selected hosts with their groups and resolved settings."""
    hosts = load_inventory(inventory).select(limit)
    if json_output:
        print_json("inventory", [], 0, inventory={h.name: _host_summary(h) for h in hosts})
        return
    console = Console(highlight=False)
    for host in hosts:
        console.print(f"[bold]{host.name}[/bold]  groups: {', '.join(host.groups) or '-'}")
        for key, value in _host_summary(host)["settings"].items():
            console.print(f"  {key}: {value!r}", markup=False)


def _host_summary(host) -> dict:
    settings = {key: value for key, value in vars(host.settings).items() if value is not None}
    return {"groups": list(host.groups), "settings": settings}


def _run(command, inventory_path, limit, forks, json_output, check, task, title) -> None:
    hosts = load_inventory(inventory_path).select(limit)
    printer = HostPrinter([h.name for h in hosts], check=check, quiet=json_output)
    reports = run_on_hosts(hosts, task, forks=forks, on_done=printer)
    status = exit_code(reports)
    if json_output:
        print_json(command, reports, status, check=check)
    else:
        print_recap(reports, title)
    raise typer.Exit(status)


def _connect_options(ssh_config, connect_timeout, command_timeout, accept_new_host_keys) -> ConnectOptions:
    return ConnectOptions(
        ssh_config_file=str(ssh_config) if ssh_config else None,
        connect_timeout=connect_timeout,
        command_timeout=command_timeout,
        accept_new_host_keys=accept_new_host_keys,
    )


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose < 2:
        logging.getLogger("paramiko").setLevel(logging.WARNING)


def exit_status(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return its exit code; the one place errors map to codes."""
    err = Console(stderr=True, highlight=False)
    try:
        result = app(args=argv, standalone_mode=False)
    except InventoryError as exc:
        for problem in exc.problems:
            err.print(f"error: {problem}", markup=False)
        return EXIT_CONFIG
    except FleetrouteError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_CONFIG
    except UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(exit_status())
