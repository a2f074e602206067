"""Per-host file trees: the private directories and the simulated nvidia-smi and workload."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from lab.hosts import NVIDIA_SMI, WORKLOAD_BINARY, HostSpec, NvidiaSmiSpec
from lab.sshd import PRIVATE_DIRS, STICKY_DIRS

SCRIPTS = Path(__file__).resolve().parent / "scripts"
SHARE = "/usr/local/share/fleetlab"
SPEC_FILE = f"{SHARE}/nvidia-smi.tsv"
RECORDS_FILE = f"{SHARE}/records"
VRAM_DIR = f"{SHARE}/vram"
# The line in each script that install_host replaces with the host's root.
_ROOT_LINE = "fleetlab_root=''\n"


def script_text(name: str, root: str) -> str:
    """Return lab script ``name`` with its ``fleetlab_root`` set to ``root`` ("" for a namespaced host)."""
    text = (SCRIPTS / name).read_text()
    if _ROOT_LINE not in text:
        raise RuntimeError(f"{SCRIPTS / name} lacks the line {_ROOT_LINE.strip()!r} that install_host sets")
    return text.replace(_ROOT_LINE, f"fleetlab_root={shlex.quote(root)}\n", 1)


def install_host(fs_root: Path, spec: HostSpec, root: str) -> None:
    """Create a host's private directories under ``fs_root`` and install its lab files.

    ``root`` is the path that stands for / in the installed scripts. nvidia-smi, its spec
    and the helper library are rewritten every time. The workload is installed only
    when its path is free, so a router that fleetroute installed there survives a
    restart of the lab.
    """
    for private in PRIVATE_DIRS:
        directory = fs_root / private.lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        if private in STICKY_DIRS:
            directory.chmod(0o1777)
        elif private == "/root":
            directory.chmod(0o700)
        else:
            directory.chmod(0o755)
    for sub in ("bin", "sbin", "lib", "share"):
        (fs_root / "usr/local" / sub).mkdir(exist_ok=True)

    share = fs_root / SHARE.lstrip("/")
    (share / "vram").mkdir(parents=True, exist_ok=True)
    # Workloads may run as any user, and each one registers its VRAM and record here.
    (share / "vram").chmod(0o1777)
    records = share / "records"
    records.touch()
    records.chmod(0o666)
    (share / "host").write_text(spec.name + "\n")
    # lib.sh has no root line of its own: it uses the fleetlab_root of the script that sources it.
    _write_executable(share / "lib.sh", (SCRIPTS / "lib.sh").read_text(), mode=0o644)

    write_nvidia_smi_spec(fs_root, spec.name, spec.nvidia_smi)
    nvidia_smi = fs_root / NVIDIA_SMI.lstrip("/")
    if spec.nvidia_smi is None:
        nvidia_smi.unlink(missing_ok=True)
    else:
        _write_executable(nvidia_smi, script_text("nvidia-smi", root))

    workload = fs_root / WORKLOAD_BINARY.lstrip("/")
    if spec.workload and not workload.exists():
        _write_executable(workload, script_text("whisper-ctranslate2", root))


def write_nvidia_smi_spec(fs_root: Path, host: str, spec: NvidiaSmiSpec | None) -> None:
    """Write the spec that the host's nvidia-smi reports, or remove it when ``spec`` is None."""
    path = fs_root / SPEC_FILE.lstrip("/")
    if spec is None:
        path.unlink(missing_ok=True)
        return
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(spec.render(host))
    temporary.replace(path)


def remove_host_tree(fs_root: Path) -> None:
    """Delete a host's file tree. Call only while the host is down."""
    if fs_root.exists():
        shutil.rmtree(fs_root)


def _write_executable(path: Path, text: str, mode: int = 0o755) -> None:
    # Replace the file rather than rewrite it in place, so a running copy keeps its bytes.
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.chmod(mode)
    temporary.replace(path)
