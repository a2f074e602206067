"""deploy and uninstall against the lab fleet: every install state, idempotency, check and diff."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import yaml

from .conftest import BINARY, MANIFEST, REAL, ROUTER, fleetroute, host_file

pytestmark = pytest.mark.lab


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(lab, host):
    """Return {path: (kind, content or link target)} for every file under the host's private dirs."""
    root = lab.fs_root(host)
    entries = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                entries[path] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    entries[path] = ("file", handle.read())
            else:
                entries[path] = ("dir", None)
    return entries


def deploy(lab, *args):
    return fleetroute("deploy", "-i", str(lab.inventory), "--json", *args)


def test_fresh_deploy_wraps_binary(fleet):
    original = host_file(fleet, "a4000", BINARY).read_bytes()
    result = deploy(fleet, "--limit", "a4000")
    assert result.exit_code == 0, result.stderr
    report = result.json["hosts"]["a4000"]
    assert report["status"] == "changed"

    binary = host_file(fleet, "a4000", BINARY)
    assert binary.is_symlink()
    assert os.readlink(binary) == ROUTER
    assert host_file(fleet, "a4000", REAL).read_bytes() == original
    assert "real_sha256=" + hashlib.sha256(original).hexdigest() in host_file(fleet, "a4000", MANIFEST).read_text()
    router = host_file(fleet, "a4000", ROUTER)
    assert os.access(router, os.X_OK)
    assert host_file(fleet, "a4000", "/run/lock/fleetroute/whisper-ctranslate2").is_dir()


def test_fleet_deploy_statuses_and_exit_code(fleet):
    result = deploy(fleet)
    hosts = result.json["hosts"]
    assert {name: hosts[name]["status"] for name in hosts} == {
        "a4000": "changed",
        "a100x4": "changed",
        "mixed": "changed",
        "sentinels": "changed",
        "nodriver": "failed",
        "offline": "unreachable",
    }
    assert result.exit_code == 6
    assert "couldn't communicate with the NVIDIA driver" in hosts["nodriver"]["error"]
    assert "127.0.42.6" in hosts["offline"]["error"]
    assert len(hosts["a100x4"]["gpus"]) == 4
    assert hosts["sentinels"]["gpus"][0]["memory_used_mb"] is None
    assert any("noise" in warning for warning in hosts["sentinels"]["warnings"])


def test_second_deploy_is_all_ok(fleet):
    assert deploy(fleet, "--limit", "gpu_hosts").exit_code == 0
    before = {host: snapshot(fleet, host) for host in ("a4000", "mixed")}
    result = deploy(fleet, "--limit", "gpu_hosts")
    assert result.exit_code == 0
    assert {report["status"] for report in result.json["hosts"].values()} == {"ok"}
    assert all(report["changes"] == [] for report in result.json["hosts"].values())
    assert {host: snapshot(fleet, host) for host in ("a4000", "mixed")} == before


def test_check_mode_changes_nothing(fleet):
    before = snapshot(fleet, "a4000")
    result = deploy(fleet, "--limit", "a4000", "--check")
    report = result.json["hosts"]["a4000"]
    assert report["status"] == "changed"
    assert any("move" in change for change in report["changes"])
    assert snapshot(fleet, "a4000") == before


def test_diff_shows_router_change_without_applying(fleet, tmp_path):
    deploy(fleet, "--limit", "a4000")
    inventory = yaml.safe_load(fleet.inventory.read_text())
    inventory["all"]["vars"]["threshold_value"] = 1800
    changed = tmp_path / "inventory.yml"
    changed.write_text(yaml.safe_dump(inventory))
    before = snapshot(fleet, "a4000")

    result = fleetroute("deploy", "-i", str(changed), "--limit", "a4000", "--check", "--diff", "--json")
    report = result.json["hosts"]["a4000"]
    assert report["status"] == "changed"
    assert report["changes"][0] == f"update router {ROUTER}"
    assert "-" in report["diff"]
    assert "1800" in report["diff"]
    assert any(line.startswith("+") and "1800" in line for line in report["diff"].splitlines())
    assert snapshot(fleet, "a4000") == before


def test_outdated_router_replaced_only(fleet, tmp_path):
    deploy(fleet, "--limit", "a4000")
    real_inode = host_file(fleet, "a4000", REAL).stat().st_ino
    inventory = yaml.safe_load(fleet.inventory.read_text())
    inventory["all"]["vars"]["max_gpu_jobs"] = 1
    changed = tmp_path / "inventory.yml"
    changed.write_text(yaml.safe_dump(inventory))

    result = fleetroute("deploy", "-i", str(changed), "--limit", "a4000", "--json", "--diff")
    report = result.json["hosts"]["a4000"]
    assert report["status"] == "changed"
    assert report["changes"] == [f"update router {ROUTER}", "write manifest"]
    assert host_file(fleet, "a4000", REAL).stat().st_ino == real_inode
    assert fleetroute("deploy", "-i", str(changed), "--limit", "a4000", "--json").json["hosts"]["a4000"]["status"] == "ok"


def test_package_upgrade_keeps_new_binary(fleet):
    original = host_file(fleet, "a4000", BINARY).read_bytes()
    deploy(fleet, "--limit", "a4000")
    upgraded = b"#!/bin/sh\necho upgraded whisper\n"
    binary = host_file(fleet, "a4000", BINARY)
    binary.unlink()
    binary.write_bytes(upgraded)
    binary.chmod(0o755)

    report = deploy(fleet, "--limit", "a4000").json["hosts"]["a4000"]
    assert report["status"] == "changed"
    assert os.readlink(binary) == ROUTER
    assert host_file(fleet, "a4000", REAL).read_bytes() == upgraded
    backups = list(binary.parent.glob("whisper-ctranslate2-real.fleetroute-backup-*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == original


def test_interrupted_install_resumes(fleet):
    binary = host_file(fleet, "a4000", BINARY)
    os.link(binary, host_file(fleet, "a4000", REAL))
    report = deploy(fleet, "--limit", "a4000").json["hosts"]["a4000"]
    assert report["status"] == "changed"
    assert any("already holds the real binary" in change for change in report["changes"])
    assert os.readlink(binary) == ROUTER


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "workload binary not found"),
        ("foreign-link", "is a symlink to /usr/local/share/other-tool"),
        ("wrapped-no-real", "real binary"),
    ],
)
def test_unsafe_states_fail_host(fleet, damage, message):
    binary = host_file(fleet, "a4000", BINARY)
    if damage == "missing":
        binary.unlink()
    elif damage == "foreign-link":
        binary.unlink()
        binary.symlink_to("/usr/local/share/other-tool")
    else:
        deploy(fleet, "--limit", "a4000")
        host_file(fleet, "a4000", REAL).unlink()
    before = snapshot(fleet, "a4000")

    result = deploy(fleet, "--limit", "a4000,mixed")
    assert result.exit_code == 2
    assert result.json["hosts"]["a4000"]["status"] == "failed"
    assert message in result.json["hosts"]["a4000"]["error"]
    assert result.json["hosts"]["mixed"]["status"] == "changed"
    assert snapshot(fleet, "a4000") == before


def test_uninstall_restores_original_bytes(fleet):
    original = host_file(fleet, "a4000", BINARY).read_bytes()
    deploy(fleet, "--limit", "a4000")
    result = fleetroute("uninstall", "-i", str(fleet.inventory), "--limit", "a4000", "--json")
    assert result.exit_code == 0
    assert result.json["hosts"]["a4000"]["status"] == "changed"

    binary = host_file(fleet, "a4000", BINARY)
    assert not binary.is_symlink()
    assert binary.read_bytes() == original
    assert os.access(binary, os.X_OK)
    assert not host_file(fleet, "a4000", REAL).exists()
    assert not host_file(fleet, "a4000", ROUTER).exists()
    assert not host_file(fleet, "a4000", MANIFEST).exists()
    again = fleetroute("uninstall", "-i", str(fleet.inventory), "--limit", "a4000", "--json")
    assert again.json["hosts"]["a4000"]["status"] == "ok"


def test_negative_budget_fails_unless_forced(fleet, tmp_path):
    inventory = yaml.safe_load(fleet.inventory.read_text())
    inventory["all"]["children"]["gpu_hosts"]["hosts"]["sentinels"]["max_gpu_jobs"] = 2
    changed = tmp_path / "inventory.yml"
    changed.write_text(yaml.safe_dump(inventory))

    failed = fleetroute("deploy", "-i", str(changed), "--limit", "sentinels", "--json")
    assert failed.exit_code == 2
    error = failed.json["hosts"]["sentinels"]["error"]
    assert "6144 MB - 3700 MB x 2 jobs" in error
    assert "--force" in error

    forced = fleetroute("deploy", "-i", str(changed), "--limit", "sentinels", "--json", "--force")
    assert forced.exit_code == 0
    assert forced.json["hosts"]["sentinels"]["status"] == "changed"
    assert any("forced" in warning for warning in forced.json["hosts"]["sentinels"]["warnings"])


def test_text_output_has_recap(fleet):
    result = fleetroute("deploy", "-i", str(fleet.inventory), "--limit", "a4000,offline")
    assert result.exit_code == 4
    assert "deploy recap" in result.stdout
    assert "a4000" in result.stdout
    assert "changed" in result.stdout
    assert "unreachable" in result.stdout


def test_lock_dir_recreated_after_reboot(fleet):
    deploy(fleet, "--limit", "a4000")
    conf = "/usr/local/lib/tmpfiles.d/fleetroute-whisper-ctranslate2.conf"
    assert "d /run/lock/fleetroute/whisper-ctranslate2 0750 root" in host_file(fleet, "a4000", conf).read_text()

    fleet.exec("a4000", "rm -rf /run/lock/fleetroute", check=True)
    job = f"FLEETROUTE_DRY_RUN=1 {BINARY} /etc/hostname"
    assert fleet.exec("a4000", job).returncode == 78

    fleet.exec("a4000", ["systemd-tmpfiles", "--create", conf], check=True)
    assert fleet.exec("a4000", job).returncode == 0
    assert deploy(fleet, "--limit", "a4000").json["hosts"]["a4000"]["status"] == "ok"

    fleetroute("uninstall", "-i", str(fleet.inventory), "--limit", "a4000")
    assert not host_file(fleet, "a4000", conf).exists()


def test_run_as_change_hands_over_files(fleet, tmp_path):
    deploy(fleet, "--limit", "a4000")
    assert fleet.exec("a4000", f"FLEETROUTE_DRY_RUN=1 {BINARY} /etc/hostname").returncode == 0
    inventory = yaml.safe_load(fleet.inventory.read_text())
    inventory["all"]["vars"]["run_as"] = "nobody"
    changed = tmp_path / "inventory.yml"
    changed.write_text(yaml.safe_dump(inventory))

    report = fleetroute("deploy", "-i", str(changed), "--limit", "a4000", "--json").json["hosts"]["a4000"]
    assert report["status"] == "changed"
    assert "give 2 lock or log file(s) to owner nobody" in report["changes"]
    lock = host_file(fleet, "a4000", "/run/lock/fleetroute/whisper-ctranslate2/cpu.0.lock")
    assert lock.stat().st_uid == 65534
    assert host_file(fleet, "a4000", "/var/log/fleetroute/whisper-ctranslate2.log").stat().st_uid == 65534
    again = fleetroute("deploy", "-i", str(changed), "--limit", "a4000", "--json").json["hosts"]["a4000"]
    assert again["status"] == "ok"


def test_deploy_from_inventory_directory(fleet, tmp_path):
    directory = tmp_path / "inventory"
    directory.mkdir()
    (directory / "lab.yml").write_text(fleet.inventory.read_text())
    (directory / "group_vars").mkdir()
    (directory / "group_vars" / "gpu_hosts.yml").write_text("max_cpu_jobs: 3\n")

    listing = fleetroute("inventory", "-i", str(directory), "--json", "--limit", "a4000")
    result = fleetroute("deploy", "-i", str(directory), "--json", "--limit", "a4000")

    assert listing.json["inventory"]["a4000"]["settings"]["max_cpu_jobs"] == 3
    assert result.exit_code == 0, result.stdout
    assert result.json["hosts"]["a4000"]["status"] == "changed"
    assert "readonly FR_MAX_CPU_JOBS=3" in host_file(fleet, "a4000", ROUTER).read_text()


NEW_BUILD = "#!/bin/sh\necho new-build \"$@\"\n"


def copy_build_onto_binary(lab):
    """Copy a new workload build onto BINARY on a4000 the way cp does: through the symlink."""
    done = lab.exec("a4000", ["bash", "-c", f'printf %s "$1" > /tmp/new-build && cp /tmp/new-build {BINARY}', "-", NEW_BUILD])
    assert done.returncode == 0, done.stderr


def test_build_written_through_link_kept(fleet):
    assert deploy(fleet, "--limit", "a4000").exit_code == 0
    copy_build_onto_binary(fleet)

    verified = fleetroute("verify", "-i", str(fleet.inventory), "--limit", "a4000", "--json")
    result = deploy(fleet, "--limit", "a4000")

    assert "is not a fleetroute router" in json.dumps(verified.json["hosts"]["a4000"])
    assert result.exit_code == 0, result.stdout
    assert result.json["hosts"]["a4000"]["changes"][0].startswith("keep the build written through")
    assert host_file(fleet, "a4000", REAL).read_text() == NEW_BUILD
    assert "# fleetroute router:" in host_file(fleet, "a4000", ROUTER).read_text()
    backups = list(host_file(fleet, "a4000", REAL).parent.glob("whisper-ctranslate2-real.fleetroute-backup-*"))
    assert len(backups) == 1


def test_build_written_through_link_kept_by_uninstall(fleet):
    assert deploy(fleet, "--limit", "a4000").exit_code == 0
    copy_build_onto_binary(fleet)

    result = fleetroute("uninstall", "-i", str(fleet.inventory), "--limit", "a4000", "--json")

    assert result.exit_code == 0, result.stdout
    assert not host_file(fleet, "a4000", BINARY).is_symlink()
    assert host_file(fleet, "a4000", BINARY).read_text() == NEW_BUILD
    assert not host_file(fleet, "a4000", ROUTER).exists()
