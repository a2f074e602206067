"""become: deploy as a login user that must sudo, against lab hosts with their own users and sudoers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from lab.fleet import Lab
from lab.hosts import Gpu, HostSpec, LabUser, NvidiaSmiSpec

from .conftest import BINARY, REAL, ROUTER, host_file, skip_without_lab_tools

pytestmark = pytest.mark.lab

PASSWORD = "Ke7-sudo pw'$(touch /tmp/pwned)"
OTHER_PASSWORD = "opsbot-unused-pw"
GPU = NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376),))
USERS = (
    LabUser("deployer", 2001, PASSWORD, sudo="password"),
    LabUser("opsbot", 2002, OTHER_PASSWORD, sudo="nopasswd"),
    LabUser("plain", 2003, "plain-pw", sudo="none"),
)
# nvidia-smi that takes a second, so that the probe's sudo process lives long enough
# for the process-list scan to see it.
SLOW_NVIDIA_SMI = "/usr/local/bin/slow-nvidia-smi"


@pytest.fixture
def sudo_fleet(tmp_path: Path):
    """Yield a lab with a password-sudo host, a passwordless-sudo host and a host without sudo rights."""
    skip_without_lab_tools()
    if os.geteuid() != 0 or not Path("/usr/bin/sudo").exists():
        pytest.skip("lab users need root (namespace isolation) and sudo installed")
    hosts = (
        HostSpec(
            "pwhost",
            nvidia_smi=GPU,
            groups=("sudo_hosts",),
            users=USERS,
            host_vars={"ansible_user": "deployer", "become": True, "nvidia_smi": SLOW_NVIDIA_SMI},
        ),
        HostSpec(
            "nopwhost",
            nvidia_smi=GPU,
            groups=("sudo_hosts",),
            users=USERS,
            host_vars={"ansible_user": "opsbot", "ansible_become": True},
        ),
        HostSpec("plainhost", nvidia_smi=GPU, groups=("other",), users=USERS, host_vars={"ansible_user": "plain"}),
    )
    lab = Lab(tmp_path / "lab", hosts=hosts, port=0, isolation="namespace", stop_with_parent=True)
    lab.up(fresh=True)
    slow = host_file(lab, "pwhost", SLOW_NVIDIA_SMI)
    slow.write_text('#!/bin/bash\nsleep 1\nexec /usr/local/bin/nvidia-smi "$@"\n')
    slow.chmod(0o755)
    yield lab
    lab.down()


def run_cli(*args: str, password: str | None = None) -> subprocess.CompletedProcess:
    """Run fleetroute in a new session (no terminal), with ``password`` on stdin for --ask-become-pass."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fleetroute", *args],
        input=None if password is None else password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        start_new_session=True,
    )


class ProcessScan:
    """Reads every process's command line and environment on this machine until stopped.

    The lab hosts share this machine's process table, so their sudo and bash
    processes are seen here.
    """

    def __init__(self, secret: str):
        self.secret = secret.encode()
        self.leaks: list[str] = []
        self.sudo_commands: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan, daemon=True)

    def __enter__(self) -> ProcessScan:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _scan(self) -> None:
        while not self._stop.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                for name in ("cmdline", "environ"):
                    try:
                        data = Path(entry.path, name).read_bytes()
                    except OSError:
                        continue
                    if self.secret in data:
                        self.leaks.append(f"{entry.name}/{name}: {data[:200]!r}")
                    if name == "cmdline" and data.startswith(b"sudo\0") and b"fleetroute-probe" in data:
                        self.sudo_commands.append(data.decode(errors="replace"))


def test_become_deploy_redeploy_uninstall(sudo_fleet):
    inventory = str(sudo_fleet.inventory)
    limit = ["--limit", "sudo_hosts"]

    with ProcessScan(PASSWORD) as scan:
        first = run_cli("deploy", "-i", inventory, *limit, "--json", "--ask-become-pass", password=PASSWORD)
    assert first.returncode == 0, first.stdout + first.stderr
    assert {name: host["status"] for name, host in yaml.safe_load(first.stdout)["hosts"].items()} == {
        "pwhost": "changed",
        "nopwhost": "changed",
    }
    assert scan.sudo_commands, "the scan never saw the probe's sudo process"
    assert scan.leaks == []
    assert PASSWORD not in first.stdout
    assert PASSWORD not in first.stderr

    for host in ("pwhost", "nopwhost"):
        assert host_file(sudo_fleet, host, BINARY).is_symlink()
        assert host_file(sudo_fleet, host, ROUTER).stat().st_uid == 0
        assert host_file(sudo_fleet, host, REAL).stat().st_uid == 0
        leftovers = list(host_file(sudo_fleet, host, "/tmp").glob("fleetroute-stdin.*"))
        assert leftovers == []

    second = run_cli("deploy", "-i", inventory, *limit, "--json", "--ask-become-pass", password=PASSWORD)
    assert second.returncode == 0, second.stdout + second.stderr
    assert [host["status"] for host in yaml.safe_load(second.stdout)["hosts"].values()] == ["ok", "ok"]

    removed = run_cli("uninstall", "-i", inventory, *limit, "--json", "--ask-become-pass", password=PASSWORD)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert PASSWORD not in removed.stdout + removed.stderr
    for host in ("pwhost", "nopwhost"):
        assert not host_file(sudo_fleet, host, BINARY).is_symlink()
        assert not host_file(sudo_fleet, host, ROUTER).exists()
    for host in ("pwhost", "nopwhost"):
        assert not host_file(sudo_fleet, host, "/tmp/pwned").exists()


def test_become_password_from_inventory(sudo_fleet, tmp_path):
    data = yaml.safe_load(sudo_fleet.inventory.read_text())
    data["all"]["children"]["sudo_hosts"]["hosts"]["pwhost"]["ansible_become_password"] = PASSWORD
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(data))

    result = run_cli("deploy", "-i", str(inventory), "--limit", "sudo_hosts", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert host_file(sudo_fleet, "pwhost", BINARY).is_symlink()


def test_passwordless_sudo_needs_no_password(sudo_fleet):
    result = run_cli("deploy", "-i", str(sudo_fleet.inventory), "--limit", "nopwhost", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    assert host_file(sudo_fleet, "nopwhost", BINARY).is_symlink()


def test_missing_become_password_fails_host(sudo_fleet):
    result = run_cli("deploy", "-i", str(sudo_fleet.inventory), "--limit", "pwhost", "--json")

    assert result.returncode == 2
    error = yaml.safe_load(result.stdout)["hosts"]["pwhost"]["error"]
    assert "asks deployer for a password" in error
    assert "--ask-become-pass" in error
    assert not host_file(sudo_fleet, "pwhost", BINARY).is_symlink()


def test_wrong_become_password_fails_host(sudo_fleet):
    wrong = "not-the-password-9f2"

    result = run_cli("deploy", "-i", str(sudo_fleet.inventory), "--limit", "pwhost", "--json", "-K", password=wrong)

    assert result.returncode == 2
    error = yaml.safe_load(result.stdout)["hosts"]["pwhost"]["error"]
    assert "sudo as root failed for login user deployer" in error
    assert wrong not in result.stdout + result.stderr
    assert not host_file(sudo_fleet, "pwhost", BINARY).is_symlink()


def test_unprivileged_login_without_become_fails(sudo_fleet):
    result = run_cli("deploy", "-i", str(sudo_fleet.inventory), "--limit", "plainhost", "--json")

    assert result.returncode == 2
    error = yaml.safe_load(result.stdout)["hosts"]["plainhost"]["error"]
    assert "Permission denied" in error or "permission denied" in error
    assert not host_file(sudo_fleet, "plainhost", BINARY).is_symlink()


def test_inventory_command_masks_become_password(tmp_path):
    inventory = tmp_path / "inventory.yml"
    host_vars = {"ansible_user": "deployer", "become": True, "become_password": PASSWORD}
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {
                        "workload_binary": "/usr/local/bin/tool",
                        "threshold_value": 10,
                        "gpu_args": ["--gpu"],
                        "cpu_args": ["--cpu"],
                        "workload_vram_mb": 100,
                        "workload_ram_mb": 100,
                    },
                    "hosts": {"gpu1": host_vars},
                }
            }
        )
    )

    as_json = run_cli("inventory", "-i", str(inventory), "--json")
    as_text = run_cli("inventory", "-i", str(inventory))

    assert as_json.returncode == 0, as_json.stderr
    assert yaml.safe_load(as_json.stdout)["inventory"]["gpu1"]["settings"]["become_password"] == "********"
    assert PASSWORD not in as_json.stdout + as_json.stderr
    assert as_text.returncode == 0, as_text.stderr
    assert PASSWORD not in as_text.stdout + as_text.stderr
