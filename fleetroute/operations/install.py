"""The install state machine of the binary-wrapper pattern: plan from facts, then apply.

``plan_install`` and ``plan_uninstall`` are pure: they read the state the probe found
and return the action and the human-readable changes, or raise ``InstallError`` for a
state that has no safe way forward. ``apply`` runs ``templates/remote/install.sh`` with
that action; the script re-checks that BINARY is still as probed, under a host lock.
"""

from __future__ import annotations

import hashlib
import posixpath
import time
from dataclasses import dataclass

from fleetroute.connectors.ssh import SSHHost
from fleetroute.errors import CommandError, InstallError
from fleetroute.facts.host import DirState, InstallState
from fleetroute.remote import remote_script
from fleetroute.settings import HostSettings

NO_CHANGE = "none"
INSTALL_ACTIONS = ("fresh", "resume", "update-router", "adopt-upgrade", "adopt-through-link", "dirs")


@dataclass(frozen=True)
class Plan:
    """Install or uninstall step for one host: ``action`` for install.sh and the changes it makes."""

    action: str
    changes: tuple[str, ...]
    write_router: bool = False

    @property
    def changed(self) -> bool:
        """Return True when applying the plan changes the host."""
        return self.action != NO_CHANGE


def sha256_text(text: str) -> str:
    """Return the hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode()).hexdigest()


def plan_install(state: InstallState, settings: HostSettings, router_sha256: str) -> Plan:
    """Choose the install action for the state found at BINARY.

    States: fresh (BINARY a regular file), an interrupted fresh install (BINARY-real
    is the same file), wrapped and current, wrapped with an outdated router, and
    wrapped but a package upgrade wrote a new file over the link, and wrapped but a
    build was copied onto BINARY, through the link into the router file. Raises
    ``InstallError`` for BINARY missing, a directory, or a link to something else,
    and for a wrapped BINARY whose real binary is gone.
    """
    binary, real, router_path = settings.workload_binary, settings.real_binary, settings.router_path
    kind = state.binary.kind
    if kind == "symlink" and state.binary.target == router_path:
        return _plan_wrapped(state, settings, router_sha256)
    if kind == "symlink":
        raise InstallError(
            f"{binary} is a symlink to {state.binary.target}, not to the fleetroute router; "
            f"wrapping a link would break whatever manages it. Set workload_binary to the real "
            f"file (for example {_resolve(binary, state.binary.target)}) and rerun",
        )
    if kind == "missing":
        hint = f"; {real} exists, so restore it with: mv {real} {binary}" if state.real.kind == "file" else ""
        raise InstallError(f"workload binary not found at {binary}: install the workload first{hint}")
    if kind != "file":
        raise InstallError(f"{binary} is a {kind}, not an executable file; check workload_binary")

    router_change = f"install router {router_path}"
    dir_changes = _dir_changes(state, settings)
    if state.real.kind == "missing":
        wrap = f"move {binary} to {real} and link {binary} to the router"
        return Plan("fresh", (router_change, wrap, *dir_changes, "write manifest"), write_router=True)
    if state.real.kind != "file":
        raise InstallError(f"{real} is a {state.real.kind}; move it away so the real binary can be kept there")
    if state.real_inode == state.binary_inode or state.real_sha256 == state.binary_sha256:
        wrap = f"link {binary} to the router ({real} already holds the real binary)"
        return Plan("resume", (router_change, wrap, *dir_changes, "write manifest"), write_router=True)
    if state.manifest:
        upgrade = (
            f"keep the upgraded {binary} as {real}, back up the previous {real}, and link {binary} to the router"
        )
        return Plan("adopt-upgrade", (router_change, upgrade, *dir_changes, "write manifest"), write_router=True)
    raise InstallError(
        "",
        f"{real} already exists, differs from {binary}, and no fleetroute manifest explains it; "
        f"move {real} away (it may be another tool's backup) and rerun",
    )


def _plan_wrapped(state: InstallState, settings: HostSettings, router_sha256: str) -> Plan:
    real = settings.real_binary
    if state.real.kind != "file":
        raise InstallError(
            f"{settings.workload_binary} links to the router but the real binary {real} is {state.real.kind}; "
            f"reinstall the workload to {real} (or restore it from a backup) and rerun",
        )
    changes: list[str] = []
    action = NO_CHANGE
    if state.router.kind == "file" and not state.router_is_fleetroute:
        changes.append(
            f"keep the build written through the {settings.workload_binary} link (now at {settings.router_path}) "
            f"as {real}, back up the previous {real}, and reinstall the router"
        )
        action = "adopt-through-link"
    elif state.router_sha256 != router_sha256:
        changes.append(f"update router {settings.router_path}")
        action = "update-router"
    dir_changes = _dir_changes(state, settings)
    manifest_stale = state.manifest.get("router_sha256") != router_sha256
    if dir_changes or manifest_stale or action != NO_CHANGE:
        changes += [*dir_changes, "write manifest"]
        action = action if action != NO_CHANGE else "dirs"
    return Plan(action, tuple(changes), write_router=action in ("update-router", "adopt-through-link"))


def _dir_changes(state: InstallState, settings: HostSettings) -> list[str]:
    changes = _tmpfiles_changes(state, settings)
    if state.foreign_files:
        changes.append(f"give {state.foreign_files} lock or log file(s) to owner {settings.run_as}")
    for label, directory, parent, path, mode in (
        ("log", state.log_dir, state.log_parent, posixpath.dirname(settings.router_log), "755"),
        ("lock", state.lock_dir, state.lock_parent, settings.lock_dir, "750"),
    ):
        _check_parent(label, path, parent, settings)
        if directory.kind == "symlink":
            raise InstallError(f"{label} directory {path} is a symlink; remove it so fleetroute can create a directory")
        if directory.kind == "missing":
            changes.append(f"create {label} directory {path} owned by {settings.run_as}")
        elif directory.kind != "dir":
            raise InstallError(f"{label} directory {path} exists and is not a directory")
        elif directory.owner != settings.run_as or directory.mode != mode:
            changes.append(f"set {label} directory {path} to owner {settings.run_as}, mode {mode}")
    return changes


def _check_parent(label: str, path: str, parent: DirState, settings: HostSettings) -> None:
    """Raise ``InstallError`` when the directory that contains ``path`` lets any user replace it.

    In a world-writable parent, another user could create ``path`` first, as a link
    to a file that the router would then write as ``run_as``. install.sh checks
    again under the host lock, together with the owners of every directory above.
    """
    if parent.kind != "dir" or settings.allow_world_writable_parent:
        return
    if parent.mode.isdigit() and int(parent.mode, 8) & 0o002:
        raise InstallError(
            f"the parent of the {label} directory {path} is world-writable (mode {parent.mode}), so another user "
            f"could plant a link there; choose a directory under a parent that only root can write to, or set "
            f"allow_world_writable_parent: true"
        )


def tmpfiles_conf(settings: HostSettings) -> str:
    """Return the tmpfiles.d entry that recreates the lock directory at boot.

    /run is a tmpfs, so a lock directory there and its parents vanish at every reboot;
    systemd-tmpfiles recreates them from this entry. Returns "" for a lock directory
    outside /run. Raises ``InstallError`` for a path that tmpfiles.d cannot hold.
    """
    lock_dir = posixpath.normpath(settings.lock_dir)
    if not lock_dir.startswith("/run/"):
        return ""
    if any(char.isspace() or char in "%\\" for char in lock_dir):
        raise InstallError(
            f"lock_dir {lock_dir!r} contains whitespace, % or a backslash, which a tmpfiles.d entry "
            f"cannot hold; choose a plain path"
        )
    base = "/run/lock" if lock_dir.startswith("/run/lock/") else "/run"
    lines = [f"# Written by fleetroute: recreates the lock directory of {settings.name} at boot."]
    parents = lock_dir[len(base) + 1 :].split("/")[:-1]
    for depth in range(1, len(parents) + 1):
        lines.append(f"d {base}/{'/'.join(parents[:depth])} 0755 root root -")
    lines.append(f"d {lock_dir} 0750 {settings.run_as} - -")
    return "\n".join(lines) + "\n"


def _tmpfiles_changes(state: InstallState, settings: HostSettings) -> list[str]:
    conf = tmpfiles_conf(settings)
    wanted = sha256_text(conf) if conf else "-"
    if state.tmpfiles_sha256 == wanted:
        return []
    verb = "write" if conf else "remove"
    return [f"{verb} tmpfiles.d entry {settings.tmpfiles_path}"]


def plan_uninstall(state: InstallState, settings: HostSettings) -> Plan:
    """Choose the uninstall action: restore the real binary, or clean up what is left.

    Raises ``InstallError`` when BINARY links to the router but the real binary is gone.
    """
    binary, real, router_path = settings.workload_binary, settings.real_binary, settings.router_path
    wrapped = state.binary.kind == "symlink" and state.binary.target == router_path
    if wrapped and state.router.kind == "file" and not state.router_is_fleetroute:
        return Plan(
            "restore-through-link",
            (
                f"keep the build written through the {binary} link (now at {router_path}) as {binary}",
                f"back up the previous {real}",
                *_cleanup_changes(state, settings, router=False),
            ),
        )
    if wrapped and state.real.kind == "file":
        return Plan("restore", (f"move {real} back to {binary}", *_cleanup_changes(state, settings)))
    if wrapped:
        raise InstallError(f"{binary} links to the router but {real} is {state.real.kind}; nothing to restore from")
    if state.binary.kind == "file" and state.manifest and state.real.kind == "file":
        return Plan(
            "detach",
            (
                f"keep {binary} (replaced since the deploy, probably by a package upgrade)",
                f"back up the previous {real}",
                *_cleanup_changes(state, settings),
            ),
        )
    if state.manifest or state.router.kind != "missing" or state.tmpfiles_sha256 != "-":
        return Plan("clean", _cleanup_changes(state, settings))
    return Plan(NO_CHANGE, ())


def _cleanup_changes(state: InstallState, settings: HostSettings, *, router: bool = True) -> tuple[str, ...]:
    """Return the removals every uninstall makes: router, manifest, and the tmpfiles.d entry when there is one."""
    changes = [f"remove router {settings.router_path}"] if router else []
    changes.append("remove manifest")
    if state.tmpfiles_sha256 != "-":
        changes.append(f"remove tmpfiles.d entry {settings.tmpfiles_path}")
    return tuple(changes)


def expected_state(state: InstallState) -> str:
    """Return BINARY's state in the form install.sh checks before it acts."""
    if state.binary.kind == "symlink":
        return f"symlink:{state.binary.target}"
    if state.binary.kind == "missing":
        return "missing"
    return f"file:{state.binary_inode}"


def apply(ssh: SSHHost, plan: Plan, state: InstallState, settings: HostSettings, router: str | None) -> None:
    """Carry out ``plan`` on the host through install.sh.

    ``router`` is the rendered router text, sent on stdin when the plan writes it.
    Raises ``InstallError`` with install.sh's message when it refuses or fails.
    """
    if not plan.changed:
        return
    router_text = router or ""
    args = [
        plan.action,
        settings.workload_binary,
        settings.real_binary,
        settings.router_path,
        sha256_text(router_text),
        expected_state(state),
        settings.state_dir,
        settings.manifest_path,
        posixpath.dirname(settings.router_log),
        settings.lock_dir,
        settings.run_as,
        time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        settings.tmpfiles_path,
        tmpfiles_conf(settings) if plan.action in INSTALL_ACTIONS else "",
        settings.router_log,
        "1" if settings.allow_world_writable_parent else "0",
    ]
    stdin = router_text.encode() if plan.write_router else None
    result = ssh.run_script(remote_script("install.sh"), args, name="install", stdin=stdin)
    if not result.ok:
        message = result.stderr.strip().removeprefix("fleetroute: ") or f"install.sh exited {result.exit_code}"
        raise CommandError(ssh.name, f"{plan.action} failed: {message}", result)


def _resolve(binary: str, target: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(binary), target))
