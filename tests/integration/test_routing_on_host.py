"""The deployed router on a lab host, fed real media made by ffmpeg, through a real SSH session."""

from __future__ import annotations

import shlex

import pytest

from lab.media import make_media

from .conftest import BINARY, REAL, ROUTER_LOG, fleetroute, host_file

pytestmark = pytest.mark.lab

GPU_ARGS = ["--device", "cuda", "--compute_type", "float16"]
CPU_ARGS = ["--device", "cpu", "--compute_type", "int8"]


def test_short_media_to_gpu_long_to_cpu(fleet, tmp_path):
    assert fleetroute("deploy", "-i", str(fleet.inventory), "--limit", "a4000").exit_code == 0
    short = make_media(fleet.shared_dir / "short talk.mp3", 90, cache_dir=tmp_path / "cache")
    long = make_media(fleet.shared_dir / "conference-day1.mkv", 4000, cache_dir=tmp_path / "cache")
    long = long.rename(long.with_suffix(""))  # PeerTube runners pass media without an extension.

    for media in (short, long):
        command = shlex.join([BINARY, str(media), "--model", "small", "--output_dir", "/tmp"])
        done = fleet.ssh("a4000", command)
        assert done.returncode == 0, done.stderr

    first, second = fleet.records("a4000")[-2:]
    assert first.argv[0] == REAL
    assert first.argv[1:] == [str(short), "--model", "small", "--output_dir", "/tmp", *GPU_ARGS]
    assert second.argv[1:] == [str(long), "--model", "small", "--output_dir", "/tmp", *CPU_ARGS]

    lines = host_file(fleet, "a4000", ROUTER_LOG).read_text().splitlines()
    assert lines[-2].startswith("[ROUTER] ")
    assert " mode=GPU metric=90" in lines[-2]
    assert " mode=CPU metric=4000" in lines[-1]
    assert "host=a4000" in lines[-1]
