"""Parsing what verify.sh prints and what the router logs."""

from __future__ import annotations

import pytest

from fleetroute.errors import ProbeError
from fleetroute.operations.verify.logline import parse_log_line
from fleetroute.operations.verify.remote import parse_sample, parse_verify_output, verify_script_args

from .helpers import whisper_settings

LOG_LINE = (
    "[ROUTER] Fri Dec  4 21:04:57 UTC 2026 mode=GPU-DRYRUN metric=3599.000000 time=2026-12-04T21:04:57Z "
    "host=a4000 unit=seconds threshold=3600 slot=0 pid=27577 reason=- input=/tmp/v/small.wav "
    "args: /tmp/v/small.wav --device cuda --compute_type float16"
)

OUTPUT = f"""Welcome to gpu-node, managed by config management



@@fleetroute:access@@
user=root
method=setpriv

@@fleetroute:writable@@
log_dir=yes
log_file=missing
lock_dir=yes
lock_file gpu.1.lock=no

@@fleetroute:input small@@
path=/tmp/v/small.wav
ms=71
origin=generated

@@fleetroute:input large@@
origin=skipped
reason=ffmpeg not found on the host

@@fleetroute:slots@@
gpu.0=held 812:flock,813:sleep
gpu.1=free
cpu.0=free

@@fleetroute:job gpu_path@@
exit=0
ms=79
timed_out=0
pid=27577
log={LOG_LINE}
expected_args= /tmp/v/small.wav --device cuda --compute_type float16
stderr=
stdout=

@@fleetroute:samples gpu_path@@
1000 0 0, 0
1200 0 0, 2799;1, 0
1400 9 NVIDIA-SMI has failed

@@fleetroute:holders gpu_blocking@@
gpu.0=busy 812:flock,813:sleep

@@fleetroute:holders gpu_blocking@@
gpu.1=held

@@fleetroute:end@@
"""


def test_sections_parsed():
    run = parse_verify_output("a4000", OUTPUT)

    assert run.access == {"user": "root", "method": "setpriv"}
    assert run.writable["log_file"] == "missing"
    assert run.writable["lock_file gpu.1.lock"] == "no"
    assert run.inputs["small"]["path"] == "/tmp/v/small.wav"
    assert run.inputs["large"]["reason"] == "ffmpeg not found on the host"
    assert run.slots["gpu.0"] == "held 812:flock,813:sleep"
    assert run.holders["gpu_blocking"] == {"gpu.0": "busy 812:flock,813:sleep", "gpu.1": "held"}
    assert run.noise == ("Welcome to gpu-node, managed by config management",)


def test_job_parsed_with_samples():
    job = parse_verify_output("a4000", OUTPUT).jobs["gpu_path"]

    assert (job.exit_code, job.ms, job.pid, job.timed_out) == (0, 79, 27577, False)
    assert job.log == LOG_LINE
    assert job.expected_args == " /tmp/v/small.wav --device cuda --compute_type float16"
    assert [sample.total_mb for sample in job.samples] == [0, 2799, None]
    assert job.samples[1].used_mb == {0: 2799, 1: 0}


def test_output_cut_short_raises():
    with pytest.raises(ProbeError, match="no end marker"):
        parse_verify_output("a4000", OUTPUT.replace("@@fleetroute:end@@", ""))


def test_sample_with_banner_and_unknown_memory():
    sample = parse_sample("5 0 Welcome to gpu-node;0, [N/A]")
    assert sample.used_mb == {0: None}
    assert sample.total_mb is None


def test_failed_sample_keeps_output():
    sample = parse_sample("5 9 NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
    assert sample.used_mb == {}
    assert sample.output.startswith("NVIDIA-SMI has failed")


def test_log_line_fields():
    line = parse_log_line(LOG_LINE)
    assert line is not None
    assert (line.mode, line.metric, line.threshold) == ("GPU-DRYRUN", "3599.000000", "3600")
    assert (line.slot, line.pid) == ("0", 27577)
    assert line.reasons == []
    assert line.args == " /tmp/v/small.wav --device cuda --compute_type float16"


def test_log_line_with_quoted_fields():
    text = (
        "[ROUTER] Fri Dec  4 21:04:57 UTC 2026 mode=CPU-BLOCKED metric=unknown time=2026-12-04T21:04:57Z "
        "host=a4000 unit=audio\\ seconds threshold=3600 slot=- pid=12 reason=probe-exit-1,all-slots-busy "
        "input=$'/srv/a\\nb.wav' args: $'/srv/a\\nb.wav' --device cpu"
    )
    line = parse_log_line(text)
    assert line is not None
    assert line.unit == "audio\\ seconds"
    assert line.input == "$'/srv/a\\nb.wav'"
    assert line.reasons == ["probe-exit-1", "all-slots-busy"]


def test_runbook_log_line_not_parsed(realworld):
    first = (realworld / "logs" / "runbook-format.log").read_text().splitlines()[0]
    assert parse_log_line(first) is None


def test_script_args_count_lists():
    settings = whisper_settings(max_gpu_jobs=2, block_wait_seconds=3, verify_env=["A=1"])
    args = verify_script_args(settings, mode="dry", small="duration:3599", large="duration:3601", env=["A=1"])

    assert args[:15] == [
        "/usr/local/bin/whisper-ctranslate2",
        "/usr/local/lib/fleetroute/whisper-ctranslate2-router",
        "/var/log/fleetroute/whisper-ctranslate2.log",
        "/run/lock/fleetroute/whisper-ctranslate2",
        "root",
        "nvidia-smi",
        "2",
        "1",
        "block",
        "first-file",
        "duration:3599",
        "duration:3601",
        "dry",
        "13",
        "600",
    ]
    assert args[15:] == ["4", "--device", "cuda", "--compute_type", "float16", "4", "--device", "cpu",
                         "--compute_type", "int8", "1", "A=1"]
