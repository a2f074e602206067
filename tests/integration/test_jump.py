"""Jump hosts: a lab host in its own network namespace, reachable only through another lab host."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from lab.fleet import Lab
from lab.hosts import Gpu, HostSpec, NvidiaSmiSpec

from .conftest import BINARY, fleetroute, host_file, skip_without_lab_tools

pytestmark = pytest.mark.lab

GPU = NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376),))


@pytest.fixture
def jump_fleet(tmp_path: Path):
    """Yield a lab where "inner" listens only in its own network namespace.

    jump2's SSH sessions run in that namespace, so jump2 is the last hop to inner;
    jump1 is an ordinary host that can reach jump2.
    """
    skip_without_lab_tools()
    if os.geteuid() != 0:
        pytest.skip("a private network namespace needs root (namespace isolation)")
    hosts = (
        HostSpec("inner", nvidia_smi=GPU, groups=("inner_hosts",), private_network=True),
        HostSpec("jump1", nvidia_smi=None, workload=False),
        HostSpec("jump2", nvidia_smi=None, workload=False, jump_into="inner"),
    )
    lab = Lab(tmp_path / "lab", hosts=hosts, port=0, isolation="namespace", stop_with_parent=True)
    lab.up(fresh=True)
    yield lab
    lab.down()


def accepted_sessions(lab: Lab, host: str) -> int:
    return (lab.host_dir(host) / "sshd.log").read_text().count("Accepted publickey")


def inventory_with(lab: Lab, tmp_path: Path, **host_vars: str) -> Path:
    data = yaml.safe_load(lab.inventory.read_text())
    data["all"]["children"]["inner_hosts"]["hosts"]["inner"] = dict(host_vars)
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def ssh_config_with_jump(lab: Lab, tmp_path: Path, proxy_jump: str) -> Path:
    """Write a copy of the lab's ssh_config whose inner entry has ``ProxyJump proxy_jump``, and an inventory using it."""
    config = tmp_path / "ssh_config"
    text = re.sub(r"(Host inner\n)", rf"\1    ProxyJump {proxy_jump}\n", lab.ssh_config.read_text())
    config.write_text(text)
    inventory = tmp_path / "inventory-config.yml"
    inventory.write_text(lab.inventory.read_text().replace(str(lab.ssh_config), str(config)))
    return inventory


def test_inner_host_refuses_direct_connection(jump_fleet):
    result = fleetroute("deploy", "-i", str(jump_fleet.inventory), "--json", "--connect-timeout", "3")

    assert result.exit_code == 4
    assert "connection refused" in result.json["hosts"]["inner"]["error"]


def test_proxyjump_option_in_inventory(jump_fleet, tmp_path):
    inventory = inventory_with(jump_fleet, tmp_path, ansible_ssh_common_args="-o ProxyJump=jump2")

    result = fleetroute("deploy", "-i", str(inventory), "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.json["hosts"]["inner"]["status"] == "changed"
    assert host_file(jump_fleet, "inner", BINARY).is_symlink()
    assert accepted_sessions(jump_fleet, "jump2") == 1


def test_two_hops_with_dash_j_in_inventory(jump_fleet, tmp_path):
    inventory = inventory_with(jump_fleet, tmp_path, ansible_ssh_common_args="-J jump1,jump2")

    result = fleetroute("deploy", "-i", str(inventory), "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert accepted_sessions(jump_fleet, "jump1") == 1
    assert accepted_sessions(jump_fleet, "jump2") == 1


def test_two_hops_from_ssh_config(jump_fleet, tmp_path):
    inventory = ssh_config_with_jump(jump_fleet, tmp_path, "jump1,jump2")

    first = fleetroute("deploy", "-i", str(inventory), "--json")
    again = fleetroute("deploy", "-i", str(inventory), "--json")

    assert first.exit_code == 0, first.stdout + first.stderr
    assert first.json["hosts"]["inner"]["status"] == "changed"
    assert again.json["hosts"]["inner"]["status"] == "ok"
    assert accepted_sessions(jump_fleet, "jump1") == 2


def test_hops_are_taken_in_listed_order(jump_fleet, tmp_path):
    # jump2's sessions live in inner's network, where jump1's address has no listener.
    inventory = ssh_config_with_jump(jump_fleet, tmp_path, "jump2,jump1")

    result = fleetroute("deploy", "-i", str(inventory), "--json", "--connect-timeout", "3")

    assert result.exit_code == 4
    assert not host_file(jump_fleet, "inner", BINARY).is_symlink()


def test_unsupported_ssh_common_args_rejected(tmp_path):
    inventory = tmp_path / "inventory.yml"
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
                    "hosts": {"gpu1": {"ansible_ssh_common_args": "-o ProxyCommand='ssh -W %h:%p bastion'"}},
                }
            }
        )
    )

    result = fleetroute("deploy", "-i", str(inventory))

    message = " ".join(result.stderr.split())
    assert result.exit_code == 1
    assert "unsupported ssh option -o 'ProxyCommand=ssh -W %h:%p bastion'" in message
    assert "only -o ProxyJump=HOPS works" in message


def test_jump_host_key_error_names_jump_host(jump_fleet, tmp_path):
    jump2 = f"[{jump_fleet.address('jump2')}]:{jump_fleet.state.port} "
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "".join(f"{line}\n" for line in jump_fleet.known_hosts.read_text().splitlines() if not line.startswith(jump2))
    )
    config = tmp_path / "ssh_config"
    config.write_text(re.sub(r"UserKnownHostsFile .*", f"UserKnownHostsFile {known_hosts}", jump_fleet.ssh_config.read_text()))
    data = yaml.safe_load(jump_fleet.inventory.read_text().replace(str(jump_fleet.ssh_config), str(config)))
    data["all"]["children"]["inner_hosts"]["hosts"]["inner"] = {"ansible_ssh_common_args": "-o ProxyJump=jump2"}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(data))

    result = fleetroute("deploy", "-i", str(inventory), "--json", "--limit", "inner")
    error = result.json["hosts"]["inner"]["error"]

    assert result.exit_code == 4, result.stdout
    assert error.startswith(f"jump host jump2: host key for {jump2.strip()} is unknown"), error
