"""Fixtures for the lab fleet's own tests."""

from lab.pytest_plugin import lab_fleet, media  # noqa: F401  (fixtures used by name)
