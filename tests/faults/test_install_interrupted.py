"""Kill install.sh after every command in turn and check that the wrapper stays safe.

The install and uninstall scripts run here as they run on a host (``bash -c SCRIPT``),
on files in a temporary directory, with a DEBUG trap from $BASH_ENV that counts the
commands the script runs and sends it SIGKILL after the Nth, as a dropped connection
or a killed fleetroute would leave it. After each kill, BINARY must still run a
workload (directly or through the router), the real binary's bytes must still be on
disk, and one normal run must converge to the final state.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetroute.connectors.ssh import CommandResult
from fleetroute.facts.host import gather_facts
from fleetroute.operations import install
from fleetroute.render import render_router
from fleetroute.settings import HostSettings

ORIGINAL = b'#!/bin/sh\necho original-workload "$@"\n'
UPGRADED = b'#!/bin/sh\necho upgraded-workload "$@"\n'

# Counts commands into $FAULT_COUNT and kills the script at $FLEETROUTE_FAULT_AFTER.
# set -T makes functions inherit the trap.
FAULT_TRAP = """\
set -T
fault_commands=0
trap 'fault_commands=$((fault_commands + 1))
if [ -n "${FAULT_COUNT:-}" ]; then echo "$fault_commands" > "$FAULT_COUNT"; fi
if [ "$fault_commands" -ge "$FLEETROUTE_FAULT_AFTER" ]; then kill -9 $$; fi' DEBUG
"""


@dataclass
class LocalHost:
    """Runs fleetroute's host scripts on this machine, the way SSHHost runs them on a host."""

    name: str
    env: dict[str, str]

    def run_script(self, script, args, *, name, stdin=None, timeout=None) -> CommandResult:
        done = subprocess.run(
            ["bash", "-c", script, f"fleetroute-{name}", *args],
            input=stdin,
            capture_output=True,
            env=self.env,
            timeout=60,
        )
        return CommandResult(self.name, name, done.returncode, done.stdout.decode(), done.stderr.decode(), 0.0)


@dataclass
class Scenario:
    """A prepared tree: its settings, the bytes that must survive, and the operation to run."""

    settings: HostSettings
    expected: bytes
    uninstall: bool


CLEAN = LocalHost("local", dict(os.environ))


def settings_for(root: Path) -> HostSettings:
    return HostSettings.from_values(
        {
            "workload_binary": str(root / "bin" / "whisper"),
            "threshold_value": 3600,
            "gpu_args": ["--device", "cuda"],
            "cpu_args": ["--device", "cpu"],
            "workload_vram_mb": 3700,
            "workload_ram_mb": 11000,
            "router_log": str(root / "log" / "router.log"),
            "lock_dir": str(root / "lock"),
            "router_path": str(root / "lib" / "router"),
            "state_dir": str(root / "state"),
            "nvidia_smi": "true",
            "run_as": "root",
            "probe": "size",
        }
    )


def run_operation(host: LocalHost, scenario: Scenario) -> install.Plan:
    """Probe, plan and apply once, as deploy (or uninstall) does on a host."""
    settings = scenario.settings
    facts = gather_facts(CLEAN, settings)
    router = render_router(settings, host="local", version="test")
    if scenario.uninstall:
        plan = install.plan_uninstall(facts.install, settings)
    else:
        plan = install.plan_install(facts.install, settings, install.sha256_text(router))
    install.apply(host, plan, facts.install, settings, router)
    return plan


def make_tree(root: Path, content: bytes) -> HostSettings:
    (root / "bin").mkdir(parents=True)
    binary = root / "bin" / "whisper"
    binary.write_bytes(content)
    binary.chmod(0o755)
    return settings_for(root)


def fresh_install(root: Path) -> Scenario:
    return Scenario(make_tree(root, ORIGINAL), ORIGINAL, uninstall=False)


def package_upgrade(root: Path) -> Scenario:
    settings = make_tree(root, ORIGINAL)
    run_operation(CLEAN, Scenario(settings, ORIGINAL, uninstall=False))
    binary = Path(settings.workload_binary)
    binary.unlink()
    binary.write_bytes(UPGRADED)
    binary.chmod(0o755)
    return Scenario(settings, UPGRADED, uninstall=False)


def write_through_upgrade(root: Path) -> Scenario:
    """A deployed host where a new build was copied onto BINARY, so into the router file."""
    settings = make_tree(root, ORIGINAL)
    run_operation(CLEAN, Scenario(settings, ORIGINAL, uninstall=False))
    Path(settings.workload_binary).write_bytes(UPGRADED)  # follows the symlink, as cp does
    return Scenario(settings, UPGRADED, uninstall=False)


def uninstall_after_write_through(root: Path) -> Scenario:
    scenario = write_through_upgrade(root)
    return Scenario(scenario.settings, UPGRADED, uninstall=True)


def uninstall(root: Path) -> Scenario:
    settings = make_tree(root, ORIGINAL)
    run_operation(CLEAN, Scenario(settings, ORIGINAL, uninstall=False))
    return Scenario(settings, ORIGINAL, uninstall=True)


def faulty_host(trap_file: Path, after: int, count_file: Path | None = None) -> LocalHost:
    env = {**os.environ, "BASH_ENV": str(trap_file), "FLEETROUTE_FAULT_AFTER": str(after)}
    if count_file is not None:
        env["FAULT_COUNT"] = str(count_file)
    return LocalHost("local", env)


def count_commands(tmp_path: Path, trap_file: Path, prepare: Callable[[Path], Scenario]) -> int:
    """Return how many commands the operation runs when nothing interrupts it."""
    count_file = tmp_path / "count"
    run_operation(faulty_host(trap_file, 10**9, count_file), prepare(tmp_path / "count-run"))
    return int(count_file.read_text())


def assert_safe(scenario: Scenario) -> None:
    """BINARY runs a workload, and the real binary's bytes survive."""
    settings = scenario.settings
    binary, real = Path(settings.workload_binary), Path(settings.real_binary)
    assert binary.exists(), "BINARY is missing"
    directories = {binary.parent, Path(settings.router_path).parent}
    files = [path for directory in directories if directory.is_dir() for path in directory.iterdir()]
    kept = [path.read_bytes() for path in files if path.is_file() and not path.is_symlink()]
    assert scenario.expected in kept, "the real binary's bytes are lost"
    if binary.is_symlink():
        assert real.is_file(), "BINARY links to the router but BINARY-real is missing"

    env = {**os.environ, "FLEETROUTE_DRY_RUN": "1"}
    run = subprocess.run([str(binary), "job"], capture_output=True, env=env, timeout=30)
    assert run.returncode == 0, run.stderr


def assert_converged(scenario: Scenario) -> None:
    settings = scenario.settings
    binary = Path(settings.workload_binary)
    if scenario.uninstall:
        assert not binary.is_symlink()
        assert binary.read_bytes() == scenario.expected
    else:
        assert os.readlink(binary) == settings.router_path
        assert Path(settings.real_binary).read_bytes() == scenario.expected
    assert not run_operation(CLEAN, scenario).changed


@pytest.mark.parametrize(
    "prepare",
    [fresh_install, package_upgrade, write_through_upgrade, uninstall, uninstall_after_write_through],
    ids=lambda f: f.__name__,
)
def test_kill_after_every_command(tmp_path, prepare):
    trap_file = tmp_path / "fault.sh"
    trap_file.write_text(FAULT_TRAP)
    total = count_commands(tmp_path, trap_file, prepare)
    assert total > 10

    for after in range(1, total + 1):
        scenario = prepare(tmp_path / f"run-{after}")
        try:
            run_operation(faulty_host(trap_file, after), scenario)
        except Exception:  # The killed run fails; what matters is the state it leaves.
            pass
        assert_safe(scenario)

        run_operation(CLEAN, scenario)
        assert_converged(scenario)
