"""Memory budget worksheet: VRAM and RAM headroom for the configured slot counts.

GPU: headroom = VRAM - workload_vram_mb x max_gpu_jobs, checked for every GPU on its
own, because with shared slots the workload may land on any of them; with per-GPU
slots (``gpu_slot_mode: per_gpu``) only the GPUs of ``gpu_indices`` count, each
with its own ``max_gpu_jobs``. RAM:
headroom = RAM - os_reserved_ram_mb - workload_ram_mb x max_cpu_jobs. The systemd
``MemoryMax`` recommendation is the larger path peak plus 20%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetroute.facts.gpu import Gpu
from fleetroute.settings import HostSettings

MEMORY_MAX_MARGIN = 1.2


@dataclass(frozen=True)
class GpuBudget:
    """Budget of one GPU; ``vram_mb`` is None when neither nvidia-smi nor the inventory gives it."""

    index: int
    name: str
    vram_mb: int | None
    vram_headroom_mb: int | None
    max_jobs_fit: int | None


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
            if gpu.vram_mb is None:
                problems.append(
                    f"VRAM of GPU {gpu.index} ({gpu.name}) is unknown (nvidia-smi reports no memory figure); "
                    f"set gpu_vram_mb for this host"
                )
            elif gpu.vram_headroom_mb < 0:
                problems.append(
                    f"GPU {gpu.index} ({gpu.name}): VRAM headroom {gpu.vram_headroom_mb} MB = {gpu.vram_mb} MB"
                    f" - {settings.workload_vram_mb} MB x {settings.max_gpu_jobs} jobs; "
                    f"lower max_gpu_jobs to {gpu.max_jobs_fit} or less"
                )
        if self.ram_headroom_mb < 0:
            problems.append(
                f"RAM headroom {self.ram_headroom_mb} MB = {self.ram_mb} MB - {settings.os_reserved_ram_mb} MB reserved"
                f" - {settings.workload_ram_mb} MB x {settings.max_cpu_jobs} jobs; "
                f"lower max_cpu_jobs to {self.max_cpu_jobs_fit} or less"
            )
        return problems

    def to_dict(self) -> dict:
        """Return the budget as a JSON-ready dict."""
        return {
            "gpus": [
                {"index": g.index, "name": g.name, "vram_mb": g.vram_mb, "vram_headroom_mb": g.vram_headroom_mb}
                for g in self.gpus
            ],
            "ram_mb": self.ram_mb,
            "ram_headroom_mb": self.ram_headroom_mb,
            "max_gpu_jobs_fit": self.max_gpu_jobs_fit,
            "max_cpu_jobs_fit": self.max_cpu_jobs_fit,
            "memory_max_mb": self.memory_max_mb,
        }


def compute_budget(settings: HostSettings, gpus: tuple[Gpu, ...] | list[Gpu], ram_total_mb: int) -> Budget:
    """Compute the memory budget of one host from its GPUs, RAM and settings.

    ``gpu_vram_mb`` from the inventory, when set, replaces every GPU's reported total.
    Pure arithmetic: raises nothing.
    """
    missing: tuple[int, ...] = ()
    if settings.gpu_slot_mode == "per_gpu":
        present = {gpu.index for gpu in gpus}
        missing = tuple(index for index in settings.gpu_indices if index not in present)
        gpus = [gpu for gpu in gpus if gpu.index in settings.gpu_indices]
    gpu_budgets = tuple(_gpu_budget(settings, gpu) for gpu in gpus)
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
        memory_max_mb=math.ceil(cpu_peak_mb * MEMORY_MAX_MARGIN),
        missing_gpu_indices=missing,
    )


def _gpu_budget(settings: HostSettings, gpu: Gpu) -> GpuBudget:
    vram_mb = settings.gpu_vram_mb or gpu.memory_total_mb
    if vram_mb is None:
        return GpuBudget(gpu.index, gpu.name, None, None, None)
    return GpuBudget(
        index=gpu.index,
        name=gpu.name,
        vram_mb=vram_mb,
        vram_headroom_mb=vram_mb - settings.workload_vram_mb * settings.max_gpu_jobs,
        max_jobs_fit=vram_mb // settings.workload_vram_mb,
    )
