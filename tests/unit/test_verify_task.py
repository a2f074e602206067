"""verify's per-host task: checking verify_env, and when the job checks are skipped."""

from __future__ import annotations

import pytest

from fleetroute.errors import PreflightError
from fleetroute.facts.gpu import Gpu, GpuFacts
from fleetroute.facts.host import HostFacts, PathState
from fleetroute.operations.verify.remote import RemoteRun
from fleetroute.operations.verify.task import checked_env, job_skip_reason, judge_checks

from .helpers import install_state, whisper_settings


def test_env_entries_accepted():
    assert checked_env(["HF_HOME=/var/cache/hf", "EMPTY=", "_X=a=b"]) == ["HF_HOME=/var/cache/hf", "EMPTY=", "_X=a=b"]


@pytest.mark.parametrize("entry", ["HF_HOME", "=x", "1X=2", "-u=x", "A B=1"])
def test_env_entry_rejected(entry):
    with pytest.raises(PreflightError, match=f"verify_env entry {entry!r} is invalid: expected NAME=VALUE"):
        checked_env([entry])


def test_unsafe_install_skips_jobs():
    assert job_skip_reason(RemoteRun(access={"method": "self"}), "the router is missing") == (
        "not run: the router is missing"
    )


def test_missing_access_skips_jobs():
    remote = RemoteRun(access={"method": "none", "reason": "user runner does not exist on the host"})
    assert job_skip_reason(remote, "") == "not run: user runner does not exist on the host"


def test_every_check_judged_in_table_order():
    settings = whisper_settings()
    facts = HostFacts(
        gpu=GpuFacts(True, (Gpu(0, "NVIDIA RTX A4000", 16376, 0, "550.54.15"),)),
        ram_total_mb=32000,
        ram_available_mb=30000,
        probe_tool_path="/usr/bin/ffprobe",
        run_as_uid=0,
        remote_user="root",
        install=install_state(binary=PathState("file"), manifest={"router_sha256": "a" * 64}),
    )
    checks = judge_checks(facts, RemoteRun(access={"method": "self"}), settings, "a" * 64, full=False, unsafe="x")

    assert list(checks) == ["install", "gpus", "gpu_path", "cpu_path", "gpu_blocking", "cpu_blocking"]
    assert checks["install"].reason.startswith("drift:")
    assert {checks[name].reason for name in list(checks)[2:]} == {"not run: x"}
