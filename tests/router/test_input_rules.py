"""How the router finds the job's input: first-file, arg:N, flag:NAME and env:VAR."""

from __future__ import annotations

import shutil

import pytest

from tests.router.conftest import CPU_ARGS, GPU_ARGS


@pytest.fixture
def short_copy(media):
    """Return a function that copies the short audio into a router's root as ``name``."""

    def copy(router, name: str = "in.wav") -> str:
        shutil.copy(media.short, router.root / name)
        return name

    return copy


def test_first_file_skips_values_that_are_not_files(router, short_copy):
    name = short_copy(router)
    (router.root / "out").mkdir()

    run = router.run(["--output_dir", "out", "--lang", "True", name, "5000"])

    assert run.entry.input == name
    assert run.entry["mode"] == "GPU"


def test_first_file_takes_the_first_of_several(router, media, short_copy):
    name = short_copy(router)

    run = router.run([str(media.long), name])

    assert run.entry.input == str(media.long)
    assert run.entry["mode"] == "CPU"


def test_first_file_ignores_directories(router):
    (router.root / "folder").mkdir()

    run = router.run(["folder"])

    assert run.entry["reason"] == "no-input"
    assert run.entry["metric"] == "unknown"


def test_arg_counts_positionals_only(make_router, media, short_copy):
    router = make_router(input_rule="arg:2")
    name = short_copy(router)

    run = router.run(["-v", str(media.long), "--fast", name, "third"])

    assert run.entry.input == name
    assert run.entry["mode"] == "GPU"


def test_arg_skips_values_of_skip_flags(make_router, short_copy):
    router = make_router(input_rule="arg:1", input_skip_flags=["--model", "-o"])
    name = short_copy(router)

    run = router.run(["--model", "small", "-o", "out", name, "--model=medium"])

    assert run.entry.input == name
    assert run.argv == ["--model", "small", "-o", "out", name, "--model=medium", *GPU_ARGS]


def test_arg_without_skip_flags_takes_flag_value(make_router, short_copy):
    router = make_router(input_rule="arg:1")
    name = short_copy(router)

    run = router.run(["--model", "small", name])

    assert run.entry.input == "small"
    assert run.entry["reason"] == "input-not-a-file"
    assert run.entry["mode"] == "CPU"


def test_arg_after_double_dash_may_start_with_dash(make_router, short_copy):
    router = make_router(input_rule="arg:1")
    name = short_copy(router, "-dash.wav")

    run = router.run(["--verbose", "--", name])

    assert run.entry.input == name
    assert run.entry["mode"] == "GPU"


def test_arg_beyond_the_last_is_no_input(make_router, short_copy):
    router = make_router(input_rule="arg:3")
    name = short_copy(router)

    run = router.run([name, "x"])

    assert run.entry["reason"] == "no-input"
    assert run.argv == [name, "x", *CPU_ARGS]


@pytest.mark.parametrize("form", ["separate", "equals"])
def test_flag_value_is_the_input(make_router, short_copy, form):
    router = make_router(input_rule="flag:--input")
    name = short_copy(router, "a=b c.wav")
    args = ["--input", name] if form == "separate" else [f"--input={name}"]

    run = router.run(["--model", "x", *args])

    assert run.entry.input == name
    assert run.entry["mode"] == "GPU"


def test_flag_given_twice_is_ambiguous(make_router, media, short_copy):
    router = make_router(input_rule="flag:--input")
    name = short_copy(router)

    run = router.run(["--input", name, f"--input={media.long}"])

    assert run.entry["reason"] == "several-inputs"
    assert run.entry["metric"] == "unknown"
    assert run.entry["mode"] == "CPU"


def test_flag_without_value_is_no_input(make_router):
    router = make_router(input_rule="flag:--input")

    run = router.run(["--other", "--input"])

    assert run.entry["reason"] == "no-input"


def test_flag_after_double_dash_is_not_read(make_router, short_copy):
    router = make_router(input_rule="flag:-i")
    name = short_copy(router)

    run = router.run(["--", "-i", name])

    assert run.entry["reason"] == "no-input"


def test_env_variable_names_the_input(make_router, media):
    router = make_router(input_rule="env:JOB_INPUT")

    run = router.run(["--x"], env={"JOB_INPUT": str(media.short)})

    assert run.entry.input == str(media.short)
    assert run.entry["mode"] == "GPU"
    assert run.argv == ["--x", *GPU_ARGS]


@pytest.mark.parametrize("env", [{}, {"JOB_INPUT": ""}])
def test_env_variable_unset_or_empty_is_no_input(make_router, env):
    router = make_router(input_rule="env:JOB_INPUT")

    run = router.run(["--x"], env=env)

    assert run.entry["reason"] == "no-input"
    assert run.entry["mode"] == "CPU"


def test_env_input_that_is_missing_is_not_a_file(make_router):
    router = make_router(input_rule="env:JOB_INPUT")

    run = router.run([], env={"JOB_INPUT": "/nonexistent/file.wav"})

    assert run.entry["reason"] == "input-not-a-file"
    assert run.entry.input == "/nonexistent/file.wav"
