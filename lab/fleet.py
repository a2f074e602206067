"""The lab fleet: real sshd hosts on loopback addresses, started and stopped as one unit.

Layout of a lab directory ``DIR`` after ``Lab(DIR).up()``:

    DIR/id_ed25519, id_ed25519.pub   client key, authorized on every host
    DIR/authorized_keys
    DIR/ssh_config, known_hosts      client config: ``ssh -F DIR/ssh_config a4000``
    DIR/inventory.yml                fleetroute inventory of the hosts in a group
    DIR/pids.json                    running processes, read by ``down`` and ``status``
    DIR/shared/                      seen at the same path by every host, for job inputs
    DIR/hosts/NAME/                  sshd_config, host key, start-sshd.sh, sshd.log
    DIR/hosts/NAME/fs/...            the host's /usr/local, /var/log, /var/lib, /run/lock, /tmp, /root

Isolation "namespace" (root only) runs each sshd in its own mount and UTS namespaces
with the host's fs/ directories bound over the real ones, so every host sees its own
/usr/local/bin/nvidia-smi and workload at the usual paths. Isolation "prefix" runs
sshd without namespaces; each host's paths then live under DIR/hosts/NAME/fs, and the
inventory points fleetroute there.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lab import install, procs, sshd, users
from lab.clientfiles import (
    HostAddress,
    inventory_data,
    known_hosts_line,
    render_inventory,
    render_ssh_config,
    write_text,
)
from lab.hosts import DEFAULT_FLEET, DEFAULT_INVENTORY_VARS, HostSpec, NvidiaSmiSpec
from lab.records import WorkloadRecord, read_records

log = logging.getLogger(__name__)

DEFAULT_PORT = 2222
DEFAULT_NETWORK = "127.0.42"
ISOLATIONS = ("auto", "namespace", "prefix")
# The PATH that sshd gives a root session (OpenSSH's default for root on Debian).
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Characters that sshd_config and ssh_config accept in a path without quoting or token expansion.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._/+@,=:-]+$")
_STATE_VERSION = 1
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class LabError(RuntimeError):
    """A lab could not be started, stopped or used. The message names the next step."""


@dataclass
class HostProcess:
    """State of one lab host as stored in pids.json."""

    name: str
    kind: str
    address: str
    pid: int | None = None
    start_time: int | None = None
    namespace: str | None = None
    command: list[str] | None = None

    def running(self) -> bool:
        """Return True when the host's process runs (always False for an offline host)."""
        return self.pid is not None and self.start_time is not None and procs.is_running(self.pid, self.start_time)


@dataclass
class LabState:
    """Contents of pids.json: how the lab was started and its processes."""

    isolation: str
    network: str
    port: int
    hosts: list[HostProcess]

    def host(self, name: str) -> HostProcess:
        """Return the host called ``name``, or raise ``LabError`` when the lab has none."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(f"no lab host named {name!r}. Hosts: {', '.join(h.name for h in self.hosts)}")


@dataclass(frozen=True)
class HostStatus:
    """One row of ``Lab.status``.

    ``responding`` is True when the host's port responds as its kind should: with an
    SSH banner for sshd, and by accepting the connection without sending data for hang.
    """

    name: str
    kind: str
    address: str
    port: int
    pid: int | None
    running: bool
    responding: bool


class Lab:
    """A lab fleet in one directory. The module docstring describes the layout.

    ``port`` 0 picks a free port at ``up``. ``network`` is the first three octets of the
    hosts' loopback addresses: host number N of ``hosts`` gets NETWORK.N+1.
    ``stop_with_parent`` makes the kernel send SIGTERM to each host's listener when the
    thread that called ``up`` exits, so a killed test run leaves no listener behind
    (sessions and their jobs stay until ``down``).
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        hosts: Sequence[HostSpec] = DEFAULT_FLEET,
        port: int = DEFAULT_PORT,
        network: str = DEFAULT_NETWORK,
        isolation: str = "auto",
        inventory_vars: Mapping[str, Any] = DEFAULT_INVENTORY_VARS,
        stop_with_parent: bool = False,
    ) -> None:
        self.directory = Path(directory).resolve()
        if not _SAFE_PATH.match(str(self.directory)):
            raise LabError(f"lab directory {self.directory} contains characters that ssh configs cannot hold; "
                           "use letters, digits and ._/+@,=:- only")
        _check_network(network)
        if not 0 <= port <= 65535:
            raise LabError(f"invalid port {port}: expected 0 (pick a free one) to 65535")
        if isolation not in ISOLATIONS:
            raise LabError(f"invalid isolation {isolation!r}: expected one of {', '.join(ISOLATIONS)}")
        names = [host.name for host in hosts]
        if len(set(names)) != len(names) or not 1 <= len(names) <= 254:
            raise LabError(f"host names must be unique and number 1 to 254: {names}")

        self.hosts = tuple(hosts)
        self.port = port
        self.network = network
        self.isolation = isolation
        self.inventory_vars = dict(inventory_vars)
        self.stop_with_parent = stop_with_parent
        self._state: LabState | None = None

    # Paths.

    @property
    def ssh_config(self) -> Path:
        """OpenSSH client config with one ``Host`` entry per lab host."""
        return self.directory / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        """known_hosts file with every sshd host's key."""
        return self.directory / "known_hosts"

    @property
    def inventory(self) -> Path:
        """fleetroute inventory in Ansible YAML form."""
        return self.directory / "inventory.yml"

    @property
    def identity(self) -> Path:
        """Client private key authorized on every host."""
        return self.directory / "id_ed25519"

    @property
    def shared_dir(self) -> Path:
        """Directory that every host and this machine see at the same path; put job inputs here."""
        return self.directory / "shared"

    @property
    def pids_file(self) -> Path:
        """State file of the running lab."""
        return self.directory / "pids.json"

    def host_dir(self, name: str) -> Path:
        """Return the directory of host ``name``'s sshd files."""
        return self.directory / "hosts" / name

    def fs_root(self, name: str) -> Path:
        """Return the directory that contains host ``name``'s private directories."""
        return self.host_dir(name) / "fs"

    def fs_path(self, name: str, path: str) -> Path:
        """Return where the host's file ``path`` lives on this machine, for reading it from outside.

        Raises ``ValueError`` unless ``path`` is absolute and inside one of the host's
        private directories (/usr/local, /var/log, /var/lib, /run/lock, /tmp, /root).
        """
        _check_private_path(path)
        return self.fs_root(name) / path.lstrip("/")

    def host_path(self, name: str, path: str) -> str:
        """Return the path that commands on host ``name`` use for its file ``path``.

        That is ``path`` itself under namespace isolation and ``path`` under the host's
        prefix otherwise. Raises ``ValueError`` like ``fs_path``.
        """
        _check_private_path(path)
        if self.state.isolation == "namespace":
            return path
        return str(self.fs_root(name)) + path

    @property
    def state(self) -> LabState:
        """State of the running lab: isolation and port in use, and each host's process.

        Raises ``LabError`` when the lab is not up.
        """
        return self._current_state()

    def address(self, name: str) -> str:
        """Return the loopback address of host ``name``."""
        for index, host in enumerate(self.hosts):
            if host.name == name:
                return f"{self.network}.{index + 1}"
        raise LabError(f"no lab host named {name!r}")

    # Lifecycle.

    def up(self, *, fresh: bool = False, timeout: float = 10.0) -> None:
        """Start every host, write the client files and return once every host responds.

        When the same lab is already up, reuse it and return. ``fresh`` deletes the
        hosts' file trees first, which also removes anything fleetroute installed, and
        is rejected while the lab is up.
        Raises ``LabError`` when another lab is up in the directory, an address is
        taken, or a host does not respond within ``timeout`` seconds. Before raising,
        it stops the hosts started so far.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._reuse_running():
            if fresh:
                raise LabError(f"cannot delete the host trees of the running lab in {self.directory}. "
                               f"Run `python -m lab down --dir {self.directory}` first")
            return

        isolation = self._resolve_isolation()
        port = self.port or sshd.free_port([self.address(h.name) for h in self.hosts])
        self._check_addresses(port)
        if os.geteuid() == 0:
            # sshd running as root chroots its unprivileged child into this directory.
            sshd.PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)

        self._write_files(port, isolation, fresh)
        self._state = LabState(isolation=isolation, network=self.network, port=port, hosts=[])
        try:
            self._start_hosts(timeout)
        except BaseException:
            self.down()
            raise
        log.info("lab up in %s: %d hosts on port %d (%s isolation)", self.directory, len(self.hosts), port, isolation)

    def down(self) -> list[int]:
        """Stop every process of the lab and return the PIDs stopped.

        Under namespace isolation this includes every process in a host's mount
        namespace, such as SSH sessions and workloads. Under prefix isolation it
        includes the sshd's descendants only, so a process that detached with setsid
        and was reparented survives. Raises ``LabError`` when a process keeps running
        after SIGKILL.
        """
        state = self._state or self._read_state()
        if state is None:
            return []
        stopped = self._stop_hosts(state)
        survivors = [pid for pid, started in self._lab_processes(state) if procs.is_running(pid, started)]
        if survivors:
            raise LabError(f"lab processes {survivors} still run after SIGKILL. Check them with `ps -p`")
        self.pids_file.unlink(missing_ok=True)
        self._state = None
        log.info("lab down in %s: stopped PIDs %s", self.directory, stopped)
        return stopped

    def status(self) -> list[HostStatus]:
        """Return each host's process and whether its port responds. All hosts are down when the lab is not up."""
        state = self._state or self._read_state()
        if state is None:
            return [
                HostStatus(h.name, h.kind, self.address(h.name), self.port, None, running=False, responding=False)
                for h in self.hosts
            ]
        rows = []
        for host in state.hosts:
            responding = _responds(host.kind, self._read_banner(host, state.port, timeout=0.3))
            row = HostStatus(host.name, host.kind, host.address, state.port, host.pid, host.running(), responding)
            rows.append(row)
        return rows

    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.down()

    # Running commands on hosts.

    def exec(
        self,
        name: str,
        command: str | Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | bytes | None = None,
        cwd: str = "/",
        timeout: float = 60.0,
        check: bool = False,
        text: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run ``command`` in host ``name``'s view of the file system, without SSH, and return the result.

        A string runs with ``bash -c``; a sequence is the argv. The command gets an
        environment like an SSH session's (PATH, HOME, USER, LANG) plus ``env``, and
        its output is captured. Under namespace isolation it runs through ``nsenter``
        in the host's mount and UTS namespaces; under prefix isolation it runs directly.
        Raises ``LabError`` when the host's sshd is not running, and
        ``subprocess.CalledProcessError`` or ``subprocess.TimeoutExpired`` as
        ``subprocess.run`` does.
        """
        argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
        user = pwd.getpwuid(os.geteuid())
        session_env = {"PATH": SESSION_PATH, "HOME": user.pw_dir, "USER": user.pw_name, "LANG": "C.UTF-8"}
        session_env.update(env or {})
        state = self._current_state()
        host = self._running_sshd(state, name)
        if state.isolation == "namespace":
            env_args = [f"{key}={value}" for key, value in session_env.items()]
            argv = ["nsenter", "-t", str(host.pid), "-m", "-u", "--", "env", "-i", f"--chdir={cwd}", *env_args, *argv]
            return subprocess.run(argv, input=input, capture_output=True, timeout=timeout, check=check, text=text)
        return subprocess.run(
            argv, input=input, env=session_env, cwd=cwd, capture_output=True, timeout=timeout, check=check, text=text
        )

    def ssh(
        self,
        name: str,
        command: str | Sequence[str],
        *,
        options: Sequence[str] = (),
        input: str | bytes | None = None,
        timeout: float = 30.0,
        check: bool = False,
        text: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run ``command`` on host ``name`` with the real ssh client and the lab's ssh_config.

        A string goes to the remote shell as written; a sequence is quoted with
        ``shlex.join`` first. ``options`` go before the host name. Output is captured.
        """
        remote = command if isinstance(command, str) else shlex.join(command)
        argv = ["ssh", "-F", str(self.ssh_config), *options, "--", name, remote]
        return subprocess.run(argv, input=input, capture_output=True, timeout=timeout, check=check, text=text)

    def records(self, name: str) -> list[WorkloadRecord]:
        """Return the runs that host ``name``'s workload recorded in its default record file."""
        return read_records(self.fs_path(name, install.RECORDS_FILE))

    def set_nvidia_smi(self, name: str, spec: NvidiaSmiSpec | None) -> None:
        """Change what host ``name``'s nvidia-smi reports from its next call on.

        ``spec`` None removes the spec file, so nvidia-smi, which stays installed, fails.
        """
        install.write_nvidia_smi_spec(self.fs_root(name), name, spec)

    # Internals.

    def _current_state(self) -> LabState:
        state = self._state or self._read_state()
        if state is None:
            raise LabError(f"the lab in {self.directory} is not up. Run `python -m lab up --dir {self.directory}`")
        return state

    def _running_sshd(self, state: LabState, name: str) -> HostProcess:
        host = state.host(name)
        if host.kind != "sshd" or not host.running():
            raise LabError(
                f"lab host {name} has no running sshd (kind {host.kind}). See {self.host_dir(name)}/sshd.log"
            )
        return host

    def _resolve_isolation(self) -> str:
        root = os.geteuid() == 0
        if self.isolation == "namespace" and not root:
            raise LabError("namespace isolation needs root. Use isolation 'prefix' or 'auto'")
        if self.isolation == "auto":
            return "namespace" if root and shutil.which("unshare") and shutil.which("nsenter") else "prefix"
        return self.isolation

    def _reuse_running(self) -> bool:
        """Return True when this lab is already up as configured, or raise ``LabError`` when another one is."""
        state = self._read_state()
        if state is None:
            return False
        expected = [h.name for h in self.hosts]
        live = [h for h in state.hosts if h.running()]
        started = [h for h in state.hosts if h.kind != "offline"]
        if not live:
            log.info("removing stale %s: none of its processes runs", self.pids_file)
            self.pids_file.unlink()
            return False
        same = (
            [h.name for h in state.hosts] == expected
            and state.network == self.network
            and (self.port in (0, state.port))
            and (self.isolation in ("auto", state.isolation))
            and len(live) == len(started)
        )
        if not same:
            raise LabError(
                f"another lab configuration, or a partly stopped lab, is up in {self.directory}. "
                f"Run `python -m lab down --dir {self.directory}` first"
            )
        log.info("lab in %s is already up; reusing it", self.directory)
        self._state = state
        return True

    def _check_addresses(self, port: int) -> None:
        for host in self.hosts:
            address = self.address(host.name)
            if host.kind == "offline":
                if sshd.read_banner(address, port, timeout=0.3) is not None:
                    raise LabError(f"{address}:{port} for offline host {host.name} accepts connections. "
                                   "Pick another --port or --network")
            elif sshd.address_in_use(address, port):
                raise LabError(f"{address}:{port} for host {host.name} is already in use. "
                               f"Pick another --port, or run `python -m lab down --dir DIR` for the lab there")

    def _write_files(self, port: int, isolation: str, fresh: bool) -> None:
        """Write keys, per-host trees and configs, and the client files."""
        self.shared_dir.mkdir(exist_ok=True)
        self.shared_dir.chmod(0o1777)
        client_key = sshd.ensure_key(self.identity, "fleetroute-lab-client")
        write_text(self.directory / "authorized_keys", client_key + "\n", mode=0o600)

        addresses = []
        known_hosts = []
        for host in self.hosts:
            address = self.address(host.name)
            prefix = None if isolation == "namespace" else self.fs_root(host.name)
            addresses.append(HostAddress(host, address, port, prefix))
            if host.kind != "sshd":
                continue
            public_key = self._write_host(host, address, port, isolation, fresh)
            known_hosts.append(known_hosts_line(address, port, public_key))

        user = pwd.getpwuid(os.geteuid()).pw_name
        write_text(self.known_hosts, "\n".join(known_hosts) + "\n")
        write_text(self.ssh_config, render_ssh_config(addresses, user=user, identity=self.identity,
                                                      known_hosts=self.known_hosts))
        run_as = None if isolation == "namespace" or user == "root" else user
        data = inventory_data(addresses, ssh_config=self.ssh_config, common_vars=self.inventory_vars, run_as=run_as)
        write_text(self.inventory, render_inventory(data))

    def _write_host(self, host: HostSpec, address: str, port: int, isolation: str, fresh: bool) -> str:
        """Write one sshd host's files and return its public host key."""
        host_dir = self.host_dir(host.name)
        fs_root = self.fs_root(host.name)
        host_dir.mkdir(parents=True, exist_ok=True)
        if fresh:
            install.remove_host_tree(fs_root)
        root = "" if isolation == "namespace" else str(fs_root)
        self._check_installed_root(fs_root, root)
        install.install_host(fs_root, host, root)
        (host_dir / "installed-root").write_text(root + "\n")

        public_key = sshd.ensure_key(host_dir / "ssh_host_ed25519_key", f"fleetroute-lab-{host.name}")
        config = sshd.render_sshd_config(
            address=address,
            port=port,
            host_key=host_dir / "ssh_host_ed25519_key",
            authorized_keys=self.directory / "authorized_keys",
            pid_file=host_dir / "sshd.pid",
            allow_root=True,
        )
        write_text(host_dir / "sshd_config", config)
        if (host.users or host.private_network or host.jump_into) and isolation != "namespace":
            raise LabError(
                f"lab host {host.name} has users, a private network or jump_into, which need namespace isolation "
                f"(root, unshare, nsenter)"
            )
        if isolation == "namespace":
            for _, mountpoint in sshd.keep_mounts(self.directory, fs_root):
                mountpoint.mkdir(parents=True, exist_ok=True)
            etc_dir = None
            if host.users:
                etc_dir = host_dir / "etc"
                authorized_key = (self.directory / "authorized_keys").read_text().strip()
                users.write_etc(etc_dir, fs_root, host.name, host.users, authorized_key)
            wrapper = sshd.render_namespace_wrapper(
                host=host.name,
                lab_dir=self.directory,
                fs_root=fs_root,
                sshd_config=host_dir / "sshd_config",
                etc_dir=etc_dir,
                etc_files=(*users.ETC_FILES, *users.ETC_DIRS),
                private_network=host.private_network,
            )
            write_text(host_dir / "start-sshd.sh", wrapper, mode=0o755)
        return public_key

    def _check_installed_root(self, fs_root: Path, root: str) -> None:
        # Scripts installed for the other isolation look for their files in the wrong place.
        marker = fs_root.parent / "installed-root"
        if fs_root.exists() and marker.exists() and marker.read_text().strip() != root:
            raise LabError(f"{fs_root} was installed for another isolation. Run `up` with fresh=True (--fresh)")

    def _start_hosts(self, timeout: float) -> None:
        """Start each host's process, record it in pids.json and wait until all respond."""
        assert self._state is not None
        children: dict[str, subprocess.Popen] = {}
        for host in self.hosts:
            address = self.address(host.name)
            record = HostProcess(host.name, host.kind, address)
            self._state.hosts.append(record)
            if host.kind == "offline":
                continue
            command = self._host_command(host, address)
            with open(self.host_dir(host.name) / "sshd.log", "wb") as log_file:
                child = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd="/",
                    env={"PATH": SESSION_PATH, "LANG": "C.UTF-8"},
                    start_new_session=True,
                    preexec_fn=_die_with_parent if self.stop_with_parent else None,
                )
            children[host.name] = child
            record.pid, record.start_time, record.command = child.pid, procs.start_time(child.pid), command
            self._write_state()

        self._wait_until_responding(children, timeout)
        for record in self._state.hosts:
            record.namespace = self._private_namespace(self._state, record)
        self._write_state()

    def _private_namespace(self, state: LabState, host: HostProcess) -> str | None:
        """Return the mount namespace of a namespaced sshd host, or None when it has none of its own.

        Only a namespace that differs from this process's counts: ``down`` stops every
        process in it, which must never include processes outside the lab.
        """
        if state.isolation != "namespace" or host.kind != "sshd" or not host.running():
            return None
        namespace = procs.mount_namespace(host.pid)
        return namespace if namespace != procs.mount_namespace(os.getpid()) else None

    def _host_command(self, host: HostSpec, address: str) -> list[str]:
        assert self._state is not None
        if host.kind == "hang":
            self.host_dir(host.name).mkdir(parents=True, exist_ok=True)
            return sshd.hang_command(address, self._state.port)
        if host.jump_into:
            inner = next((record for record in self._state.hosts if record.name == host.jump_into), None)
            if inner is None or inner.pid is None:
                raise LabError(f"lab host {host.jump_into}, which {host.name} jumps into, must come before it in the table")
            sshd_config = self.host_dir(host.name) / "sshd_config"
            return sshd.jump_command(address, self._state.port, f"/proc/{inner.pid}/ns/net", sshd_config)
        if self._state.isolation == "namespace":
            wrapper = self.host_dir(host.name) / "start-sshd.sh"
            return sshd.namespace_command(wrapper, private_network=host.private_network)
        return sshd.plain_command(self.host_dir(host.name) / "sshd_config")

    def _wait_until_responding(self, children: Mapping[str, subprocess.Popen], timeout: float) -> None:
        assert self._state is not None
        pending = {h.name: h for h in self._state.hosts if h.name in children}
        deadline = time.monotonic() + timeout
        while pending:
            for name, host in list(pending.items()):
                if children[name].poll() is not None:
                    code = children[name].returncode
                    raise LabError(f"lab host {name} exited with code {code}:\n{self._log_tail(name)}")
                if _responds(host.kind, self._read_banner(host, self._state.port, timeout=0.2)):
                    del pending[name]
            if pending and time.monotonic() > deadline:
                names = ", ".join(pending)
                raise LabError(f"lab hosts {names} did not respond within {timeout} s. Their sshd.log ends with:\n"
                               + "\n".join(self._log_tail(name) for name in pending))
            if pending:
                time.sleep(0.05)

    def _read_banner(self, host: HostProcess, port: int, timeout: float) -> bytes | None:
        """Return what the host's port sends first, read inside its network namespace when it has its own."""
        spec = next((spec for spec in self.hosts if spec.name == host.name), None)
        if spec is not None and spec.private_network and host.pid is not None:
            return sshd.read_banner_in(f"/proc/{host.pid}/ns/net", host.address, port, timeout=timeout)
        return sshd.read_banner(host.address, port, timeout=timeout)

    def _log_tail(self, name: str, lines: int = 15) -> str:
        path = self.host_dir(name) / "sshd.log"
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return f"({path} does not exist)"
        return "\n".join(f"  {name}: {line}" for line in text.splitlines()[-lines:])

    def _stop_hosts(self, state: LabState) -> list[int]:
        """Stop the host processes in ``state`` and return their PIDs.

        A recorded PID that another program now uses is skipped.
        """
        targets = self._lab_processes(state)
        stopped = procs.terminate(targets)
        # Sessions that forked while the first round was stopping are caught by a second one.
        stopped += procs.terminate(self._lab_processes(state))
        return stopped

    def _lab_processes(self, state: LabState) -> list[tuple[int, int]]:
        """Return the (pid, start time) pairs of every running process that belongs to the lab."""
        found: dict[int, int] = {}
        for host in state.hosts:
            if host.pid is None or host.start_time is None:
                continue
            if host.running():
                if not self._is_lab_command(host):
                    log.warning("not stopping PID %d of host %s: it now runs %s", host.pid, host.name,
                                procs.command_line(host.pid))
                    continue
                found[host.pid] = host.start_time
            namespace = host.namespace or self._private_namespace(state, host)
            if namespace is not None and namespace != procs.mount_namespace(os.getpid()):
                members = procs.processes_in_namespace(namespace, host.start_time, str(self.fs_root(host.name)))
            elif host.running():
                members = procs.descendants(host.pid)
            else:
                members = []
            for pid in members:
                started = procs.start_time(pid)
                if started is not None:
                    found[pid] = started
        return sorted(found.items())

    def _is_lab_command(self, host: HostProcess) -> bool:
        """Return True when the host's PID still runs the lab's command, checked through /proc/PID/cmdline."""
        argv = procs.command_line(host.pid) if host.pid is not None else []
        host_dir = str(self.host_dir(host.name))
        if host.kind == "hang":
            return sshd.HANG_MARKER in argv and host.address in argv
        # Before exec the host runs as unshare or bash, afterwards as sshd, and each names a file of the host.
        # sshd rewrites its argv into a title such as "sshd: /usr/sbin/sshd -D -e -f FILE [listener] ...".
        return any(host_dir + "/" in arg for arg in argv)

    def _read_state(self) -> LabState | None:
        try:
            raw = json.loads(self.pids_file.read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as error:
            raise LabError(f"{self.pids_file} is not valid JSON ({error}). Stop its processes by hand") from error
        if raw.get("version") != _STATE_VERSION:
            raise LabError(f"{self.pids_file} has version {raw.get('version')}, expected {_STATE_VERSION}")
        hosts = [HostProcess(**host) for host in raw["hosts"]]
        return LabState(isolation=raw["isolation"], network=raw["network"], port=raw["port"], hosts=hosts)

    def _write_state(self) -> None:
        assert self._state is not None
        data = {"version": _STATE_VERSION, **asdict(self._state)}
        write_text(self.pids_file, json.dumps(data, indent=2) + "\n")


def _responds(kind: str, banner: bytes | None) -> bool:
    """Return True when ``banner``, from ``sshd.read_banner``, is what a host of ``kind`` sends."""
    if kind == "sshd":
        return banner is not None and banner.startswith(b"SSH-")
    return banner == b""


def _die_with_parent() -> None:
    """Ask the kernel to send SIGTERM to this (forked) process when its parent thread exits.

    The setting survives exec of unshare, bash and sshd because none of them is setuid.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _check_network(network: str) -> None:
    octets = network.split(".")
    if len(octets) != 3 or octets[0] != "127" or not all(o.isdigit() and int(o) <= 255 for o in octets):
        raise LabError(f"invalid network {network!r}: expected three octets of a loopback address, like 127.0.42")


def _check_private_path(path: str) -> None:
    if not any(path == private or path.startswith(private + "/") for private in sshd.PRIVATE_DIRS):
        raise ValueError(f"{path!r} is not inside a lab host's private directories: {', '.join(sshd.PRIVATE_DIRS)}")
