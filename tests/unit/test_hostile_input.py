"""Property tests: arbitrary inventory text reaches the router and remote commands as literal data.

Each value is drawn from text full of shell syntax (quotes, ``$()``, backticks,
newlines, semicolons, globs, leading dashes, unicode). The rendered router must pass
``bash -n`` (and ShellCheck, on fewer examples), and each value must arrive as the
same argument or string, never run. Commands built for ``run_script`` must deliver
their arguments literally, with and without sudo, and never carry the sudo password.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fleetroute.connectors import ssh as ssh_module
from fleetroute.connectors.ssh import BecomeError, CommandResult, ConnectOptions, SSHHost, Target
from fleetroute.render import render_router
from tests.router.conftest import VERSION, build_settings, install_router

SHELL_SNIPPETS = [
    "$(touch pwned)",
    "`touch pwned`",
    "'",
    '"',
    "\\",
    ";",
    "&&",
    "|",
    "\n",
    "\t",
    " ",
    "-",
    "--",
    "*",
    "?",
    "[a]",
    "~",
    "${HOME}",
    "$1",
    "!",
    "#",
    "%s",
    "=",
    ">",
    "<",
    "é",
    "日本",
    "\u202e",
    "\x7f",
    "\x1b[31m",
]
# Text without NUL, which no shell argument can hold and the inventory rejects, and
# without lone surrogates, which neither YAML nor UTF-8 can hold.
hostile_text = st.lists(
    st.one_of(st.sampled_from(SHELL_SNIPPETS), st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=6)),
    max_size=6,
).map("".join)
hostile_word = hostile_text.filter(bool)
# A file name: no slash, no NUL, not . or .., short enough for any file system.
hostile_name = (
    st.text(st.characters(blacklist_characters="\0/", blacklist_categories=("Cs",)), min_size=1, max_size=40)
    .filter(lambda name: name not in (".", "..") and len(name.encode()) <= 200)
)
# flag:NAME rules and skip flags: the forms the inventory's input_rule check accepts.
flag_name = st.from_regex(r"--?[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)

# Example counts keep the file under about a minute: each router run costs about
# 50 ms and each ShellCheck run several seconds.
# Prints each argument followed by a NUL byte; no output for no arguments.
PRINT_ARGS = 'for arg in "$@"; do printf "%s\\0" "$arg"; done'
BASH_N_EXAMPLES = 300
RUN_EXAMPLES = 20
SHELLCHECK_EXAMPLES = 3


def examples(count: int) -> settings:
    """Return hypothesis settings for ``count`` examples of a test that runs processes: no deadline, no database."""
    return settings(max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def bash_syntax_error(text: str) -> str:
    done = subprocess.run(["bash", "-n"], input=text.encode(), capture_output=True)
    return done.stderr.decode(errors="replace") if done.returncode else ""


hostile_overrides = st.fixed_dictionaries(
    {
        "gpu_args": st.lists(hostile_text, max_size=4),
        "cpu_args": st.lists(hostile_text, max_size=4),
        "probe_tool": hostile_word,
        "threshold_unit": hostile_word,
        "run_as": hostile_word,
        "input_skip_flags": st.lists(hostile_text, max_size=3),
        "gpu_index_arg": hostile_word,
    },
    optional={
        "probe": hostile_word.filter(lambda text: any(char.isspace() for char in text)),
        "input_rule": flag_name.map(lambda name: f"flag:{name}"),
        "router_log": hostile_name.map(lambda name: f"/var/log/{name}/x.log"),
        "lock_dir": hostile_name.map(lambda name: f"/run/lock/{name}"),
    },
)


@examples(BASH_N_EXAMPLES)
@given(overrides=hostile_overrides, host=hostile_word)
def test_router_with_hostile_values_passes_bash_n(overrides, host):
    values = dict(overrides)
    if values.get("gpu_index_arg"):
        values.update(gpu_slot_mode="per_gpu", gpu_indices=[0])
    settings_ = build_settings({**_base(), **values})

    text = render_router(settings_, host=host, version=VERSION)

    assert bash_syntax_error(text) == ""


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@settings(examples(SHELLCHECK_EXAMPLES), phases=[Phase.explicit, Phase.generate])
@given(overrides=hostile_overrides, host=hostile_word)
def test_router_with_hostile_values_passes_shellcheck(overrides, host):
    # Severity warning: a value that is one backslash renders as '\', which is correct
    # quoting but draws ShellCheck's info-level SC1003. Shrinking is off because each
    # ShellCheck run takes seconds.
    values = dict(overrides)
    if values.get("gpu_index_arg"):
        values.update(gpu_slot_mode="per_gpu", gpu_indices=[0])
    text = render_router(build_settings({**_base(), **values}), host=host, version=VERSION)

    done = subprocess.run(
        ["shellcheck", "-s", "bash", "-S", "warning", "-"], input=text.encode(), capture_output=True, timeout=120
    )

    assert done.returncode == 0, done.stdout.decode(errors="replace")[:2000]


def _base() -> dict[str, object]:
    return {
        "workload_binary": "/usr/local/bin/work",
        "threshold_value": 10,
        "gpu_args": [],
        "cpu_args": [],
        "workload_vram_mb": 3700,
        "workload_ram_mb": 2000,
    }


@examples(RUN_EXAMPLES)
@given(gpu_args=st.lists(hostile_text, max_size=5), cpu_args=st.lists(hostile_text, max_size=5), job_arg=hostile_text)
def test_device_args_reach_workload_literally(gpu_args, cpu_args, job_arg):
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        router = install_router(root, {"probe": "size", "threshold_value": 100, "gpu_args": gpu_args,
                                       "cpu_args": cpu_args})
        small, large = root / "small.bin", root / "large.bin"
        small.write_bytes(b"x" * 10)
        large.write_bytes(b"x" * 1000)

        on_gpu = router.run([str(small), job_arg])
        on_cpu = router.run([str(large), job_arg])

        assert on_gpu.argv == [str(small), job_arg, *gpu_args]
        assert on_cpu.argv == [str(large), job_arg, *cpu_args]
        assert on_gpu.entry.args == [str(small), job_arg, *gpu_args]
        assert not (root / "pwned").exists()


@examples(RUN_EXAMPLES)
@given(skip_flag=hostile_text.map(lambda text: "-" + text.lstrip("-") + "x"), flag=flag_name)
def test_flag_names_match_literally(skip_flag, flag):
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        media_file = root / "job.bin"
        media_file.write_bytes(b"x" * 10)

        by_skip = install_router(
            root / "skip",
            {"probe": "size", "threshold_value": 100, "input_rule": "arg:1", "input_skip_flags": [skip_flag]},
        )
        skip_run = by_skip.run([skip_flag, "not-the-input", str(media_file)])
        by_flag = install_router(root / "flag", {"probe": "size", "threshold_value": 100, "input_rule": f"flag:{flag}"})
        flag_run = by_flag.run(["positional", flag, str(media_file)])
        joined_run = by_flag.run([f"{flag}={media_file}"])

        assert skip_run.entry.input == str(media_file)
        assert skip_run.entry["mode"] == "GPU"
        assert flag_run.entry.input == str(media_file)
        assert joined_run.entry.input == str(media_file)
        assert not (root / "pwned").exists()



@examples(20)
@given(log_name=hostile_name, lock_name=hostile_name)
def test_log_and_lock_paths_used_literally(log_name, lock_name):
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        log_path = root / "logs" / log_name
        lock_dir = root / "locks" / lock_name
        lock_dir.mkdir(parents=True)
        log_path.parent.mkdir(parents=True)
        router = install_router(root / "r", {"probe": "size", "threshold_value": 100, "router_log": str(log_path),
                                             "lock_dir": str(lock_dir)})
        media_file = root / "job.bin"
        media_file.write_bytes(b"x")

        run = router.run([str(media_file)])

        assert run.returncode == 0, run.stderr
        assert log_path.is_file()
        assert any(lock_dir.iterdir())
        assert list((root / "logs").iterdir()) == [log_path]


@examples(200)
@given(args=st.lists(hostile_text, max_size=8))
def test_run_script_command_delivers_args_literally(args):
    words = ["bash", "-c", PRINT_ARGS, "fleetroute-test", *args]

    done = subprocess.run(["bash", "-c", shlex.join(words)], capture_output=True, check=True)

    assert done.stdout.decode().split("\0")[:-1] == args


@examples(60)
@given(args=st.lists(hostile_text, max_size=6), data=st.binary(max_size=2000))
def test_private_stdin_wrapper_delivers_args_and_data(args, data, tmp_path_factory):
    # What run_script sends under sudo, run here without sudo: upload, then the wrapper.
    directory = tmp_path_factory.mktemp("upload")
    env = {**os.environ, "TMPDIR": str(directory)}
    upload = subprocess.run(["sh", "-c", ssh_module.PRIVATE_UPLOAD], input=data, capture_output=True, env=env,
                            check=True)
    path = upload.stdout.decode().strip()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    script = 'cat >"$0.stdin"; ' + PRINT_ARGS
    words = ["bash", "-c", ssh_module.PRIVATE_STDIN, "fleetroute-test-stdin", path, script,
             str(directory / "received"), *args]
    done = subprocess.run(["bash", "-c", shlex.join(words)], capture_output=True, check=True)

    assert done.stdout.decode().split("\0")[:-1] == args
    assert (directory / "received.stdin").read_bytes() == data
    assert not Path(path).exists()


class RecordingHost(SSHHost):
    """SSHHost that records its remote commands and returns canned results, without a connection."""

    def __init__(self, target: Target, options: ConnectOptions, sudo_mode: str, password_ok: bool = True):
        super().__init__(target, options)
        self.sudo_mode = sudo_mode
        self.password_ok = password_ok
        self.sent: list[tuple[str, bytes | None]] = []

    def run(self, command, *, name, stdin=None, timeout=None):
        self.sent.append((command, stdin))
        stdout, code = "", 0
        if name == "become-check":
            stdout = self.sudo_mode + "\n"
        elif name == "become-password":
            code = 0 if self.password_ok else 1
        elif name.endswith("-upload"):
            stdout = "/tmp/fleetroute-stdin.abc\n"
        return CommandResult(self.name, name, code, stdout, "", 0.0)


# The prefix makes each password distinctive, so that finding it in a command means a leak.
password_text = st.text(
    st.characters(blacklist_characters="\0\n\r", blacklist_categories=("Cs",)), min_size=1, max_size=40
).map(lambda text: "pw:" + text)


@examples(200)
@given(password=password_text, args=st.lists(hostile_text, max_size=4), data=st.binary(max_size=64))
def test_sudo_password_only_on_stdin(password, args, data):
    target = Target("h", "h", become=True, become_password=password)
    host = RecordingHost(target, ConnectOptions(), sudo_mode="password")

    host._prepare_become()
    host.run_script("echo", args, name="probe")
    host.run_script("cat", args, name="install", stdin=data)

    assert all(password not in command for command, _ in host.sent)
    password_line = (password + "\n").encode()
    sudo_stdins = [stdin for command, stdin in host.sent if command.startswith("sudo ")]
    assert sudo_stdins and all(stdin == password_line for stdin in sudo_stdins)
    assert password not in repr(target)
    assert password not in repr(ConnectOptions(become_password=password))


@examples(50)
@given(password=password_text, args=st.lists(hostile_text, max_size=4))
def test_passwordless_sudo_never_sent_password(password, args):
    host = RecordingHost(Target("h", "h", become=True), ConnectOptions(become_password=password), sudo_mode="nopasswd")

    host._prepare_become()
    host.run_script("echo", args, name="probe")
    host.run_script("cat", args, name="install", stdin=b"data")

    assert all(password.encode() not in (stdin or b"") for _, stdin in host.sent)
    assert all(password not in command for command, _ in host.sent)
    assert all(command.startswith("sudo -n ") for command, _ in host.sent[1:] if "fleetroute-probe" in command)


def test_rejected_password_raises_without_it():
    password = "hunter2-secret"
    host = RecordingHost(Target("h", "h", become=True, become_password=password), ConnectOptions(),
                         sudo_mode="password", password_ok=False)

    with pytest.raises(BecomeError) as caught:
        host._prepare_become()

    assert password not in str(caught.value)
    assert "sudo as root failed" in str(caught.value)


def test_missing_password_asks_for_option():
    host = RecordingHost(Target("h", "h", user="deploy", become=True), ConnectOptions(), sudo_mode="password")

    with pytest.raises(BecomeError, match="--ask-become-pass"):
        host._prepare_become()


def test_upload_without_path_fails_step():
    class NoisyHost(RecordingHost):
        def run(self, command, *, name, stdin=None, timeout=None):
            if name.endswith("-upload"):
                self.sent.append((command, stdin))
                return CommandResult(self.name, name, 0, "welcome banner\n", "", 0.0)
            return super().run(command, name=name, stdin=stdin, timeout=timeout)

    host = NoisyHost(Target("h", "h", become=True), ConnectOptions(), sudo_mode="nopasswd")
    host._prepare_become()

    result = host.run_script("cat", [], name="install", stdin=b"router text")

    assert not result.ok
    assert "printed no file path" in result.stderr
    assert not any(command.startswith("sudo ") and "fleetroute-install" in command for command, _ in host.sent)
