"""The ``fleetroute`` command. Thin: parse options, call the library, print, exit.

Exit codes, mapped in ``exit_status()`` only:
  0    every host ok or changed (verify: every check passed)
  2    at least one host failed (bit 2); for verify also degraded or incomplete
  4    at least one host unreachable (bit 4); 6 when both
  1    invalid inventory or configuration; nothing was touched
  64   invalid command-line usage
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

try:  # Recent typer releases vendor click under a private name.
    from typer._click.exceptions import UsageError
except ImportError:
    from click.exceptions import UsageError

from fleetroute import __version__
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
    load_selection,
    run_fleet,
    setup_logging,
)
from fleetroute.cli import logstats
from fleetroute.cli.budget import budget
from fleetroute.cli.calibrate import calibrate
from fleetroute.cli.output import ReaderClosedSafeStream, print_json
from fleetroute.cli.verify import verify
from fleetroute.errors import FleetrouteError, InventoryError
from fleetroute.operations.deploy import DeployOptions, deploy_host, uninstall_host
from fleetroute.report import EXIT_INTERRUPTED
from fleetroute.runner import DEFAULT_FORKS
from fleetroute.settings import SECRET_VARIABLES

EXIT_CONFIG = 1
EXIT_USAGE = 64

app = typer.Typer(
    name="fleetroute",
    help="Deploy, verify and tune a GPU/CPU job router on a fleet of hosts over SSH.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
    connect_timeout: ConnectTimeoutOption = None,
    command_timeout: CommandTimeoutOption = 120.0,
    accept_new_host_keys: AcceptKeysOption = False,
    ask_become_pass: AskBecomePassOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Install or update the router in front of the workload binary on every host."""
    setup_logging(verbose)
    options = DeployOptions(
        connect=connect_options(ssh_config, connect_timeout, command_timeout, accept_new_host_keys, ask_become_pass),
        check=check,
        diff=diff,
        force=force,
    )
    title = "deploy recap" + (" (check mode: nothing was changed)" if check else "")
    task = lambda host, ssh, report: deploy_host(host, ssh, report, options)  # noqa: E731
    run_fleet("deploy", inventory, limit, forks, json_output, task, title, options.connect, check=check, ssh_config=ssh_config)


@app.command()
def uninstall(
    inventory: InventoryOption,
    limit: LimitOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    check: Annotated[bool, typer.Option("--check", help="Change nothing; report what would change.")] = False,
    json_output: JsonOption = False,
    ssh_config: SshConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    command_timeout: CommandTimeoutOption = 120.0,
    accept_new_host_keys: AcceptKeysOption = False,
    ask_become_pass: AskBecomePassOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Restore the original workload binary everywhere and remove the router."""
    setup_logging(verbose)
    options = DeployOptions(
        connect=connect_options(ssh_config, connect_timeout, command_timeout, accept_new_host_keys, ask_become_pass), check=check
    )
    title = "uninstall recap" + (" (check mode: nothing was changed)" if check else "")
    task = lambda host, ssh, report: uninstall_host(host, ssh, report, options)  # noqa: E731
    run_fleet("uninstall", inventory, limit, forks, json_output, task, title, options.connect, check=check, ssh_config=ssh_config)


app.command("verify")(verify)
app.command("log-stats")(logstats.log_stats)
app.command("budget")(budget)
app.command("calibrate")(calibrate)


@app.command("inventory")
def show_inventory(
    inventory: InventoryOption,
    limit: LimitOption = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """List the selected hosts with their groups and resolved settings."""
    setup_logging(verbose)
    hosts = load_selection(inventory, limit)
    if json_output:
        print_json("inventory", [], 0, inventory={h.name: _host_summary(h) for h in hosts})
        return
    console = Console(highlight=False, soft_wrap=True)
    for host in hosts:
        console.print(f"[bold]{host.name}[/bold]  groups: {', '.join(host.groups) or '-'}")
        for key, value in _host_summary(host)["settings"].items():
            # JSON spelling: the same as YAML's for these values, and unambiguous for strings.
            console.print(f"  {key}: {json.dumps(value, ensure_ascii=False)}", markup=False)


def _host_summary(host) -> dict:
    settings = {key: value for key, value in vars(host.settings).items() if value is not None}
    for key in SECRET_VARIABLES & settings.keys():
        settings[key] = "********"
    return {"groups": list(host.groups), "settings": settings}


def exit_status(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return its exit code; the one place errors map to codes."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = app(args=argv, standalone_mode=False)
    except InventoryError as exc:
        for problem in exc.problems:
            err.print(f"error: {problem}", markup=False)
        _print_json_errors(argv, exc.problems)
        return EXIT_CONFIG
    except FleetrouteError as exc:
        err.print(f"error: {exc}", markup=False)
        _print_json_errors(argv, [str(exc)])
        return EXIT_CONFIG
    except UsageError as exc:
        exc.show()
        _print_json_errors(argv, [exc.format_message()], EXIT_USAGE)
        return EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0


def _print_json_errors(argv: list[str] | None, errors: list[str], status: int = EXIT_CONFIG) -> None:
    """Print the JSON document of a run stopped before any host, when the command line has --json."""
    args = sys.argv[1:] if argv is None else argv
    if "--json" not in args:
        return
    command = next((arg for arg in args if not arg.startswith("-")), "")
    print_json(command, [], status, errors=errors)


def run() -> None:
    """Console-script entry point; output to a pipe whose reader exits early is dropped, not an error."""
    sys.stdout = ReaderClosedSafeStream(sys.stdout)
    sys.exit(exit_status())
