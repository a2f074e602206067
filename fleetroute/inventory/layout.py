"""The inventory's structure: groups, hosts, children and variables as written, with their lines."""

from __future__ import annotations

import difflib
import ipaddress
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetroute.inventory.constants import (
    ALIASES,
    MAX_RANGE_HOSTS,
    PRIORITY_VARIABLE,
    SECTIONS,
)
from fleetroute.inventory.messages import Problems, describe_type, show
from fleetroute.settings import VARIABLES


@dataclass
class Setting:
    """One variable value as written in the inventory, and where it was written."""

    name: str
    value: Any
    line: int | None
    group: str | None  # None when written for a host
    path: Path | None = None  # the file it was written in; None only where no file is known


@dataclass
class _GroupEntry:
    line: int | None  # first definition; None for the implicit all and ungrouped
    path: Path | None = None  # inventory file of the first definition
    variables: dict[str, Setting] = field(default_factory=dict)
    # child name -> (line, inventory file) of the reference
    children: dict[str, tuple[int | None, Path | None]] = field(default_factory=dict)
    priority: int = 1
    file_variables: dict[str, Setting] = field(default_factory=dict)  # from group_vars/


@dataclass
class HostEntry:
    line: int | None  # first entry
    path: Path | None = None  # inventory file of the first entry
    variables: dict[str, Setting] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # groups that list the host under hosts:
    file_variables: dict[str, Setting] = field(default_factory=dict)  # from host_vars/


@dataclass
class Layout:
    groups: dict[str, _GroupEntry] = field(default_factory=dict)
    hosts: dict[str, HostEntry] = field(default_factory=dict)


class LayoutParser:
    """Parser that walks the YAML document like Ansible's yaml inventory plugin and builds a ``Layout``.

    A group or host may be defined in several places. The definitions are merged and,
    as in Ansible, a variable set twice keeps the value read last.
    """

    def __init__(self, problems: Problems):
        self.problems = problems
        self.layout = Layout()
        self._open_definitions: set[int] = set()  # group mappings being parsed, to stop on recursive aliases

    def parse(self, document: Any, first_line: int | None, problems: Problems | None = None) -> Layout:
        """Add the groups and hosts of one inventory document to the layout and return the layout.

        ``problems`` is the view for the document's file, when it is not the one
        the parser was created with. Call it once per file of an inventory directory.
        """
        if problems is not None:
            self.problems = problems
        self._add_group("all", None)
        self._add_group("ungrouped", None)
        if document is None:
            return self.layout
        if not isinstance(document, dict):
            self.problems.add(
                first_line,
                f"the top level is {describe_type(document)}; expected a mapping of groups, starting with all:",
            )
            return self.layout

        for name, data in document.items():
            line = _key_line(document, name)
            if name in SECTIONS:
                self.problems.add(
                    line, f"top-level key {name!r} would define a group named {name!r}; put {name}: under all:"
                )
                continue
            self._parse_group(name, data, line)
        return self.layout

    def _parse_group(self, name: Any, data: Any, line: int | None) -> str | None:
        """Record the group that ``data`` defines and return its name, or None when the name is invalid."""
        if not self._check_name("group", name, line):
            return None
        self._add_group(name, line)
        if data is None:
            return name
        if not isinstance(data, dict):
            self.problems.add(
                line,
                f"group {name!r}: the definition is {describe_type(data)};"
                " expected a mapping with hosts:, vars: or children:",
            )
            return name
        if id(data) in self._open_definitions:
            self.problems.add(line, f"group {name!r}: the definition contains itself through a YAML alias")
            return name

        self._open_definitions.add(id(data))
        for key, value in data.items():
            self._parse_section(name, key, value, _key_line(data, key))
        self._open_definitions.discard(id(data))
        return name

    def _parse_section(self, group: str, key: Any, value: Any, line: int | None) -> None:
        if key == "vars":
            self._parse_group_vars(group, value, line)
        elif key == "children":
            for child, child_data, child_line in self._section_items(group, "children", value, line):
                self._add_child(group, self._parse_group(child, child_data, child_line), child_line)
        elif key == "hosts":
            for pattern, host_data, host_line in self._section_items(group, "hosts", value, line):
                self._parse_host_entry(group, pattern, host_data, host_line)
        else:
            self.problems.add(line, f"group {group!r}: {_describe_unexpected_section(key)}")

    def _section_items(
        self, group: str, section: str, value: Any, line: int | None
    ) -> list[tuple[Any, Any, int | None]]:
        """Return (name, definition, line) for each entry of a ``hosts:`` or ``children:`` section.

        A single name written as a string is accepted, as Ansible does.
        """
        if value is None:
            return []
        if isinstance(value, str):
            return [(value, None, line)]
        if not isinstance(value, dict):
            noun = "host" if section == "hosts" else "group"
            self.problems.add(
                line,
                f"group {group!r}: {section}: is {describe_type(value)}; expected a mapping of {noun} names,"
                f" with one 'name:' per line",
            )
            return []
        return [(name, data, _key_line(value, name)) for name, data in value.items()]

    def _parse_group_vars(self, group: str, value: Any, line: int | None) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            self.problems.add(
                line, f"group {group!r}: vars: is {describe_type(value)}; expected a mapping of variables"
            )
            return
        entry = self.layout.groups[group]
        for name, var_value in value.items():
            var_line = _key_line(value, name)
            if not self._check_variable_name(f"group {group!r}", name, var_line):
                continue
            if name == PRIORITY_VARIABLE:
                self._set_priority(group, var_value, var_line)
            else:
                entry.variables[name] = Setting(name, var_value, var_line, group, self.problems.path)

    def _set_priority(self, group: str, value: Any, line: int | None) -> None:
        # Ansible converts the value with int(), so a string of digits is accepted too.
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(
                line, f"group {group!r}: {PRIORITY_VARIABLE}: {show(value)} is invalid; expected an integer"
            )
            return
        self.layout.groups[group].priority = value

    def _parse_host_entry(self, group: str, pattern: Any, data: Any, line: int | None) -> None:
        if not self._check_name("host", pattern, line):
            return
        try:
            names, port = _expand_host_pattern(pattern)
        except ValueError as error:
            self.problems.add(line, f"host {pattern!r}: {error}")
            return
        if data is not None and not isinstance(data, dict):
            self.problems.add(
                line,
                f"host {pattern!r}: the entry is {describe_type(data)}; expected a mapping of variables, or nothing",
            )
            data = None

        # One Setting per written value, shared by every host of a range, so that a
        # bad value is reported once.
        settings = self._host_settings(pattern, data or {}, port, line)
        for name in names:
            host = self.layout.hosts.setdefault(name, HostEntry(line, self.problems.path))
            if group not in host.groups:
                host.groups.append(group)
            host.variables.update(settings)

    def _host_settings(self, pattern: str, data: dict, port: int | None, line: int | None) -> dict[str, Setting]:
        settings: dict[str, Setting] = {}
        if port is not None:
            settings["ansible_port"] = Setting("ansible_port", port, line, None, self.problems.path)
        for name, value in data.items():
            var_line = _key_line(data, name)
            if not self._check_variable_name(f"host {pattern!r}", name, var_line):
                continue
            if name in SECTIONS:
                self.problems.add(
                    var_line,
                    f"host {pattern!r}: {name}: is not valid in a host entry;"
                    " a host's variables go directly under its name",
                )
            elif name == PRIORITY_VARIABLE:
                self.problems.add(
                    var_line,
                    f"host {pattern!r}: {PRIORITY_VARIABLE} applies only to groups; move it to a group's vars:",
                )
            else:
                settings[name] = Setting(name, value, var_line, None, self.problems.path)
        return settings

    def _add_group(self, name: str, line: int | None) -> None:
        entry = self.layout.groups.setdefault(name, _GroupEntry(line))
        if entry.line is None and line is not None:
            entry.line, entry.path = line, self.problems.path

    def _add_child(self, parent: str, child: str | None, line: int | None) -> None:
        if child is None:
            return
        if child == "all":
            self.problems.add(
                line, f"group {parent!r}: children: group 'all' contains every group and cannot be a child"
            )
            return
        self.layout.groups[parent].children.setdefault(child, (line, self.problems.path))

    def _check_name(self, kind: str, name: Any, line: int | None) -> bool:
        problem = _name_problem(name)
        if problem:
            self.problems.add(line, f"{kind} name {problem}")
        return problem is None

    def _check_variable_name(self, owner: str, name: Any, line: int | None) -> bool:
        if isinstance(name, str) and name:
            return True
        self.problems.add(line, f"{owner}: variable name {show(name)} is invalid; expected a non-empty string")
        return False


def _key_line(mapping: dict, key: Any) -> int | None:
    return getattr(mapping, "key_lines", {}).get(key)


def _name_problem(name: Any) -> str | None:
    """Return why ``name`` is not a valid host or group name, or None when it is."""
    if name is None or name == "":
        return "is empty"
    if not isinstance(name, str):
        return f"{show(name)} is {describe_type(name)}; quote it to make it a string"
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        return f"{show(name)} is invalid; it contains whitespace or a control character"
    return None


def _describe_unexpected_section(key: Any) -> str:
    if key in VARIABLES or key in ALIASES:
        return f"unexpected key {key!r}; variables go under vars:"
    suggestion = difflib.get_close_matches(str(key), SECTIONS, n=1, cutoff=0.6)
    if suggestion:
        return f"unexpected key {key!r}; did you mean {suggestion[0]!r}?"
    return f"unexpected key {key!r}; expected hosts:, vars: or children:"


def check_distinct_names(layout: Layout, problems: Problems) -> None:
    """Add a problem for each name used for both a host and a group, which --limit cannot tell apart."""
    for name, host in layout.hosts.items():
        group = layout.groups.get(name)
        if group is not None:
            group_where = "a built-in group"
            if group.line is not None:
                group_where = f"line {group.line}" if group.path == host.path else f"{group.path}:{group.line}"
            problems.add(host.line, f"{name!r} is both a host and a group ({group_where}); rename one of them", host.path)


def check_has_hosts(layout: Layout, first_line: int | None, problems: Problems) -> None:
    # A structural problem already explains why no host was found, so it is reported alone.
    if not layout.hosts and not problems:
        problems.add(first_line, "the inventory defines no hosts; list them under all: hosts: or a group's hosts:")


_RANGE = re.compile(r"\[([^\[\]]*:[^\[\]]*)\]")


def _expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """Expand an Ansible host pattern such as ``gpu-[01:08].example.internal:2222``.

    Returns the host names and the port written after the last colon, or None.
    Raises ValueError, with the reason, for a malformed range.
    """
    address, port = _split_port(pattern)
    return _expand_ranges(address), port


def _split_port(pattern: str) -> tuple[str, int | None]:
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::([0-9]+))?", pattern)
    if bracketed and is_ipv6(bracketed.group(1)):
        port = bracketed.group(2)
        return bracketed.group(1), int(port) if port else None

    # A bare IPv6 address has several colons outside brackets and carries no port.
    if _RANGE.sub("", pattern).count(":") == 1:
        host, _, port = pattern.rpartition(":")
        if host and re.fullmatch(r"[0-9]+", port):
            return host, int(port)
    return pattern, None


def is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def _expand_ranges(name: str) -> list[str]:
    match = _RANGE.search(name)
    if not match:
        return [name]
    head, tail = name[: match.start()], name[match.end() :]
    names: list[str] = []
    for piece in _range_values(match.group(1)):
        names.extend(_expand_ranges(head + piece + tail))
        if len(names) > MAX_RANGE_HOSTS:
            raise ValueError(f"the ranges expand to more than {MAX_RANGE_HOSTS} hosts")
    return names


def _range_values(spec: str) -> list[str]:
    """Return the values of one range ``begin:end[:step]``, numeric or single letters, as Ansible expands them."""
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"range [{spec}] is invalid; expected [begin:end] or [begin:end:step]")
    begin, end = parts[0] or "0", parts[1]
    step = parts[2] if len(parts) == 3 else "1"
    if not end:
        raise ValueError(f"range [{spec}] has no end")
    if not re.fullmatch(r"[0-9]+", step) or int(step) < 1:
        raise ValueError(f"range [{spec}] has an invalid step; expected a whole number of at least 1")

    if re.fullmatch(r"[0-9]+", begin) and re.fullmatch(r"[0-9]+", end):
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise ValueError(
                f"range [{spec}] is invalid; a zero-padded begin and its end need the same number of digits"
            )
        if int(begin) > int(end):
            raise ValueError(f"range [{spec}] is invalid; begin is above end")
        if (int(end) - int(begin)) // int(step) >= MAX_RANGE_HOSTS:
            raise ValueError(f"range [{spec}] expands to more than {MAX_RANGE_HOSTS} hosts")
        return [str(number).zfill(width) for number in range(int(begin), int(end) + 1, int(step))]

    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        if letters.index(begin) > letters.index(end):
            raise ValueError(f"range [{spec}] is invalid; begin is after end")
        return list(letters[letters.index(begin) : letters.index(end) + 1 : int(step)])
    raise ValueError(f"range [{spec}] is invalid; expected numbers or single letters")
