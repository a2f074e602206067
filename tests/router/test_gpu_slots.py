"""Per-GPU slots: max_gpu_jobs slots on each GPU, with the GPU index passed to the job."""

from __future__ import annotations

import pytest

from tests.router.conftest import CPU_ARGS, GPU_ARGS, parse_log_line, read_argv

BLOCKED = 75
INDEX_ARG = "--device_index"


def per_gpu_router(make_router, indices: list[int], **overrides: object):
    values = {"gpu_slot_mode": "per_gpu", "gpu_indices": indices, "gpu_index_arg": INDEX_ARG, **overrides}
    return make_router(**values)


def test_concurrent_jobs_get_different_gpus(make_router, media):
    router = per_gpu_router(make_router, [0, 1])

    _, first = router.start([str(media.short)], mode="wait-stdin")
    _, second = router.start([str(media.short)], mode="wait-stdin")
    third = router.run([str(media.short)])

    started = [parse_log_line(line) for line in router.log_lines()[:2]]
    assert read_argv(first / "argv") == [str(media.short), *GPU_ARGS, INDEX_ARG, "0"]
    assert read_argv(second / "argv") == [str(media.short), *GPU_ARGS, INDEX_ARG, "1"]
    assert [entry["gpu"] for entry in started] == ["0", "1"]
    assert [entry["slot"] for entry in started] == ["0", "0"]
    assert third.returncode == BLOCKED
    assert third.argv is None
    assert third.entry["mode"] == "GPU-BLOCKED"
    assert third.entry["gpu"] == "-"
    assert third.entry["slot"] == "-"
    assert third.entry.args == [str(media.short), *GPU_ARGS]
    assert sorted(path.name for path in router.lock_dir.iterdir()) == ["gpu0.0.lock", "gpu1.0.lock"]


def test_index_argument_follows_gpu_args(make_router, media):
    router = per_gpu_router(make_router, [3])

    run = router.run([str(media.short), "--model", "small"])

    assert run.argv == [str(media.short), "--model", "small", *GPU_ARGS, INDEX_ARG, "3"]
    assert run.entry["mode"] == "GPU"
    assert run.entry["slot"] == "0"
    assert run.entry["gpu"] == "3"
    assert run.entry.args == run.argv


def test_slots_spread_across_gpus_first(make_router, media):
    router = per_gpu_router(make_router, [2, 5], max_gpu_jobs=2)

    for _ in range(4):
        router.start([str(media.short)], mode="wait-stdin")
    fifth = router.run([str(media.short)])

    started = [parse_log_line(line) for line in router.log_lines()[:4]]
    placed = [(entry["slot"], entry["gpu"]) for entry in started]
    assert placed == [("0", "2"), ("0", "5"), ("1", "2"), ("1", "5")]
    assert fifth.returncode == BLOCKED


def test_freed_gpu_is_reused(make_router, media):
    router = per_gpu_router(make_router, [0, 1])
    first, _ = router.start([str(media.short)], mode="wait-stdin")
    router.start([str(media.short)], mode="wait-stdin")

    first.stdin.close()
    first.wait(timeout=10)
    run = router.run([str(media.short)])

    assert run.returncode == 0
    assert run.entry["gpu"] == "0"
    assert run.argv[-2:] == [INDEX_ARG, "0"]


def test_index_in_environment(make_router, media):
    router = per_gpu_router(make_router, [0, 1], gpu_index_arg=None, gpu_index_env=True)
    router.start([str(media.short)], mode="wait-stdin")
    shown = {"FAKE_WORKLOAD_SHOW_ENV": "CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER"}

    run = router.run([str(media.short)], env={**shown, "CUDA_VISIBLE_DEVICES": "7"})

    assert run.argv == [str(media.short), *GPU_ARGS]
    assert run.env == {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert run.entry["gpu"] == "1"


def test_index_argument_sets_device_order_only(make_router, media):
    router = per_gpu_router(make_router, [0])
    shown = {"FAKE_WORKLOAD_SHOW_ENV": "CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER"}

    run = router.run([str(media.short)], env=shown)

    assert run.env == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def test_cpu_job_gets_no_gpu(make_router, media):
    router = per_gpu_router(make_router, [0], gpu_index_arg=None, gpu_index_env=True)
    shown = {"FAKE_WORKLOAD_SHOW_ENV": "CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER"}

    run = router.run([str(media.long)], env=shown)

    assert run.argv == [str(media.long), *CPU_ARGS]
    assert run.env == {}
    assert run.entry["mode"] == "CPU"
    assert run.entry["gpu"] == "-"


def test_full_gpus_overflow_to_cpu(make_router, media):
    router = per_gpu_router(make_router, [0, 1], on_gpu_full="cpu")
    router.start([str(media.short)], mode="wait-stdin")
    router.start([str(media.short)], mode="wait-stdin")

    run = router.run([str(media.short)])

    assert run.returncode == 0
    assert run.argv == [str(media.short), *CPU_ARGS]
    assert run.entry["mode"] == "CPU"
    assert run.entry["gpu"] == "-"
    assert run.entry["reason"] == "gpu-full"


@pytest.mark.parametrize("index_env", [False, True])
def test_supervised_job_gets_its_gpu(make_router, media, index_env):
    overrides = {"gpu_index_arg": None, "gpu_index_env": True} if index_env else {}
    router = per_gpu_router(make_router, [4], router_mode="supervise", **overrides)
    shown = {"FAKE_WORKLOAD_SHOW_ENV": "CUDA_VISIBLE_DEVICES"}

    run = router.run([str(media.short)], env=shown)

    assert run.log[0]["gpu"] == "4"
    assert run.exit_entry["gpu"] == "4"
    if index_env:
        assert run.env == {"CUDA_VISIBLE_DEVICES": "4"}
        assert run.argv == [str(media.short), *GPU_ARGS]
    else:
        assert run.env == {}
        assert run.argv == [str(media.short), *GPU_ARGS, INDEX_ARG, "4"]


def test_shared_mode_logs_no_gpu_field(router, media):
    run = router.run([str(media.short)])

    assert " gpu=" not in run.entry.line
    assert (router.lock_dir / "gpu.0.lock").exists()


def test_index_argument_is_literal(make_router, media):
    option = "--gpu=$(touch pwned) `id`"
    router = per_gpu_router(make_router, [0], gpu_index_arg=option)

    run = router.run([str(media.short)])

    assert run.argv == [str(media.short), *GPU_ARGS, option, "0"]
    assert not (router.root / "pwned").exists()
