"""Check verdicts, and the host status and exit code that they add up to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fleetroute.report import EXIT_HOST_FAILED, EXIT_INTERRUPTED, FAILED, OK, HostReport, exit_code

PASS, FAIL, SKIPPED, DEGRADED = "pass", "fail", "skipped", "degraded"
VERDICTS = (PASS, FAIL, SKIPPED, DEGRADED)

# Host statuses that verify adds to the report's: a host whose GPUs are missing or
# whose driver does not respond, and a host on which some check could not run.
DEGRADED_STATUS = "degraded"
INCOMPLETE = "incomplete"

INSTALL, GPUS, GPU_PATH, CPU_PATH, GPU_BLOCKING, CPU_BLOCKING = (
    "install",
    "gpus",
    "gpu_path",
    "cpu_path",
    "gpu_blocking",
    "cpu_blocking",
)
CHECKS = (INSTALL, GPUS, GPU_PATH, CPU_PATH, GPU_BLOCKING, CPU_BLOCKING)


@dataclass
class Check:
    """Verdict of one check on one host: pass, fail, skipped or degraded.

    ``reason`` explains why a check did not pass, in words an operator can act on.
    ``evidence`` contains what the verdict rests on (log lines, exit codes, timings,
    GPU memory samples), JSON-ready.
    """

    verdict: str
    reason: str = ""
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return the check as a JSON-ready dict."""
        return {"verdict": self.verdict, "reason": self.reason, "evidence": self.evidence}


def host_status(checks: Mapping[str, Check]) -> str:
    """Return the host status for its checks.

    Any failed check makes the host ``failed``; otherwise a degraded GPU inventory
    makes it ``degraded``, and a skipped check ``incomplete``. Only a host whose
    every check passed is ``ok``.
    """
    verdicts = {check.verdict for check in checks.values()}
    if FAIL in verdicts:
        return FAILED
    if DEGRADED in verdicts:
        return DEGRADED_STATUS
    if SKIPPED in verdicts:
        return INCOMPLETE
    return OK


def verify_exit_code(reports: list[HostReport]) -> int:
    """Return the exit code of a verify run: 0 only when every check passed on every host.

    The bits are deploy's (``report.exit_code``): 2 for a failed host, and here also
    for a degraded or incomplete one; 4 for an unreachable host; 130 when interrupted.
    """
    code = exit_code(reports)
    if code == EXIT_INTERRUPTED:
        return code
    if any(report.status in (DEGRADED_STATUS, INCOMPLETE) for report in reports):
        code |= EXIT_HOST_FAILED
    return code
