"""Run ``templates/remote/verify.sh`` on a host and parse what it reports."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fleetroute.connectors.ssh import SSHHost
from fleetroute.errors import ProbeError, UnreachableError
from fleetroute.facts.host import split_sections
from fleetroute.remote import remote_script
from fleetroute.settings import HostSettings

# Job modes of verify.sh: directory checks only, router dry runs, or real workload runs.
MODE_NONE, MODE_DRY, MODE_FULL = "none", "dry", "full"

# Seconds a slot holder or a dry-run job may live beyond the router's own wait for a
# slot. Generous: a whole dry-run job, ffprobe on a 1-hour WAV file included, took
# 70 to 90 ms on the lab fleet on a 2-core VM.
HOLD_MARGIN_SECONDS = 10
# Seconds the whole script may take beyond its --full jobs, for making the sample
# inputs and the dry runs. ffmpeg made a 1-hour WAV sample in about 75 ms on the same VM.
SCRIPT_MARGIN_SECONDS = 120

_ROW = re.compile(r"^\s*(\d+)\s*,\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class Sample:
    """One nvidia-smi reading taken while a job ran.

    ``ms`` is the wall-clock time in milliseconds. ``used_mb`` maps each GPU index to
    its memory.used, None where the driver printed an unknown value; it is empty when
    nvidia-smi failed (``exit_code`` not 0) and ``output`` then contains what it printed.
    """

    ms: int
    exit_code: int
    used_mb: dict[int, int | None]
    output: str

    @property
    def total_mb(self) -> int | None:
        """Return the memory used on every GPU together, or None when any value is unknown."""
        if self.exit_code != 0 or not self.used_mb or None in self.used_mb.values():
            return None
        return sum(value for value in self.used_mb.values() if value is not None)


@dataclass(frozen=True)
class JobResult:
    """One job that verify.sh ran through the router, with what it left behind.

    ``refused`` is set when the script did not run the job because BINARY no longer
    linked to the router. ``log`` is the job's router log line, empty when none was
    found; ``expected_args`` is how the router would log the job's arguments
    followed by the path's device arguments.
    """

    name: str
    exit_code: int | None
    ms: int | None
    timed_out: bool
    pid: int | None
    log: str
    expected_args: str
    stderr: str
    stdout: str
    refused: str = ""
    samples: tuple[Sample, ...] = ()


@dataclass
class RemoteRun:
    """Everything verify.sh reported for one host; sections it did not reach are empty."""

    access: dict[str, str] = field(default_factory=dict)
    writable: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    slots: dict[str, str] = field(default_factory=dict)
    holders: dict[str, dict[str, str]] = field(default_factory=dict)
    jobs: dict[str, JobResult] = field(default_factory=dict)
    noise: tuple[str, ...] = ()


def verify_script_args(
    settings: HostSettings, *, mode: str, small: str, large: str, env: list[str]
) -> list[str]:
    """Return verify.sh's positional arguments for one host, in the order its header lists."""
    hold_seconds = settings.block_wait_seconds + HOLD_MARGIN_SECONDS
    return [
        settings.workload_binary,
        settings.router_path,
        settings.router_log,
        settings.lock_dir,
        settings.run_as,
        settings.nvidia_smi,
        str(settings.max_gpu_jobs),
        str(settings.max_cpu_jobs),
        settings.on_gpu_full,
        settings.input_rule,
        small,
        large,
        mode,
        str(hold_seconds),
        str(settings.verify_job_timeout_seconds),
        *_counted(settings.gpu_args),
        *_counted(settings.cpu_args),
        *_counted(env),
    ]


def script_timeout(settings: HostSettings, mode: str, command_timeout: float) -> float:
    """Return the seconds verify.sh may run: the command timeout, or more for ``--full`` jobs."""
    if mode != MODE_FULL:
        return command_timeout
    return max(command_timeout, 2 * settings.verify_job_timeout_seconds + SCRIPT_MARGIN_SECONDS)


def run_verify_script(
    ssh: SSHHost, settings: HostSettings, *, mode: str, small: str, large: str, env: list[str], command_timeout: float
) -> RemoteRun:
    """Run verify.sh on the host and parse its report.

    Raises ``ProbeError`` when the script fails or its output is cut short,
    ``UnreachableError`` when the connection closes before the script exits, and the
    connector's errors (``CommandTimeout``, ``UnreachableError``) as they come.
    """
    args = verify_script_args(settings, mode=mode, small=small, large=large, env=env)
    timeout = script_timeout(settings, mode, command_timeout)
    result = ssh.run_script(remote_script("verify.sh"), args, name="verify", timeout=timeout)
    if result.exit_code < 0:
        # paramiko reports -1 for a channel closed without an exit status, as after Ctrl-C.
        raise UnreachableError(ssh.name, "the connection closed before verify.sh finished")
    if not result.ok:
        raise ProbeError(ssh.name, f"verify.sh exited {result.exit_code}: {result.stderr.strip()[:500]}")
    return parse_verify_output(ssh.name, result.stdout)


def parse_verify_output(host: str, text: str) -> RemoteRun:
    """Parse the sections that verify.sh prints into a ``RemoteRun``.

    Raises ``ProbeError`` when the output has no end marker.
    """
    noise, sections = split_sections(text)
    if "end" not in sections:
        raise ProbeError(host, "verify.sh output ended early (no end marker); rerun with -vv to see it")
    run = RemoteRun(noise=tuple(noise))
    samples: dict[str, tuple[Sample, ...]] = {}
    for header, lines in sections.items():
        kind, _, name = header.partition(" ")
        if kind == "samples":
            samples[name] = tuple(parse_sample(line) for line in lines if line.strip())
        elif kind == "access":
            run.access = _key_values(lines)
        elif kind == "writable":
            run.writable = _key_values(lines)
        elif kind == "slots":
            run.slots = _key_values(lines)
        elif kind == "input":
            run.inputs[name] = _key_values(lines)
        elif kind == "holders":
            run.holders.setdefault(name, {}).update(_key_values(lines))
    for header, lines in sections.items():
        kind, _, name = header.partition(" ")
        if kind == "job":
            run.jobs[name] = _job(name, _key_values(lines), samples.get(name, ()))
    return run


def parse_sample(line: str) -> Sample:
    """Parse one "MILLISECONDS EXIT_CODE OUTPUT" line of a samples section.

    OUTPUT is nvidia-smi's ``index,memory.used`` CSV with lines joined by ";". Lines
    that are not rows (banners, warnings) are skipped.
    """
    parts = line.split(" ", 2)
    ms, exit_code = int(parts[0]), int(parts[1])
    output = parts[2] if len(parts) > 2 else ""
    used: dict[int, int | None] = {}
    if exit_code == 0:
        for row in output.split(";"):
            match = _ROW.match(row)
            if match:
                value = match.group(2)
                used[int(match.group(1))] = int(value) if value.isdigit() else None
    return Sample(ms=ms, exit_code=exit_code, used_mb=used, output=output)


def _job(name: str, values: dict[str, str], samples: tuple[Sample, ...]) -> JobResult:
    return JobResult(
        name=name,
        exit_code=_int(values.get("exit")),
        ms=_int(values.get("ms")),
        timed_out=values.get("timed_out") == "1",
        pid=_int(values.get("pid")),
        log=values.get("log", ""),
        expected_args=values.get("expected_args", ""),
        stderr=values.get("stderr", "").strip(),
        stdout=values.get("stdout", "").strip(),
        refused=values.get("refused", ""),
        samples=samples,
    )


def _counted(words: list[str]) -> list[str]:
    return [str(len(words)), *words]


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def _key_values(lines: list[str]) -> dict[str, str]:
    """Parse KEY=VALUE lines; the value is kept as written, leading spaces included."""
    pairs: dict[str, str] = {}
    for line in lines:
        key, found, value = line.partition("=")
        if found:
            pairs[key] = value
    return pairs

