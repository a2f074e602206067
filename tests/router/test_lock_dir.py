"""Lock directory checks: a missing one is created, a symbolic link is a configuration error."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from tests.router.conftest import GPU_ARGS, parse_log_line, unprivileged_prefix, unprivileged_router, wait_for

CONFIG_ERROR = 78


def test_missing_lock_dir_is_created(router, media):
    router.lock_dir.rmdir()

    run = router.run([str(media.short)])

    assert run.returncode == 0
    assert run.stderr == ""
    assert run.argv == [str(media.short), *GPU_ARGS]
    assert run.entry["mode"] == "GPU"
    assert run.entry["slot"] == "0"
    assert run.entry["reason"] == "-"
    assert stat.S_IMODE(router.lock_dir.stat().st_mode) == 0o750
    assert (router.lock_dir / "gpu.0.lock").is_file()


def test_created_lock_dir_ignores_umask(router, media):
    router.lock_dir.rmdir()

    run = router.run([str(media.short)], command_prefix=["bash", "-c", 'umask 077; exec "$@"', "umask"])

    assert run.entry["mode"] == "GPU"
    assert stat.S_IMODE(router.lock_dir.stat().st_mode) == 0o750


def test_lock_dir_with_missing_parent_is_config_error(make_router, media, tmp_path):
    router = make_router(lock_dir=str(tmp_path / "run" / "lock" / "work"))
    router.lock_dir.rmdir()
    router.lock_dir.parent.rmdir()

    run = router.run([str(media.short)])

    assert run.returncode == CONFIG_ERROR
    assert run.argv is None
    assert run.entry["mode"] == "GPU-CONFIG-ERROR"
    assert run.entry["reason"] == "lock-dir-parent-missing"
    assert "its parent" in run.stderr
    assert not router.lock_dir.parent.exists()


def test_lock_dir_symlink_is_config_error(router, media):
    target = router.root / "elsewhere"
    target.mkdir()
    router.lock_dir.rmdir()
    router.lock_dir.symlink_to(target)

    run = router.run([str(media.long)])

    assert run.returncode == CONFIG_ERROR
    assert run.argv is None
    assert run.entry["mode"] == "CPU-CONFIG-ERROR"
    assert run.entry["reason"] == "lock-dir-symlink"
    assert "is a symbolic link" in run.stderr
    assert list(target.iterdir()) == []


def test_dangling_lock_dir_symlink_is_config_error(router, media):
    target = router.root / "absent"
    router.lock_dir.rmdir()
    router.lock_dir.symlink_to(target)

    run = router.run([str(media.short)])

    assert run.returncode == CONFIG_ERROR
    assert run.entry["reason"] == "lock-dir-symlink"
    assert not target.exists()


def test_lock_dir_file_is_config_error(router, media):
    router.lock_dir.rmdir()
    router.lock_dir.write_text("")

    run = router.run([str(media.short)])

    assert run.returncode == CONFIG_ERROR
    assert run.entry["mode"] == "GPU-CONFIG-ERROR"
    assert run.entry["reason"] == "lock-dir-not-a-directory"


def test_lock_file_symlink_is_config_error(router, media):
    target = router.root / "target.lock"
    (router.lock_dir / "gpu.0.lock").symlink_to(target)

    run = router.run([str(media.short)])

    assert run.returncode == CONFIG_ERROR
    assert run.argv is None
    assert run.entry["mode"] == "GPU-CONFIG-ERROR"
    assert run.entry["reason"] == "lock-file-symlink"
    assert not target.exists()


def test_dry_run_creates_lock_dir(router, media):
    router.lock_dir.rmdir()

    run = router.run([str(media.short)], env={"FLEETROUTE_DRY_RUN": "1"})

    assert run.returncode == 0
    assert run.entry["mode"] == "GPU-DRYRUN"
    assert router.lock_dir.is_dir()


def test_concurrent_jobs_create_lock_dir_once(make_router, media):
    router = make_router(max_gpu_jobs=2)
    router.lock_dir.rmdir()
    env = {
        "PATH": os.environ["PATH"],
        "FAKE_WORKLOAD_STATE": str(router.new_state_dir()),
        "FAKE_WORKLOAD_MODE": "sleep",
    }
    for _ in range(6):
        router.processes.append(
            subprocess.Popen(
                [str(router.binary), str(media.short)],
                env=env,
                cwd=router.root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    wait_for(lambda: len(router.log_lines()) == 6)
    modes = sorted(parse_log_line(line)["mode"] for line in router.log_lines())

    assert modes == ["GPU", "GPU", *["GPU-BLOCKED"] * 4]


def test_unwritable_lock_dir_parent_is_config_error(shared_root, media):
    if os.geteuid() != 0:
        pytest.skip("needs root to run the router as a user who cannot write the parent")
    router = unprivileged_router(shared_root, media)
    router.lock_dir.rmdir()

    run = router.run(["short.wav"], command_prefix=unprivileged_prefix())

    assert run.returncode == CONFIG_ERROR, run.stderr
    assert run.entry["mode"] == "GPU-CONFIG-ERROR"
    assert run.entry["reason"] == "lock-dir-create-failed"
    assert "cannot create the lock directory" in run.stderr
    assert run.argv is None
