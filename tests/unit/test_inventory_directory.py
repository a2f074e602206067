"""Inventory directories: every YAML file merged, group_vars/ inside, problems named by file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fleetroute.errors import InventoryError
from fleetroute.inventory import load_inventory
from fleetroute.operations.calibrate.write import write_proposal

from .helpers import write_dedented as write

HOSTS = """\
all:
  children:
    whisper:
      hosts:
        gpu1:
        gpu2:
          max_gpu_jobs: 1
"""

GROUPS = """\
all:
  vars:
    workload_binary: /usr/local/bin/whisper-ctranslate2
    threshold_value: 3600
    gpu_args: [--device, cuda]
    cpu_args: [--device, cpu]
    workload_vram_mb: 3700
    workload_ram_mb: 11000
  children:
    transcription:
      children:
        whisper:
"""


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    write(tmp_path / "inventory" / "10-hosts.yml", HOSTS)
    write(tmp_path / "inventory" / "20-groups.yaml", GROUPS)
    return tmp_path / "inventory"


def test_files_merged(directory):
    inventory = load_inventory(directory)

    assert list(inventory.hosts) == ["gpu1", "gpu2"]
    # Groups are in inventory order: whisper is defined first, in 10-hosts.yml.
    assert inventory.hosts["gpu1"].groups == ("whisper", "transcription")
    assert inventory.hosts["gpu1"].settings.threshold_value == 3600
    assert inventory.hosts["gpu2"].settings.max_gpu_jobs == 1


def test_group_vars_inside_directory(directory):
    write(directory / "group_vars" / "whisper.yml", "max_cpu_jobs: 4\n")

    inventory = load_inventory(directory)

    assert inventory.hosts["gpu1"].settings.max_cpu_jobs == 4


def test_problem_names_second_file(directory):
    write(directory / "20-groups.yaml", GROUPS.replace("threshold_value: 3600", "threshold_value: -1"))

    with pytest.raises(InventoryError) as caught:
        load_inventory(directory)

    (problem,) = caught.value.problems
    assert problem.startswith(f"{directory / '20-groups.yaml'}:4: ")
    assert "threshold_value: -1 is invalid" in problem


def test_missing_required_names_host_file(directory):
    write(directory / "20-groups.yaml", GROUPS.replace("    workload_ram_mb: 11000\n", ""))

    with pytest.raises(InventoryError) as caught:
        load_inventory(directory)

    (problem,) = caught.value.problems
    assert problem.startswith(f"{directory / '10-hosts.yml'}:5: hosts 'gpu1' and 'gpu2': workload_ram_mb is missing")


def test_other_files_skipped(directory, caplog):
    write(directory / "hosts", "[whisper]\ngpu3\n")
    write(directory / "more.ini", "[whisper]\ngpu4\n")
    write(directory / "README.md", "notes\n")
    write(directory / "30-old.yml.bak", "not: [valid\n")
    write(directory / ".hidden.yml", "not: [valid\n")
    write(directory / "host_vars" / "gpu1.yml", "max_gpu_jobs: 2\n")
    write(directory / "host_vars" / "README.md", "notes\n")
    write(directory / "site" / "group_vars" / "whisper.yml", "max_cpu_jobs: 9\n")

    with caplog.at_level(logging.WARNING, logger="fleetroute.inventory"):
        inventory = load_inventory(directory)

    messages = [record.getMessage() for record in caplog.records]
    assert list(inventory.hosts) == ["gpu1", "gpu2"]
    assert inventory.hosts["gpu1"].settings.max_gpu_jobs == 2
    assert len(messages) == 2
    assert messages[0].startswith(f"{directory / 'hosts'} is not read: fleetroute reads YAML inventories")
    assert messages[1].startswith(f"{directory / 'more.ini'} is not read")
    assert messages[1].endswith("convert it with: ansible-inventory -i FILE --list --yaml")


def test_empty_directory_rejected(tmp_path):
    (tmp_path / "empty").mkdir()

    with pytest.raises(InventoryError, match="contains no YAML inventory file"):
        load_inventory(tmp_path / "empty")


def test_calibrate_writes_file_listing_host(directory):
    groups_before = (directory / "20-groups.yaml").read_text()

    write_proposal(directory, "gpu2", {"threshold_value": (2900, "test")})

    assert "threshold_value: 2900" in (directory / "10-hosts.yml").read_text()
    assert (directory / "20-groups.yaml").read_text() == groups_before
    assert load_inventory(directory).hosts["gpu2"].settings.threshold_value == 2900
