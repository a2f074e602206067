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
# Skipped without a warning: ansible-core's REJECT_EXTS plus .orig, .cfg and .retry from its
# INVENTORY_IGNORE_EXTS. INI files are not among them, so that a skipped INI inventory
# is reported. Names ending in "~" are skipped with hidden files.
IGNORED_EXTENSIONS = (".pyc", ".pyo", ".swp", ".bak", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry")
INI_HINT = "convert it with: ansible-inventory -i FILE --list --yaml"
VARIABLE_DIRECTORIES = ("group_vars", "host_vars")


def inventory_files(path: Path) -> list[Path]:
    """Return the inventory files that ``path`` names: itself for a file, or the YAML files of a directory."""
    if not path.is_dir():
        return [path]
    return list(_files_in(path))


def variables_directory(path: Path) -> Path:
    """Return the directory whose group_vars/ and host_vars/ belong to the inventory at ``path``."""
    return path if path.is_dir() else path.parent


def is_skipped(name: str) -> bool:
    """Return True for a file name that inventory and variable directories skip silently."""
    return name.startswith(".") or name.endswith("~") or Path(name).suffix in IGNORED_EXTENSIONS


def _files_in(directory: Path):
    for entry in sorted(directory.iterdir()):
        if is_skipped(entry.name) and not entry.is_dir():
            continue
        if entry.is_dir():
            # group_vars/ and host_vars/ hold variables at any depth, as in Ansible.
            if entry.name not in VARIABLE_DIRECTORIES and not entry.name.startswith("."):
                yield from _files_in(entry)
        elif entry.suffix in YAML_EXTENSIONS:
            yield entry
        else:
            log.warning("%s is not read: fleetroute reads YAML inventories (.yml, .yaml, .json) only; %s", entry, INI_HINT)
