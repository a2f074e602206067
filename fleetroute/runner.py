"""Run one task per host in parallel, bounded by ``forks``; one bad host never hides the others.

Ctrl-C stops the run promptly: hosts not started yet are skipped, and the SSH
connections of hosts in flight are closed, so their current remote step either
completes or never starts. Every install step on a host is safe to cut at any
point (see ``templates/remote/install.sh``), and such hosts are reported
``interrupted``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from fleetroute.connectors import ssh
from fleetroute.errors import Aborted, FleetrouteError, HostError, UnreachableError
from fleetroute.inventory import Host
from fleetroute.report import FAILED, INTERRUPTED, UNREACHABLE, HostReport

log = logging.getLogger(__name__)

DEFAULT_FORKS = 16

Task = Callable[[Host, HostReport], None]


class Interrupted(FleetrouteError):
    """The run was interrupted (Ctrl-C) before this host finished."""


# Set on Ctrl-C. One run at a time per process, which is how the CLI uses it.
_cancelled = threading.Event()


def checkpoint(step: str) -> None:
    """Raise ``Interrupted`` when the run was interrupted; tasks call it before each step that changes a host."""
    if _cancelled.is_set():
        raise Interrupted(f"interrupted before {step}; nothing of that step was done")


def run_task(host: Host, task: Task) -> HostReport:
    """Run ``task`` on one host and turn any error into the report's status.

    ``task`` fills in the report it is given and raises on failure. Unreachable
    hosts get ``unreachable``; every other error, expected or not, gets ``failed``;
    any error after Ctrl-C gets ``interrupted``.
    """
    report = HostReport(host.name)
    started = time.monotonic()
    try:
        checkpoint("connecting")
        task(host, report)
    except Interrupted as exc:
        report.status, report.error = INTERRUPTED, str(exc)
    except FleetrouteError as exc:
        report.status, report.error = _classify(exc)
    except Exception as exc:  # A bug must fail its host, not the whole run.
        log.exception("%s: unexpected error", host.name)
        report.status, report.error = FAILED, f"internal error: {type(exc).__name__}: {exc}"
    report.duration_s = round(time.monotonic() - started, 3)
    return report


def _finish_despite_interrupts(pending: set[Future], collect: Callable[[set[Future]], None]) -> None:
    """Wait for the hosts in flight, which abort_all has cut off; a second Ctrl-C only closes again."""
    while pending:
        try:
            done, pending = wait(pending, timeout=0.2)
            collect(done)
        except KeyboardInterrupt:
            ssh.abort_all()


def _classify(exc: FleetrouteError) -> tuple[str, str]:
    message = exc.message if isinstance(exc, HostError) else str(exc)
    if isinstance(exc, Aborted):
        return INTERRUPTED, message
    if _cancelled.is_set():
        return INTERRUPTED, f"interrupted: {message}"
    if isinstance(exc, UnreachableError):
        return UNREACHABLE, message
    return FAILED, message


def run_on_hosts(
    hosts: list[Host],
    task: Task,
    *,
    forks: int = DEFAULT_FORKS,
    on_done: Callable[[HostReport], None] | None = None,
) -> list[HostReport]:
    """Run ``task`` on every host, at most ``forks`` at once, and return reports in inventory order.

    ``on_done`` is called with each report as its host finishes. On Ctrl-C, the
    hosts that had not finished are reported ``interrupted`` and the reports are
    returned as usual, so the caller can print them and exit with 130.
    """
    _cancelled.clear()
    reports: dict[str, HostReport] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, forks), thread_name_prefix="host")
    pending: set[Future] = {pool.submit(run_task, host, task) for host in hosts}

    def collect(done: set[Future]) -> None:
        for future in done:
            if future.cancelled():
                continue
            report = future.result()
            reports[report.name] = report
            if on_done:
                on_done(report)

    try:
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            collect(done)
    except KeyboardInterrupt:
        log.warning("interrupted: stopping %d host(s) in flight", len(pending))
        _cancelled.set()
        ssh.abort_all()
        _finish_despite_interrupts(pending, collect)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    for host in hosts:
        if host.name not in reports:
            reports[host.name] = HostReport(host.name, status=INTERRUPTED, error="interrupted before this host started")
    return [reports[host.name] for host in hosts]
