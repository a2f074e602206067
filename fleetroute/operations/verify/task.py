"""Verify one host: gather facts, exercise the router with verify.sh, judge every check."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fleetroute import __version__
from fleetroute.connectors.ssh import ConnectOptions, SSHHost
from fleetroute.errors import PreflightError
from fleetroute.facts.host import HostFacts, gather_facts
from fleetroute.inventory import Host
from fleetroute.operations.install import sha256_text
from fleetroute.operations.verify.checks import (
    CPU_BLOCKING,
    CPU_PATH,
    GPU_BLOCKING,
    GPU_PATH,
    GPUS,
    INSTALL,
    Check,
    host_status,
)
from fleetroute.operations.verify.inputs import sample_specs
from fleetroute.operations.verify.judge import (
    judge_blocking,
    judge_gpus,
    judge_install,
    judge_path,
    unsafe_to_run_reason,
)
from fleetroute.operations.verify.remote import MODE_DRY, MODE_FULL, MODE_NONE, RemoteRun, run_verify_script
from fleetroute.render import render_router
from fleetroute.report import HostReport
from fleetroute.runner import checkpoint
from fleetroute.settings import HostSettings

_ENV_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class VerifyOptions:
    """Options of one verify run. ``full`` runs the real workload on the sample inputs."""

    connect: ConnectOptions
    full: bool = False


def verify_host(host: Host, ssh: SSHHost, report: HostReport, options: VerifyOptions) -> None:
    """Verify the router on one connected host and record every check in ``report.checks``.

    Sets ``report.status`` from the checks (ok, failed, degraded or incomplete).
    Raises ``PreflightError`` for an invalid ``verify_env`` entry, and the
    connector's and probe's errors when the connection is lost or the probe fails.
    """
    settings = host.settings
    env = checked_env(settings.verify_env)
    rendered_sha256 = sha256_text(render_router(settings, host=host.name, version=__version__))
    small, large = sample_specs(settings)

    facts = gather_facts(ssh, settings)
    unsafe = unsafe_to_run_reason(facts.install, settings, rendered_sha256)
    checkpoint("running verify.sh")
    remote = run_verify_script(
        ssh,
        settings,
        mode=job_mode(unsafe, full=options.full),
        small=small,
        large=large,
        env=env,
        command_timeout=options.connect.command_timeout,
    )

    checks = judge_checks(facts, remote, settings, rendered_sha256, full=options.full, unsafe=unsafe)
    _record(report, facts, remote, checks)


def judge_checks(
    facts: HostFacts, remote: RemoteRun, settings: HostSettings, rendered_sha256: str, *, full: bool, unsafe: str
) -> dict[str, Check]:
    """Return every check's verdict for one host, in the order the table shows them."""
    skip_jobs = job_skip_reason(remote, unsafe)
    return {
        INSTALL: judge_install(facts, remote, settings, rendered_sha256),
        GPUS: judge_gpus(facts, settings),
        GPU_PATH: judge_path("gpu", remote, settings, full=full, skip_reason=skip_jobs),
        CPU_PATH: judge_path("cpu", remote, settings, full=full, skip_reason=skip_jobs),
        GPU_BLOCKING: judge_blocking("gpu", remote, settings, skip_reason=skip_jobs),
        CPU_BLOCKING: judge_blocking("cpu", remote, settings, skip_reason=skip_jobs),
    }


def job_mode(unsafe: str, *, full: bool) -> str:
    """Return verify.sh's job mode: none when running jobs is unsafe, else full or dry."""
    if unsafe:
        return MODE_NONE
    if full:
        return MODE_FULL
    return MODE_DRY


def job_skip_reason(remote: RemoteRun, unsafe: str) -> str:
    """Return why the path and blocking checks did not run, or "" when they did."""
    if unsafe:
        return f"not run: {unsafe}"
    if remote.access.get("method", "none") == "none":
        return f"not run: {remote.access.get('reason', 'verify cannot act as run_as')}"
    return ""


def checked_env(entries: list[str]) -> list[str]:
    """Return ``verify_env`` unchanged after checking that each entry is NAME=VALUE.

    Raises ``PreflightError`` naming the first invalid entry.
    """
    for entry in entries:
        if not _ENV_ENTRY.match(entry):
            raise PreflightError(
                f"verify_env entry {entry!r} is invalid: expected NAME=VALUE, NAME a shell variable name"
            )
    return list(entries)


def _record(report: HostReport, facts: HostFacts, remote: RemoteRun, checks: dict[str, Check]) -> None:
    # HostReport has no field for checks: the verify CLI reads this attribute with getattr.
    report.checks = {name: check.to_dict() for name, check in checks.items()}
    report.status = host_status(checks)
    report.gpu_usable = facts.gpu.usable
    report.gpus = [gpu.to_dict() for gpu in facts.gpu.gpus]
    real_matches = checks[INSTALL].evidence.get("real_sha256_matches_manifest")
    if real_matches is False:
        report.warnings.append(
            "the real binary differs from the one recorded at the deploy (replaced in place?); "
            "a deploy records the new checksum"
        )
    noise = list(facts.noise) + list(remote.noise)
    if noise:
        report.warnings.append(f"ignored {len(noise)} line(s) of remote output noise, first: {noise[0][:120]!r}")
