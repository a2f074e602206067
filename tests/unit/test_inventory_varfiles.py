"""group_vars/ and host_vars/ beside the inventory: file forms, precedence and errors."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from fleetroute.errors import InventoryError
from fleetroute.inventory import load_inventory

from .helpers import write_dedented as write

# Required variables come from group_vars/all.yml in most tests, so the inventory
# file itself has only structure and the variables a test sets.
REQUIRED = """\
workload_binary: /usr/local/bin/whisper-ctranslate2
threshold_value: 3600
gpu_args: [--device, cuda]
cpu_args: [--device, cpu]
workload_vram_mb: 3700
workload_ram_mb: 11000
"""

INVENTORY = """\
all:
  children:
    whisper:
      vars:
        max_cpu_jobs: 2
      hosts:
        gpu1:
        gpu2:
          max_gpu_jobs: 3
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Return an inventory path whose required variables live in group_vars/all.yml."""
    write(tmp_path / "group_vars" / "all.yml", REQUIRED)
    return write(tmp_path / "inventory.yml", INVENTORY)


def settings(path: Path, host: str):
    return load_inventory(path).hosts[host].settings


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    return caught.value.problems


def test_group_vars_all_supplies_required(tree):
    assert settings(tree, "gpu1").threshold_value == 3600


@pytest.mark.parametrize("name", ["whisper.yml", "whisper.yaml", "whisper.json", "whisper"])
def test_group_vars_file_forms(tree, name):
    text = '{"max_cpu_jobs": 5}\n' if name.endswith(".json") else "max_cpu_jobs: 5\n"
    write(tree.parent / "group_vars" / name, text)

    assert settings(tree, "gpu1").max_cpu_jobs == 5


def test_group_vars_directory_sorted(tree):
    directory = tree.parent / "group_vars" / "whisper"
    write(directory / "20-late.yml", "max_cpu_jobs: 7\n")
    write(directory / "10-early.yml", "max_cpu_jobs: 5\nmax_gpu_jobs: 4\n")
    write(directory / "sub" / "30-nested.yml", "block_wait_seconds: 9\n")
    write(directory / ".hidden.yml", "max_cpu_jobs: 100\n")
    write(directory / "99-backup.yml~", "max_cpu_jobs: 101\n")
    write(directory / "notes.txt", "max_cpu_jobs: 102\n")

    host = settings(tree, "gpu1")

    assert host.max_cpu_jobs == 7
    assert host.max_gpu_jobs == 4
    assert host.block_wait_seconds == 9


@pytest.mark.parametrize(
    ("forms", "read"),
    [
        (["whisper.yml", "whisper.yaml", "whisper.json"], "whisper.yml"),
        (["whisper.yaml", "whisper.json"], "whisper.yaml"),
        (["whisper/10.yml", "whisper.yml"], "whisper/10.yml"),
        (["whisper", "whisper.yml"], "whisper"),
    ],
)
def test_first_form_only_read(tree, caplog, forms, read):
    for number, form in enumerate(forms, start=3):
        write(tree.parent / "group_vars" / form, f"max_cpu_jobs: {number}\n")

    with caplog.at_level(logging.WARNING, logger="fleetroute.inventory.varfiles"):
        host = settings(tree, "gpu1")

    messages = [record.getMessage() for record in caplog.records]
    assert host.max_cpu_jobs == 3 + forms.index(read)
    assert len(messages) == len(forms) - 1
    assert all("is ignored because" in message for message in messages)
    assert all("matches no group" not in message for message in messages)


def test_host_vars_file(tree):
    write(tree.parent / "host_vars" / "gpu1.yml", "max_gpu_jobs: 1\n")

    assert settings(tree, "gpu1").max_gpu_jobs == 1
    assert settings(tree, "gpu2").max_gpu_jobs == 3


def test_group_vars_all_beats_child_inline(tree):
    # ansible-core's default VARIABLE_PRECEDENCE: every inline group var ranks below
    # every group_vars/ file, group_vars/all included.
    write(tree.parent / "group_vars" / "all.yml", REQUIRED + "max_cpu_jobs: 4\n")

    assert settings(tree, "gpu1").max_cpu_jobs == 4


def test_child_group_vars_beats_all(tree):
    write(tree.parent / "group_vars" / "all.yml", REQUIRED + "max_cpu_jobs: 4\n")
    write(tree.parent / "group_vars" / "whisper.yml", "max_cpu_jobs: 6\n")

    assert settings(tree, "gpu1").max_cpu_jobs == 6


def test_host_inline_beats_group_vars(tree):
    write(tree.parent / "group_vars" / "whisper.yml", "max_gpu_jobs: 1\n")

    assert settings(tree, "gpu2").max_gpu_jobs == 3
    assert settings(tree, "gpu1").max_gpu_jobs == 1


def test_host_vars_beats_host_inline(tree):
    write(tree.parent / "host_vars" / "gpu2.yml", "max_gpu_jobs: 5\n")

    assert settings(tree, "gpu2").max_gpu_jobs == 5


def test_invalid_value_names_file_and_line(tree):
    path = write(tree.parent / "group_vars" / "whisper.yml", "# comment\nmax_gpu_jobs: 0\n")

    problems = problems_of(tree)

    assert len(problems) == 1
    # gpu2 sets its own max_gpu_jobs in the inventory, so only gpu1 uses the value.
    assert problems[0].startswith(f"{path}:2: host 'gpu1' (set in group 'whisper'): max_gpu_jobs: 0 is invalid")


def test_typo_in_host_vars(tree):
    path = write(tree.parent / "host_vars" / "gpu1.yml", "max_gpu_job: 2\n")

    problems = problems_of(tree)

    assert problems == [f"{path}:1: host 'gpu1': max_gpu_job: unknown variable; did you mean 'max_gpu_jobs'?"]


def test_problems_sorted_inventory_first(tree):
    write(tree.parent / "host_vars" / "gpu1.yml", "max_gpu_jobs: -1\n")
    write(tree, INVENTORY.replace("max_cpu_jobs: 2", "max_cpu_jobs: -2"))

    problems = problems_of(tree)

    assert len(problems) == 2
    assert problems[0].startswith(f"{tree}:")
    assert problems[1].startswith(f"{tree.parent / 'host_vars' / 'gpu1.yml'}:1:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- max_gpu_jobs: 2\n", ":1: the file is a list; expected a mapping of variables"),
        ("$ANSIBLE_VAULT;1.1;AES256\n6134\n", ": the file is encrypted with ansible-vault"),
        ("ansible_group_priority: 5\n", ":1: ansible_group_priority is read only from the inventory file"),
        ("max_gpu_jobs: 2\nmax_gpu_jobs: 3\n", ":2: duplicate key 'max_gpu_jobs'"),
    ],
    ids=["list", "vault", "priority", "duplicate"],
)
def test_bad_group_vars_file(tree, text, expected):
    path = write(tree.parent / "group_vars" / "whisper.yml", text)

    problems = problems_of(tree)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}{expected}")


def test_yaml_error_in_var_file(tree):
    path = write(tree.parent / "host_vars" / "gpu1.yml", "max_gpu_jobs: [1\n")

    problems = problems_of(tree)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:")
    assert "invalid YAML" in problems[0]


def test_unmatched_file_warns(tree, caplog):
    write(tree.parent / "group_vars" / "wisper.yml", "max_gpu_jobs: 7\n")
    write(tree.parent / "host_vars" / "gpu11.yml", "max_gpu_jobs: 7\n")

    with caplog.at_level(logging.WARNING, logger="fleetroute.inventory.varfiles"):
        host = settings(tree, "gpu1")

    messages = [record.getMessage() for record in caplog.records]
    assert host.max_gpu_jobs == 1
    assert any("wisper.yml matches no group in the inventory and is ignored; did you mean 'whisper'?" in m for m in messages)
    assert any("gpu11.yml matches no host in the inventory and is ignored; did you mean 'gpu1'?" in m for m in messages)


def test_without_var_dirs_unchanged(tmp_path):
    path = write(tmp_path / "inventory.yml", "all:\n  vars:\n" + textwrap.indent(REQUIRED, "    ") + "  hosts:\n    gpu1:\n")

    assert settings(path, "gpu1").threshold_value == 3600


def test_unused_connection_variables_noticed(tree):
    path = write(tree.parent / "host_vars" / "gpu1.yml", "ansible_ssh_extra_args: -o ConnectTimeout=1\nansible_connection: local\n")
    write(tree.parent / "host_vars" / "gpu2.yml", "ansible_connection: ssh\nansible_timeout: 3\n")

    inventory = load_inventory(tree)
    everything = inventory.notices_for(list(inventory.hosts.values()))
    only_gpu1 = inventory.notices_for([inventory.hosts["gpu1"]])

    # ansible_connection is no notice: such a host fails when the run connects.
    assert len(everything) == 2
    assert everything[0].startswith(f"{path}:1: host 'gpu1': ansible_ssh_extra_args is set but fleetroute does not use it")
    assert everything[1].startswith(f"{tree.parent / 'host_vars' / 'gpu2.yml'}:2: host 'gpu2': ansible_timeout is set")
    assert only_gpu1 == everything[:1]
