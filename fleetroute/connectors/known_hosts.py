"""known_hosts files read as OpenSSH reads them, for one host at a time.

paramiko's own loader raises on the first line it cannot parse (a
``@cert-authority`` line, a truncated key), which would fail every host of a run,
and it matches host names literally. This module instead:

- skips a line it cannot parse, with one warning per file and line;
- matches OpenSSH host patterns: ``*`` and ``?`` wildcards, ``!`` negation, and
  hashed names (``|1|salt|hash``), on the name ``host`` or ``[host]:port``;
- collects ``@revoked`` keys, which are never accepted;
- skips ``@cert-authority`` lines, because paramiko does not verify host
  certificates, and counts them so that an unknown-key error can say so.

The format is described in sshd(8), section SSH_KNOWN_HOSTS FILE FORMAT.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, HostKeys

log = logging.getLogger(__name__)

_warned: set[tuple[Path, int]] = set()
_warned_lock = threading.Lock()


@dataclass
class HostKeyMatch:
    """The known_hosts lines that apply to one host name.

    ``keys`` are the accepted keys with the file and line of each. ``revoked``
    holds the base64 blobs of ``@revoked`` keys. ``cert_authority_lines`` counts
    ``@cert-authority`` lines for this host, which fleetroute does not use.
    """

    keys: list[tuple[paramiko.PKey, Path, int]] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    cert_authority_lines: int = 0

    def is_revoked(self, key: paramiko.PKey) -> bool:
        """Return True when ``key`` is marked ``@revoked`` for this host."""
        return key.get_base64() in self.revoked


def known_host_name(host: str, port: int) -> str:
    """Return the name known_hosts uses for ``host``: plain for port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def match_host(files: list[Path], hostname: str) -> HostKeyMatch:
    """Read ``files`` in order and return the keys, revocations and CA lines that apply to ``hostname``.

    ``hostname`` is in known_hosts form (see ``known_host_name``). Missing files
    are skipped. Unreadable lines are skipped with a warning, never raised.
    """
    match = HostKeyMatch()
    for path in files:
        for number, marker, entry in _entries(path):
            if not names_match(entry.hostnames, hostname):
                continue
            if marker == "@revoked":
                match.revoked.add(entry.key.get_base64())
            elif marker == "@cert-authority":
                match.cert_authority_lines += 1
            else:
                match.keys.append((entry.key, path, number))
    match.keys = [item for item in match.keys if not match.is_revoked(item[0])]
    return match


def find_known_host_line(files: list[Path], hostname: str) -> tuple[Path, int] | None:
    """Return the file and line number of the first plain entry for ``hostname``, or None when there is none."""
    match = match_host(files, hostname)
    if not match.keys:
        return None
    _, path, number = match.keys[0]
    return path, number


def names_match(names: list[str], hostname: str) -> bool:
    """Return True when the comma-separated host field of a line (split into ``names``) matches ``hostname``.

    As in OpenSSH, a matching negated pattern (``!name``) excludes the host even
    when another pattern matches it. Names compare case-insensitively.
    """
    matched = False
    for name in names:
        if name.startswith("|1|"):
            matched = matched or HostKeys.hash_host(hostname, name) == name
            continue
        negated = name.startswith("!")
        if _wildcard(name.removeprefix("!")).fullmatch(hostname.lower()):
            if negated:
                return False
            matched = True
    return matched


def _wildcard(pattern: str) -> re.Pattern[str]:
    """Compile an OpenSSH pattern, where only ``*`` and ``?`` are special (``[`` is literal)."""
    parts = [".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern.lower()]
    return re.compile("".join(parts))


def _entries(path: Path):
    """Yield (line number, marker or None, HostKeyEntry) for each usable line of ``path``."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker = None
        if line.startswith("@"):
            marker, _, line = line.partition(" ")
            line = line.strip()
            if marker not in ("@revoked", "@cert-authority"):
                _warn_once(path, number, f"unknown marker {marker!r}")
                continue
        entry = _parse(line, path, number)
        if entry is not None:
            yield number, marker, entry


def _parse(line: str, path: Path, number: int) -> HostKeyEntry | None:
    fields = line.split()
    try:
        entry = HostKeyEntry.from_line(" ".join(fields[:3]), number) if len(fields) >= 3 else None
    except Exception as exc:  # paramiko raises InvalidHostKey, ValueError and others on bad key data.
        _warn_once(path, number, f"invalid key data ({type(exc).__name__})")
        return None
    if entry is None and len(fields) < 3:
        _warn_once(path, number, "expected host names, a key type and a key")
    return entry


def _warn_once(path: Path, number: int, reason: str) -> None:
    with _warned_lock:
        if (path, number) in _warned:
            return
        _warned.add((path, number))
    log.warning("%s:%d: skipping a known_hosts line that cannot be read: %s", path, number, reason)
