"""verify's verdicts from canned facts and verify.sh reports."""

from __future__ import annotations

import pytest

from fleetroute.facts.gpu import Gpu, GpuFacts
from fleetroute.facts.host import HostFacts, PathState
from fleetroute.operations.verify.checks import (
    DEGRADED,
    FAIL,
    PASS,
    SKIPPED,
    Check,
    host_status,
    verify_exit_code,
)
from fleetroute.operations.verify.judge import (
    judge_blocking,
    judge_gpus,
    judge_install,
    judge_path,
    unsafe_to_run_reason,
)
from fleetroute.operations.verify.remote import JobResult, RemoteRun, parse_sample
from fleetroute.report import HostReport

from .helpers import install_state, whisper_settings

SETTINGS = whisper_settings()
ROUTER = SETTINGS.router_path
ROUTER_SHA = "a" * 64
SMALL = "/tmp/v/small.wav"
LARGE = "/tmp/v/large.wav"
GPU_ARGS = " --device cuda --compute_type float16"
CPU_ARGS = " --device cpu --compute_type int8"


def wrapped_state(**overrides):
    values = {
        "binary": PathState("symlink", ROUTER),
        "real": PathState("file"),
        "real_sha256": "b" * 64,
        "real_executable": True,
        "router": PathState("file"),
        "router_sha256": ROUTER_SHA,
        "manifest": {"router_sha256": ROUTER_SHA, "real_sha256": "b" * 64},
    }
    return install_state(**{**values, **overrides})


def host_facts(state=None, gpu=None):
    return HostFacts(
        gpu=gpu or GpuFacts(True, (Gpu(0, "NVIDIA RTX A4000", 16376, 0, "550.54.15"),)),
        ram_total_mb=32000,
        ram_available_mb=30000,
        probe_tool_path="/usr/bin/ffprobe",
        run_as_uid=0,
        remote_user="root",
        install=state or wrapped_state(),
    )


def log_line(mode, *, metric="3599.000000", slot="0", reason="-", input_path=SMALL, args=None, pid=100):
    args = f" {input_path}{GPU_ARGS}" if args is None else args
    return (
        f"[ROUTER] Fri Dec  4 21:04:57 UTC 2026 mode={mode} metric={metric} time=2026-12-04T21:04:57Z "
        f"host=a4000 unit=seconds threshold=3600 slot={slot} pid={pid} reason={reason} input={input_path} args:{args}"
    )


def job(name, mode, *, exit_code=0, ms=80, metric="3599.000000", slot="0", reason="-", kind="gpu", **fields):
    input_path = SMALL if kind == "gpu" else LARGE
    device = GPU_ARGS if kind == "gpu" else CPU_ARGS
    logged_device = fields.pop("logged_device", device)
    values = {
        "name": name,
        "exit_code": exit_code,
        "ms": ms,
        "timed_out": False,
        "pid": 100,
        "log": log_line(mode, metric=metric, slot=slot, reason=reason, input_path=input_path,
                        args=f" {input_path}{logged_device}"),
        "expected_args": f" {input_path}{device}",
        "stderr": "",
        "stdout": "",
    }
    values.update(fields)
    return JobResult(**values)


def dry_jobs():
    blocked = {"exit_code": 75, "slot": "-", "reason": "all-slots-busy"}
    return {
        "gpu_path": job("gpu_path", "GPU-DRYRUN"),
        "cpu_path": job("cpu_path", "CPU-DRYRUN", metric="3601.000000", kind="cpu"),
        "gpu_blocking.while_held": job("gpu_blocking.while_held", "GPU-BLOCKED-DRYRUN", **blocked),
        "gpu_blocking.after_release": job("gpu_blocking.after_release", "GPU-DRYRUN"),
        "cpu_blocking.while_held": job(
            "cpu_blocking.while_held", "CPU-BLOCKED-DRYRUN", metric="3601.000000", kind="cpu", **blocked
        ),
        "cpu_blocking.after_release": job("cpu_blocking.after_release", "CPU-DRYRUN", metric="3601.000000", kind="cpu"),
    }


def remote_run(jobs=None, **overrides):
    values = {
        "access": {"user": "root", "method": "self"},
        "writable": {"log_dir": "yes", "log_file": "yes", "lock_dir": "yes"},
        "inputs": {
            "small": {"path": SMALL, "origin": "generated", "ms": "70"},
            "large": {"path": LARGE, "origin": "generated", "ms": "70"},
        },
        "slots": {"gpu.0": "free", "gpu.1": "free", "cpu.0": "free"},
        "holders": {"gpu_blocking": {"gpu.0": "held", "gpu.1": "held"}, "cpu_blocking": {"cpu.0": "held"}},
        "jobs": dry_jobs() if jobs is None else jobs,
    }
    values.update(overrides)
    return RemoteRun(**values)


def install(state=None, remote=None, settings=SETTINGS):
    return judge_install(host_facts(state), remote or remote_run(), settings, ROUTER_SHA)


# Install -------------------------------------------------------------------------


def test_install_passes_on_wrapped_host():
    check = install()
    assert check.verdict == PASS
    assert check.evidence["real_sha256_matches_manifest"] is True


def test_install_drift_after_package_upgrade():
    check = install(wrapped_state(binary=PathState("file")))
    assert check.verdict == FAIL
    assert check.reason.startswith("drift: /usr/local/bin/whisper-ctranslate2 is a regular file again")
    assert check.reason.endswith("run fleetroute deploy to wrap it again")


def test_install_not_deployed():
    check = install(install_state())
    assert check.verdict == FAIL
    assert check.reason.startswith("not deployed:")


def test_install_binary_links_elsewhere():
    check = install(wrapped_state(binary=PathState("symlink", "/opt/other")))
    assert "is a symlink to /opt/other, not a symlink to the router" in check.reason


def test_install_router_removed():
    check = install(wrapped_state(router=PathState("missing"), router_sha256="-"))
    assert check.verdict == FAIL
    assert f"the router {ROUTER} is missing (removed by hand?)" in check.reason


def test_install_router_edited_by_hand():
    check = install(wrapped_state(router_sha256="c" * 64))
    assert "differs from the one deploy installed (sha256 cccccccccccc, manifest aaaaaaaaaaaa)" in check.reason


def test_install_router_outdated_against_inventory():
    check = judge_install(host_facts(), remote_run(), SETTINGS, "d" * 64)
    assert check.verdict == FAIL
    assert "is outdated: the inventory's settings render a different router" in check.reason


def test_install_real_binary_not_executable():
    check = install(wrapped_state(real_executable=False))
    assert f"the real binary {SETTINGS.real_binary} is not executable" in check.reason


def test_install_changed_real_binary_only_in_evidence():
    check = install(wrapped_state(real_sha256="e" * 64))
    assert check.verdict == PASS
    assert check.evidence["real_sha256_matches_manifest"] is False


@pytest.mark.parametrize(
    ("writable", "message"),
    [
        ({"log_dir": "no"}, "the log directory /var/log/fleetroute is not writable by runner"),
        ({"log_dir": "missing"}, "the log directory /var/log/fleetroute is missing"),
        ({"log_file": "no"}, "the router log /var/log/fleetroute/whisper-ctranslate2.log is not writable by runner"),
        ({"lock_dir": "no"}, "the lock directory /run/lock/fleetroute/whisper-ctranslate2 is not writable by runner"),
        ({"lock_dir": "missing"}, "the lock directory /run/lock/fleetroute/whisper-ctranslate2 is missing"),
        (
            {"lock_file gpu.1.lock": "no"},
            "the slot lock file /run/lock/fleetroute/whisper-ctranslate2/gpu.1.lock is not writable by runner",
        ),
    ],
)
def test_install_unwritable_paths(writable, message):
    remote = remote_run(writable={"log_dir": "yes", "log_file": "yes", "lock_dir": "yes", **writable})
    check = install(remote=remote, settings=whisper_settings(run_as="runner"))
    assert check.verdict == FAIL
    assert message in check.reason


def test_install_skipped_without_access():
    remote = remote_run(access={"user": "deploy", "method": "none", "reason": "connected as deploy"}, writable={})
    check = install(remote=remote)
    assert check.verdict == SKIPPED
    assert check.reason == "directories not checked: connected as deploy"


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (wrapped_state(), ""),
        (wrapped_state(binary=PathState("file")), "does not link to the router"),
        (wrapped_state(router=PathState("missing")), "is missing"),
        (wrapped_state(router_sha256="c" * 64), "is not one that fleetroute wrote"),
        (wrapped_state(manifest={}), ""),
    ],
)
def test_unsafe_to_run_reason(state, reason):
    result = unsafe_to_run_reason(state, SETTINGS, ROUTER_SHA)
    assert (reason in result) if reason else result == ""


# GPUs ----------------------------------------------------------------------------


def gpus(count):
    return GpuFacts(True, tuple(Gpu(index, "NVIDIA A100", 40960, 0, "550") for index in range(count)))


def test_gpus_pass_without_expectation():
    assert judge_gpus(host_facts(gpu=gpus(4)), SETTINGS).verdict == PASS


def test_gpus_driver_not_answering_degrades():
    facts = host_facts(gpu=GpuFacts(False, message="NVIDIA-SMI has failed"))
    check = judge_gpus(facts, SETTINGS)
    assert check.verdict == DEGRADED
    assert check.reason == "no usable GPU: NVIDIA-SMI has failed"


def test_gpus_fewer_than_expected_degrades():
    check = judge_gpus(host_facts(gpu=gpus(3)), whisper_settings(expect_gpus=4))
    assert (check.verdict, check.reason) == (DEGRADED, "found 3 GPU(s), expected 4 (expect_gpus)")


def test_gpus_more_than_expected_fails():
    check = judge_gpus(host_facts(gpu=gpus(4)), whisper_settings(expect_gpus=1))
    assert (check.verdict, check.reason) == (FAIL, "found 4 GPU(s), expected 1; update expect_gpus")


# Path checks ---------------------------------------------------------------------


def path(kind, jobs=None, full=False, **overrides):
    return judge_path(kind, remote_run(jobs, **overrides), SETTINGS, full=full, skip_reason="")


def with_job(**jobs):
    return {**dry_jobs(), **jobs}


def test_paths_pass_in_dry_run():
    assert path("gpu").verdict == PASS
    assert path("cpu").verdict == PASS
    assert path("gpu").evidence["mode"] == "GPU-DRYRUN"


def test_small_input_on_cpu_means_same_way():
    jobs = with_job(gpu_path=job("gpu_path", "CPU-DRYRUN", metric="4000.000000", logged_device=CPU_ARGS))
    check = path("gpu", jobs)
    assert check.verdict == FAIL
    assert "metric 4000.000000 is not below the router's threshold 3600 seconds" in check.reason
    assert "both inputs route the same way; check threshold_value and verify_small_input" in check.reason


def test_large_input_on_gpu_means_same_way():
    jobs = with_job(cpu_path=job("cpu_path", "GPU-DRYRUN", metric="101.000000", kind="cpu", logged_device=GPU_ARGS))
    check = path("cpu", jobs)
    assert "metric 101.000000 is below the router's threshold 3600" in check.reason
    assert check.reason.endswith("verify_large_input")


def test_unknown_metric_explained():
    jobs = with_job(gpu_path=job("gpu_path", "CPU-DRYRUN", metric="unknown", reason="probe-exit-1"))
    check = path("gpu", jobs)
    assert "the probe could not measure the small input /tmp/v/small.wav (reason=probe-exit-1)" in check.reason


def test_blocked_path_names_slot_holders():
    jobs = with_job(gpu_path=job("gpu_path", "GPU-BLOCKED-DRYRUN", exit_code=75, slot="-"))
    slots = {"gpu.0": "held 812:flock,813:sleep", "gpu.1": "free", "cpu.0": "free"}
    check = path("gpu", jobs, slots=slots)
    assert check.reason.endswith("every GPU slot was busy (held before verify started: gpu.0 812:flock,813:sleep)")


def test_config_error_explained():
    jobs = with_job(gpu_path=job("gpu_path", "GPU-CONFIG-ERROR-DRYRUN", exit_code=78, reason="lock-open-failed",
                                 stderr="cannot open the lock file"))
    check = path("gpu", jobs)
    assert "configuration error (lock-open-failed); stderr: cannot open the lock file" in check.reason


def test_missing_log_line_with_config_exit_code():
    jobs = with_job(gpu_path=job("gpu_path", "GPU", exit_code=78, log="", stderr="cannot append to the log"))
    check = path("gpu", jobs)
    assert "left no router log line" in check.reason
    assert "exit code 78, the router's exit code for a configuration error" in check.reason
    assert check.evidence["log"] is None


def test_wrong_device_arguments():
    jobs = with_job(gpu_path=job("gpu_path", "GPU-DRYRUN", logged_device=" --device cuda"))
    check = path("gpu", jobs)
    assert check.reason.startswith("the job got the arguments /tmp/v/small.wav --device cuda, expected them to end")


def test_nonzero_exit_fails():
    check = path("gpu", with_job(gpu_path=job("gpu_path", "GPU-DRYRUN", exit_code=1, stderr="boom")))
    assert check.reason == "the job exited 1, expected 0; stderr: boom"


def test_refused_and_timed_out_jobs():
    refused = with_job(gpu_path=job("gpu_path", "GPU", refused="BINARY no longer links to ROUTER"))
    timed_out = with_job(gpu_path=job("gpu_path", "GPU", timed_out=True, ms=600_400))
    assert path("gpu", refused).reason == "verify did not run the job: BINARY no longer links to ROUTER"
    assert path("gpu", timed_out).reason == "the job did not finish within 600 s, so verify stopped it"


def test_input_skipped_or_failed():
    skipped = {"small": {"origin": "skipped", "reason": "ffmpeg not found on the host"}}
    failed = {"large": {"origin": "failed", "path": "/srv/x", "reason": "/srv/x is not a file on the host"}}
    assert path("gpu", inputs=skipped).verdict == SKIPPED
    assert path("gpu", inputs=skipped).reason == "no small input: ffmpeg not found on the host"
    assert path("cpu", inputs=failed).verdict == FAIL
    assert path("cpu", inputs=failed).reason == "large input: /srv/x is not a file on the host"


def test_skip_reason_wins():
    check = judge_path("gpu", remote_run(), SETTINGS, full=False, skip_reason="not run: router missing")
    assert (check.verdict, check.reason) == (SKIPPED, "not run: router missing")


# --full ---------------------------------------------------------------------------


def full_job(kind, samples):
    mode = kind.upper()
    metric = "3599.000000" if kind == "gpu" else "3601.000000"
    parsed = tuple(parse_sample(line) for line in samples)
    return job(f"{kind}_path", mode, metric=metric, kind=kind, ms=1300, samples=parsed)


def test_full_gpu_job_raises_memory():
    samples = ["1000 0 0, 0", "1200 0 0, 2799", "1400 0 0, 2799", "1600 0 0, 0"]
    check = path("gpu", with_job(gpu_path=full_job("gpu", samples)), full=True)
    assert check.verdict == PASS
    assert check.evidence["gpu_memory_rise_mb"] == 2799
    assert check.evidence["gpu_memory_samples"][1] == {"ms": 200, "exit_code": 0, "used_mb": {"0": 2799}}


def test_full_gpu_job_flat_memory_fails():
    samples = ["1000 0 0, 500", "1200 0 0, 550", "1400 0 0, 500"]
    check = path("gpu", with_job(gpu_path=full_job("gpu", samples)), full=True)
    assert check.verdict == FAIL
    assert check.reason.startswith("GPU memory use stayed flat while the GPU job ran (500 MB before, 550 MB at most)")


def test_full_cpu_job_raising_memory_fails():
    samples = ["1000 0 0, 0;1, 0", "1200 0 0, 0;1, 3700", "1400 0 0, 0;1, 0"]
    check = path("cpu", with_job(cpu_path=full_job("cpu", samples)), full=True)
    assert check.verdict == FAIL
    assert check.reason.startswith("GPU memory use rose by 3700 MB while the CPU job ran")


def test_full_unknown_memory_skips():
    samples = ["1000 0 Welcome;0, [N/A]", "1200 0 Welcome;0, [N/A]"]
    check = path("gpu", with_job(gpu_path=full_job("gpu", samples)), full=True)
    assert check.verdict == SKIPPED
    assert "nvidia-smi reports memory.used of GPU 0 as unknown" in check.reason


def test_full_job_needs_real_mode():
    check = path("gpu", full=True)
    assert check.reason.startswith("the router logged mode=GPU-DRYRUN, expected mode=GPU")


# Blocking ------------------------------------------------------------------------


def blocking(kind, jobs=None, settings=SETTINGS, **overrides):
    return judge_blocking(kind, remote_run(jobs, **overrides), settings, skip_reason="")


def test_blocking_passes():
    check = blocking("gpu")
    assert check.verdict == PASS
    assert check.evidence["while_held"]["exit_code"] == 75
    assert check.evidence["after_release"]["mode"] == "GPU-DRYRUN"
    assert blocking("cpu").verdict == PASS


def test_blocking_busy_slot_names_owner():
    holders = {"gpu_blocking": {"gpu.0": "busy 812:flock,813:sleep", "gpu.1": "held"}}
    check = blocking("gpu", holders=holders)
    assert check.verdict == FAIL
    assert check.reason.startswith("slot gpu.0 is held by another process (812:flock,813:sleep)")


def test_blocking_holder_failure():
    holders = {"cpu_blocking": {"cpu.0": "failed: exit code 3: Permission denied"}}
    check = blocking("cpu", holders=holders)
    assert check.reason == "verify could not hold slot cpu.0: exit code 3: Permission denied"


def test_job_with_slot_while_held_fails():
    jobs = with_job(**{"gpu_blocking.while_held": job("gpu_blocking.while_held", "GPU-DRYRUN", slot="1")})
    check = blocking("gpu", jobs)
    assert check.reason.startswith("with every GPU slot held: the router logged mode=GPU-DRYRUN")
    assert "got slot 1 although verify held every slot" in check.reason


def blocked_job(kind="gpu", **fields):
    name = f"{kind}_blocking.while_held"
    metric = "3599.000000" if kind == "gpu" else "3601.000000"
    values = {"exit_code": 75, "slot": "-", "metric": metric, "kind": kind, **fields}
    return {name: job(name, f"{kind.upper()}-BLOCKED-DRYRUN", **values)}


def test_slow_blocked_exit_fails():
    jobs = with_job(**blocked_job(ms=1200))
    check = blocking("gpu", jobs)
    assert "the blocked job took 1200 ms to exit, more than 1080 ms" in check.reason


def test_blocked_exit_allows_block_wait():
    jobs = with_job(**blocked_job(ms=3000))
    assert blocking("gpu", jobs, whisper_settings(block_wait_seconds=2)).verdict == PASS


def test_blocked_with_wrong_exit_code():
    jobs = with_job(**blocked_job("cpu", exit_code=1))
    check = blocking("cpu", jobs)
    assert check.reason.startswith("with every CPU slot held: the job exited 1, expected 75")


def test_no_slot_after_release_fails():
    after = job("gpu_blocking.after_release", "GPU-BLOCKED-DRYRUN", exit_code=75)
    jobs = with_job(**{"gpu_blocking.after_release": after})
    check = blocking("gpu", jobs)
    assert check.reason.startswith("after verify released the GPU slots: the router logged mode=GPU-BLOCKED-DRYRUN")


def test_overflow_to_cpu_checked():
    settings = whisper_settings(on_gpu_full="cpu")
    overflow = job("gpu_blocking.overflow", "CPU-DRYRUN", reason="gpu-full", logged_device=CPU_ARGS,
                   expected_args=f" {SMALL}{CPU_ARGS}")
    holders = {"gpu_blocking": {"gpu.0": "held", "gpu.1": "held", "cpu.0": "held"}}
    check = blocking("gpu", with_job(**{"gpu_blocking.overflow": overflow}), settings, holders=holders)
    assert check.verdict == PASS
    assert check.evidence["overflow"]["mode"] == "CPU-DRYRUN"

    no_reason = job("gpu_blocking.overflow", "CPU-DRYRUN", logged_device=CPU_ARGS, expected_args=f" {SMALL}{CPU_ARGS}")
    check = blocking("gpu", with_job(**{"gpu_blocking.overflow": no_reason}), settings, holders=holders)
    assert check.reason.startswith("with every GPU slot held and on_gpu_full cpu: the job went to the CPU without")


# Host status and exit code -------------------------------------------------------


@pytest.mark.parametrize(
    ("verdicts", "status"),
    [
        ((PASS, PASS), "ok"),
        ((PASS, SKIPPED), "incomplete"),
        ((DEGRADED, SKIPPED), "degraded"),
        ((DEGRADED, FAIL), "failed"),
    ],
)
def test_host_status(verdicts, status):
    assert host_status({str(index): Check(verdict) for index, verdict in enumerate(verdicts)}) == status


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (("ok", "ok"), 0),
        (("ok", "incomplete"), 2),
        (("degraded", "unreachable"), 6),
        (("failed", "interrupted"), 130),
    ],
)
def test_verify_exit_code(statuses, code):
    assert verify_exit_code([HostReport(f"h{index}", status=status) for index, status in enumerate(statuses)]) == code
