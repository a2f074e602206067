"""SSH connector: one connection per host, built on fabric/paramiko.

Connection settings come from the OpenSSH client config (``~/.ssh/config`` or the
file given by ``ssh_config_file`` / ``--ssh-config``), overridden by the inventory's
``ansible_*`` variables. Host keys are checked against the known_hosts files that
config names. fabric accepts unknown keys silently by default, so this module applies
OpenSSH's ``StrictHostKeyChecking`` semantics instead, and treats the interactive
``ask`` as ``yes`` because runs are unattended.

With ``become``, every ``run_script`` call runs through sudo as the become user. The
sudo password travels only on the command's stdin, never on a command line.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from fabric import Config, Connection

from fleetroute.connectors.known_hosts import HostKeyPolicy, HostKeyRejected, lookup, transport_factory
from fleetroute.errors import Aborted, CommandTimeout, HostError, HostKeyError, UnreachableError

log = logging.getLogger(__name__)

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
DEFAULT_KEEPALIVE_S = 30
DEFAULT_CONNECT_TIMEOUT_S = 10.0
# A remote script's own time limit is the local one plus this slack, so the local
# CommandTimeout comes first. The host's timeout(1) then sends TERM to the script's
# process group, and KILL after the grace period.
REMOTE_TIMEOUT_SLACK_S = 2
REMOTE_KILL_GRACE_S = 5


# Connections open in this process, so that Ctrl-C can close them all at once.
_open_hosts: weakref.WeakSet[SSHHost] = weakref.WeakSet()


@dataclass(frozen=True)
class CommandResult:
    """Outcome of one remote command: exit code and decoded output.

    ``name`` is a short label for logs and errors (never the full command line,
    which may be long). ``ok`` is true when the exit code is 0.
    """

    host: str
    name: str
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        """Return True when the command exited with status 0."""
        return self.exit_code == 0


@dataclass(frozen=True)
class ConnectOptions:
    """Run-wide connection options, set from the command line.

    Timeouts are in seconds; a ``connect_timeout`` of None takes each host's
    ``ConnectTimeout`` from the SSH config, else 10 s. ``ssh_config_file`` overrides the inventory's
    ``ssh_config_file`` for every host when set. ``become_password`` is the sudo
    password from ``--ask-become-pass``, used for hosts whose inventory sets none.
    """

    ssh_config_file: str | None = None
    connect_timeout: float | None = None
    command_timeout: float = 120.0
    accept_new_host_keys: bool = False
    become_password: str | None = field(default=None, repr=False)


@dataclass
class Target:
    """Address, port, user and key of one inventory host, before the SSH config is applied.

    ``proxy_jump`` is a ProxyJump value (``[user@]host[:port]`` hops separated by commas)
    that replaces the SSH config's. ``become`` runs remote scripts as ``become_user``
    through sudo, with ``become_password`` when sudo requires one.
    """

    name: str
    address: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    ssh_config_file: str | None = None
    extra: dict = field(default_factory=dict)
    proxy_jump: str | None = None
    become: bool = False
    become_user: str = "root"
    become_password: str | None = field(default=None, repr=False)


class BecomeError(HostError):
    """sudo is missing on the host, requires a password that was not given, or rejected it."""


# Modes that BECOME_CHECK prints: the login user is already the become user, sudo is
# not installed, sudo runs commands without a password, or sudo requires one.
# ``sudo -k`` ignores cached credentials, so a credential cached by an earlier
# command cannot hide that a password is needed.
BECOME_CHECK = (
    'if [ "$(id -un)" = "$1" ]; then echo same; '
    "elif ! command -v sudo >/dev/null 2>&1; then echo missing; "
    'elif sudo -k -n -u "$1" -- true >/dev/null 2>&1; then echo nopasswd; '
    "else echo password; fi"
)
# Runs as the login user: writes stdin to a new private file (mktemp, mode 0600) and prints its path.
PRIVATE_UPLOAD = 'set -eu; umask 077; file="$(mktemp -t fleetroute-stdin.XXXXXXXXXX)"; cat >"$file"; printf "%s\\n" "$file"'
# Runs under sudo: opens the uploaded file as stdin, removes it, then runs "bash -c SCRIPT NAME ARGS...".
PRIVATE_STDIN = (
    'file="$1"; shift; '
    'if [ -L "$file" ] || [ ! -f "$file" ]; then echo "fleetroute: upload $file is not a regular file" >&2; exit 5; fi; '
    'exec <"$file"; rm -f -- "$file"; exec bash -c "$@"'
)


def _expand(path: str) -> Path:
    return Path(os.path.expanduser(path))


def _config_paths(ssh_config: dict, key: str, defaults: tuple[str, ...]) -> list[Path]:
    value = ssh_config.get(key)
    names = shlex.split(value) if isinstance(value, str) else (value or list(defaults))
    return [_expand(name) for name in names if name.lower() != "none"]


class SSHHost:
    """One open SSH connection to one host, used for every command of a run.

    Create it, call ``connect()``, then ``run()`` as often as needed, and ``close()``
    (or use it as a context manager). Not thread-safe: one thread per host.
    """

    def __init__(self, target: Target, options: ConnectOptions):
        self.target = target
        self.options = options
        self.connection: Connection | None = None
        # Seconds for TCP connect, SSH banner and auth: the option, else the SSH config's ConnectTimeout.
        self.connect_timeout = options.connect_timeout or DEFAULT_CONNECT_TIMEOUT_S
        # The connection while connect() opens it, so that abort() can close it too.
        self._connecting: Connection | None = None
        self.aborted = False
        # sudo command prefix for run_script, set by connect() when become is on, and the
        # password sudo reads from stdin (None when sudo needs none).
        self._sudo: list[str] | None = None
        self._sudo_password: str | None = None

    def __enter__(self) -> SSHHost:
        self.connect()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def name(self) -> str:
        """Return the inventory name of the host."""
        return self.target.name

    def connect(self) -> None:
        """Open the connection, through any ProxyJump hops, and authenticate.

        With become, also checks how sudo behaves for the login user. Raises
        ``HostKeyError`` for an unknown or changed host key (with the fix in the
        message), ``UnreachableError`` for any other connect or auth failure and
        ``BecomeError`` when sudo cannot be used.
        """
        connection = self._build_connection()
        self._connecting = connection
        _open_hosts.add(self)
        try:
            self._open(connection)
        except UnreachableError:
            if self.aborted:
                raise Aborted(self.name, "interrupted while connecting") from None
            raise
        finally:
            self._connecting = None
        _disable_nagle(connection)
        _keep_alive(connection)
        self.connection = connection
        log.debug("%s: connected to %s@%s:%s", self.name, connection.user, connection.host, connection.port)
        if self.target.become:
            self._prepare_become()

    def _open(self, connection: Connection) -> None:
        """Open ``connection``, turning paramiko's failures into fleetroute's errors."""
        try:
            connection.open()
        except HostKeyRejected as exc:
            raise HostKeyError(self.name, exc.message) from None
        except paramiko.AuthenticationException as exc:
            raise UnreachableError(self.name, f"authentication failed as user {connection.user!r}: {exc}") from None
        except (socket.timeout, TimeoutError):
            raise UnreachableError(
                self.name,
                f"timed out connecting to {connection.host}:{connection.port} after {self.connect_timeout:g} s",
            ) from None
        except paramiko.SSHException as exc:
            if "No authentication methods available" not in str(exc):
                raise UnreachableError(self.name, self._failure_message(connection, exc)) from None
            raise UnreachableError(
                self.name,
                f"authentication failed as user {connection.user!r}: no key to offer; set IdentityFile in the "
                f"SSH config or ansible_ssh_private_key_file, or load a key into ssh-agent",
            ) from None
        except (OSError, EOFError) as exc:
            raise UnreachableError(self.name, self._failure_message(connection, exc)) from None

    def _prepare_become(self) -> None:
        """Find out how sudo behaves for the login user, and check the password when it needs one.

        Raises ``BecomeError`` when sudo is missing, needs a password that was not
        given, or rejects it. The message never contains the password.
        """
        user = self.target.become_user
        login = self.connection.user if self.connection else (self.target.user or "the login user")
        check = self.run(shlex.join(["sh", "-c", BECOME_CHECK, "fleetroute-become", user]), name="become-check")
        mode = check.stdout.strip().splitlines()[-1:] or ["?"]
        if mode[0] == "same":
            return
        if mode[0] == "missing":
            raise BecomeError(self.name, f"become is set but sudo is not installed; install sudo or log in as {user}")
        if mode[0] == "nopasswd":
            self._sudo = ["sudo", "-n", "-H", "-u", user, "--"]
            return
        password = self.target.become_password or self.options.become_password
        if not password:
            raise BecomeError(
                self.name,
                f"sudo asks {login} for a password to run commands as {user}; rerun with --ask-become-pass "
                f"or set become_password in the inventory",
            )
        if "\n" in password or "\r" in password:
            raise BecomeError(self.name, "the become password contains a line break, which sudo -S cannot read")
        sudo = ["sudo", "-k", "-S", "-p", "", "-H", "-u", user, "--"]
        verified = self.run(shlex.join([*sudo, "true"]), name="become-password", stdin=(password + "\n").encode())
        if not verified.ok:
            reason = " ".join(verified.stderr.split())[:300] or f"sudo exited {verified.exit_code}"
            raise BecomeError(self.name, f"sudo as {user} failed for login user {login}: {reason}")
        self._sudo, self._sudo_password = sudo, password

    def _failure_message(self, connection: Connection, exc: BaseException) -> str:
        if _no_banner(connection):
            return (
                f"no SSH banner from {connection.host}:{connection.port} within "
                f"{self.connect_timeout:g} s: the port accepts connections but no SSH server answers"
            )
        return f"cannot connect to {connection.host}:{connection.port}: {_connect_failure_reason(exc)}"

    def abort(self) -> None:
        """Close the connection from another thread, also while connect() is still opening it."""
        self.aborted = True
        connecting = self._connecting
        if connecting is not None:
            connecting.client.close()
        self.close()

    def close(self) -> None:
        """Close the connection and any gateway connections; safe to call twice, from any thread."""
        _open_hosts.discard(self)
        connection, self.connection = self.connection, None
        while isinstance(connection, Connection):
            connection.close()
            connection = connection.gateway

    def run(self, command: str, *, name: str, stdin: bytes | None = None, timeout: float | None = None) -> CommandResult:
        """Run ``command`` through the remote user's shell and wait for it.

        ``stdin`` is sent and then closed. The result carries the exit code whatever
        it is; callers decide what a failure means. Raises ``CommandTimeout`` when the
        command runs past ``timeout`` (default: the run's command timeout) and
        ``UnreachableError`` when the connection is lost.
        """
        if self.connection is None or self.connection.transport is None:
            if self.aborted:
                raise Aborted(self.name, f"interrupted before {name}")
            raise UnreachableError(self.name, "not connected")
        limit = self.options.command_timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            channel = self.connection.transport.open_session(timeout=self.connect_timeout)
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            stdout, stderr = _collect(channel, started + limit)
        except _Deadline:
            raise CommandTimeout(self.name, f"{name} timed out after {limit:g} s") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if self.aborted:
                raise Aborted(self.name, f"interrupted during {name}; the host was left as that step left it") from None
            raise UnreachableError(self.name, f"connection lost during {name}: {exc}") from None
        if self.aborted:
            # abort() closed the channel, which then reports exit status -1.
            raise Aborted(self.name, f"interrupted during {name}; the host was left as that step left it")
        result = CommandResult(
            host=self.name,
            name=name,
            exit_code=channel.recv_exit_status(),
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
            duration_s=time.monotonic() - started,
        )
        channel.close()
        log.debug("%s: %s exited %d in %.2f s", self.name, name, result.exit_code, result.duration_s)
        return result

    def run_script(
        self, script: str, args: list[str], *, name: str, stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run a bash script text with positional ``args``, every word shell-quoted.

        The script travels on the command line (``bash -c SCRIPT NAME ARGS...``), so
        ``stdin`` stays free for data. With become, the script runs under sudo, and
        any ``stdin`` data is first written to a private file as the login user, so
        that the sudo password is the only thing sudo reads from stdin. The script
        runs under coreutils ``timeout``, which ends it and its children on the host
        shortly after this side gives up (closing the channel does not). Raises as
        ``run`` does.
        """
        limit = self.options.command_timeout if timeout is None else timeout
        guard = ["timeout", "-k", f"{REMOTE_KILL_GRACE_S:g}", f"{limit + REMOTE_TIMEOUT_SLACK_S:g}"]
        words = ["bash", "-c", script, f"fleetroute-{name}", *args]
        if self._sudo is None:
            return self.run(shlex.join([*guard, *words]), name=name, stdin=stdin, timeout=timeout)

        password = b"" if self._sudo_password is None else (self._sudo_password + "\n").encode()
        if stdin is None:
            command = [*self._sudo, *guard, *words]
            return self.run(shlex.join(command), name=name, stdin=password or None, timeout=timeout)

        upload = self.run(shlex.join(["sh", "-c", PRIVATE_UPLOAD]), name=f"{name}-upload", stdin=stdin)
        lines = upload.stdout.strip().splitlines()
        path = lines[-1] if lines else ""
        if not upload.ok:
            return upload
        if not path.startswith("/"):
            message = f"fleetroute: uploading stdin for {name} printed no file path: {upload.stdout[-200:]!r}"
            return CommandResult(self.name, name, 5, upload.stdout, message, upload.duration_s)
        command = [*self._sudo, *guard, "bash", "-c", PRIVATE_STDIN, f"fleetroute-{name}-stdin", path, *words[2:]]
        result = self.run(shlex.join(command), name=name, stdin=password or None, timeout=timeout)
        if not result.ok:
            # sudo may have failed before the wrapper removed the upload.
            self.run(shlex.join(["rm", "-f", "--", path]), name=f"{name}-cleanup")
        return result

    def _build_connection(self) -> Connection:
        target = self.target
        config_file = self.options.ssh_config_file or target.ssh_config_file
        config_kwargs = {"runtime_ssh_path": str(_expand(config_file))} if config_file else {}
        if config_file and not _expand(config_file).is_file():
            raise UnreachableError(self.name, f"SSH config file not found: {config_file}")
        config = Config(overrides={"load_ssh_configs": True}, **config_kwargs)
        connect_kwargs = {}
        if target.key_file:
            connect_kwargs["key_filename"] = [str(_expand(target.key_file))]
        # Passing any connect_timeout keeps fabric from calling int() on the SSH config's
        # ConnectTimeout, which may be invalid; _set_timeouts sets the real one.
        connection = Connection(
            target.address, user=target.user, port=target.port, config=config, connect_kwargs=connect_kwargs,
            connect_timeout=DEFAULT_CONNECT_TIMEOUT_S,
        )
        self.connect_timeout = self.options.connect_timeout or _config_timeout(connection) or DEFAULT_CONNECT_TIMEOUT_S
        _set_timeouts(connection, self.connect_timeout)
        jump = target.proxy_jump or connection.ssh_config.get("proxyjump")
        if jump:
            connection.gateway = self._jump_chain(jump, config)
        self._secure(connection, jump_host=None)
        hop = connection.gateway
        while isinstance(hop, Connection):
            self._secure(hop, jump_host=hop.original_host)
            hop = hop.gateway
        return connection

    def _jump_chain(self, proxy_jump: str, config: Config) -> Connection | None:
        """Return the gateway Connection for a ProxyJump value, or None for ``none``.

        OpenSSH connects to the first hop directly and to each later hop through the
        one before it. fabric 3.2 builds a multi-hop chain in the reverse order, so
        the chain is built here. Each hop takes its user, port and key from its own
        ``Host`` entry in the SSH config, but the first hop is always connected to
        directly, even when its own entry sets ProxyJump.
        """
        hops = [hop.strip() for hop in proxy_jump.split(",") if hop.strip()]
        if not hops or hops == ["none"]:
            return None
        gateway: Connection | None = None
        for hop in hops:
            gateway = Connection(
                hop,
                config=config.clone(),
                gateway=gateway if gateway is not None else False,
                connect_timeout=DEFAULT_CONNECT_TIMEOUT_S,
            )
            _set_timeouts(gateway, self.connect_timeout)
        return gateway

    def _secure(self, connection: Connection, jump_host: str | None) -> None:
        """Set one hop's host-key policy, from the known_hosts files its SSH config names, and its key options.

        ``jump_host`` is the ProxyJump name of a gateway hop, so that key errors name it; None for the target.
        """
        ssh_config = connection.ssh_config
        user_files = _config_paths(ssh_config, "userknownhostsfile", DEFAULT_KNOWN_HOSTS)
        global_files = _config_paths(ssh_config, "globalknownhostsfile", GLOBAL_KNOWN_HOSTS)
        alias = ssh_config.get("hostkeyalias")
        name, match = lookup(user_files + global_files, connection.host, connection.port, alias)

        strict = str(ssh_config.get("stricthostkeychecking", "ask")).lower()
        policy = HostKeyPolicy(
            name=name,
            host=connection.host,
            port=connection.port,
            match=match,
            accept_new=self.options.accept_new_host_keys or strict in ("accept-new", "no", "off"),
            record_to=user_files[0] if user_files else _expand(DEFAULT_KNOWN_HOSTS[0]),
            hash_hosts=str(ssh_config.get("hashknownhosts", "no")).lower() == "yes",
            jump_host=jump_host,
        )
        connection.client.set_missing_host_key_policy(policy)
        connection.connect_kwargs["transport_factory"] = transport_factory(match.key_types())

        if str(ssh_config.get("identitiesonly", "no")).lower() == "yes":
            connection.connect_kwargs.setdefault("look_for_keys", False)

def abort_all() -> None:
    """Close every open connection of this process, ending the commands that run on them.

    Used on Ctrl-C: the threads waiting on those commands then raise ``UnreachableError``.
    """
    for host in list(_open_hosts):
        host.abort()


def _disable_nagle(connection: Connection) -> None:
    """Send small SSH packets at once, as OpenSSH does.

    Without TCP_NODELAY, Nagle's algorithm meets the peer's delayed ACK and adds about
    40 ms to every short command. Gateway hops carry the session over a channel, not a
    socket, and are left alone.
    """
    sock = connection.transport.sock if connection.transport else None
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _config_timeout(connection: Connection) -> float | None:
    """Return the ``ConnectTimeout`` of the host's SSH config entry in seconds, or None when unset or invalid."""
    value = str(connection.ssh_config.get("connecttimeout", "")).strip()
    return float(value) if value.isdigit() and int(value) > 0 else None


def _set_timeouts(connection: Connection, seconds: float) -> None:
    """Apply one timeout to a hop's TCP connect (whole seconds, as fabric takes it), SSH banner and auth."""
    connection.connect_timeout = max(1, round(seconds))
    connection.connect_kwargs["banner_timeout"] = seconds
    connection.connect_kwargs["auth_timeout"] = seconds


def _keep_alive(connection: Connection) -> None:
    """Send keepalives every ServerAliveInterval seconds (default 30), as OpenSSH does when it is set.

    A connected host may wait idle while the rest of the fleet connects, and a
    firewall or NAT on the way can drop a TCP flow that stays silent for minutes.
    """
    value = str(connection.ssh_config.get("serveraliveinterval", DEFAULT_KEEPALIVE_S))
    interval = int(value) if value.isdigit() else DEFAULT_KEEPALIVE_S
    if connection.transport is not None and interval > 0:
        connection.transport.set_keepalive(interval)


def _no_banner(connection: Connection) -> bool:
    """Return True when the server never sent its SSH version banner.

    paramiko reports a banner timeout as "No existing session" when it races the
    connect timeout, so the transport's state is the reliable sign.
    """
    transport = connection.client.get_transport()
    return transport is not None and not transport.remote_version


def _connect_failure_reason(exc: BaseException) -> str:
    """Return a short reason for a failed connect, such as "connection refused"."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


class _Deadline(Exception):
    pass


def _collect(channel: paramiko.Channel, deadline: float) -> tuple[bytes, bytes]:
    """Read stdout and stderr until the command exits; raise _Deadline past ``deadline``."""
    stdout, stderr = bytearray(), bytearray()
    while True:
        while channel.recv_ready():
            stdout += channel.recv(65536)
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
        drained = not channel.recv_ready() and not channel.recv_stderr_ready()
        if drained and channel.exit_status_ready() and (channel.eof_received or channel.closed):
            return bytes(stdout), bytes(stderr)
        if drained and channel.closed:
            raise EOFError("the connection was closed before the command exited")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            channel.close()
            raise _Deadline()
        select.select([channel], [], [], min(remaining, 0.5))
