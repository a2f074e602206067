"""Local lab fleet for fleetroute's integration tests and demo: real sshd hosts on loopback.

Start one with ``python -m lab up --dir DIR`` or ``Lab(DIR).up()``; lab/README.md
explains the hosts, the isolation modes and the simulated nvidia-smi and workload.
"""

from lab.fleet import Lab, LabError
from lab.hosts import DEFAULT_FLEET, Gpu, HostSpec, LabUser, NvidiaSmiSpec, expected_vram_mb
from lab.media import make_media
from lab.records import WorkloadRecord, read_records

__all__ = [
    "DEFAULT_FLEET",
    "Gpu",
    "HostSpec",
    "LabUser",
    "Lab",
    "LabError",
    "NvidiaSmiSpec",
    "WorkloadRecord",
    "expected_vram_mb",
    "make_media",
    "read_records",
]
