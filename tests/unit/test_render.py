"""Template environment, quoting filters and router rendering (no router is run here)."""

from __future__ import annotations

import re
import subprocess

import jinja2
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetroute import render
from fleetroute.errors import InventoryError
from fleetroute.render import (
    InputRule,
    format_number,
    parse_input_rule,
    render_router,
    shell_quote,
    shell_words,
    template_env,
)
from fleetroute.inventory import load_inventory
from tests.unit.helpers import WHISPER, whisper_settings


def bash_words(words_text: str) -> list[str]:
    """Return the words bash reads from ``words_text`` placed in an array assignment."""
    script = f'words=({words_text}); for word in "${{words[@]}}"; do printf "%s\\0" "$word"; done'
    output = subprocess.run(["bash", "-c", script], capture_output=True, check=True, cwd="/").stdout
    return [word.decode() for word in output.split(b"\0")[:-1]]


@pytest.mark.parametrize(
    "value",
    ["plain", "", "with space", "it's", '"double"', "$(touch x)", "`id`", "a\nb", "*?[", "-n", "été", "$HOME"],
)
def test_shell_quote_is_one_literal_word(value):
    assert bash_words(shell_quote(value)) == [value]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\0", codec="utf-8"), max_size=12), max_size=5))
def test_shell_words_round_trip(words):
    assert bash_words(shell_words(words)) == words


def test_shell_quote_formats_numbers():
    assert shell_quote(3600) == "3600"
    assert shell_quote(3600.0) == "3600"
    assert shell_quote(5417.392) == "5417.392"


@pytest.mark.parametrize("value", [None, True, ["a"], b"bytes"])
def test_shell_quote_rejects_other_types(value):
    with pytest.raises(TypeError):
        shell_quote(value)


def test_shell_quote_rejects_nul():
    with pytest.raises(ValueError, match="NUL"):
        shell_quote("a\0b")


def test_shell_words_rejects_a_string():
    with pytest.raises(TypeError, match="list of words"):
        shell_words("--device cuda")


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (10, "10"), (10.0, "10"), (0.1, "0.1"), (1e20, "100000000000000000000"), (1e-7, "0.0000001")],
)
def test_format_number_is_plain_decimal(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_format_number_rejects_non_finite(value):
    with pytest.raises(ValueError, match="finite"):
        format_number(value)


@pytest.mark.parametrize(
    ("rule", "parsed"),
    [
        ("first-file", InputRule("first-file")),
        ("arg:1", InputRule("arg", position=1)),
        ("arg:12", InputRule("arg", position=12)),
        ("flag:--input", InputRule("flag", flag="--input")),
        ("flag:-i", InputRule("flag", flag="-i")),
        ("env:JOB_INPUT", InputRule("env", env="JOB_INPUT")),
    ],
)
def test_parse_input_rule_accepts(rule, parsed):
    assert parse_input_rule(rule) == parsed


@pytest.mark.parametrize(
    "rule",
    ["", "first", "arg:0", "arg:-1", "arg:x", "arg:", "arg:١", "flag:", "env:", "env:1X", "env:A-B", "env:$(x)", "nth:2"],
)
def test_parse_input_rule_rejects(rule):
    with pytest.raises(ValueError, match="invalid input_rule"):
        parse_input_rule(rule)


def test_template_env_options():
    env = template_env()

    assert env.undefined is jinja2.StrictUndefined
    assert env.autoescape is False
    assert env.keep_trailing_newline is True
    assert {"shell_quote", "shell_words"} <= set(env.filters)


def test_template_env_raises_on_undefined():
    with pytest.raises(jinja2.UndefinedError):
        template_env().from_string("{{ missing }}").render()


def test_template_env_keeps_bash_length_syntax():
    text = template_env().from_string('echo "${#items[@]}" {{ x | shell_quote }}<# note #>\n').render(x="a b")

    assert text == "echo \"${#items[@]}\" 'a b'\n"


def test_templates_dir_falls_back_to_repository(monkeypatch, tmp_path):
    monkeypatch.setattr(render, "PACKAGE_TEMPLATES_DIR", tmp_path / "absent")

    assert render.templates_dir() == render.REPOSITORY_TEMPLATES_DIR
    assert (render.templates_dir() / render.ROUTER_TEMPLATE).is_file()


def test_templates_dir_prefers_package(monkeypatch, tmp_path):
    (tmp_path / "router.sh.j2").write_text("packaged {{ host }}\n")
    monkeypatch.setattr(render, "PACKAGE_TEMPLATES_DIR", tmp_path)

    assert render.render_template("router.sh.j2", host="h") == "packaged h\n"


def test_render_router_is_deterministic():
    first = render_router(whisper_settings(), host="gpu-1", version="1.2.3")
    second = render_router(whisper_settings(), host="gpu-1", version="1.2.3")

    assert first == second
    assert first.startswith("#!/bin/bash\n")
    assert first.endswith('main "$@"\n')
    assert "fleetroute 1.2.3" in first


def test_render_router_depends_on_host():
    first = render_router(whisper_settings(), host="gpu-1", version="1")
    second = render_router(whisper_settings(), host="gpu-2", version="1")

    assert first != second
    assert "readonly FR_HOST=gpu-2\n" in second


def test_render_router_writes_settings():
    text = render_router(
        whisper_settings(threshold_value=3600.0, max_gpu_jobs=2, input_rule="arg:1"),
        host="gpu-1",
        version="1",
    )

    assert "readonly FR_THRESHOLD=3600\n" in text
    assert "readonly FR_MAX_GPU_JOBS=2\n" in text
    assert "readonly FR_REAL_BINARY=/usr/local/bin/whisper-ctranslate2-real\n" in text
    assert "readonly -a FR_GPU_ARGS=(--device cuda --compute_type float16)\n" in text
    assert "readonly FR_INPUT_RULE_KIND=arg\n" in text
    assert "readonly FR_INPUT_POSITION=1\n" in text
    assert "readonly FR_PROBE_KIND=duration\n" in text
    assert "readonly FR_UNKNOWN_METRIC_EXIT_CODE=65\n" in text


def test_render_router_documents_exit_codes():
    text = render_router(whisper_settings(blocked_exit_code=1, config_error_exit_code=99), host="h", version="1")
    header = text[: text.index("set -euo pipefail")]

    assert "#   1               every slot is busy" in header
    assert "#   99              configuration error" in header
    assert "#   65              the metric is unknown" in header


def test_render_router_custom_probe_is_quoted():
    text = render_router(whisper_settings(probe="mediainfo --Inform='Audio;%Duration%'"), host="h", version="1")

    assert "readonly FR_PROBE_KIND=custom\n" in text
    assert "readonly FR_PROBE_COMMAND='mediainfo --Inform='\"'\"'Audio;%Duration%'\"'\"''\n" in text


def test_render_router_rejects_invalid_input_rule():
    with pytest.raises(InventoryError, match="gpu-1: invalid input_rule 'arg:0'"):
        render_router(whisper_settings(input_rule="arg:0"), host="gpu-1", version="1")


def test_render_router_rejects_nul_in_args():
    with pytest.raises(ValueError, match="NUL"):
        render_router(whisper_settings(gpu_args=["a\0b"]), host="gpu-1", version="1")


def test_rendered_router_passes_bash_syntax_check():
    text = render_router(whisper_settings(), host="gpu-1", version="1")

    result = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr


def test_render_router_reads_optional_settings():
    settings = whisper_settings(on_gpu_full="cpu", block_wait_seconds=30, unknown_metric_exit_code=3)
    text = render_router(settings, host="h", version="1")

    assert "readonly FR_ON_GPU_FULL=cpu\n" in text
    assert "readonly FR_BLOCK_WAIT_SECONDS=30\n" in text
    assert "readonly FR_UNKNOWN_METRIC_EXIT_CODE=3\n" in text


def test_render_router_defaults_optional_settings():
    text = render_router(whisper_settings(), host="h", version="1")

    assert "readonly FR_ON_GPU_FULL=block\n" in text
    assert "readonly FR_BLOCK_WAIT_SECONDS=0\n" in text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("on_gpu_full", "gpu"),
        ("block_wait_seconds", -1),
        ("block_wait_seconds", 1.5),
        ("unknown_metric_exit_code", 0),
        ("unknown_metric_exit_code", 256),
    ],
)
def test_inventory_rejects_invalid_router_options(tmp_path, name, value):
    values = {**WHISPER, name: value}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"vars": values, "hosts": {"h": {}}}}))

    with pytest.raises(InventoryError, match=name):
        load_inventory(path)


def test_render_router_writes_new_defaults():
    text = render_router(whisper_settings(), host="h", version="1")

    assert "readonly FR_SECONDARY_PROBE_KIND=''\n" in text
    assert "readonly FR_SECONDARY_THRESHOLD=''\n" in text
    assert "readonly FR_ROUTER_MODE=exec\n" in text
    assert "readonly FR_GPU_SLOT_MODE=shared\n" in text
    assert "readonly -a FR_GPU_INDICES=()\n" in text
    assert "readonly FR_GPU_INDEX_ARG=''\n" in text
    assert "readonly FR_GPU_INDEX_ENV=0\n" in text


def test_render_router_writes_secondary_probe():
    settings = whisper_settings(secondary_probe="pixels", secondary_threshold_value=2073600.0)
    text = render_router(settings, host="h", version="1")

    assert settings.secondary_threshold_unit == "pixels"
    assert "readonly FR_SECONDARY_PROBE_KIND=pixels\n" in text
    assert "readonly FR_SECONDARY_PROBE_COMMAND=''\n" in text
    assert "readonly FR_SECONDARY_THRESHOLD=2073600\n" in text
    assert "readonly FR_SECONDARY_THRESHOLD_UNIT=pixels\n" in text


def test_render_router_writes_custom_secondary_probe():
    settings = whisper_settings(secondary_probe="wc -c <", secondary_threshold_value=5)
    text = render_router(settings, host="h", version="1")

    assert settings.secondary_threshold_unit == "units"
    assert "readonly FR_SECONDARY_PROBE_KIND=custom\n" in text
    assert "readonly FR_SECONDARY_PROBE_COMMAND='wc -c <'\n" in text


def test_render_router_writes_per_gpu_slots():
    settings = whisper_settings(
        router_mode="supervise", gpu_slot_mode="per_gpu", gpu_indices=[0, 2], gpu_index_arg="--device_index"
    )
    text = render_router(settings, host="h", version="1")

    assert "readonly FR_ROUTER_MODE=supervise\n" in text
    assert "readonly FR_GPU_SLOT_MODE=per_gpu\n" in text
    assert "readonly -a FR_GPU_INDICES=(0 2)\n" in text
    assert "readonly FR_GPU_INDEX_ARG=--device_index\n" in text


def test_render_router_strips_trailing_slash_of_lock_dir():
    text = render_router(whisper_settings(lock_dir="/run/lock/fleetroute/w//"), host="h", version="1")

    assert "readonly FR_LOCK_DIR=/run/lock/fleetroute/w\n" in text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"secondary_probe": "pixels"}, "secondary_probe is 'pixels' but secondary_threshold_value is missing"),
        ({"secondary_threshold_value": 10}, "secondary_threshold_value is 10 but secondary_probe is missing"),
        ({"secondary_threshold_unit": "px"}, "secondary_threshold_unit is set but secondary_probe is not"),
        ({"gpu_slot_mode": "per_gpu", "gpu_index_env": True}, "gpu_slot_mode is per_gpu but gpu_indices is missing"),
        (
            {"gpu_slot_mode": "per_gpu", "gpu_indices": [0]},
            "gpu_slot_mode is per_gpu but neither gpu_index_arg nor gpu_index_env is set",
        ),
        (
            {"gpu_slot_mode": "per_gpu", "gpu_indices": [0], "gpu_index_arg": "--device_index", "gpu_index_env": True},
            "gpu_index_arg is '--device_index' and gpu_index_env is true",
        ),
        ({"gpu_indices": [0, 1]}, "gpu_indices is [0, 1] but gpu_slot_mode is not per_gpu"),
        ({"gpu_index_env": True}, "gpu_index_env is true but gpu_slot_mode is not per_gpu"),
    ],
)
def test_render_router_rejects_conflicting_settings(overrides, message):
    with pytest.raises(InventoryError, match=re.escape(f"gpu-1: {message}")):
        render_router(whisper_settings(**overrides), host="gpu-1", version="1")


def write_whisper_inventory(tmp_path, host_vars: dict, group_vars: dict | None = None):
    document = {
        "all": {
            "vars": WHISPER,
            "children": {"gpus": {"vars": group_vars or {}, "hosts": {"h1": host_vars, "h2": {}}}},
        }
    }
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_inventory_reports_half_set_secondary_probe(tmp_path):
    path = write_whisper_inventory(tmp_path, {"secondary_probe": "pixels"})

    with pytest.raises(InventoryError) as caught:
        load_inventory(path)

    assert len(caught.value.problems) == 1
    problem = caught.value.problems[0]
    assert problem.startswith(f"{path}:")
    assert "host 'h1'" in problem
    assert "secondary_probe is 'pixels' but secondary_threshold_value is missing; set both or neither" in problem


def test_inventory_reports_group_conflict_once(tmp_path):
    path = write_whisper_inventory(tmp_path, {}, {"gpu_slot_mode": "per_gpu", "gpu_index_env": True})

    with pytest.raises(InventoryError) as caught:
        load_inventory(path)

    assert len(caught.value.problems) == 1
    assert "hosts 'h1' and 'h2' (set in group 'gpus')" in caught.value.problems[0]
    assert "gpu_indices is missing" in caught.value.problems[0]


def test_inventory_accepts_per_gpu_and_secondary(tmp_path):
    values = {
        "gpu_slot_mode": "per_gpu",
        "gpu_indices": [0, 1],
        "gpu_index_arg": "--device_index",
        "secondary_probe": "pixels",
        "secondary_threshold_value": 2073600,
        "router_mode": "supervise",
    }
    path = write_whisper_inventory(tmp_path, values)

    settings = load_inventory(path).hosts["h1"].settings

    assert settings.gpu_indices == [0, 1]
    assert settings.gpu_index_arg == "--device_index"
    assert settings.secondary_threshold_unit == "pixels"
    assert settings.router_mode == "supervise"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("gpu_indices", []),
        ("gpu_indices", [-1]),
        ("gpu_indices", [0, 0]),
        ("gpu_indices", ["0"]),
        ("gpu_indices", [True]),
        ("gpu_indices", 0),
        ("router_mode", "fork"),
        ("gpu_slot_mode", "per-gpu"),
        ("gpu_index_env", "yes"),
        ("secondary_threshold_value", 0),
        ("secondary_probe", "pixel"),
    ],
)
def test_inventory_rejects_invalid_new_options(tmp_path, name, value):
    path = write_whisper_inventory(tmp_path, {name: value})

    with pytest.raises(InventoryError, match=name) as caught:
        load_inventory(path)

    assert len(caught.value.problems) == 1
