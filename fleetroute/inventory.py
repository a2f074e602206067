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
Variables that fleetroute does not know are kept in ``Host.variables`` and ignored,
unless their name is close to a known one, which is reported as a likely typo.

Where this module follows Ansible, the source is ansible-core:
``plugins/inventory/yaml.py`` (sections, strings accepted as single names),
``inventory/helpers.py`` (``sort_groups``: depth, priority, name) and
``inventory/manager.py`` (``order_patterns``, ``split_host_pattern``, subscripts).
fleetroute is stricter than Ansible, which only warns about unexpected keys and
malformed group definitions; here they are errors.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import ipaddress
import json
import math
import os
import posixpath
import re
import shlex
import string
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetroute.errors import InventoryError
from fleetroute.settings import PROBES, VARIABLES, HostSettings, Variable, find_conflicts

SECTIONS = ("hosts", "vars", "children")
PRIORITY_VARIABLE = "ansible_group_priority"
# Local paths on the workstation: "~" is expanded and relative paths start from the
# inventory file's directory.
LOCAL_PATH_VARIABLES = ("ssh_config_file", "ansible_ssh_private_key_file")
# Older spellings that Ansible's ssh connection plugin still reads. fleetroute reads
# each one as the variable it stands for.
ALIASES = {
    "ansible_ssh_host": "ansible_host",
    "ansible_ssh_port": "ansible_port",
    "ansible_ssh_user": "ansible_user",
    "ansible_private_key_file": "ansible_ssh_private_key_file",
}
# Values passed to ssh or a shell as one word.
SINGLE_WORD_VARIABLES = frozenset({"ansible_host", "ansible_user", "run_as"})
# Ansible's own variables, never reported as misspellings of a fleetroute variable
# even when their names are close (ansible_user_id and ansible_user, for example).
ANSIBLE_VARIABLES = frozenset(
    {
        "ansible_become",
        "ansible_become_exe",
        "ansible_become_flags",
        "ansible_become_method",
        "ansible_become_pass",
        "ansible_become_password",
        "ansible_become_user",
        "ansible_connection",
        "ansible_host_key_checking",
        "ansible_hostname",
        "ansible_network_os",
        "ansible_password",
        "ansible_pipelining",
        "ansible_python_interpreter",
        "ansible_remote_tmp",
        "ansible_scp_extra_args",
        "ansible_sftp_extra_args",
        "ansible_shell_executable",
        "ansible_shell_type",
        "ansible_ssh_args",
        "ansible_ssh_common_args",
        "ansible_ssh_executable",
        "ansible_ssh_extra_args",
        "ansible_ssh_host_key_checking",
        "ansible_ssh_pass",
        "ansible_ssh_pipelining",
        "ansible_ssh_retries",
        "ansible_ssh_timeout",
        "ansible_timeout",
        "ansible_user_id",
    }
)
SUGGESTION_CUTOFF = 0.8  # minimum difflib similarity for an unknown name to count as a typo
# flag:NAME names the flag as the job's arguments spell it, dashes included, because
# the router compares arguments with NAME and NAME= literally.
INPUT_RULE = re.compile(
    r"first-file|arg:[1-9][0-9]*|flag:--?[A-Za-z0-9][A-Za-z0-9_.-]*|env:[A-Za-z_][A-Za-z0-9_]*"
)
INPUT_RULE_FORMS = (
    "first-file, arg:N (N a whole number of at least 1), flag:NAME (the flag with its dashes,"
    " such as flag:--input) or env:VAR (a shell variable name)"
)
# A range that expands to more hosts than this is taken for a typo, such as [1:10000000].
MAX_RANGE_HOSTS = 10_000
MAX_SHOWN_CHARS = 60  # messages cut values that are longer
MAX_SHOWN_NAMES = 3  # longer lists of hosts or groups end with "and N more"
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Host:
    """One inventory host with its merged variables and validated settings.

    ``groups`` lists every group the host belongs to, ancestors included, in
    inventory order and without ``all``. As in Ansible, a host in no other group is
    in ``ungrouped``. ``variables`` contains every merged variable as written in the
    file, including the ones fleetroute ignores. ``settings`` has defaults filled in
    and local paths resolved.
    """

    name: str
    groups: tuple[str, ...]
    variables: dict[str, Any]
    settings: HostSettings


@dataclass(frozen=True)
class Inventory:
    """A loaded and validated inventory.

    ``hosts`` is in file order. ``groups`` maps every group, including ``all`` and
    ``ungrouped``, to the names of its hosts and its descendants' hosts, in
    inventory order.
    """

    path: Path
    hosts: dict[str, Host]
    groups: dict[str, tuple[str, ...]]

    def select(self, limit: str | None) -> list[Host]:
        """Return the hosts that an Ansible ``--limit`` expression selects, in inventory order.

        ``None`` selects every host. The expression supports what ``ansible --limit``
        does: ``all`` or ``*``, host and group names, fnmatch globs, ``~regex``,
        subscripts (``gpus[0]``, ``gpus[0:2]``), unions separated by commas or colons,
        ``&pattern`` intersections, ``!pattern`` exclusions and ``@file`` (one pattern
        a line, read from the current directory). Raises InventoryError naming each
        pattern that matches no host, when the whole expression selects none, when
        it is empty or blank, and when an ``@file`` cannot be read.
        """
        if limit is None:
            return list(self.hosts.values())
        patterns = _order_patterns(_read_limit_files(self.path, _split_limit(limit, self.hosts)))
        if not patterns:
            # An empty limit is more likely an unset shell variable than a request for every host.
            raise InventoryError([f"{self.path}: limit {limit!r} is empty; use 'all' to select every host"])

        problems: list[str] = []
        selected: list[str] = []
        for pattern in patterns:
            matched = self._match_pattern(pattern, problems)
            selected = _combine(selected, pattern, matched)
        if problems:
            raise InventoryError(problems)
        if not selected:
            raise InventoryError([f"{self.path}: limit {limit!r} selects no hosts"])

        chosen = set(selected)
        return [host for name, host in self.hosts.items() if name in chosen]

    def _match_pattern(self, pattern: str, problems: list[str]) -> list[str]:
        """Return the host names that one pattern matches, ignoring a leading ``&`` or ``!``.

        Appends a message to ``problems`` when the pattern matches nothing.
        """
        body = pattern[1:] if pattern[0] in "&!" else pattern
        if body in self.hosts:
            return [body]

        expression, subscript = _split_subscript(body)
        try:
            regex = _compile_pattern(expression)
        except re.error as error:
            problems.append(f"{self.path}: limit pattern {body!r} is not a valid regular expression: {error}")
            return []

        groups = [name for name in self.groups if regex.match(name)]
        names = [host for group in groups for host in self.groups[group]]
        if not groups or expression.startswith("~") or any(ch in expression for ch in ".?*["):
            names += [host for host in self.hosts if regex.match(host)]
        names = list(dict.fromkeys(names))

        try:
            names = _apply_subscript(names, subscript)
        except IndexError:
            problems.append(
                f"{self.path}: limit pattern {body!r} is out of range: {expression!r} matches {len(names)} hosts"
            )
            return []
        if not names:
            problems.append(self._describe_no_match(body, groups))
        return names

    def _describe_no_match(self, pattern: str, groups: list[str]) -> str:
        """Return the message for a limit pattern that matches no host."""
        if groups:
            return f"{self.path}: limit pattern {pattern!r} matches only groups without hosts: {_quote_list(groups)}"
        known = [name for name, hosts in self.groups.items() if name != "ungrouped" or hosts]
        close = difflib.get_close_matches(pattern, [*self.hosts, *known], n=1, cutoff=SUGGESTION_CUTOFF)
        hint = f" did you mean {close[0]!r}?" if close else ""
        return (
            f"{self.path}: limit pattern {pattern!r} matches no host or group;{hint}"
            f" known groups: {', '.join(sorted(known))}"
        )


class VaultEncrypted:
    """A value tagged ``!vault`` (ansible-vault ciphertext), which fleetroute keeps but cannot decrypt."""

    def __init__(self, ciphertext: str):
        self.ciphertext = ciphertext

    def __repr__(self) -> str:
        return "<ansible-vault encrypted value>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VaultEncrypted) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


def load_inventory(path: str | Path) -> Inventory:
    """Load, validate and resolve the YAML inventory at ``path``.

    Raises InventoryError listing every problem found. An unreadable file or invalid
    YAML stops the load at once. Otherwise the problems are duplicate keys, malformed
    groups or hosts, group cycles, names used for both a host and a group, an
    inventory without hosts, invalid or missing variables and likely misspelled
    variable names. Each message starts with ``FILE:LINE:`` where the line is known.
    """
    path = Path(path)
    problems = _Problems(path)

    document, first_line = _read_yaml(path, problems)
    layout = _LayoutParser(problems).parse(document, first_line)
    _check_distinct_names(layout, problems)
    _check_has_hosts(layout, first_line, problems)

    graph = _GroupGraph.build(layout, _find_cycles(layout, problems))
    resolved = [_resolve_host(name, entry, layout, graph) for name, entry in layout.hosts.items()]
    _validate_settings(layout, resolved, problems)
    _check_aliases(resolved, problems)
    _check_required(resolved, graph, problems)
    _check_conflicts(resolved, problems)
    problems.raise_if_any()

    return _build_inventory(path, layout, resolved)


# Problems ------------------------------------------------------------------------


class _Problems:
    """Problems found in one inventory file, each kept with the line it concerns."""

    def __init__(self, path: Path):
        self.path = path
        self._entries: list[tuple[int, int, str]] = []

    def add(self, line: int | None, text: str) -> None:
        """Record a problem at ``line`` (1-based), or for the whole file when ``line`` is None."""
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        self._entries.append((line or 0, len(self._entries), f"{where}: {text}"))

    def __bool__(self) -> bool:
        return bool(self._entries)

    def raise_if_any(self) -> None:
        """Raise InventoryError with every recorded problem, sorted by line."""
        if self._entries:
            raise InventoryError([message for _, _, message in sorted(self._entries)])


# YAML reading --------------------------------------------------------------------


class _LineDict(dict):
    """A YAML mapping that also records the 1-based line of each key."""

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[Any, int] = {}


class _InventoryLoader(yaml.SafeLoader):
    """SafeLoader that builds ``_LineDict`` mappings and reads Ansible's !vault and !unsafe tags."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _LineDict:
        self.flatten_mapping(node)
        mapping = _LineDict()
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping


def _construct_line_dict(loader: _InventoryLoader, node: yaml.MappingNode) -> Iterator[_LineDict]:
    mapping = _LineDict()
    yield mapping
    constructed = loader.construct_mapping(node)
    mapping.update(constructed)
    mapping.key_lines.update(constructed.key_lines)


def _construct_unsafe(loader: _InventoryLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return str(loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_InventoryLoader.add_constructor("tag:yaml.org,2002:map", _construct_line_dict)
_InventoryLoader.add_constructor("!vault", lambda loader, node: VaultEncrypted(loader.construct_scalar(node)))
_InventoryLoader.add_constructor("!unsafe", _construct_unsafe)


def _read_yaml(path: Path, problems: _Problems) -> tuple[Any, int | None]:
    """Parse the inventory file and return its document and the line it starts on.

    Mappings in the document are ``_LineDict``s. Duplicate keys are added to
    ``problems``. Raises InventoryError at once for an unreadable file or invalid
    YAML, because nothing else can be checked then.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InventoryError([f"{path}: cannot read the inventory: {error.strerror or error}"]) from None
    except UnicodeDecodeError as error:
        message = f"{path}: the inventory is not UTF-8 text (invalid byte at offset {error.start})"
        raise InventoryError([message]) from None

    try:
        return _compose_and_construct(text, problems)
    except yaml.MarkedYAMLError as error:
        raise InventoryError([_describe_yaml_error(path, error)]) from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        character = f"U+{error.character:04X}" if isinstance(error.character, int) else repr(error.character)
        raise InventoryError([f"{path}:{line}: invalid YAML: character {character} is not allowed"]) from None
    except RecursionError:
        # PyYAML's composer recurses once per nesting level.
        raise InventoryError([f"{path}: the YAML document is nested too deeply to parse"]) from None


def _compose_and_construct(text: str, problems: _Problems) -> tuple[Any, int | None]:
    # The loader's constructor already reads the text and raises ReaderError.
    loader = _InventoryLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _report_duplicate_keys(root, problems)
        return loader.construct_document(root), root.start_mark.line + 1
    finally:
        loader.dispose()


def _describe_yaml_error(path: Path, error: yaml.MarkedYAMLError) -> str:
    """Return ``FILE:LINE:COLUMN: invalid YAML: ...`` for a parser or constructor error."""
    mark = error.problem_mark or error.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else f"{path}"
    text = error.problem or "the document cannot be parsed"
    if error.context:
        context_line = f" at line {error.context_mark.line + 1}" if error.context_mark else ""
        text = f"{text} ({error.context}{context_line})"
    return f"{where}: invalid YAML: {text}"


def _report_duplicate_keys(root: yaml.Node, problems: _Problems) -> None:
    """Add a problem for each key that appears twice in one mapping.

    PyYAML keeps the last value silently. Keys brought in by a ``<<`` merge may be
    overridden and are not duplicates. Runs on the composed nodes, before merges
    are flattened.
    """
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))

        if isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
        if not isinstance(node, yaml.MappingNode):
            continue

        first_lines: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            pending.extend((key_node, value_node))
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == MERGE_TAG:
                continue
            identity = (key_node.tag, key_node.value)
            line = key_node.start_mark.line + 1
            if identity in first_lines:
                problems.add(
                    line,
                    f"duplicate key {key_node.value!r} (first at line {first_lines[identity]}); YAML would keep only"
                    " this one, so merge the two entries or remove one",
                )
            else:
                first_lines[identity] = line


# Structure -----------------------------------------------------------------------


@dataclass
class _Setting:
    """One variable value as written in the inventory, and where it was written."""

    name: str
    value: Any
    line: int | None
    group: str | None  # None when written in a host's entry


@dataclass
class _GroupEntry:
    line: int | None  # first definition; None for the implicit all and ungrouped
    variables: dict[str, _Setting] = field(default_factory=dict)
    children: dict[str, int | None] = field(default_factory=dict)  # child name -> line of the reference
    priority: int = 1


@dataclass
class _HostEntry:
    line: int | None  # first entry
    variables: dict[str, _Setting] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # groups that list the host under hosts:


@dataclass
class _Layout:
    groups: dict[str, _GroupEntry] = field(default_factory=dict)
    hosts: dict[str, _HostEntry] = field(default_factory=dict)


class _LayoutParser:
    """Parser that walks the YAML document like Ansible's yaml inventory plugin and builds a ``_Layout``.

    A group or host may be defined in several places. The definitions are merged and,
    as in Ansible, a variable set twice keeps the value read last.
    """

    def __init__(self, problems: _Problems):
        self.problems = problems
        self.layout = _Layout()
        self._open_definitions: set[int] = set()  # group mappings being parsed, to stop on recursive aliases

    def parse(self, document: Any, first_line: int | None) -> _Layout:
        self._add_group("all", None)
        self._add_group("ungrouped", None)
        if document is None:
            return self.layout
        if not isinstance(document, dict):
            self.problems.add(
                first_line,
                f"the top level is {_describe_type(document)}; expected a mapping of groups, starting with all:",
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
                f"group {name!r}: the definition is {_describe_type(data)};"
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
                f"group {group!r}: {section}: is {_describe_type(value)}; expected a mapping of {noun} names,"
                f" with one 'name:' per line",
            )
            return []
        return [(name, data, _key_line(value, name)) for name, data in value.items()]

    def _parse_group_vars(self, group: str, value: Any, line: int | None) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            self.problems.add(
                line, f"group {group!r}: vars: is {_describe_type(value)}; expected a mapping of variables"
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
                entry.variables[name] = _Setting(name, var_value, var_line, group)

    def _set_priority(self, group: str, value: Any, line: int | None) -> None:
        # Ansible converts the value with int(), so a string of digits is accepted too.
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(
                line, f"group {group!r}: {PRIORITY_VARIABLE}: {_show(value)} is invalid; expected an integer"
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
                f"host {pattern!r}: the entry is {_describe_type(data)}; expected a mapping of variables, or nothing",
            )
            data = None

        # One _Setting per written value, shared by every host of a range, so that a
        # bad value is reported once.
        settings = self._host_settings(pattern, data or {}, port, line)
        for name in names:
            host = self.layout.hosts.setdefault(name, _HostEntry(line))
            if group not in host.groups:
                host.groups.append(group)
            host.variables.update(settings)

    def _host_settings(self, pattern: str, data: dict, port: int | None, line: int | None) -> dict[str, _Setting]:
        settings: dict[str, _Setting] = {}
        if port is not None:
            settings["ansible_port"] = _Setting("ansible_port", port, line, None)
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
                settings[name] = _Setting(name, value, var_line, None)
        return settings

    def _add_group(self, name: str, line: int | None) -> None:
        entry = self.layout.groups.setdefault(name, _GroupEntry(line))
        if entry.line is None:
            entry.line = line

    def _add_child(self, parent: str, child: str | None, line: int | None) -> None:
        if child is None:
            return
        if child == "all":
            self.problems.add(
                line, f"group {parent!r}: children: group 'all' contains every group and cannot be a child"
            )
            return
        self.layout.groups[parent].children.setdefault(child, line)

    def _check_name(self, kind: str, name: Any, line: int | None) -> bool:
        problem = _name_problem(name)
        if problem:
            self.problems.add(line, f"{kind} name {problem}")
        return problem is None

    def _check_variable_name(self, owner: str, name: Any, line: int | None) -> bool:
        if isinstance(name, str) and name:
            return True
        self.problems.add(line, f"{owner}: variable name {_show(name)} is invalid; expected a non-empty string")
        return False


def _key_line(mapping: dict, key: Any) -> int | None:
    return getattr(mapping, "key_lines", {}).get(key)


def _name_problem(name: Any) -> str | None:
    """Return why ``name`` is not a valid host or group name, or None when it is."""
    if name is None or name == "":
        return "is empty"
    if not isinstance(name, str):
        return f"{_show(name)} is {_describe_type(name)}; quote it to make it a string"
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        return f"{_show(name)} is invalid; it contains whitespace or a control character"
    return None


def _describe_unexpected_section(key: Any) -> str:
    if key in VARIABLES or key in ALIASES:
        return f"unexpected key {key!r}; variables go under vars:"
    suggestion = difflib.get_close_matches(str(key), SECTIONS, n=1, cutoff=0.6)
    if suggestion:
        return f"unexpected key {key!r}; did you mean {suggestion[0]!r}?"
    return f"unexpected key {key!r}; expected hosts:, vars: or children:"


def _check_distinct_names(layout: _Layout, problems: _Problems) -> None:
    """Add a problem for each name used for both a host and a group, which --limit cannot tell apart."""
    for name, host in layout.hosts.items():
        group = layout.groups.get(name)
        if group is not None:
            group_where = f"line {group.line}" if group.line is not None else "a built-in group"
            problems.add(host.line, f"{name!r} is both a host and a group ({group_where}); rename one of them")


def _check_has_hosts(layout: _Layout, first_line: int | None, problems: _Problems) -> None:
    # A structural problem already explains why no host was found, so it is reported alone.
    if not layout.hosts and not problems:
        problems.add(first_line, "the inventory defines no hosts; list them under all: hosts: or a group's hosts:")


# Host name patterns --------------------------------------------------------------

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
    if bracketed and _is_ipv6(bracketed.group(1)):
        port = bracketed.group(2)
        return bracketed.group(1), int(port) if port else None

    # A bare IPv6 address has several colons outside brackets and carries no port.
    if _RANGE.sub("", pattern).count(":") == 1:
        host, _, port = pattern.rpartition(":")
        if host and re.fullmatch(r"[0-9]+", port):
            return host, int(port)
    return pattern, None


def _is_ipv6(text: str) -> bool:
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


# Group graph ---------------------------------------------------------------------


def _find_cycles(layout: _Layout, problems: _Problems) -> set[tuple[str, str]]:
    """Add a problem for each group cycle and return the (parent, child) references that close them."""
    state: dict[str, str] = {}
    closing: set[tuple[str, str]] = set()

    def visit(group: str, path: list[str]) -> None:
        state[group] = "open"
        for child, line in layout.groups[group].children.items():
            if state.get(child) == "open":
                cycle = path[path.index(child) :] + [child]
                problems.add(
                    line,
                    f"group cycle: {' -> '.join(cycle)}; a group cannot contain itself,"
                    " so remove one of these children",
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
class _GroupGraph:
    """Parents and depth of each group, with cycles already broken.

    ``depth`` is the length of the longest path from ``all``, as in Ansible, and
    orders variable precedence.
    """

    parents: dict[str, list[str]]
    depth: dict[str, int]

    @classmethod
    def build(cls, layout: _Layout, skipped: set[tuple[str, str]]) -> _GroupGraph:
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


# Merging -------------------------------------------------------------------------


@dataclass
class _ResolvedHost:
    name: str
    entry: _HostEntry
    groups: tuple[str, ...]  # inventory order, without all
    settings: dict[str, _Setting]  # merged, by variable name


def _resolve_host(name: str, entry: _HostEntry, layout: _Layout, graph: _GroupGraph) -> _ResolvedHost:
    """Return the host's groups and its variables merged in Ansible's precedence order."""
    direct = [group for group in entry.groups if group != "all"] or ["ungrouped"]
    members: set[str] = set()
    for group in direct:
        members |= graph.ancestors(group)

    ordered = sorted(members, key=lambda group: (graph.depth[group], layout.groups[group].priority, group))
    merged: dict[str, _Setting] = {}
    for group in ordered:
        merged.update(layout.groups[group].variables)
    merged.update(entry.variables)

    groups = tuple(group for group in layout.groups if group in members and group != "all")
    return _ResolvedHost(name, entry, groups, merged)


# Validation ----------------------------------------------------------------------


def _validate_settings(layout: _Layout, resolved: list[_ResolvedHost], problems: _Problems) -> None:
    """Add a problem for each invalid value and each likely misspelled variable name.

    Every value written in the file is checked once, including values that every
    host overrides. The message names the hosts that use the value.
    """
    users: dict[int, list[str]] = {}
    for host in resolved:
        for setting in host.settings.values():
            users.setdefault(id(setting), []).append(host.name)

    for setting in _written_settings(layout):
        where = _describe_where(setting, users.get(id(setting), []))
        for text in _setting_problems(setting):
            problems.add(setting.line, f"{where}: {text}")


def _written_settings(layout: _Layout) -> list[_Setting]:
    settings: dict[int, _Setting] = {}
    for group in layout.groups.values():
        settings.update((id(setting), setting) for setting in group.variables.values())
    for host in layout.hosts.values():
        settings.update((id(setting), setting) for setting in host.variables.values())
    return list(settings.values())


def _setting_problems(setting: _Setting) -> list[str]:
    variable = VARIABLES.get(ALIASES.get(setting.name, setting.name))
    if variable is not None:
        return _check_value(setting.name, variable, setting.value)
    suggestion = _suggest_variable(setting.name)
    if suggestion:
        return [f"{setting.name}: unknown variable; did you mean {suggestion!r}?"]
    return []


def _suggest_variable(name: str) -> str | None:
    """Return the known variable that ``name`` is probably a typo of, or None."""
    if name in ANSIBLE_VARIABLES:
        return None
    candidates = [*VARIABLES, *ALIASES, PRIORITY_VARIABLE]
    matches = difflib.get_close_matches(name.lower(), candidates, n=1, cutoff=SUGGESTION_CUTOFF)
    return matches[0] if matches else None


def _check_aliases(resolved: list[_ResolvedHost], problems: _Problems) -> None:
    """Add a problem where a host gets both an old and a current spelling with different values."""
    conflicts: dict[tuple[int, int], tuple[_Setting, _Setting, list[str]]] = {}
    for host in resolved:
        for alias, name in ALIASES.items():
            old, current = host.settings.get(alias), host.settings.get(name)
            if old is not None and current is not None and old.value != current.value:
                conflicts.setdefault((id(old), id(current)), (old, current, []))[2].append(host.name)

    for old, current, hosts in conflicts.values():
        current_line = f" (line {current.line})" if current.line is not None else ""
        problems.add(
            old.line,
            f"{_describe_where(old, hosts)}: {old.name}: {_show(old.value)} conflicts with {current.name}:"
            f" {_show(current.value)}{current_line}; remove {old.name}, the older spelling of {current.name}",
        )


def _check_required(resolved: list[_ResolvedHost], graph: _GroupGraph, problems: _Problems) -> None:
    """Add one problem per required variable that some hosts lack, naming them and where to set it."""
    for name, variable in VARIABLES.items():
        if not variable.required:
            continue
        aliases = {alias for alias, target in ALIASES.items() if target == name}
        missing = [host for host in resolved if name not in host.settings and not aliases & host.settings.keys()]
        if missing:
            problems.add(missing[0].entry.line, _describe_missing(name, variable, missing, graph))


def _check_conflicts(resolved: list[_ResolvedHost], problems: _Problems) -> None:
    """Add one problem per rule broken between a host's variables, such as a half-set secondary probe.

    Only valid values take part, so that an invalid one is reported once, by its own check.
    Hosts that break a rule through the same setting share one message.
    """
    shared: dict[tuple[str, int], tuple[_Setting | None, _ResolvedHost, list[str]]] = {}
    for host in resolved:
        values = {
            name: setting.value
            for name, setting in host.settings.items()
            if name in VARIABLES and not _check_value(name, VARIABLES[name], setting.value)
        }
        for conflict in find_conflicts(values):
            setting = host.settings.get(conflict.key)
            shared.setdefault((conflict.message, id(setting)), (setting, host, []))[2].append(host.name)

    for (message, _), (setting, first_host, hosts) in shared.items():
        line = setting.line if setting is not None else first_host.entry.line
        where = _describe_where(setting, hosts) if setting is not None else _describe_hosts(hosts)
        problems.add(line, f"{where}: {message}")


def _describe_missing(name: str, variable: Variable, hosts: list[_ResolvedHost], graph: _GroupGraph) -> str:
    shared = set.intersection(*(set(host.groups) for host in hosts)) - {"ungrouped"} | {"all"}
    groups = sorted(shared, key=lambda group: (-graph.depth[group], group))
    hosts_phrase = _describe_hosts([host.name for host in hosts])
    if len(hosts) == 1:
        place = f"the host's entry or in vars: of one of its groups: {_quote_list(groups, 'or')}"
    else:
        place = f"each host's entry or in vars: of a group they all belong to: {_quote_list(groups, 'or')}"
    return f"{hosts_phrase}: {name} is missing; it is required ({variable.description}). Set it in {place}"


def _describe_where(setting: _Setting, hosts: list[str]) -> str:
    """Return who a value applies to, such as ``host 'gpu1' (set in group 'whisper')``."""
    if setting.group is None:
        return _describe_hosts(hosts) if hosts else "a host entry"
    if not hosts:
        return f"group {setting.group!r}"
    return f"{_describe_hosts(hosts)} (set in group {setting.group!r})"


# Value checks --------------------------------------------------------------------


def _check_value(key: str, variable: Variable, value: Any) -> list[str]:
    """Return one message per problem of ``value`` as a value of ``variable``, or [] when it is valid.

    ``key`` is the name written in the file, which may be an older alias of the
    variable. Each message reads ``KEY: VALUE is invalid; expected ...``.
    """
    if isinstance(value, VaultEncrypted):
        return [
            f"{key}: the value is encrypted with ansible-vault, which fleetroute cannot decrypt; write it in plain text"
        ]
    if variable.kind == "str_list":
        return _check_str_list(key, value)

    expected = _KIND_CHECKS[variable.kind](variable, value)
    if expected is None and variable.name in _VALUE_RULES:
        expected = _VALUE_RULES[variable.name](value)
    if expected is None:
        return []
    if variable.kind in ("int", "number"):
        expected += _string_number_hint(value)
    return [_describe_invalid(key, value, expected)]


def _describe_invalid(key: str, value: Any, expected: str) -> str:
    return f"{key}: {_show(value)} is invalid; expected {expected}"


def _check_str(variable: Variable, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "a non-empty string"
    if "\0" in value:
        return "text without NUL bytes"
    return None


def _check_abs_path(variable: Variable, value: Any) -> str | None:
    if not isinstance(value, str) or not value.startswith("/"):
        return "an absolute path on the host, starting with /"
    if not value.isprintable():
        return "a path without control characters or NUL bytes"
    if any(part in (".", "..") for part in value.split("/")):
        return f"an absolute path without '.' or '..' components, such as {posixpath.normpath(value)!r}"
    return None


def _check_int(variable: Variable, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not _in_range(variable, value):
        return "an integer" + _describe_range(variable)
    return None


def _check_number(variable: Variable, value: Any) -> str | None:
    valid = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not valid or not _in_range(variable, value):
        return "a number" + _describe_range(variable)
    return None


def _check_bool(variable: Variable, value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _check_int_list(variable: Variable, value: Any) -> str | None:
    expected = "a non-empty YAML list of distinct whole numbers of at least 0, such as [0, 1]"
    if not isinstance(value, list) or not value:
        return expected
    if any(isinstance(item, bool) or not isinstance(item, int) or item < 0 for item in value):
        return expected
    if len(set(value)) != len(value):
        return expected
    return None


def _check_choice(variable: Variable, value: Any) -> str | None:
    if isinstance(value, str) and value in variable.choices:
        return None
    return "one of " + _quote_list(list(variable.choices), "or")


_KIND_CHECKS = {
    "str": _check_str,
    "abs_path": _check_abs_path,
    "int": _check_int,
    "number": _check_number,
    "bool": _check_bool,
    "choice": _check_choice,
    "int_list": _check_int_list,
}


def _check_str_list(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [_describe_invalid(key, value, f"a list of strings; write it as a YAML list: {_suggest_list(value)}")]
    if not isinstance(value, list):
        return [_describe_invalid(key, value, "a list of strings")]
    messages = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            messages.append(_describe_invalid(f"{key}[{index}]", item, "a string; quote it"))
        elif "\0" in item:
            messages.append(_describe_invalid(f"{key}[{index}]", item, "text without NUL bytes"))
    return messages


def _suggest_list(text: str) -> str:
    try:
        words = shlex.split(text)
    except ValueError:  # unbalanced quotes
        words = text.split()
    return json.dumps(words, ensure_ascii=False)


def _check_input_rule(value: str) -> str | None:
    return None if INPUT_RULE.fullmatch(value) else INPUT_RULE_FORMS


def _check_probe(value: str) -> str | None:
    # Any other non-empty text is a custom command, but a single word close to a
    # built-in probe name is far more likely a typo than a command.
    word = value.strip()
    if value in PROBES or any(ch.isspace() for ch in word):
        return None
    close = difflib.get_close_matches(word, PROBES, n=1, cutoff=0.75)
    if close:
        return f"{_quote_list(list(PROBES), 'or')}, or a custom command; did you mean {close[0]!r}?"
    return None


def _check_file_path(value: str) -> str | None:
    if posixpath.basename(value) in ("", ".", ".."):
        return "the absolute path of a file, not of a directory"
    return None


def _check_single_word(value: str) -> str | None:
    if any(ch.isspace() for ch in value) or value.startswith("-"):
        return "a single word without whitespace, not starting with -"
    return None


# Checks that run after the kind check passes, so the value has the right type.
_VALUE_RULES = {
    "input_rule": _check_input_rule,
    "probe": _check_probe,
    "secondary_probe": _check_probe,
    "workload_binary": _check_file_path,
    **{name: _check_single_word for name in SINGLE_WORD_VARIABLES},
}


def _in_range(variable: Variable, value: float) -> bool:
    low, high = variable.minimum, variable.maximum
    if low is not None and (value <= low if variable.exclusive_minimum else value < low):
        return False
    return high is None or value <= high


def _describe_range(variable: Variable) -> str:
    low, high = variable.minimum, variable.maximum
    exclusive = variable.exclusive_minimum
    if low is not None and high is not None and exclusive:
        return f" above {_number(low)} and at most {_number(high)}"
    if low is not None and high is not None:
        return f" from {_number(low)} to {_number(high)}"
    if low is not None:
        return f" above {_number(low)}" if exclusive else f" of at least {_number(low)}"
    if high is not None:
        return f" of at most {_number(high)}"
    return ""


def _string_number_hint(value: Any) -> str:
    """Return a hint for a number that YAML read as a string, such as "2" or 1e3; else ""."""
    if not isinstance(value, str):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    return f" (YAML reads this value as a string; write a plain number such as {_number(number)})"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# Building ------------------------------------------------------------------------


def _build_inventory(path: Path, layout: _Layout, resolved: list[_ResolvedHost]) -> Inventory:
    base_dir = path.parent.absolute()
    hosts = {host.name: _build_host(host, base_dir) for host in resolved}
    groups = {
        group: tuple(name for name, host in hosts.items() if group == "all" or group in host.groups)
        for group in layout.groups
    }
    return Inventory(path=path, hosts=hosts, groups=groups)


def _build_host(host: _ResolvedHost, base_dir: Path) -> Host:
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


# Limit patterns ------------------------------------------------------------------

# A pattern followed by [index] or [start:end], both ends included, as in Ansible.
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+):([0-9]*))\]$")


def _split_limit(limit: str, hosts: dict[str, Host]) -> list[str]:
    """Split a limit expression into patterns the way Ansible's ``split_host_pattern`` does.

    Commas separate patterns when the limit contains any. Otherwise colons do, except
    within brackets and in a host name or IPv6 address that contains colons.
    """
    text = limit.strip()
    if "," in text:
        parts = text.split(",")
    elif text.lstrip("!&") in hosts or _is_ipv6(text.lstrip("!&")):
        parts = [text]
    else:
        parts = re.findall(r"(?:[^\s:\[\]]|\[[^\]]*\])+", text)
    return [part.strip() for part in parts if part.strip()]


def _read_limit_files(inventory_path: Path, patterns: list[str]) -> list[str]:
    """Replace each ``@FILE`` pattern with the patterns listed in FILE, one a line."""
    expanded: list[str] = []
    for pattern in patterns:
        if not pattern.startswith("@"):
            expanded.append(pattern)
            continue
        try:
            lines = Path(pattern[1:]).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            raise InventoryError([f"{inventory_path}: cannot read the limit file {pattern[1:]!r}: {reason}"]) from None
        expanded.extend(line.strip() for line in lines if line.strip())
    return expanded


def _order_patterns(patterns: list[str]) -> list[str]:
    """Put plain patterns first, then ``&`` intersections, then ``!`` exclusions, as Ansible does.

    When there are patterns but no plain one, ``all`` is assumed.
    """
    if not patterns:
        return []
    plain = [pattern for pattern in patterns if pattern[0] not in "&!"]
    intersections = [pattern for pattern in patterns if pattern[0] == "&"]
    exclusions = [pattern for pattern in patterns if pattern[0] == "!"]
    return (plain or ["all"]) + intersections + exclusions


def _combine(selected: list[str], pattern: str, matched: list[str]) -> list[str]:
    if pattern[0] == "&":
        keep = set(matched)
        return [name for name in selected if name in keep]
    if pattern[0] == "!":
        drop = set(matched)
        return [name for name in selected if name not in drop]
    return list(dict.fromkeys(selected + matched))


def _split_subscript(pattern: str) -> tuple[str, tuple[int, int | None] | None]:
    if pattern.startswith("~"):
        return pattern, None
    match = _SUBSCRIPT.match(pattern)
    if not match:
        return pattern, None
    expression, index, start, end = match.groups()
    if index is not None:
        return expression, (int(index), None)
    return expression, (int(start), int(end) if end else -1)


def _apply_subscript(names: list[str], subscript: tuple[int, int | None] | None) -> list[str]:
    """Return the names that a subscript selects. Raises IndexError for an index out of range."""
    if subscript is None:
        return names
    start, end = subscript
    if end is None:
        return [names[start]]
    if end == -1:
        end = len(names) - 1
    return names[start : end + 1]


def _compile_pattern(expression: str) -> re.Pattern[str]:
    """Compile a ``~regex`` (matched at the start of a name) or an fnmatch glob (the whole name)."""
    if expression.startswith("~"):
        return re.compile(expression[1:])
    return re.compile(fnmatch.translate(expression))


# Message helpers -----------------------------------------------------------------


def _show(value: Any) -> str:
    """Return ``repr(value)`` cut to MAX_SHOWN_CHARS characters, or "an empty value" for None."""
    if value is None:
        return "an empty value"
    text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        return text[: MAX_SHOWN_CHARS - 3] + "..."
    return text


def _describe_hosts(names: list[str]) -> str:
    noun = "host" if len(names) == 1 else "hosts"
    return f"{noun} {_quote_list(names)}"


def _quote_list(names: list[str], conjunction: str = "and") -> str:
    """Return ``'a', 'b' and 'c'``, ending with "and N more" past MAX_SHOWN_NAMES names."""
    quoted = [repr(name) for name in names[:MAX_SHOWN_NAMES]]
    rest = len(names) - len(quoted)
    if rest:
        return f"{', '.join(quoted)} {conjunction} {rest} more"
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"


def _describe_type(value: Any) -> str:
    """Return the YAML kind of ``value`` with its article, such as "a list" or "an integer"."""
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "an empty value" if value is None else f"a {type(value).__name__}"
