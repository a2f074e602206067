"""Ctrl-C during a deploy: hosts in flight stop at once and are reported interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from .conftest import BINARY, REAL, host_file

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
    assert "interrupted" in hosts["a4000"]["error"]
    assert not host_file(fleet, "a4000", BINARY).is_symlink()
    assert not host_file(fleet, "a4000", REAL).exists()
    assert os.access(host_file(fleet, "a4000", BINARY), os.X_OK)
