"""pytest fixtures for tests that run against the lab fleet.

Import them into a conftest.py (``from lab.pytest_plugin import lab_fleet, media``).
Tests that need the fleet should also carry ``@pytest.mark.lab``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.fleet import Lab
from lab.media import make_media

REQUIRED_TOOLS = ("/usr/sbin/sshd", "ssh", "ssh-keygen", "ffmpeg", "ffprobe", "flock")


def skip_without_lab_tools() -> None:
    """Skip the calling test when a program that the lab runs is not installed."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the lab fleet needs {', '.join(missing)}")


@pytest.fixture(scope="session")
def lab_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Yield the default fleet, started once per session on a free port and stopped at the end.

    $FLEETLAB_ISOLATION picks the isolation (auto, namespace or prefix; default auto).
    Tests share the fleet, so a test that changes a host (installs a router, rewrites the GPU
    spec) must undo the change or start its own ``Lab``.
    """
    skip_without_lab_tools()
    isolation = os.environ.get("FLEETLAB_ISOLATION", "auto")
    lab = Lab(tmp_path_factory.mktemp("lab"), port=0, isolation=isolation, stop_with_parent=True)
    lab.up()
    yield lab
    lab.down()


@pytest.fixture(scope="session")
def media(lab_fleet: Lab, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Return ``make(name, seconds, **kwargs)``, which writes a media file into the lab's shared directory.

    The file is visible at the returned path on every host. kwargs go to ``make_media``.
    """
    cache = tmp_path_factory.mktemp("media-cache")

    def make(name: str, seconds: float, **kwargs: object) -> Path:
        return make_media(lab_fleet.shared_dir / name, seconds, cache_dir=cache, **kwargs)

    return make
