"""Install and uninstall planning over every state of the binary-wrapper state machine."""

from __future__ import annotations

import pytest

from fleetroute.errors import InstallError
from fleetroute.facts.host import DirState, PathState
from fleetroute.operations.install import expected_state, plan_install, plan_uninstall, sha256_text, tmpfiles_conf

from .helpers import install_state, whisper_settings

SETTINGS = whisper_settings()
ROUTER = SETTINGS.router_path
SHA = "a" * 64
WRAPPED = {
    "binary": PathState("symlink", ROUTER),
    "binary_inode": "1:300",
    "real": PathState("file"),
    "real_sha256": "b" * 64,
    "real_inode": "1:100",
    "router": PathState("file"),
    "router_sha256": SHA,
    "manifest": {"router_sha256": SHA},
    "tmpfiles_sha256": sha256_text(tmpfiles_conf(SETTINGS)),
}


def test_fresh_host_wraps():
    plan = plan_install(install_state(), SETTINGS, SHA)
    assert plan.action == "fresh"
    assert plan.write_router
    assert any("move /usr/local/bin/whisper-ctranslate2 to" in change for change in plan.changes)


def test_wrapped_and_current_is_no_change():
    plan = plan_install(install_state(**WRAPPED), SETTINGS, SHA)
    assert plan.action == "none"
    assert plan.changes == ()
    assert not plan.changed


def test_outdated_router_replaced_only():
    plan = plan_install(install_state(**WRAPPED), SETTINGS, "c" * 64)
    assert plan.action == "update-router"
    assert plan.changes[0] == f"update router {ROUTER}"


def test_build_written_through_link_adopted():
    state = install_state(**{**WRAPPED, "router_sha256": "d" * 64, "router_is_fleetroute": False})

    plan = plan_install(state, SETTINGS, SHA)

    assert plan.action == "adopt-through-link"
    assert plan.write_router
    assert plan.changes[0].startswith("keep the build written through the /usr/local/bin/whisper-ctranslate2 link")


def test_build_written_through_link_restored_on_uninstall():
    state = install_state(**{**WRAPPED, "router_sha256": "d" * 64, "router_is_fleetroute": False})

    plan = plan_uninstall(state, SETTINGS)

    assert plan.action == "restore-through-link"
    assert "back up the previous /usr/local/bin/whisper-ctranslate2-real" in plan.changes


def test_hand_edited_router_replaced():
    state = install_state(**{**WRAPPED, "router_sha256": "d" * 64})

    assert plan_install(state, SETTINGS, SHA).action == "update-router"


def test_missing_manifest_rewritten():
    plan = plan_install(install_state(**{**WRAPPED, "manifest": {}}), SETTINGS, SHA)
    assert plan.action == "dirs"
    assert plan.changes == ("write manifest",)


def test_missing_lock_dir_created():
    plan = plan_install(install_state(**{**WRAPPED, "lock_dir": DirState("missing")}), SETTINGS, SHA)
    assert plan.action == "dirs"
    assert f"create lock directory {SETTINGS.lock_dir} owned by root" in plan.changes


def test_package_upgrade_adopts_new_binary():
    state = install_state(
        binary=PathState("file"),
        binary_sha256="d" * 64,
        binary_inode="1:400",
        real=PathState("file"),
        real_sha256="b" * 64,
        real_inode="1:100",
        manifest={"router_sha256": SHA},
    )
    plan = plan_install(state, SETTINGS, SHA)
    assert plan.action == "adopt-upgrade"
    assert "back up the previous" in plan.changes[1]


def test_interrupted_fresh_install_resumes():
    state = install_state(real=PathState("file"), real_inode="1:100", real_sha256="b" * 64)
    assert plan_install(state, SETTINGS, SHA).action == "resume"


def test_foreign_real_file_rejected():
    state = install_state(real=PathState("file"), real_inode="1:200", real_sha256="e" * 64)
    with pytest.raises(InstallError, match="no fleetroute manifest"):
        plan_install(state, SETTINGS, SHA)


def test_missing_binary_rejected():
    with pytest.raises(InstallError, match="workload binary not found"):
        plan_install(install_state(binary=PathState("missing")), SETTINGS, SHA)


def test_symlink_elsewhere_rejected_with_target():
    state = install_state(binary=PathState("symlink", "../venvs/whisper/bin/whisper-ctranslate2"))
    with pytest.raises(InstallError, match="/usr/local/venvs/whisper/bin/whisper-ctranslate2"):
        plan_install(state, SETTINGS, SHA)


def test_wrapped_without_real_binary_rejected():
    with pytest.raises(InstallError, match="real binary"):
        plan_install(install_state(**{**WRAPPED, "real": PathState("missing")}), SETTINGS, SHA)


def test_symlinked_log_dir_rejected():
    with pytest.raises(InstallError, match="symlink"):
        plan_install(install_state(log_dir=DirState("symlink")), SETTINGS, SHA)


def test_uninstall_restores_wrapped():
    assert plan_uninstall(install_state(**WRAPPED), SETTINGS).action == "restore"


def test_uninstall_after_upgrade_detaches():
    state = install_state(real=PathState("file"), real_inode="1:100", binary_inode="1:400", manifest={"a": "b"})
    assert plan_uninstall(state, SETTINGS).action == "detach"


def test_uninstall_on_clean_host_is_no_change():
    assert not plan_uninstall(install_state(), SETTINGS).changed


def test_expected_state_forms():
    assert expected_state(install_state()) == "file:1:100"
    assert expected_state(install_state(**WRAPPED)) == f"symlink:{ROUTER}"
    assert expected_state(install_state(binary=PathState("missing"))) == "missing"


def test_tmpfiles_entry_recreates_lock_dir_and_parents():
    lines = tmpfiles_conf(SETTINGS).splitlines()
    assert lines[1:] == [
        "d /run/lock/fleetroute 0755 root root -",
        "d /run/lock/fleetroute/whisper-ctranslate2 0750 root - -",
    ]


def test_tmpfiles_entry_only_under_run():
    assert tmpfiles_conf(whisper_settings(lock_dir="/var/lib/whisper/locks")) == ""
    assert tmpfiles_conf(whisper_settings(lock_dir="/run/whisper", run_as="runner")).splitlines()[1:] == [
        "d /run/whisper 0750 runner - -"
    ]


def test_tmpfiles_entry_rejects_spaces():
    with pytest.raises(InstallError, match="tmpfiles.d"):
        tmpfiles_conf(whisper_settings(lock_dir="/run/lock/whisper locks"))


def test_missing_tmpfiles_entry_planned():
    plan = plan_install(install_state(**{**WRAPPED, "tmpfiles_sha256": "-"}), SETTINGS, SHA)
    assert plan.action == "dirs"
    assert f"write tmpfiles.d entry {SETTINGS.tmpfiles_path}" in plan.changes


def test_uninstall_lists_tmpfiles_entry():
    plan = plan_uninstall(install_state(**WRAPPED), SETTINGS)

    assert plan.changes[-1] == f"remove tmpfiles.d entry {SETTINGS.tmpfiles_path}"


def test_uninstall_without_tmpfiles_entry():
    plan = plan_uninstall(install_state(**{**WRAPPED, "tmpfiles_sha256": "-"}), SETTINGS)

    assert not any("tmpfiles" in change for change in plan.changes)
