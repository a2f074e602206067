"""PNG of the metric distribution per mode, one panel per inventory group, with the threshold.

Needs matplotlib (the ``plot`` extra). Drawn with matplotlib's object API and the Agg
canvas, so no pyplot state or display is involved.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from fleetroute.errors import FleetrouteError
from fleetroute.logs.fleet import FleetLogReport, Scope
from fleetroute.logs.parse import DECISION_MODES
from fleetroute.logs.stats import METRIC, Histogram

WIDTH_IN = 10.0
PANEL_HEIGHT_IN = 3.2
DPI = 100
BINS = 60
COLORS = {"GPU": "tab:green", "CPU": "tab:blue", "GPU-BLOCKED": "tab:orange", "CPU-BLOCKED": "tab:red"}


def check_matplotlib() -> None:
    """Raise ``FleetrouteError`` with the install command when matplotlib is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        raise FleetrouteError("--plot needs matplotlib; install it with: pip install 'fleetroute[plot]'")


def plot_size(panels: int) -> tuple[int, int]:
    """Return the (width, height) in pixels of a plot with ``panels`` panels."""
    return round(WIDTH_IN * DPI), round(PANEL_HEIGHT_IN * DPI * max(panels, 1))


def plot_scopes(report: FleetLogReport) -> list[Scope]:
    """Return the panels' scopes: every group with a read host, or the fleet when there is none."""
    return list(report.groups.values()) or [report.fleet]


def write_plot(report: FleetLogReport, path: Path) -> tuple[int, int]:
    """Write the PNG to ``path`` and return its (width, height) in pixels.

    Raises ``FleetrouteError`` when matplotlib is missing, and ``OSError`` when the
    file cannot be written.
    """
    check_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scopes = plot_scopes(report)
    width, height = plot_size(len(scopes))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes_list = figure.subplots(len(scopes), 1, squeeze=False)[:, 0]
    for axes, scope in zip(axes_list, scopes):
        _draw_panel(axes, report, scope)
    figure.savefig(path, dpi=DPI, format="png")
    return width, height


def _draw_panel(axes, report: FleetLogReport, scope: Scope) -> None:
    hosts = [host for host in report.hosts if host.name in scope.hosts]
    units = sorted({host.settings.threshold_unit for host in hosts})
    histograms = {mode: scope.stats.histograms.get((METRIC, mode)) for mode in DECISION_MODES}
    histograms = {mode: h for mode, h in histograms.items() if h is not None and h.count}
    count = len(scope.hosts)
    axes.set_title(f"{scope.level} {scope.name}: metric per mode ({count} host{'s' if count != 1 else ''})", loc="left", fontsize=10)
    axes.set_xlabel(", ".join(units) or "metric")
    axes.set_ylabel("lines")
    positive = [h.maximum for h in histograms.values() if h.maximum and h.maximum > 0]
    if not positive:
        axes.text(0.5, 0.5, "no metrics in the logs read", ha="center", va="center", transform=axes.transAxes)
        return
    edges = _log_edges(histograms, hosts)
    for mode, histogram in histograms.items():
        values, weights = zip(*histogram.values())
        zeros = sum(w for v, w in zip(values, weights) if v <= 0)
        label = f"{mode} ({histogram.count}" + (f", {zeros} at 0)" if zeros else ")")
        points = [(v, w) for v, w in zip(values, weights) if v > 0]
        if points:
            axes.hist([v for v, _ in points], bins=edges, weights=[w for _, w in points], histtype="step",
                      color=COLORS[mode], label=label, linewidth=1.5)  # fmt: skip
        else:
            axes.plot([], [], color=COLORS[mode], label=label)
    for threshold in sorted({host.settings.threshold_value for host in hosts}):
        axes.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set_xscale("log")
    axes.legend(fontsize=8, loc="upper right")


def _log_edges(histograms: dict[str, Histogram], hosts) -> list[float]:
    """Return BINS + 1 log-spaced bin edges covering every positive value and threshold."""
    values = [value for h in histograms.values() for value, _ in h.values() if value > 0]
    values += [h.maximum for h in histograms.values() if h.maximum and h.maximum > 0]
    values += [host.settings.threshold_value for host in hosts]
    low, high = math.log10(min(values)) - 0.05, math.log10(max(values)) + 0.05
    return [10 ** (low + (high - low) * i / BINS) for i in range(BINS + 1)]
