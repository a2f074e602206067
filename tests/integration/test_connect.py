"""Host keys, invalid inventories and unreachable hosts, against real sshd hosts."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time

import pytest

from lab.fleet import Lab
from lab.hosts import Gpu, HostSpec, NvidiaSmiSpec

from .conftest import BINARY, fleetroute, host_file, skip_without_lab_tools

pytestmark = pytest.mark.lab


def config_with_known_hosts(lab, tmp_path, known_hosts):
    """Write a copy of the lab's ssh_config that reads ``known_hosts`` instead, and an inventory using it."""
    config = tmp_path / "ssh_config"
    config.write_text(
        re.sub(r"UserKnownHostsFile .*", f"UserKnownHostsFile {known_hosts}", lab.ssh_config.read_text())
    )
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(lab.inventory.read_text().replace(str(lab.ssh_config), str(config)))
    return inventory


def sshd_sessions(lab, host):
    return (lab.host_dir(host) / "sshd.log").read_text().count("Accepted publickey")


def test_unknown_host_key_fails_with_fix(fleet, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    inventory = config_with_known_hosts(fleet, tmp_path, known_hosts)

    result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json")
    assert result.exit_code == 4
    error = result.json["hosts"]["a4000"]["error"]
    assert "is unknown" in error
    assert "SHA256:" in error
    assert not host_file(fleet, "a4000", BINARY).is_symlink()

    fix = error.split("then run: ")[1].split(" (or rerun")[0]
    subprocess.run(["bash", "-c", fix], check=True, capture_output=True, timeout=30)
    assert fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json").exit_code == 0


def test_accept_new_host_keys_records_key(fleet, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    inventory = config_with_known_hosts(fleet, tmp_path, known_hosts)
    result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json", "--accept-new-host-keys")
    assert result.exit_code == 0, result.stdout
    recorded = known_hosts.read_text()
    assert f"[{fleet.address('a4000')}]:{fleet.state.port} ssh-ed25519 " in recorded

    again = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json")
    assert again.exit_code == 0
    assert known_hosts.read_text() == recorded


def test_changed_host_key_names_known_hosts_line(fleet, tmp_path):
    other_key = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    name = f"[{fleet.address('a4000')}]:{fleet.state.port}"
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"# first line\n{name} {other_key.with_suffix('.pub').read_text().split()[0]} "
                           f"{other_key.with_suffix('.pub').read_text().split()[1]}\n")
    inventory = config_with_known_hosts(fleet, tmp_path, known_hosts)

    for extra in ([], ["--accept-new-host-keys"]):
        result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json", *extra)
        error = result.json["hosts"]["a4000"]["error"]
        assert result.exit_code == 4
        assert "CHANGED" in error
        assert f"{known_hosts}:2" in error
        assert f"ssh-keygen -f {known_hosts} -R {shlex.quote(name)}" in error
    assert not host_file(fleet, "a4000", BINARY).is_symlink()


def test_bad_key_fails_before_any_change(fleet, tmp_path):
    other_key = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    mixed = f"[{fleet.address('mixed')}]:{fleet.state.port} "
    lines = fleet.known_hosts.read_text().splitlines()
    key_type, key = other_key.with_suffix(".pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("".join(
        f"{mixed}{key_type} {key}\n" if line.startswith(mixed) else f"{line}\n" for line in lines
    ))
    inventory = config_with_known_hosts(fleet, tmp_path, known_hosts)

    # One host at a time, in inventory order (a4000 before mixed): without a connect
    # phase for every host first, a4000 would be changed before mixed's key is seen.
    result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000,mixed", "--forks", "1")
    host_lines = [line.split()[:2] for line in result.stdout.splitlines() if line.split()[:1] in (["a4000"], ["mixed"])]
    assert result.exit_code == 4, result.stdout
    assert host_lines[0] == ["mixed", "unreachable"]
    assert host_lines[1] == ["a4000", "changed"]
    assert "CHANGED" in result.stdout
    assert host_file(fleet, "a4000", BINARY).is_symlink()
    assert not host_file(fleet, "mixed", BINARY).is_symlink()


def test_each_host_connects_once(fleet):
    before = {host: sshd_sessions(fleet, host) for host in ("a4000", "mixed")}
    result = fleetroute("deploy", "-i", str(fleet.inventory), "--limit", "a4000,mixed", "--json")
    assert result.exit_code == 0, result.stdout
    for host, count in before.items():
        assert sshd_sessions(fleet, host) == count + 1, host


def lab_key_line(lab, host):
    """Return the lab's known_hosts line for ``host``."""
    name = f"[{lab.address(host)}]:{lab.state.port} "
    return next(line for line in lab.known_hosts.read_text().splitlines() if line.startswith(name))


def test_unreadable_known_hosts_lines_skipped(fleet, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    ca_key = lab_key_line(fleet, "mixed").split()[2]
    known_hosts.write_text(
        f"@cert-authority *.corp.example ssh-ed25519 {ca_key}\n"
        "truncated-line ssh-ed25519\n"
        + fleet.known_hosts.read_text()
    )
    inventory = config_with_known_hosts(fleet, tmp_path, known_hosts)

    result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000,mixed", "--json")

    assert result.exit_code == 0, result.stdout
    assert f"{known_hosts}:2: skipping a known_hosts line that cannot be read" in result.stderr
    assert "Traceback" not in result.stderr


def test_known_hosts_pattern_line(fleet, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    _, key_type, key = lab_key_line(fleet, "a4000").split()[:3]
    known_hosts.write_text(f"[{fleet.address('a4000')}]:*,!ignored.example {key_type} {key}\n")
    inventory = config_with_known_hosts(fleet, tmp_path, known_hosts)

    result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json")

    assert result.exit_code == 0, result.stdout
    assert known_hosts.read_text().count("\n") == 1


def test_known_hosts_like_openssh(fleet, tmp_path):
    _, key_type, key = lab_key_line(fleet, "a4000").split()[:3]
    other_key = lab_key_line(fleet, "mixed").split()[2]
    address, port = fleet.address("a4000"), fleet.state.port
    cases = {
        # The right key, then another key of the same type for a pattern that also matches.
        "right_then_wrong": (f"[{address}]:{port} {key_type} {key}\n[{address[:-1]}*]:{port} {key_type} {other_key}\n", ""),
        # No [host]:port entry: ssh(1) takes the entry without a port.
        "portless": (f"{address} {key_type} {key}\n", ""),
        "alias": (f"gpu-alias {key_type} {key}\n", "    HostKeyAlias gpu-alias\n"),
    }
    for case, (known_text, config_extra) in cases.items():
        directory = tmp_path / case
        directory.mkdir()
        known_hosts = directory / "known_hosts"
        known_hosts.write_text(known_text)
        inventory = config_with_known_hosts(fleet, directory, known_hosts)
        config = directory / "ssh_config"
        config.write_text(config.read_text().replace("    ConnectTimeout 5\n", "    ConnectTimeout 5\n" + config_extra))

        result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json", "--check")

        assert result.exit_code == 0, (case, result.stdout)
        assert known_hosts.read_text() == known_text, case


def test_portless_other_key_is_unknown(fleet, tmp_path):
    key_type, other_key = lab_key_line(fleet, "mixed").split()[1:3]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{fleet.address('a4000')} {key_type} {other_key}\n")
    inventory = config_with_known_hosts(fleet, tmp_path, known_hosts)

    # As ssh(1): a plain entry with another key does not make the [host]:port key "changed".
    refused = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json", "--check")
    accepted = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json", "--check", "--accept-new-host-keys")

    assert refused.exit_code == 4
    assert "is unknown" in refused.json["hosts"]["a4000"]["error"]
    assert accepted.exit_code == 0, accepted.stdout
    assert f"[{fleet.address('a4000')}]:{fleet.state.port} " in known_hosts.read_text()


def test_changed_key_names_line_with_key(fleet, tmp_path):
    _, key_type, key = lab_key_line(fleet, "a4000").split()[:3]
    other_key = lab_key_line(fleet, "mixed").split()[2]
    name = f"[{fleet.address('a4000')}]:{fleet.state.port}"
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"# stale keys\n{name} {key_type} {other_key}\n")
    inventory = config_with_known_hosts(fleet, tmp_path, known_hosts)

    result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json")
    error = result.json["hosts"]["a4000"]["error"]

    assert result.exit_code == 4
    assert f"CHANGED: {known_hosts}:2 has {key_type}" in error
    assert f"ssh-keygen -f {known_hosts} -R {shlex.quote(name)}" in error


def test_revoked_host_key_rejected(fleet, tmp_path):
    _, key_type, key = lab_key_line(fleet, "a4000").split()[:3]
    known_hosts = tmp_path / "known_hosts"
    inventory = config_with_known_hosts(fleet, tmp_path, known_hosts)

    for keep_plain_line, extra in ((True, []), (False, ["--accept-new-host-keys"])):
        lines = [line for line in fleet.known_hosts.read_text().splitlines() if keep_plain_line or key not in line]
        known_hosts.write_text("\n".join([*lines, f"@revoked * {key_type} {key}"]) + "\n")

        result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000,mixed", "--json", *extra)
        hosts = result.json["hosts"]

        assert result.exit_code == 4, (extra, result.stdout)
        assert hosts["a4000"]["status"] == "unreachable"
        assert "is REVOKED" in hosts["a4000"]["error"]
        assert hosts["mixed"]["status"] in ("changed", "ok")
        # accept-new must not record a revoked key.
        assert known_hosts.read_text().count(key) == (2 if keep_plain_line else 1)
    assert not host_file(fleet, "a4000", BINARY).is_symlink()


def test_invalid_inventory_rejected_before_connecting(fleet, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(fleet.inventory.read_text().replace("max_gpu_jobs: 2", "max_gpu_jobs: 0"))
    sessions = sshd_sessions(fleet, "a4000")

    result = fleetroute("deploy", "-i", str(inventory))
    assert result.exit_code == 1
    assert f"{inventory}:" in result.stderr
    assert "max_gpu_jobs" in result.stderr
    assert "0" in result.stderr
    assert result.stdout == ""
    assert sshd_sessions(fleet, "a4000") == sessions


def test_unreachable_host_does_not_stop_others(fleet):
    result = fleetroute("deploy", "-i", str(fleet.inventory), "--limit", "offline,a4000,mixed", "--json")
    hosts = result.json["hosts"]
    assert result.exit_code == 4
    assert hosts["offline"]["status"] == "unreachable"
    assert "connection refused" in hosts["offline"]["error"]
    assert hosts["a4000"]["status"] == "changed"
    assert hosts["mixed"]["status"] == "changed"


def test_missing_inventory_file(tmp_path):
    result = fleetroute("deploy", "-i", str(tmp_path / "nope.yml"))
    assert result.exit_code == 1
    assert "nope.yml" in result.stderr


def test_proxyjump_from_ssh_config(tmp_path):
    skip_without_lab_tools()
    gpu = NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376),))
    hosts = (
        HostSpec("jump", nvidia_smi=None, workload=False),
        HostSpec("inner", nvidia_smi=gpu, groups=("gpu_hosts",), proxy_jump="jump"),
    )
    with Lab(tmp_path / "lab", hosts=hosts, port=0, stop_with_parent=True) as lab:
        assert "ProxyJump jump" in lab.ssh_config.read_text()
        result = fleetroute("deploy", "-i", str(lab.inventory), "--json")
        assert result.exit_code == 0, result.stdout
        assert result.json["hosts"]["inner"]["status"] == "changed"
        assert sshd_sessions(lab, "jump") == 1
        assert sshd_sessions(lab, "inner") == 1


def test_hanging_host_times_out_alone(tmp_path):
    skip_without_lab_tools()
    gpu = NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376),))
    hosts = (
        HostSpec("a4000", nvidia_smi=gpu, groups=("gpu_hosts",)),
        HostSpec("stuck", kind="hang", groups=("faulty",)),
    )
    with Lab(tmp_path / "lab", hosts=hosts, port=0, stop_with_parent=True) as lab:
        result = fleetroute("deploy", "-i", str(lab.inventory), "--json", "--connect-timeout", "2")
        hosts_report = result.json["hosts"]
        assert result.exit_code == 4
        assert hosts_report["stuck"]["status"] == "unreachable"
        assert "no SSH banner from" in hosts_report["stuck"]["error"]
        assert "within 2 s" in hosts_report["stuck"]["error"]
        assert hosts_report["a4000"]["status"] == "changed"

        # Without --connect-timeout, the lab's ssh_config sets ConnectTimeout 5.
        again = fleetroute("deploy", "-i", str(lab.inventory), "--json", "--limit", "stuck")
        assert "within 5 s" in again.json["hosts"]["stuck"]["error"]


def test_hanging_command_fails_after_timeout(fleet, tmp_path):
    marker = "47.4711"  # an argument no other process has, to find the remote sleep
    slow = host_file(fleet, "a4000", "/usr/local/bin/slow-smi")
    slow.write_text(f"#!/bin/bash\nsleep {marker}\n")
    slow.chmod(0o755)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(fleet.inventory.read_text().replace("ssh_config_file:", "nvidia_smi: slow-smi\n    ssh_config_file:"))

    result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000,mixed", "--json", "--command-timeout", "2")
    hosts = result.json["hosts"]
    assert result.exit_code == 2
    assert hosts["a4000"]["status"] == "failed"
    assert hosts["a4000"]["error"] == "probe timed out after 2 s"

    # The host's timeout(1) ends the abandoned probe and its children soon after.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", f"sleep {marker}"]).returncode == 0:
        time.sleep(0.2)
    assert subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True).returncode == 1


def test_key_from_ssh_agent(fleet, tmp_path):
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if socket_path.exists():
                break
            time.sleep(0.1)
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run(["ssh-add", str(fleet.identity)], env=env, check=True, capture_output=True, timeout=30)
        config = tmp_path / "ssh_config"
        config.write_text(
            "\n".join(line for line in fleet.ssh_config.read_text().splitlines() if "IdentityFile" not in line) + "\n"
        )
        inventory = tmp_path / "inventory.yml"
        inventory.write_text(fleet.inventory.read_text().replace(str(fleet.ssh_config), str(config)))

        result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json", env=env)
        assert result.exit_code == 0, result.stdout
        assert result.json["hosts"]["a4000"]["status"] == "changed"

        without_agent = {key: value for key, value in env.items() if key != "SSH_AUTH_SOCK"}
        denied = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json", env=without_agent)
        assert denied.json["hosts"]["a4000"]["status"] == "unreachable"
        assert "authentication failed as user 'root': no key to offer" in denied.json["hosts"]["a4000"]["error"]
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_local_connection_host_fails_uncontacted(fleet, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(fleet.inventory.read_text())
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "mixed.yml").write_text("ansible_connection: local\n")
    sessions = sshd_sessions(fleet, "mixed")

    result = fleetroute("deploy", "-i", str(inventory), "--limit", "a4000,mixed", "--json")
    hosts = result.json["hosts"]

    assert result.exit_code == 2, result.stdout
    assert hosts["mixed"]["status"] == "failed"
    assert hosts["mixed"]["error"].startswith("ansible_connection is 'local', but fleetroute only uses ssh or smart")
    assert hosts["a4000"]["status"] == "changed"
    assert sshd_sessions(fleet, "mixed") == sessions
