"""Terminal and JSON output: per-host lines as hosts finish, then a recap table."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fleetroute.report import CHANGED, FAILED, INTERRUPTED, OK, STATUSES, UNREACHABLE, HostReport

STYLES = {OK: "green", CHANGED: "yellow", FAILED: "red", UNREACHABLE: "magenta", INTERRUPTED: "red"}


class ReaderClosedSafeStream:
    """Standard output that goes quiet, instead of raising, once its reader has exited.

    With ``fleetroute deploy | head``, ``head`` exits early and every later write
    would raise ``BrokenPipeError``, stopping the run half-way. After the first
    such error, writes are dropped and the run finishes with its own exit code.
    The underlying file descriptor is pointed at /dev/null, so that the flush at
    interpreter exit does not raise either.
    """

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.reader_closed = False

    def write(self, text: str) -> int:
        """Write ``text``, or drop it once the reader has closed the pipe; return its length."""
        if not self.reader_closed:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop_output()
        return len(text)

    def flush(self) -> None:
        """Flush the stream, unless the reader has closed the pipe."""
        if not self.reader_closed:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop_output()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def _drop_output(self) -> None:
        self.reader_closed = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)


class HostPrinter:
    """Prints one block per host as it finishes, prefixed with the host name, aligned.

    Thread-safe: the runner calls ``__call__`` from worker threads. With ``quiet``
    (for ``--json``) it prints nothing. Subclasses print other details per host by
    overriding ``print_details``, and may extend ``styles``.
    """

    styles = STYLES

    def __init__(self, host_names: list[str], *, check: bool = False, quiet: bool = False):
        self.width = max((len(name) for name in host_names), default=4)
        self.check = check
        self.quiet = quiet
        self.console = Console(highlight=False, soft_wrap=True)
        self.lock = threading.Lock()

    def __call__(self, report: HostReport) -> None:
        if self.quiet:
            return
        with self.lock:
            self._print(report)

    def _print(self, report: HostReport) -> None:
        prefix = f"{report.name:<{self.width}}  "
        status = report.status
        if self.check and status == CHANGED:
            status = "would change"
        line = Text(prefix)
        if report.error:
            line.append(f"{status:<12}", style=self.styles.get(report.status, ""))
            line.append(f" {report.error}")
        else:
            line.append(status, style=self.styles.get(report.status, ""))
        self.console.print(line)
        self.print_details(report, prefix)
        for warning in report.warnings:
            self.console.print(Text(f"{prefix}  warning: {warning}", style="yellow"))

    def print_details(self, report: HostReport, prefix: str) -> None:
        """Print the changes made on the host and the router diff, each line after ``prefix``."""
        for change in report.changes if report.status in (OK, CHANGED) else ():
            self.console.print(Text(f"{prefix}  - {change}"))
        if report.diff:
            for diff_line in report.diff.splitlines():
                self.console.print(Text(f"{prefix}  {diff_line}", style=_diff_style(diff_line)))


def _diff_style(line: str) -> str:
    if line.startswith("+") and not line.startswith("+++"):
        return "green"
    if line.startswith("-") and not line.startswith("---"):
        return "red"
    return ""


def print_recap(reports: list[HostReport], title: str) -> None:
    """Print a recap table: one row per host with its status and change count, then totals."""
    console = Console(highlight=False)
    table = Table(title=title, title_justify="left")
    table.add_column("host")
    table.add_column("status")
    table.add_column("changes", justify="right")
    table.add_column("GPUs", justify="right")
    table.add_column("time (s)", justify="right")
    for report in reports:
        table.add_row(
            report.name,
            Text(report.status, style=STYLES.get(report.status, "")),
            str(len(report.changes)) if report.status in (OK, CHANGED) else "-",
            str(len(report.gpus)) if report.gpu_usable is not None else "-",
            f"{report.duration_s:.1f}",
        )
    console.print(table)
    totals = {status: sum(1 for r in reports if r.status == status) for status in STATUSES}
    console.print("  ".join(f"{status}={count}" for status, count in totals.items() if count or status in (OK, CHANGED, FAILED, UNREACHABLE)))


def print_json(command: str, reports: list[HostReport], exit_status: int, **extra) -> None:
    """Print the run as one JSON document on stdout."""
    document = {
        "command": command,
        "hosts": {report.name: report.to_dict() for report in reports},
        "exit_code": exit_status,
        **extra,
    }
    json.dump(document, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
