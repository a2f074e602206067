"""The MemoryMax drop-in of the caller's systemd unit, and the unit's sandboxing check."""

from __future__ import annotations

import shutil

import pytest

from fleetroute.errors import InstallError
from fleetroute.operations.systemd import (
    UnitFiles,
    dropin_path,
    parse_systemd_output,
    render_dropin,
    sandbox_problems,
    unit_name,
    verify_dropin,
)

from .helpers import whisper_settings

UNIT = "gitlab-runner.service"


def settings(**overrides):
    return whisper_settings(systemd_unit=UNIT, **overrides)


def unit_files(*texts: str) -> UnitFiles:
    files = [("/etc/systemd/system/" + UNIT, texts[0])]
    files += [(f"/etc/systemd/system/{UNIT}.d/{n}.conf", text) for n, text in enumerate(texts[1:])]
    return UnitFiles(files)


def test_unit_name_gets_service_suffix():
    assert unit_name(whisper_settings(systemd_unit="gitlab-runner")) == UNIT
    assert unit_name(whisper_settings(systemd_unit="worker@1.service")) == "worker@1.service"


@pytest.mark.parametrize("name", ["../etc/passwd", "two words"])
def test_unit_name_rejects_paths(name):
    with pytest.raises(InstallError, match="not a unit name"):
        unit_name(whisper_settings(systemd_unit=name))


def test_dropin_path_uses_dropin_dir():
    assert dropin_path(settings()) == f"/etc/systemd/system/{UNIT}.d/fleetroute-memory.conf"
    assert dropin_path(settings(systemd_dropin_dir="/srv/units")) == f"/srv/units/{UNIT}.d/fleetroute-memory.conf"


def test_render_dropin_memory_max():
    text = render_dropin(settings(workload_ram_mb=11000, max_cpu_jobs=1))
    assert "[Service]\nMemoryMax=13200M\n" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_verify_dropin_accepts_rendered():
    assert verify_dropin(render_dropin(settings())) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_verify_dropin_rejects_bad_value():
    (problem,) = verify_dropin("[Service]\nMemoryMax=lots\n")
    assert "fleetroute-memory.conf" in problem
    assert "lots" in problem


def test_protect_system_strict_blocks_both_paths():
    problems = sandbox_problems(settings(), UNIT, unit_files("[Service]\nProtectSystem=strict\n"))
    assert len(problems) == 2
    assert "ProtectSystem=strict makes read-only the router's log directory /var/log/fleetroute" in problems[0]
    assert "add ReadWritePaths=/var/log/fleetroute" in problems[0]
    assert "lock directory /run/lock/fleetroute/whisper-ctranslate2" in problems[1]


def test_read_write_paths_lift_protect_system():
    text = "[Service]\nProtectSystem=strict\nReadWritePaths=-/var/log/fleetroute \\\n  /run/lock/fleetroute\n"
    assert sandbox_problems(settings(), UNIT, unit_files(text)) == []


def test_dropin_resets_read_write_paths():
    base = "[Service]\nProtectSystem=strict\nReadWritePaths=/var/log /run/lock\n"
    override = "[Service]\nReadWritePaths=\nReadWritePaths=/var/log\n"
    (problem,) = sandbox_problems(settings(), UNIT, unit_files(base, override))
    assert "lock directory" in problem


def test_protect_system_full_spares_var():
    assert sandbox_problems(settings(), UNIT, unit_files("[Service]\nProtectSystem=full\n")) == []
    moved = settings(router_log="/etc/fleetroute/whisper.log")
    (problem,) = sandbox_problems(moved, UNIT, unit_files("[Service]\nProtectSystem=full\n"))
    assert "ProtectSystem=full" in problem


def test_private_tmp_hides_tmp_paths():
    tmp = settings(router_log="/tmp/fleetroute/whisper.log", lock_dir="/var/tmp/fleetroute-locks")
    problems = sandbox_problems(tmp, UNIT, unit_files("[Service]\nPrivateTmp=true\n"))
    assert len(problems) == 2
    assert all("PrivateTmp=yes" in problem and "set PrivateTmp=no" in problem for problem in problems)


def test_later_dropin_turns_private_tmp_off():
    tmp = settings(lock_dir="/tmp/fleetroute-locks")
    files = unit_files("[Service]\nPrivateTmp=yes\n", "[Service]\nPrivateTmp=no\n")
    assert sandbox_problems(tmp, UNIT, files) == []


def test_protect_home_variants():
    home = settings(router_log="/home/runner/logs/whisper.log", lock_dir="/home/runner/locks")
    hidden = sandbox_problems(home, UNIT, unit_files("[Service]\nProtectHome=yes\n"))
    assert len(hidden) == 2
    assert "ProtectHome=yes hides" in hidden[0]
    readonly = sandbox_problems(home, UNIT, unit_files("[Service]\nProtectHome=read-only\nReadWritePaths=/home/runner\n"))
    assert readonly == []


def test_other_sections_ignored():
    text = "[Unit]\nProtectSystem=strict\n[Install]\nPrivateTmp=yes\n# ProtectSystem=strict\n"
    assert sandbox_problems(settings(), UNIT, unit_files(text)) == []


def test_missing_unit_reported():
    (problem,) = sandbox_problems(settings(), UNIT, UnitFiles())
    assert f"systemd unit {UNIT} not found" in problem
    assert "systemd_unit_dirs" in problem


def test_parse_output_orders_dropins():
    output = (
        "\n@@fleetroute:dropin result=written@@\n"
        "\n@@fleetroute:reload status=skipped@@\n"
        "\n@@fleetroute:file /etc/systemd/system/x.service@@\n[Service]\nPrivateTmp=yes\n"
        "\n@@fleetroute:file /etc/systemd/system/x.service.d/zz.conf@@\n[Service]\nPrivateTmp=no\n"
        "\n@@fleetroute:file /etc/systemd/system/x.service.d/aa.conf@@\n[Service]\nPrivateTmp=yes\n"
        "\n@@fleetroute:file /lib/systemd/system/x.service.d/aa.conf@@\n[Service]\nProtectSystem=strict\n"
        "\n@@fleetroute:end@@\n"
    )
    outcome, files = parse_systemd_output(output)
    assert outcome == {"dropin": "written", "reload": "skipped"}
    assert [path for path, _ in files.files] == [
        "/etc/systemd/system/x.service",
        "/etc/systemd/system/x.service.d/aa.conf",
        "/etc/systemd/system/x.service.d/zz.conf",
    ]
    assert files.service_settings()["PrivateTmp"] == ["yes", "yes", "no"]


def test_parse_output_without_end_fails():
    with pytest.raises(InstallError, match="ended early"):
        parse_systemd_output("\n@@fleetroute:dropin result=written@@\n")
