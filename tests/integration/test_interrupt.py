"""Ctrl-C during a deploy: hosts in flight stop at once and are reported interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lab.fleet import Lab
from lab.hosts import Gpu, HostSpec, NvidiaSmiSpec

from .conftest import BINARY, REAL, host_file, skip_without_lab_tools

pytestmark = pytest.mark.lab


def test_ctrl_c_interrupts_hosts_in_flight(fleet, tmp_path):
    slow = host_file(fleet, "a4000", "/usr/local/bin/slow-smi")
    slow.write_text("#!/bin/bash\nsleep 60\n")
    slow.chmod(0o755)
    inventory = tmp_path / "inventory.yml"
    text = fleet.inventory.read_text().replace("        a4000: {}", "        a4000:\n          nvidia_smi: slow-smi")
    inventory.write_text(text)

    command = [sys.executable, "-m", "fleetroute", "deploy", "-i", str(inventory), "--limit", "a4000,mixed", "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not host_file(fleet, "mixed", BINARY).is_symlink():
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 130, stderr
    hosts = json.loads(stdout)["hosts"]
    assert hosts["mixed"]["status"] == "changed"
    assert hosts["a4000"]["status"] == "interrupted"
    assert hosts["a4000"]["error"].startswith("interrupted during probe"), hosts["a4000"]["error"]
    assert not host_file(fleet, "a4000", BINARY).is_symlink()
    assert not host_file(fleet, "a4000", REAL).exists()
    assert os.access(host_file(fleet, "a4000", BINARY), os.X_OK)


def test_ctrl_c_while_connecting_changes_nothing(tmp_path):
    skip_without_lab_tools()
    gpu = NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376),))
    hosts = (
        HostSpec("a4000", nvidia_smi=gpu, groups=("gpu_hosts",)),
        HostSpec("stuck", kind="hang", groups=("faulty",)),
    )
    with Lab(tmp_path / "lab", hosts=hosts, port=0, stop_with_parent=True) as lab:
        command = [sys.executable, "-m", "fleetroute", "deploy", "-i", str(lab.inventory), "--json"]
        process = subprocess.Popen(
            [*command, "--connect-timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        sshd_log = lab.host_dir("a4000") / "sshd.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Accepted publickey" not in sshd_log.read_text(errors="replace"):
            time.sleep(0.1)
        # a4000 is connected, but no host may be changed while stuck is still connecting.
        time.sleep(1.5)
        changed_early = host_file(lab, "a4000", BINARY).is_symlink()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=15)
        changed_after = host_file(lab, "a4000", BINARY).is_symlink()

    assert process.returncode == 130, stderr
    assert not changed_early
    assert not changed_after
    hosts_report = json.loads(stdout)["hosts"]
    assert hosts_report["a4000"]["status"] == "interrupted"
    assert hosts_report["a4000"]["error"] == "interrupted before any change"
    assert hosts_report["stuck"]["status"] == "interrupted"
    assert hosts_report["stuck"]["error"] == "interrupted while connecting"
