"""Parse ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits`` output.

Field drivers print unknown values as bracketed tokens (``[N/A]``, ``[Not Supported]``,
``[Unknown Error]``, ``[Insufficient Permissions]``, wording varying by release) or
a bare ``N/A``; these are "unknown", never zero. Lines that are not GPU rows (login
banners, warnings) are kept as noise. A non-zero exit or an error message instead of
rows means the host has no usable GPU.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

REQUIRED_FIELDS = ("index", "name", "memory.total", "memory.used", "driver_version")

_UNKNOWN = re.compile(r"^(\[.*\]|N/A|)$", re.IGNORECASE)
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class Gpu:
    """One GPU row; a field is None when the driver reported it as unknown."""

    index: int
    name: str
    memory_total_mb: int | None
    memory_used_mb: int | None
    driver_version: str | None
    mig_mode: str | None = None

    def to_dict(self) -> dict:
        """Return the row as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class GpuFacts:
    """GPUs of one host, as nvidia-smi reported them.

    ``usable`` is False when nvidia-smi is missing, failed or found no device; then
    ``message`` contains what it printed. ``noise`` lists lines that were not GPU rows.
    """

    usable: bool
    gpus: tuple[Gpu, ...] = ()
    message: str = ""
    noise: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """Return the facts as a JSON-ready dict."""
        return {
            "usable": self.usable,
            "gpus": [gpu.to_dict() for gpu in self.gpus],
            "message": self.message,
            "noise": list(self.noise),
        }


def _field(value: str) -> str | None:
    value = value.strip()
    return None if _UNKNOWN.match(value) else value


def _megabytes(value: str) -> int | None:
    value = _field(value)
    if value is None or not _NUMBER.match(value):
        return None
    return int(float(value))


def _parse_row(line: str, fields: tuple[str, ...]) -> Gpu | None:
    parts = [part.strip() for part in line.split(",")]
    if len(parts) != len(fields) or not parts[0].isdigit():
        return None
    values = dict(zip(fields, parts))
    return Gpu(
        index=int(values["index"]),
        name=_field(values["name"]) or "unknown",
        memory_total_mb=_megabytes(values["memory.total"]),
        memory_used_mb=_megabytes(values["memory.used"]),
        driver_version=_field(values["driver_version"]),
        mig_mode=_field(values.get("mig.mode.current", "")),
    )


def parse_nvidia_smi(output: str, exit_code: int, fields: tuple[str, ...] = REQUIRED_FIELDS) -> GpuFacts:
    """Parse nvidia-smi CSV output into GPU records.

    ``fields`` is the ``--query-gpu`` field list in the order queried; it must contain
    ``REQUIRED_FIELDS``. Rows are recognised by shape (field count, integer index), so
    banner lines anywhere are kept as noise instead of breaking the parse. Returns
    ``GpuFacts(usable=False, message=...)`` for a non-zero exit or output without rows.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    gpus: list[Gpu] = []
    noise: list[str] = []
    for line in lines:
        row = _parse_row(line, fields)
        if row is None:
            noise.append(line)
        else:
            gpus.append(row)

    if exit_code != 0:
        message = " ".join(noise) or f"nvidia-smi exited with status {exit_code}"
        return GpuFacts(usable=False, message=message, noise=tuple(noise))
    if not gpus:
        return GpuFacts(usable=False, message=" ".join(noise) or "nvidia-smi listed no GPU", noise=tuple(noise))
    return GpuFacts(usable=True, gpus=tuple(gpus), noise=tuple(noise))
