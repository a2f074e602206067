"""A built wheel carries the templates that fleetroute renders and runs on hosts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_templates(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("fleetroute-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in sorted(ROOT.joinpath("templates").rglob("*")):
        if template.is_file():
            assert f"fleetroute/templates/{template.relative_to(ROOT / 'templates')}" in names
    assert "fleetroute/cli/main.py" in names
    assert not any(name.startswith(("lab/", "tests/")) for name in names)
