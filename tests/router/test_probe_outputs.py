"""Probe outputs seen in the field (N/A, empty, fractional, noise) and broken media files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.router.conftest import CPU_ARGS, GPU_ARGS


@pytest.fixture
def probed_router(make_router, fake_probe):
    """Return a function that installs a router whose probe_tool is the fake ffprobe."""

    def make(**overrides):
        return make_router(probe_tool=str(fake_probe), **overrides)

    return make


def write(router, name: str, text: str) -> str:
    path = router.root / name
    path.write_text(text)
    return str(path)


def fake_run(router, media, output: str, *, streams: str | None = None, exit_code: int = 0):
    """Run the router on the short audio with the fake probe printing ``output`` (and ``streams``)."""
    env = {"FAKE_PROBE_OUTPUT": write(router, "probe-output", output), "FAKE_PROBE_EXIT": str(exit_code)}
    if streams is not None:
        env["FAKE_PROBE_STREAMS"] = write(router, "probe-streams", streams)
    return router.run([str(media.short)], env=env)


def test_fractional_duration_above_threshold(probed_router, media, realworld):
    router = probed_router(threshold_value=3600)
    output = (realworld / "ffprobe" / "duration-fractional.txt").read_text()

    run = fake_run(router, media, output)

    assert run.entry["metric"] == "5417.392000"
    assert run.entry["mode"] == "CPU"


def test_fractional_duration_below_threshold(probed_router, media, realworld):
    router = probed_router(threshold_value=5417.4)
    output = (realworld / "ffprobe" / "duration-fractional.txt").read_text()

    run = fake_run(router, media, output)

    assert run.entry["metric"] == "5417.392000"
    assert run.entry["mode"] == "GPU"


def test_duration_na_everywhere_is_unknown(probed_router, media, realworld):
    router = probed_router()
    output = (realworld / "ffprobe" / "duration-na.txt").read_text()

    run = fake_run(router, media, output)

    assert run.entry["metric"] == "unknown"
    assert run.entry["reason"] == "probe-duration-na"
    assert run.argv == [str(media.short), *CPU_ARGS]


def test_empty_duration_is_unknown_not_zero(probed_router, media, realworld):
    router = probed_router(on_unknown_metric="cpu")
    output = (realworld / "ffprobe" / "duration-empty.txt").read_text()

    run = fake_run(router, media, output)

    assert output == ""
    assert run.entry["metric"] == "unknown"
    assert run.entry["reason"] == "probe-empty-output"
    assert run.entry["mode"] == "CPU"


def test_duration_na_falls_back_to_longest_stream(probed_router, media):
    router = probed_router()

    run = fake_run(router, media, "N/A\n", streams="N/A\n12.5\n7.250000\n0.000000\n")

    assert run.entry["metric"] == "12.5"
    assert run.entry["mode"] == "CPU"


def test_zero_duration_falls_back_to_streams(probed_router, media):
    router = probed_router()

    run = fake_run(router, media, "0.000000\n", streams="4.5\n")

    assert run.entry["metric"] == "4.5"
    assert run.entry["mode"] == "GPU"


def test_stream_fallback_with_noise_is_unknown(probed_router, media):
    router = probed_router()

    run = fake_run(router, media, "N/A\n", streams="N/A\nWarning: something\n3.0\n")

    assert run.entry["reason"] == "probe-unexpected-output"


@pytest.mark.parametrize(
    "output",
    [
        "[mov,mp4 @ 0x55d1c] stream 1, timescale not set\n5.0\n",
        "5.0\n6.0\n",
        "5.0 seconds\n",
        "-5.0\n",
        "1e3\n",
        "duration=5.0\n",
    ],
)
def test_duration_with_noise_is_unknown(probed_router, media, output):
    router = probed_router()

    run = fake_run(router, media, output)

    assert run.entry["metric"] == "unknown"
    assert run.entry["reason"] == "probe-unexpected-output"


def test_duration_tolerates_blank_lines_and_crlf(probed_router, media):
    router = probed_router()

    run = fake_run(router, media, "\r\n  5.5 \r\n\n")

    assert run.entry["metric"] == "5.5"
    assert run.entry["mode"] == "GPU"


def test_probe_exit_code_wins_over_output(probed_router, media):
    router = probed_router()

    run = fake_run(router, media, "5.0\n", exit_code=1)

    assert run.entry["reason"] == "probe-exit-1"
    assert run.entry["mode"] == "CPU"


def test_missing_probe_tool_is_unknown(make_router, media):
    router = make_router(probe_tool="/nonexistent/ffprobe")

    run = router.run([str(media.short)])

    assert run.entry["reason"] == "probe-exit-127"
    assert run.returncode == 0


def test_probe_gets_file_prefixed_path(probed_router, media):
    router = probed_router()
    argv_file = router.root / "probe-argv"
    name = "-a:b.wav"
    Path(router.root / name).write_bytes(b"")

    router.run([name], env={"FAKE_PROBE_OUTPUT": write(router, "out", "N/A\n"), "FAKE_PROBE_ARGV": str(argv_file)})

    calls = [call.split(b"\0") for call in argv_file.read_bytes().split(b"\0\n")[:-1]]
    assert len(calls) == 2
    assert all(call[-1] == b"file:-a:b.wav" for call in calls)
    assert b"format=duration" in calls[0]
    assert b"stream=duration" in calls[1]


def test_pixels_ignore_side_data_lines(probed_router, media):
    router = probed_router(probe="pixels", threshold_value=3_000_000)
    output = "width=1920\nheight=1080\nside_data_type=Display Matrix\nrotation=-90\nwidth=7\n"

    run = fake_run(router, media, output)

    assert run.entry["metric"] == str(1920 * 1080)
    assert run.entry["mode"] == "GPU"


@pytest.mark.parametrize("output", ["1920,1080,\n", "width=N/A\nheight=1080\n", "width=0\nheight=0\n", ""])
def test_pixels_without_sizes_are_unknown(probed_router, media, output):
    router = probed_router(probe="pixels", threshold_value=3_000_000)

    run = fake_run(router, media, output)

    assert run.entry["metric"] == "unknown"
    assert run.entry["reason"] == "probe-no-video-size"


@pytest.mark.parametrize(
    ("file", "reason"),
    [("junk", "probe-exit-1"), ("empty", "probe-exit-1"), ("live_webm", "probe-duration-na")],
)
def test_broken_media_is_unknown(router, media, file, reason):
    path = getattr(media, file)

    run = router.run([str(path)])

    assert run.entry["metric"] == "unknown"
    assert run.entry["reason"] == reason
    assert run.argv == [str(path), *CPU_ARGS]


def test_broken_media_with_gpu_policy(make_router, media):
    router = make_router(on_unknown_metric="gpu")

    run = router.run([str(media.live_webm)])

    assert run.argv == [str(media.live_webm), *GPU_ARGS]
    assert run.entry["mode"] == "GPU"
