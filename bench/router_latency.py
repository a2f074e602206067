"""Time the latency that the router adds to one job, against calling the workload directly.

The workload is /bin/true (it ignores its arguments), so a job's time is process
start-up plus whatever runs before it. Each router case renders the router with
fleetroute's own renderer, installs it in front of /bin/true in a temporary
directory (log and lock files there too) and calls it with one media file:

- **direct**: /bin/true with the arguments the router would pass, no router;
- **size probe**: the router with ``probe: size`` (one ``stat`` call), so nearly all
  of its time is its own;
- **custom probe echo 1**: the router with a custom probe that prints 1 (one extra
  bash);
- **ffprobe duration**: the default probe, real ffprobe on a 5 s WAV file made by
  ffmpeg;
- **supervise, size probe**: ``router_mode: supervise``, which adds the wait, the peak
  memory sampler and a second log line.

Calls are started from Python with ``subprocess.run`` and timed with
``time.perf_counter``, so every case includes the same fork and exec cost from
Python. The cases take turns, run by run, so that a slow phase of the machine
affects all of them alike. "Added" is a case's median minus the direct median.

Usage: .venv/bin/python bench/router_latency.py [--runs 200] [--warmup 5] [--output FILE]
Prints a markdown table and the machine it ran on; --output also writes them to FILE.
Needs bash 4.4 or later, flock, ffmpeg and ffprobe on PATH.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetroute.render import render_router  # noqa: E402
from fleetroute.settings import HostSettings  # noqa: E402

GPU_ARGS = ["--device", "cuda", "--compute_type", "float16"]
CPU_ARGS = ["--device", "cpu", "--compute_type", "int8"]
MEDIA_SECONDS = 5
THRESHOLD_SECONDS = 3600


@dataclass(frozen=True)
class Case:
    """One timed command: a label and the argv to run."""

    label: str
    argv: list[str]


def make_media(folder: Path) -> Path:
    """Make a short WAV file with ffmpeg and return its path."""
    path = folder / "short.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=duration={MEDIA_SECONDS}",
         "-ar", "8000", str(path)],
        check=True,
        timeout=60,
    )
    return path


def install_router(folder: Path, name: str, overrides: dict[str, object]) -> Path:
    """Render a router in front of /bin/true under ``folder/name`` and return the workload path."""
    root = folder / name
    values = {
        "workload_binary": str(root / "bin" / "work"),
        "threshold_value": THRESHOLD_SECONDS,
        "gpu_args": GPU_ARGS,
        "cpu_args": CPU_ARGS,
        "workload_vram_mb": 1000,
        "workload_ram_mb": 1000,
        "router_log": str(root / "log" / "router.log"),
        "lock_dir": str(root / "locks"),
        **overrides,
    }
    settings = HostSettings.from_values(values)
    (root / "bin").mkdir(parents=True)
    (root / "log").mkdir()
    (root / "locks").mkdir()
    router = root / "router"
    router.write_text(render_router(settings, host="bench", version="bench"))
    router.chmod(0o755)
    Path(settings.real_binary).symlink_to(shutil.which("true"))
    Path(settings.workload_binary).symlink_to(router)
    return Path(settings.workload_binary)


def build_cases(folder: Path, media: Path) -> list[Case]:
    """Install one router per case and return the cases, the direct call first."""
    routers = {
        "size probe": {"probe": "size", "threshold_value": 10**12},
        "custom probe echo 1": {"probe": "echo 1; : "},
        "ffprobe duration": {},
        "supervise, size probe": {"probe": "size", "threshold_value": 10**12, "router_mode": "supervise"},
    }
    cases = [Case("direct /bin/true", [shutil.which("true"), str(media), *GPU_ARGS])]
    for index, (label, overrides) in enumerate(routers.items()):
        binary = install_router(folder, f"router{index}", overrides)
        cases.append(Case(label, [str(binary), str(media)]))
    return cases


def check_cases(cases: list[Case]) -> None:
    """Run each case once and stop when one fails, so that failures are not timed."""
    for case in cases:
        result = subprocess.run(case.argv, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise SystemExit(f"{case.label}: exit code {result.returncode}, stderr: {result.stderr.strip()}")


def time_cases(cases: list[Case], runs: int, warmup: int) -> dict[str, list[float]]:
    """Run the cases in turn, ``warmup`` untimed rounds and then ``runs`` timed ones; return ms per run."""
    times: dict[str, list[float]] = {case.label: [] for case in cases}
    for round_index in range(warmup + runs):
        for case in cases:
            started = time.perf_counter()
            subprocess.run(case.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=30)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if round_index >= warmup:
                times[case.label].append(elapsed_ms)
    return times


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def format_table(times: dict[str, list[float]]) -> str:
    """Return a markdown table of median and p90 per case, and the median added over the direct call."""
    labels = list(times)
    direct = statistics.median(times[labels[0]])
    lines = [
        "| case | median (ms) | p90 (ms) | added median (ms) |",
        "|---|---:|---:|---:|",
    ]
    for label in labels:
        median = statistics.median(times[label])
        added = "-" if label == labels[0] else f"{median - direct:.1f}"
        lines.append(f"| {label} | {median:.1f} | {p90(times[label]):.1f} | {added} |")
    return "\n".join(lines)


def command_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def describe_machine() -> str:
    """Return the CPU count, CPU model, RAM, OS, bash and ffprobe versions and the UTC date."""
    cpu_lines = command_output(["lscpu"]).splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpu_lines if line.startswith("Model name")), "unknown")
    memory_lines = Path("/proc/meminfo").read_text().splitlines()
    memory_kib = next((int(line.split()[1]) for line in memory_lines if line.startswith("MemTotal")), 0)
    bash = command_output(["bash", "-c", 'printf %s "${BASH_VERSION}"'])
    ffprobe = command_output(["ffprobe", "-version"]).split("\n", 1)[0].split(" Copyright", 1)[0]
    date = command_output(["date", "-u"]).strip()
    return (
        f"Machine: {os.cpu_count()} CPUs (nproc), {model}, {memory_kib / 1024 / 1024:.1f} GiB RAM,"
        f" {platform.system()} {platform.release()}, bash {bash}, {ffprobe}. Date: {date}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=200, help="timed runs of each case (default: 200)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs of each case first (default: 5)")
    parser.add_argument("--output", type=Path, help="also write the table and the machine to this file")
    options = parser.parse_args()
    if options.runs < 2:
        parser.error("--runs must be at least 2, for a p90")

    with tempfile.TemporaryDirectory(prefix="fleetroute-bench-") as folder:
        media = make_media(Path(folder))
        cases = build_cases(Path(folder), media)
        check_cases(cases)
        times = time_cases(cases, options.runs, options.warmup)

    report = f"{format_table(times)}\n\n{options.runs} timed runs per case.\n{describe_machine()}\n"
    print(report, end="")
    if options.output:
        options.output.write_text(report)


if __name__ == "__main__":
    main()
