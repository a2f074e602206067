"""Calibrate one host: run the workload on sample inputs, measure peak VRAM and RAM, fit, propose.

One SSH round trip probes the host: GPUs, memory budget, and whether the binary is
wrapped. A second one runs ``templates/remote/calibrate.sh``. It measures each
input's metric with a dry run of a router rendered from the host's settings, so the
metric is the one the installed router would log. Then it runs the real workload
with the GPU arguments on each input, one at a time in ascending order of metric.
It samples ``nvidia-smi`` and the process's VmHWM every 0.1 s plus the time one
nvidia-smi call takes. ``fit.propose`` turns the runs into a proposal.

The workload runs as the SSH login user (or the become user), not as ``run_as``.
NOTE: the baseline is GPU memory before each run, so other jobs on the GPU during
calibration (the router's included: calibrate does not take its slots) skew the
peaks. Calibrate on an idle host.
"""

from __future__ import annotations

import dataclasses
import math
import posixpath
import secrets
from dataclasses import dataclass, field

from fleetroute import __version__
from fleetroute.connectors.ssh import ConnectOptions, SSHHost
from fleetroute.errors import CommandError, FleetrouteError, ProbeError
from fleetroute.facts.host import gather_facts, split_sections
from fleetroute.inventory import Host
from fleetroute.operations.budget import budget_from_facts
from fleetroute.operations.calibrate.fit import DEFAULT_MARGIN, DEFAULT_MIN_R2, Proposal, Run, propose
from fleetroute.remote import remote_script
from fleetroute.render import render_router
from fleetroute.report import FAILED, HostReport
from fleetroute.settings import HostSettings

DEFAULT_MAX_INPUTS = 20
# Seconds the SSH command may take beyond the runs' own time limits.
COMMAND_SLACK_SECONDS = 120


@dataclass(frozen=True)
class CalibrateOptions:
    """Options of one calibration: the input directory on the host and the limits."""

    connect: ConnectOptions
    inputs_dir: str
    run_timeout_s: int = 600
    max_inputs: int = DEFAULT_MAX_INPUTS
    margin: float = DEFAULT_MARGIN
    min_r2: float = DEFAULT_MIN_R2
    input_flag: str = ""
    env: tuple[str, ...] = ()


@dataclass
class Calibration:
    """Result of one calibration: the binary run, the runs, skipped inputs and the proposal."""

    binary: str
    runs: list[Run] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    stopped_for_memory: bool = False
    proposal: Proposal | None = None

    def to_dict(self) -> dict:
        """Return the calibration as a JSON-ready dict."""
        return {
            "binary": self.binary,
            "runs": [dataclasses.asdict(run) for run in self.runs],
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
            "stopped_for_memory": self.stopped_for_memory,
            "proposal": self.proposal.to_dict() if self.proposal else None,
        }


def calibrate_host(host: Host, ssh: SSHHost, report: HostReport, options: CalibrateOptions) -> Calibration:
    """Calibrate one connected host and return the result; a host with no proposed threshold is marked failed.

    Sets ``report.status`` to failed with the reason when no threshold is proposed.
    Raises ``UnreachableError`` (and subclasses) when the connection is lost,
    ``ProbeError`` for unreadable probe output and ``CommandError`` when the
    calibration script fails (a missing input directory or workload).
    """
    settings = host.settings
    facts = gather_facts(ssh, settings)
    if not facts.gpu.usable:
        raise ProbeError(host.name, f"no usable GPU: {facts.gpu.message}")
    budget = budget_from_facts(settings, facts)
    binary = settings.workload_binary if facts.install.real.kind == "missing" else settings.real_binary
    calibration = _run_inputs(ssh, host, settings, binary, options)
    known_vram = [gpu.vram_mb for gpu in budget.gpus]
    gpu_vram_mb = min(known_vram) if known_vram and None not in known_vram else None
    calibration.proposal = propose(
        calibration.runs, gpu_vram_mb, settings.max_gpu_jobs, margin=options.margin, min_r2=options.min_r2
    )
    if calibration.proposal.threshold_value is None:
        report.status, report.error = FAILED, calibration.proposal.reason
    return calibration


def measuring_settings(settings: HostSettings, workdir: str) -> HostSettings:
    """Return settings for a router that only measures: log and locks in ``workdir``, input as its one argument."""
    return dataclasses.replace(
        settings,
        router_log=posixpath.join(workdir, "router.log"),
        lock_dir=posixpath.join(workdir, "locks"),
        input_rule="first-file",
        input_skip_flags=[],
        on_unknown_metric="cpu",
        router_mode="exec",
        gpu_slot_mode="shared",
        gpu_indices=[],
        gpu_index_arg=None,
        gpu_index_env=False,
        block_wait_seconds=0,
        secondary_probe=None,
        secondary_threshold_value=None,
        secondary_threshold_unit=None,
    )


def parse_calibration(binary: str, text: str) -> Calibration:
    """Parse ``calibrate.sh`` output into a ``Calibration`` without a proposal.

    Raises ``FleetrouteError`` when the output has no end marker or a run's fields are invalid.
    """
    _, sections = split_sections(text)
    if "end" not in sections:
        raise FleetrouteError("calibration output ended early (no end marker); rerun with -v")
    calibration = Calibration(binary)
    for header, lines in sections.items():
        values = _key_values(lines)
        if header.startswith("run "):
            calibration.runs.append(_parse_run(values))
        elif header.startswith("skip "):
            calibration.skipped.append((values.get("path", "?"), values.get("reason", "?")))
        elif header.startswith("stopped "):
            calibration.stopped_for_memory = True
    return calibration


def _run_inputs(
    ssh: SSHHost, host: Host, settings: HostSettings, binary: str, options: CalibrateOptions
) -> Calibration:
    workdir = f"/tmp/fleetroute-calibrate-{secrets.token_hex(8)}"
    router = render_router(measuring_settings(settings, workdir), host=host.name, version=__version__)
    env = [*settings.verify_env, *options.env]
    args = [
        settings.nvidia_smi,
        binary,
        workdir,
        options.inputs_dir,
        str(options.run_timeout_s),
        str(options.max_inputs),
        options.input_flag,
        str(len(env)),
        *env,
        *settings.gpu_args,
    ]
    timeout = options.max_inputs * (options.run_timeout_s + 10) + COMMAND_SLACK_SECONDS
    script = remote_script("calibrate.sh")
    result = ssh.run_script(script, args, name="calibrate", stdin=router.encode(), timeout=timeout)
    if not result.ok:
        raise CommandError(host.name, f"calibration failed: {result.stderr.strip()[:500]}", result)
    return parse_calibration(binary, result.stdout)


def _parse_run(values: dict[str, str]) -> Run:
    try:
        return Run(
            path=values["path"],
            metric=float(values["metric"]),
            exit_code=int(values["exit"]),
            seconds=int(values["milliseconds"]) / 1000,
            peak_vram_mb=_optional_int(values.get("peak_vram_mb")),
            peak_ram_mb=_kilobytes_to_mb(values.get("peak_ram_kb")),
            samples=int(values.get("samples", "0")),
            timed_out=values.get("timed_out") == "1",
            oom=values.get("oom") == "1",
            message=values.get("message", ""),
        )
    except (KeyError, ValueError) as error:
        raise FleetrouteError(f"invalid run in the calibration output ({error}): {values}") from None


def _optional_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _kilobytes_to_mb(value: str | None) -> int | None:
    kilobytes = _optional_int(value)
    return None if kilobytes is None else math.ceil(kilobytes / 1024)


def _key_values(lines: list[str]) -> dict[str, str]:
    pairs = {}
    for line in lines:
        key, found, value = line.partition("=")
        if found:
            pairs[key] = value
    return pairs
