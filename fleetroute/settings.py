"""Schema of the inventory variables that fleetroute reads, and the resolved per-host settings.

Each variable is declared once in ``VARIABLES`` with its type, default and constraint;
the inventory loader validates against this table and builds ``HostSettings``.
Defaults that depend on the workload's name (log, lock and router paths) are filled
in by ``HostSettings.from_values``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

PROBES = ("duration", "size", "pixels")
UNKNOWN_METRIC_POLICIES = ("cpu", "gpu", "fail")
ON_GPU_FULL_POLICIES = ("block", "cpu")
DEFAULT_UNITS = {"duration": "seconds", "size": "bytes", "pixels": "pixels"}


@dataclass(frozen=True)
class Variable:
    """One inventory variable: its type, default and the rule its value must follow.

    ``kind`` is one of ``str``, ``abs_path``, ``int``, ``number``, ``bool``,
    ``str_list`` or ``choice``; ``minimum`` and ``maximum`` apply to ``int`` and
    ``number`` (``minimum`` excluded when ``exclusive_minimum``); ``choices`` to
    ``choice``. A ``required`` variable has no default.
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
        Variable("expect_gpus", "int", "number of GPUs the host should have", minimum=0),
        Variable("force_budget", "bool", "deploy even when the memory budget is negative", default=False),
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
    input_rule: str = "first-file"
    input_skip_flags: list[str] = field(default_factory=list)
    on_unknown_metric: str = "cpu"
    blocked_exit_code: int = 75
    config_error_exit_code: int = 78
    unknown_metric_exit_code: int = 65
    on_gpu_full: str = "block"
    block_wait_seconds: int = 0
    expect_gpus: int | None = None
    force_budget: bool = False
    nvidia_smi: str = "nvidia-smi"
    ansible_host: str | None = None
    ansible_port: int | None = None
    ansible_user: str | None = None
    ansible_ssh_private_key_file: str | None = None
    ssh_config_file: str | None = None

    @property
    def name(self) -> str:
        """Return the workload's file name, used to name its log, locks and router."""
        return posixpath.basename(self.workload_binary)

    @property
    def real_binary(self) -> str:
        """Return the path the original binary is kept at once wrapped."""
        return self.workload_binary + "-real"

    @property
    def manifest_path(self) -> str:
        """Return the path of the install manifest on the host."""
        return posixpath.join(self.state_dir, f"{self.name}.manifest")

    @property
    def custom_probe(self) -> bool:
        """Return True when ``probe`` is a command rather than a built-in probe name."""
        return self.probe not in PROBES

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
        return cls(**known)
