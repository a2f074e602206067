"""Group graph, variable merging in Ansible's precedence order, and building ``Host`` objects."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

from fleetroute.inventory.constants import ALIASES, LOCAL_PATH_VARIABLES
from fleetroute.inventory.layout import HostEntry, Layout, Setting
from fleetroute.inventory.messages import Problems
from fleetroute.inventory.model import Host, Inventory
from fleetroute.settings import VARIABLES, HostSettings


def find_cycles(layout: Layout, problems: Problems) -> set[tuple[str, str]]:
    """Add a problem for each group cycle and return the (parent, child) references that close them."""
    state: dict[str, str] = {}
    closing: set[tuple[str, str]] = set()

    def visit(group: str, path: list[str]) -> None:
        state[group] = "open"
        for child, (line, file) in layout.groups[group].children.items():
            if state.get(child) == "open":
                cycle = path[path.index(child) :] + [child]
                problems.add(
                    line,
                    f"group cycle: {' -> '.join(cycle)}; a group cannot contain itself,"
                    " so remove one of these children",
                    file,
                )
                closing.add((group, child))
            elif child not in state:
                visit(child, path + [child])
        state[group] = "done"

    for group in layout.groups:
        if group not in state:
            visit(group, [group])
    return closing


@dataclass
class GroupGraph:
    """Parents and depth of each group, with cycles already broken.

    ``depth`` is the length of the longest path from ``all``, as in Ansible, and
    orders variable precedence.
    """

    parents: dict[str, list[str]]
    depth: dict[str, int]

    @classmethod
    def build(cls, layout: Layout, skipped: set[tuple[str, str]]) -> GroupGraph:
        parents: dict[str, list[str]] = {name: [] for name in layout.groups}
        for parent, entry in layout.groups.items():
            for child in entry.children:
                if (parent, child) not in skipped:
                    parents[child].append(parent)
        # Like Ansible, a group that no other group lists becomes a child of all.
        for name, group_parents in parents.items():
            if name != "all" and not group_parents:
                group_parents.append("all")

        depth: dict[str, int] = {}

        def depth_of(group: str) -> int:
            if group not in depth:
                depth[group] = 0 if group == "all" else 1 + max(depth_of(parent) for parent in parents[group])
            return depth[group]

        for name in layout.groups:
            depth_of(name)
        return cls(parents, depth)

    def ancestors(self, group: str) -> set[str]:
        """Return the group and every group above it, ``all`` included."""
        found = {group}
        pending = [group]
        while pending:
            for parent in self.parents[pending.pop()]:
                if parent not in found:
                    found.add(parent)
                    pending.append(parent)
        return found


@dataclass
class ResolvedHost:
    name: str
    entry: HostEntry
    groups: tuple[str, ...]  # inventory order, without all
    settings: dict[str, Setting]  # merged, by variable name


def resolve_host(name: str, entry: HostEntry, layout: Layout, graph: GroupGraph) -> ResolvedHost:
    """Return the host's groups and its variables merged in Ansible's precedence order.

    From lowest to highest: the inventory file's group vars (sorted groups, so
    ``all`` first), then group_vars/ files in the same order, then the host's own
    entry, then its host_vars/ files. That is ansible-core's default
    ``VARIABLE_PRECEDENCE`` for inventory variables.
    """
    direct = [group for group in entry.groups if group != "all"] or ["ungrouped"]
    members: set[str] = set()
    for group in direct:
        members |= graph.ancestors(group)

    ordered = sorted(members, key=lambda group: (graph.depth[group], layout.groups[group].priority, group))
    merged: dict[str, Setting] = {}
    for group in ordered:
        merged.update(layout.groups[group].variables)
    for group in ordered:
        merged.update(layout.groups[group].file_variables)
    merged.update(entry.variables)
    merged.update(entry.file_variables)

    groups = tuple(group for group in layout.groups if group in members and group != "all")
    return ResolvedHost(name, entry, groups, merged)


def build_inventory(path: Path, base_dir: Path, layout: Layout, resolved: list[ResolvedHost]) -> Inventory:
    """Return the Inventory; relative local paths (keys, SSH config) start from ``base_dir``."""
    base_dir = base_dir.absolute()
    hosts = {host.name: _build_host(host, base_dir) for host in resolved}
    groups = {
        group: tuple(name for name, host in hosts.items() if group == "all" or group in host.groups)
        for group in layout.groups
    }
    return Inventory(path=path, hosts=hosts, groups=groups)


def _build_host(host: ResolvedHost, base_dir: Path) -> Host:
    variables = {name: copy.deepcopy(setting.value) for name, setting in host.settings.items()}
    values = {ALIASES[name]: value for name, value in variables.items() if name in ALIASES}
    values.update((name, value) for name, value in variables.items() if name in VARIABLES)
    for name in LOCAL_PATH_VARIABLES:
        if name in values:
            values[name] = _resolve_local_path(values[name], base_dir)
    settings = HostSettings.from_values(copy.deepcopy(values))
    return Host(name=host.name, groups=host.groups, variables=variables, settings=settings)


def _resolve_local_path(value: str, base_dir: Path) -> str:
    """Expand ``~`` and make a relative path relative to the inventory's directory."""
    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded):
        return expanded
    return os.path.normpath(os.path.join(base_dir, expanded))
