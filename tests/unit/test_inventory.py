"""Tests of the inventory loader: structure, precedence, validation, paths and --limit patterns."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetroute.errors import InventoryError
from fleetroute.inventory import Inventory, VaultEncrypted, load_inventory
from fleetroute.settings import VARIABLES

REPO_ROOT = Path(__file__).resolve().parents[2]
BROKEN_DIR = Path(__file__).parent / "inventories" / "broken"
BROKEN_FILES = sorted(BROKEN_DIR.glob("*.yml"))

# The required variables, as lines of a vars: mapping indented for all: vars:.
REQUIRED_VARS = """\
    workload_binary: /usr/local/bin/whisper-ctranslate2
    threshold_value: 3600
    gpu_args: [--device, cuda]
    cpu_args: [--device, cpu]
    workload_vram_mb: 3700
    workload_ram_mb: 11000
"""


def write_inventory(tmp_path: Path, body: str, name: str = "inventory.yml") -> Path:
    """Write ``all: vars:`` with the required variables followed by ``body`` and return the path.

    ``body`` is dedented, then indented by two spaces, so it continues the ``all:`` mapping.
    """
    text = "all:\n  vars:\n" + REQUIRED_VARS + textwrap.indent(textwrap.dedent(body), "  ")
    path = tmp_path / name
    path.write_text(text)
    return path


def write_raw(tmp_path: Path, text: str, name: str = "inventory.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_problems(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    return caught.value.problems


def names(hosts) -> list[str]:
    return [host.name for host in hosts]


# Broken corpus -------------------------------------------------------------------


def read_expectation(path: Path) -> tuple[int, str]:
    """Return the line marked ``# <- fault`` and the text after ``# expect:`` in a corpus file."""
    lines = path.read_text().splitlines()
    fault_lines = [number for number, line in enumerate(lines, start=1) if "# <- fault" in line]
    expected = [line.split("# expect: ", 1)[1] for line in lines if line.startswith("# expect: ")]
    assert len(fault_lines) == 1, f"{path.name} must mark exactly one line with '# <- fault'"
    assert len(expected) == 1, f"{path.name} must have exactly one '# expect:' line"
    return fault_lines[0], expected[0]


def test_broken_corpus_is_not_empty():
    assert len(BROKEN_FILES) >= 12


@pytest.mark.parametrize("path", BROKEN_FILES, ids=[path.stem for path in BROKEN_FILES])
def test_broken_inventory_rejected(path: Path):
    line, expected = read_expectation(path)

    problems = load_problems(path)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}:"), problems[0]
    assert expected in problems[0]


# Example inventory ---------------------------------------------------------------


def test_example_loads():
    inventory = load_inventory(REPO_ROOT / "inventory.example.yml")

    assert len(inventory.hosts) == 4
    assert set(inventory.groups) >= {"transcription", "a4000_nodes", "a100_nodes"}


def test_example_documents_every_variable():
    text = (REPO_ROOT / "inventory.example.yml").read_text()

    undocumented = [name for name in VARIABLES if not re.search(rf"^\s*(# )?{name}:", text, re.MULTILINE)]

    assert undocumented == []


def test_example_whisper_settings():
    inventory = load_inventory(REPO_ROOT / "inventory.example.yml")
    settings = inventory.hosts["gpu-01.example.internal"].settings

    assert settings.workload_binary == "/usr/local/bin/whisper-ctranslate2"
    assert settings.probe == "duration"
    assert settings.probe_tool == "ffprobe"
    assert settings.threshold_value == 3600
    assert settings.max_gpu_jobs == 2
    assert settings.gpu_args == ["--device", "cuda", "--compute_type", "float16"]
    assert settings.cpu_args == ["--device", "cpu", "--compute_type", "int8"]
    assert settings.workload_vram_mb == 3700
    assert settings.workload_ram_mb == 11000


def test_example_overrides():
    hosts = load_inventory(REPO_ROOT / "inventory.example.yml").hosts

    assert hosts["gpu-a100-01.example.internal"].settings.threshold_value == 7200
    assert hosts["gpu-a100-02.example.internal"].settings.threshold_value == 3600
    assert hosts["gpu-01.example.internal"].settings.max_cpu_jobs == 2
    assert hosts["gpu-02.example.internal"].settings.max_cpu_jobs == 1
    assert hosts["gpu-02.example.internal"].settings.ansible_port == 2222


# Structure -----------------------------------------------------------------------


def test_nested_groups_membership(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        children:
          transcription:
            children:
              a4000_nodes:
                hosts:
                  gpu1:
              a100_nodes:
                children:
                  a100_80g:
                    hosts:
                      gpu2:
        """,
    )

    inventory = load_inventory(path)

    assert inventory.hosts["gpu1"].groups == ("transcription", "a4000_nodes")
    assert inventory.hosts["gpu2"].groups == ("transcription", "a100_nodes", "a100_80g")
    assert inventory.groups["transcription"] == ("gpu1", "gpu2")
    assert inventory.groups["a100_nodes"] == ("gpu2",)
    assert inventory.groups["all"] == ("gpu1", "gpu2")


def test_host_in_several_groups(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        children:
          whisper:
            hosts:
              gpu1:
                max_gpu_jobs: 2
          monitoring:
            hosts:
              gpu1:
                ansible_user: deploy
              gpu2:
        """,
    )

    inventory = load_inventory(path)

    assert list(inventory.hosts) == ["gpu1", "gpu2"]
    assert inventory.hosts["gpu1"].groups == ("whisper", "monitoring")
    assert inventory.hosts["gpu1"].settings.max_gpu_jobs == 2
    assert inventory.hosts["gpu1"].settings.ansible_user == "deploy"


def test_top_level_groups_under_all(tmp_path):
    path = write_raw(
        tmp_path,
        """\
        all:
          vars:
            workload_binary: /usr/local/bin/whisper-ctranslate2
            threshold_value: 3600
            gpu_args: [--device, cuda]
            cpu_args: [--device, cpu]
            workload_vram_mb: 3700
            workload_ram_mb: 11000
        gpus:
          vars:
            max_gpu_jobs: 3
          hosts:
            gpu1:
        """,
    )

    inventory = load_inventory(path)

    assert inventory.hosts["gpu1"].groups == ("gpus",)
    assert inventory.hosts["gpu1"].settings.max_gpu_jobs == 3
    assert inventory.hosts["gpu1"].settings.threshold_value == 3600


def test_empty_sections_accepted(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1:
        children:
          empty_group:
          also_empty:
            hosts:
            vars:
            children:
        """,
    )

    inventory = load_inventory(path)

    assert inventory.groups["empty_group"] == ()
    assert inventory.groups["also_empty"] == ()


def test_ungrouped_host(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1:
        children:
          whisper:
            hosts:
              gpu2:
        """,
    )

    inventory = load_inventory(path)

    assert inventory.hosts["gpu1"].groups == ("ungrouped",)
    assert inventory.groups["ungrouped"] == ("gpu1",)


def test_host_ranges_expand(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu-[08:10].example.internal:
            max_gpu_jobs: 2
          cpu-[a:c]:
          node[1:5:2]:
        """,
    )

    inventory = load_inventory(path)

    assert list(inventory.hosts) == [
        "gpu-08.example.internal",
        "gpu-09.example.internal",
        "gpu-10.example.internal",
        "cpu-a",
        "cpu-b",
        "cpu-c",
        "node1",
        "node3",
        "node5",
    ]
    assert inventory.hosts["gpu-10.example.internal"].settings.max_gpu_jobs == 2


def test_host_port_suffix(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1.example.internal:2222:
          "[2001:db8::7]:2200":
          "2001:db8::8":
        """,
    )

    hosts = load_inventory(path).hosts

    assert list(hosts) == ["gpu1.example.internal", "2001:db8::7", "2001:db8::8"]
    assert hosts["gpu1.example.internal"].settings.ansible_port == 2222
    assert hosts["2001:db8::7"].settings.ansible_port == 2200
    assert hosts["2001:db8::8"].settings.ansible_port is None


def test_range_bad_value_reported_once(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu[1:3]:
            max_gpu_jobs: 0
        """,
    )

    problems = load_problems(path)

    assert len(problems) == 1
    assert "hosts 'gpu1', 'gpu2' and 'gpu3': max_gpu_jobs: 0 is invalid" in problems[0]


def test_yaml_merge_key_not_duplicate(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1: &defaults
            max_gpu_jobs: 2
            max_cpu_jobs: 2
          gpu2:
            <<: *defaults
            max_cpu_jobs: 1
        """,
    )

    hosts = load_inventory(path).hosts

    assert hosts["gpu2"].settings.max_gpu_jobs == 2
    assert hosts["gpu2"].settings.max_cpu_jobs == 1


def test_recursive_alias_rejected(tmp_path):
    path = write_raw(
        tmp_path,
        """\
        all:
          hosts:
            gpu1:
          children:
            loop: &loop
              children:
                inner: *loop
        """,
    )

    problems = load_problems(path)

    assert any("contains itself through a YAML alias" in problem for problem in problems)


def test_three_group_cycle_named(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1:
        children:
          a:
            children:
              b:
                children:
                  c:
                    children:
                      a:
        """,
    )

    problems = load_problems(path)

    assert len(problems) == 1
    assert "group cycle: a -> b -> c -> a" in problems[0]


# Precedence ----------------------------------------------------------------------


def test_precedence_all_parent_child_host(tmp_path):
    path = write_raw(
        tmp_path,
        """\
        all:
          vars:
            workload_binary: /usr/local/bin/whisper-ctranslate2
            threshold_value: 3600
            gpu_args: [--device, cuda]
            cpu_args: [--device, cpu]
            workload_vram_mb: 3700
            workload_ram_mb: 11000
            max_gpu_jobs: 1
            max_cpu_jobs: 1
            probe_tool: all-tool
            run_as: all-user
        parent:
          vars:
            max_gpu_jobs: 2
            max_cpu_jobs: 2
            probe_tool: parent-tool
          children:
            child:
              vars:
                max_gpu_jobs: 3
                max_cpu_jobs: 3
              hosts:
                gpu1:
                  max_gpu_jobs: 4
        """,
    )

    settings = load_inventory(path).hosts["gpu1"].settings

    assert settings.max_gpu_jobs == 4
    assert settings.max_cpu_jobs == 3
    assert settings.probe_tool == "parent-tool"
    assert settings.run_as == "all-user"


def test_precedence_by_depth_not_file_order(tmp_path):
    # The child group's definition comes first in the file, its parent's last.
    path = write_inventory(
        tmp_path,
        """\
        children:
          child:
            vars:
              max_gpu_jobs: 3
            hosts:
              gpu1:
          parent:
            vars:
              max_gpu_jobs: 2
            children:
              child:
        """,
    )

    inventory = load_inventory(path)

    assert inventory.hosts["gpu1"].settings.max_gpu_jobs == 3
    assert inventory.hosts["gpu1"].groups == ("child", "parent")


def test_same_depth_groups_sorted_by_name(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        children:
          beta:
            vars:
              max_gpu_jobs: 2
            hosts:
              gpu1:
          alpha:
            vars:
              max_gpu_jobs: 5
            hosts:
              gpu1:
        """,
    )

    assert load_inventory(path).hosts["gpu1"].settings.max_gpu_jobs == 2


def test_group_priority_wins_at_same_depth(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        children:
          alpha:
            vars:
              ansible_group_priority: 10
              max_gpu_jobs: 5
            hosts:
              gpu1:
          beta:
            vars:
              max_gpu_jobs: 2
            hosts:
              gpu1:
        """,
    )

    host = load_inventory(path).hosts["gpu1"]

    assert host.settings.max_gpu_jobs == 5
    assert "ansible_group_priority" not in host.variables


def test_group_priority_does_not_beat_depth(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        children:
          parent:
            vars:
              ansible_group_priority: "100"
              max_gpu_jobs: 5
            children:
              child:
                vars:
                  max_gpu_jobs: 2
                hosts:
                  gpu1:
        """,
    )

    assert load_inventory(path).hosts["gpu1"].settings.max_gpu_jobs == 2


def test_later_host_entry_wins(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        children:
          first:
            hosts:
              gpu1:
                max_gpu_jobs: 2
          second:
            hosts:
              gpu1:
                max_gpu_jobs: 3
        """,
    )

    assert load_inventory(path).hosts["gpu1"].settings.max_gpu_jobs == 3


def test_variables_keep_unknown_keys(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        children:
          fra1:
            vars:
              ansible_python_interpreter: /usr/bin/python3
              ansible_ssh_pass: hunter2
              datacenter: fra1
              nested: {a: 1}
            hosts:
              gpu1:
                vault_token: !vault |
                  $ANSIBLE_VAULT;1.1;AES256
                  6162
        """,
    )

    variables = load_inventory(path).hosts["gpu1"].variables

    assert variables["ansible_python_interpreter"] == "/usr/bin/python3"
    assert variables["datacenter"] == "fra1"
    assert variables["nested"] == {"a": 1}
    assert variables["threshold_value"] == 3600
    assert isinstance(variables["vault_token"], VaultEncrypted)
    assert "6162" not in repr(variables["vault_token"])


def test_hosts_do_not_share_lists(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1:
          gpu2:
        """,
    )
    hosts = load_inventory(path).hosts

    hosts["gpu1"].settings.gpu_args.append("--extra")
    hosts["gpu1"].variables["gpu_args"].append("--extra")

    assert hosts["gpu2"].settings.gpu_args == ["--device", "cuda"]
    assert hosts["gpu2"].variables["gpu_args"] == ["--device", "cuda"]


def test_old_ansible_spellings_read(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1:
            ansible_ssh_host: 192.0.2.10
            ansible_ssh_user: deploy
            ansible_ssh_port: 2200
            ansible_private_key_file: /keys/id_ed25519
          gpu2:
            ansible_user: deploy
            ansible_ssh_user: deploy
        """,
    )

    hosts = load_inventory(path).hosts

    assert hosts["gpu1"].settings.ansible_host == "192.0.2.10"
    assert hosts["gpu1"].settings.ansible_user == "deploy"
    assert hosts["gpu1"].settings.ansible_port == 2200
    assert hosts["gpu1"].settings.ansible_ssh_private_key_file == "/keys/id_ed25519"
    assert hosts["gpu2"].settings.ansible_user == "deploy"


# Validation messages -------------------------------------------------------------


def test_every_problem_collected(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1:
            threshold_value: 0
            max_gpu_jobs: -1
          gpu2:
            threshhold_value: 5
            gpu_args: --device cuda
        """,
    )

    problems = load_problems(path)

    assert len(problems) == 4
    assert [int(problem.split(":")[1]) for problem in problems] == [11, 12, 14, 15]


def test_group_message_names_group(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        children:
          whisper:
            vars:
              threshold_value: 0
            hosts:
              gpu1:
        """,
    )

    problems = load_problems(path)

    assert problems == [
        f"{path}:12: host 'gpu1' (set in group 'whisper'): threshold_value: 0 is invalid; expected a number above 0"
    ]


def test_overridden_group_value_still_checked(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        children:
          whisper:
            vars:
              max_gpu_jobs: 0
            hosts:
              gpu1:
                max_gpu_jobs: 2
        """,
    )

    problems = load_problems(path)

    assert problems == [f"{path}:12: group 'whisper': max_gpu_jobs: 0 is invalid; expected an integer of at least 1"]


def test_missing_required_names_hosts(tmp_path):
    path = write_raw(
        tmp_path,
        """\
        all:
          children:
            whisper:
              vars:
                threshold_value: 3600
                gpu_args: [--device, cuda]
                cpu_args: [--device, cpu]
                workload_vram_mb: 3700
                workload_ram_mb: 11000
              hosts:
                gpu1:
                gpu2:
        """,
    )

    problems = load_problems(path)

    assert problems == [
        f"{path}:11: hosts 'gpu1' and 'gpu2': workload_binary is missing; it is required"
        f" ({VARIABLES['workload_binary'].description}). Set it in each host's entry or in vars: of a group they"
        " all belong to: 'whisper' or 'all', or in group_vars/whisper.yml beside the inventory"
    ]


def test_long_value_truncated(tmp_path):
    path = write_inventory(
        tmp_path,
        f"""\
        hosts:
          gpu1:
            router_log: {"x" * 200}
        """,
    )

    problems = load_problems(path)

    assert "router_log: 'xxxx" in problems[0]
    assert "x" * 100 not in problems[0]
    assert "...' is invalid" not in problems[0]
    assert "... is invalid" in problems[0]


def test_ansible_variables_not_flagged(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1:
            ansible_user_id: deploy
            ansible_hostname: gpu1
            ansible_become: true
            ansible_password: secret
        """,
    )

    assert "gpu1" in load_inventory(path).hosts


def test_custom_probe_accepted(tmp_path):
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu1:
            probe: "stat -c%s"
          gpu2:
            probe: /usr/local/bin/count-tokens
        """,
    )

    hosts = load_inventory(path).hosts

    assert hosts["gpu1"].settings.custom_probe
    assert hosts["gpu2"].settings.probe == "/usr/local/bin/count-tokens"


@pytest.mark.parametrize("rule", ["first-file", "arg:1", "arg:12", "flag:--input", "flag:-i", "flag:--output_dir", "env:INPUT_FILE"])
def test_input_rule_accepted(tmp_path, rule):
    path = write_inventory(tmp_path, f"hosts:\n  gpu1:\n    input_rule: '{rule}'\n")

    assert load_inventory(path).hosts["gpu1"].settings.input_rule == rule


@pytest.mark.parametrize("value", [0.5, 1, 3600.0])
def test_threshold_positive_accepted(tmp_path, value):
    path = write_inventory(tmp_path, f"hosts:\n  gpu1:\n    threshold_value: {value}\n")

    assert load_inventory(path).hosts["gpu1"].settings.threshold_value == value


def test_missing_file_rejected(tmp_path):
    path = tmp_path / "absent.yml"

    problems = load_problems(path)

    assert problems[0].startswith(f"{path}: cannot read the inventory")


def test_empty_file_rejected(tmp_path):
    path = write_raw(tmp_path, "# nothing here\n")

    problems = load_problems(path)

    assert problems == [f"{path}: the inventory defines no hosts; list them under all: hosts: or a group's hosts:"]


def test_control_character_in_yaml_rejected(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text("all:\n  hosts:\n    gpu1\x07:\n")

    problems = load_problems(path)

    assert problems[0].startswith(f"{path}:3: invalid YAML")


# Paths ---------------------------------------------------------------------------


def test_local_paths_resolved(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", "/home/operator")
    inventory_dir = tmp_path / "site"
    inventory_dir.mkdir()
    path = write_inventory(
        inventory_dir,
        """\
        hosts:
          gpu1:
            ssh_config_file: ssh/config
            ansible_ssh_private_key_file: ~/.ssh/id_ed25519
          gpu2:
            ssh_config_file: /etc/ssh/fleet_config
            ansible_ssh_private_key_file: ../keys/id_gpu2
        """,
    )

    hosts = load_inventory(path).hosts

    assert hosts["gpu1"].settings.ssh_config_file == str(inventory_dir / "ssh" / "config")
    assert hosts["gpu1"].settings.ansible_ssh_private_key_file == "/home/operator/.ssh/id_ed25519"
    assert hosts["gpu2"].settings.ssh_config_file == "/etc/ssh/fleet_config"
    assert hosts["gpu2"].settings.ansible_ssh_private_key_file == str(tmp_path / "keys" / "id_gpu2")
    assert hosts["gpu1"].variables["ssh_config_file"] == "ssh/config"


def test_relative_inventory_path_base(tmp_path, monkeypatch):
    (tmp_path / "site").mkdir()
    write_inventory(tmp_path / "site", "hosts:\n  gpu1:\n    ssh_config_file: ssh_config\n")
    monkeypatch.chdir(tmp_path)

    inventory = load_inventory("site/inventory.yml")

    assert inventory.path == Path("site/inventory.yml")
    assert inventory.hosts["gpu1"].settings.ssh_config_file == str(tmp_path / "site" / "ssh_config")


def test_remote_path_defaults_from_binary_name(tmp_path):
    path = write_inventory(tmp_path, "hosts:\n  gpu1:\n")

    settings = load_inventory(path).hosts["gpu1"].settings

    assert settings.router_log == "/var/log/fleetroute/whisper-ctranslate2.log"
    assert settings.lock_dir == "/run/lock/fleetroute/whisper-ctranslate2"


# Limit patterns ------------------------------------------------------------------


@pytest.fixture
def fleet(tmp_path) -> Inventory:
    path = write_inventory(
        tmp_path,
        """\
        hosts:
          gpu-01:
        children:
          transcription:
            children:
              a4000_nodes:
                hosts:
                  gpu-02:
                  gpu-03:
              a100_nodes:
                hosts:
                  a100-01:
                  gpu-03:
          staging:
            hosts:
              gpu-02:
          empty:
        """,
    )
    return load_inventory(path)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (None, ["gpu-01", "gpu-02", "gpu-03", "a100-01"]),
        ("all", ["gpu-01", "gpu-02", "gpu-03", "a100-01"]),
        ("*", ["gpu-01", "gpu-02", "gpu-03", "a100-01"]),
        ("gpu-03", ["gpu-03"]),
        ("a100_nodes", ["gpu-03", "a100-01"]),
        ("transcription", ["gpu-02", "gpu-03", "a100-01"]),
        ("gpu-*", ["gpu-01", "gpu-02", "gpu-03"]),
        ("a100-01,gpu-01", ["gpu-01", "a100-01"]),
        ("a100-01:gpu-01", ["gpu-01", "a100-01"]),
        ("a100-01, gpu-01", ["gpu-01", "a100-01"]),
        ("transcription:!a100_nodes", ["gpu-02"]),
        ("!a100_nodes", ["gpu-01", "gpu-02"]),
        ("transcription:&staging", ["gpu-02"]),
        ("a4000_nodes:&a100_nodes", ["gpu-03"]),
        ("!staging,transcription", ["gpu-03", "a100-01"]),
        ("ungrouped", ["gpu-01"]),
        ("a4000_nodes[0]", ["gpu-02"]),
        ("a4000_nodes[-1]", ["gpu-03"]),
        ("all[1:2]", ["gpu-02", "gpu-03"]),
        ("all[2:]", ["gpu-03", "a100-01"]),
        ("~gpu-0[13]", ["gpu-01", "gpu-03"]),
        ("~a100.*", ["gpu-03", "a100-01"]),
    ],
)
def test_select_patterns(fleet, limit, expected):
    assert names(fleet.select(limit)) == expected


def test_select_from_file(fleet, tmp_path):
    limit_file = tmp_path / "retry.txt"
    limit_file.write_text("a100-01\n\ngpu-01\n")

    assert names(fleet.select(f"@{limit_file}")) == ["gpu-01", "a100-01"]


def test_select_unknown_pattern_named(fleet):
    with pytest.raises(InventoryError) as caught:
        fleet.select("gpu-01,gpu-9*,whisper")

    problems = caught.value.problems
    assert len(problems) == 2
    assert "limit pattern 'gpu-9*' matches no host or group" in problems[0]
    assert "known groups: a100_nodes, a4000_nodes, all, empty, staging, transcription, ungrouped" in problems[0]
    assert "limit pattern 'whisper' matches no host or group" in problems[1]


def test_select_typo_suggests_name(fleet):
    with pytest.raises(InventoryError) as caught:
        fleet.select("gpu-1,a100_node")

    problems = caught.value.problems
    assert "limit pattern 'gpu-1' matches no host or group; did you mean 'gpu-01'?" in problems[0]
    assert "did you mean 'a100_nodes'?" in problems[1]


def test_select_suggestion_ignores_case(fleet):
    with pytest.raises(InventoryError) as caught:
        fleet.select("A100_NODES")

    assert "did you mean 'a100_nodes'?" in caught.value.problems[0]


def test_select_unrelated_pattern_no_suggestion(fleet):
    with pytest.raises(InventoryError) as caught:
        fleet.select("whisper")

    assert "did you mean" not in caught.value.problems[0]


def test_select_unknown_exclusion_named(fleet):
    with pytest.raises(InventoryError, match="limit pattern 'a10_nodes' matches no host or group"):
        fleet.select("all:!a10_nodes")


def test_select_empty_group_rejected(fleet):
    with pytest.raises(InventoryError, match="matches only groups without hosts: 'empty'"):
        fleet.select("empty")


def test_select_subscript_out_of_range(fleet):
    with pytest.raises(InventoryError, match="out of range: 'a4000_nodes' matches 2 hosts"):
        fleet.select("a4000_nodes[5]")


def test_select_nothing_left_rejected(fleet):
    with pytest.raises(InventoryError, match="selects no hosts"):
        fleet.select("staging:!gpu-02")


def test_select_ipv6_host_not_split(tmp_path):
    path = write_inventory(tmp_path, 'hosts:\n  "2001:db8::8":\n  gpu1:\n')

    assert names(load_inventory(path).select("2001:db8::8")) == ["2001:db8::8"]


def test_select_empty_limit_rejected(fleet):
    with pytest.raises(InventoryError, match="limit ' , ' is empty; use 'all' to select every host"):
        fleet.select(" , ")


# Robustness ----------------------------------------------------------------------

KEYS = st.sampled_from(
    ["all", "hosts", "vars", "children", "gpu1", "gpu[1:2]", "web", "threshold_value", "gpu_args", "probe", ""]
)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70000) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.dictionaries(KEYS, VALUES, max_size=4))
def test_random_document_raises_inventory_error(tmp_path, document):
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(document))

    try:
        load_inventory(path)
    except InventoryError as error:
        assert error.problems
        assert all(problem.startswith(str(path)) for problem in error.problems)


def test_deep_nesting_rejected(tmp_path):
    text = "all:\n  hosts:\n    gpu1:\n  children:\n"
    indent = "    "
    for level in range(600):
        text += f"{indent}g{level}:\n{indent}  children:\n"
        indent += "    "
    path = tmp_path / "inventory.yml"
    path.write_text(text)

    assert load_problems(path) == [f"{path}: the YAML document is nested too deeply to parse"]


@pytest.mark.parametrize("name", ["become_password", "ansible_become_pass", "ansible_sudo_pass"])
def test_invalid_password_value_hidden(tmp_path, name):
    path = write_inventory(tmp_path, f"hosts:\n  gpu1:\n    {name}: [hunter2]\n")

    problems = load_problems(path)

    assert len(problems) == 1
    assert f"{name}: a list (value hidden) is invalid" in problems[0]
    assert "hunter2" not in problems[0]


def test_sudo_aliases_read_as_become(tmp_path):
    path = write_inventory(
        tmp_path, "hosts:\n  gpu1:\n    ansible_become: true\n    ansible_sudo_user: svc\n    ansible_sudo_pass: s3cret\n"
    )

    settings = load_inventory(path).hosts["gpu1"].settings

    assert settings.become_target_user == "svc"
    assert settings.become_secret == "s3cret"


def test_password_alias_conflict_hidden(tmp_path):
    path = write_inventory(
        tmp_path, "hosts:\n  gpu1:\n    ansible_sudo_pass: one-secret\n    ansible_become_password: other-secret\n"
    )

    (problem,) = load_problems(path)

    assert "ansible_sudo_pass: a string (value hidden) conflicts with ansible_become_password" in problem
    assert "secret" not in problem.replace("(value hidden)", "")


@pytest.mark.parametrize("name", ["hosts", "hosts.ini"])
def test_ini_inventory_named(tmp_path, name):
    path = tmp_path / name
    path.write_text("# fleet\n[gpus]\ngpu1 ansible_host=192.0.2.1\n")

    (problem,) = load_problems(path)

    assert problem.startswith(f"{path}: this is an INI inventory")
    assert "ansible-inventory -i FILE --list --yaml" in problem
