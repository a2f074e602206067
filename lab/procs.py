"""Process inspection and shutdown through /proc, for the processes the lab started.

A process is identified by its PID together with its start time (field 22 of
/proc/PID/stat), so a reused PID is never mistaken for a lab process.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Return the fields of /proc/PID/stat from field 3 (state) on, or None when the process is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 2, the command name, may contain spaces and brackets.
    return stat[stat.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Return the start time of a live, non-zombie process in clock ticks since boot, or None."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])


def parent_pid(pid: int) -> int | None:
    """Return the parent PID of a process, or None when it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def is_running(pid: int, started: int) -> bool:
    """Return True when ``pid`` runs and started at clock tick ``started``."""
    return start_time(pid) == started


def command_line(pid: int) -> list[str]:
    """Return the argv of a process, or an empty list when it is gone."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [os.fsdecode(arg) for arg in raw.split(b"\0")[:-1]]


def mount_namespace(pid: int) -> str | None:
    """Return the mount namespace of a process as ``mnt:[INODE]``, or None when it is gone or unreadable.

    Some processes (PID 1 in some sandboxes, other users' processes) deny even root
    this link. They are not a lab's, so None is correct for them too.
    """
    try:
        return os.readlink(PROC / str(pid) / "ns" / "mnt")
    except OSError:
        return None


def all_pids() -> list[int]:
    """Return the PIDs of all processes visible in /proc."""
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def processes_in_namespace(namespace: str, started_after: int, mount_source: str) -> list[int]:
    """Return the live PIDs in mount namespace ``namespace`` that started at or after clock tick ``started_after``
    and see a mount whose source path contains ``mount_source``.

    Once a namespace is gone, the kernel may give its inode number to a new one, even
    to a namespace of another lab started later. The start-time bound excludes older
    namespaces, and the mount check excludes newer ones, since only this host's
    namespace has bind mounts from this host's file tree.
    """
    found = []
    for pid in all_pids():
        started = start_time(pid)
        if started is None or started < started_after or mount_namespace(pid) != namespace:
            continue
        if mount_source in _mountinfo(pid):
            found.append(pid)
    return found


def _mountinfo(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/mountinfo").read_text(errors="replace")
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    """Return the live descendants of ``root``. Processes that were reparented to another parent are not found."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        parent = parent_pid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found: list[int] = []
    pending = list(children.get(root, []))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _reap(pid: int) -> None:
    # Collect the exit status when this Python process is the parent, so no zombie stays.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def terminate(targets: Iterable[tuple[int, int]], grace_seconds: float = 3.0) -> list[int]:
    """Stop processes given as (pid, start time) pairs and return the PIDs that were running.

    Sends SIGTERM, waits up to ``grace_seconds`` and then sends SIGKILL to the
    processes still running. A pair whose process is gone or has another start time
    is skipped.
    """
    running = [(pid, started) for pid, started in targets if is_running(pid, started)]
    for pid, _ in running:
        _signal(pid, signal.SIGTERM)

    deadline = time.monotonic() + grace_seconds
    remaining = running
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        for pid, _ in remaining:
            _reap(pid)
        remaining = [(pid, started) for pid, started in remaining if is_running(pid, started)]

    for pid, _ in remaining:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        for pid, _ in remaining:
            _reap(pid)
        remaining = [(pid, started) for pid, started in remaining if is_running(pid, started)]
    return [pid for pid, _ in running]


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
