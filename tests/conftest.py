"""Shared test fixtures and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REALWORLD = Path(__file__).resolve().parent / "fixtures" / "realworld"


@pytest.fixture
def realworld() -> Path:
    """Return the folder of field inputs (nvidia-smi, ffprobe, argv, logs)."""
    return REALWORLD
