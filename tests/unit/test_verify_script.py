"""templates/remote/verify.sh run locally, without SSH, against a router installed under tmp_path."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fleetroute.operations.verify.inputs import sample_specs
from fleetroute.operations.verify.judge import judge_blocking, judge_path
from fleetroute.operations.verify.remote import parse_verify_output, verify_script_args
from fleetroute.remote import remote_script
from fleetroute.render import render_router
from fleetroute.settings import HostSettings

SCRIPT = remote_script("verify.sh")
# A workload that prints its arguments and sleeps $FAKE_SLEEP seconds.
WORKLOAD = '#!/bin/bash\nprintf "%s\\n" "$*"\nexec sleep "${FAKE_SLEEP:-0}"\n'
NVIDIA_SMI = '#!/bin/bash\nprintf "0, 100\\n"\n'


@pytest.fixture
def host(tmp_path: Path) -> HostSettings:
    """Install a size-probing router in front of a fake workload under tmp_path; return its settings."""
    for name in ("bin", "lib", "log", "lock", "tmp"):
        (tmp_path / name).mkdir()
    settings = HostSettings.from_values(
        {
            "workload_binary": str(tmp_path / "bin" / "work"),
            "router_path": str(tmp_path / "lib" / "work-router"),
            "router_log": str(tmp_path / "log" / "work.log"),
            "lock_dir": str(tmp_path / "lock"),
            "run_as": getpass.getuser(),
            "nvidia_smi": str(tmp_path / "bin" / "nvidia-smi"),
            "probe": "size",
            "threshold_value": 1000,
            "max_gpu_jobs": 2,
            "gpu_args": ["--device", "cuda"],
            "cpu_args": ["--device", "cpu"],
            "workload_vram_mb": 1000,
            "workload_ram_mb": 1000,
        }
    )
    write_executable(Path(settings.router_path), render_router(settings, host="local", version="0.0.0-test"))
    write_executable(Path(settings.real_binary), WORKLOAD)
    write_executable(Path(settings.nvidia_smi), NVIDIA_SMI)
    Path(settings.workload_binary).symlink_to(settings.router_path)
    return settings


def write_executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def command(settings: HostSettings, mode: str, env: list[str] = ()) -> list[str]:
    small, large = sample_specs(settings)
    args = verify_script_args(settings, mode=mode, small=small, large=large, env=list(env))
    return ["bash", "-c", SCRIPT, "fleetroute-verify", *args]


def environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp")}


def wait_for_file(pattern: str, directory: Path, timeout: float = 10.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(directory.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.05)
    pytest.fail(f"no {pattern} in {directory} within {timeout} s")


def assert_cleaned_up(tmp_path: Path, settings: HostSettings, job_pid: int) -> None:
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not Path(f"/proc/{job_pid}").exists()
    for lock in Path(settings.lock_dir).iterdir():
        assert subprocess.run(["flock", "-n", str(lock), "true"]).returncode == 0, lock


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_clean():
    done = subprocess.run(["shellcheck", "-s", "bash", "-"], input=SCRIPT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_dry_run_passes_path_and_blocking_checks(tmp_path, host):
    done = subprocess.run(command(host, "dry"), capture_output=True, text=True, env=environment(tmp_path), timeout=60)
    assert done.returncode == 0, done.stderr
    run = parse_verify_output("local", done.stdout)

    assert run.access["method"] == "self"
    assert run.writable == {"log_dir": "yes", "log_file": "missing", "lock_dir": "yes"}
    for kind in ("gpu", "cpu"):
        path = judge_path(kind, run, host, full=False, skip_reason="")
        assert path.verdict == "pass", path.reason
        blocked = judge_blocking(kind, run, host, skip_reason="")
        assert blocked.verdict == "pass", blocked.reason
    assert run.jobs["gpu_path"].log.endswith(f"args: {tmp_path}/tmp/{run.inputs['small']['path'].split('/')[-2]}"
                                             "/small.bin --device cuda")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_unwrapped_binary_refused(tmp_path, host):
    Path(host.workload_binary).unlink()
    write_executable(Path(host.workload_binary), WORKLOAD)
    done = subprocess.run(command(host, "dry"), capture_output=True, text=True, env=environment(tmp_path), timeout=60)
    run = parse_verify_output("local", done.stdout)

    assert run.jobs["gpu_path"].refused == f"{host.workload_binary} no longer links to {host.router_path}"
    assert run.jobs["gpu_path"].exit_code is None


def test_terminated_script_stops_job(tmp_path, host):
    process = subprocess.Popen(
        command(host, "full", ["FAKE_SLEEP=60"]), stdout=subprocess.PIPE, text=True, env=environment(tmp_path)
    )
    pid_file = wait_for_file("fleetroute-verify.*/gpu_path.pid", tmp_path / "tmp")
    job_pid = int(wait_for_content(pid_file))

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 143
    assert output.rstrip().endswith("@@fleetroute:end@@")
    assert_cleaned_up(tmp_path, host, job_pid)


def test_closed_connection_stops_job(tmp_path, host):
    process = subprocess.Popen(
        command(host, "full", ["FAKE_SLEEP=60"]), stdout=subprocess.PIPE, env=environment(tmp_path)
    )
    pid_file = wait_for_file("fleetroute-verify.*/gpu_path.pid", tmp_path / "tmp")
    job_pid = int(wait_for_content(pid_file))

    process.stdout.close()
    assert process.wait(timeout=10) == 141
    assert_cleaned_up(tmp_path, host, job_pid)


def wait_for_content(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text:
            return text
        time.sleep(0.05)
    pytest.fail(f"{path} stayed empty for {timeout} s")
