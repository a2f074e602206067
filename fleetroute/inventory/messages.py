"""Problem collection and message helpers shared by the inventory modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetroute.errors import InventoryError
from fleetroute.inventory.constants import MAX_SHOWN_CHARS, MAX_SHOWN_NAMES


class Problems:
    """Problems found in an inventory and its variable files, each kept with the file and line it concerns."""

    def __init__(self, path: Path, *, _shared: Problems | None = None):
        self.path = path
        self._entries: list[tuple[int, int, int, str]] = _shared._entries if _shared is not None else []
        self._file_ranks: dict[Path, int] = _shared._file_ranks if _shared is not None else {}
        self._file_ranks.setdefault(path, len(self._file_ranks))

    def for_file(self, path: Path) -> Problems:
        """Return a view that records problems in ``path`` into the same list; they sort after earlier files."""
        return Problems(path, _shared=self)

    def add(self, line: int | None, text: str, path: Path | None = None) -> None:
        """Record a problem at ``line`` (1-based) of ``path`` (default: this view's file), or for the whole file."""
        path = path or self.path
        rank = self._file_ranks.setdefault(path, len(self._file_ranks))
        where = f"{path}:{line}" if line is not None else f"{path}"
        self._entries.append((rank, line or 0, len(self._entries), f"{where}: {text}"))

    def __bool__(self) -> bool:
        return bool(self._entries)

    def raise_if_any(self) -> None:
        """Raise InventoryError with every recorded problem, sorted by file (inventory first), then line."""
        if self._entries:
            raise InventoryError([message for *_, message in sorted(self._entries)])


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
