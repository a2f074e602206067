"""Supervise mode: the router waits for the workload, forwards signals and logs its exit."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.router.conftest import GPU_ARGS, CPU_ARGS, wait_for, wait_until_gone

BLOCKED = 75
FORWARDED = ["TERM", "INT", "HUP", "QUIT", "USR1", "USR2"]


@pytest.fixture
def supervised(make_router):
    return make_router(router_mode="supervise")


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_exit_code_is_propagated(supervised, media):
    run = supervised.run([str(media.short), "--model", "small"], env={"FAKE_WORKLOAD_EXIT": "3"})

    decision, ended = run.log
    assert run.returncode == 3
    assert run.argv == [str(media.short), "--model", "small", *GPU_ARGS]
    assert decision["mode"] == "GPU"
    assert decision["pid"] == str(run.workload_pid)
    assert decision.args == run.argv
    assert ended["mode"] == "GPU-EXIT"
    assert ended["exit"] == "3"
    assert ended["pid"] == str(run.workload_pid)
    assert ended["metric"] == "5.000000"
    assert ended["slot"] == "0"
    assert ended.input == str(media.short)
    assert float(ended["elapsed"]) >= 0


def test_success_logs_exit_zero(supervised, media):
    run = supervised.run([str(media.long)])

    assert run.returncode == 0
    assert run.argv == [str(media.long), *CPU_ARGS]
    assert run.log[0]["mode"] == "CPU"
    assert run.exit_entry["mode"] == "CPU-EXIT"
    assert run.exit_entry["exit"] == "0"


def test_killed_workload_logs_137(supervised, media):
    process, state = supervised.start([str(media.short)], mode="sleep")
    workload = int((state / "pid").read_text())

    os.kill(workload, signal.SIGKILL)
    process.wait(timeout=10)

    ended = supervised.log_lines()[-1]
    assert process.returncode == 137
    assert " mode=GPU-EXIT " in ended
    assert " exit=137 " in ended


def test_router_is_the_workload_parent(supervised, media):
    process, state = supervised.start([str(media.short)], mode="wait-stdin")
    workload = int((state / "pid").read_text())

    assert workload != process.pid
    assert parent_pid(workload) == process.pid


@pytest.mark.parametrize("name", FORWARDED)
def test_signal_reaches_workload(supervised, media, name):
    process, state = supervised.start([str(media.short)], mode="record-signal")

    process.send_signal(getattr(signal, f"SIG{name}"))
    process.wait(timeout=10)

    assert (state / "signal").read_text() == name
    assert process.returncode == 0
    assert " exit=0 " in supervised.log_lines()[-1]


def test_sigterm_death_is_reported_as_143(supervised, media):
    process, state = supervised.start([str(media.short)], mode="sleep")

    process.terminate()
    process.wait(timeout=10)

    assert process.returncode == 143
    assert " exit=143 " in supervised.log_lines()[-1]
    wait_until_gone(int((state / "pid").read_text()))


def test_slot_is_held_for_workload_life(supervised, media):
    process, _ = supervised.start([str(media.long)], mode="wait-stdin")

    blocked = supervised.run([str(media.long)])
    process.stdin.close()
    process.wait(timeout=10)
    after = supervised.run([str(media.long)])

    assert blocked.returncode == BLOCKED
    assert blocked.entry["mode"] == "CPU-BLOCKED"
    assert process.returncode == 0
    assert after.returncode == 0
    assert after.log[0]["mode"] == "CPU"


def test_background_child_keeps_slot_after_exit_line(supervised, media):
    process, state = supervised.start([str(media.long)], mode="fork-child")
    process.wait(timeout=10)
    child = int((state / "child").read_text())

    while_child_lives = supervised.run([str(media.long)])
    os.kill(child, signal.SIGKILL)
    wait_until_gone(child)
    after_child = supervised.run([str(media.long)])

    assert process.returncode == 0
    assert while_child_lives.returncode == BLOCKED
    assert after_child.returncode == 0


def test_peak_memory_is_logged(supervised, media):
    run = supervised.run(
        [str(media.short)], env={"FAKE_WORKLOAD_MODE": "allocate", "FAKE_WORKLOAD_BYTES": str(40 * 1024 * 1024)}
    )

    assert run.returncode == 0
    assert run.exit_entry["peak_rss_kb"] != "-"
    assert int(run.exit_entry["peak_rss_kb"]) >= 40 * 1024
    assert float(run.exit_entry["elapsed"]) >= 1.5


def test_stdin_reaches_workload(supervised, media):
    run = supervised.run([str(media.short)], env={"FAKE_WORKLOAD_MODE": "stdin"}, stdin=b"abc\0def")

    assert run.stdin == b"abc\0def"
    assert run.exit_entry["exit"] == "0"


def test_environment_reaches_workload_unchanged(supervised, media):
    caller_env = {"input": "caller input", "status": "caller status", "signal": "caller signal", "LC_ALL": "C"}
    shown = " ".join([*caller_env, "fr_child_pid", "fr_input", "FR_ROUTER_MODE", "CUDA_VISIBLE_DEVICES"])

    run = supervised.run([str(media.short)], env={**caller_env, "FAKE_WORKLOAD_SHOW_ENV": shown})

    assert run.env == caller_env


def test_ignored_signal_stays_ignored(supervised, media):
    state = supervised.new_state_dir()
    command = ["bash", "-c", 'trap "" INT; exec "$@"', "ignore-int", str(supervised.binary), str(media.short)]
    env = {"PATH": os.environ["PATH"], "FAKE_WORKLOAD_STATE": str(state), "FAKE_WORKLOAD_MODE": "record-signal"}
    process = subprocess.Popen(command, env=env, cwd=supervised.root, stdin=subprocess.DEVNULL)
    supervised.processes.append(process)
    wait_for(lambda: (state / "done").exists())

    process.send_signal(signal.SIGINT)
    process.terminate()
    process.wait(timeout=10)

    assert (state / "signal").read_text() == "TERM"


def test_dry_run_writes_no_exit_line(supervised, media):
    run = supervised.run([str(media.short)], env={"FLEETROUTE_DRY_RUN": "1"})

    assert run.returncode == 0
    assert run.argv is None
    assert run.entry["mode"] == "GPU-DRYRUN"


def test_blocked_writes_no_exit_line(supervised, media):
    supervised.start([str(media.short)], mode="wait-stdin")

    run = supervised.run([str(media.short)])

    assert run.returncode == BLOCKED
    assert run.entry["mode"] == "GPU-BLOCKED"
