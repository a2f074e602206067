"""Problem collection and message helpers shared by the inventory modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetroute.errors import InventoryError
from fleetroute.inventory.constants import MAX_SHOWN_CHARS, MAX_SHOWN_NAMES


class Problems:
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


def show(value: Any) -> str:
    """Return ``repr(value)`` cut to MAX_SHOWN_CHARS characters, or "an empty value" for None."""
    if value is None:
        return "an empty value"
    text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        return text[: MAX_SHOWN_CHARS - 3] + "..."
    return text


def describe_hosts(names: list[str]) -> str:
    noun = "host" if len(names) == 1 else "hosts"
    return f"{noun} {quote_list(names)}"


def quote_list(names: list[str], conjunction: str = "and") -> str:
    """Return ``'a', 'b' and 'c'``, ending with "and N more" past MAX_SHOWN_NAMES names."""
    quoted = [repr(name) for name in names[:MAX_SHOWN_NAMES]]
    rest = len(names) - len(quoted)
    if rest:
        return f"{', '.join(quoted)} {conjunction} {rest} more"
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"


def describe_type(value: Any) -> str:
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
