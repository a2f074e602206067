"""fleetroute calibrate against the lab's simulated workload, whose VRAM is a known function of the duration."""

from __future__ import annotations

import pytest
import yaml

from fleetroute.inventory import load_inventory
from lab.fleet import Lab
from lab.hosts import Gpu, HostSpec, NvidiaSmiSpec, expected_vram_mb
from lab.media import make_media

from .conftest import fleetroute, skip_without_lab_tools

pytestmark = pytest.mark.lab

GPU_MB = 16376
SMALL_GPU_MB = 2048
MARGIN = 0.10
DURATIONS = (60, 600, 1800, 3600, 7200)
# Durations rise while the VRAM of FLEETLAB_VRAM_BASIS=pixels (1000 + pixels / 1000 MB) does not follow them.
VIDEOS = ((5, 320, 240), (10, 1280, 720), (20, 160, 120), (30, 960, 540), (40, 640, 480))
# Each run must last long enough for the 0.1 s sampling to see its VRAM.
RUN_ENV = ("--env", "FLEETLAB_SLEEP=0.6")

HOSTS = (
    HostSpec("gpu16", nvidia_smi=NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", GPU_MB),)), groups=("gpu_hosts",)),
    HostSpec(
        "gpu2",
        nvidia_smi=NvidiaSmiSpec(gpus=(Gpu("NVIDIA GeForce GT 1030", SMALL_GPU_MB),)),
        groups=("gpu_hosts",),
        host_vars={"max_gpu_jobs": 1},
    ),
)


@pytest.fixture(scope="module")
def calibration_lab(tmp_path_factory):
    skip_without_lab_tools()
    lab = Lab(tmp_path_factory.mktemp("calibrate") / "lab", hosts=HOSTS, port=0, stop_with_parent=True)
    lab.up(fresh=True)
    audio = lab.shared_dir / "audio"
    audio.mkdir()
    for seconds in DURATIONS:
        make_media(audio / f"talk-{seconds:05d}.wav", seconds)
    video = lab.shared_dir / "video"
    video.mkdir()
    for seconds, width, height in VIDEOS:
        make_media(video / f"clip-{seconds:03d}.mkv", seconds, video=True, width=width, height=height)
    yield lab
    lab.down()


def largest_fitting_duration(vram_mb: int, jobs: int) -> int:
    """Return the largest whole duration whose expected VRAM x jobs fits in vram_mb less MARGIN."""
    budget = vram_mb * (1 - MARGIN)
    duration = 0
    while expected_vram_mb(duration + 1) * jobs <= budget:
        duration += 1
    return duration


def calibrate(lab, host, directory, *extra):
    inputs = str(lab.shared_dir / directory)
    return fleetroute("calibrate", "-i", str(lab.inventory), "--host", host, "--inputs", inputs, *RUN_ENV, *extra)


def test_calibrate_recovers_threshold(calibration_lab):
    result = calibrate(calibration_lab, "gpu16", "audio", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    calibration = result.json["calibration"]
    runs = calibration["runs"]
    assert [run["metric"] for run in runs] == list(DURATIONS)
    for run in runs:
        assert run["exit_code"] == 0
        assert run["peak_vram_mb"] == expected_vram_mb(run["metric"]), run
        assert run["seconds"] >= 0.5
    proposal = calibration["proposal"]
    assert proposal["fit"]["r_squared"] > 0.999
    assert proposal["gpu_vram_mb"] == GPU_MB
    expected = largest_fitting_duration(GPU_MB, jobs=2)
    assert expected - 2 <= proposal["threshold_value"] <= expected
    assert proposal["workload_vram_mb"] * 2 <= GPU_MB * (1 - MARGIN)
    assert proposal["workload_vram_mb"] >= expected_vram_mb(proposal["threshold_value"] - 1)


def test_calibrate_refuses_when_vram_ignores_metric(calibration_lab):
    result = fleetroute(
        "calibrate", "-i", str(calibration_lab.inventory), "--host", "gpu16",
        "--inputs", str(calibration_lab.shared_dir / "video"), *RUN_ENV, "--env", "FLEETLAB_VRAM_BASIS=pixels", "--json",
    )
    assert result.exit_code == 2, result.stdout + result.stderr
    calibration = result.json["calibration"]
    assert [run["peak_vram_mb"] for run in calibration["runs"]] == [1000 + w * h // 1000 for _, w, h in VIDEOS]
    proposal = calibration["proposal"]
    assert proposal["threshold_value"] is None
    assert proposal["fit"]["r_squared"] < 0.8
    assert "does not follow the metric" in proposal["reason"]


def test_calibrate_stops_after_out_of_memory(calibration_lab):
    result = calibrate(calibration_lab, "gpu2", "audio", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    calibration = result.json["calibration"]
    assert calibration["stopped_for_memory"] is True
    runs = calibration["runs"]
    assert [run["metric"] for run in runs] == [60, 600, 1800, 3600]
    assert runs[-1]["oom"] is True
    assert "out of memory" in runs[-1]["message"]
    expected = largest_fitting_duration(SMALL_GPU_MB, jobs=1)
    assert expected - 2 <= calibration["proposal"]["threshold_value"] <= expected


def test_calibrate_writes_inventory_and_plot(calibration_lab, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("# Lab fleet, calibrated by hand.\n" + calibration_lab.inventory.read_text())
    plot = tmp_path / "vram.png"
    result = fleetroute(
        "calibrate", "-i", str(inventory), "--host", "gpu16", "--inputs", str(calibration_lab.shared_dir / "audio"),
        *RUN_ENV, "--plot", str(plot), "--write",
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "proposed threshold_value:" in result.stdout
    assert f"wrote threshold_value, workload_vram_mb into the entry of gpu16 in {inventory}" in result.stdout
    assert "Not proposed as workload_ram_mb" in result.stdout
    assert plot.read_bytes().startswith(b"\x89PNG")

    text = inventory.read_text()
    assert text.startswith("# Lab fleet, calibrated by hand.\n")
    assert "threshold_value: " in text
    assert "# fleetroute calibrate 20" in text
    (host,) = load_inventory(inventory).select("gpu16")
    expected = largest_fitting_duration(GPU_MB, jobs=2)
    assert expected - 2 <= host.settings.threshold_value <= expected
    entry = yaml.safe_load(text)["all"]["children"]["gpu_hosts"]["hosts"]["gpu16"]
    # The GPU runs' RAM is no workload_ram_mb, which is the CPU path's.
    assert set(entry) == {"threshold_value", "workload_vram_mb"}
    (other,) = load_inventory(inventory).select("gpu2")
    assert other.settings.threshold_value == 3600


def test_write_refused_before_runs(calibration_lab, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(calibration_lab.inventory.read_text())
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "gpu16.yml").write_text("threshold_value: 100\n")
    sshd_log = calibration_lab.host_dir("gpu16") / "sshd.log"
    sessions = sshd_log.read_text().count("Accepted publickey")

    result = fleetroute(
        "calibrate", "-i", str(inventory), "--host", "gpu16", "--inputs", str(calibration_lab.shared_dir / "audio"),
        *RUN_ENV, "--write",
    )

    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"host_vars/ sets threshold_value in {tmp_path / 'host_vars' / 'gpu16.yml'}" in result.stderr
    assert sshd_log.read_text().count("Accepted publickey") == sessions
