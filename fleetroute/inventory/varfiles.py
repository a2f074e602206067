"""Variables from the group_vars/ and host_vars/ directories beside the inventory file.

fleetroute reads them as ansible-core's ``host_group_vars`` vars plugin does, for
the groups and hosts the inventory defines. For a name, the first of these that
exists is read, and the others are ignored with a warning: ``group_vars/NAME``
(a file, or a directory whose files are read in sorted order, subdirectories
included), then ``NAME.yml``, ``NAME.yaml`` and ``NAME.json``. In a directory,
hidden files, backups (ending in ``~``) and other extensions are skipped. Each
file is a mapping of variables, and a later file overrides an earlier one. A
file that matches no group or host is logged as a warning, with a close name
when there is one, and otherwise ignored.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterator
from pathlib import Path

import yaml

from fleetroute.inventory.constants import PRIORITY_VARIABLE, SUGGESTION_CUTOFF
from fleetroute.inventory.layout import Layout, Setting
from fleetroute.inventory.messages import Problems, describe_type, show
from fleetroute.inventory.sources import YAML_EXTENSIONS, is_skipped
from fleetroute.inventory.yaml_source import read_yaml

log = logging.getLogger(__name__)

VAULT_HEADER = "$ANSIBLE_VAULT;"


def read_var_files(base: Path, layout: Layout, problems: Problems) -> list[Path]:
    """Read ``base``/group_vars/ and ``base``/host_vars/ into the layout's ``file_variables``.

    Returns the files read, in reading order. Adds a problem for a file that is
    not a mapping, is encrypted with ansible-vault, sets ``ansible_group_priority``
    or has an invalid variable name. Raises ``InventoryError`` for a file that
    cannot be read or is not valid YAML.
    """
    read: list[Path] = []
    for kind, entries in (("group_vars", layout.groups), ("host_vars", layout.hosts)):
        directory = base / kind
        if not directory.is_dir():
            continue
        used: set[Path] = set()
        for name, entry in entries.items():
            group = name if kind == "group_vars" else None
            chosen, *shadowed = _candidates(directory, name)
            used.update(path for path in (chosen, *shadowed) if path is not None)
            for path in shadowed:
                log.warning("%s is ignored because %s exists; Ansible reads only the first of them", path, chosen)
            for path in _var_files(chosen):
                entry.file_variables.update(_read_file(path, group, problems.for_file(path)))
                read.append(path)
        _warn_unmatched(directory, used, list(entries))
    return read


def host_vars_settings(base: Path, host: str) -> dict[str, Path]:
    """Return the variables that ``base``/host_vars/ sets for ``host``, each with the file that sets it last.

    Files that cannot be read or parsed are left out; ``load_inventory`` reports them.
    """
    chosen = _candidates(base / "host_vars", host)[0]
    found: dict[str, Path] = {}
    for path in _var_files(chosen):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(document, dict):
            found.update((str(name), path) for name in document)
    return found


def _candidates(directory: Path, name: str) -> list[Path | None]:
    """Return the existing paths for ``name`` in Ansible's order; the first is read, or None when there is none."""
    if not name or "/" in name or name.startswith("."):
        return [None]
    paths = [directory / name, *(directory / f"{name}{extension}" for extension in YAML_EXTENSIONS)]
    existing = [path for path in paths if path.exists()]
    return existing or [None]


def _var_files(path: Path | None) -> list[Path]:
    """Return the files to read for one chosen path: the file itself, or a directory's files in sorted order."""
    if path is None:
        return []
    if path.is_dir():
        return sorted(_files_below(path))
    return [path]


def _files_below(directory: Path) -> Iterator[Path]:
    for path in directory.iterdir():
        if path.name.startswith(".") or (is_skipped(path.name) and not path.is_dir()):
            continue
        if path.is_dir():
            yield from _files_below(path)
        elif path.suffix in YAML_EXTENSIONS or not path.suffix:
            yield path


def _read_file(path: Path, group: str | None, problems: Problems) -> dict[str, Setting]:
    owner = f"group {group!r}" if group is not None else "host"
    try:
        encrypted = path.read_bytes().lstrip().startswith(VAULT_HEADER.encode())
    except OSError:
        encrypted = False  # read_yaml reports the error
    if encrypted:
        problems.add(None, "the file is encrypted with ansible-vault, which fleetroute cannot decrypt; write it in plain text")
        return {}

    document, first_line = read_yaml(path, problems)
    if document is None:
        return {}
    if not isinstance(document, dict):
        problems.add(first_line, f"the file is {describe_type(document)}; expected a mapping of variables")
        return {}

    settings: dict[str, Setting] = {}
    for name, value in document.items():
        line = getattr(document, "key_lines", {}).get(name)
        if not isinstance(name, str) or not name:
            problems.add(line, f"{owner}: variable name {show(name)} is invalid; expected a non-empty string")
        elif name == PRIORITY_VARIABLE:
            problems.add(
                line,
                f"{PRIORITY_VARIABLE} is read only from the inventory file, as in Ansible; move it to the group's vars: there",
            )
        else:
            settings[name] = Setting(name, value, line, group, path)
    return settings


def _warn_unmatched(directory: Path, used: set[Path], names: list[str]) -> None:
    for path in sorted(directory.iterdir()):
        if path in used or is_skipped(path.name):
            continue
        stem = path.stem if path.suffix in YAML_EXTENSIONS else path.name
        close = difflib.get_close_matches(stem, names, n=1, cutoff=SUGGESTION_CUTOFF)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        log.warning("%s matches no %s in the inventory and is ignored%s", path, _kind_noun(directory), hint)


def _kind_noun(directory: Path) -> str:
    return "group" if directory.name == "group_vars" else "host"
