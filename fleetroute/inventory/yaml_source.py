"""YAML reading with line numbers: duplicate keys, merge keys, ``!vault`` values and syntax errors."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml

from fleetroute.errors import InventoryError
from fleetroute.inventory.constants import MERGE_TAG
from fleetroute.inventory.messages import Problems
from fleetroute.inventory.sources import INI_HINT


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


def read_yaml(path: Path, problems: Problems) -> tuple[Any, int | None]:
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

    if _looks_like_ini(path, text):
        raise InventoryError(
            [f"{path}: this is an INI inventory, and fleetroute reads YAML inventories only; {INI_HINT}"]
        )
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


def _looks_like_ini(path: Path, text: str) -> bool:
    """Return True for a ``.ini`` file, or a file whose first content line is an INI section such as ``[gpus]``."""
    if path.suffix == ".ini":
        return True
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", ";"))]
    return bool(lines) and re.fullmatch(r"\[[A-Za-z0-9_.:-]+\]", lines[0]) is not None


def _compose_and_construct(text: str, problems: Problems) -> tuple[Any, int | None]:
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


def _report_duplicate_keys(root: yaml.Node, problems: Problems) -> None:
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
