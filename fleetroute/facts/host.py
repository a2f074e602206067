"""Gather a host's facts for deploy in one SSH round trip: GPUs, RAM and install state."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from fleetroute.connectors.ssh import SSHHost
from fleetroute.errors import ProbeError
from fleetroute.facts.gpu import GpuFacts, parse_nvidia_smi
from fleetroute.remote import remote_script
from fleetroute.settings import HostSettings

_SECTION = re.compile(r"^@@fleetroute:(.+)@@$")


@dataclass(frozen=True)
class PathState:
    """Kind of file at a path (missing, file, dir, symlink or other) and a symlink's target."""

    kind: str
    target: str = ""

    @classmethod
    def parse(cls, text: str) -> PathState:
        """Parse the probe's ``kind [target]`` form."""
        kind, _, target = text.partition(" ")
        return cls(kind, target)


@dataclass(frozen=True)
class DirState:
    """A directory's state (missing, dir, symlink, other), owner and octal mode."""

    kind: str
    owner: str = "-"
    mode: str = "-"

    @classmethod
    def parse(cls, text: str) -> DirState:
        """Parse the probe's ``kind owner mode`` form."""
        parts = (text.split() + ["-", "-", "-"])[:3]
        return cls(*parts)


@dataclass(frozen=True)
class InstallState:
    """The install state of one workload on a host, as the probe found it."""

    binary: PathState
    binary_sha256: str
    binary_inode: str
    real: PathState
    real_sha256: str
    real_inode: str
    real_executable: bool
    router: PathState
    router_sha256: str
    log_dir: DirState
    lock_dir: DirState
    manifest: dict[str, str]
    router_text: str | None = None
    tmpfiles_sha256: str = "-"
    log_parent: DirState = DirState("missing")
    lock_parent: DirState = DirState("missing")
    foreign_files: int = 0
    # False when the router file is not a router fleetroute rendered: a workload build
    # was probably copied onto BINARY and so written through the link into it.
    router_is_fleetroute: bool = True


@dataclass(frozen=True)
class HostFacts:
    """Everything deploy needs to know about a host before it changes anything."""

    gpu: GpuFacts
    ram_total_mb: int
    ram_available_mb: int
    probe_tool_path: str | None
    run_as_uid: int | None
    remote_user: str
    install: InstallState
    noise: tuple[str, ...] = field(default_factory=tuple)
    # Output of ``nvidia-smi -L``, which the probe runs only when a GPU reports MIG mode Enabled.
    gpu_list: tuple[str, ...] = field(default_factory=tuple)


def gather_facts(ssh: SSHHost, settings: HostSettings, *, with_router_text: bool = False) -> HostFacts:
    """Probe the host over ``ssh`` and parse the result.

    ``with_router_text`` also fetches the installed router, for ``--diff``.
    Raises ``ProbeError`` when the output misses a section, and the connector's
    errors when the command cannot run.
    """
    args = [
        settings.nvidia_smi,
        settings.workload_binary,
        settings.real_binary,
        settings.router_path,
        settings.manifest_path,
        settings.probe_tool,
        settings.run_as,
        posixpath.dirname(settings.router_log),
        settings.lock_dir,
        "1" if with_router_text else "0",
        settings.tmpfiles_path,
        settings.router_log,
    ]
    result = ssh.run_script(remote_script("probe.sh"), args, name="probe")
    if not result.ok:
        raise ProbeError(ssh.name, f"host probe exited {result.exit_code}: {result.stderr.strip()[:500]}")
    return parse_probe_output(ssh.name, result.stdout)


def split_sections(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """Split probe output into (lines before the first section, {header: lines})."""
    preamble: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = preamble
    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(match.group(1), [])
        else:
            current.append(line)
    for lines in sections.values():
        if lines and lines[-1] == "":
            lines.pop()  # The newline that starts the next marker line.
    return [line for line in preamble if line.strip()], sections


def parse_probe_output(host: str, text: str) -> HostFacts:
    """Parse the output of ``probe.sh`` into ``HostFacts``.

    Raises ``ProbeError`` naming the missing section when the output is cut short.
    """
    noise, sections = split_sections(text)
    if "end" not in sections:
        raise ProbeError(host, "host probe output ended early (no end marker); rerun with -v to see it")

    gpu = _gpu_facts(sections)
    memory = _key_values(sections.get("meminfo", []), separator=":")
    state = _key_values(sections.get("state", []), separator="=")
    try:
        ram_total_mb = int(memory["MemTotal"].split()[0]) // 1024
        ram_available_mb = int(memory.get("MemAvailable", "0 kB").split()[0]) // 1024
    except (KeyError, ValueError):
        raise ProbeError(host, f"cannot read MemTotal from /proc/meminfo: {sections.get('meminfo')}") from None
    if "binary" not in state:
        raise ProbeError(host, "host probe output has no install state section")

    router_lines = sections.get("router")
    install = InstallState(
        binary=PathState.parse(state["binary"]),
        binary_sha256=state.get("binary_sha256", "-"),
        binary_inode=state.get("binary_inode", "-"),
        real=PathState.parse(state["real"]),
        real_sha256=state.get("real_sha256", "-"),
        real_inode=state.get("real_inode", "-"),
        real_executable=state.get("real_executable") == "yes",
        router=PathState.parse(state["router"]),
        router_sha256=state.get("router_sha256", "-"),
        log_dir=DirState.parse(state.get("log_dir", "missing")),
        lock_dir=DirState.parse(state.get("lock_dir", "missing")),
        manifest=_key_values(sections.get("manifest", []), separator="="),
        router_text="\n".join(router_lines) + "\n" if router_lines is not None else None,
        tmpfiles_sha256=state.get("tmpfiles_sha256", "-"),
        foreign_files=int(state.get("foreign_files", "0") or 0),
        router_is_fleetroute=state.get("router_is_fleetroute", "yes") != "no",
        log_parent=DirState.parse(state.get("log_parent", "missing")),
        lock_parent=DirState.parse(state.get("lock_parent", "missing")),
    )
    probe_tool = state.get("probe_tool", "missing")
    uid = state.get("run_as_uid", "missing")
    return HostFacts(
        gpu=gpu,
        ram_total_mb=ram_total_mb,
        ram_available_mb=ram_available_mb,
        probe_tool_path=None if probe_tool == "missing" else probe_tool,
        run_as_uid=int(uid) if uid.isdigit() else None,
        remote_user=state.get("user", "?"),
        install=install,
        noise=tuple(noise),
        gpu_list=tuple(_gpu_list_lines(sections)),
    )


def _gpu_facts(sections: dict[str, list[str]]) -> GpuFacts:
    for header, lines in sections.items():
        if header == "nvidia-smi missing":
            return GpuFacts(usable=False, message="nvidia-smi not found on the host")
        if header.startswith("nvidia-smi "):
            info = dict(part.split("=", 1) for part in header.split()[1:] if "=" in part)
            fields = tuple(info.get("fields", "").split(","))
            return parse_nvidia_smi("\n".join(lines), int(info.get("exit", "1")), fields)
    return GpuFacts(usable=False, message="host probe returned no nvidia-smi section")


def _gpu_list_lines(sections: dict[str, list[str]]) -> list[str]:
    for header, lines in sections.items():
        if header.startswith("nvidia-smi-list "):
            return lines
    return []


def _key_values(lines: list[str], separator: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in lines:
        key, found, value = line.partition(separator)
        if found:
            pairs[key.strip()] = value.strip()
    return pairs
