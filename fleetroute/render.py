"""Render the router script and the other shell templates that fleetroute installs.

Templates are Jinja2 files under ``templates/``. Every inventory value reaches a template
through the ``shell_quote`` or ``shell_words`` filter, which turn it into quoted shell
words (``shlex.quote``), so no value can run as shell code. Rendering is deterministic:
the same settings, host and version give the same bytes, which deploy compares by
checksum to skip hosts whose router is already up to date.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import jinja2

from fleetroute.errors import InventoryError
from fleetroute.settings import PROBES, HostSettings

# A wheel build copies the repository's templates/ into the package (pyproject.toml,
# force-include); a source checkout has only the repository directory.
PACKAGE_TEMPLATES_DIR = Path(__file__).parent / "templates"
REPOSITORY_TEMPLATES_DIR = Path(__file__).parent.parent / "templates"

ROUTER_TEMPLATE = "router.sh.j2"


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InputRule(NamedTuple):
    """Parsed ``input_rule``: the kind, plus the one field that kind uses.

    ``position`` is the 1-based positional index for ``arg`` (0 otherwise), ``flag``
    the option name for ``flag`` and ``env`` the variable name for ``env`` (empty
    otherwise).
    """

    kind: str
    position: int = 0
    flag: str = ""
    env: str = ""


def parse_input_rule(rule: str) -> InputRule:
    """Parse an ``input_rule`` value: ``first-file``, ``arg:N``, ``flag:NAME`` or ``env:VAR``.

    Raises ``ValueError`` naming the value and the accepted forms when it is invalid.
    """
    if rule == "first-file":
        return InputRule("first-file")
    kind, separator, value = rule.partition(":")
    if separator and kind == "arg" and value.isascii() and value.isdigit() and int(value) >= 1:
        return InputRule("arg", position=int(value))
    if separator and kind == "flag" and value and "\0" not in value:
        return InputRule("flag", flag=value)
    if separator and kind == "env" and _ENV_NAME.fullmatch(value):
        return InputRule("env", env=value)
    raise ValueError(
        f"invalid input_rule {rule!r}: expected first-file, arg:N (N >= 1), flag:NAME "
        "or env:VAR (VAR a shell variable name)"
    )


def format_number(value: int | float) -> str:
    """Format a number in plain decimal notation, as the router's awk comparisons read it.

    Integral floats lose their ``.0`` (3600.0 gives ``3600``) and no exponent is used
    (1e20 gives ``100000000000000000000``). Raises ``ValueError`` for NaN and infinities.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite number, got {value!r}")
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def shell_quote(value: str | int | float) -> str:
    """Quote one value as a single shell word with ``shlex.quote``.

    Numbers are written with ``format_number`` first. Raises ``TypeError`` for other
    types (None included) and ``ValueError`` for a string with a NUL byte, which no
    shell variable or argument can contain.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return shlex.quote(format_number(value))
    if not isinstance(value, str):
        raise TypeError(f"cannot quote {value!r} for the shell: expected a string or a number")
    if "\0" in value:
        raise ValueError(f"cannot quote {value!r} for the shell: it contains a NUL byte")
    return shlex.quote(value)


def shell_words(values: Iterable[str | int | float]) -> str:
    """Quote each value with ``shell_quote`` and join them with spaces, for a bash array.

    Raises ``TypeError`` when ``values`` is a single string, which would otherwise be
    split into characters.
    """
    if isinstance(values, (str, bytes)):
        raise TypeError(f"expected a list of words, got the string {values!r}")
    return " ".join(_array_element(value) for value in values)


def _array_element(value: str | int | float) -> str:
    """Quote one array element; a bare word with ``=`` gets quotes too.

    ``shlex.quote`` leaves ``a=b`` bare, which bash reads literally inside ``( )``,
    but ShellCheck (SC2191) takes for a mistaken index assignment.
    """
    quoted = shell_quote(value)
    if "=" in quoted and not quoted.startswith("'"):
        return f"'{quoted}'"
    return quoted


def templates_dir() -> Path:
    """Return the directory templates are loaded from: the package's, else the repository's."""
    if PACKAGE_TEMPLATES_DIR.is_dir():
        return PACKAGE_TEMPLATES_DIR
    return REPOSITORY_TEMPLATES_DIR


def template_env() -> jinja2.Environment:
    """Create the Jinja2 environment for shell templates, with ``shell_quote`` and ``shell_words``.

    Undefined variables raise, nothing is HTML-escaped and a template's final newline is
    kept. Jinja comments are written ``<# ... #>``, because bash uses ``{#`` in
    ``${#array[@]}``.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        comment_start_string="<#",
        comment_end_string="#>",
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["shell_quote"] = shell_quote
    env.filters["shell_words"] = shell_words
    return env


def render_template(name: str, **context: object) -> str:
    """Render the template ``name`` (a path relative to the templates directory) with ``context``."""
    return template_env().get_template(name).render(**context)


def render_router(settings: HostSettings, *, host: str, version: str) -> str:
    """Render the router script for one host.

    ``host`` is the inventory name, written into each log line, and ``version`` is the
    fleetroute version, written into the header. Raises ``InventoryError`` when
    ``input_rule`` is invalid or when variables conflict, such as a secondary probe
    without its threshold (the inventory loader rejects both earlier).
    """
    try:
        input_rule = parse_input_rule(settings.input_rule)
    except ValueError as error:
        raise InventoryError([f"{host}: {error}"]) from error
    conflicts = settings.conflicts()
    if conflicts:
        raise InventoryError([f"{host}: {conflict.message}" for conflict in conflicts])

    return render_template(
        ROUTER_TEMPLATE,
        settings=settings,
        host=host,
        version=version,
        input_rule=input_rule,
        probe_kind=probe_kind(settings.probe),
        probe_command=probe_command(settings.probe),
        secondary_probe_kind=probe_kind(settings.secondary_probe) if settings.secondary_probe else "",
        secondary_probe_command=probe_command(settings.secondary_probe) if settings.secondary_probe else "",
        secondary_threshold=settings.secondary_threshold_value if settings.secondary_probe else "",
        secondary_threshold_unit=settings.secondary_threshold_unit or "",
        lock_dir=settings.lock_dir.rstrip("/") or "/",
        gpu_index_arg=settings.gpu_index_arg or "",
        gpu_index_env=1 if settings.gpu_index_env else 0,
        blocked_exit_code=settings.blocked_exit_code,
        config_error_exit_code=settings.config_error_exit_code,
        unknown_metric_exit_code=settings.unknown_metric_exit_code,
        on_gpu_full=settings.on_gpu_full,
        block_wait_seconds=settings.block_wait_seconds,
    )


def probe_kind(probe: str) -> str:
    """Return the router's name for a probe: the built-in probe's name, or ``custom`` for a command."""
    return probe if probe in PROBES else "custom"


def probe_command(probe: str) -> str:
    """Return the command of a custom probe, or "" for a built-in probe."""
    return "" if probe in PROBES else probe
