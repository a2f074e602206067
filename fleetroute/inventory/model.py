"""``Host`` and ``Inventory``, and host selection with Ansible's ``--limit`` patterns."""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetroute.errors import InventoryError
from fleetroute.inventory.constants import SUGGESTION_CUTOFF
from fleetroute.inventory.layout import is_ipv6
from fleetroute.inventory.messages import describe_hosts, quote_list
from fleetroute.settings import HostSettings


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
class Notice:
    """A warning about some hosts' variables, such as an Ansible variable fleetroute ignores.

    ``where`` is ``FILE:LINE`` of the value (for the first host), and ``text``
    follows the variable name in the message.
    """

    hosts: tuple[str, ...]
    where: str
    variable: str
    text: str

    def message(self, selected: set[str]) -> str:
        """Return the warning for the hosts of ``selected`` that it concerns."""
        hosts = [host for host in self.hosts if host in selected]
        return f"{self.where}: {describe_hosts(hosts)}: {self.variable} {self.text}"


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
    notices: tuple[Notice, ...] = ()

    def notices_for(self, hosts: list[Host]) -> list[str]:
        """Return the warnings that concern any of ``hosts``, each naming only those hosts."""
        selected = {host.name for host in hosts}
        return [notice.message(selected) for notice in self.notices if selected.intersection(notice.hosts)]

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
            return f"{self.path}: limit pattern {pattern!r} matches only groups without hosts: {quote_list(groups)}"
        known = [name for name, hosts in self.groups.items() if name != "ungrouped" or hosts]
        by_lowercase = {name.lower(): name for name in [*self.hosts, *known]}
        close = difflib.get_close_matches(pattern.lower(), list(by_lowercase), n=1, cutoff=SUGGESTION_CUTOFF)
        hint = f" did you mean {by_lowercase[close[0]]!r}?" if close else ""
        return (
            f"{self.path}: limit pattern {pattern!r} matches no host or group;{hint}"
            f" known groups: {', '.join(sorted(known))}"
        )


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
    elif text.lstrip("!&") in hosts or is_ipv6(text.lstrip("!&")):
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
