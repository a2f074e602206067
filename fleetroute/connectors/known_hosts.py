"""known_hosts files read as OpenSSH reads them, for one host at a time.

paramiko's own loader raises on the first line it cannot parse (a
``@cert-authority`` line, a truncated key), which would fail every host of a run,
and it matches host names literally. This module instead:

- skips a line it cannot parse, with one warning per file and line;
- matches OpenSSH host patterns: ``*`` and ``?`` wildcards, ``!`` negation, and
  hashed names (``|1|salt|hash``), on the name ``host`` or ``[host]:port``;
- keeps every key a host has, several of one type included, so that any of them
  is accepted, and falls back to entries without a port as ssh(1) does;
- collects ``@revoked`` keys, which are never accepted;
- skips ``@cert-authority`` lines, because paramiko does not verify host
  certificates, and counts them so that an unknown-key error can mention them.

The format is described in sshd(8), section SSH_KNOWN_HOSTS FILE FORMAT.
"""

from __future__ import annotations

import logging
import re
import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, HostKeys

log = logging.getLogger(__name__)

_warned: set[tuple[Path, int]] = set()
_warned_lock = threading.Lock()
# Serializes appends to known_hosts files from the threads of one run.
_append_lock = threading.Lock()


@dataclass
class HostKeyMatch:
    """The known_hosts lines that apply to one host name.

    ``keys`` are the accepted keys with the file and line of each. ``revoked``
    contains the base64 blobs of ``@revoked`` keys. ``cert_authority_lines`` counts
    ``@cert-authority`` lines for this host, which fleetroute does not use.
    """

    keys: list[tuple[paramiko.PKey, Path, int]] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    cert_authority_lines: int = 0
    # Keys of a plain ``host`` entry for a host on another port: they accept a key
    # that matches, but a key that does not match is unknown, not changed.
    portless_keys: list[tuple[paramiko.PKey, Path, int]] = field(default_factory=list)

    def is_revoked(self, key: paramiko.PKey) -> bool:
        """Return True when ``key`` is marked ``@revoked`` for this host."""
        return key.get_base64() in self.revoked

    def knows(self, key: paramiko.PKey) -> bool:
        """Return True when some line accepts ``key`` for this host."""
        return any(known.get_base64() == key.get_base64() for known, _, _ in [*self.keys, *self.portless_keys])

    def expected_for(self, key: paramiko.PKey) -> tuple[paramiko.PKey, Path, int]:
        """Return the known key (with its file and line) that an unexpected ``key`` replaces: the same type first."""
        same_type = [item for item in self.keys if item[0].get_name() == key.get_name()]
        return (same_type or self.keys)[0]

    def key_types(self) -> list[str]:
        """Return the types of the known keys, in file order, without repeats."""
        return list(dict.fromkeys(key.get_name() for key, _, _ in [*self.keys, *self.portless_keys]))


def known_host_name(host: str, port: int) -> str:
    """Return the name known_hosts uses for ``host``: plain for port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def match_host(files: list[Path], hostname: str) -> HostKeyMatch:
    """Read ``files`` in order and return the keys, revocations and CA lines that apply to ``hostname``.

    ``hostname`` is in known_hosts form (see ``known_host_name``). Missing files
    are skipped. Unreadable lines are skipped with a warning, never raised.
    """
    return _match(_read_lines(files), hostname)


def lookup(files: list[Path], host: str, port: int, alias: str | None = None) -> tuple[str, HostKeyMatch]:
    """Return the known_hosts name of a connection and the entries of ``files`` that apply to it.

    The name is ``alias`` (OpenSSH's ``HostKeyAlias``) when set, else
    ``known_host_name(host, port)``. As ssh(1) does, a host on a port other than 22
    that has no ``[host]:port`` entry accepts the keys of a plain ``host`` entry,
    but another key is then unknown, not changed (see ``portless_keys``).
    """
    lines = _read_lines(files)
    if alias:
        return alias, _match(lines, alias)
    name = known_host_name(host, port)
    match = _match(lines, name)
    if not match.keys and name != host:
        portless = _match(lines, host)
        match.revoked |= portless.revoked
        match.portless_keys = [item for item in portless.keys if not match.is_revoked(item[0])]
    return name, match


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
    special = {"*": ".*", "?": "."}
    parts = [special.get(char, re.escape(char)) for char in pattern.lower()]
    return re.compile("".join(parts))


@dataclass(frozen=True)
class _Line:
    """One known_hosts line split into its marker (or None), host names, key type and key."""

    path: Path
    number: int
    marker: str | None
    names: list[str]
    key_fields: list[str]


def _read_lines(files: list[Path]) -> list[_Line]:
    """Split every usable line of ``files``; lines without three fields or with an unknown marker are warned about."""
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for number, raw in enumerate(text.splitlines(), start=1):
            line = _split_line(path, number, raw.strip())
            if line is not None:
                found.append(line)
    return found


def _split_line(path: Path, number: int, text: str) -> _Line | None:
    if not text or text.startswith("#"):
        return None
    marker = None
    if text.startswith("@"):
        marker, _, text = text.partition(" ")
        if marker not in ("@revoked", "@cert-authority"):
            _warn_once(path, number, f"unknown marker {marker!r}")
            return None
    fields = text.split()
    if len(fields) < 3:
        _warn_once(path, number, "expected host names, a key type and a key")
        return None
    return _Line(path, number, marker, fields[0].split(","), fields[:3])


def _match(lines: list[_Line], hostname: str) -> HostKeyMatch:
    """Return the keys, revocations and CA lines of ``lines`` that apply to ``hostname``; only their keys are decoded."""
    match = HostKeyMatch()
    for line in lines:
        if not names_match(line.names, hostname):
            continue
        key = _decode_key(line)
        if key is None:
            continue
        if line.marker == "@revoked":
            match.revoked.add(key.get_base64())
        elif line.marker == "@cert-authority":
            match.cert_authority_lines += 1
        else:
            match.keys.append((key, line.path, line.number))
    match.keys = [item for item in match.keys if not match.is_revoked(item[0])]
    return match


def _decode_key(line: _Line) -> paramiko.PKey | None:
    """Return the line's key, or None for a key type paramiko does not know or bad key data (warned about)."""
    try:
        entry = HostKeyEntry.from_line(" ".join(line.key_fields), line.number)
    except Exception as exc:  # paramiko raises InvalidHostKey, ValueError and others on bad key data.
        _warn_once(line.path, line.number, f"invalid key data ({type(exc).__name__})")
        return None
    return entry.key if entry is not None else None


def _warn_once(path: Path, number: int, reason: str) -> None:
    with _warned_lock:
        if (path, number) in _warned:
            return
        _warned.add((path, number))
    log.warning("%s:%d: skipping a known_hosts line that cannot be read: %s", path, number, reason)


class HostKeyRejected(paramiko.SSHException):
    """The host offered a key that is unknown, changed or revoked; ``message`` gives the fix."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass
class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """The host-key decision for one hop, made as OpenSSH makes it.

    fleetroute leaves paramiko's own host-key stores empty, so paramiko calls
    ``missing_host_key`` for every connection and this policy decides. A known
    key is accepted. A revoked key, or a key other than the known ones, is
    rejected. The key of an unknown host is rejected, or recorded when ``accept_new``.
    ``name`` is the host's known_hosts name, and ``host``/``port`` are where
    ssh-keyscan reaches it.
    """

    name: str
    host: str
    port: int
    match: HostKeyMatch
    accept_new: bool
    record_to: Path
    hash_hosts: bool = False
    jump_host: str | None = None  # the ProxyJump name, for a gateway hop

    def missing_host_key(self, client, hostname, key):
        """Return when ``key`` is accepted; raise ``HostKeyRejected`` otherwise."""
        if self.match.is_revoked(key):
            raise HostKeyRejected(self._hop_prefix() + self._revoked_message(key))
        if self.match.knows(key):
            return
        if self.match.keys:
            raise HostKeyRejected(self._hop_prefix() + self._changed_message(key))
        if not self.accept_new:
            raise HostKeyRejected(self._hop_prefix() + self._unknown_message(key))
        append_known_host(self.record_to, self.name, key, self.hash_hosts)
        log.warning("%s: added %s key %s to %s", self.name, key.get_name(), key.fingerprint, self.record_to)

    def _hop_prefix(self) -> str:
        return f"jump host {self.jump_host}: " if self.jump_host else ""

    def _unknown_message(self, key: paramiko.PKey) -> str:
        keytype = key.get_name().removeprefix("ssh-")
        port_flag = f"-p {self.port} " if self.port != 22 else ""
        certificates = (
            " known_hosts has @cert-authority lines for this host, which fleetroute does not use because "
            "paramiko cannot verify host certificates."
            if self.match.cert_authority_lines
            else ""
        )
        alias = f" (then rename the line's host field to {self.name})" if self.name != known_host_name(self.host, self.port) else ""
        return (
            f"host key for {self.name} is unknown ({key.get_name()} {key.fingerprint}).{certificates} "
            f"Check the fingerprint with the host's owner, then run: "
            f"ssh-keyscan {port_flag}-t {keytype} {self.host} >> {shlex.quote(str(self.record_to))}{alias} "
            f"(or rerun with --accept-new-host-keys)"
        )

    def _changed_message(self, key: paramiko.PKey) -> str:
        expected, path, number = self.match.expected_for(key)
        return (
            f"host key for {self.name} CHANGED: {path}:{number} has {expected.get_name()} "
            f"{expected.fingerprint}, the host offered {key.get_name()} {key.fingerprint}. "
            f"This can mean a reinstalled host or an attack. If the change is expected, run: "
            f"ssh-keygen -f {shlex.quote(str(path))} -R {shlex.quote(self.name)}"
        )

    def _revoked_message(self, key: paramiko.PKey) -> str:
        return (
            f"host key for {self.name} is REVOKED: known_hosts marks {key.get_name()} {key.fingerprint} @revoked, "
            f"so it is never accepted. Ask the host's owner for a new key; do not remove the @revoked line"
        )


def append_known_host(path: Path, name: str, key: paramiko.PKey, hash_hosts: bool) -> None:
    """Append a line for ``key`` under ``name`` (hashed when ``hash_hosts``) to the known_hosts file ``path``."""
    entry_name = HostKeys.hash_host(name) if hash_hosts else name
    line = f"{entry_name} {key.get_name()} {key.get_base64()}\n"
    with _append_lock:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(path, "a", encoding="ascii") as handle:
            handle.write(line)


def transport_factory(known_types: list[str]):
    """Return a paramiko ``transport_factory`` that lists the known key types first in its host key algorithms.

    OpenSSH orders its host key algorithms the same way, so that a host with a
    known ed25519 key is not reported as changed because it offered ECDSA first.
    """

    def build(sock, **kwargs) -> paramiko.Transport:
        transport = paramiko.Transport(sock, **kwargs)
        options = transport.get_security_options()
        preferred = [name for known in known_types for name in _algorithms(known) if name in options.key_types]
        preferred = list(dict.fromkeys(preferred))
        options.key_types = preferred + [name for name in options.key_types if name not in preferred]
        return transport

    return build


def _algorithms(key_type: str) -> list[str]:
    """Return the host key algorithms that serve a key type: RSA keys sign with SHA-2 first."""
    return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if key_type == "ssh-rsa" else [key_type]
