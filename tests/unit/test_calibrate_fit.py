"""Least-squares fit of peak VRAM against the metric, and the proposed threshold."""

from __future__ import annotations

import math

import pytest

from fleetroute.operations.calibrate.fit import Run, fit_line, propose


def run(metric, vram, exit_code=0, ram=None):
    return Run(f"/in/{metric}", metric, exit_code, 1.0, vram, ram, 8)


def test_fit_line_exact():
    fit = fit_line([(0, 1000), (600, 1300), (3600, 2800)])
    assert fit.intercept == pytest.approx(1000)
    assert fit.slope == pytest.approx(0.5)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.points == 3


def test_fit_line_r_squared_of_noise():
    fit = fit_line([(1, 10), (2, 30), (3, 5), (4, 25)])
    # slope = Sxy / Sxx = 10 / 5, so R² = slope x Sxy / SS_tot = 20 / 425.
    assert fit.r_squared == pytest.approx(20 / 425)


def test_fit_line_needs_distinct_metrics():
    with pytest.raises(ValueError, match="same metric"):
        fit_line([(5, 1), (5, 2)])


def test_propose_threshold_for_runbook_gpu():
    runs = [run(m, 1000 + m // 2, ram=3000 + m) for m in (60, 600, 1800, 3600)]
    proposal = propose(runs, 16376, 2, margin=0.1)
    assert proposal.threshold_value == math.floor((16376 * 0.9 / 2 - 1000) / 0.5)
    assert proposal.workload_vram_mb == math.ceil(1000 + 0.5 * proposal.threshold_value)
    assert proposal.workload_vram_mb * 2 <= 16376 * 0.9
    assert proposal.gpu_run_ram_mb == math.ceil(6600 * 1.2)
    assert proposal.reason is None


def test_propose_notes_extrapolation():
    runs = [run(m, 1000 + m // 2) for m in (10, 20, 30)]
    proposal = propose(runs, 16376, 1)
    assert proposal.threshold_value > 60
    assert "extrapolated" in proposal.notes[0]


def test_propose_refuses_poor_fit():
    runs = [run(1, 1100), run(2, 3000), run(3, 1050), run(4, 2500)]
    proposal = propose(runs, 16376, 1)
    assert proposal.threshold_value is None
    assert proposal.workload_vram_mb is None
    assert "does not follow the metric" in proposal.reason


def test_propose_refuses_flat_vram():
    proposal = propose([run(m, 1200) for m in (1, 2, 3)], 16376, 1)
    assert proposal.threshold_value is None
    assert "does not grow" in proposal.reason


def test_propose_ignores_failed_runs():
    runs = [run(60, 1030), run(600, 1300), run(1800, 1900), run(3600, None, exit_code=1)]
    proposal = propose(runs, 2048, 1)
    assert proposal.fit.points == 3
    assert proposal.threshold_value == math.floor((2048 * 0.9 - 1000) / 0.5)


def test_propose_needs_three_runs():
    proposal = propose([run(60, 1030), run(600, 1300)], 16376, 1)
    assert proposal.threshold_value is None
    assert "calibration needs 3" in proposal.reason


def test_propose_smallest_job_too_large():
    runs = [run(m, 5000 + m) for m in (10, 20, 30)]
    proposal = propose(runs, 8192, 2)
    assert proposal.threshold_value is None
    assert "even the smallest job does not fit" in proposal.reason


def test_propose_unknown_vram():
    proposal = propose([run(m, 1000 + m) for m in (10, 20, 30)], None, 1)
    assert proposal.threshold_value is None
    assert "set gpu_vram_mb" in proposal.reason
