"""nvidia-smi parsing on field outputs."""

from __future__ import annotations

import pytest

from fleetroute.facts.gpu import REQUIRED_FIELDS, parse_nvidia_smi


def parse_file(realworld, name, exit_code=0):
    return parse_nvidia_smi((realworld / "nvidia-smi" / name).read_text(), exit_code, REQUIRED_FIELDS)


def test_sentinels_are_unknown_not_zero(realworld):
    facts = parse_file(realworld, "sentinels.csv")
    assert facts.usable
    assert [gpu.index for gpu in facts.gpus] == [0, 1, 2, 3]
    assert all(gpu.memory_used_mb is None for gpu in facts.gpus)
    assert all(gpu.memory_total_mb == 6144 for gpu in facts.gpus)


def test_unified_memory_keeps_gpu_with_unknown_vram(realworld):
    facts = parse_file(realworld, "unified-memory.csv")
    assert facts.usable
    (gpu,) = facts.gpus
    assert gpu.name == "NVIDIA GB10"
    assert gpu.memory_total_mb is None
    assert gpu.memory_used_mb is None
    assert gpu.driver_version == "580.95.05"


def test_mixed_sizes_one_record_per_gpu(realworld):
    facts = parse_file(realworld, "mixed-sizes.csv")
    assert [(g.name, g.memory_total_mb, g.memory_used_mb) for g in facts.gpus] == [
        ("NVIDIA GeForce RTX 3060", 12288, 3107),
        ("NVIDIA GeForce GT 1030", 2048, 1790),
    ]


def test_four_gpus_trailing_blank(realworld):
    facts = parse_file(realworld, "four-gpus-trailing-blank.csv")
    assert len(facts.gpus) == 4
    assert facts.gpus[2].memory_used_mb == 39000
    assert facts.noise == ()


def test_login_noise_is_not_a_row(realworld):
    facts = parse_file(realworld, "login-noise.csv")
    assert facts.usable
    assert len(facts.gpus) == 1
    assert facts.gpus[0].memory_total_mb == 16376
    assert facts.noise == ("Welcome to gpu-node, managed by config management",)


@pytest.mark.parametrize(
    ("name", "exit_code", "words"),
    [
        ("no-devices.txt", 6, "No devices were found"),
        ("driver-unreachable.txt", 9, "couldn't communicate with the NVIDIA driver"),
        ("unknown-field.txt", 2, "is not a valid field"),
    ],
)
def test_error_outputs_mean_no_usable_gpu(realworld, name, exit_code, words):
    facts = parse_file(realworld, name, exit_code)
    assert not facts.usable
    assert facts.gpus == ()
    assert words in facts.message


def test_zero_exit_without_rows_is_not_usable():
    facts = parse_nvidia_smi("No devices were found\n", 0)
    assert not facts.usable
    assert "No devices" in facts.message


def test_optional_mig_field_parsed():
    fields = REQUIRED_FIELDS + ("mig.mode.current",)
    facts = parse_nvidia_smi("0, NVIDIA A100-SXM4-40GB, 40960, 4, 550.90.07, Enabled\n", 0, fields)
    assert facts.gpus[0].mig_mode == "Enabled"


def test_row_with_wrong_field_count_is_noise():
    facts = parse_nvidia_smi("0, NVIDIA X, 100\n1, NVIDIA Y, 2048, 1, 550.1\n", 0)
    assert [gpu.index for gpu in facts.gpus] == [1]
    assert facts.noise == ("0, NVIDIA X, 100",)
