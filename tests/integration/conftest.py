"""Fixtures for integration tests against the lab fleet of real sshd hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.fleet import Lab
from lab.pytest_plugin import lab_fleet, media, skip_without_lab_tools  # noqa: F401 (fixtures)

BINARY = "/usr/local/bin/whisper-ctranslate2"
REAL = BINARY + "-real"
ROUTER = "/usr/local/lib/fleetroute/whisper-ctranslate2-router"
MANIFEST = "/var/lib/fleetroute/whisper-ctranslate2.manifest"
ROUTER_LOG = "/var/log/fleetroute/whisper-ctranslate2.log"


@dataclass
class CliResult:
    """Exit code and output of one fleetroute command line."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        """Return stdout parsed as JSON."""
        return json.loads(self.stdout)


def fleetroute(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> CliResult:
    """Run ``python -m fleetroute ARGS`` (in ``env``, default this process's) and return its result."""
    env = {**(os.environ if env is None else env), "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "fleetroute", *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Lab]:
    """Yield a freshly started default lab fleet, private to the test, and stop it afterwards."""
    skip_without_lab_tools()
    lab = Lab(tmp_path / "lab", port=0, stop_with_parent=True)
    lab.up(fresh=True)
    yield lab
    lab.down()


def host_file(lab: Lab, host: str, path: str) -> Path:
    """Return the host's file at ``path`` as seen from this machine."""
    return lab.fs_path(host, path)
