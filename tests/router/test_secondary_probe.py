"""Secondary probe: GPU only when both metrics are below their thresholds."""

from __future__ import annotations

import re

import pytest

from tests.router.conftest import CPU_ARGS, GPU_ARGS, VIDEO_HEIGHT, VIDEO_WIDTH

VIDEO_PIXELS = VIDEO_WIDTH * VIDEO_HEIGHT
UNKNOWN_METRIC = 65


def pixels_router(make_router, threshold: int, **overrides: object):
    return make_router(secondary_probe="pixels", secondary_threshold_value=threshold, **overrides)


def test_both_metrics_below_go_to_gpu(make_router, media):
    router = pixels_router(make_router, VIDEO_PIXELS + 1)

    run = router.run([str(media.video)])

    assert run.returncode == 0
    assert run.argv == [str(media.video), *GPU_ARGS]
    assert run.entry["mode"] == "GPU"
    assert run.entry["metric"] == "1.000000"
    assert run.entry["metric2"] == str(VIDEO_PIXELS)
    assert run.entry["unit2"] == "pixels"
    assert run.entry["threshold2"] == str(VIDEO_PIXELS + 1)
    assert run.entry["reason"] == "-"


def test_secondary_at_threshold_goes_to_cpu(make_router, media):
    router = pixels_router(make_router, VIDEO_PIXELS)

    run = router.run([str(media.video)])

    assert run.argv == [str(media.video), *CPU_ARGS]
    assert run.entry["mode"] == "CPU"
    assert run.entry["metric"] == "1.000000"
    assert run.entry["metric2"] == str(VIDEO_PIXELS)
    assert run.entry["reason"] == "-"


def test_primary_above_goes_to_cpu(make_router, media):
    router = make_router(secondary_probe="size", secondary_threshold_value=10**12)

    run = router.run([str(media.long)])

    assert run.argv == [str(media.long), *CPU_ARGS]
    assert run.entry["mode"] == "CPU"
    assert run.entry["metric2"] == str(media.long.stat().st_size)
    assert run.entry["unit2"] == "bytes"


def test_unknown_secondary_with_primary_above_goes_to_cpu(make_router, media):
    router = pixels_router(make_router, 10**9, on_unknown_metric="gpu")

    run = router.run([str(media.long)])

    assert run.argv == [str(media.long), *CPU_ARGS]
    assert run.entry["mode"] == "CPU"
    assert run.entry["metric"] == "20.000000"
    assert run.entry["metric2"] == "unknown"
    assert run.entry["reason"] == "probe2-no-video-size"


@pytest.mark.parametrize(("policy", "mode", "args"), [("gpu", "GPU", GPU_ARGS), ("cpu", "CPU", CPU_ARGS)])
def test_unknown_secondary_follows_policy(make_router, media, policy, mode, args):
    router = pixels_router(make_router, 10**9, on_unknown_metric=policy)

    run = router.run([str(media.short)])

    assert run.argv == [str(media.short), *args]
    assert run.entry["mode"] == mode
    assert run.entry["metric"] == "5.000000"
    assert run.entry["metric2"] == "unknown"
    assert run.entry["reason"] == "probe2-no-video-size"


def test_unknown_secondary_can_fail(make_router, media):
    router = pixels_router(make_router, 10**9, on_unknown_metric="fail")

    run = router.run([str(media.short)])

    assert run.returncode == UNKNOWN_METRIC
    assert run.argv is None
    assert run.entry["mode"] == "UNKNOWN-FAILED"
    assert run.entry["reason"] == "probe2-no-video-size"


def test_both_unknown_list_both_reasons(make_router, media):
    router = pixels_router(make_router, 10**9)

    run = router.run([str(media.junk)])

    assert run.entry["mode"] == "CPU"
    assert run.entry["metric"] == "unknown"
    assert run.entry["metric2"] == "unknown"
    assert run.entry["reason"] == "probe-exit-1,probe2-exit-1"


def test_no_input_leaves_both_unknown(make_router):
    router = pixels_router(make_router, 10**9)

    run = router.run(["--help"])

    assert run.entry["metric"] == "unknown"
    assert run.entry["metric2"] == "unknown"
    assert run.entry["reason"] == "no-input"


def test_custom_secondary_command(make_router, media):
    size = media.short.stat().st_size
    router = make_router(
        secondary_probe="stat -L -c %s --", secondary_threshold_value=size + 1, secondary_threshold_unit="file bytes"
    )

    run = router.run([str(media.short)])

    assert run.entry["mode"] == "GPU"
    assert run.entry["metric2"] == str(size)
    assert run.entry["unit2"] == r"file\ bytes"


def test_custom_secondary_failure_is_labelled(make_router, media):
    router = make_router(secondary_probe="exit 3; : ", secondary_threshold_value=1, on_unknown_metric="gpu")

    run = router.run([str(media.short)])

    assert run.entry["mode"] == "GPU"
    assert run.entry["metric2"] == "unknown"
    assert run.entry["reason"] == "probe2-exit-3"


def test_secondary_keeps_runbook_prefix(make_router, media):
    router = pixels_router(make_router, 10**9)

    run = router.run([str(media.video)])

    assert re.match(r"^\[ROUTER\] .+ \d{4} mode=GPU metric=1\.000000 time=", run.entry.line)


def test_no_secondary_probe_logs_no_metric2(router, media):
    run = router.run([str(media.short)])

    assert " metric2=" not in run.entry.line
    assert " unit2=" not in run.entry.line
    assert run.entry["metric2"] is None
