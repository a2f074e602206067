"""Host table of the lab fleet: each host's kind, GPUs, inventory groups and variables.

``DEFAULT_FLEET`` is the fleet that ``python -m lab up`` starts. Tests build other
fleets by adding ``HostSpec`` entries, for example a jump host
(``HostSpec("jump", nvidia_smi=None, workload=False)``, which is in no group and so
not in the inventory) or a host that accepts TCP connections and never responds
(``HostSpec("stuck", kind="hang", groups=("faulty",))``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DRIVER = "550.54.15"
NO_DRIVER_MESSAGE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)
BANNER = "Welcome to gpu-node, managed by config management"

# sshd: a real sshd. offline: in ssh_config and the inventory, but nothing listens
# at its address. hang: a listener that accepts TCP connections and never sends the
# SSH banner.
KINDS = ("sshd", "offline", "hang")

WORKLOAD_BINARY = "/usr/local/bin/whisper-ctranslate2"
NVIDIA_SMI = "/usr/local/bin/nvidia-smi"

# Inventory variables under all.vars: the whisper example of the fleetroute runbook.
DEFAULT_INVENTORY_VARS: dict[str, Any] = {
    "workload_binary": WORKLOAD_BINARY,
    "probe": "duration",
    "probe_tool": "ffprobe",
    "threshold_value": 3600,
    "max_gpu_jobs": 2,
    "max_cpu_jobs": 1,
    "gpu_args": ["--device", "cuda", "--compute_type", "float16"],
    "cpu_args": ["--device", "cpu", "--compute_type", "int8"],
    "workload_vram_mb": 3700,
    "workload_ram_mb": 2000,
    "os_reserved_ram_mb": 1024,
}

_HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _check_spec_text(value: str, label: str) -> None:
    # The spec file is tab-separated and line-based, and bash's read merges empty fields.
    if not value or "\t" in value or "\n" in value:
        raise ValueError(f"{label} must be non-empty and contain no tab or newline: {value!r}")


@dataclass(frozen=True)
class Gpu:
    """One simulated GPU; a memory value of None prints as ``[N/A]``."""

    name: str
    memory_total_mb: int | None
    memory_used_mb: int | None = 0

    def __post_init__(self) -> None:
        _check_spec_text(self.name, "GPU name")


@dataclass(frozen=True)
class NvidiaSmiSpec:
    """Output of one host's simulated nvidia-smi.

    ``banner`` is a line printed before any other output, like a login banner that
    leaks into stdout. ``failure`` is ``(exit_code, message)``: nvidia-smi then prints
    only the banner and the message on stdout and exits with that code.
    """

    gpus: tuple[Gpu, ...] = ()
    driver_version: str = DEFAULT_DRIVER
    banner: str | None = None
    failure: tuple[int, str] | None = None

    def __post_init__(self) -> None:
        _check_spec_text(self.driver_version, "driver_version")
        if self.banner is not None:
            _check_spec_text(self.banner, "banner")
        if self.failure is not None:
            code, message = self.failure
            if not 1 <= code <= 255:
                raise ValueError(f"failure exit code must be 1-255, not {code}")
            _check_spec_text(message, "failure message")

    def render(self, host: str) -> str:
        """Return the spec file text that lab/scripts/lib.sh reads for host ``host``.

        Each line is KEY<TAB>FIELD...: ``driver``, ``banner``, ``fail CODE MESSAGE`` and
        one ``gpu NAME TOTAL USED UUID`` per GPU in index order. UUIDs derive from the
        host name and index, so they are stable across runs.
        """
        lines = [f"driver\t{self.driver_version}"]
        if self.banner is not None:
            lines.append(f"banner\t{self.banner}")
        if self.failure is not None:
            lines.append(f"fail\t{self.failure[0]}\t{self.failure[1]}")
        for index, gpu in enumerate(self.gpus):
            gpu_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"fleetroute-lab:{host}:{index}")
            total = _memory_field(gpu.memory_total_mb)
            used = _memory_field(gpu.memory_used_mb)
            lines.append(f"gpu\t{gpu.name}\t{total}\t{used}\tGPU-{gpu_uuid}")
        return "\n".join(lines) + "\n"


def _memory_field(value: int | None) -> str:
    return "[N/A]" if value is None else str(value)


SUDO_RULES = ("password", "nopasswd", "none")


@dataclass(frozen=True)
class LabUser:
    """A login user of one lab host, accepted with the lab's client key.

    ``sudo`` is ``password`` (sudo asks for ``password``), ``nopasswd`` (sudo runs
    any command without asking) or ``none`` (the user is not in sudoers).
    """

    name: str
    uid: int
    password: str
    sudo: str = "password"

    def __post_init__(self) -> None:
        if not _HOST_NAME.match(self.name):
            raise ValueError(f"invalid user name {self.name!r}: use lowercase letters, digits and '-'")
        if self.sudo not in SUDO_RULES:
            raise ValueError(f"invalid sudo rule {self.sudo!r} for user {self.name}: expected one of {SUDO_RULES}")
        if not 1000 <= self.uid < 60000:
            raise ValueError(f"uid {self.uid} of user {self.name} must be from 1000 to 59999")
        _check_spec_text(self.password, "password")


@dataclass(frozen=True)
class HostSpec:
    """One lab host.

    ``nvidia_smi`` of None installs no nvidia-smi, so the command is not found on the
    host. ``workload`` installs the simulated whisper-ctranslate2. A host is in the
    inventory only when ``groups`` is non-empty; ``host_vars`` go into its entry there.
    ``proxy_jump`` names another lab host to reach this one through (ssh_config ProxyJump).
    ``users`` are extra login users with their sudo rules; they need namespace isolation.
    ``private_network`` runs the host in its own network namespace, so its address is
    unreachable from this machine. ``jump_into`` names such a host: this host's SSH
    sessions then run in that host's network namespace, which makes it the only way in.
    Both need namespace isolation, and the ``jump_into`` host must come later in the table.
    """

    name: str
    kind: str = "sshd"
    nvidia_smi: NvidiaSmiSpec | None = NvidiaSmiSpec()
    workload: bool = True
    groups: tuple[str, ...] = ()
    host_vars: Mapping[str, Any] = field(default_factory=dict)
    proxy_jump: str | None = None
    users: tuple[LabUser, ...] = ()
    private_network: bool = False
    jump_into: str | None = None

    def __post_init__(self) -> None:
        if not _HOST_NAME.match(self.name):
            raise ValueError(f"invalid host name {self.name!r}: use lowercase letters, digits and '-'")
        if self.kind not in KINDS:
            raise ValueError(f"invalid kind {self.kind!r} for host {self.name}: expected one of {', '.join(KINDS)}")


def _gpu_host(name: str, *gpus: Gpu, **kwargs: Any) -> HostSpec:
    return HostSpec(name, nvidia_smi=NvidiaSmiSpec(gpus=gpus, **kwargs), groups=("gpu_hosts",))


DEFAULT_FLEET: tuple[HostSpec, ...] = (
    _gpu_host("a4000", Gpu("NVIDIA RTX A4000", 16376)),
    _gpu_host(
        "a100x4",
        Gpu("NVIDIA A100-SXM4-40GB", 40960),
        Gpu("NVIDIA A100-SXM4-40GB", 40960, 39000),
        Gpu("NVIDIA A100-SXM4-40GB", 40960),
        Gpu("NVIDIA A100-SXM4-40GB", 40960),
    ),
    _gpu_host("mixed", Gpu("NVIDIA GeForce RTX 3060", 12288), Gpu("NVIDIA GeForce RTX 3090", 24576)),
    HostSpec(
        "sentinels",
        nvidia_smi=NvidiaSmiSpec(gpus=(Gpu("NVIDIA GeForce GTX 1660", 6144, None),), banner=BANNER),
        groups=("gpu_hosts",),
        # 2 x workload_vram_mb (3700) would not fit in 6144 MB.
        host_vars={"max_gpu_jobs": 1},
    ),
    HostSpec("nodriver", nvidia_smi=NvidiaSmiSpec(failure=(9, NO_DRIVER_MESSAGE)), groups=("faulty",)),
    HostSpec("offline", kind="offline", nvidia_smi=None, workload=False, groups=("faulty",)),
)


def expected_vram_mb(duration_seconds: float) -> int:
    """Return the VRAM in MB that one simulated ``--device cuda`` run of an input of this duration registers."""
    return 1000 + int(duration_seconds) // 2
