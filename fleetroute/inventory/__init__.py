"""Load an Ansible-style YAML inventory, validate it and select hosts from it.

``load_inventory`` reads the file, checks its structure and every fleetroute variable
against ``fleetroute.settings.VARIABLES``, and raises ``InventoryError`` listing every
problem it found, so that no host is contacted with a half-valid inventory.

The format is that of Ansible's ``yaml`` inventory plugin: a top-level ``all:`` group
(other top-level keys are groups too) whose definition may contain ``hosts:``,
``vars:`` and ``children:``, nested to any depth. Host names may carry ranges
(``gpu-[01:08]``) and a port (``gpu-01:2222``). A host's variables are merged like
Ansible merges them: groups sorted by depth, then ``ansible_group_priority``, then
name, so ``all`` < parent group < child group, and the host's own entry wins.
Variables in group_vars/ and host_vars/ beside the inventory file are read too, as
Ansible reads them (see ``varfiles``), and rank above the inventory file's own
group and host variables. Variables that fleetroute does not know are kept in
``Host.variables`` and ignored, unless their name is close to a known one, which
is reported as a likely typo.

Where this module follows Ansible, the source is ansible-core:
``plugins/inventory/yaml.py`` (sections, strings accepted as single names),
``inventory/helpers.py`` (``sort_groups``: depth, priority, name) and
``inventory/manager.py`` (``order_patterns``, ``split_host_pattern``, subscripts).
fleetroute is stricter than Ansible, which only warns about unexpected keys and
malformed group definitions; here they are errors.

The steps live in submodules: ``yaml_source`` reads YAML with line numbers,
``layout`` walks the group and host structure, ``varfiles`` reads group_vars/
and host_vars/, ``resolve`` merges variables and builds hosts, ``validate``
checks every value, and ``model`` contains ``Host``, ``Inventory`` and ``--limit``
selection.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fleetroute.errors import InventoryError
from fleetroute.inventory.layout import (
    Layout,
    LayoutParser,
    check_distinct_names,
    check_has_hosts,
)
from fleetroute.inventory.messages import Problems
from fleetroute.inventory.model import Host, Inventory
from fleetroute.inventory.resolve import (
    GroupGraph,
    build_inventory,
    find_cycles,
    resolve_host,
)
from fleetroute.inventory.sources import inventory_files, variables_directory
from fleetroute.inventory.validate import (
    check_aliases,
    check_conflicts,
    check_required,
    unused_connection_notices,
    validate_settings,
)
from fleetroute.inventory.varfiles import read_var_files
from fleetroute.inventory.yaml_source import VaultEncrypted, read_yaml

__all__ = ["Host", "Inventory", "VaultEncrypted", "load_inventory"]


def load_inventory(path: str | Path) -> Inventory:
    """Load, validate and resolve the YAML inventory at ``path``.

    Raises InventoryError listing every problem found. An unreadable file or invalid
    YAML stops the load at once. Otherwise the problems are duplicate keys, malformed
    groups or hosts, group cycles, names used for both a host and a group, an
    inventory without hosts, invalid or missing variables and likely misspelled
    variable names. Each message starts with ``FILE:LINE:`` where the line is known.
    ``Inventory.notices`` lists the Ansible connection variables that fleetroute does not use.
    """
    path = Path(path)
    problems = Problems(path)

    layout, first_line = _read_layout(path, problems)
    read_var_files(variables_directory(path), layout, problems)
    check_distinct_names(layout, problems)
    check_has_hosts(layout, first_line, problems)

    graph = GroupGraph.build(layout, find_cycles(layout, problems))
    resolved = [resolve_host(name, entry, layout, graph) for name, entry in layout.hosts.items()]
    validate_settings(layout, resolved, problems)
    check_aliases(resolved, problems)
    check_required(resolved, graph, problems)
    check_conflicts(resolved, problems)
    problems.raise_if_any()

    inventory = build_inventory(path, variables_directory(path), layout, resolved)
    return dataclasses.replace(inventory, notices=unused_connection_notices(resolved, path))


def _read_layout(path: Path, problems: Problems) -> tuple[Layout, int | None]:
    """Parse the inventory file, or every file of an inventory directory, into one layout.

    Returns the layout and the first line of a single file's document (None for a
    directory). Raises InventoryError for a directory without inventory files.
    """
    files = inventory_files(path)
    if not files:
        raise InventoryError([f"{path}: the inventory directory contains no YAML inventory file (.yml, .yaml or .json)"])
    parser = LayoutParser(problems)
    first_line = None
    for file in files:
        view = problems.for_file(file)
        document, first_line = read_yaml(file, view)
        parser.parse(document, first_line, view)
    return parser.layout, first_line if len(files) == 1 else None
