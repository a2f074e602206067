"""fleetroute verify: check that the router on each host is installed and routes as configured.

Per host: the install (BINARY links to the deployed router, BINARY-real runs, log and
lock directories are writable by run_as), the GPU inventory, both paths on sample
inputs, and blocking with every slot held. ``task.verify_host`` is the per-host
task, and ``checks`` defines the verdicts and the exit code they add up to.
"""

from fleetroute.operations.verify.checks import (
    CHECKS,
    DEGRADED_STATUS,
    INCOMPLETE,
    Check,
    host_status,
    verify_exit_code,
)
from fleetroute.operations.verify.task import VerifyOptions, verify_host

__all__ = [
    "CHECKS",
    "DEGRADED_STATUS",
    "INCOMPLETE",
    "Check",
    "VerifyOptions",
    "host_status",
    "verify_exit_code",
    "verify_host",
]
