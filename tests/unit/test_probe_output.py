"""Parsing of the deploy probe's sectioned output."""

from __future__ import annotations

import pytest

from fleetroute.errors import ProbeError
from fleetroute.facts.host import parse_probe_output

PROBE_OUTPUT = """\
Welcome to gpu-node, managed by config management
bash: warning: setlocale: LC_ALL: cannot change locale (en_US.UTF-8)

@@fleetroute:nvidia-smi exit=0 fields=index,name,memory.total,memory.used,driver_version@@
0, NVIDIA RTX A4000, 16376, 1, 550.54.15

@@fleetroute:meminfo@@
MemTotal:       32768000 kB
MemAvailable:   30000000 kB

@@fleetroute:state@@
binary=symlink /usr/local/lib/fleetroute/whisper-ctranslate2-router
binary_sha256=abc
binary_inode=8:12
real=file
real_sha256=def
real_inode=8:13
real_executable=yes
router=file
router_sha256=abc
probe_tool=/usr/bin/ffprobe
run_as_uid=0
log_dir=dir root 755
lock_dir=missing - -
user=root

@@fleetroute:manifest@@
router_sha256=abc

@@fleetroute:router@@
#!/usr/bin/env bash
echo router

@@fleetroute:end@@
"""


def test_probe_output_parsed():
    facts = parse_probe_output("a4000", PROBE_OUTPUT)
    assert facts.gpu.usable
    assert facts.gpu.gpus[0].memory_total_mb == 16376
    assert facts.ram_total_mb == 32000
    assert facts.install.binary.kind == "symlink"
    assert facts.install.binary.target == "/usr/local/lib/fleetroute/whisper-ctranslate2-router"
    assert facts.install.real_executable
    assert facts.install.lock_dir.kind == "missing"
    assert facts.install.log_dir.owner == "root"
    assert facts.install.manifest == {"router_sha256": "abc"}
    assert facts.install.router_text == "#!/usr/bin/env bash\necho router\n"
    assert facts.probe_tool_path == "/usr/bin/ffprobe"
    assert facts.run_as_uid == 0


def test_login_noise_reported_not_parsed():
    facts = parse_probe_output("a4000", PROBE_OUTPUT)
    assert facts.noise[0] == "Welcome to gpu-node, managed by config management"
    assert len(facts.noise) == 2


def test_truncated_output_rejected():
    cut = PROBE_OUTPUT[: PROBE_OUTPUT.index("@@fleetroute:manifest@@")]
    with pytest.raises(ProbeError, match="ended early"):
        parse_probe_output("a4000", cut)


def test_missing_nvidia_smi_is_no_usable_gpu():
    text = PROBE_OUTPUT.replace(
        "@@fleetroute:nvidia-smi exit=0 fields=index,name,memory.total,memory.used,driver_version@@\n"
        "0, NVIDIA RTX A4000, 16376, 1, 550.54.15\n",
        "@@fleetroute:nvidia-smi missing@@\n",
    )
    facts = parse_probe_output("a4000", text)
    assert not facts.gpu.usable
    assert "not found" in facts.gpu.message
