"""Log and lock paths that another user could redirect are refused before anything is created."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from .conftest import BINARY, fleetroute, host_file

pytestmark = pytest.mark.lab

OTHER_UID = 2001  # a user that is neither root nor run_as


def inventory_with(fleet, tmp_path: Path, **host_vars: object) -> Path:
    data = yaml.safe_load(fleet.inventory.read_text())
    entry = data["all"]["children"]["gpu_hosts"]["hosts"]["a4000"] or {}
    entry.update(host_vars)
    data["all"]["children"]["gpu_hosts"]["hosts"]["a4000"] = entry
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def deploy(inventory: Path):
    return fleetroute("deploy", "-i", str(inventory), "--limit", "a4000", "--json")


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.skip("files owned by another user need root")


def test_world_writable_parent_refused_unless_allowed(fleet, tmp_path):
    lock_dir = fleet.host_path("a4000", "/tmp/fleetroute-locks")

    refused = deploy(inventory_with(fleet, tmp_path, lock_dir=lock_dir))
    allowed = deploy(inventory_with(fleet, tmp_path, lock_dir=lock_dir, allow_world_writable_parent=True))

    assert refused.exit_code == 2
    error = refused.json["hosts"]["a4000"]["error"]
    assert "world-writable" in error
    assert "allow_world_writable_parent: true" in error
    assert allowed.exit_code == 0, allowed.stdout
    assert host_file(fleet, "a4000", "/tmp/fleetroute-locks").is_dir()


def test_parent_owned_by_other_user_refused(fleet, tmp_path, root_only):
    shared = host_file(fleet, "a4000", "/var/lib/team")
    shared.mkdir()
    os.chown(shared, OTHER_UID, OTHER_UID)
    router_log = fleet.host_path("a4000", "/var/lib/team/fleetroute/whisper.log")

    result = deploy(inventory_with(fleet, tmp_path, router_log=router_log))

    assert result.exit_code == 2
    assert f"owned by uid {OTHER_UID}, neither root nor" in result.json["hosts"]["a4000"]["error"]
    assert not (shared / "fleetroute").exists()
    assert not host_file(fleet, "a4000", BINARY).is_symlink()


def test_symlinked_parent_of_other_user_not_followed(fleet, tmp_path, root_only):
    target = host_file(fleet, "a4000", "/var/lib/victim")
    target.mkdir()
    planted = host_file(fleet, "a4000", "/var/lib/planted")
    planted.symlink_to(fleet.host_path("a4000", "/var/lib/victim"))
    os.lchown(planted, OTHER_UID, OTHER_UID)
    router_log = fleet.host_path("a4000", "/var/lib/planted/fleetroute/whisper.log")

    result = deploy(inventory_with(fleet, tmp_path, router_log=router_log))

    assert result.exit_code == 2
    assert "is a symlink owned by uid 2001, not root" in result.json["hosts"]["a4000"]["error"]
    assert list(target.iterdir()) == []


def test_planted_log_directory_link_refused(fleet, tmp_path, root_only):
    target = host_file(fleet, "a4000", "/var/lib/victim")
    target.mkdir()
    log_dir = host_file(fleet, "a4000", "/var/log/fleetroute")
    log_dir.symlink_to(fleet.host_path("a4000", "/var/lib/victim"))
    os.lchown(log_dir, OTHER_UID, OTHER_UID)

    result = deploy(fleet.inventory)

    assert result.exit_code == 2
    assert "is a symlink" in result.json["hosts"]["a4000"]["error"]
    assert list(target.iterdir()) == []
    assert not host_file(fleet, "a4000", BINARY).is_symlink()
