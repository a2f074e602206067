"""Routing decisions of the rendered router, with the real ffprobe and a fake workload."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.router.conftest import (
    CPU_ARGS,
    GPU_ARGS,
    HOST,
    VIDEO_HEIGHT,
    VIDEO_WIDTH,
)

ODD_NAMES = [
    "with space.wav",
    "it's.wav",
    'say "hi".wav',
    "été 東京.wav",
    "-leading-dash.wav",
    "a:b.wav",
    "file:c.wav",
    "no-extension",
    "new\nline.wav",
    "$(touch pwned) `id`.wav",
    "glob*?[x].wav",
    " leading and trailing space ",
]


def test_short_audio_goes_to_gpu(router, media):
    run = router.run([str(media.short), "--model", "small"])

    assert run.returncode == 0
    assert run.argv == [str(media.short), "--model", "small", *GPU_ARGS]
    assert run.entry["mode"] == "GPU"
    assert run.entry["metric"] == "5.000000"
    assert run.entry["slot"] == "0"
    assert run.entry["reason"] == "-"


def test_long_audio_goes_to_cpu(router, media):
    run = router.run([str(media.long), "--model", "small"])

    assert run.returncode == 0
    assert run.argv == [str(media.long), "--model", "small", *CPU_ARGS]
    assert run.entry["mode"] == "CPU"
    assert run.entry["metric"] == "20.000000"


@pytest.mark.parametrize(
    ("threshold", "mode"),
    [(5, "CPU"), (5.000001, "GPU"), (4.999, "CPU"), (5.5, "GPU"), (0, "CPU")],
)
def test_threshold_compares_fractions(make_router, media, threshold, mode):
    router = make_router(threshold_value=threshold)

    run = router.run([str(media.short)])

    assert run.entry["mode"] == mode
    assert run.returncode == 0


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_file_name_is_probed_and_passed(router, media, name):
    shutil.copy(media.short, router.root / name)

    run = router.run([name, "--flag"])

    assert run.returncode == 0, run.stderr
    assert run.argv == [name, "--flag", *GPU_ARGS]
    assert run.entry["mode"] == "GPU"
    assert run.entry["metric"] == "5.000000"
    assert run.entry.input == name
    assert run.entry.args == [name, "--flag", *GPU_ARGS]
    assert not (router.root / "pwned").exists()


def test_absolute_odd_path_is_probed(router, media):
    folder = router.root / "dir with: colon"
    folder.mkdir()
    path = folder / "-x y.wav"
    shutil.copy(media.long, path)

    run = router.run([str(path)])

    assert run.argv == [str(path), *CPU_ARGS]
    assert run.entry["metric"] == "20.000000"


def test_peertube_argv_goes_to_gpu(router, media, realworld):
    lines = (realworld / "argv" / "peertube-transcription.argv").read_text().splitlines()
    args = lines[1:]
    media_path = router.root / Path(args[0]).name
    shutil.copy(media.short, media_path)
    output_dir = router.root / "transcription"
    output_dir.mkdir()
    args[0] = str(media_path)
    args[-1] = str(output_dir)

    run = router.run(args)

    assert Path(args[0]).suffix == ""
    assert run.returncode == 0
    assert run.argv == [*args, *GPU_ARGS]
    assert run.entry["mode"] == "GPU"
    assert run.entry.input == str(media_path)


def test_peertube_argv_long_media_goes_to_cpu(make_router, media, realworld):
    router = make_router(input_rule="arg:1")
    args = (realworld / "argv" / "peertube-transcription.argv").read_text().splitlines()[1:]
    media_path = router.root / Path(args[0]).name
    shutil.copy(media.long, media_path)
    args[0] = str(media_path)

    run = router.run(args)

    assert run.argv == [*args, *CPU_ARGS]
    assert run.entry["mode"] == "CPU"


def test_size_probe_counts_bytes(make_router):
    router = make_router(probe="size", threshold_value=1000)
    small = router.root / "small.bin"
    small.write_bytes(b"x" * 999)
    large = router.root / "large.bin"
    large.write_bytes(b"x" * 1000)
    link = router.root / "link-to-large"
    link.symlink_to(large)

    small_run = router.run([str(small)])
    large_run = router.run([str(large)])
    link_run = router.run([str(link)])

    assert small_run.entry["mode"] == "GPU"
    assert small_run.entry["metric"] == "999"
    assert small_run.entry["unit"] == "bytes"
    assert large_run.entry["mode"] == "CPU"
    assert large_run.entry["metric"] == "1000"
    assert link_run.entry["metric"] == "1000"


@pytest.mark.parametrize(("threshold", "mode"), [(100_000, "GPU"), (50_000, "CPU")])
def test_pixels_probe_multiplies_video_size(make_router, media, threshold, mode):
    router = make_router(probe="pixels", threshold_value=threshold)

    run = router.run([str(media.video)])

    assert run.entry["metric"] == str(VIDEO_WIDTH * VIDEO_HEIGHT)
    assert run.entry["mode"] == mode
    assert run.entry["unit"] == "pixels"


def test_pixels_probe_of_audio_is_unknown(make_router, media):
    router = make_router(probe="pixels", threshold_value=100_000)

    run = router.run([str(media.short)])

    assert run.entry["metric"] == "unknown"
    assert run.entry["reason"] == "probe-no-video-size"
    assert run.entry["mode"] == "CPU"


def test_custom_probe_gets_path_as_argument(make_router, media):
    record = make_router().root / "probe-arg"
    command = f'record() {{ printf "%s" "$1" >{record}; echo 7.5; }}; record'
    router = make_router(probe=command, threshold_value=8, threshold_unit="tokens")
    name = "$(touch pwned) it's.wav"
    shutil.copy(media.short, router.root / name)

    run = router.run([name])

    assert record.read_text() == name
    assert run.entry["metric"] == "7.5"
    assert run.entry["mode"] == "GPU"
    assert run.entry["unit"] == "tokens"
    assert not (router.root / "pwned").exists()


def test_custom_probe_guards_leading_dash(make_router, media):
    record = make_router().root / "probe-arg"
    router = make_router(probe=f'record() {{ printf "%s" "$1" >{record}; echo 1; }}; record')
    shutil.copy(media.short, router.root / "-n.wav")

    run = router.run(["-n.wav"])

    assert record.read_text() == "./-n.wav"
    assert run.argv == ["-n.wav", *GPU_ARGS]


def test_custom_probe_with_stat(make_router):
    router = make_router(probe="stat -L -c %s --", threshold_value=10)
    path = router.root / "nine bytes"
    path.write_bytes(b"123456789")

    run = router.run([str(path)])

    assert run.entry["metric"] == "9"
    assert run.entry["mode"] == "GPU"


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("echo 1; echo 2; : ", "probe-unexpected-output"),
        ("echo twelve; : ", "probe-unexpected-output"),
        ("echo -5; : ", "probe-unexpected-output"),
        ("true", "probe-empty-output"),
        ("echo 3; exit 4; : ", "probe-exit-4"),
    ],
)
def test_custom_probe_bad_output_is_unknown(make_router, media, command, reason):
    router = make_router(probe=command)

    run = router.run([str(media.short)])

    assert run.entry["metric"] == "unknown"
    assert run.entry["reason"] == reason
    assert run.argv == [str(media.short), *CPU_ARGS]


def test_probe_does_not_consume_stdin(make_router, media):
    router = make_router(probe="cat >/dev/null; echo 1; : ")

    run = router.run([str(media.short)], env={"FAKE_WORKLOAD_MODE": "stdin"}, stdin=b"job data\n")

    assert run.stdin == b"job data\n"
    assert run.entry["mode"] == "GPU"


@pytest.mark.parametrize(("policy", "mode"), [("cpu", "CPU"), ("gpu", "GPU")])
def test_unknown_metric_follows_policy(make_router, media, policy, mode):
    router = make_router(on_unknown_metric=policy)

    run = router.run([str(media.junk), "--x"])

    expected_args = GPU_ARGS if mode == "GPU" else CPU_ARGS
    assert run.returncode == 0
    assert run.argv == [str(media.junk), "--x", *expected_args]
    assert run.entry["mode"] == mode
    assert run.entry["metric"] == "unknown"
    assert run.entry["reason"].startswith("probe-exit-")


def test_unknown_metric_fail_policy_exits(make_router, media):
    router = make_router(on_unknown_metric="fail")

    run = router.run(["--no-input-here"])

    assert run.returncode == 65
    assert run.argv is None
    assert run.entry["mode"] == "UNKNOWN-FAILED"
    assert run.entry["reason"] == "no-input"
    assert run.entry["slot"] == "-"
    assert "unknown metrics are set to fail" in run.stderr


def test_workload_exit_code_and_pid_pass_through(router, media):
    run = router.run([str(media.short)], env={"FAKE_WORKLOAD_EXIT": "3"})

    assert run.returncode == 3
    assert run.entry["pid"] == str(run.workload_pid)


def test_environment_reaches_workload_unchanged(router, media):
    caller_env = {
        "input": "caller input",
        "mode": "caller mode",
        "slot": "7",
        "HOST": "caller host",
        "LC_ALL": "C.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    show = {"FAKE_WORKLOAD_SHOW_ENV": " ".join([*caller_env, "fr_input", "FR_LOCK_DIR"])}

    run = router.run([str(media.short)], env={**caller_env, **show})

    assert run.env == caller_env
    assert run.entry["host"] == HOST


def test_stdin_reaches_workload(router, media):
    run = router.run([str(media.short)], env={"FAKE_WORKLOAD_MODE": "stdin"}, stdin=b"abc\0def")

    assert run.stdin == b"abc\0def"


def test_no_arguments_route_by_policy(router):
    run = router.run([])

    assert run.argv == CPU_ARGS
    assert run.entry["reason"] == "no-input"
    assert run.entry.input == ""


def test_missing_real_binary_is_config_error(router, media):
    Path(router.settings.real_binary).unlink()

    run = router.run([str(media.short)])

    assert run.returncode == 78
    assert run.entry["mode"] == "GPU-CONFIG-ERROR"
    assert run.entry["reason"] == "real-binary-missing"
    assert "missing or not executable" in run.stderr


def test_real_binary_pointing_at_router_is_config_error(router, media):
    real = Path(router.settings.real_binary)
    real.unlink()
    real.symlink_to(router.root / "router")

    run = router.run([str(media.short)])

    assert run.returncode == 78
    assert run.entry["reason"] == "real-binary-is-router"
    assert len(router.log_lines()) == 1
