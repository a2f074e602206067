"""The systemd service of the workload's caller: a MemoryMax drop-in and a sandboxing check.

When ``systemd_unit`` is set, deploy keeps ``SYSTEMD_DROPIN_DIR/UNIT.d/fleetroute-memory.conf``
with ``MemoryMax=`` from the memory budget, and uninstall removes it. Both read the
unit file and its drop-ins from ``systemd_unit_dirs`` in the same round trip, and
deploy warns when the unit's sandboxing would hide or block the router's log and
lock paths. The unit files are read as text, because ``systemctl show`` needs a
running systemd, which containers and the lab do not have.
"""

from __future__ import annotations

import logging
import posixpath
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fleetroute.connectors.ssh import SSHHost
from fleetroute.errors import CommandError, InstallError
from fleetroute.facts.host import split_sections
from fleetroute.operations.budget import recommended_memory_max_mb
from fleetroute.remote import remote_script
from fleetroute.render import render_template
from fleetroute.report import HostReport
from fleetroute.settings import HostSettings

log = logging.getLogger(__name__)

DROPIN_NAME = "fleetroute-memory.conf"
DROPIN_TEMPLATE = "systemd/memory-dropin.conf.j2"
CHANGED_RESULTS = ("written", "would-write", "removed", "would-remove")
_TRUE = ("1", "yes", "y", "true", "t", "on")
# Paths that ProtectSystem= makes read-only, by its value (systemd.exec(5), systemd 252).
_PROTECT_SYSTEM_PATHS = {
    "yes": ("/usr", "/boot", "/efi"),
    "full": ("/usr", "/boot", "/efi", "/etc"),
    "strict": ("/",),
}
_HOME_PATHS = ("/home", "/root", "/run/user")
_PRIVATE_TMP_PATHS = ("/tmp", "/var/tmp")


@dataclass
class UnitFiles:
    """The unit file and drop-ins that the host printed, as (path, text) in systemd's load order."""

    files: list[tuple[str, str]] = field(default_factory=list)

    def service_settings(self) -> dict[str, list[str]]:
        """Return the effective ``[Service]`` assignments: each key's values after resets.

        A later file overrides an earlier one for single-value keys (the last value
        wins), list keys such as ReadWritePaths= add up, and an empty assignment
        resets a list, as systemd does.
        """
        values: dict[str, list[str]] = {}
        for _, text in self.files:
            for key, value in _service_assignments(text):
                if value == "":
                    values[key] = []
                else:
                    values.setdefault(key, []).append(value)
        return values


def unit_name(settings: HostSettings) -> str:
    """Return ``systemd_unit`` with ``.service`` added when it has no unit suffix.

    Raises ``InstallError`` for a name with a slash or whitespace, which no unit has.
    """
    name = settings.systemd_unit or ""
    if not name or "/" in name or any(char.isspace() for char in name):
        raise InstallError(f"systemd_unit {name!r} is not a unit name; use a name such as gitlab-runner.service")
    return name if "." in name else name + ".service"


def dropin_path(settings: HostSettings) -> str:
    """Return the path of the MemoryMax drop-in on the host."""
    return posixpath.join(settings.systemd_dropin_dir, f"{unit_name(settings)}.d", DROPIN_NAME)


def render_dropin(settings: HostSettings) -> str:
    """Render the drop-in that sets ``MemoryMax=`` to the budget's recommendation, in MiB."""
    return render_template(
        DROPIN_TEMPLATE,
        workload=settings.name,
        workload_ram_mb=settings.workload_ram_mb,
        max_cpu_jobs=settings.max_cpu_jobs,
        memory_max_mb=recommended_memory_max_mb(settings),
    )


def verify_dropin(text: str) -> list[str]:
    """Check ``text`` with ``systemd-analyze verify`` on a throwaway unit, on this machine.

    Returns the lines that name the drop-in (systemd-analyze 252 exits 0 for an invalid
    value and only prints it), or a single line when it exits non-zero. Returns [] when
    systemd-analyze is not installed.
    """
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        log.info("systemd-analyze not found; the MemoryMax drop-in is not verified")
        return []
    with tempfile.TemporaryDirectory(prefix="fleetroute-unit-") as directory:
        unit = Path(directory) / "fleetroute-check.service"
        unit.write_text("[Unit]\nDescription=fleetroute drop-in check\n[Service]\nExecStart=/bin/true\n")
        dropin = Path(directory) / "fleetroute-check.service.d" / DROPIN_NAME
        dropin.parent.mkdir()
        dropin.write_text(text)
        env = {"SYSTEMD_UNIT_PATH": f"{directory}:", "PATH": "/usr/bin:/bin", "LC_ALL": "C"}
        done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, env=env, timeout=60)
    output = (done.stdout + done.stderr).splitlines()
    problems = [line.replace(str(dropin), DROPIN_NAME) for line in output if DROPIN_NAME in line]
    if done.returncode != 0 and not problems:
        problems.append(f"systemd-analyze verify exited {done.returncode}: {' '.join(output)[:300]}")
    return problems


def sync_unit(ssh: SSHHost, settings: HostSettings, report: HostReport, *, remove: bool, check: bool) -> bool:
    """Write (or with ``remove``, delete) the drop-in on the host, and check the unit's sandboxing.

    Adds the change to ``report.changes`` and the sandboxing findings to
    ``report.warnings``. With ``check``, changes nothing. Returns True when the drop-in
    changed or would change. Raises ``InstallError`` when systemd-analyze rejects the
    drop-in, and ``CommandError`` when the host cannot write or remove it.
    """
    unit = unit_name(settings)
    path = dropin_path(settings)
    text = "" if remove else render_dropin(settings)
    problems = [] if remove else verify_dropin(text)
    if problems:
        raise InstallError(f"systemd-analyze verify rejects the drop-in for {unit}: " + "; ".join(problems))

    if remove:
        mode = "check-remove" if check else "remove"
    else:
        mode = "check" if check else "apply"
    args = [mode, unit, path, text, *settings.systemd_unit_dirs]
    result = ssh.run_script(remote_script("systemd.sh"), args, name="systemd")
    if not result.ok:
        message = f"systemd drop-in step exited {result.exit_code}: {result.stderr.strip()[:300]}"
        raise CommandError(ssh.name, message, result)
    outcome, files = parse_systemd_output(result.stdout)
    _report_outcome(report, outcome, unit, path, settings)
    if not remove:
        report.warnings += sandbox_problems(settings, unit, files)
    return outcome.get("dropin") in CHANGED_RESULTS


def parse_systemd_output(text: str) -> tuple[dict[str, str], UnitFiles]:
    """Parse ``systemd.sh`` output into ({"dropin": result, "reload": status}, unit files).

    Raises ``InstallError`` when the output has no end marker.
    """
    _, sections = split_sections(text)
    if "end" not in sections:
        raise InstallError("systemd drop-in step output ended early (no end marker); rerun with -v")
    outcome: dict[str, str] = {}
    files = UnitFiles()
    for header, lines in sections.items():
        kind, _, rest = header.partition(" ")
        if kind in ("dropin", "reload"):
            outcome[kind] = rest.partition("=")[2]
        elif kind == "file":
            files.files.append((rest, "\n".join(lines)))
    files.files = _load_order(files.files)
    return outcome, files


def sandbox_problems(settings: HostSettings, unit: str, files: UnitFiles) -> list[str]:
    """Return one message per router path that the unit's sandboxing hides or makes read-only, with the fix.

    Checks the router log's directory and the lock directory against PrivateTmp=,
    ProtectSystem= and ProtectHome=, minus the paths that ReadWritePaths= keeps
    writable. NOTE: ReadOnlyPaths=, InaccessiblePaths= and TemporaryFileSystem= are
    not checked. Returns [] when no unit file was found, with a message saying so.
    """
    if not files.files:
        dirs = ", ".join(settings.systemd_unit_dirs)
        return [f"systemd unit {unit} not found in {dirs}; its sandboxing was not checked (fix systemd_unit_dirs)"]
    values = files.service_settings()
    writable = [_path_entry(entry) for value in values.get("ReadWritePaths", []) for entry in value.split()]
    problems = []
    router_paths = (("log directory", posixpath.dirname(settings.router_log)), ("lock directory", settings.lock_dir))
    for label, path in router_paths:
        finding = _path_problem(values, unit, path, writable)
        if finding:
            cause, fix = finding
            problems.append(f"{unit}: {cause} the router's {label} {path}; {fix}")
    return problems


def _path_problem(values: dict[str, list[str]], unit: str, path: str, writable: list[str]) -> tuple[str, str] | None:
    """Return (cause, fix) for the first sandboxing setting that blocks ``path``, or None."""
    add_path = f"add ReadWritePaths={path} to {unit} (systemctl edit {unit})"
    if _last_bool(values, "PrivateTmp") and _under(path, _PRIVATE_TMP_PATHS):
        cause = "PrivateTmp=yes gives the service its own /tmp and /var/tmp, which hides"
        return cause, "move router_log or lock_dir out of /tmp and /var/tmp, or set PrivateTmp=no"
    protect_home = (_last(values, "ProtectHome") or "no").lower()
    if protect_home in _TRUE or protect_home == "tmpfs":
        if _under(path, _HOME_PATHS):
            cause = f"ProtectHome={protect_home} hides"
            fix = f"move the path out of /home, /root and /run/user, or set ProtectHome=read-only and {add_path}"
            return cause, fix
    elif protect_home == "read-only" and _under(path, _HOME_PATHS) and not _under(path, writable):
        return "ProtectHome=read-only makes read-only", add_path
    protect_system = (_last(values, "ProtectSystem") or "no").lower()
    protect_system = "yes" if protect_system in _TRUE else protect_system
    if _under(path, _PROTECT_SYSTEM_PATHS.get(protect_system, ())) and not _under(path, writable):
        return f"ProtectSystem={protect_system} makes read-only", add_path
    return None


def _report_outcome(report: HostReport, outcome: dict[str, str], unit: str, path: str, settings: HostSettings) -> None:
    result = outcome.get("dropin", "?")
    memory_max = recommended_memory_max_mb(settings)
    messages = {
        "written": f"write {path} (MemoryMax={memory_max}M for {unit})",
        "would-write": f"write {path} (MemoryMax={memory_max}M for {unit})",
        "removed": f"remove {path}",
        "would-remove": f"remove {path}",
    }
    if result in messages:
        report.changes.append(messages[result])
    if outcome.get("reload") == "failed":
        report.warnings.append(f"systemctl daemon-reload failed after changing {path}; run it by hand")
    if result == "written":
        report.warnings.append(f"MemoryMax={memory_max}M applies to {unit} from its next restart")


def _load_order(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the unit file, then the drop-ins by file name, the first directory's copy of a name winning."""
    units = [item for item in files if not posixpath.dirname(item[0]).endswith(".d")]
    dropins: dict[str, tuple[str, str]] = {}
    for item in files:
        if posixpath.dirname(item[0]).endswith(".d"):
            dropins.setdefault(posixpath.basename(item[0]), item)
    return units[:1] + [dropins[name] for name in sorted(dropins)]


def _service_assignments(text: str) -> list[tuple[str, str]]:
    """Return the (key, value) assignments of the ``[Service]`` section, joining continued lines."""
    assignments = []
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line:
            key, _, value = line.partition("=")
            assignments.append((key.strip(), value.strip()))
    return assignments


def _last(values: dict[str, list[str]], key: str) -> str | None:
    found = values.get(key)
    return found[-1] if found else None


def _last_bool(values: dict[str, list[str]], key: str) -> bool:
    return (_last(values, key) or "no").lower() in _TRUE


def _path_entry(entry: str) -> str:
    """Return a ReadWritePaths= entry without its "-" (ignore if missing) and "+" (root directory) prefixes."""
    return entry.lstrip("-+")


def _under(path: str, roots: tuple[str, ...] | list[str]) -> bool:
    path = posixpath.normpath(path)
    for root in roots:
        root = posixpath.normpath(root)
        if root == "/" or path == root or path.startswith(root + "/"):
            return True
    return False
