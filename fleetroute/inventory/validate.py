"""Checks of every variable value, required variables, aliases and rules between variables."""

from __future__ import annotations

import difflib
import json
import math
import posixpath
import shlex
from pathlib import Path
from typing import Any

from fleetroute.inventory.constants import (
    ALIASES,
    ANSIBLE_VARIABLES,
    INPUT_RULE,
    INPUT_RULE_FORMS,
    PRIORITY_VARIABLE,
    SINGLE_WORD_VARIABLES,
    SUGGESTION_CUTOFF,
)
from fleetroute.inventory.layout import Layout, Setting
from fleetroute.inventory.messages import (
    Problems,
    describe_hosts,
    describe_type,
    quote_list,
    show,
)
from fleetroute.inventory.model import Notice
from fleetroute.inventory.resolve import GroupGraph, ResolvedHost
from fleetroute.inventory.yaml_source import VaultEncrypted
from fleetroute.settings import (
    PROBES,
    SECRET_VARIABLES,
    VARIABLES,
    Variable,
    find_conflicts,
)


def validate_settings(layout: Layout, resolved: list[ResolvedHost], problems: Problems) -> None:
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
            problems.add(setting.line, f"{where}: {text}", setting.path)


def _written_settings(layout: Layout) -> list[Setting]:
    settings: dict[int, Setting] = {}
    for entry in [*layout.groups.values(), *layout.hosts.values()]:
        settings.update((id(setting), setting) for setting in entry.variables.values())
        settings.update((id(setting), setting) for setting in entry.file_variables.values())
    return list(settings.values())


def _setting_problems(setting: Setting) -> list[str]:
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


# Ansible connection variables that change how Ansible reaches a host but that
# fleetroute does not read, with what to do instead. Each is logged as a warning.
UNUSED_CONNECTION_VARIABLES = {
    "ansible_password": "fleetroute logs in with keys or ssh-agent only",
    "ansible_ssh_pass": "fleetroute logs in with keys or ssh-agent only",
    "ansible_ssh_args": "set SSH options in the SSH config (ssh_config_file)",
    "ansible_ssh_extra_args": "set SSH options in the SSH config (ssh_config_file), or ProxyJump in ansible_ssh_common_args",
    "ansible_ssh_timeout": "use ConnectTimeout in the SSH config or --connect-timeout",
    "ansible_timeout": "use ConnectTimeout in the SSH config or --connect-timeout",
    "ansible_ssh_executable": "fleetroute connects with its own SSH client (paramiko), reading the SSH config",
    "ansible_become_exe": "fleetroute runs sudo from the login user's PATH",
    "ansible_become_flags": "fleetroute runs sudo with its own flags",
    "ansible_host_key_checking": "fleetroute always checks host keys; use --accept-new-host-keys to record new ones",
    "ansible_ssh_host_key_checking": "fleetroute always checks host keys; use --accept-new-host-keys to record new ones",
}


def unused_connection_notices(resolved: list[ResolvedHost], inventory_path: Path) -> tuple[Notice, ...]:
    """Return one notice per written Ansible connection variable that fleetroute ignores.

    ``ansible_connection`` and ``ansible_become_method`` are not among them: a host
    whose value fleetroute cannot follow fails when the run connects (see
    ``fleetroute.runner.unsupported_connection``).
    """
    unused: dict[int, tuple[Setting, list[str]]] = {}
    for host in resolved:
        for name, setting in host.settings.items():
            if name in UNUSED_CONNECTION_VARIABLES:
                unused.setdefault(id(setting), (setting, []))[1].append(host.name)

    notices = []
    for setting, hosts in unused.values():
        file = setting.path or inventory_path
        where = f"{file}:{setting.line}" if setting.line else str(file)
        text = f"is set but fleetroute does not use it: {UNUSED_CONNECTION_VARIABLES[setting.name]}"
        notices.append(Notice(tuple(hosts), where, setting.name, text))
    return tuple(notices)


def check_aliases(resolved: list[ResolvedHost], problems: Problems) -> None:
    """Add a problem where a host gets both an old and a current spelling with different values."""
    conflicts: dict[tuple[int, int], tuple[Setting, Setting, list[str]]] = {}
    for host in resolved:
        for alias, name in ALIASES.items():
            old, current = host.settings.get(alias), host.settings.get(name)
            if old is not None and current is not None and old.value != current.value:
                conflicts.setdefault((id(old), id(current)), (old, current, []))[2].append(host.name)

    for old, current, hosts in conflicts.values():
        current_line = f" (line {current.line})" if current.line is not None else ""
        if current.path != old.path:
            current_line = f" ({current.path}:{current.line})"
        problems.add(
            old.line,
            f"{_describe_where(old, hosts)}: {old.name}: {_shown(old.name, old.value)} conflicts with {current.name}:"
            f" {_shown(current.name, current.value)}{current_line}; remove {old.name}, the older spelling of"
            f" {current.name}",
            old.path,
        )


def check_required(resolved: list[ResolvedHost], graph: GroupGraph, problems: Problems) -> None:
    """Add one problem per required variable that some hosts lack, naming them and where to set it."""
    for name, variable in VARIABLES.items():
        if not variable.required:
            continue
        aliases = {alias for alias, target in ALIASES.items() if target == name}
        missing = [host for host in resolved if name not in host.settings and not aliases & host.settings.keys()]
        if missing:
            problems.add(missing[0].entry.line, _describe_missing(name, variable, missing, graph), missing[0].entry.path)


def check_conflicts(resolved: list[ResolvedHost], problems: Problems) -> None:
    """Add one problem per rule broken between a host's variables, such as a half-set secondary probe.

    Only valid values take part, so that an invalid one is reported once, by its own check.
    Hosts that break a rule through the same setting share one message.
    """
    shared: dict[tuple[str, int], tuple[Setting | None, ResolvedHost, list[str]]] = {}
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
        line, file = (setting.line, setting.path) if setting is not None else (first_host.entry.line, first_host.entry.path)
        where = _describe_where(setting, hosts) if setting is not None else describe_hosts(hosts)
        problems.add(line, f"{where}: {message}", file)


def _describe_missing(name: str, variable: Variable, hosts: list[ResolvedHost], graph: GroupGraph) -> str:
    shared = set.intersection(*(set(host.groups) for host in hosts)) - {"ungrouped"} | {"all"}
    groups = sorted(shared, key=lambda group: (-graph.depth[group], group))
    hosts_phrase = describe_hosts([host.name for host in hosts])
    if len(hosts) == 1:
        place = f"the host's entry or in vars: of one of its groups: {quote_list(groups, 'or')}"
    else:
        place = f"each host's entry or in vars: of a group they all belong to: {quote_list(groups, 'or')}"
    place += f", or in group_vars/{groups[0]}.yml beside the inventory"
    return f"{hosts_phrase}: {name} is missing; it is required ({variable.description}). Set it in {place}"


def _describe_where(setting: Setting, hosts: list[str]) -> str:
    """Return who a value applies to, such as ``host 'gpu1' (set in group 'whisper')``."""
    if setting.group is None:
        return describe_hosts(hosts) if hosts else "a host entry"
    if not hosts:
        return f"group {setting.group!r}"
    return f"{describe_hosts(hosts)} (set in group {setting.group!r})"


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
    return f"{key}: {_shown(key, value)} is invalid; expected {expected}"


def _shown(key: str, value: Any) -> str:
    """Return ``value`` as messages show it; the value of a password variable only by its type."""
    if ALIASES.get(key, key) in SECRET_VARIABLES:
        return f"{describe_type(value)} (value hidden)"
    return show(value)


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
    return "one of " + quote_list(list(variable.choices), "or")


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
        return f"{quote_list(list(PROBES), 'or')}, or a custom command; did you mean {close[0]!r}?"
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
