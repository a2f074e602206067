"""Run one task per host in parallel, bounded by ``forks``; one bad host never hides the others.

A run has two phases. First every selected host is connected: host keys are
checked (and, with accept-new, recorded), login and sudo are tried. Only then
does any task start, on the hosts that connected, over the same connections.
So a wrong or unknown host key, a failed login or a rejected sudo password shows
up before any host is changed, and never stops a run half-way.

Ctrl-C stops the run promptly: hosts not started yet are skipped, and the SSH
connections of hosts in flight are closed, so their current remote step either
completes or never starts. Every install step on a host is safe to cut at any
point (see ``templates/remote/install.sh``), and such hosts are reported
``interrupted``.
"""

from __future__ import annotations

import logging
import resource
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from fleetroute.connectors import ssh
from fleetroute.connectors.ssh import ConnectOptions, SSHHost, Target
from fleetroute.errors import Aborted, FleetrouteError, HostError, UnreachableError
from fleetroute.inventory import Host
from fleetroute.report import FAILED, INTERRUPTED, UNREACHABLE, HostReport
from fleetroute.settings import proxy_jump_from_ssh_args

log = logging.getLogger(__name__)

DEFAULT_FORKS = 16

# File descriptors kept free for everything but the SSH connections held open between the phases.
_SPARE_FILES = 256

Task = Callable[[Host, SSHHost, HostReport], None]

# Ansible connection settings whose other values fleetroute cannot follow: it reaches
# hosts over SSH and, with become, runs sudo.
SUPPORTED_VALUES = {"ansible_connection": ("ssh", "smart", "paramiko"), "ansible_become_method": ("sudo",)}


class Interrupted(FleetrouteError):
    """The run was interrupted (Ctrl-C) before this host finished."""


# Set on Ctrl-C. One run at a time per process, which is how the CLI uses it.
_cancelled = threading.Event()


def checkpoint(step: str) -> None:
    """Raise ``Interrupted`` when the run was interrupted; tasks call it before each step that changes a host."""
    if _cancelled.is_set():
        raise Interrupted(f"interrupted before {step}; nothing of that step was done")


def target_for(host: Host) -> Target:
    """Return the SSH target of an inventory host: address, login, jump hosts and become settings."""
    settings = host.settings
    common_args = settings.ansible_ssh_common_args
    return Target(
        name=host.name,
        address=settings.ansible_host or host.name,
        port=settings.ansible_port,
        user=settings.ansible_user,
        key_file=settings.ansible_ssh_private_key_file,
        ssh_config_file=settings.ssh_config_file,
        proxy_jump=proxy_jump_from_ssh_args(common_args) if common_args else None,
        become=settings.become_enabled,
        become_user=settings.become_target_user,
        become_password=settings.become_secret,
    )


def unsupported_connection(host: Host) -> str | None:
    """Return why fleetroute cannot reach ``host`` as its Ansible variables ask, or None when it can."""
    for name, supported in SUPPORTED_VALUES.items():
        value = host.variables.get(name)
        if name == "ansible_become_method" and not host.settings.become_enabled:
            continue
        if value is not None and str(value) not in supported:
            return (
                f"{name} is {value!r}, but fleetroute only uses {' or '.join(supported)}; "
                f"change {name} for this host or leave it out with --limit '!{host.name}'"
            )
    return None


def run_on_hosts(
    hosts: list[Host],
    task: Task,
    *,
    connect: ConnectOptions,
    forks: int = DEFAULT_FORKS,
    on_done: Callable[[HostReport], None] | None = None,
) -> list[HostReport]:
    """Connect every host, then run ``task`` on each connected one; return reports in inventory order.

    At most ``forks`` hosts are worked on at once, in each phase. No task starts
    before every host has connected or failed to, and each task gets the open
    connection of its host, which is closed when the task returns. ``on_done`` is
    called with each report as its host finishes, including hosts that fail to
    connect. On Ctrl-C, the hosts that had not finished are reported
    ``interrupted`` and the reports are returned as usual, so the caller can print
    them and exit with 130.
    """
    _cancelled.clear()
    _raise_open_files_limit(len(hosts))
    reports: dict[str, HostReport] = {}
    connections: dict[str, SSHHost] = {}

    def finish(report: HostReport) -> None:
        reports[report.name] = report
        if on_done:
            on_done(report)

    try:
        # One report per host, filled by the connect phase and then by the task.
        pending = {host.name: HostReport(host.name) for host in hosts}
        _in_parallel(hosts, lambda host: _connect_host(host, connect, pending[host.name], connections), forks, finish)
        ready = [host for host in hosts if host.name in connections]
        log.info("connected %d of %d host(s)", len(ready), len(hosts))
        if not _cancelled.is_set():
            _in_parallel(ready, lambda host: _run_task(host, connections[host.name], task, pending[host.name]), forks, finish)
    finally:
        for connection in list(connections.values()):
            connection.close()

    for host in hosts:
        if host.name not in reports:
            error = "interrupted before any change" if host.name in connections else "interrupted before this host started"
            finish(HostReport(host.name, status=INTERRUPTED, error=error))
    return [reports[host.name] for host in hosts]


def _connect_host(host: Host, options: ConnectOptions, report: HostReport, connections: dict[str, SSHHost]) -> HostReport | None:
    """Open the host's connection into ``connections``; return the report only when the host is done (failed)."""
    started = time.monotonic()
    reason = unsupported_connection(host)
    if reason:
        report.status, report.error = FAILED, reason
        return report
    connection = SSHHost(target_for(host), options)
    _guarded(host, report, connection.connect, "connecting")
    report.duration_s = round(time.monotonic() - started, 3)
    if report.status in (FAILED, UNREACHABLE, INTERRUPTED):
        connection.close()
        return report
    connections[host.name] = connection
    return None


def _run_task(host: Host, connection: SSHHost, task: Task, report: HostReport) -> HostReport:
    """Run ``task`` on one connected host, then close its connection; the time adds to the connect time."""
    started = time.monotonic()
    try:
        _guarded(host, report, lambda: task(host, connection, report), "the first step")
    finally:
        connection.close()
    report.duration_s = round(report.duration_s + time.monotonic() - started, 3)
    return report


def _guarded(host: Host, report: HostReport, step: Callable[[], None], name: str) -> None:
    """Call ``step`` unless the run was interrupted, and turn any error into the report's status.

    Unreachable hosts get ``unreachable``; every other error, expected or not,
    gets ``failed``; any error after Ctrl-C gets ``interrupted``.
    """
    try:
        checkpoint(name)
        step()
    except Interrupted as exc:
        report.status, report.error = INTERRUPTED, str(exc)
    except FleetrouteError as exc:
        report.status, report.error = _classify(exc)
    except Exception as exc:  # A bug must fail its host, not the whole run.
        log.exception("%s: unexpected error", host.name)
        report.status, report.error = FAILED, f"internal error: {type(exc).__name__}: {exc}"


def _classify(exc: FleetrouteError) -> tuple[str, str]:
    message = exc.message if isinstance(exc, HostError) else str(exc)
    if isinstance(exc, Aborted):
        return INTERRUPTED, message
    if _cancelled.is_set():
        return INTERRUPTED, f"interrupted: {message}"
    if isinstance(exc, UnreachableError):
        return UNREACHABLE, message
    return FAILED, message


def _in_parallel(
    hosts: Iterable[Host],
    work: Callable[[Host], HostReport | None],
    forks: int,
    finish: Callable[[HostReport], None],
) -> None:
    """Call ``work`` for every host, at most ``forks`` at once, and pass each report it returns to ``finish``.

    On Ctrl-C, marks the run cancelled and closes every open connection, so the
    hosts in flight fail fast. It waits for them, and skips hosts not started yet.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, forks), thread_name_prefix="host")
    pending: set[Future] = {pool.submit(work, host) for host in hosts}

    def collect(done: set[Future]) -> None:
        for future in done:
            report = None if future.cancelled() else future.result()
            if report is not None:
                finish(report)

    try:
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            collect(done)
    except KeyboardInterrupt:
        running = sum(1 for future in pending if future.running())
        log.warning("interrupted: stopping %d host(s) in flight, skipping %d not started", running, len(pending) - running)
        _cancelled.set()
        ssh.abort_all()
        _finish_despite_interrupts(pending, collect)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _finish_despite_interrupts(pending: set[Future], collect: Callable[[set[Future]], None]) -> None:
    """Wait for the hosts in flight, which abort_all has cut off; a second Ctrl-C only closes again."""
    while pending:
        try:
            done, pending = wait(pending, timeout=0.2)
            collect(done)
        except KeyboardInterrupt:
            ssh.abort_all()


def _raise_open_files_limit(host_count: int) -> None:
    """Raise the soft limit on open files so that one connection per host fits, up to the hard limit.

    Every connected host keeps its socket open until its task ends, so a run over
    a thousand hosts needs more than the usual soft limit of 1024.
    """
    needed = host_count + _SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    new_soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    if new_soft < needed:
        log.warning(
            "open files limited to %d (hard limit); %d hosts may not all connect. Raise it with ulimit -n, or use --limit",
            new_soft,
            host_count,
        )
