"""Reader of the run records that the simulated whisper-ctranslate2 appends.

A record file is a sequence of records. Each field ends with a NUL byte, so any byte
other than NUL survives. One record has these fields, in order:

    fleetlab-record-1           format marker
    HOST                        lab host name
    PID                         process id of the run
    UID                         effective user id
    CWD                         working directory (empty when it no longer exists)
    ARGC                        number of argv entries that follow, argv[0] included
    ARGV[0] .. ARGV[ARGC-1]     argv[0] is the path the workload was run as
    ENVC                        number of environment entries that follow
    NAME=VALUE ...              only the variables that were set, among
                                CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER,
                                OMP_NUM_THREADS and FLEETLAB_TAG

Text is decoded with ``os.fsdecode``, so ``os.fsencode(arg)`` returns the original bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MARKER = "fleetlab-record-1"


class RecordFormatError(ValueError):
    """A record file does not follow the format of this module's docstring."""


@dataclass(frozen=True)
class WorkloadRecord:
    """One run of the simulated workload."""

    host: str
    pid: int
    uid: int
    cwd: str
    argv: list[str]
    env: dict[str, str]

    @property
    def args(self) -> list[str]:
        """Return the arguments without argv[0]."""
        return self.argv[1:]


def read_records(path: Path | str) -> list[WorkloadRecord]:
    """Return the records in ``path`` in the order they were written, or [] when the file is missing.

    Raises ``RecordFormatError`` on a truncated or malformed record.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    if data and not data.endswith(b"\0"):
        raise RecordFormatError(f"{path}: the last field is not NUL-terminated (record truncated)")
    fields = iter(os.fsdecode(field) for field in data.split(b"\0")[:-1])
    records = []
    while (marker := next(fields, None)) is not None:
        if marker != MARKER:
            raise RecordFormatError(f"{path}: expected {MARKER!r} at record {len(records) + 1}, found {marker!r}")
        records.append(_read_record(fields, path))
    return records


def _read_record(fields: Iterator[str], path: Path | str) -> WorkloadRecord:
    def take() -> str:
        try:
            return next(fields)
        except StopIteration:
            raise RecordFormatError(f"{path}: record ends early") from None

    def take_int() -> int:
        value = take()
        if not value.isdigit():
            raise RecordFormatError(f"{path}: expected a number, found {value!r}")
        return int(value)

    host = take()
    pid = take_int()
    uid = take_int()
    cwd = take()
    argv = [take() for _ in range(take_int())]
    env = dict(take().split("=", 1) for _ in range(take_int()))
    return WorkloadRecord(host=host, pid=pid, uid=uid, cwd=cwd, argv=argv, env=env)
