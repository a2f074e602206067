"""Options and helpers shared by the fleet commands: inventory, limits, forks, SSH, output."""

from __future__ import annotations

import getpass
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from fleetroute.cli.output import HostPrinter, print_json, print_recap
from fleetroute.connectors.ssh import ConnectOptions
from fleetroute.errors import InventoryError
from fleetroute.inventory import Host, load_inventory
from fleetroute.report import exit_code
from fleetroute.runner import Task, run_on_hosts

log = logging.getLogger(__name__)

InventoryOption = Annotated[
    Path, typer.Option(
        "--inventory", "-i", help="Ansible-style YAML inventory file, or a directory of them.", show_default=False
    )
]
LimitOption = Annotated[
    Optional[str],
    typer.Option("--limit", "-l", help="Host pattern: names, groups, globs, 'a,b', '!exclude', '&intersect'."),
]
ForksOption = Annotated[int, typer.Option("--forks", "-f", min=1, help="Hosts worked on at once.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
SshConfigOption = Annotated[
    Optional[Path],
    typer.Option("--ssh-config", help="OpenSSH client config file; overrides the inventory's ssh_config_file."),
]
ConnectTimeoutOption = Annotated[
    Optional[float],
    typer.Option(
        "--connect-timeout",
        min=0.1,
        help="Seconds to wait for TCP connect, SSH banner and auth (default: the SSH config's ConnectTimeout, else 10).",
        show_default=False,
    ),
]
CommandTimeoutOption = Annotated[
    float, typer.Option("--command-timeout", min=0.1, help="Seconds one remote command may run.")
]
AcceptKeysOption = Annotated[
    bool,
    typer.Option("--accept-new-host-keys", help="Record unknown host keys in known_hosts (OpenSSH accept-new)."),
]
AskBecomePassOption = Annotated[
    bool,
    typer.Option(
        "--ask-become-pass",
        "-K",
        help="Ask once for the sudo password of become hosts; hosts with passwordless sudo are not sent it.",
    ),
]
VerboseOption = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-v info, -vv debug).")]



def load_selection(inventory_path: Path, limit: str | None) -> list[Host]:
    """Load the inventory, select the hosts of ``limit`` and log the inventory's notices about them.

    Raises ``InventoryError`` for an invalid inventory or a limit that matches nothing.
    """
    inventory = load_inventory(inventory_path)
    hosts = inventory.select(limit)
    for notice in inventory.notices_for(hosts):
        log.warning("%s", notice)
    return hosts


def select_hosts(inventory_path: Path, limit: str | None, ssh_config: Path | None = None) -> list[Host]:
    """Load the inventory, select the hosts of ``limit`` and check their local SSH files.

    Raises ``InventoryError`` for an invalid inventory, a limit that matches nothing,
    or an SSH config or private key file that does not exist on this machine, all
    before any host is contacted. Logs the inventory's notices about the selected hosts.
    """
    hosts = load_selection(inventory_path, limit)
    problems: dict[str, str] = {}
    if ssh_config is not None and not ssh_config.is_file():
        problems[str(ssh_config)] = f"--ssh-config {ssh_config}: file not found"
    for host in hosts:
        settings = host.settings
        files = {
            "ssh_config_file": None if ssh_config is not None else settings.ssh_config_file,
            "ansible_ssh_private_key_file": settings.ansible_ssh_private_key_file,
        }
        for key, value in files.items():
            if value and not Path(value).expanduser().is_file() and value not in problems:
                problems[value] = f"host {host.name!r}: {key}: {value} not found on this machine; fix the path"
    if problems:
        raise InventoryError([f"{inventory_path}: {problem}" for problem in problems.values()])
    return hosts


def run_fleet(
    command: str,
    inventory_path: Path,
    limit: str | None,
    forks: int,
    json_output: bool,
    task: Task,
    title: str,
    connect: ConnectOptions,
    *,
    check: bool = False,
    ssh_config: Path | None = None,
    print_extra: Callable[[list], None] | None = None,
) -> None:
    """Load the inventory, run ``task`` on the selected hosts, print the results and exit.

    Raises ``typer.Exit`` with the run's exit code (0, or the 2/4 bits), and lets
    ``InventoryError`` through for the CLI's error mapping.
    """
    hosts = select_hosts(inventory_path, limit, ssh_config)
    printer = HostPrinter([h.name for h in hosts], check=check, quiet=json_output)
    reports = run_on_hosts(hosts, task, connect=connect, forks=forks, on_done=printer)
    status = exit_code(reports)
    if json_output:
        print_json(command, reports, status, check=check)
    else:
        print_recap(reports, title)
        if print_extra:
            print_extra(reports)
    raise typer.Exit(status)


def connect_options(
    ssh_config: Path | None,
    connect_timeout: float | None,
    command_timeout: float,
    accept_new_host_keys: bool,
    ask_become_pass: bool = False,
) -> ConnectOptions:
    """Return the run's connection options from the shared command-line options.

    With ``ask_become_pass``, prompts once for the sudo password (without echo when
    stdin is a terminal). Raises ``typer.Exit`` with code 2 when no password is entered.
    """
    become_password = None
    if ask_become_pass:
        become_password = getpass.getpass("BECOME password: ")
        if not become_password:
            typer.echo("fleetroute: --ask-become-pass: no password entered", err=True)
            raise typer.Exit(2)
    return ConnectOptions(
        ssh_config_file=str(ssh_config) if ssh_config else None,
        connect_timeout=connect_timeout,
        command_timeout=command_timeout,
        accept_new_host_keys=accept_new_host_keys,
        become_password=become_password,
    )


class _LevelFormatter(logging.Formatter):
    """Format a record as ``warning: MESSAGE``, like the CLI's other messages; with names, ``warning NAME: MESSAGE``."""

    def __init__(self, with_names: bool):
        super().__init__("%(message)s")
        self.with_names = with_names

    def format(self, record: logging.LogRecord) -> str:
        name = f" {record.name}" if self.with_names else ""
        return f"{record.levelname.lower()}{name}: {super().format(record)}"


def setup_logging(verbose: int) -> None:
    """Send log records to stderr: warnings by default, info with -v, debug (with logger names) with -vv."""
    levels = {0: logging.WARNING, 1: logging.INFO}
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelFormatter(with_names=verbose >= 2))
    logging.basicConfig(level=levels.get(verbose, logging.DEBUG), handlers=[handler])
    if verbose < 2:
        # paramiko logs connection failures that fleetroute reports per host itself.
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
