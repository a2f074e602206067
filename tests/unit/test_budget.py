"""Memory budget worksheet arithmetic."""

from __future__ import annotations

from fleetroute.facts.gpu import Gpu
from fleetroute.operations.budget import compute_budget

from .helpers import whisper_settings


def gpu(index, total, name="NVIDIA RTX A4000"):
    return Gpu(index=index, name=name, memory_total_mb=total, memory_used_mb=0, driver_version="550.54.15")


def test_runbook_example_fits():
    budget = compute_budget(whisper_settings(), [gpu(0, 16384)], ram_total_mb=32768)
    assert budget.gpus[0].vram_headroom_mb == 16384 - 3700 * 2
    assert budget.gpus[0].max_jobs_fit == 4
    assert budget.ram_headroom_mb == 32768 - 3072 - 11000
    assert budget.max_cpu_jobs_fit == (32768 - 3072) // 11000
    assert budget.memory_max_mb == 13200
    assert budget.problems(whisper_settings()) == []


def test_negative_vram_headroom_names_numbers():
    settings = whisper_settings(max_gpu_jobs=2)
    budget = compute_budget(settings, [gpu(0, 6144, "NVIDIA GeForce GTX 1660")], ram_total_mb=65536)
    (problem,) = budget.problems(settings)
    assert "GPU 0 (NVIDIA GeForce GTX 1660)" in problem
    assert "-1256 MB = 6144 MB - 3700 MB x 2 jobs" in problem
    assert "lower max_gpu_jobs to 1" in problem


def test_negative_ram_headroom():
    settings = whisper_settings(max_cpu_jobs=2)
    budget = compute_budget(settings, [gpu(0, 16384)], ram_total_mb=16000)
    (problem,) = budget.problems(settings)
    assert budget.ram_headroom_mb == 16000 - 3072 - 22000
    assert "RAM headroom" in problem
    assert "lower max_cpu_jobs to 1" in problem


def test_gpus_of_different_sizes_checked_each():
    settings = whisper_settings()
    budget = compute_budget(settings, [gpu(0, 12288, "RTX 3060"), gpu(1, 2048, "GT 1030")], ram_total_mb=65536)
    assert [g.vram_headroom_mb for g in budget.gpus] == [12288 - 7400, 2048 - 7400]
    assert budget.max_gpu_jobs_fit == 0
    problems = budget.problems(settings)
    assert len(problems) == 1
    assert "GPU 1 (GT 1030)" in problems[0]


def test_unknown_vram_needs_gpu_vram_mb():
    settings = whisper_settings()
    budget = compute_budget(settings, [gpu(0, None, "NVIDIA GB10")], ram_total_mb=131072)
    assert budget.gpus[0].vram_headroom_mb is None
    assert budget.max_gpu_jobs_fit is None
    (problem,) = budget.problems(settings)
    assert "set gpu_vram_mb" in problem


def test_configured_gpu_vram_replaces_unknown():
    settings = whisper_settings(gpu_vram_mb=98304)
    budget = compute_budget(settings, [gpu(0, None, "NVIDIA GB10")], ram_total_mb=131072)
    assert budget.gpus[0].vram_mb == 98304
    assert budget.problems(settings) == []


def test_per_gpu_slots_count_only_listed_gpus():
    settings = whisper_settings(
        gpu_slot_mode="per_gpu", gpu_indices=[0], gpu_index_arg="--device_index", max_gpu_jobs=2
    )
    budget = compute_budget(settings, [gpu(0, 12288, "RTX 3060"), gpu(1, 2048, "GT 1030")], ram_total_mb=65536)
    assert [g.index for g in budget.gpus] == [0]
    assert budget.problems(settings) == []


def test_per_gpu_slots_missing_index():
    settings = whisper_settings(
        gpu_slot_mode="per_gpu", gpu_indices=[0, 5], gpu_index_arg="--device_index", max_gpu_jobs=1
    )
    budget = compute_budget(settings, [gpu(0, 16384)], ram_total_mb=65536)
    (problem,) = budget.problems(settings)
    assert "gpu_indices lists GPU 5" in problem
    assert "GPUs in use: 0" in problem


def test_negative_headroom_on_every_path():
    settings = whisper_settings(max_gpu_jobs=3, max_cpu_jobs=3)
    budget = compute_budget(settings, [gpu(0, 8192, "RTX 4060")], ram_total_mb=24576)
    assert budget.gpus[0].vram_headroom_mb == 8192 - 3 * 3700
    assert budget.max_gpu_jobs_fit == 2
    assert budget.ram_headroom_mb == 24576 - 3072 - 3 * 11000
    assert budget.max_cpu_jobs_fit == 1
    assert len(budget.problems(settings)) == 2


def test_three_gpu_sizes_fit_count_is_smallest():
    settings = whisper_settings(max_gpu_jobs=1)
    gpus = [gpu(0, 24576, "RTX 3090"), gpu(1, 12288, "RTX 3060"), gpu(2, 8192, "RTX 4060")]
    budget = compute_budget(settings, gpus, ram_total_mb=65536)
    assert [g.vram_mb for g in budget.gpus] == [24576, 12288, 8192]
    assert [g.max_jobs_fit for g in budget.gpus] == [6, 3, 2]
    assert budget.max_gpu_jobs_fit == 2
    assert budget.problems(settings) == []


def test_unknown_vram_among_known_gpus():
    settings = whisper_settings()
    budget = compute_budget(settings, [gpu(0, 16384), gpu(1, None, "NVIDIA GB10")], ram_total_mb=65536)
    assert budget.gpus[0].vram_headroom_mb == 16384 - 7400
    assert budget.gpus[1].vram_mb is None
    assert budget.max_gpu_jobs_fit is None
    (problem,) = budget.problems(settings)
    assert "GPU 1 (NVIDIA GB10)" in problem


def test_ram_used_by_other_processes_reported():
    settings = whisper_settings()
    budget = compute_budget(settings, [gpu(0, 16384)], ram_total_mb=32768, ram_available_mb=30000)
    assert budget.ram_used_other_mb == 2768
    assert budget.to_dict()["ram_used_other_mb"] == 2768
    assert budget.ram_headroom_mb == 32768 - 3072 - 11000
    assert budget.warnings(settings) == []


def test_ram_used_over_reserve_warns():
    settings = whisper_settings()
    budget = compute_budget(settings, [gpu(0, 16384)], ram_total_mb=32768, ram_available_mb=20000)
    (warning,) = budget.warnings(settings)
    assert "12768 MB" in warning
    assert "os_reserved_ram_mb (3072 MB)" in warning
    assert budget.problems(settings) == []


def test_vram_in_use_warns():
    settings = whisper_settings()  # 2 jobs of 3700 MB
    busy = Gpu(1, "NVIDIA A100-SXM4-40GB", 40960, 39000, None, None)
    budget = compute_budget(settings, [busy], ram_total_mb=65536)

    (warning,) = budget.warnings(settings)

    assert warning.startswith("GPU 1 (NVIDIA A100-SXM4-40GB): 39000 MB of 40960 MB VRAM is in use now")
    assert "only 0 of max_gpu_jobs (2) jobs of 3700 MB fit" in warning
    assert "leave GPU 1 out with gpu_slot_mode: per_gpu and gpu_indices" in warning
    assert budget.problems(settings) == []
    assert budget.gpus[0].crowded


def test_vram_in_use_partial_fit_advice():
    settings = whisper_settings()
    budget = compute_budget(settings, [Gpu(0, "NVIDIA RTX A4000", 16384, 10000, None, None)], ram_total_mb=65536)

    (warning,) = budget.warnings(settings)

    assert "only 1 of max_gpu_jobs (2)" in warning
    assert "lower max_gpu_jobs to 1 on this host" in warning


def test_vram_in_use_with_room_silent():
    settings = whisper_settings()
    budget = compute_budget(settings, [Gpu(0, "NVIDIA RTX A4000", 16384, 4000, None, None)], ram_total_mb=65536)

    assert budget.warnings(settings) == []
    assert budget.gpus[0].vram_used_mb == 4000
    assert not budget.gpus[0].crowded


def test_memory_max_is_cpu_peak_plus_fifth():
    settings = whisper_settings(workload_ram_mb=5000, max_cpu_jobs=3)
    budget = compute_budget(settings, [gpu(0, 16384)], ram_total_mb=65536)
    assert budget.memory_max_mb == 18000


def test_json_document_fields():
    budget = compute_budget(whisper_settings(), [gpu(0, 16384)], ram_total_mb=32768, ram_available_mb=30000)
    document = budget.to_dict()
    assert document["gpus"] == [
        {
            "index": 0,
            "name": "NVIDIA RTX A4000",
            "vram_mb": 16384,
            "vram_headroom_mb": 8984,
            "max_jobs_fit": 4,
            "vram_used_mb": 0,
            "crowded": False,
        }
    ]
    for key in ("ram_mb", "ram_headroom_mb", "max_gpu_jobs_fit", "max_cpu_jobs_fit", "memory_max_mb"):
        assert isinstance(document[key], int), key


def test_no_job_fits_names_other_fixes():
    settings = whisper_settings(workload_vram_mb=9000, max_gpu_jobs=1)
    budget = compute_budget(settings, [gpu(0, 6144, "NVIDIA GeForce GTX 1660")], ram_total_mb=65536)
    (problem,) = budget.problems(settings)
    assert "lower max_gpu_jobs to 0" not in problem
    assert "not even one job fits" in problem
    assert "workload_vram_mb" in problem
    assert "--force" in problem
