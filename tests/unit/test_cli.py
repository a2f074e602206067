"""The command line without hosts: version, help, inventory listing and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventory.example.yml"
COMMANDS = ("deploy", "uninstall", "inventory")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {"COLUMNS": "200", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "fleetroute", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_version_flag():
    result = run_cli("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"fleetroute \d+\.\d+\.\d+\n", result.stdout)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_options(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert "--inventory" in result.stdout
    assert "--limit" in result.stdout


def test_help_states_units():
    text = run_cli("deploy", "--help").stdout
    assert "Seconds to wait for TCP connect" in text
    assert "Seconds one remote command may run" in text
    assert "Hosts worked on at once" in text


def test_usage_error_exit_code():
    result = run_cli("deploy", "--forks", "zero", "-i", str(EXAMPLE))
    assert result.returncode == 64
    assert "--forks" in result.stderr


def test_inventory_lists_resolved_settings():
    result = run_cli("inventory", "-i", str(EXAMPLE), "--json")
    assert result.returncode == 0
    hosts = json.loads(result.stdout)["inventory"]
    assert set(hosts) >= {"gpu-01.example.internal"}
    settings = hosts["gpu-01.example.internal"]["settings"]
    assert settings["threshold_value"] == 3600
    assert settings["gpu_args"] == ["--device", "cuda", "--compute_type", "float16"]
    assert settings["router_log"] == "/var/log/fleetroute/whisper-ctranslate2.log"


def test_inventory_limit_text_output():
    result = run_cli("inventory", "-i", str(EXAMPLE), "--limit", "gpu-01.example.internal")
    assert result.returncode == 0
    assert result.stdout.startswith("gpu-01.example.internal")
    assert 'workload_binary: "/usr/local/bin/whisper-ctranslate2"' in result.stdout


def test_limit_matching_nothing_is_config_error():
    result = run_cli("deploy", "-i", str(EXAMPLE), "--limit", "no-such-host")
    assert result.returncode == 1
    assert "no-such-host" in result.stderr


def test_missing_ssh_config_is_config_error(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(EXAMPLE.read_text())
    result = run_cli("deploy", "-i", str(inventory), "--limit", "gpu-a100-01.example.internal")
    assert result.returncode == 1
    assert f"{tmp_path}/ssh/a100_config not found on this machine" in result.stderr


def test_missing_ssh_config_option_is_config_error(tmp_path):
    result = run_cli("verify", "-i", str(EXAMPLE), "--ssh-config", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "--ssh-config" in result.stderr
    assert "not found" in result.stderr


def test_reader_closing_pipe_early(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  children:\n    gpus:\n      hosts:\n        gpu[001:400]:\n      vars:\n"
        "        workload_binary: /usr/local/bin/x\n        workload_vram_mb: 100\n        workload_ram_mb: 100\n"
        "        threshold_value: 10\n        gpu_args: ['--device', 'cuda']\n        cpu_args: ['--device', 'cpu']\n"
    )
    command = [sys.executable, "-m", "fleetroute", "inventory", "-i", str(inventory)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    # Like "| head -1": read one line, then close the pipe while the command still writes.
    first_line = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    returncode = process.wait(timeout=60)

    assert first_line.startswith(b"gpu001")
    assert returncode == 0, stderr
    assert "BrokenPipeError" not in stderr
    assert stderr == ""


def test_warnings_prefixed_like_messages(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(EXAMPLE.read_text())
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "transcriptio.yml").write_text("max_gpu_jobs: 1\n")

    result = run_cli("inventory", "-i", str(inventory))

    assert result.returncode == 0
    assert result.stderr.startswith("warning: ")
    assert "did you mean 'transcription'?" in result.stderr


def test_json_config_error_document():
    result = run_cli("deploy", "-i", str(EXAMPLE), "--limit", "nosuch", "--json")

    document = json.loads(result.stdout)
    assert result.returncode == 1
    assert document["command"] == "deploy"
    assert document["exit_code"] == 1
    assert document["hosts"] == {}
    assert "limit pattern 'nosuch' matches no host or group" in document["errors"][0]
    assert "error: " in result.stderr


def test_json_usage_error_document():
    result = run_cli("deploy", "-i", str(EXAMPLE), "--forks", "0", "--json")

    document = json.loads(result.stdout)
    assert result.returncode == 64
    assert document["exit_code"] == 64
    assert "--forks" in document["errors"][0]
