"""Run one task per host in parallel, bounded by ``forks``; one bad host never hides the others."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from fleetroute.errors import FleetrouteError, HostError, UnreachableError
from fleetroute.inventory import Host
from fleetroute.report import FAILED, INTERRUPTED, UNREACHABLE, HostReport

log = logging.getLogger(__name__)

DEFAULT_FORKS = 16

Task = Callable[[Host, HostReport], None]


def run_task(host: Host, task: Task) -> HostReport:
    """Run ``task`` on one host and turn any error into the report's status.

    ``task`` fills in the report it is given and raises on failure. Unreachable
    hosts get ``unreachable``; every other error, expected or not, gets ``failed``.
    """
    report = HostReport(host.name)
    started = time.monotonic()
    try:
        task(host, report)
    except UnreachableError as exc:
        report.status, report.error = UNREACHABLE, exc.message
    except HostError as exc:
        report.status, report.error = FAILED, exc.message
    except FleetrouteError as exc:
        report.status, report.error = FAILED, str(exc)
    except Exception as exc:  # A bug must fail its host, not the whole run.
        log.exception("%s: unexpected error", host.name)
        report.status, report.error = FAILED, f"internal error: {type(exc).__name__}: {exc}"
    report.duration_s = round(time.monotonic() - started, 3)
    return report


def run_on_hosts(
    hosts: list[Host],
    task: Task,
    *,
    forks: int = DEFAULT_FORKS,
    on_done: Callable[[HostReport], None] | None = None,
) -> list[HostReport]:
    """Run ``task`` on every host, at most ``forks`` at once, and return reports in inventory order.

    ``on_done`` is called with each report as its host finishes. On Ctrl-C, hosts
    not yet started are reported ``interrupted``; hosts in flight finish their
    current step (each remote step is atomic) and keep their status.
    """
    reports: dict[str, HostReport] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, forks), thread_name_prefix="host")
    futures: dict[Future, Host] = {pool.submit(run_task, host, task): host for host in hosts}
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                report = future.result()
                reports[report.name] = report
                if on_done:
                    on_done(report)
    except KeyboardInterrupt:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        for future, host in futures.items():
            if host.name not in reports:
                reports[host.name] = _finished_or_interrupted(future, host)
        return [reports[host.name] for host in hosts]
    pool.shutdown(wait=True)
    return [reports[host.name] for host in hosts]


def _finished_or_interrupted(future: Future, host: Host) -> HostReport:
    if future.done() and not future.cancelled():
        return future.result()
    return HostReport(host.name, status=INTERRUPTED, error="interrupted before this host started")
