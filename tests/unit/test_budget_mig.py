"""MIG instances: parsing nvidia-smi -L and budgeting per instance."""

from __future__ import annotations

import os
import subprocess

from fleetroute.facts.gpu import Gpu
from fleetroute.facts.host import parse_probe_output
from fleetroute.operations.budget import MigDevice, budget_from_facts, compute_budget, parse_mig_devices
from fleetroute.remote import remote_script

from .helpers import whisper_settings

# nvidia-smi -L of an A100 40GB in MIG mode with three instances, and a second card
# without MIG (driver 535 layout).
LIST_OUTPUT = """\
GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77)
  MIG 3g.20gb     Device  0: (UUID: MIG-c6d4f1ef-42e4-5de3-91c7-45d71c87eb3f)
  MIG 2g.10gb     Device  1: (UUID: MIG-ba1a9c2e-9d5a-5c44-8b1f-1b2f7d0b8f11)
  MIG 1g.5gb      Device  2: (UUID: MIG-0d3f6a7b-2c1e-5f4a-9e8d-7c6b5a4d3e2f)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-7e2f9c11-4a3b-4d5e-8f6a-1b2c3d4e5f60)
"""


def a100(index, mig_mode):
    return Gpu(index, "NVIDIA A100-SXM4-40GB", 40960, 0, "535.104.05", mig_mode)


def test_parse_mig_list():
    assert parse_mig_devices(LIST_OUTPUT) == (
        MigDevice(0, 0, "3g.20gb", 20480),
        MigDevice(0, 1, "2g.10gb", 10240),
        MigDevice(0, 2, "1g.5gb", 5120),
    )


def test_parse_mig_profile_variants():
    text = (
        "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n"
        "  MIG 1g.10gb+me   Device  0: (UUID: MIG-1)\n"
        "  MIG 1c.3g.40gb   Device  1: (UUID: MIG-2)\n"
        "GPU 1: NVIDIA A30 (UUID: GPU-2)\n"
        "  MIG 2g.12gb Device 0: (UUID: MIG-GPU-2/1/0)\n"
    )
    assert parse_mig_devices(text) == (
        MigDevice(0, 0, "1g.10gb+me", 10240),
        MigDevice(0, 1, "1c.3g.40gb", 40960),
        MigDevice(1, 0, "2g.12gb", 12288),
    )


def test_parse_mig_skips_noise():
    text = "Welcome to gpu-node\n  MIG 1g.5gb Device 0: (UUID: MIG-orphan)\nNo devices were found\n"
    assert parse_mig_devices(text) == ()


def test_mig_budget_per_instance():
    settings = whisper_settings(max_gpu_jobs=2)
    budget = compute_budget(
        settings, [a100(0, "Enabled"), a100(1, "Disabled")], 65536, mig_devices=parse_mig_devices(LIST_OUTPUT)
    )
    assert [(g.index, g.mig_device, g.vram_mb) for g in budget.gpus] == [
        (0, 0, 20480),
        (0, 1, 10240),
        (0, 2, 5120),
        (1, None, 40960),
    ]
    assert [g.vram_headroom_mb for g in budget.gpus] == [20480 - 7400, 10240 - 7400, 5120 - 7400, 40960 - 7400]
    assert budget.max_gpu_jobs_fit == 1
    (problem,) = budget.problems(settings)
    assert "GPU 0 MIG 2 (NVIDIA A100-SXM4-40GB)" in problem
    assert budget.to_dict()["gpus"][2]["mig_device"] == 2
    assert "mig_device" not in budget.to_dict()["gpus"][3]


def test_mig_enabled_without_instances():
    settings = whisper_settings()
    budget = compute_budget(settings, [a100(0, "Enabled")], 65536)
    assert budget.gpus[0].vram_mb is None
    assert budget.max_gpu_jobs_fit is None
    (problem,) = budget.problems(settings)
    assert "MIG mode but nvidia-smi -L lists no MIG instance" in problem


def test_mig_gpu_vram_mb_sets_instance_size():
    settings = whisper_settings(gpu_vram_mb=4864, max_gpu_jobs=1)
    budget = compute_budget(settings, [a100(0, "Enabled")], 65536, mig_devices=(MigDevice(0, 0, "1g.5gb", 5120),))
    assert budget.gpus[0].vram_mb == 4864
    assert budget.gpus[0].vram_headroom_mb == 4864 - 3700


FAKE_NVIDIA_SMI = """\
#!/bin/bash
if [[ "$1" == -L ]]; then
  printf '%s' "$FAKE_LIST"
else
  printf '%s\\n' "$FAKE_ROWS"
fi
"""


def run_probe(tmp_path, rows: str, listing: str = LIST_OUTPUT):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(FAKE_NVIDIA_SMI)
    fake.chmod(0o755)
    missing = str(tmp_path / "missing")
    args = [str(fake), missing, missing, missing, missing, "true", "root", missing, missing, "0", missing, missing]
    env = {**os.environ, "FAKE_ROWS": rows, "FAKE_LIST": listing}
    done = subprocess.run(
        ["bash", "-c", remote_script("probe.sh"), "fleetroute-probe", *args],
        capture_output=True, text=True, env=env, check=True,
    )
    return parse_probe_output("local", done.stdout)


def test_probe_lists_mig_when_enabled(tmp_path):
    rows = "0, NVIDIA A100-SXM4-40GB, 40960, 0, 535.104.05, Enabled\n1, NVIDIA A100-SXM4-40GB, 40960, 0, 535.104.05, Disabled"
    facts = run_probe(tmp_path, rows)
    budget = budget_from_facts(whisper_settings(max_gpu_jobs=1), facts)
    assert [(g.index, g.mig_device) for g in budget.gpus] == [(0, 0), (0, 1), (0, 2), (1, None)]


def test_probe_skips_list_without_mig(tmp_path):
    facts = run_probe(tmp_path, "0, NVIDIA RTX A4000, 16376, 0, 550.54.15, [N/A]")
    assert facts.gpu_list == ()
    budget = budget_from_facts(whisper_settings(), facts)
    assert [g.vram_mb for g in budget.gpus] == [16376]
