"""Fit peak VRAM against the probe metric, and propose a threshold and memory figures.

The model is a straight line, VRAM = intercept + slope x metric, fitted by ordinary
least squares over the runs that exited 0 with a known peak VRAM. The threshold is
the largest metric whose predicted VRAM, times max_gpu_jobs, fits in the smallest
budgeted GPU's VRAM less the safety margin:

    threshold = floor((VRAM x (1 - margin) / max_gpu_jobs - intercept) / slope)

The router sends metrics below the threshold to the GPU, so every GPU job's
predicted VRAM fits. No threshold is proposed when R² is below ``min_r2`` (VRAM does
not follow the metric), when VRAM does not grow with the metric, or with fewer than
``MIN_RUNS`` usable runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_RUNS = 3
DEFAULT_MARGIN = 0.10
DEFAULT_MIN_R2 = 0.8
RAM_MARGIN = 1.2


@dataclass(frozen=True)
class Run:
    """One workload run: its input, metric, exit code, time, and peaks over the baseline."""

    path: str
    metric: float
    exit_code: int
    seconds: float
    peak_vram_mb: int | None
    peak_ram_mb: int | None
    samples: int
    timed_out: bool = False
    oom: bool = False
    message: str = ""

    @property
    def usable(self) -> bool:
        """Return True when the run exited 0 and its peak VRAM is known."""
        return self.exit_code == 0 and not self.timed_out and self.peak_vram_mb is not None


@dataclass(frozen=True)
class LineFit:
    """Least-squares line VRAM = intercept + slope x metric, with R² and the point count."""

    intercept: float
    slope: float
    r_squared: float | None
    points: int

    def predict(self, metric: float) -> float:
        """Return the predicted peak VRAM in MB at ``metric``."""
        return self.intercept + self.slope * metric


@dataclass(frozen=True)
class Proposal:
    """Calibration result for the inventory: proposed values, or the reason for proposing no threshold.

    ``threshold_value`` and ``workload_vram_mb`` are None together with a ``reason``.
    ``gpu_run_ram_mb`` is the largest peak RAM of the GPU runs plus 20%. It is
    not a ``workload_ram_mb`` proposal, which is the RAM of one CPU-path job.
    """

    fit: LineFit | None
    gpu_vram_mb: int | None
    max_gpu_jobs: int
    margin: float
    threshold_value: int | None
    workload_vram_mb: int | None
    gpu_run_ram_mb: int | None
    reason: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Return the proposal as a JSON-ready dict."""
        fit = None
        if self.fit is not None:
            fit = {
                "intercept_mb": self.fit.intercept,
                "slope_mb": self.fit.slope,
                "r_squared": self.fit.r_squared,
                "points": self.fit.points,
            }
        return {
            "fit": fit,
            "gpu_vram_mb": self.gpu_vram_mb,
            "max_gpu_jobs": self.max_gpu_jobs,
            "margin": self.margin,
            "threshold_value": self.threshold_value,
            "workload_vram_mb": self.workload_vram_mb,
            "gpu_run_ram_mb": self.gpu_run_ram_mb,
            "reason": self.reason,
            "notes": list(self.notes),
        }


def fit_line(points: list[tuple[float, float]]) -> LineFit:
    """Fit y = intercept + slope x by least squares.

    R² is 1 - SS_res / SS_tot, and None when every y is equal (SS_tot = 0). Raises
    ``ValueError`` with fewer than two points or when every x is equal.
    """
    if len(points) < 2:
        raise ValueError(f"a line needs at least 2 points, got {len(points)}")
    count = len(points)
    mean_x = sum(x for x, _ in points) / count
    mean_y = sum(y for _, y in points) / count
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        raise ValueError("every point has the same metric, so no line fits")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for _, y in points)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in points)
    r_squared = None if ss_tot == 0 else 1 - ss_res / ss_tot
    return LineFit(intercept, slope, r_squared, count)


def propose(
    runs: list[Run],
    gpu_vram_mb: int | None,
    max_gpu_jobs: int,
    *,
    margin: float = DEFAULT_MARGIN,
    min_r2: float = DEFAULT_MIN_R2,
) -> Proposal:
    """Fit the usable runs, propose threshold_value and workload_vram_mb, and report the GPU runs' peak RAM.

    Returns a ``Proposal``, whose ``reason`` explains a missing threshold. Raises nothing.
    """
    ram_peaks = [run.peak_ram_mb for run in runs if run.peak_ram_mb is not None]
    gpu_run_ram_mb = math.ceil(max(ram_peaks) * RAM_MARGIN) if ram_peaks else None
    usable = [run for run in runs if run.usable]

    def refuse(reason: str, fit: LineFit | None = None) -> Proposal:
        return Proposal(fit, gpu_vram_mb, max_gpu_jobs, margin, None, None, gpu_run_ram_mb, reason)

    if len(usable) < MIN_RUNS:
        return refuse(f"only {len(usable)} run(s) exited 0 with a measured peak VRAM; calibration needs {MIN_RUNS}")
    try:
        fit = fit_line([(run.metric, float(run.peak_vram_mb)) for run in usable])
    except ValueError as error:
        return refuse(f"cannot fit VRAM against the metric: {error}; use inputs of different sizes")
    if fit.r_squared is not None and fit.r_squared < min_r2:
        return refuse(
            f"peak VRAM does not follow the metric (R² {fit.r_squared:.2f} < {min_r2}); it depends on something "
            f"the probe does not measure, so no threshold is proposed",
            fit,
        )
    if fit.r_squared is None or fit.slope <= 0:
        return refuse("peak VRAM does not grow with the metric, so the metric cannot route jobs by VRAM", fit)
    if gpu_vram_mb is None:
        return refuse("the GPU's VRAM is unknown; set gpu_vram_mb", fit)
    return _threshold_proposal(fit, usable, gpu_vram_mb, max_gpu_jobs, margin, gpu_run_ram_mb)


def _threshold_proposal(
    fit: LineFit, usable: list[Run], gpu_vram_mb: int, max_gpu_jobs: int, margin: float, gpu_run_ram_mb: int | None
) -> Proposal:
    per_job_mb = gpu_vram_mb * (1 - margin) / max_gpu_jobs
    limit = (per_job_mb - fit.intercept) / fit.slope
    threshold = math.floor(limit)
    if threshold <= 0:
        reason = (
            f"even the smallest job does not fit: {max_gpu_jobs} job(s) x {fit.intercept:.0f} MB at metric 0 "
            f"exceeds {gpu_vram_mb} MB less {margin:.0%}; lower max_gpu_jobs"
        )
        return Proposal(fit, gpu_vram_mb, max_gpu_jobs, margin, None, None, gpu_run_ram_mb, reason)
    notes = []
    largest = max(run.metric for run in usable)
    if threshold > 2 * largest:
        notes.append(
            f"the threshold is extrapolated to {threshold}, more than twice the largest sample ({largest:g}); "
            f"add larger samples to confirm it"
        )
    workload_vram_mb = math.ceil(fit.predict(threshold))
    return Proposal(
        fit, gpu_vram_mb, max_gpu_jobs, margin, threshold, workload_vram_mb, gpu_run_ram_mb, notes=tuple(notes)
    )
