"""log-stats, per host: read the router log and its rotated copies in one SSH round trip.

The host runs ``templates/remote/logstats.sh``, which lists the log files, reads them
(decompressing ``.gz``, ``.bz2``, ``.xz`` and ``.zst``) into ``logstats.awk`` and sends
back only the aggregates, so the bytes sent do not grow with the log. A host without
a working awk sends the lines instead, and they are parsed here with the same
grammar. The same round trip reads the host's time zone, total RAM and GPUs, which
the advice needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fleetroute.connectors.ssh import ConnectOptions, SSHHost
from fleetroute.errors import CommandError, HostError, ProbeError
from fleetroute.facts.gpu import Gpu, parse_nvidia_smi
from fleetroute.inventory import Host
from fleetroute.logs.parse import ZoneTable, parse_utc_offset
from fleetroute.logs.stats import (
    BUCKET_RATIO,
    EXACT_VALUES_MAX,
    EXAMPLE_BYTES,
    MAX_EXAMPLES,
    MAX_GUESSED_ZONES,
    AwkOutputError,
    LogStats,
    read_awk_output,
)
from fleetroute.remote import remote_script
from fleetroute.report import HostReport

_SECTION = re.compile(r"^@@fleetroute:(.+)@@$")
# Prefix that logstats.sh puts before each streamed log line.
STREAM_PREFIX = "|"
READABLE_STATES = ("plain", "gzip", "bzip2", "xz", "zstd")


@dataclass(frozen=True)
class LogStatsOptions:
    """Options of one log-stats run. ``since`` and ``until`` are epoch seconds or None."""

    connect: ConnectOptions
    since: int | None = None
    until: int | None = None


@dataclass
class LogFile:
    """One log file on a host: ``state`` as logstats.sh lists it, size and lines read.

    ``read_error`` is the decompressor's or cat's exit status when it failed.
    """

    index: int
    path: str
    state: str
    size_bytes: int | None
    lines: int = 0
    read_error: str | None = None

    def to_dict(self) -> dict:
        """Return the file as a JSON-ready dict."""
        return {
            "path": self.path,
            "state": self.state,
            "bytes": self.size_bytes,
            "lines": self.lines,
            "read_error": self.read_error,
        }


@dataclass
class HostLogs:
    """Results of log-stats on one host: statistics, log files, and the host's RAM and GPUs.

    ``method`` is ``awk`` (aggregated on the host) or ``stream`` (lines sent and
    parsed here). ``bytes_received`` counts the command's stdout, as decoded text
    re-encoded in UTF-8. ``ram_total_mb`` is None when /proc/meminfo was unreadable.
    """

    stats: LogStats
    files: list[LogFile]
    method: str
    zone: ZoneTable
    ram_total_mb: int | None = None
    gpus: tuple[Gpu, ...] = ()
    gpu_message: str = ""
    bytes_received: int = 0
    noise: list[str] = field(default_factory=list)

    @property
    def log_state(self) -> str:
        """Return ``missing`` when the log and its rotated copies are absent, ``empty``
        when they have no lines, else ``read``."""
        if all(file.state == "missing" for file in self.files):
            return "missing"
        if self.stats.lines == 0:
            return "empty"
        return "read"

    def problems(self) -> list[str]:
        """Return one message per log file that exists but could not be read in full."""
        problems = []
        for file in self.files:
            if file.read_error is not None:
                problems.append(f"reading {file.path} failed with exit status {file.read_error}")
            elif file.state not in READABLE_STATES and file.state != "missing":
                problems.append(f"cannot read {file.path}: {_describe_state(file.state)}")
        return problems


def _describe_state(state: str) -> str:
    if state.startswith("no-"):
        return f"{state[3:]} is not installed on the host"
    return {"unreadable": "permission denied", "not-a-file": "not a regular file"}.get(state, state)


def script_arguments(router_log: str, nvidia_smi: str, options: LogStatsOptions) -> list[str]:
    """Return the positional arguments of logstats.sh; an empty ``nvidia_smi`` skips the GPU query."""
    assignments = {
        "since": "" if options.since is None else str(options.since),
        "until": "" if options.until is None else str(options.until),
        "zones": ZoneTable().awk_table(),
        "exact_max": str(EXACT_VALUES_MAX),
        "bucket_ratio": repr(BUCKET_RATIO),
        "max_examples": str(MAX_EXAMPLES),
        "example_bytes": str(EXAMPLE_BYTES),
        "max_guessed_zones": str(MAX_GUESSED_ZONES),
    }
    words = [f"{name}={value}" for name, value in assignments.items()]
    return [router_log, nvidia_smi, remote_script("logstats.awk"), *words]


def collect_host_logs(
    host: Host, ssh: SSHHost, report: HostReport, options: LogStatsOptions, results: dict[str, HostLogs]
) -> None:
    """Read the router log statistics of one connected host into ``results[host.name]``.

    The host's status stays ``ok`` for a missing or empty log, which ``report.warnings``
    mentions. Raises ``UnreachableError`` when the connection is lost,
    ``CommandError`` when the script fails, ``ProbeError`` when its output is cut
    short or malformed, and ``HostError`` after storing the results when a log file
    could not be read in full.
    """
    arguments = script_arguments(host.settings.router_log, host.settings.nvidia_smi, options)
    result = ssh.run_script(remote_script("logstats.sh"), arguments, name="logstats")
    if not result.ok:
        raise CommandError(host.name, f"log-stats script exited {result.exit_code}: {result.stderr.strip()[:500]}", result)
    logs = parse_logstats_output(host.name, result.stdout, options)
    logs.bytes_received = len(result.stdout.encode("utf-8"))
    results[host.name] = logs

    report.warnings += _warnings(host, logs)
    problems = logs.problems()
    if problems:
        detail = f"; stderr: {result.stderr.strip()[:300]}" if result.stderr.strip() else ""
        raise HostError(host.name, "; ".join(problems) + detail)


def _warnings(host: Host, logs: HostLogs) -> list[str]:
    warnings = []
    if logs.noise:
        warnings.append(f"ignored {len(logs.noise)} line(s) of remote output noise, first: {logs.noise[0][:120]!r}")
    if logs.log_state == "missing":
        warnings.append(f"router log {host.settings.router_log} not found: no job was routed yet, or router_log is wrong")
    elif logs.log_state == "empty":
        warnings.append(f"router log {host.settings.router_log} is empty")
    if logs.method == "stream":
        warnings.append("awk does not work on this host, so every log line was sent and parsed locally")
    if logs.stats.guessed_zones:
        zones = ", ".join(sorted(logs.stats.guessed_zones))
        warnings.append(f"time zone {zones} is unknown; those dates were read with the host's current UTC offset")
    return warnings


def split_sections(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """Split the script's output into (lines before the first section, {header: lines}).

    Lines are split on newlines only, as awk splits them, so that a form feed or a
    lone CR inside a streamed log line stays in that line.
    """
    preamble: list[str] = []
    sections: dict[str, list[str]] = {}
    current = preamble
    for line in text.split("\n"):
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(match.group(1), [])
        else:
            current.append(line)
    return [line for line in preamble if line.strip()], sections


def parse_logstats_output(host: str, text: str, options: LogStatsOptions) -> HostLogs:
    """Parse the output of logstats.sh into ``HostLogs``.

    Raises ``ProbeError`` when the output has no end marker, no file list or a
    malformed record.
    """
    noise, sections = split_sections(text)
    if "end" not in sections:
        raise ProbeError(host, "log-stats output ended early (no end marker); rerun with -vv to see it")
    if "files" not in sections:
        raise ProbeError(host, "log-stats output has no list of log files")
    zone = _zone_table(sections.get("zone", []))
    files = _log_files(host, sections["files"])
    if "stats" in sections:
        stats, method = _awk_stats(host, sections["stats"], files), "awk"
    else:
        stats, method = _streamed_stats(sections, files, zone, options), "stream"
    gpus, gpu_message = _gpus(sections)
    return HostLogs(
        stats=stats,
        files=files,
        method=method,
        zone=zone,
        ram_total_mb=_ram_total_mb(sections.get("meminfo", [])),
        gpus=gpus,
        gpu_message=gpu_message,
        noise=noise,
    )


def _zone_table(lines: list[str]) -> ZoneTable:
    words = " ".join(lines).split()
    if len(words) != 2:
        return ZoneTable()
    return ZoneTable(host_zone=words[0], host_offset_s=parse_utc_offset(words[1]))


def _log_files(host: str, lines: list[str]) -> list[LogFile]:
    files = []
    for line in lines:
        if not line:
            continue
        parts = line.split("\t", 3)
        if len(parts) != 4 or not parts[0].isdigit():
            raise ProbeError(host, f"log-stats output has an invalid file line: {line[:200]!r}")
        index, state, size, path = parts
        files.append(LogFile(int(index), path, state, int(size) if size.isdigit() else None))
    return files


def _awk_stats(host: str, lines: list[str], files: list[LogFile]) -> LogStats:
    try:
        stats, file_lines, read_errors = read_awk_output(lines)
    except AwkOutputError as exc:
        raise ProbeError(host, f"log-stats output: {exc}") from None
    for file in files:
        file.lines = file_lines.get(file.index, 0)
        file.read_error = read_errors.get(file.index)
    return stats


def _streamed_stats(
    sections: dict[str, list[str]], files: list[LogFile], zone: ZoneTable, options: LogStatsOptions
) -> LogStats:
    stats = LogStats()
    for file in files:
        before = stats.lines
        for line in sections.get(f"stream {file.index}", []):
            if line.startswith(STREAM_PREFIX):
                stats.add_line(line[len(STREAM_PREFIX) :], zone, options.since, options.until)
        file.lines = stats.lines - before
    for header in sections:
        words = header.split()
        if len(words) == 3 and words[0] == "read-error" and words[1].isdigit():
            for file in files:
                if file.index == int(words[1]):
                    file.read_error = words[2]
    return stats


def _ram_total_mb(lines: list[str]) -> int | None:
    for line in lines:
        key, _, value = line.partition(":")
        words = value.split()
        if key.strip() == "MemTotal" and words and words[0].isdigit():
            return int(words[0]) // 1024
    return None


def _gpus(sections: dict[str, list[str]]) -> tuple[tuple[Gpu, ...], str]:
    for header, lines in sections.items():
        if header == "nvidia-smi missing":
            return (), "nvidia-smi not found on the host"
        if header.startswith("nvidia-smi "):
            info = dict(part.split("=", 1) for part in header.split()[1:] if "=" in part)
            fields = tuple(info.get("fields", "").split(","))
            exit_code = int(info["exit"]) if info.get("exit", "").isdigit() else 1
            facts = parse_nvidia_smi("\n".join(lines), exit_code, fields)
            return facts.gpus, facts.message
    return (), "GPUs not queried"
