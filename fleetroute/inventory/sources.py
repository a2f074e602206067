"""The files of an inventory: one YAML file, or every YAML file of an inventory directory.

An inventory directory is read as Ansible reads one with its ``yaml`` inventory
plugin: its files in sorted order, subdirectories included, merged into one
inventory. ``group_vars/`` and ``host_vars/`` in it hold variables, not
inventories. Hidden files, backups and the extensions Ansible ignores are skipped.
Files without a YAML extension (``.yml``, ``.yaml``, ``.json``), such as INI
inventories, are skipped with a warning, because fleetroute reads YAML only.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
# ansible-core's default INVENTORY_IGNORE_EXTS: its REJECT_EXTS plus .orig, .ini, .cfg and .retry.
# Names ending in "~" are skipped with hidden files.
IGNORED_EXTENSIONS = (".pyc", ".pyo", ".swp", ".bak", ".rpm", ".md", ".txt", ".rst", ".orig", ".ini", ".cfg", ".retry")
VARIABLE_DIRECTORIES = ("group_vars", "host_vars")


def inventory_files(path: Path) -> list[Path]:
    """Return the inventory files that ``path`` names: itself for a file, or the YAML files of a directory."""
    if not path.is_dir():
        return [path]
    return list(_files_in(path, top=True))


def variables_directory(path: Path) -> Path:
    """Return the directory whose group_vars/ and host_vars/ belong to the inventory at ``path``."""
    return path if path.is_dir() else path.parent


def _files_in(directory: Path, *, top: bool):
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir():
            if not (top and entry.name in VARIABLE_DIRECTORIES):
                yield from _files_in(entry, top=False)
        elif entry.suffix in YAML_EXTENSIONS:
            yield entry
        elif entry.suffix not in IGNORED_EXTENSIONS:
            log.warning("%s is not read: fleetroute reads YAML inventories (.yml, .yaml, .json) only", entry)
