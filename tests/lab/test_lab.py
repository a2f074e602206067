"""Tests of the lab fleet: real sshd hosts, their simulated nvidia-smi and workload, and shutdown."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from fleetroute.settings import VARIABLES
from lab import HostSpec, Lab, NvidiaSmiSpec, expected_vram_mb, read_records
from lab import install, procs
from lab.hosts import BANNER, NO_DRIVER_MESSAGE, Gpu
from lab.media import make_media
from lab.pytest_plugin import skip_without_lab_tools

pytestmark = pytest.mark.lab

NVIDIA_SMI = "/usr/local/bin/nvidia-smi"
WORKLOAD = "/usr/local/bin/whisper-ctranslate2"
VRAM_DIR = "/usr/local/share/fleetlab/vram"
QUERY = ["--query-gpu=index,name,memory.total,memory.used,driver_version", "--format=csv,noheader,nounits"]

EXPECTED_QUERY_OUTPUT = {
    "a4000": (0, ["0, NVIDIA RTX A4000, 16376, 0, 550.54.15"]),
    "a100x4": (
        0,
        [
            "0, NVIDIA A100-SXM4-40GB, 40960, 0, 550.54.15",
            "1, NVIDIA A100-SXM4-40GB, 40960, 39000, 550.54.15",
            "2, NVIDIA A100-SXM4-40GB, 40960, 0, 550.54.15",
            "3, NVIDIA A100-SXM4-40GB, 40960, 0, 550.54.15",
        ],
    ),
    "mixed": (
        0,
        [
            "0, NVIDIA GeForce RTX 3060, 12288, 0, 550.54.15",
            "1, NVIDIA GeForce RTX 3090, 24576, 0, 550.54.15",
        ],
    ),
    "sentinels": (0, [BANNER, "0, NVIDIA GeForce GTX 1660, 6144, [N/A], 550.54.15"]),
    "nodriver": (9, [NO_DRIVER_MESSAGE]),
}


def namespaced(lab: Lab) -> bool:
    return lab.state.isolation == "namespace"


def host_command(lab: Lab, host: str, path: str, *args: str) -> list[str]:
    """Return argv for running the host's program ``path``, wherever the isolation puts it."""
    return [lab.host_path(host, path), *args]


def memory_used(lab: Lab, host: str, gpu: int) -> int:
    query = ["-i", str(gpu), "--query-gpu=memory.used", "--format=csv,noheader,nounits"]
    result = lab.exec(host, host_command(lab, host, NVIDIA_SMI, *query))
    assert result.returncode == 0, result.stdout + result.stderr
    return int(result.stdout.strip())


def wait_for_memory_used(lab: Lab, host: str, gpu: int, expected: int, timeout: float = 10.0) -> int:
    """Poll nvidia-smi until GPU ``gpu`` reports ``expected`` MB used; return the last value read."""
    deadline = time.monotonic() + timeout
    while True:
        used = memory_used(lab, host, gpu)
        if used == expected or time.monotonic() > deadline:
            return used
        time.sleep(0.1)


def registered_pids(lab: Lab, host: str) -> list[int]:
    return [int(entry.name) for entry in lab.fs_path(host, VRAM_DIR).iterdir() if entry.name.isdigit()]


# nvidia-smi over the real ssh client.


@pytest.mark.parametrize("host", sorted(EXPECTED_QUERY_OUTPUT))
def test_nvidia_smi_query_over_ssh(lab_fleet: Lab, host: str) -> None:
    expected_code, expected_lines = EXPECTED_QUERY_OUTPUT[host]
    result = lab_fleet.ssh(host, host_command(lab_fleet, host, NVIDIA_SMI, *QUERY))
    assert result.returncode == expected_code, result.stderr
    assert result.stdout.splitlines() == expected_lines


def test_nvidia_smi_rejects_unknown_field(lab_fleet: Lab) -> None:
    result = lab_fleet.ssh("a4000", host_command(lab_fleet, "a4000", NVIDIA_SMI,
                                                 "--query-gpu=index,memory.reserved", "--format=csv"))
    assert result.returncode == 2
    assert result.stdout == 'Field "memory.reserved" is not a valid field to query.\n'


def test_nvidia_smi_csv_header_and_units(lab_fleet: Lab) -> None:
    result = lab_fleet.ssh("mixed", host_command(lab_fleet, "mixed", NVIDIA_SMI,
                                                 "--query-gpu=name,memory.free", "--format=csv"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "name, memory.free [MiB]",
        "NVIDIA GeForce RTX 3060, 12288 MiB",
        "NVIDIA GeForce RTX 3090, 24576 MiB",
    ]


def test_offline_host_refuses_connection(lab_fleet: Lab) -> None:
    result = lab_fleet.ssh("offline", "true")
    assert result.returncode == 255
    assert "Connection refused" in result.stderr


def test_set_nvidia_smi_changes_output(lab_fleet: Lab) -> None:
    original = NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376),))
    changed = NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376, 1234),), driver_version="535.1")
    lab_fleet.set_nvidia_smi("a4000", changed)
    try:
        result = lab_fleet.exec("a4000", host_command(lab_fleet, "a4000", NVIDIA_SMI, *QUERY))
    finally:
        lab_fleet.set_nvidia_smi("a4000", original)
    assert result.stdout.splitlines() == ["0, NVIDIA RTX A4000, 16376, 1234, 535.1"]


# Per-host file system views.


def test_hosts_have_private_tmp(lab_fleet: Lab) -> None:
    if not namespaced(lab_fleet):
        pytest.skip("prefix isolation shares the machine's /tmp")
    marker = f"/tmp/lab-marker-{os.getpid()}"
    written = lab_fleet.ssh("a4000", f"echo from-a4000 > {marker}")
    assert written.returncode == 0, written.stderr
    assert lab_fleet.fs_path("a4000", marker).read_text() == "from-a4000\n"
    assert not lab_fleet.fs_path("a100x4", marker).exists()
    assert lab_fleet.ssh("a100x4", f"test -e {marker}").returncode == 1
    assert not Path(marker).exists()


def test_hosts_have_own_hostname(lab_fleet: Lab) -> None:
    if not namespaced(lab_fleet):
        pytest.skip("prefix isolation shares the machine's hostname")
    assert lab_fleet.ssh("a100x4", "hostname").stdout == "a100x4\n"
    assert lab_fleet.exec("mixed", "hostname").stdout == "mixed\n"


def test_exec_sees_host_files(lab_fleet: Lab) -> None:
    path = lab_fleet.host_path("mixed", "/var/log/lab-exec-test.log")
    result = lab_fleet.exec("mixed", f"echo exec-line > {shlex.quote(path)} && cat {shlex.quote(path)}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "exec-line\n"
    assert lab_fleet.fs_path("mixed", "/var/log/lab-exec-test.log").read_text() == "exec-line\n"
    assert not lab_fleet.fs_path("a4000", "/var/log/lab-exec-test.log").exists()


def test_shared_dir_visible_on_hosts(lab_fleet: Lab) -> None:
    shared = lab_fleet.shared_dir / "shared-check.txt"
    shared.write_text("shared\n")
    assert lab_fleet.ssh("sentinels", ["cat", str(shared)]).stdout == "shared\n"


def test_workload_bytes_match_lab_script(lab_fleet: Lab) -> None:
    for host in ("a4000", "mixed"):
        root = "" if namespaced(lab_fleet) else str(lab_fleet.fs_root(host))
        installed = lab_fleet.fs_path(host, WORKLOAD).read_text()
        assert installed == install.script_text("whisper-ctranslate2", root)


# The simulated workload.


def test_workload_registers_vram_while_running(lab_fleet: Lab, media) -> None:
    audio = media("vram-600s.wav", 600)
    command = host_command(lab_fleet, "mixed", WORKLOAD, str(audio), "--device", "cuda", "--device_index", "1")
    job = subprocess.Popen(
        ["ssh", "-F", str(lab_fleet.ssh_config), "mixed", "FLEETLAB_SLEEP=30 " + shlex.join(command)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_memory_used(lab_fleet, "mixed", 1, expected_vram_mb(600)) == 1300
        assert memory_used(lab_fleet, "mixed", 0) == 0
        [pid] = registered_pids(lab_fleet, "mixed")
        lab_fleet.exec("mixed", ["kill", "-TERM", str(pid)], check=True)
        _, stderr = job.communicate(timeout=10)
    finally:
        job.kill()
    assert job.returncode == 143, stderr
    assert memory_used(lab_fleet, "mixed", 1) == 0
    assert registered_pids(lab_fleet, "mixed") == []


def test_vram_of_killed_workload_stops_counting(lab_fleet: Lab, media) -> None:
    audio = media("vram-100s.wav", 100)
    command = host_command(lab_fleet, "a4000", WORKLOAD, str(audio), "--device", "cuda")
    started = lab_fleet.ssh("a4000", f"FLEETLAB_SLEEP=30 setsid {shlex.join(command)} >/dev/null 2>&1 </dev/null &")
    assert started.returncode == 0, started.stderr
    assert wait_for_memory_used(lab_fleet, "a4000", 0, expected_vram_mb(100)) == 1050
    [pid] = registered_pids(lab_fleet, "a4000")
    # setsid made the workload a process group leader; killing the group also ends its sleep.
    lab_fleet.exec("a4000", ["kill", "-KILL", "--", f"-{pid}"], check=True)
    # SIGKILL skips the workload's cleanup, so its registration file stays behind.
    assert wait_for_memory_used(lab_fleet, "a4000", 0, 0) == 0
    assert registered_pids(lab_fleet, "a4000") == [pid]
    lab_fleet.fs_path("a4000", f"{VRAM_DIR}/{pid}").unlink()


def test_workload_records_argv_bytes(lab_fleet: Lab, media) -> None:
    audio = media("record.flac", 5)
    record_file = lab_fleet.shared_dir / "record-test.rec"
    args = [str(audio), "--device", "cpu", "two words", "tab\there", "new\nline", "quote'\"$x", "", "\udcff-raw-byte"]
    result = lab_fleet.exec(
        "a100x4",
        host_command(lab_fleet, "a100x4", WORKLOAD, *args),
        env={"FLEETLAB_RECORD": str(record_file), "FLEETLAB_TAG": "argv-test", "CUDA_VISIBLE_DEVICES": "2"},
    )
    assert result.returncode == 0, result.stderr
    [record] = read_records(record_file)
    assert record.args == args
    assert os.fsencode(record.args[-1]) == b"\xff-raw-byte"
    assert record.argv[0] == lab_fleet.host_path("a100x4", WORKLOAD)
    assert record.host == "a100x4"
    assert record.env == {"CUDA_VISIBLE_DEVICES": "2", "FLEETLAB_TAG": "argv-test"}


def test_workload_default_record_file(lab_fleet: Lab, media) -> None:
    audio = media("default-record.wav", 3)
    before = len(lab_fleet.records("sentinels"))
    command = host_command(lab_fleet, "sentinels", WORKLOAD, str(audio), "--model", "tiny")
    lab_fleet.ssh("sentinels", command, check=True)
    records = lab_fleet.records("sentinels")
    assert len(records) == before + 1
    assert records[-1].args == [str(audio), "--model", "tiny"]


def test_workload_exit_code_and_summary(lab_fleet: Lab, media) -> None:
    audio = media("summary.wav", 600)
    command = host_command(lab_fleet, "a4000", WORKLOAD, str(audio), "--device", "cpu", "--compute_type", "int8")
    result = lab_fleet.ssh("a4000", "FLEETLAB_EXIT=7 " + shlex.join(command))
    assert result.returncode == 7
    assert "host=a4000" in result.stdout
    assert "duration=600.000000 device=cpu gpu=- vram_mb=0" in result.stdout
    assert "compute_type=int8 exit=7" in result.stdout


def test_workload_on_host_without_driver_fails(lab_fleet: Lab, media) -> None:
    audio = media("nodriver.wav", 10)
    result = lab_fleet.ssh("nodriver", host_command(lab_fleet, "nodriver", WORKLOAD, str(audio), "--device", "cuda"))
    assert result.returncode == 1
    assert "no CUDA-capable device is detected" in result.stderr


def test_workload_beyond_free_vram_fails(lab_fleet: Lab, media) -> None:
    audio = media("oom-3600s.wav", 3600)
    command = host_command(lab_fleet, "a100x4", WORKLOAD, str(audio), "--device", "cuda")
    result = lab_fleet.ssh("a100x4", "CUDA_VISIBLE_DEVICES=1 " + shlex.join(command))
    assert result.returncode == 1
    assert "out of memory" in result.stderr


# Client files.


def test_inventory_uses_fleetroute_variables(lab_fleet: Lab) -> None:
    data = yaml.safe_load(lab_fleet.inventory.read_text())
    all_vars = data["all"]["vars"]
    groups = data["all"]["children"]
    assert all_vars["ssh_config_file"] == str(lab_fleet.ssh_config)
    assert all_vars["threshold_value"] == 3600
    assert all_vars["gpu_args"] == ["--device", "cuda", "--compute_type", "float16"]
    assert set(all_vars) <= set(VARIABLES)
    assert list(groups["gpu_hosts"]["hosts"]) == ["a4000", "a100x4", "mixed", "sentinels"]
    assert list(groups["faulty"]["hosts"]) == ["nodriver", "offline"]
    assert groups["gpu_hosts"]["hosts"]["sentinels"]["max_gpu_jobs"] == 1
    for group in groups.values():
        for host_vars in group["hosts"].values():
            assert set(host_vars) <= set(VARIABLES)


def test_known_hosts_lists_every_sshd(lab_fleet: Lab) -> None:
    port = lab_fleet.state.port
    lines = lab_fleet.known_hosts.read_text().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == [f"[127.0.42.{n}]:{port}" for n in range(1, 6)]
    assert all(line.split()[1] == "ssh-ed25519" for line in lines)


# Lifecycle.


def test_up_reuses_running_lab(lab_fleet: Lab) -> None:
    again = Lab(lab_fleet.directory, port=0)
    again.up()
    assert [row.pid for row in again.status()] == [row.pid for row in lab_fleet.status()]


def test_down_stops_every_process(tmp_path: Path) -> None:
    skip_without_lab_tools()
    hosts = (HostSpec("solo", nvidia_smi=NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376),))),
             HostSpec("stuck", kind="hang"))
    lab = Lab(tmp_path / "lab", hosts=hosts, port=0, network="127.0.43")
    lab.up()
    detached_job = namespaced(lab)
    audio = make_media(lab.shared_dir / "down.wav", 5, cache_dir=tmp_path / "cache")
    session = subprocess.Popen(["ssh", "-F", str(lab.ssh_config), "solo", "sleep 60"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if detached_job:
        # A detached job outlives its SSH session; only namespace isolation can find it.
        command = host_command(lab, "solo", WORKLOAD, str(audio))
        lab.ssh("solo", f"FLEETLAB_SLEEP=60 setsid {shlex.join(command)} >/dev/null 2>&1 </dev/null &", check=True)
    listeners = [(row.pid, procs.start_time(row.pid)) for row in lab.status()]
    deadline = time.monotonic() + 5
    while detached_job and not lab.records("solo") and time.monotonic() < deadline:
        time.sleep(0.05)

    stopped = lab.down()

    assert session.wait(timeout=10) == 255
    for pid, started in listeners:
        assert pid in stopped
        assert not procs.is_running(pid, started)
    if detached_job:
        [record] = lab.records("solo")
        assert record.pid in stopped
        assert procs.start_time(record.pid) is None
    leftovers = [pid for pid in procs.all_pids() if any(str(lab.directory) in arg for arg in procs.command_line(pid))]
    assert leftovers == []
    assert not lab.pids_file.exists()


# Host table and media.


def test_host_spec_rejects_invalid_name() -> None:
    with pytest.raises(ValueError, match="invalid host name"):
        HostSpec("Bad Name")


def test_nvidia_smi_spec_rejects_tab() -> None:
    with pytest.raises(ValueError, match="tab or newline"):
        Gpu("NVIDIA\tA100", 40960)


@pytest.mark.parametrize(
    ("name", "seconds", "video"),
    [("hour.wav", 3600, False), ("half.flac", 3599.5, False), ("clip.mkv", 12.5, True)],
)
def test_make_media_duration(tmp_path: Path, name: str, seconds: float, video: bool) -> None:
    path = make_media(tmp_path / name, seconds, video=video, width=1920, height=1080, cache_dir=tmp_path / "cache")
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", str(path)],
        capture_output=True, text=True, check=True,
    )
    assert float(probe.stdout) == seconds
    if video:
        size = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
             "-of", "csv=p=0", str(path)],
            capture_output=True, text=True, check=True,
        )
        assert size.stdout.strip() == "1920,1080"
