"""ShellCheck and bash -n on the router rendered with every option set the router tests use."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fleetroute.render import render_router
from tests.router.conftest import HOST, VERSION, base_values, build_settings

# Each entry is the overrides of one router test, plus values chosen to stress quoting.
VARIANTS: dict[str, dict[str, object]] = {
    "defaults": {},
    "fractional-threshold": {"threshold_value": 5.000001},
    "zero-threshold": {"threshold_value": 0},
    "huge-threshold": {"threshold_value": 1e20},
    "size": {"probe": "size", "threshold_value": 1000},
    "pixels": {"probe": "pixels", "threshold_value": 100_000},
    "custom-stat": {"probe": "stat -L -c %s --", "threshold_value": 10},
    "custom-function": {
        "probe": 'record() { printf "%s" "$1" >/tmp/x; echo 7.5; }; record',
        "threshold_unit": "tokens",
    },
    "custom-exit": {"probe": "echo 3; exit 4; : "},
    "fake-probe-tool": {"probe_tool": "/tmp/dir with space/fake-ffprobe"},
    "arg": {"input_rule": "arg:2"},
    "arg-skip-flags": {"input_rule": "arg:1", "input_skip_flags": ["--model", "-o", "it's"]},
    "flag": {"input_rule": "flag:--input"},
    "flag-short": {"input_rule": "flag:-i"},
    "env": {"input_rule": "env:JOB_INPUT"},
    "unknown-gpu": {"on_unknown_metric": "gpu"},
    "unknown-fail": {"on_unknown_metric": "fail"},
    "two-slots": {"max_gpu_jobs": 2, "max_cpu_jobs": 2},
    "unit-with-space": {"threshold_unit": "audio seconds"},
    "quoted-values": {
        "gpu_args": ["--device", "cuda", "$(touch pwned)", "`id`", "it's", 'say "hi"', "a\nb", ""],
        "cpu_args": [],
        "router_log": "/var/log/it's here/$HOME.log",
        "lock_dir": "/run/lock/a b/`x`",
        "workload_binary": "/opt/my tools/whisper's",
    },
    "exit-codes": {"blocked_exit_code": 1, "config_error_exit_code": 255, "unknown_metric_exit_code": 2},
    "gpu-full-to-cpu": {"on_gpu_full": "cpu", "max_gpu_jobs": 1},
    "block-wait": {"block_wait_seconds": 1},
    "secondary-pixels": {"secondary_probe": "pixels", "secondary_threshold_value": 2073600},
    "secondary-custom": {
        "secondary_probe": 'record() { printf "%s" "$1" >/tmp/x; echo 7.5; }; record',
        "secondary_threshold_value": 0.5,
        "secondary_threshold_unit": "it's $HOME",
    },
    "supervise": {"router_mode": "supervise"},
    "per-gpu-arg": {"gpu_slot_mode": "per_gpu", "gpu_indices": [0, 1], "gpu_index_arg": "--device_index"},
    "per-gpu-env": {"gpu_slot_mode": "per_gpu", "gpu_indices": [3], "gpu_index_env": True, "max_gpu_jobs": 2},
    "per-gpu-quoted-arg": {"gpu_slot_mode": "per_gpu", "gpu_indices": [0], "gpu_index_arg": "--gpu=$(id) `x`"},
    "everything": {
        "router_mode": "supervise",
        "secondary_probe": "size",
        "secondary_threshold_value": 10**9,
        "gpu_slot_mode": "per_gpu",
        "gpu_indices": [0, 1, 2, 3],
        "gpu_index_arg": "--device_index",
        "on_gpu_full": "cpu",
        "lock_dir": "/run/lock/fleetroute/work/",
    },
}


def render(name: str) -> str:
    values = {**base_values(Path("/srv/fleetroute-test")), **VARIANTS[name]}
    return render_router(build_settings(values), host=HOST, version=VERSION)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    """Write the router of every variant to a file named after the variant."""
    folder = tmp_path_factory.mktemp("rendered")
    paths = {}
    for name in VARIANTS:
        path = folder / f"{name}.sh"
        path.write_text(render(name))
        paths[name] = path
    return paths


def test_shellcheck_finds_nothing(rendered):
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck is not on PATH")
    # SC2310 (optional check) reports every predicate function called in an if, which
    # is how the router is meant to use them.
    result = subprocess.run(
        ["shellcheck", "--shell=bash", "--enable=all", "--exclude=SC2310", *map(str, rendered.values())],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.stdout == ""
    assert result.returncode == 0


def test_default_shellcheck_finds_nothing(rendered):
    result = subprocess.run(
        ["shellcheck", "-s", "bash", "-"],
        input=rendered["quoted-values"].read_text(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout == ""
    assert result.returncode == 0


@pytest.mark.parametrize("name", VARIANTS)
def test_bash_parses_router(rendered, name):
    result = subprocess.run(["bash", "-n", str(rendered[name])], capture_output=True, text=True)

    assert result.stderr == ""
    assert result.returncode == 0


def test_quoted_values_reach_bash_unchanged(rendered):
    """Source the settings block of the quoted-values router and read the arrays back."""
    text = rendered["quoted-values"].read_text()
    settings_block = text[text.index("\n{\n") : text.index("\n}\n") + 3]
    script = settings_block + '\nprintf "%s\\0" "${FR_GPU_ARGS[@]}"; printf "%s\\0" "${FR_ROUTER_LOG}" "${#FR_CPU_ARGS[@]}"'

    output = subprocess.run(["bash", "-c", script], capture_output=True, check=True, cwd="/").stdout

    words = [word.decode() for word in output.split(b"\0")[:-1]]
    assert words[:-2] == VARIANTS["quoted-values"]["gpu_args"]
    assert words[-2] == VARIANTS["quoted-values"]["router_log"]
    assert words[-1] == "0"
