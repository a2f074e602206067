"""Memory budget worksheet: VRAM and RAM headroom for the configured slot counts.

GPU: headroom = VRAM - workload_vram_mb x max_gpu_jobs, checked for every GPU on its
own, because with shared slots the workload may land on any of them; with per-GPU
slots (``gpu_slot_mode: per_gpu``) only the GPUs of ``gpu_indices`` count, each
with its own ``max_gpu_jobs``. RAM:
headroom = RAM - os_reserved_ram_mb - workload_ram_mb x max_cpu_jobs. The systemd
``MemoryMax`` recommendation is the larger path peak plus 20%; only the CPU path's
peak (workload_ram_mb x max_cpu_jobs) counts, because the inventory has no host-RAM
figure for GPU jobs.

A GPU in MIG mode (``mig.mode.current`` Enabled) is budgeted per MIG instance, because
a job gets one instance and its memory, not the card. ``parse_mig_devices`` documents
how instance sizes are read from ``nvidia-smi -L``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from fleetroute.connectors.ssh import SSHHost
from fleetroute.facts.gpu import Gpu
from fleetroute.facts.host import HostFacts, gather_facts
from fleetroute.inventory import Host
from fleetroute.report import FAILED, HostReport
from fleetroute.settings import HostSettings

MEMORY_MAX_MARGIN = 1.2
MIG_ENABLED = "Enabled"

# "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-...)" opens a card's block in nvidia-smi -L.
_GPU_LINE = re.compile(r"^\s*GPU\s+(\d+):")
# "  MIG 3g.20gb     Device  1: (UUID: MIG-...)"; newer profiles may carry a compute
# instance prefix ("1c.3g.20gb") or a media-extension suffix ("1g.10gb+me").
_MIG_LINE = re.compile(r"^\s*MIG\s+((?:\d+c\.)?\d+g\.(\d+)gb\S*)\s+Device\s+(\d+):")


@dataclass(frozen=True)
class MigDevice:
    """One MIG instance from ``nvidia-smi -L``: its card's index, device number, profile and memory in MB."""

    gpu_index: int
    device: int
    profile: str
    memory_mb: int


def parse_mig_devices(text: str) -> tuple[MigDevice, ...]:
    """Parse the MIG instances out of ``nvidia-smi -L`` output.

    Each ``MIG`` line belongs to the ``GPU N:`` line above it. Memory is the profile's
    nominal size (``3g.20gb`` is 20 x 1024 MB), because ``-L`` prints no other figure.
    NOTE: the usable memory of an instance is a little below its nominal size, about
    4.75 GB for ``1g.5gb`` on an A100 40GB. Set ``gpu_vram_mb`` for exact figures.
    Lines that match neither form (banners, errors) are skipped. Raises nothing.
    """
    devices = []
    gpu_index = None
    for line in text.splitlines():
        gpu_match = _GPU_LINE.match(line)
        if gpu_match:
            gpu_index = int(gpu_match.group(1))
            continue
        mig_match = _MIG_LINE.match(line)
        if mig_match and gpu_index is not None:
            profile, gigabytes, device = mig_match.groups()
            devices.append(MigDevice(gpu_index, int(device), profile, int(gigabytes) * 1024))
    return tuple(devices)


@dataclass(frozen=True)
class GpuBudget:
    """Budget of one GPU, or of one MIG instance when ``mig_device`` is set.

    ``vram_mb`` is None when neither nvidia-smi nor the inventory gives it, and for a
    card in MIG mode whose instances nvidia-smi did not list (``mig_missing``).
    ``vram_used_mb`` is the card's memory in use at probe time (None for MIG
    instances and when nvidia-smi does not report it), and ``crowded`` is True when
    that leaves room for fewer than ``max_gpu_jobs`` jobs.
    """

    index: int
    name: str
    vram_mb: int | None
    vram_headroom_mb: int | None
    max_jobs_fit: int | None
    mig_device: int | None = None
    mig_missing: bool = False
    vram_used_mb: int | None = None
    crowded: bool = False

    @property
    def label(self) -> str:
        """Return how messages name this GPU: "GPU 0 (NAME)" or "GPU 0 MIG 1 (NAME)"."""
        mig = f" MIG {self.mig_device}" if self.mig_device is not None else ""
        return f"GPU {self.index}{mig} ({self.name})"

    def to_dict(self) -> dict:
        """Return the budget as a JSON-ready dict; ``mig_device`` only for MIG instances."""
        data = {"index": self.index, "name": self.name, "vram_mb": self.vram_mb}
        data["vram_headroom_mb"] = self.vram_headroom_mb
        data["max_jobs_fit"] = self.max_jobs_fit
        if self.mig_device is not None:
            data["mig_device"] = self.mig_device
        data["vram_used_mb"] = self.vram_used_mb
        data["crowded"] = self.crowded
        return data


@dataclass(frozen=True)
class Budget:
    """The worksheet's numbers for one host."""

    gpus: tuple[GpuBudget, ...]
    ram_mb: int
    ram_headroom_mb: int
    max_gpu_jobs_fit: int | None
    max_cpu_jobs_fit: int
    memory_max_mb: int
    missing_gpu_indices: tuple[int, ...] = ()
    ram_used_other_mb: int | None = None

    def problems(self, settings: HostSettings) -> list[str]:
        """Return one message per negative or unknown headroom, with the numbers behind it."""
        problems = []
        if self.missing_gpu_indices:
            found = ", ".join(str(gpu.index) for gpu in self.gpus) or "none"
            problems.append(
                f"gpu_indices lists GPU {', '.join(map(str, self.missing_gpu_indices))}, which nvidia-smi does "
                f"not show on this host (GPUs in use: {found}); fix gpu_indices"
            )
        for gpu in self.gpus:
            if gpu.mig_missing:
                problems.append(
                    f"GPU {gpu.index} ({gpu.name}) is in MIG mode but nvidia-smi -L lists no MIG instance on it; "
                    f"create MIG instances or disable MIG mode"
                )
            elif gpu.vram_mb is None:
                problems.append(
                    f"VRAM of GPU {gpu.index} ({gpu.name}) is unknown (nvidia-smi reports no memory figure); "
                    f"set gpu_vram_mb for this host"
                )
            elif gpu.vram_headroom_mb < 0:
                problems.append(
                    f"{gpu.label}: VRAM headroom {gpu.vram_headroom_mb} MB = {gpu.vram_mb} MB"
                    f" - {settings.workload_vram_mb} MB x {settings.max_gpu_jobs} jobs; "
                    + _fix_hint("max_gpu_jobs", gpu.max_jobs_fit, "workload_vram_mb", f"{gpu.label} has {gpu.vram_mb} MB")
                )
        if self.ram_headroom_mb < 0:
            problems.append(
                f"RAM headroom {self.ram_headroom_mb} MB = {self.ram_mb} MB - {settings.os_reserved_ram_mb} MB reserved"
                f" - {settings.workload_ram_mb} MB x {settings.max_cpu_jobs} jobs; "
                + _fix_hint("max_cpu_jobs", self.max_cpu_jobs_fit, "workload_ram_mb", "the host's RAM is too small")
            )
        return problems

    def warnings(self, settings: HostSettings) -> list[str]:
        """Return notes that do not make the budget negative: memory already in use on the host.

        That is RAM used beyond ``os_reserved_ram_mb``, and GPUs whose VRAM in use
        now leaves too little for ``max_gpu_jobs`` more jobs. The budget itself
        counts whole cards, because the memory in use may be fleetroute's own jobs.
        """
        notes = []
        if self.ram_used_other_mb is not None and self.ram_used_other_mb > settings.os_reserved_ram_mb:
            notes.append(
                f"other processes use {self.ram_used_other_mb} MB of RAM now (MemTotal - MemAvailable), more than "
                f"os_reserved_ram_mb ({settings.os_reserved_ram_mb} MB); raise os_reserved_ram_mb if that is usual"
            )
        for gpu in self.gpus:
            notes += _vram_in_use_note(gpu, settings)
        return notes

    def to_dict(self) -> dict:
        """Return the budget as a JSON-ready dict."""
        return {
            "gpus": [gpu.to_dict() for gpu in self.gpus],
            "ram_mb": self.ram_mb,
            "ram_used_other_mb": self.ram_used_other_mb,
            "ram_headroom_mb": self.ram_headroom_mb,
            "max_gpu_jobs_fit": self.max_gpu_jobs_fit,
            "max_cpu_jobs_fit": self.max_cpu_jobs_fit,
            "memory_max_mb": self.memory_max_mb,
        }


def budget_from_facts(settings: HostSettings, facts: HostFacts) -> Budget:
    """Compute the memory budget of one host from its probe facts; the one entry point of deploy and budget."""
    return compute_budget(
        settings,
        facts.gpu.gpus,
        facts.ram_total_mb,
        mig_devices=parse_mig_devices("\n".join(facts.gpu_list)),
        ram_available_mb=facts.ram_available_mb,
    )


def compute_budget(
    settings: HostSettings,
    gpus: tuple[Gpu, ...] | list[Gpu],
    ram_total_mb: int,
    *,
    mig_devices: tuple[MigDevice, ...] = (),
    ram_available_mb: int | None = None,
) -> Budget:
    """Compute the memory budget of one host from its GPUs, RAM and settings.

    ``gpu_vram_mb`` from the inventory, when set, replaces every GPU's reported total,
    and with MIG each instance's size. A GPU whose ``mig_mode`` is Enabled is budgeted
    per instance of ``mig_devices`` on it. ``ram_available_mb`` (MemAvailable) gives the
    RAM other processes use now, which is reported but not subtracted: the worksheet
    subtracts ``os_reserved_ram_mb``. Pure arithmetic: raises nothing.
    """
    missing: tuple[int, ...] = ()
    if settings.gpu_slot_mode == "per_gpu":
        present = {gpu.index for gpu in gpus}
        missing = tuple(index for index in settings.gpu_indices if index not in present)
        gpus = [gpu for gpu in gpus if gpu.index in settings.gpu_indices]
    gpu_budgets = tuple(budget for gpu in gpus for budget in _gpu_budgets(settings, gpu, mig_devices))
    known_fits = [g.max_jobs_fit for g in gpu_budgets if g.max_jobs_fit is not None]
    max_gpu_jobs_fit = min(known_fits) if known_fits and len(known_fits) == len(gpu_budgets) else None

    cpu_pool_mb = ram_total_mb - settings.os_reserved_ram_mb
    cpu_peak_mb = settings.workload_ram_mb * settings.max_cpu_jobs
    return Budget(
        gpus=gpu_budgets,
        ram_mb=ram_total_mb,
        ram_headroom_mb=cpu_pool_mb - cpu_peak_mb,
        max_gpu_jobs_fit=max_gpu_jobs_fit,
        max_cpu_jobs_fit=max(cpu_pool_mb // settings.workload_ram_mb, 0),
        memory_max_mb=recommended_memory_max_mb(settings),
        missing_gpu_indices=missing,
        ram_used_other_mb=None if ram_available_mb is None else ram_total_mb - ram_available_mb,
    )


def recommended_memory_max_mb(settings: HostSettings) -> int:
    """Return the systemd ``MemoryMax`` in MB: the CPU path's RAM peak plus 20%.

    NOTE: the host RAM of GPU jobs is not in the inventory, so it is left out; a service
    whose GPU jobs use much host RAM needs a larger MemoryMax.
    """
    cpu_peak_mb = settings.workload_ram_mb * settings.max_cpu_jobs
    return math.ceil(cpu_peak_mb * MEMORY_MAX_MARGIN)


def _gpu_budgets(settings: HostSettings, gpu: Gpu, mig_devices: tuple[MigDevice, ...]) -> list[GpuBudget]:
    if gpu.mig_mode != MIG_ENABLED:
        return [_unit_budget(settings, gpu, gpu.memory_total_mb)]
    instances = [device for device in mig_devices if device.gpu_index == gpu.index]
    if not instances:
        return [GpuBudget(gpu.index, gpu.name, None, None, None, mig_missing=True)]
    return [_unit_budget(settings, gpu, device.memory_mb, device.device) for device in instances]


def _unit_budget(settings: HostSettings, gpu: Gpu, reported_mb: int | None, mig_device: int | None = None) -> GpuBudget:
    vram_mb = settings.gpu_vram_mb or reported_mb
    if vram_mb is None:
        return GpuBudget(gpu.index, gpu.name, None, None, None, mig_device)
    used_mb = gpu.memory_used_mb if mig_device is None else None
    return GpuBudget(
        index=gpu.index,
        name=gpu.name,
        vram_mb=vram_mb,
        vram_headroom_mb=vram_mb - settings.workload_vram_mb * settings.max_gpu_jobs,
        max_jobs_fit=vram_mb // settings.workload_vram_mb,
        mig_device=mig_device,
        vram_used_mb=used_mb,
        crowded=bool(used_mb) and vram_mb - used_mb < settings.workload_vram_mb * settings.max_gpu_jobs,
    )


def budget_host(host: Host, ssh: SSHHost, report: HostReport) -> None:
    """Probe one connected host and fill ``report.budget``; a host whose budget has problems is failed.

    ``report.error`` joins the problems and ``report.warnings`` gets the notes of
    ``Budget.warnings``. A host without a usable GPU is budgeted for RAM only, and
    failed. Raises ``UnreachableError`` (and subclasses) when the connection is
    lost and ``ProbeError`` when the probe output cannot be read.
    """
    settings = host.settings
    facts = gather_facts(ssh, settings)
    budget = budget_from_facts(settings, facts)
    report.gpu_usable = facts.gpu.usable
    report.gpus = [gpu.to_dict() for gpu in facts.gpu.gpus]
    report.budget = budget.to_dict()
    report.warnings += budget.warnings(settings)
    problems = budget.problems(settings)
    if not facts.gpu.usable:
        problems.insert(0, f"no usable GPU: {facts.gpu.message}")
    report.budget["problems"] = problems
    if problems:
        report.status, report.error = FAILED, "; ".join(problems)


def _vram_in_use_note(gpu: GpuBudget, settings: HostSettings) -> list[str]:
    if not gpu.crowded or gpu.vram_mb is None or gpu.vram_used_mb is None:
        return []
    free_mb = gpu.vram_mb - gpu.vram_used_mb
    fit = max(free_mb, 0) // settings.workload_vram_mb
    if fit:
        fix = f"free it, or lower max_gpu_jobs to {fit} on this host"
    else:
        fix = f"free it, or leave GPU {gpu.index} out with gpu_slot_mode: per_gpu and gpu_indices"
    return [
        f"{gpu.label}: {gpu.vram_used_mb} MB of {gpu.vram_mb} MB VRAM is in use now, so only {fit} of "
        f"max_gpu_jobs ({settings.max_gpu_jobs}) jobs of {settings.workload_vram_mb} MB fit beside it. "
        f"If fleetroute's own jobs do not account for that memory, another process holds it: {fix}"
    ]


def _fix_hint(slots: str, fit: int | None, per_job: str, too_small: str) -> str:
    """Return how to make a negative headroom positive: fewer slots, or, when not even one job fits, the other ways."""
    if fit:
        return f"lower {slots} to {fit} or less"
    return (
        f"not even one job fits ({too_small}); lower {per_job} if it overstates a job, leave this host out "
        f"with --limit, or deploy anyway with --force"
    )
