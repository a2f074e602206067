"""Exception hierarchy: every error fleetroute raises derives from FleetrouteError.

The CLI maps these classes to exit codes in one place (``fleetroute.cli.main``).
Messages never contain secrets: callers pass values that came from the inventory
or the host, never passwords or key material.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetroute.connectors.ssh import CommandResult


class FleetrouteError(Exception):
    """Root of every error raised by fleetroute."""


class InventoryError(FleetrouteError):
    """The inventory file is unreadable or invalid; raised before any host is contacted.

    ``problems`` lists one message per invalid value, each naming the file, the line
    where known, the host or group, the key, the bad value and what is expected.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class HostError(FleetrouteError):
    """Base of errors that concern one host; ``host`` is the inventory name."""

    def __init__(self, host: str, message: str):
        self.host = host
        self.message = message
        super().__init__(f"{host}: {message}")


class UnreachableError(HostError):
    """The host could not be connected to or authenticated against."""


class Aborted(UnreachableError):
    """The run was interrupted (Ctrl-C) and closed this host's connection."""


class HostKeyError(UnreachableError):
    """The host key is unknown or does not match known_hosts; the message carries the fix."""


class CommandTimeout(HostError):
    """A remote command did not finish within the command timeout."""


class CommandError(HostError):
    """A remote command exited non-zero; ``result`` carries its exit code and output."""

    def __init__(self, host: str, message: str, result: CommandResult):
        self.result = result
        super().__init__(host, message)


class ProbeError(HostError):
    """The host probe returned output that could not be understood."""


class PreflightError(FleetrouteError):
    """A pre-flight check failed on a host: no usable GPU, a negative budget, a missing tool."""


class InstallError(FleetrouteError):
    """The install state found on a host has no safe way forward; the message gives the fix.

    Raised by pure planning code that does not know the host's name; the runner
    reports it against the host it was planning for.
    """
