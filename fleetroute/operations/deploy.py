"""Deploy and uninstall, per host: probe, pre-flight checks, render, plan, apply.

Each host takes two SSH round trips on one connection: the probe, then (when
something changes and this is not a ``--check`` run) the install.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from fleetroute import __version__
from fleetroute.connectors.ssh import ConnectOptions, SSHHost
from fleetroute.errors import PreflightError
from fleetroute.facts.host import HostFacts, gather_facts
from fleetroute.inventory import Host
from fleetroute.operations import install, systemd
from fleetroute.operations.budget import budget_from_facts
from fleetroute.render import render_router
from fleetroute.report import CHANGED, OK, HostReport
from fleetroute.runner import checkpoint
from fleetroute.settings import HostSettings


@dataclass(frozen=True)
class DeployOptions:
    """Options of one deploy or uninstall run."""

    connect: ConnectOptions
    check: bool = False
    diff: bool = False
    force: bool = False


def deploy_host(host: Host, ssh: SSHHost, report: HostReport, options: DeployOptions) -> None:
    """Install or update the router on one connected host, filling in ``report``.

    Raises ``UnreachableError`` (and subclasses) when the connection is lost.
    Raises ``PreflightError`` when the host is unfit: no usable GPU, a negative memory
    budget or a missing probe tool. Raises ``InstallError`` for an unsafe install
    state and ``CommandError`` when the install step fails on the host.
    """
    settings = host.settings
    facts = gather_facts(ssh, settings, with_router_text=options.diff)
    _record_facts(report, facts, settings)
    check_preflight(facts, settings, report, force=options.force)

    router = render_router(settings, host=host.name, version=__version__)
    plan = install.plan_install(facts.install, settings, install.sha256_text(router))
    report.changes = list(plan.changes)
    if options.diff and plan.write_router:
        report.diff = router_diff(facts.install.router_text or "", router, settings.router_path)
    if plan.changed and not options.check:
        checkpoint("installing")
        install.apply(ssh, plan, facts.install, settings, router)
    unit_changed = _sync_systemd_unit(ssh, settings, report, options, remove=False)
    report.status = CHANGED if plan.changed or unit_changed else OK


def uninstall_host(host: Host, ssh: SSHHost, report: HostReport, options: DeployOptions) -> None:
    """Restore the original binary on one host and remove the router and manifest.

    Raises as ``deploy_host`` does, except for pre-flight checks, which uninstall skips.
    """
    settings = host.settings
    facts = gather_facts(ssh, settings)
    plan = install.plan_uninstall(facts.install, settings)
    report.changes = list(plan.changes)
    if plan.changed and not options.check:
        checkpoint("uninstalling")
        install.apply(ssh, plan, facts.install, settings, None)
    unit_changed = _sync_systemd_unit(ssh, settings, report, options, remove=True)
    report.status = CHANGED if plan.changed or unit_changed else OK


def check_preflight(facts: HostFacts, settings: HostSettings, report: HostReport, *, force: bool) -> None:
    """Fail the host when it cannot run the router as configured.

    Raises ``PreflightError`` for no usable GPU, a missing probe tool or run_as user,
    and a negative memory budget (unless ``force``, which turns it into a warning).
    """
    if not facts.gpu.usable:
        raise PreflightError(f"no usable GPU: {facts.gpu.message}")
    if not settings.custom_probe and settings.probe != "size" and facts.probe_tool_path is None:
        raise PreflightError(
            f"probe tool {settings.probe_tool!r} not found on the host; install it "
            f"(ffprobe comes with the ffmpeg package) or set probe_tool to its path"
        )
    if facts.run_as_uid is None:
        raise PreflightError(f"run_as user {settings.run_as!r} does not exist on the host; create it or fix run_as")

    budget = budget_from_facts(settings, facts)
    report.budget = budget.to_dict()
    problems = budget.problems(settings)
    if problems and not (force or settings.force_budget):
        raise PreflightError("memory budget: " + "; ".join(problems) + " (or deploy anyway with --force)")
    report.warnings += [f"memory budget (forced): {problem}" for problem in problems]
    report.warnings += budget.warnings(settings)


def _sync_systemd_unit(
    ssh: SSHHost, settings: HostSettings, report: HostReport, options: DeployOptions, *, remove: bool
) -> bool:
    """Keep or remove the MemoryMax drop-in of ``systemd_unit``; return True when it changed. No-op without one."""
    if settings.systemd_unit is None:
        return False
    if not options.check:
        checkpoint("the systemd drop-in step")
    return systemd.sync_unit(ssh, settings, report, remove=remove, check=options.check)


def router_diff(installed: str, rendered: str, path: str) -> str:
    """Return the unified diff from the installed router to the rendered one."""
    lines = difflib.unified_diff(
        installed.splitlines(keepends=True),
        rendered.splitlines(keepends=True),
        fromfile=f"{path} (installed)",
        tofile=f"{path} (rendered)",
    )
    return "".join(lines)


def _record_facts(report: HostReport, facts: HostFacts, settings: HostSettings) -> None:
    report.gpu_usable = facts.gpu.usable
    report.gpus = [gpu.to_dict() for gpu in facts.gpu.gpus]
    noise = list(facts.noise) + list(facts.gpu.noise if facts.gpu.usable else ())
    if noise:
        report.warnings.append(f"ignored {len(noise)} line(s) of remote output noise, first: {noise[0][:120]!r}")
    if settings.expect_gpus is not None and len(facts.gpu.gpus) < settings.expect_gpus:
        report.warnings.append(f"found {len(facts.gpu.gpus)} GPU(s), expected {settings.expect_gpus}")
