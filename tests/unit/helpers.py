"""Builders for settings and install states used by unit tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from fleetroute.facts.host import DirState, InstallState, PathState
from fleetroute.settings import HostSettings

WHISPER = {
    "workload_binary": "/usr/local/bin/whisper-ctranslate2",
    "threshold_value": 3600,
    "gpu_args": ["--device", "cuda", "--compute_type", "float16"],
    "cpu_args": ["--device", "cpu", "--compute_type", "int8"],
    "workload_vram_mb": 3700,
    "workload_ram_mb": 11000,
    "max_gpu_jobs": 2,
    "max_cpu_jobs": 1,
}


def whisper_settings(**overrides) -> HostSettings:
    """Return the runbook's whisper settings with ``overrides`` applied."""
    return HostSettings.from_values({**WHISPER, **overrides})


def install_state(**overrides) -> InstallState:
    """Return a fresh-host install state (a regular BINARY, nothing else) with ``overrides``."""
    values = {
        "binary": PathState("file"),
        "binary_sha256": "b" * 64,
        "binary_inode": "1:100",
        "real": PathState("missing"),
        "real_sha256": "-",
        "real_inode": "-",
        "real_executable": False,
        "router": PathState("missing"),
        "router_sha256": "-",
        "log_dir": DirState("dir", "root", "755"),
        "lock_dir": DirState("dir", "root", "750"),
        "manifest": {},
    }
    values.update(overrides)
    return InstallState(**values)


def write_dedented(path: Path, text: str) -> Path:
    """Write ``text``, dedented, to ``path``, creating its directories, and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path
