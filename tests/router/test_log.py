"""The router's log line: format, quoting, length limit and an unwritable log."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from datetime import datetime, timezone

from tests.router.conftest import GPU_ARGS, HOST, bash_words, parse_log_line, wait_for


def test_log_line_fields(router, media):
    before = datetime.now(timezone.utc).replace(microsecond=0)

    run = router.run([str(media.short), "--model", "small"])

    entry = run.entry
    logged = datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert entry.line.startswith("[ROUTER] ")
    assert before <= logged <= datetime.now(timezone.utc)
    assert entry["mode"] == "GPU"
    assert entry["metric"] == "5.000000"
    assert entry["host"] == HOST
    assert entry["unit"] == "seconds"
    assert entry["threshold"] == "10"
    assert entry["slot"] == "0"
    assert entry["pid"] == str(run.workload_pid)
    assert entry["reason"] == "-"
    assert entry.input == str(media.short)
    assert entry.args == [str(media.short), "--model", "small", *GPU_ARGS]


def test_log_date_matches_date_command_in_c_locale(router, media):
    run = router.run([str(media.short)], env={"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"})

    date_part = run.entry["date"]
    parsed = datetime.strptime(date_part, "%a %b %d %H:%M:%S UTC %Y")
    iso = datetime.strptime(run.entry["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert parsed == iso


def test_log_line_keeps_runbook_prefix(router, media):
    """Tools written for the runbook's router match '[ROUTER] <date> mode=X metric=N'."""
    run = router.run([str(media.long)])

    assert re.match(r"^\[ROUTER\] .+ \d{4} mode=CPU metric=20\.000000 ", run.entry.line)


def test_log_is_ascii_for_any_name(router, media):
    name = "été\n東京 \x01.wav"
    (router.root / name).write_bytes(media.short.read_bytes())

    run = router.run([name], env={"LANG": "C.UTF-8"})

    raw = router.log_path.read_bytes()
    assert raw.isascii()
    assert raw.count(b"\n") == 1
    assert run.entry.input == name


def test_host_and_unit_are_quoted(make_router, media):
    router = make_router(threshold_unit="audio seconds")

    run = router.run([str(media.short)])

    assert run.entry["unit"] == r"audio\ seconds"


def test_long_argument_list_is_cut_to_limit(router, media):
    args = [str(media.short), *[f"--option-{index:04d}={'x' * 40}" for index in range(200)]]

    run = router.run(args)

    line = router.log_path.read_bytes().splitlines(keepends=True)[0]
    match = re.search(r"args:(.*) \.\.\.\((\d+) more arguments\)$", run.entry.line)
    assert match
    logged_args = bash_words(match.group(1))
    omitted = int(match.group(2))
    assert run.argv == [*args, *GPU_ARGS]
    assert len(line) <= 4096
    assert len(line) > 4000
    assert logged_args == run.argv[: len(logged_args)]
    assert len(logged_args) + omitted == len(run.argv)


def test_unwritable_log_still_runs_job(make_router, media, tmp_path):
    router = make_router(router_log=str(tmp_path / "gone" / "log" / "router.log"))
    router.log_path.parent.rmdir()
    router.log_path.parent.parent.rmdir()

    run = router.run([str(media.short)])

    assert run.returncode == 0
    assert run.argv == [str(media.short), *GPU_ARGS]
    assert "cannot append to the log" in run.stderr
    assert run.log == []
    assert not router.log_path.parent.parent.exists()


def test_missing_log_directory_is_created(make_router, media):
    router = make_router()
    router.log_path.parent.rmdir()

    run = router.run([str(media.short)])

    assert run.returncode == 0
    assert run.stderr == ""
    assert run.argv == [str(media.short), *GPU_ARGS]
    assert run.entry["mode"] == "GPU"
    assert stat.S_IMODE(router.log_path.parent.stat().st_mode) == 0o755


def test_log_directory_symlink_is_followed(make_router, media):
    router = make_router()
    elsewhere = router.root / "elsewhere"
    elsewhere.mkdir()
    router.log_path.parent.rmdir()
    router.log_path.parent.symlink_to(elsewhere)

    run = router.run([str(media.short)])

    assert run.entry["mode"] == "GPU"
    assert (elsewhere / router.log_path.name).is_file()


def test_log_directory_in_place_of_file_still_runs_job(router, media):
    router.log_path.mkdir()

    run = router.run([str(media.long)])

    assert run.returncode == 0
    assert run.argv is not None
    assert "cannot append to the log" in run.stderr


def test_parallel_routers_write_whole_lines(make_router, media):
    router = make_router(max_gpu_jobs=1)
    env = {
        "PATH": os.environ["PATH"],
        "FAKE_WORKLOAD_STATE": str(router.new_state_dir()),
        "FLEETROUTE_DRY_RUN": "1",
    }
    long_args = [f"--option-{index}={'y' * 30}" for index in range(80)]
    processes = [
        subprocess.Popen([str(router.binary), str(media.short), *long_args], env=env, cwd=router.root)
        for _ in range(12)
    ]
    for process in processes:
        process.wait(timeout=30)

    wait_for(lambda: len(router.log_lines()) == 12)
    entries = [parse_log_line(line) for line in router.log_lines()]

    assert len(entries) == 12
    assert {entry["mode"] for entry in entries} <= {"GPU-DRYRUN", "GPU-BLOCKED-DRYRUN"}
    assert all(entry.args[1:81] == long_args for entry in entries)
