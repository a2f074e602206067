"""Write a calibration's proposal into the inventory file, keeping its comments and layout.

The values go into the host's own entry under ``hosts:``, the first one when the host
is listed in several groups, because a host entry overrides every group variable
and so the value applies to that host alone. Uses ruamel.yaml's round-trip mode.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.util import load_yaml_guess_indent

from fleetroute.errors import FleetrouteError, InventoryError
from fleetroute.inventory import load_inventory
from fleetroute.inventory.sources import inventory_files, variables_directory
from fleetroute.inventory.varfiles import host_vars_settings

# The variables that calibrate --write sets.
WRITTEN_VARIABLES = ("threshold_value", "workload_vram_mb")


def write_proposal(inventory: Path, host: str, values: dict[str, tuple[int, str]]) -> Path:
    """Set ``values`` (name: (value, note)) in ``host``'s entry of the inventory at ``inventory``.

    For an inventory directory, the values go into the first of its files that
    lists the host under a ``hosts:`` key. Returns the file written.

    Each value gets an end-of-line comment: "fleetroute calibrate DATE: NOTE". The
    file's indentation is kept as ruamel.yaml guesses it. The file is reloaded
    afterwards, and when it no longer validates the original text is put back.
    Raises ``FleetrouteError`` when the host has no entry under any ``hosts:`` key
    or a host_vars/ file overrides the values, and ``InventoryError`` when the
    written file does not validate; in both cases the file is left as it was.
    """
    path, original, yaml, document, (hosts_map, entry) = _find_host_file(inventory, host)
    if not isinstance(entry, CommentedMap):
        entry = CommentedMap()
        hosts_map[host] = entry
    today = datetime.date.today().isoformat()
    for key, (value, note) in values.items():
        entry[key] = value
        entry.yaml_add_eol_comment(f"# fleetroute calibrate {today}: {note}", key, column=0)
    with path.open("w") as stream:
        yaml.dump(document, stream)
    try:
        written = load_inventory(inventory).hosts[host].variables
    except InventoryError:
        path.write_text(original)
        raise
    overridden = [key for key, (value, _) in values.items() if written.get(key) != value]
    if overridden:
        path.write_text(original)
        raise FleetrouteError(
            f"a host_vars/ file of the inventory {inventory} sets {', '.join(overridden)} for {host!r}, which "
            f"overrides the host's entry in {path}; nothing was written. Set the proposed values in that host_vars file instead: "
            + ", ".join(f"{key}: {value}" for key, (value, _) in values.items())
        )
    return path


def check_writable(inventory: Path, host: str, names: tuple[str, ...] = WRITTEN_VARIABLES) -> None:
    """Raise ``FleetrouteError`` when ``write_proposal`` could not set ``names`` for ``host``.

    That is when no inventory file lists the host under a ``hosts:`` key, or when a
    host_vars/ file sets one of ``names``, which would override the host's entry.
    Reads files only; call it before a calibration run so that it fails early.
    """
    _find_host_file(inventory, host)
    overrides = host_vars_settings(variables_directory(inventory), host)
    overridden = {name: path for name, path in overrides.items() if name in names}
    if overridden:
        where = ", ".join(f"{name} in {path}" for name, path in overridden.items())
        raise FleetrouteError(
            f"host_vars/ sets {where} for {host!r}, which would override the values calibrate --write puts in the "
            f"host's inventory entry; remove them there, or run without --write and copy the proposal by hand"
        )


def _find_host_file(inventory: Path, host: str):
    """Return (file, its text, its round-trip loader, its document, (hosts mapping, host entry)) for ``host``.

    Raises ``FleetrouteError`` when no inventory file lists the host under a ``hosts:`` key.
    """
    for path in inventory_files(inventory):
        original = path.read_text()
        _, indent, block_sequence_indent = load_yaml_guess_indent(original)
        # ruamel guesses None for a file without nested mappings or without lists.
        indent = indent or 2
        block_sequence_indent = block_sequence_indent or 0
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096
        yaml.indent(mapping=max(indent - block_sequence_indent, 2), sequence=indent, offset=block_sequence_indent)
        document = yaml.load(original)
        found = _search(document, host)
        if found is not None:
            return path, original, yaml, document, found
    raise FleetrouteError(f"host {host!r} has no entry under a hosts: key of the inventory {inventory}")


def _search(node, host: str):
    if not isinstance(node, dict):
        return None
    hosts = node.get("hosts")
    if isinstance(hosts, dict) and host in hosts:
        return hosts, hosts[host]
    for key, value in node.items():
        if key in ("vars", "hosts"):
            continue
        found = _search(value, host)
        if found is not None:
            return found
    return None
