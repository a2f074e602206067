"""Schema of the inventory variables that fleetroute reads, and the resolved per-host settings.

Each variable is declared once in ``VARIABLES`` with its type, default and constraint;
the inventory loader validates against this table and builds ``HostSettings``.
Defaults that depend on the workload's name (log, lock and router paths) are filled
in by ``HostSettings.from_values``.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

PROBES = ("duration", "size", "pixels")
UNKNOWN_METRIC_POLICIES = ("cpu", "gpu", "fail")
ON_GPU_FULL_POLICIES = ("block", "cpu")
ROUTER_MODES = ("exec", "supervise")
GPU_SLOT_MODES = ("shared", "per_gpu")
DEFAULT_UNITS = {"duration": "seconds", "size": "bytes", "pixels": "pixels"}
# Variables whose values are secrets: output shows them masked.
SECRET_VARIABLES = frozenset({"become_password", "ansible_become_password", "ansible_become_pass"})


@dataclass(frozen=True)
class Variable:
    """One inventory variable: its type, default and the rule its value must follow.

    ``kind`` is one of ``str``, ``abs_path``, ``int``, ``number``, ``bool``,
    ``str_list``, ``int_list`` or ``choice``; ``minimum`` and ``maximum`` apply to ``int`` and
    ``number`` (``minimum`` excluded when ``exclusive_minimum``); ``choices`` to
    ``choice``. An ``int_list`` is a non-empty list of distinct integers of at least 0.
    A ``required`` variable has no default.
    """

    name: str
    kind: str
    description: str
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    exclusive_minimum: bool = False


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        # Connection.
        Variable("ansible_host", "str", "address or ssh_config alias to connect to (default: the host's name)"),
        Variable("ansible_port", "int", "SSH port", minimum=1, maximum=65535),
        Variable("ansible_user", "str", "remote user to log in as"),
        Variable("ansible_ssh_private_key_file", "str", "private key file to authenticate with"),
        Variable("ssh_config_file", "str", "OpenSSH client config to read instead of ~/.ssh/config"),
        Variable(
            "ansible_ssh_common_args",
            "str",
            "extra ssh options; fleetroute reads -J HOPS and -o ProxyJump=HOPS from it and rejects any other option",
        ),
        # Privilege escalation with sudo. The ansible_* spellings are Ansible's names for the same settings.
        Variable("become", "bool", "run the remote steps as become_user through sudo (default: false)"),
        Variable("become_user", "str", "user that sudo runs the remote steps as (default: root)"),
        Variable("become_password", "str", "sudo password of the login user; prefer --ask-become-pass"),
        Variable("ansible_become", "bool", "Ansible's name for become"),
        Variable("ansible_become_user", "str", "Ansible's name for become_user"),
        Variable("ansible_become_password", "str", "Ansible's name for become_password"),
        Variable("ansible_become_pass", "str", "older Ansible name for become_password"),
        Variable("nvidia_smi", "str", "nvidia-smi command on the host", default="nvidia-smi"),
        # Router: the runbook's inputs.
        Variable("workload_binary", "abs_path", "absolute path of the workload binary to wrap", required=True),
        Variable("probe_tool", "str", "program that inspects a job's input", default="ffprobe"),
        Variable(
            "probe",
            "str",
            "what to measure: duration, size, pixels, or a custom command whose stdout is one number",
            default="duration",
        ),
        Variable(
            "threshold_value",
            "number",
            "jobs whose metric is below this run on the GPU",
            required=True,
            minimum=0,
            exclusive_minimum=True,
        ),
        Variable("threshold_unit", "str", "unit of threshold_value, for logs and reports (default: from the probe)"),
        Variable("max_gpu_jobs", "int", "concurrent GPU jobs (GPU slots)", default=1, minimum=1),
        Variable("max_cpu_jobs", "int", "concurrent CPU jobs (CPU slots)", default=1, minimum=1),
        Variable("gpu_args", "str_list", "arguments appended to a GPU job's arguments", required=True),
        Variable("cpu_args", "str_list", "arguments appended to a CPU job's arguments", required=True),
        Variable("workload_vram_mb", "int", "VRAM one GPU job uses, in MB", required=True, minimum=1),
        Variable("workload_ram_mb", "int", "RAM one CPU job uses, in MB", required=True, minimum=1),
        Variable("gpu_vram_mb", "int", "VRAM per GPU in MB (default: from nvidia-smi)", minimum=1),
        Variable("os_reserved_ram_mb", "int", "RAM kept for the OS and other services, in MB", default=3072, minimum=0),
        # Router: beyond the runbook.
        Variable("run_as", "str", "user that runs the jobs and owns the log and lock directories", default="root"),
        Variable("router_log", "abs_path", "router log file (default: /var/log/fleetroute/NAME.log)"),
        Variable("lock_dir", "abs_path", "slot lock directory (default: /run/lock/fleetroute/NAME)"),
        Variable("router_path", "abs_path", "where the router is installed (default: /usr/local/lib/fleetroute/NAME-router)"),
        Variable("state_dir", "abs_path", "where the install manifest is kept", default="/var/lib/fleetroute"),
        Variable(
            "tmpfiles_dir",
            "abs_path",
            "systemd tmpfiles.d directory for the entry that recreates a lock directory under /run at boot",
            default="/usr/local/lib/tmpfiles.d",
        ),
        Variable(
            "input_rule",
            "str",
            "how the router finds the input: first-file, arg:N, flag:NAME or env:VAR",
            default="first-file",
        ),
        Variable("input_skip_flags", "str_list", "flags whose value arg:N skips when counting positionals", default=[]),
        Variable(
            "on_unknown_metric",
            "choice",
            "where a job goes when the probe cannot read its metric",
            default="cpu",
            choices=UNKNOWN_METRIC_POLICIES,
        ),
        Variable("blocked_exit_code", "int", "exit code when every slot is busy", default=75, minimum=1, maximum=255),
        Variable(
            "config_error_exit_code",
            "int",
            "exit code when the router cannot open its lock or log files",
            default=78,
            minimum=1,
            maximum=255,
        ),
        Variable(
            "unknown_metric_exit_code",
            "int",
            "exit code when the metric is unknown and on_unknown_metric is fail (65: EX_DATAERR)",
            default=65,
            minimum=1,
            maximum=255,
        ),
        Variable(
            "on_gpu_full",
            "choice",
            "what a GPU job does when every GPU slot is busy: block, or run on a free CPU slot",
            default="block",
            choices=ON_GPU_FULL_POLICIES,
        ),
        Variable(
            "block_wait_seconds",
            "int",
            "seconds a job waits for a free slot before it exits blocked",
            default=0,
            minimum=0,
        ),
        Variable(
            "secondary_probe",
            "str",
            "second metric that must also be below its threshold for the GPU: duration, size, pixels or a"
            " custom command (default: none)",
        ),
        Variable(
            "secondary_threshold_value",
            "number",
            "jobs go to the GPU only when the secondary metric is below this too; set with secondary_probe",
            minimum=0,
            exclusive_minimum=True,
        ),
        Variable(
            "secondary_threshold_unit",
            "str",
            "unit of secondary_threshold_value, for logs (default: from secondary_probe)",
        ),
        Variable(
            "router_mode",
            "choice",
            "exec: the router becomes the workload; supervise: it waits for the workload and logs its exit",
            default="exec",
            choices=ROUTER_MODES,
        ),
        Variable(
            "gpu_slot_mode",
            "choice",
            "shared: max_gpu_jobs slots for all GPUs; per_gpu: max_gpu_jobs slots on each GPU of gpu_indices",
            default="shared",
            choices=GPU_SLOT_MODES,
        ),
        Variable("gpu_indices", "int_list", "GPU indices, as nvidia-smi numbers them, that per_gpu slots use"),
        Variable(
            "gpu_index_arg",
            "str",
            "per_gpu: option appended with the chosen GPU index after gpu_args, such as --device_index",
        ),
        Variable(
            "gpu_index_env",
            "bool",
            "per_gpu: pass the chosen GPU index in CUDA_VISIBLE_DEVICES instead of an option",
            default=False,
        ),
        Variable("expect_gpus", "int", "number of GPUs the host should have", minimum=0),
        Variable("force_budget", "bool", "deploy even when the memory budget is negative", default=False),
        # systemd service of the workload's caller.
        Variable(
            "systemd_unit",
            "str",
            "systemd service that runs the workload, such as gitlab-runner.service; deploy gives it a MemoryMax"
            " drop-in and checks its sandboxing (default: none)",
        ),
        Variable(
            "systemd_dropin_dir",
            "abs_path",
            "directory that holds UNIT.d/fleetroute-memory.conf, the MemoryMax drop-in",
            default="/etc/systemd/system",
        ),
        Variable(
            "systemd_unit_dirs",
            "str_list",
            "absolute directories searched, in order, for the unit file and its drop-ins (default: systemd's system"
            " unit path)",
            default=[
                "/etc/systemd/system",
                "/run/systemd/system",
                "/usr/local/lib/systemd/system",
                "/usr/lib/systemd/system",
                "/lib/systemd/system",
            ],
        ),
        Variable(
            "allow_world_writable_parent",
            "bool",
            "accept a log or lock directory whose parent directory any user may write to (such as /tmp)",
            default=False,
        ),
        # verify.
        Variable(
            "verify_small_input",
            "abs_path",
            "input on the host that fleetroute verify sends to the GPU path (default: generated below the threshold)",
        ),
        Variable(
            "verify_large_input",
            "abs_path",
            "input on the host that fleetroute verify sends to the CPU path (default: generated above the threshold)",
        ),
        Variable(
            "verify_env",
            "str_list",
            "NAME=VALUE environment entries added to the jobs that fleetroute verify runs",
            default=[],
        ),
        Variable(
            "verify_job_timeout_seconds",
            "int",
            "seconds one workload run of fleetroute verify --full may take before verify stops it",
            default=600,
            minimum=1,
        ),
    )
}


@dataclass(frozen=True)
class HostSettings:
    """Resolved settings of one host: every variable of ``VARIABLES`` with defaults filled in."""

    workload_binary: str
    threshold_value: int | float
    gpu_args: list[str]
    cpu_args: list[str]
    workload_vram_mb: int
    workload_ram_mb: int
    router_log: str
    lock_dir: str
    router_path: str
    threshold_unit: str
    probe_tool: str = "ffprobe"
    probe: str = "duration"
    max_gpu_jobs: int = 1
    max_cpu_jobs: int = 1
    gpu_vram_mb: int | None = None
    os_reserved_ram_mb: int = 3072
    run_as: str = "root"
    state_dir: str = "/var/lib/fleetroute"
    tmpfiles_dir: str = "/usr/local/lib/tmpfiles.d"
    input_rule: str = "first-file"
    input_skip_flags: list[str] = field(default_factory=list)
    on_unknown_metric: str = "cpu"
    blocked_exit_code: int = 75
    config_error_exit_code: int = 78
    unknown_metric_exit_code: int = 65
    on_gpu_full: str = "block"
    block_wait_seconds: int = 0
    secondary_probe: str | None = None
    secondary_threshold_value: int | float | None = None
    secondary_threshold_unit: str | None = None
    router_mode: str = "exec"
    gpu_slot_mode: str = "shared"
    gpu_indices: list[int] = field(default_factory=list)
    gpu_index_arg: str | None = None
    gpu_index_env: bool = False
    expect_gpus: int | None = None
    force_budget: bool = False
    systemd_unit: str | None = None
    systemd_dropin_dir: str = "/etc/systemd/system"
    systemd_unit_dirs: list[str] = field(default_factory=list)
    verify_small_input: str | None = None
    verify_large_input: str | None = None
    verify_env: list[str] = field(default_factory=list)
    verify_job_timeout_seconds: int = 600
    nvidia_smi: str = "nvidia-smi"
    ansible_host: str | None = None
    ansible_port: int | None = None
    ansible_user: str | None = None
    ansible_ssh_private_key_file: str | None = None
    ssh_config_file: str | None = None
    ansible_ssh_common_args: str | None = None
    become: bool | None = None
    become_user: str | None = None
    become_password: str | None = field(default=None, repr=False)
    ansible_become: bool | None = None
    ansible_become_user: str | None = None
    ansible_become_password: str | None = field(default=None, repr=False)
    ansible_become_pass: str | None = field(default=None, repr=False)
    allow_world_writable_parent: bool = False

    @property
    def become_enabled(self) -> bool:
        """Return True when remote steps run through sudo (``become`` or ``ansible_become``)."""
        return bool(self.become or self.ansible_become)

    @property
    def become_target_user(self) -> str:
        """Return the user that sudo runs remote steps as: become_user, ansible_become_user or root."""
        return self.become_user or self.ansible_become_user or "root"

    @property
    def become_secret(self) -> str | None:
        """Return the sudo password from the inventory under any of its names, or None."""
        return self.become_password or self.ansible_become_password or self.ansible_become_pass

    @property
    def name(self) -> str:
        """Return the workload's file name, used to name its log, locks and router."""
        return posixpath.basename(self.workload_binary)

    @property
    def real_binary(self) -> str:
        """Return the path the original binary is kept at once wrapped."""
        return self.workload_binary + "-real"

    @property
    def tmpfiles_path(self) -> str:
        """Return the path of the tmpfiles.d entry that recreates the lock directory at boot."""
        return posixpath.join(self.tmpfiles_dir, f"fleetroute-{self.name}.conf")

    @property
    def manifest_path(self) -> str:
        """Return the path of the install manifest on the host."""
        return posixpath.join(self.state_dir, f"{self.name}.manifest")

    @property
    def custom_probe(self) -> bool:
        """Return True when ``probe`` is a command rather than a built-in probe name."""
        return self.probe not in PROBES

    def conflicts(self) -> list[SettingConflict]:
        """Return the rules broken between these settings' variables, as ``find_conflicts`` does."""
        return find_conflicts({item.name: getattr(self, item.name) for item in fields(self)})

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> HostSettings:
        """Build settings from validated variable values, filling in defaults.

        ``values`` maps variable names to values already checked against ``VARIABLES``;
        unknown names are ignored. Raises ``KeyError`` when a required variable is missing.
        """
        known = {name: values[name] for name in VARIABLES if name in values}
        for name, variable in VARIABLES.items():
            if name not in known and not variable.required and variable.default is not None:
                default = variable.default
                known[name] = list(default) if isinstance(default, list) else default

        name = posixpath.basename(known["workload_binary"])
        known.setdefault("router_log", f"/var/log/fleetroute/{name}.log")
        known.setdefault("lock_dir", f"/run/lock/fleetroute/{name}")
        known.setdefault("router_path", f"/usr/local/lib/fleetroute/{name}-router")
        known.setdefault("threshold_unit", DEFAULT_UNITS.get(known.get("probe", "duration"), "units"))
        if "secondary_probe" in known:
            known.setdefault("secondary_threshold_unit", DEFAULT_UNITS.get(known["secondary_probe"], "units"))
        return cls(**known)


def proxy_jump_from_ssh_args(text: str) -> str | None:
    """Return the ProxyJump value that ``ansible_ssh_common_args`` sets, or None when it sets none.

    Accepts ``-J HOPS``, ``-JHOPS``, ``-o ProxyJump=HOPS`` and ``-o "ProxyJump HOPS"``,
    the forms Ansible passes to ssh unchanged. Raises ``ValueError`` for any other
    option, because fleetroute's SSH client would silently ignore it.
    """
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise ValueError(f"cannot split ansible_ssh_common_args into words: {error}") from None
    jump = None
    position = 0
    while position < len(words):
        word = words[position]
        if word in ("-J", "-o") and position + 1 < len(words):
            flag, value = word, words[position + 1]
            position += 2
        elif word.startswith(("-J", "-o")) and len(word) > 2:
            flag, value = word[:2], word[2:]
            position += 1
        else:
            raise ValueError(f"unsupported ssh option {word!r} in ansible_ssh_common_args; only -J and -o ProxyJump work")
        if flag == "-o":
            key, _, option_value = value.replace("=", " ", 1).partition(" ")
            if key.lower() != "proxyjump" or not option_value.strip():
                raise ValueError(
                    f"unsupported ssh option -o {value!r} in ansible_ssh_common_args; only -o ProxyJump=HOPS works"
                )
            value = option_value.strip()
        jump = value
    return jump


class SettingConflict(NamedTuple):
    """A rule broken between variables: ``key`` is the variable to point at, ``message`` the text."""

    key: str
    message: str


def find_conflicts(values: Mapping[str, Any]) -> list[SettingConflict]:
    """Return the rules broken between the variables of one host.

    ``values`` maps variable names to valid values. A variable that is absent, None,
    an empty list or false counts as not set. Each message names the variables, the
    values that are set and the fix.
    """

    def is_set(name: str) -> bool:
        value = values.get(name)
        return value is not None and value is not False and value != []

    conflicts = []
    if is_set("secondary_probe") != is_set("secondary_threshold_value"):
        given, missing = ("secondary_probe", "secondary_threshold_value")
        if not is_set(given):
            given, missing = missing, given
        conflicts.append(
            SettingConflict(
                given, f"{given} is {_show_value(values[given])} but {missing} is missing; set both or neither"
            )
        )
    if is_set("secondary_threshold_unit") and not is_set("secondary_probe"):
        conflicts.append(
            SettingConflict(
                "secondary_threshold_unit",
                "secondary_threshold_unit is set but secondary_probe is not; set secondary_probe and"
                " secondary_threshold_value, or remove secondary_threshold_unit",
            )
        )
    for name, ansible_name in (
        ("become", "ansible_become"),
        ("become_user", "ansible_become_user"),
        ("become_password", "ansible_become_password"),
    ):
        value, ansible_value = values.get(name), values.get(ansible_name)
        if value is not None and ansible_value is not None and value != ansible_value:
            conflicts.append(
                SettingConflict(
                    ansible_name,
                    f"{name} and {ansible_name} are both set, to different values; remove one of them",
                )
            )
    if isinstance(values.get("ansible_ssh_common_args"), str):
        try:
            proxy_jump_from_ssh_args(values["ansible_ssh_common_args"])
        except ValueError as error:
            conflicts.append(SettingConflict("ansible_ssh_common_args", str(error)))
    if values.get("gpu_slot_mode") == "per_gpu":
        conflicts.extend(_per_gpu_conflicts(values, is_set))
    else:
        for name in ("gpu_indices", "gpu_index_arg", "gpu_index_env"):
            if is_set(name):
                conflicts.append(
                    SettingConflict(
                        name,
                        f"{name} is {_show_value(values[name])} but gpu_slot_mode is not per_gpu, so the router would"
                        f" ignore it; set gpu_slot_mode: per_gpu, or remove {name}",
                    )
                )
    return conflicts


def _per_gpu_conflicts(values: Mapping[str, Any], is_set: Callable[[str], bool]) -> list[SettingConflict]:
    conflicts = []
    if not is_set("gpu_indices"):
        conflicts.append(
            SettingConflict(
                "gpu_slot_mode",
                "gpu_slot_mode is per_gpu but gpu_indices is missing; list the GPUs that jobs may use,"
                " such as gpu_indices: [0, 1]",
            )
        )
    if is_set("gpu_index_arg") and is_set("gpu_index_env"):
        conflicts.append(
            SettingConflict(
                "gpu_index_arg",
                f"gpu_index_arg is {values['gpu_index_arg']!r} and gpu_index_env is true; with"
                " CUDA_VISIBLE_DEVICES=N the workload sees that GPU as index 0, so an index option would"
                " point at the wrong GPU. Remove one of them",
            )
        )
    elif not is_set("gpu_index_arg") and not is_set("gpu_index_env"):
        conflicts.append(
            SettingConflict(
                "gpu_slot_mode",
                "gpu_slot_mode is per_gpu but neither gpu_index_arg nor gpu_index_env is set, so every job"
                " would run on the workload's default GPU; set gpu_index_arg (such as --device_index) or"
                " gpu_index_env: true",
            )
        )
    return conflicts


def _show_value(value: Any) -> str:
    """Return ``value`` as the inventory writes it: true or false for booleans, else its repr."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
