"""Per-host results of a run, and the exit code they add up to."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

OK, CHANGED, FAILED, UNREACHABLE, INTERRUPTED = "ok", "changed", "failed", "unreachable", "interrupted"
STATUSES = (OK, CHANGED, FAILED, UNREACHABLE, INTERRUPTED)

EXIT_OK = 0
EXIT_HOST_FAILED = 2
EXIT_HOST_UNREACHABLE = 4
EXIT_INTERRUPTED = 130


@dataclass
class HostReport:
    """Outcome of one host: status, changes made (or, under --check, planned) and facts seen."""

    name: str
    status: str = OK
    changes: list[str] = field(default_factory=list)
    error: str | None = None
    gpu_usable: bool | None = None
    gpus: list[dict] = field(default_factory=list)
    budget: dict | None = None
    warnings: list[str] = field(default_factory=list)
    diff: str | None = None
    duration_s: float = 0.0

    def to_dict(self) -> dict:
        """Return the report as a JSON-ready dict."""
        data = asdict(self)
        data.pop("name")
        return data


def exit_code(reports: list[HostReport]) -> int:
    """Return the run's exit code: 2 if any host failed, 4 if any was unreachable, both bits if both.

    A run with an interrupted host exits 130 (128 + SIGINT), as a shell reports Ctrl-C.
    """
    statuses = {report.status for report in reports}
    if INTERRUPTED in statuses:
        return EXIT_INTERRUPTED
    code = EXIT_OK
    if FAILED in statuses:
        code |= EXIT_HOST_FAILED
    if UNREACHABLE in statuses:
        code |= EXIT_HOST_UNREACHABLE
    return code
