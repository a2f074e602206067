"""verify against the lab fleet: every check on deployed hosts, each failure it must catch, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lab.hosts import NO_DRIVER_MESSAGE, NvidiaSmiSpec, expected_vram_mb
from lab.media import make_media

from .conftest import BINARY, REAL, ROUTER, fleetroute, host_file

pytestmark = pytest.mark.lab

LOCK_DIR = "/run/lock/fleetroute/whisper-ctranslate2"
CHECKS = ("install", "gpus", "gpu_path", "cpu_path", "gpu_blocking", "cpu_blocking")
# Command lines of verify's remote processes: the script, slot holders before their
# exec of sleep, jobs before their exec of the workload, and the workload itself.
PROCESS_MARKERS = ("fleetroute-verify", "fleetroute-holder", "fleetroute-job", "whisper-ctranslate2-real")


def write_inventory(lab, tmp_path, name="inventory.yml", **variables):
    """Write the lab's inventory with ``variables`` added to all.vars and return its path."""
    inventory = yaml.safe_load(lab.inventory.read_text())
    inventory["all"]["vars"].update(variables)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(inventory))
    return path


def deploy(inventory, limit):
    result = fleetroute("deploy", "-i", str(inventory), "--limit", limit, "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    return result


def verify(inventory, *args):
    return fleetroute("verify", "-i", str(inventory), "--json", *args)


def checks_of(result, host):
    return result.json["hosts"][host]["checks"]


def verdicts(result, host):
    return {name: check["verdict"] for name, check in checks_of(result, host).items()}


def host_processes(lab, host):
    """Return "PID ARGS" of every process in the host's mount namespace.

    Under namespace isolation, ps on a lab host lists every process of this machine,
    including other lab fleets that run the same scripts at the same paths.
    """
    namespace = lab.exec(host, ["readlink", "/proc/self/ns/mnt"], check=True).stdout.strip()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or os.readlink(entry / "ns" / "mnt") != namespace:
                continue
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # The process exited meanwhile.
            continue
        found.append(f"{entry.name} {args}")
    return found


def leftovers(lab, host):
    """Return what verify left on a host: processes, private directories and held slot locks."""
    processes = host_processes(lab, host)
    found = [line.strip()[:160] for line in processes if any(marker in line for marker in PROCESS_MARKERS)]
    found += [str(path) for path in lab.fs_path(host, "/tmp").glob("fleetroute-verify.*")]
    held = lab.exec(
        host,
        f'for f in {LOCK_DIR}/*.lock; do [ -e "$f" ] || continue; flock -n "$f" true || echo "held: $f"; done',
    ).stdout.split("\n")
    return found + [line for line in held if line]


def assert_clean(lab, *hosts, wait=0.0):
    """Assert that no process, private directory or slot lock of verify remains, polling up to ``wait`` s."""
    deadline = time.monotonic() + wait
    while True:
        found = {host: leftovers(lab, host) for host in hosts}
        if not any(found.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert found == {host: [] for host in hosts}


def start_slot_holder(lab, host, slot):
    """Hold a router slot from a process outside verify; return its process group ID."""
    command = f"setsid flock {LOCK_DIR}/{slot}.lock sleep 60 >/dev/null 2>&1 </dev/null & echo $!"
    return int(lab.exec(host, command, check=True).stdout)


def stop_slot_holder(lab, host, group):
    lab.exec(host, f"kill -TERM -- -{group}")


def test_deployed_fleet_passes_every_check(fleet):
    deploy(fleet.inventory, "gpu_hosts")
    result = verify(fleet.inventory)
    hosts = result.json["hosts"]

    assert result.exit_code == 6
    for name in ("a4000", "a100x4", "mixed", "sentinels"):
        assert hosts[name]["status"] == "ok", hosts[name]["checks"]
        assert set(verdicts(result, name).values()) == {"pass"}
    assert hosts["offline"]["status"] == "unreachable"
    assert hosts["nodriver"]["status"] == "failed"
    assert verdicts(result, "nodriver")["gpus"] == "degraded"
    assert "couldn't communicate with the NVIDIA driver" in checks_of(result, "nodriver")["gpus"]["reason"]
    assert "not deployed" in checks_of(result, "nodriver")["install"]["reason"]
    assert verdicts(result, "nodriver")["gpu_path"] == "skipped"
    assert_clean(fleet, "a4000", "a100x4", "mixed", "sentinels", "nodriver")


def test_evidence_shows_routing_and_blocking(fleet):
    deploy(fleet.inventory, "a4000")
    result = verify(fleet.inventory, "--limit", "a4000")
    assert result.exit_code == 0
    checks = checks_of(result, "a4000")

    gpu = checks["gpu_path"]["evidence"]
    assert gpu["mode"] == "GPU-DRYRUN"
    assert float(gpu["metric"]) == 3599
    assert gpu["log"].endswith("--device cuda --compute_type float16")
    assert gpu["input_origin"] == "generated"
    cpu = checks["cpu_path"]["evidence"]
    assert cpu["mode"] == "CPU-DRYRUN"
    assert float(cpu["metric"]) == 3601
    assert cpu["log"].endswith("--device cpu --compute_type int8")

    for kind in ("gpu", "cpu"):
        evidence = checks[f"{kind}_blocking"]["evidence"]
        assert set(evidence["holders"].values()) == {"held"}
        assert evidence["while_held"]["mode"] == f"{kind.upper()}-BLOCKED-DRYRUN"
        assert evidence["while_held"]["exit_code"] == 75
        assert evidence["while_held"]["ms"] < evidence["after_release"]["ms"] + 1000
        assert evidence["after_release"]["mode"] == f"{kind.upper()}-DRYRUN"
        assert evidence["after_release"]["exit_code"] == 0
    assert len(checks["gpu_blocking"]["evidence"]["holders"]) == 2
    assert fleet.records("a4000") == []
    assert_clean(fleet, "a4000")


def test_text_output_has_check_table(fleet):
    deploy(fleet.inventory, "a4000")
    result = fleetroute("verify", "-i", str(fleet.inventory), "--limit", "a4000,offline")
    assert result.exit_code == 4
    assert "verify recap" in result.stdout
    assert "gpu blocking" in result.stdout
    header = next(line for line in result.stdout.splitlines() if "a4000" in line and "pass" in line)
    assert header.count("pass") == 6


def test_router_removed_by_hand(fleet):
    deploy(fleet.inventory, "a4000")
    host_file(fleet, "a4000", ROUTER).unlink()

    result = verify(fleet.inventory, "--limit", "a4000")
    assert result.exit_code == 2
    install = checks_of(result, "a4000")["install"]
    assert install["verdict"] == "fail"
    assert f"the router {ROUTER} is missing" in install["reason"]
    assert "fleetroute deploy" in install["reason"]
    assert verdicts(result, "a4000")["gpu_path"] == "skipped"
    assert_clean(fleet, "a4000")


def test_package_upgrade_reported_as_drift(fleet):
    deploy(fleet.inventory, "a4000")
    binary = host_file(fleet, "a4000", BINARY)
    binary.unlink()
    binary.write_bytes(b"#!/bin/sh\necho upgraded whisper\n")
    binary.chmod(0o755)

    result = verify(fleet.inventory, "--limit", "a4000")
    assert result.exit_code == 2
    install = checks_of(result, "a4000")["install"]
    assert install["verdict"] == "fail"
    assert install["reason"].startswith("drift:")
    assert "package upgrade" in install["reason"]
    assert "run fleetroute deploy" in install["reason"]
    assert "does not link to the router" in checks_of(result, "a4000")["cpu_path"]["reason"]
    assert_clean(fleet, "a4000")


def test_threshold_routes_both_inputs_same_way(fleet, tmp_path):
    deploy(fleet.inventory, "a4000")
    lower = write_inventory(fleet, tmp_path, threshold_value=100)

    result = verify(lower, "--limit", "a4000")
    assert result.exit_code == 2
    checks = checks_of(result, "a4000")
    assert "outdated" in checks["install"]["reason"]
    assert checks["gpu_path"]["verdict"] == "pass"
    assert checks["cpu_path"]["verdict"] == "fail"
    assert "metric 101.000000 is below the router's threshold 3600" in checks["cpu_path"]["reason"]
    assert "both inputs route the same way" in checks["cpu_path"]["reason"]
    assert checks["cpu_blocking"]["verdict"] == "fail"
    assert "the job went to the GPU path" in checks["cpu_blocking"]["reason"]

    long_talk = make_media(fleet.shared_dir / "long-talk.flac", 4000, cache_dir=tmp_path / "media")
    override = write_inventory(fleet, tmp_path, name="override.yml", verify_small_input=str(long_talk))
    result = verify(override, "--limit", "a4000")
    gpu_path = checks_of(result, "a4000")["gpu_path"]
    assert gpu_path["verdict"] == "fail"
    assert gpu_path["evidence"]["input_origin"] == "given"
    assert "metric 4000.000000 is not below the router's threshold 3600" in gpu_path["reason"]
    assert "verify_small_input" in gpu_path["reason"]
    assert_clean(fleet, "a4000")


def test_lock_dir_not_writable_by_run_as(fleet, tmp_path):
    inventory = write_inventory(fleet, tmp_path, run_as="nobody")
    deploy(inventory, "a4000")
    passed = verify(inventory, "--limit", "a4000")
    assert passed.exit_code == 0, checks_of(passed, "a4000")
    assert checks_of(passed, "a4000")["install"]["evidence"]["access"]["method"] == "setpriv"
    lock_files = sorted(host_file(fleet, "a4000", LOCK_DIR).iterdir())
    assert [path.name for path in lock_files] == ["cpu.0.lock", "gpu.0.lock", "gpu.1.lock"]
    assert {path.owner() for path in lock_files} == {"nobody"}

    lock_dir = host_file(fleet, "a4000", LOCK_DIR)
    for path in lock_files:
        path.unlink()
    os.chown(lock_dir, 0, 0)
    lock_dir.chmod(0o755)
    result = verify(inventory, "--limit", "a4000")
    assert result.exit_code == 2
    checks = checks_of(result, "a4000")
    assert f"the lock directory {LOCK_DIR} is not writable by nobody" in checks["install"]["reason"]
    assert checks["gpu_path"]["verdict"] == "fail"
    assert "configuration error" in checks["gpu_path"]["reason"]
    assert "Permission denied" in checks["gpu_blocking"]["reason"]
    assert_clean(fleet, "a4000")


def test_broken_driver_degrades_host(fleet, tmp_path):
    deploy(fleet.inventory, "a4000,mixed")
    fleet.set_nvidia_smi("a4000", NvidiaSmiSpec(failure=(9, NO_DRIVER_MESSAGE)))
    inventory = write_inventory(fleet, tmp_path, expect_gpus=3)

    result = verify(inventory, "--limit", "a4000,mixed")
    assert result.exit_code == 2
    hosts = result.json["hosts"]
    assert hosts["a4000"]["status"] == "degraded"
    assert checks_of(result, "a4000")["gpus"]["verdict"] == "degraded"
    assert checks_of(result, "a4000")["gpus"]["reason"] == f"no usable GPU: {NO_DRIVER_MESSAGE}"
    assert hosts["mixed"]["status"] == "degraded"
    assert checks_of(result, "mixed")["gpus"]["reason"] == "found 2 GPU(s), expected 3 (expect_gpus)"
    assert verdicts(result, "mixed")["gpu_path"] == "pass"
    assert_clean(fleet, "a4000", "mixed")


def test_foreign_slot_holder_fails_blocking(fleet):
    deploy(fleet.inventory, "a4000,sentinels")
    holders = {host: start_slot_holder(fleet, host, "gpu.0") for host in ("a4000", "sentinels")}
    try:
        result = verify(fleet.inventory, "--limit", "a4000,sentinels")
    finally:
        for host, group in holders.items():
            stop_slot_holder(fleet, host, group)

    assert result.exit_code == 2
    a4000 = checks_of(result, "a4000")
    assert a4000["gpu_path"]["verdict"] == "pass"
    assert a4000["gpu_path"]["evidence"]["slot"] == "1"
    assert a4000["gpu_blocking"]["verdict"] == "fail"
    assert f"slot gpu.0 is held by another process ({holders['a4000']}:flock" in a4000["gpu_blocking"]["reason"]
    assert a4000["cpu_blocking"]["verdict"] == "pass"
    sentinels = checks_of(result, "sentinels")
    assert sentinels["gpu_path"]["verdict"] == "fail"
    assert "every GPU slot was busy (held before verify started: gpu.0" in sentinels["gpu_path"]["reason"]
    assert_clean(fleet, "a4000", "sentinels")


@pytest.mark.parametrize(
    ("variables", "small_metric", "large_metric"),
    [
        ({"probe": "size", "threshold_value": 1000000, "input_rule": "flag:--audio"}, 999999, 1000001),
        ({"probe": "pixels", "threshold_value": 2073600, "on_gpu_full": "cpu"}, 2073599, 2073600),
    ],
    ids=["size", "pixels"],
)
def test_generated_inputs_fit_probe(fleet, tmp_path, variables, small_metric, large_metric):
    inventory = write_inventory(fleet, tmp_path, **variables)
    deploy(inventory, "a4000")

    result = verify(inventory, "--limit", "a4000")
    checks = checks_of(result, "a4000")
    assert result.exit_code == 0, checks
    assert int(checks["gpu_path"]["evidence"]["metric"]) == small_metric
    assert int(checks["cpu_path"]["evidence"]["metric"]) == large_metric
    if variables.get("on_gpu_full") == "cpu":
        overflow = checks["gpu_blocking"]["evidence"]["overflow"]
        assert overflow["mode"] == "CPU-DRYRUN"
        assert "reason=gpu-full" in overflow["log"]
    assert_clean(fleet, "a4000")


def test_missing_ffmpeg_skips_generated_inputs(fleet):
    if fleet.state.isolation != "namespace":
        pytest.skip("hiding ffmpeg on one host needs its own mount namespace")
    deploy(fleet.inventory, "a4000")
    ffmpeg = fleet.exec("a4000", "command -v ffmpeg").stdout.strip()
    fleet.exec("a4000", ["mount", "--bind", "/dev/null", ffmpeg], check=True)

    result = verify(fleet.inventory, "--limit", "a4000")
    assert result.exit_code == 2
    assert result.json["hosts"]["a4000"]["status"] == "incomplete", checks_of(result, "a4000")
    for name in ("gpu_path", "cpu_path", "gpu_blocking", "cpu_blocking"):
        check = checks_of(result, "a4000")[name]
        assert check["verdict"] == "skipped"
        assert "ffmpeg not found on the host" in check["reason"]
    assert_clean(fleet, "a4000")


def test_full_run_measures_gpu_memory(fleet, tmp_path):
    inventory = write_inventory(fleet, tmp_path, verify_env=["FLEETLAB_SLEEP=0.8"])
    deploy(inventory, "a4000")

    result = verify(inventory, "--limit", "a4000", "--full")
    checks = checks_of(result, "a4000")
    assert result.exit_code == 0, checks
    gpu = checks["gpu_path"]["evidence"]
    assert gpu["mode"] == "GPU"
    assert gpu["gpu_memory_rise_mb"] == expected_vram_mb(3599)
    assert gpu["gpu_memory_samples"][0]["used_mb"] == {"0": 0}
    assert "device=cuda" in gpu["stdout"]
    cpu = checks["cpu_path"]["evidence"]
    assert cpu["mode"] == "CPU"
    assert cpu["gpu_memory_rise_mb"] == 0
    assert len(cpu["gpu_memory_samples"]) >= 3
    records = fleet.records("a4000")
    assert [record.argv[-4:] for record in records] == [
        ["--device", "cuda", "--compute_type", "float16"],
        ["--device", "cpu", "--compute_type", "int8"],
    ]
    assert_clean(fleet, "a4000")


def test_full_run_catches_workload_ignoring_gpu(fleet, tmp_path):
    inventory = write_inventory(fleet, tmp_path, verify_env=["FLEETLAB_SLEEP=0.5"])
    deploy(inventory, "a4000")
    original = REAL + "-original"
    fleet.exec("a4000", ["mv", REAL, original], check=True)
    wrapper = host_file(fleet, "a4000", REAL)
    wrapper.write_text(
        "#!/bin/bash\n"
        "# Runs every job on the CPU, whatever --device says.\n"
        'args=()\nfor arg in "$@"; do [[ $arg == cuda ]] && arg=cpu; args+=("$arg"); done\n'
        f'exec {original} "${{args[@]}}"\n'
    )
    wrapper.chmod(0o755)

    result = verify(inventory, "--limit", "a4000", "--full")
    assert result.exit_code == 2
    gpu_path = checks_of(result, "a4000")["gpu_path"]
    assert gpu_path["verdict"] == "fail"
    assert "GPU memory use stayed flat while the GPU job ran (0 MB before, 0 MB at most)" in gpu_path["reason"]
    assert checks_of(result, "a4000")["cpu_path"]["verdict"] == "pass"
    assert any("real binary differs" in warning for warning in result.json["hosts"]["a4000"]["warnings"])
    assert_clean(fleet, "a4000")


def start_verify(inventory, *args):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "fleetroute", "verify", "-i", str(inventory), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_workload(lab, host, process, timeout=15.0):
    """Wait until the workload of a --full job runs on the host."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("whisper-ctranslate2-real /tmp/fleetroute-verify." in line for line in host_processes(lab, host)):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    pytest.fail(f"no workload started on {host} within {timeout} s")


def test_dropped_connection_leaves_nothing(fleet, tmp_path):
    inventory = write_inventory(fleet, tmp_path, verify_env=["FLEETLAB_SLEEP=60"])
    deploy(inventory, "a4000")
    process = start_verify(inventory, "--limit", "a4000", "--full")
    wait_for_workload(fleet, "a4000", process)

    process.kill()
    process.communicate()
    assert_clean(fleet, "a4000", wait=5.0)


def test_interrupt_stops_remote_jobs(fleet, tmp_path):
    inventory = write_inventory(fleet, tmp_path, verify_env=["FLEETLAB_SLEEP=60"])
    deploy(inventory, "a4000")
    process = start_verify(inventory, "--limit", "a4000", "--full", "--json")
    wait_for_workload(fleet, "a4000", process)

    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 130
    report = json.loads(output)["hosts"]["a4000"]
    assert report["status"] == "interrupted"
    assert report["error"].startswith("interrupted during verify"), report["error"]
    assert_clean(fleet, "a4000", wait=5.0)
