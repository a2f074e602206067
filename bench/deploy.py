"""Time `fleetroute deploy` on lab fleets of growing size against the SSH floor.

The floor is opening one SSH session to every host in parallel and running `true`,
measured two ways, both at the same parallelism as deploy's --forks: with OpenSSH's
client (one `ssh` process per host), and with fleetroute's own connector (paramiko)
in a fresh Python process, so that both the floor and deploy pay for interpreter
start-up. Deploy is timed on a fresh fleet (every host changed) and again (every
host ok).

Usage: .venv/bin/python bench/deploy.py [--sizes 5,20,50] [--forks 16] [--repeat 3]
Prints a markdown table; run as root (the lab uses mount namespaces).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetroute.connectors.ssh import ConnectOptions, SSHHost, Target  # noqa: E402
from lab.fleet import Lab  # noqa: E402
from lab.hosts import Gpu, HostSpec, NvidiaSmiSpec  # noqa: E402

FLEETROUTE = [sys.executable, "-m", "fleetroute"]


def fleet_of(size: int) -> tuple[HostSpec, ...]:
    spec = NvidiaSmiSpec(gpus=(Gpu("NVIDIA RTX A4000", 16376),))
    return tuple(HostSpec(f"gpu{index:03d}", nvidia_smi=spec, groups=("gpu_hosts",)) for index in range(size))


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def openssh_floor(lab: Lab, names: list[str], forks: int) -> None:
    def one(name: str) -> None:
        subprocess.run(["ssh", "-F", str(lab.ssh_config), name, "true"], check=True, timeout=60)

    with ThreadPoolExecutor(forks) as pool:
        list(pool.map(one, names))


def paramiko_floor(lab: Lab, names: list[str], forks: int) -> None:
    command = [sys.executable, __file__, "--floor", str(lab.ssh_config), "--forks", str(forks), *names]
    subprocess.run(command, check=True, timeout=600)


def run_floor(ssh_config: str, names: list[str], forks: int) -> None:
    """Open one session per host with fleetroute's connector, run `true`, close."""
    options = ConnectOptions(ssh_config_file=ssh_config)

    def one(name: str) -> None:
        with SSHHost(Target(name=name, address=name), options) as ssh:
            ssh.run("true", name="noop")

    with ThreadPoolExecutor(forks) as pool:
        list(pool.map(one, names))


def deploy(lab: Lab, forks: int) -> None:
    command = [*FLEETROUTE, "deploy", "-i", str(lab.inventory), "--forks", str(forks), "--json"]
    subprocess.run(command, check=True, capture_output=True, timeout=600)


def measure(size: int, forks: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="fleetroute-bench-") as directory:
        lab = Lab(Path(directory) / "lab", hosts=fleet_of(size), port=0, stop_with_parent=True)
        lab.up(fresh=True)
        try:
            names = [host.name for host in lab.hosts]
            row = {
                "openssh floor": statistics.median(timed(lambda: openssh_floor(lab, names, forks)) for _ in range(repeat)),
                "paramiko floor": statistics.median(
                    timed(lambda: paramiko_floor(lab, names, forks)) for _ in range(repeat)
                ),
                "deploy (fresh)": timed(lambda: deploy(lab, forks)),
            }
            row["deploy (no change)"] = statistics.median(timed(lambda: deploy(lab, forks)) for _ in range(repeat))
            return row
        finally:
            lab.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,20,50", help="fleet sizes, comma-separated (hosts)")
    parser.add_argument("--forks", type=int, default=16, help="parallel hosts, as deploy --forks")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--floor", metavar="SSH_CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        run_floor(args.floor, args.names, args.forks)
        return

    columns = ("openssh floor", "paramiko floor", "deploy (fresh)", "deploy (no change)")
    print("| hosts | " + " | ".join(f"{column} (s)" for column in columns) + " | no change / OpenSSH floor |")
    print("|---:|" + "---:|" * (len(columns) + 1))
    for size in (int(value) for value in args.sizes.split(",")):
        row = measure(size, args.forks, args.repeat)
        ratio = row["deploy (no change)"] / row["openssh floor"]
        cells = " | ".join(f"{row[column]:.2f}" for column in columns)
        print(f"| {size} | {cells} | {ratio:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
