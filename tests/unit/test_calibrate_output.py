"""Parsing calibrate.sh output, the measuring router's settings, and writing into the inventory."""

from __future__ import annotations

import shutil

import pytest

from fleetroute.errors import FleetrouteError
from fleetroute.inventory import load_inventory
from fleetroute.operations.calibrate import measuring_settings, parse_calibration
from fleetroute.operations.calibrate.write import check_writable, write_proposal

from .helpers import whisper_settings

OUTPUT = """\
@@fleetroute:skip 3@@
reason=metric-unknown
path=/srv/samples/notes.txt

@@fleetroute:run 1@@
metric=60.000000
exit=0
milliseconds=812
peak_vram_mb=1030
peak_ram_kb=4100
samples=7
timed_out=0
oom=0
message=done
path=/srv/samples/a b.wav

@@fleetroute:run 2@@
metric=3600
exit=1
milliseconds=95
peak_vram_mb=unknown
peak_ram_kb=unknown
samples=1
timed_out=0
oom=1
message=RuntimeError: CUDA failed with error out of memory
path=/srv/samples/long.wav

@@fleetroute:stopped reason=oom@@

@@fleetroute:end@@
"""


def test_parse_runs_and_stop():
    calibration = parse_calibration("/usr/local/bin/w-real", OUTPUT)
    first, second = calibration.runs
    assert first.path == "/srv/samples/a b.wav"
    assert first.metric == 60
    assert first.seconds == 0.812
    assert first.peak_vram_mb == 1030
    assert first.peak_ram_mb == 5
    assert first.usable
    assert second.oom
    assert second.peak_vram_mb is None
    assert not second.usable
    assert calibration.stopped_for_memory
    assert calibration.skipped == [("/srv/samples/notes.txt", "metric-unknown")]


def test_parse_without_end_fails():
    with pytest.raises(FleetrouteError, match="ended early"):
        parse_calibration("/bin/w", OUTPUT.replace("@@fleetroute:end@@", ""))


def test_measuring_settings_use_workdir():
    settings = whisper_settings(
        input_rule="flag:--input", gpu_slot_mode="per_gpu", gpu_indices=[0], gpu_index_arg="--device_index"
    )
    measuring = measuring_settings(settings, "/tmp/fleetroute-calibrate-x")
    assert measuring.router_log == "/tmp/fleetroute-calibrate-x/router.log"
    assert measuring.lock_dir == "/tmp/fleetroute-calibrate-x/locks"
    assert measuring.input_rule == "first-file"
    assert measuring.conflicts() == []
    assert measuring.probe == settings.probe


def test_write_keeps_comments_and_layout(tmp_path, inventory_example):
    path = tmp_path / "inventory.yml"
    shutil.copy(inventory_example, path)
    before = path.read_text().splitlines()
    write_proposal(path, "gpu-02.example.internal", {"threshold_value": (2900, "R² 0.990 over 6 runs")})
    after = path.read_text().splitlines()
    added = [line for line in after if line not in before]
    assert len(added) == 1
    assert added[0].strip().startswith("threshold_value: 2900 # fleetroute calibrate ")
    assert [line for line in before if line not in after] == []
    (host,) = load_inventory(path).select("gpu-02.example.internal")
    assert host.settings.threshold_value == 2900


def test_write_into_empty_host_entry(tmp_path, inventory_example):
    path = tmp_path / "inventory.yml"
    shutil.copy(inventory_example, path)
    write_proposal(path, "gpu-01.example.internal", {"workload_vram_mb": (4100, "predicted")})
    (host,) = load_inventory(path).select("gpu-01.example.internal")
    assert host.settings.workload_vram_mb == 4100
    (other,) = load_inventory(path).select("gpu-02.example.internal")
    assert other.settings.workload_vram_mb == 3700


def test_write_overridden_by_host_vars(tmp_path, inventory_example):
    path = tmp_path / "inventory.yml"
    shutil.copy(inventory_example, path)
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "gpu-02.example.internal.yml").write_text("threshold_value: 1800\n")
    before = path.read_text()

    with pytest.raises(FleetrouteError) as caught:
        write_proposal(path, "gpu-02.example.internal", {"threshold_value": (2900, "R² 0.990 over 6 runs")})

    assert "sets threshold_value for 'gpu-02.example.internal'" in str(caught.value)
    assert "threshold_value: 2900" in str(caught.value)
    assert path.read_text() == before


def test_check_writable_finds_override_early(tmp_path, inventory_example):
    path = tmp_path / "inventory.yml"
    shutil.copy(inventory_example, path)
    override = tmp_path / "host_vars" / "gpu-02.example.internal" / "tuning.yml"
    override.parent.mkdir(parents=True)
    override.write_text("workload_vram_mb: 3000\nmax_gpu_jobs: 1\n")

    check_writable(path, "gpu-01.example.internal")
    with pytest.raises(FleetrouteError) as caught:
        check_writable(path, "gpu-02.example.internal")

    assert f"host_vars/ sets workload_vram_mb in {override} for 'gpu-02.example.internal'" in str(caught.value)


def test_check_writable_unlisted_host(tmp_path, inventory_example):
    path = tmp_path / "inventory.yml"
    shutil.copy(inventory_example, path)

    with pytest.raises(FleetrouteError, match="has no entry under a hosts: key"):
        check_writable(path, "no-such-host")


def test_write_unknown_host(tmp_path, inventory_example):
    path = tmp_path / "inventory.yml"
    shutil.copy(inventory_example, path)
    with pytest.raises(FleetrouteError, match="no entry"):
        write_proposal(path, "gpu-99", {"threshold_value": (1, "x")})


@pytest.fixture
def inventory_example():
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "inventory.example.yml"
