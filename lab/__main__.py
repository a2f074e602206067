"""Command line of the lab fleet: ``python -m lab up|down|status --dir DIR``."""

from __future__ import annotations

import argparse
import logging
import sys

from lab.fleet import DEFAULT_NETWORK, DEFAULT_PORT, ISOLATIONS, Lab, LabError


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m lab``."""
    parser = argparse.ArgumentParser(prog="python -m lab", description="Start, stop or inspect a local lab fleet.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the default fleet (reuses it when already up)")
    down = commands.add_parser("down", help="stop every process of the lab")
    status = commands.add_parser("status", help="show each host's process and whether its port responds")
    for command in (up, down, status):
        command.add_argument("--dir", required=True, help="lab directory (created by up)")
    up.add_argument("--port", type=int, default=DEFAULT_PORT,
                    help=f"TCP port of every host (default {DEFAULT_PORT}; 0 picks a free one)")
    up.add_argument("--network", default=DEFAULT_NETWORK,
                    help=f"first three octets of the hosts' loopback addresses (default {DEFAULT_NETWORK})")
    up.add_argument("--isolation", choices=ISOLATIONS, default="auto",
                    help="namespace: private mounts per host (root only); prefix: per-host path prefix; "
                         "auto: namespace when root (default)")
    up.add_argument("--fresh", action="store_true",
                    help="delete the hosts' file trees first, including anything fleetroute installed")
    return parser


def print_status(lab: Lab) -> None:
    """Print one line per host: name, kind, address, PID and state."""
    print(f"{'HOST':<12} {'KIND':<8} {'ADDRESS':<22} {'PID':>8}  STATE")
    for row in lab.status():
        if row.kind == "offline":
            state = "offline by design"
        elif row.running:
            state = "up" if row.responding else "running, not responding"
        else:
            state = "down"
        pid = "-" if row.pid is None else str(row.pid)
        print(f"{row.name:<12} {row.kind:<8} {row.address + ':' + str(row.port):<22} {pid:>8}  {state}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return the exit code: 0 on success, 1 on a lab error."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "up":
            lab = Lab(args.dir, port=args.port, network=args.network, isolation=args.isolation)
            lab.up(fresh=args.fresh)
            print_status(lab)
            print(f"\nssh -F {lab.ssh_config} a4000 nvidia-smi")
            print(f"inventory: {lab.inventory}")
        elif args.command == "down":
            Lab(args.dir).down()
        else:
            print_status(Lab(args.dir))
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
