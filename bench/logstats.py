"""Measure fleetroute log-stats on the lab fleet as the router logs grow.

For each size, every selected host gets the same log of SIZE lines spread over the
same --days. Half of the lines are in the current log, a quarter in LOG.1 and a
quarter in LOG.2.gz, with every kind of line mixed in. ``fleetroute log-stats --json``
then runs REPEAT times.
The span is fixed because the per-day counts grow with the days a log covers. The script prints, per size,
the median wall time of the whole command, the slowest host's time and the bytes
of stdout received from each host. With --stream-host, that host gets an awk that
fails, so it streams its lines instead of sending aggregates, for comparison.

Usage (from the repository root, as root for the lab's namespaces):
    .venv/bin/python bench/logstats.py [--sizes 10000,100000,1000000] [--repeat 3]
        [--hosts a4000,a100x4,mixed,sentinels] [--days 30]
        [--stream-host sentinels --stream-max 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.fleet import Lab  # noqa: E402
from tests.logstats_lines import LineGenerator, Mix, write_log_set  # noqa: E402

ROUTER_LOG = "/var/log/fleetroute/whisper-ctranslate2.log"
FAILING_AWK = "#!/bin/sh\necho 'awk: command not found' >&2\nexit 127\n"


def machine() -> str:
    """Return nproc, CPU model and RAM of this machine, as one line."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
    return f"{os.cpu_count()} CPUs ({model}), {mem_kb / 1024 / 1024:.1f} GiB RAM, {platform.system()} {platform.release()}"


def write_logs(lab: Lab, hosts: list[str], size: int, days: int, scratch: Path) -> int:
    """Write one log set of ``size`` lines over ``days`` and hard-link it into every host.

    Returns the bytes of the log set on disk.
    """
    for old in scratch.glob("router.log*"):
        old.unlink()
    generator = LineGenerator("bench", Mix(oom=0.01), seed=size, step_s=days * 86400 / size)
    paths = write_log_set(scratch / "router.log", generator, [size // 4, size // 4, size - size // 2])
    for host in hosts:
        log = lab.fs_path(host, ROUTER_LOG)
        log.parent.mkdir(parents=True, exist_ok=True)
        for old in log.parent.glob(log.name + "*"):
            old.unlink()
        for path in paths:
            os.link(path, log.parent / path.name.replace("router.log", log.name))
    return sum(path.stat().st_size for path in paths)


def set_failing_awk(lab: Lab, host: str, failing: bool) -> None:
    awk = lab.fs_path(host, "/usr/local/bin/awk")
    if failing:
        awk.write_text(FAILING_AWK)
        awk.chmod(0o755)
    else:
        awk.unlink(missing_ok=True)


def run_once(lab: Lab, hosts: list[str]) -> tuple[float, dict]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "fleetroute", "log-stats", "-i", str(lab.inventory), "--limit", ",".join(hosts), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"log-stats exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)["hosts"]


def measure(lab: Lab, hosts: list[str], size: int, days: int, repeat: int, scratch: Path) -> dict:
    disk_bytes = write_logs(lab, hosts, size, days, scratch)
    walls, host_times, reports = [], [], None
    for _ in range(repeat):
        wall, reports = run_once(lab, hosts)
        walls.append(wall)
        host_times.append(max(report["duration_s"] for report in reports.values()))
    for host, report in reports.items():
        if report["lines"] != size:
            raise SystemExit(f"{host}: read {report['lines']} lines, expected {size}")
    return {
        "lines_per_host": size,
        "log_bytes_per_host": disk_bytes,
        "wall_s": statistics.median(walls),
        "slowest_host_s": statistics.median(host_times),
        "bytes_received": {host: report["bytes_received"] for host, report in reports.items()},
        "method": {host: report["method"] for host, report in reports.items()},
    }


def markdown_rows(results: list[dict]) -> list[str]:
    rows = [
        "| lines per host | log size per host | hosts | method | wall time (median) | slowest host | bytes received per host |",
        "|---:|---:|---:|---|---:|---:|---|",
    ]
    for result in results:
        received = sorted(set(result["bytes_received"].values()))
        methods = ", ".join(sorted(set(result["method"].values())))
        rows.append(
            f"| {result['lines_per_host']:,} | {result['log_bytes_per_host'] / 1e6:.1f} MB | {len(result['method'])} "
            f"| {methods} | {result['wall_s']:.2f} s | {result['slowest_host_s']:.2f} s "
            f"| {', '.join(f'{value:,}' for value in received)} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="lines per host, comma-separated")
    parser.add_argument("--hosts", default="a4000,a100x4,mixed,sentinels", help="lab hosts to read")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is reported")
    parser.add_argument("--days", type=int, default=30, help="days that each log covers")
    parser.add_argument("--stream-host", default="", help="a host to measure with a failing awk (line streaming)")
    parser.add_argument("--stream-max", type=int, default=100_000, help="largest size measured with --stream-host")
    args = parser.parse_args()
    hosts = args.hosts.split(",")
    sizes = [int(size) for size in args.sizes.split(",")]

    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"# command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    results, streamed = [], []
    with tempfile.TemporaryDirectory(prefix="fleetroute-bench-") as directory:
        scratch = Path(directory) / "scratch"
        scratch.mkdir()
        with Lab(Path(directory) / "lab", port=0, stop_with_parent=True) as lab:
            for size in sizes:
                results.append(measure(lab, hosts, size, args.days, args.repeat, scratch))
                print(json.dumps(results[-1]), flush=True)
            if args.stream_host:
                set_failing_awk(lab, args.stream_host, True)
                for size in (size for size in sizes if size <= args.stream_max):
                    streamed.append(measure(lab, [args.stream_host], size, args.days, args.repeat, scratch))
                    print(json.dumps(streamed[-1]), flush=True)
                set_failing_awk(lab, args.stream_host, False)
    print("\n".join(markdown_rows(results + streamed)))


if __name__ == "__main__":
    main()
