"""fleetroute budget against real sshd hosts of the lab fleet."""

from __future__ import annotations

import pytest
import yaml

from lab.fleet import Lab
from lab.hosts import Gpu, HostSpec, NvidiaSmiSpec

from .conftest import fleetroute, skip_without_lab_tools

pytestmark = pytest.mark.lab

# The lab inventory's all.vars: workload_vram_mb 3700, max_gpu_jobs 2, workload_ram_mb
# 2000, max_cpu_jobs 1, os_reserved_ram_mb 1024.
HOSTS = (
    HostSpec("fits", nvidia_smi=NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376),)), groups=("gpu_hosts",)),
    HostSpec(
        "twosizes",
        nvidia_smi=NvidiaSmiSpec(gpus=(Gpu("NVIDIA GeForce RTX 3090", 24576), Gpu("NVIDIA T400", 4096))),
        groups=("gpu_hosts",),
    ),
    HostSpec("unified", nvidia_smi=NvidiaSmiSpec(gpus=(Gpu("NVIDIA GB10", None, None),)), groups=("gpu_hosts",)),
    HostSpec(
        "unifiedset",
        nvidia_smi=NvidiaSmiSpec(gpus=(Gpu("NVIDIA GB10", None, None),)),
        groups=("gpu_hosts",),
        host_vars={"gpu_vram_mb": 98304},
    ),
    HostSpec(
        "busy",
        nvidia_smi=NvidiaSmiSpec(gpus=(Gpu("NVIDIA A100-SXM4-40GB", 40960, 39000),)),
        groups=("gpu_hosts",),
    ),
    HostSpec("down", kind="offline", nvidia_smi=None, workload=False, groups=("faulty",)),
)


@pytest.fixture(scope="module")
def budget_lab(tmp_path_factory):
    skip_without_lab_tools()
    lab = Lab(tmp_path_factory.mktemp("budget") / "lab", hosts=HOSTS, port=0, stop_with_parent=True)
    lab.up(fresh=True)
    yield lab
    lab.down()


def test_budget_json_per_host(budget_lab):
    result = fleetroute("budget", "-i", str(budget_lab.inventory), "--json")
    assert result.exit_code == 2 | 4, result.stdout + result.stderr
    hosts = result.json["hosts"]

    fits = hosts["fits"]
    assert fits["status"] == "ok"
    assert fits["gpus"][0]["vram_mb"] == 16376
    assert fits["gpus"][0]["vram_headroom_mb"] == 16376 - 2 * 3700
    assert fits["max_gpu_jobs_fit"] == 16376 // 3700
    assert fits["ram_headroom_mb"] == fits["ram_mb"] - 1024 - 2000
    assert fits["max_cpu_jobs_fit"] == (fits["ram_mb"] - 1024) // 2000
    assert fits["memory_max_mb"] == 2400
    assert 0 <= fits["ram_used_other_mb"] <= fits["ram_mb"]

    two = hosts["twosizes"]
    assert two["status"] == "failed"
    assert [gpu["vram_headroom_mb"] for gpu in two["gpus"]] == [24576 - 7400, 4096 - 7400]
    assert two["max_gpu_jobs_fit"] == 1
    assert "GPU 1 (NVIDIA T400)" in two["error"]

    assert hosts["unified"]["status"] == "failed"
    assert hosts["unified"]["gpus"][0]["vram_mb"] is None
    assert "set gpu_vram_mb" in hosts["unified"]["error"]
    assert hosts["unifiedset"]["status"] == "ok"
    assert hosts["unifiedset"]["gpus"][0]["vram_headroom_mb"] == 98304 - 7400

    busy = hosts["busy"]
    assert busy["status"] == "ok"
    assert busy["gpus"][0]["vram_used_mb"] == 39000
    assert busy["gpus"][0]["crowded"] is True
    assert any("39000 MB of 40960 MB VRAM is in use now" in warning for warning in busy["warnings"])
    assert not any("VRAM is in use" in warning for warning in fits["warnings"])

    assert hosts["down"]["status"] == "unreachable"


def test_budget_table_and_exit_zero(budget_lab):
    result = fleetroute("budget", "-i", str(budget_lab.inventory), "--limit", "fits,unifiedset")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "memory budget (MB)" in result.stdout
    assert "+8976" in result.stdout
    assert "+90904" in result.stdout


def test_budget_table_flags_busy_gpu(budget_lab):
    result = fleetroute("budget", "-i", str(budget_lab.inventory), "--limit", "busy")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert "39000!" in result.stdout
    assert "VRAM is in use now" in result.stdout


def test_budget_table_shows_problems(budget_lab):
    result = fleetroute("budget", "-i", str(budget_lab.inventory), "--limit", "twosizes")
    assert result.exit_code == 2
    assert "-3304" in result.stdout
    assert "lower max_gpu_jobs to 1 or less" in result.stdout


UNIT_TEXT = """\
[Unit]
Description=CI runner that calls whisper-ctranslate2

[Service]
ExecStart=/usr/local/bin/runner
ProtectSystem=strict
ReadWritePaths=/var/log/fleetroute
"""


def systemd_inventory(lab, tmp_path):
    """Write the runner unit into a private unit directory of host "fits", and an inventory that uses it."""
    unit_dir = lab.host_path("fits", "/var/lib/fleetroute-test-units")
    local_dir = lab.fs_path("fits", "/var/lib/fleetroute-test-units")
    local_dir.mkdir(parents=True, exist_ok=True)
    (local_dir / "runner.service").write_text(UNIT_TEXT)
    inventory = yaml.safe_load(lab.inventory.read_text())
    inventory["all"]["vars"].update(
        systemd_unit="runner", systemd_dropin_dir=unit_dir, systemd_unit_dirs=[unit_dir]
    )
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path, local_dir / "runner.service.d" / "fleetroute-memory.conf"


def test_deploy_writes_memory_dropin(budget_lab, tmp_path):
    inventory, dropin = systemd_inventory(budget_lab, tmp_path)

    checked = fleetroute("deploy", "-i", str(inventory), "--limit", "fits", "--json", "--check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert not dropin.exists()
    assert any("fleetroute-memory.conf" in change for change in checked.json["hosts"]["fits"]["changes"])

    first = fleetroute("deploy", "-i", str(inventory), "--limit", "fits", "--json")
    assert first.exit_code == 0, first.stdout + first.stderr
    report = first.json["hosts"]["fits"]
    assert "[Service]\nMemoryMax=2400M\n" in dropin.read_text()
    (warning,) = [w for w in report["warnings"] if "ProtectSystem" in w]
    assert "lock directory /run/lock/fleetroute/whisper-ctranslate2" in warning
    assert "add ReadWritePaths=/run/lock/fleetroute/whisper-ctranslate2 to runner.service" in warning

    second = fleetroute("deploy", "-i", str(inventory), "--limit", "fits", "--json")
    assert second.json["hosts"]["fits"]["status"] == "ok"

    removed = fleetroute("uninstall", "-i", str(inventory), "--limit", "fits", "--json")
    assert removed.exit_code == 0, removed.stdout + removed.stderr
    assert not dropin.exists()
    assert not dropin.parent.exists()
