"""Assemble the per-host results of log-stats into host, group and fleet figures with advice."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetroute.inventory import Host
from fleetroute.logs.advice import Advice, HostContext, advise
from fleetroute.logs.stats import LogStats
from fleetroute.logs.summary import iso_time, summarise
from fleetroute.operations.budget import compute_budget
from fleetroute.operations.logstats import HostLogs
from fleetroute.report import HostReport, exit_code

LEVELS = ("host", "group", "fleet")


@dataclass
class Scope:
    """Statistics of one row of the report: a host, a group or the fleet."""

    level: str
    name: str
    hosts: list[str]
    stats: LogStats


@dataclass
class FleetLogReport:
    """Everything log-stats prints: per-host results, merged groups and fleet, and advice.

    ``logs`` has an entry for every host whose log was read, even in part. A host in
    several groups counts in each of them. ``since`` and ``until`` are epoch seconds.
    """

    hosts: list[Host]
    reports: dict[str, HostReport]
    logs: dict[str, HostLogs]
    groups: dict[str, Scope]
    fleet: Scope
    advice: list[Advice]
    since: int | None = None
    until: int | None = None
    contexts: dict[str, HostContext] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """Return 0 when every host was read, with bit 2 for failed and bit 4 for unreachable hosts."""
        return exit_code(list(self.reports.values()))

    def scopes(self, level: str) -> list[Scope]:
        """Return the rows of ``level``: every read host, every group with a read host, or the fleet."""
        if level == "host":
            return [Scope("host", h.name, [h.name], self.logs[h.name].stats) for h in self.hosts if h.name in self.logs]
        if level == "group":
            return list(self.groups.values())
        return [self.fleet]


def host_context(host: Host, logs: HostLogs) -> HostContext:
    """Return the settings and memory budget that the advice rules need for one host."""
    settings = host.settings
    budget = compute_budget(settings, logs.gpus, logs.ram_total_mb) if logs.ram_total_mb is not None else None
    vram = [gpu.memory_total_mb for gpu in logs.gpus if gpu.memory_total_mb is not None]
    gpu_vram_mb = settings.gpu_vram_mb or (min(vram) if vram else None)
    return HostContext(host.name, settings, budget, gpu_vram_mb)


def assemble_report(
    hosts: list[Host],
    reports: list[HostReport],
    logs: dict[str, HostLogs],
    *,
    since: int | None = None,
    until: int | None = None,
) -> FleetLogReport:
    """Merge the hosts' statistics into groups and the fleet, and run the advice rules on each host."""
    fleet = Scope("fleet", "fleet", [], LogStats())
    groups: dict[str, Scope] = {}
    contexts: dict[str, HostContext] = {}
    advice: list[Advice] = []
    for host in hosts:
        if host.name not in logs:
            continue
        stats = logs[host.name].stats
        fleet.hosts.append(host.name)
        fleet.stats.merge(stats)
        for group in host.groups:
            scope = groups.setdefault(group, Scope("group", group, [], LogStats()))
            scope.hosts.append(host.name)
            scope.stats.merge(stats)
        contexts[host.name] = host_context(host, logs[host.name])
        advice += advise(stats, contexts[host.name])
    return FleetLogReport(
        hosts=hosts,
        reports={report.name: report for report in reports},
        logs=logs,
        groups=groups,
        fleet=fleet,
        advice=advice,
        since=since,
        until=until,
        contexts=contexts,
    )


def report_json(report: FleetLogReport) -> dict:
    """Return the whole report as one JSON-ready document.

    A host whose log could not be read at all (an unreachable host, for example) has
    only its status, error and warnings. Every other host, every group and the fleet
    have the figures of ``fleetroute.logs.summary.summarise``.
    """
    hosts = {}
    for host in report.hosts:
        hosts[host.name] = _host_json(host, report)
    groups = {name: {"hosts": scope.hosts, **summarise(scope.stats)} for name, scope in report.groups.items()}
    return {
        "command": "log-stats",
        "since": iso_time(report.since),
        "until": iso_time(report.until),
        "hosts": hosts,
        "groups": groups,
        "fleet": {"hosts": report.fleet.hosts, **summarise(report.fleet.stats)},
        "advice": [item.to_dict() for item in report.advice],
        "exit_code": report.exit_code,
    }


def _host_json(host: Host, report: FleetLogReport) -> dict:
    host_report = report.reports[host.name]
    data = {
        "status": host_report.status,
        "error": host_report.error,
        "warnings": list(host_report.warnings),
        "duration_s": host_report.duration_s,
        "groups": list(host.groups),
    }
    logs = report.logs.get(host.name)
    if logs is None:
        return data
    budget = report.contexts[host.name].budget
    data.update(
        log={
            "path": host.settings.router_log,
            "state": logs.log_state,
            "files": [file.to_dict() for file in logs.files],
        },
        method=logs.method,
        bytes_received=logs.bytes_received,
        ram_total_mb=logs.ram_total_mb,
        gpus=[gpu.to_dict() for gpu in logs.gpus],
        budget=budget.to_dict() if budget else None,
        threshold_value=host.settings.threshold_value,
        threshold_unit=host.settings.threshold_unit,
    )
    data.update(summarise(logs.stats))
    return data
