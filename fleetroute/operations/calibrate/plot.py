"""PNG of peak VRAM against the metric, with the fitted line, the per-job VRAM limit and the threshold.

Needs matplotlib (the ``plot`` extra); drawn with the object API and the Agg canvas,
as the log-stats plot is.
"""

from __future__ import annotations

from pathlib import Path

from fleetroute.logs.plot import check_matplotlib
from fleetroute.operations.calibrate import Calibration

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 5.0, 100


def write_calibration_plot(calibration: Calibration, unit: str, path: Path) -> None:
    """Write the PNG to ``path``.

    Raises ``FleetrouteError`` when matplotlib is missing, and ``OSError`` when the
    file cannot be written.
    """
    check_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    _draw(axes, calibration, unit)
    figure.savefig(path, dpi=DPI, format="png")


def _draw(axes, calibration: Calibration, unit: str) -> None:
    usable = [run for run in calibration.runs if run.usable]
    failed = [run for run in calibration.runs if not run.usable]
    axes.scatter([r.metric for r in usable], [r.peak_vram_mb for r in usable], color="tab:green", label="run")
    if failed:
        axes.scatter([r.metric for r in failed], [r.peak_vram_mb or 0 for r in failed], color="tab:red",
                     marker="x", label="failed run")
    proposal = calibration.proposal
    largest = max((run.metric for run in calibration.runs), default=1.0)
    if proposal and proposal.fit:
        right = max(largest, proposal.threshold_value or 0) * 1.05
        fit = proposal.fit
        label = f"fit: {fit.intercept:.0f} + {fit.slope:.4g} x metric"
        if fit.r_squared is not None:
            label += f" (R² {fit.r_squared:.3f})"
        axes.plot([0, right], [fit.predict(0), fit.predict(right)], color="tab:blue", label=label)
    if proposal and proposal.gpu_vram_mb:
        per_job = proposal.gpu_vram_mb * (1 - proposal.margin) / proposal.max_gpu_jobs
        label = f"VRAM per job: {proposal.gpu_vram_mb} MB less {proposal.margin:.0%} / {proposal.max_gpu_jobs}"
        axes.axhline(per_job, color="tab:orange", linestyle="--", label=label)
    if proposal and proposal.threshold_value is not None:
        axes.axvline(proposal.threshold_value, color="tab:red", linestyle=":",
                     label=f"proposed threshold {proposal.threshold_value} {unit}")
    axes.set_xlabel(f"metric ({unit})")
    axes.set_ylabel("peak VRAM over baseline (MB)")
    axes.set_title(f"calibration of {calibration.binary}")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
