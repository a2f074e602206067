"""Slots: flock on one lock file per slot, held by the workload for its whole life."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest

from tests.router.conftest import (
    CPU_ARGS,
    GPU_ARGS,
    kill_pid,
    parse_log_line,
    unprivileged_prefix,
    unprivileged_router,
    wait_for,
)

BLOCKED = 75
CONFIG_ERROR = 78


def test_busy_slot_blocks_next_job(router, media):
    router.start([str(media.long)], mode="wait-stdin")

    run = router.run([str(media.long)])

    assert run.returncode == BLOCKED
    assert run.argv is None
    assert run.entry["mode"] == "CPU-BLOCKED"
    assert run.entry["reason"] == "all-slots-busy"
    assert run.entry["slot"] == "-"
    assert run.entry.args == [str(media.long), *CPU_ARGS]
    assert "every CPU slot is busy" in run.stderr


def test_slot_frees_when_job_ends(router, media):
    process, _ = router.start([str(media.long)], mode="wait-stdin")
    blocked = router.run([str(media.long)])

    process.stdin.close()
    process.wait(timeout=10)
    after = router.run([str(media.long)])

    assert blocked.returncode == BLOCKED
    assert process.returncode == 0
    assert after.returncode == 0
    assert after.entry["mode"] == "CPU"
    assert after.entry["slot"] == "0"


def test_slot_frees_when_job_is_killed(router, media):
    process, state = router.start([str(media.long)], mode="sleep")
    blocked = router.run([str(media.long)])

    assert int((state / "pid").read_text()) == process.pid
    process.kill()
    process.wait(timeout=10)
    after = router.run([str(media.long)])

    assert blocked.returncode == BLOCKED
    assert after.returncode == 0
    assert after.entry["mode"] == "CPU"


def test_background_child_keeps_slot(router, media):
    process, state = router.start([str(media.long)], mode="fork-child")
    process.wait(timeout=10)
    child = int((state / "child").read_text())

    while_child_lives = router.run([str(media.long)])
    kill_pid(child)
    after_child = router.run([str(media.long)])

    assert process.returncode == 0
    assert while_child_lives.returncode == BLOCKED
    assert while_child_lives.entry["mode"] == "CPU-BLOCKED"
    assert after_child.returncode == 0


def test_gpu_and_cpu_slots_are_separate(router, media):
    router.start([str(media.long)], mode="wait-stdin")

    run = router.run([str(media.short)])

    assert run.returncode == 0
    assert run.entry["mode"] == "GPU"
    assert sorted(path.name for path in router.lock_dir.iterdir()) == ["cpu.0.lock", "gpu.0.lock"]


def test_jobs_take_free_slots_in_order(make_router, media):
    router = make_router(max_cpu_jobs=2)
    router.start([str(media.long)], mode="wait-stdin")

    second = router.run([str(media.long)], env={"FAKE_WORKLOAD_MODE": "exit"})
    router.start([str(media.long)], mode="wait-stdin")
    third = router.run([str(media.long)])

    assert second.entry["slot"] == "1"
    assert third.returncode == BLOCKED
    assert third.entry["mode"] == "CPU-BLOCKED"
    assert sorted(path.name for path in router.lock_dir.iterdir()) == ["cpu.0.lock", "cpu.1.lock"]


def test_lock_path_that_is_a_directory_is_config_error(router, media):
    (router.lock_dir / "cpu.0.lock").mkdir()

    run = router.run([str(media.long)])

    assert run.returncode == CONFIG_ERROR
    assert run.argv is None
    assert run.entry["mode"] == "CPU-CONFIG-ERROR"
    assert run.entry["reason"] == "lock-open-failed"
    assert "cannot open the lock file" in run.stderr
    assert "writable only by run_as (" in run.stderr


def test_unknown_metric_reason_is_kept_when_blocked(router, media):
    router.start([str(media.long)], mode="wait-stdin")

    run = router.run([str(media.junk)])

    assert run.entry["reason"] == "probe-exit-1,all-slots-busy"


def test_dry_run_takes_and_releases_slot(router, media):
    dry = router.run([str(media.short)], env={"FLEETROUTE_DRY_RUN": "1"})
    real = router.run([str(media.short)])

    assert dry.returncode == 0
    assert dry.argv is None
    assert dry.entry["mode"] == "GPU-DRYRUN"
    assert dry.entry["slot"] == "0"
    assert dry.entry.args == [str(media.short), "--device", "cuda", "--compute_type", "float16"]
    assert real.entry["mode"] == "GPU"
    assert (router.lock_dir / "gpu.0.lock").exists()


def test_dry_run_shows_blocked(router, media):
    router.start([str(media.long)], mode="wait-stdin")

    run = router.run([str(media.long)], env={"FLEETROUTE_DRY_RUN": "1"})

    assert run.returncode == BLOCKED
    assert run.entry["mode"] == "CPU-BLOCKED-DRYRUN"


def test_dry_run_shows_unknown_failed(make_router, media):
    router = make_router(on_unknown_metric="fail")

    run = router.run([str(media.junk)], env={"FLEETROUTE_DRY_RUN": "1"})

    assert run.returncode == 65
    assert run.entry["mode"] == "UNKNOWN-FAILED-DRYRUN"


@pytest.mark.parametrize("value", ["0", "yes", ""])
def test_dry_run_needs_exactly_one(router, media, value):
    run = router.run([str(media.short)], env={"FLEETROUTE_DRY_RUN": value})

    assert run.entry["mode"] == "GPU"
    assert run.argv is not None


def test_read_only_lock_dir_is_config_error(shared_root, media):
    router = unprivileged_router(shared_root, media)
    router.lock_dir.chmod(0o555)

    run = router.run(["short.wav"], command_prefix=unprivileged_prefix())

    assert run.returncode == CONFIG_ERROR, run.stderr
    assert run.entry["mode"] == "GPU-CONFIG-ERROR"
    assert run.entry["reason"] == "lock-open-failed"
    assert run.argv is None


def test_lock_file_of_other_user_is_config_error(shared_root, media):
    router = unprivileged_router(shared_root, media)
    router.lock_dir.chmod(0o1777)
    lock = router.lock_dir / "gpu.0.lock"
    lock.write_bytes(b"")
    lock.chmod(0o644)
    if os.geteuid() != 0:
        pytest.skip("needs root to create a lock file owned by another user")

    run = router.run(["short.wav"], command_prefix=unprivileged_prefix())

    assert run.returncode == CONFIG_ERROR, run.stderr
    assert run.entry["mode"] == "GPU-CONFIG-ERROR"


def test_unprivileged_user_can_route(shared_root, media):
    router = unprivileged_router(shared_root, media)
    router.lock_dir.chmod(0o777)

    run = router.run(["short.wav"], command_prefix=unprivileged_prefix())

    assert run.returncode == 0, run.stderr
    assert run.entry["mode"] == "GPU"


def test_concurrent_jobs_never_share_a_slot(make_router, media):
    router = make_router(max_gpu_jobs=2)
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
    entries = [parse_log_line(line) for line in router.log_lines()]
    running = [entry for entry in entries if entry["mode"] == "GPU"]
    blocked = [entry for entry in entries if entry["mode"] == "GPU-BLOCKED"]

    assert len(entries) == 6
    assert sorted(entry["slot"] for entry in running) == ["0", "1"]
    assert len(blocked) == 4


def test_full_gpu_overflows_to_cpu(make_router, media):
    router = make_router(on_gpu_full="cpu")
    router.start([str(media.short)], mode="wait-stdin")

    run = router.run([str(media.short)])

    assert run.returncode == 0
    assert run.argv == [str(media.short), *CPU_ARGS]
    assert run.entry["mode"] == "CPU"
    assert run.entry["reason"] == "gpu-full"
    assert run.entry["metric"] == "5.000000"


def test_full_gpu_and_cpu_block_with_overflow(make_router, media):
    router = make_router(on_gpu_full="cpu")
    router.start([str(media.short)], mode="wait-stdin")
    router.start([str(media.long)], mode="wait-stdin")

    run = router.run([str(media.short)])

    assert run.returncode == BLOCKED
    assert run.entry["mode"] == "GPU-BLOCKED"
    assert run.entry.args == [str(media.short), *GPU_ARGS]


def test_full_cpu_never_overflows_to_gpu(make_router, media):
    router = make_router(on_gpu_full="cpu")
    router.start([str(media.long)], mode="wait-stdin")

    run = router.run([str(media.long)])

    assert run.returncode == BLOCKED
    assert run.entry["mode"] == "CPU-BLOCKED"


def test_block_wait_takes_slot_freed_meanwhile(make_router, media):
    router = make_router(block_wait_seconds=5)
    holder, _ = router.start([str(media.long)], mode="wait-stdin")
    timer = threading.Timer(0.7, holder.stdin.close)
    timer.start()

    started = time.monotonic()
    run = router.run([str(media.long)])
    waited = time.monotonic() - started
    timer.join()

    assert run.returncode == 0
    assert run.entry["mode"] == "CPU"
    assert 0.5 < waited < 4


def test_block_wait_gives_up_after_limit(make_router, media):
    router = make_router(block_wait_seconds=1)
    router.start([str(media.long)], mode="wait-stdin")

    started = time.monotonic()
    run = router.run([str(media.long)])
    waited = time.monotonic() - started

    assert run.returncode == BLOCKED
    assert run.entry["mode"] == "CPU-BLOCKED"
    assert 0.9 < waited < 3


def test_custom_blocked_and_unknown_exit_codes(make_router, media):
    router = make_router(blocked_exit_code=1, unknown_metric_exit_code=2, on_unknown_metric="fail")
    router.start([str(media.long)], mode="wait-stdin")

    blocked = router.run([str(media.long)])
    unknown = router.run([str(media.junk)])

    assert blocked.returncode == 1
    assert unknown.returncode == 2


def test_missing_flock_is_config_error(router, media):
    tools = router.root / "tools"
    tools.mkdir()
    for name in ("awk", "date", "ffprobe", "id", "cat"):
        (tools / name).symlink_to(shutil.which(name))

    run = router.run([str(media.short)], env={"PATH": str(tools)})

    assert run.returncode == CONFIG_ERROR
    assert run.entry["mode"] == "GPU-CONFIG-ERROR"
    assert run.entry["reason"] == "lock-failed"
    assert "flock failed with exit code 127" in run.stderr
