"""Shell startup noise on a host (banners on stdout, locale warnings on stderr) breaks no command."""

from __future__ import annotations

import pytest

from .conftest import fleetroute, host_file

pytestmark = pytest.mark.lab

# Debian's bash reads ~/.bashrc for commands run over SSH, so this prints before every
# remote command fleetroute runs on the host.
NOISY_BASHRC = """\
echo "Welcome to a4000. This host is managed by Puppet; local changes will be lost."
echo "fleetroute: not really fleetroute, a line that looks like ours"
echo "bash: warning: setlocale: LC_ALL: cannot change locale (xx_YY.UTF-8)" >&2
printf 'no newline at the end'
"""


@pytest.fixture
def noisy_fleet(fleet):
    """Return the lab fleet with a noisy root ~/.bashrc on a4000, checked to print."""
    host_file(fleet, "a4000", "/root/.bashrc").write_text(NOISY_BASHRC)
    check = fleet.ssh("a4000", "true")
    assert "Welcome to a4000" in check.stdout, "bash on the lab host did not read ~/.bashrc"
    return fleet


def test_commands_ignore_startup_noise(noisy_fleet):
    inventory = str(noisy_fleet.inventory)
    for command in (["deploy"], ["verify"], ["budget"], ["log-stats"], ["deploy"], ["uninstall"]):
        result = fleetroute(*command, "-i", inventory, "--limit", "a4000", "--json")
        assert result.exit_code == 0, (command, result.stdout, result.stderr)


def test_deploy_reports_ignored_noise(noisy_fleet):
    result = fleetroute("deploy", "-i", str(noisy_fleet.inventory), "--limit", "a4000", "--json")
    warnings = result.json["hosts"]["a4000"]["warnings"]
    assert result.exit_code == 0
    assert any("Welcome to a4000" in warning for warning in warnings)
