"""Concurrent runs against one host: install.sh's host lock serializes them, and the host stays consistent."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from .conftest import BINARY, MANIFEST, REAL, ROUTER, fleetroute, host_file

pytestmark = pytest.mark.lab

ROUNDS = 3
RERUN_MESSAGE = "changed since the probe"


def start(command: str, inventory: str) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "fleetroute", command, "-i", inventory, "--limit", "a4000", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(process: subprocess.Popen) -> tuple[int, dict]:
    stdout, stderr = process.communicate(timeout=120)
    assert stdout, stderr
    return process.returncode, json.loads(stdout)["hosts"]["a4000"]


def assert_outcome(code: int, report: dict) -> None:
    """Check that one run ended ok or changed, or failed asking for a rerun because the other run changed the host."""
    if code == 0:
        assert report["status"] in ("ok", "changed")
    else:
        assert code == 2, report
        assert RERUN_MESSAGE in report["error"]
        assert "rerun" in report["error"]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_wrapped(fleet, original_sha: str) -> None:
    binary = host_file(fleet, "a4000", BINARY)
    manifest = host_file(fleet, "a4000", MANIFEST).read_text()
    assert os.readlink(binary) == ROUTER
    assert sha256(host_file(fleet, "a4000", REAL)) == original_sha
    assert f"router_sha256={sha256(host_file(fleet, 'a4000', ROUTER))}" in manifest
    assert list(binary.parent.glob("*.fleetroute-*")) == []


def assert_unwrapped(fleet, original_sha: str) -> None:
    binary = host_file(fleet, "a4000", BINARY)
    assert not binary.is_symlink()
    assert sha256(binary) == original_sha
    assert not host_file(fleet, "a4000", REAL).exists()
    assert not host_file(fleet, "a4000", ROUTER).exists()
    assert not host_file(fleet, "a4000", MANIFEST).exists()


def test_two_deploys_at_once(fleet):
    inventory = str(fleet.inventory)
    original_sha = sha256(host_file(fleet, "a4000", BINARY))

    for _ in range(ROUNDS):
        first, second = start("deploy", inventory), start("deploy", inventory)
        outcomes = [finish(first), finish(second)]

        for code, report in outcomes:
            assert_outcome(code, report)
        assert_wrapped(fleet, original_sha)
        assert fleetroute("uninstall", "-i", inventory, "--limit", "a4000").exit_code == 0


def test_deploy_and_uninstall_at_once(fleet):
    inventory = str(fleet.inventory)
    original_sha = sha256(host_file(fleet, "a4000", BINARY))

    for _ in range(ROUNDS):
        assert fleetroute("deploy", "-i", inventory, "--limit", "a4000").exit_code == 0
        deploy, uninstall = start("deploy", inventory), start("uninstall", inventory)
        outcomes = [finish(deploy), finish(uninstall)]

        for code, report in outcomes:
            assert_outcome(code, report)
        if host_file(fleet, "a4000", BINARY).is_symlink():
            assert_wrapped(fleet, original_sha)
        else:
            assert_unwrapped(fleet, original_sha)
        assert fleetroute("uninstall", "-i", inventory, "--limit", "a4000").exit_code == 0
        assert_unwrapped(fleet, original_sha)


def test_deploy_waits_for_host_lock(fleet):
    hold_seconds = 3
    state_dir = fleet.host_path("a4000", "/var/lib/fleetroute")
    lock = f"{state_dir}/.whisper-ctranslate2.lock"
    holder = threading.Thread(
        target=fleet.exec,
        args=("a4000", f"mkdir -p {state_dir} && exec flock {lock} sleep {hold_seconds}"),
        kwargs={"timeout": 30},
    )
    started = time.monotonic()
    holder.start()
    time.sleep(0.5)  # let the holder take the lock first

    result = fleetroute("deploy", "-i", str(fleet.inventory), "--limit", "a4000", "--json")
    elapsed = time.monotonic() - started
    holder.join()

    assert result.exit_code == 0, result.stdout
    assert result.json["hosts"]["a4000"]["status"] == "changed"
    assert elapsed >= hold_seconds
    assert host_file(fleet, "a4000", BINARY).is_symlink()
