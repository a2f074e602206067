"""Fixtures that install a rendered router in front of a fake workload under tmp_path.

The fake workload records the argv it receives (NUL-separated), its PID and,
when asked, its stdin and environment, then exits or holds its slot as
``FAKE_WORKLOAD_MODE`` says. Media files are made once per session with the real
ffmpeg, and the router probes them with the real ffprobe unless a test points
``probe_tool`` at ``fake_probe``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleetroute.render import render_router
from fleetroute.settings import HostSettings

HOST = "gpu-host-1"
VERSION = "0.0.0-test"
GPU_ARGS = ["--device", "cuda", "--compute_type", "float16"]
CPU_ARGS = ["--device", "cpu", "--compute_type", "int8"]
THRESHOLD_SECONDS = 10
SHORT_SECONDS = 5
LONG_SECONDS = 20
VIDEO_WIDTH = 320
VIDEO_HEIGHT = 240

# Records argv, PID, stdin and chosen environment variables, then acts by
# FAKE_WORKLOAD_MODE. The "done" marker is written last, so once it exists the
# workload is running and holds its slot's lock.
FAKE_WORKLOAD = r"""#!/bin/bash
set -eu
state="${FAKE_WORKLOAD_STATE:?}"
printf '%s\0' "$@" >"${state}/argv"
printf '%s' "$$" >"${state}/pid"
for name in ${FAKE_WORKLOAD_SHOW_ENV:-}; do
  if [[ -v "${name}" ]]; then
    printf '%s=%s\0' "${name}" "${!name}"
  fi
done >"${state}/env"
case "${FAKE_WORKLOAD_MODE:-exit}" in
  stdin) cat >"${state}/stdin" ;;
  wait-stdin) : >"${state}/done"; read -r _ || true ;;
  sleep) : >"${state}/done"; exec sleep 60 ;;
  record-signal)
    # Writes the name of the first signal it gets to "signal", then exits 0.
    sleep 60 </dev/null >/dev/null 2>&1 &
    sleeper="$!"
    for signal in TERM INT HUP QUIT USR1 USR2; do
      trap "kill ${sleeper}; printf '%s' ${signal} >\"\${state}/signal\"; exit 0" "${signal}"
    done
    : >"${state}/done"
    wait "${sleeper}"
    ;;
  allocate)
    # Holds FAKE_WORKLOAD_BYTES bytes in a shell variable for 1.5 s.
    block="$(head -c "${FAKE_WORKLOAD_BYTES:?}" /dev/zero | tr '\0' x)"
    : >"${state}/done"
    sleep 1.5
    : "${block}"
    ;;
  fork-child)
    sleep 60 </dev/null >/dev/null 2>&1 &
    printf '%s' "$!" >"${state}/child"
    ;;
esac
: >"${state}/done"
exit "${FAKE_WORKLOAD_EXIT:-0}"
"""

# Stands in for ffprobe: prints the file FAKE_PROBE_OUTPUT, or FAKE_PROBE_STREAMS
# for the stream-duration query, and exits with FAKE_PROBE_EXIT. Each call's argv
# is appended NUL-separated, with an empty line between calls, to FAKE_PROBE_ARGV.
FAKE_PROBE = r"""#!/bin/bash
set -eu
if [[ -n "${FAKE_PROBE_ARGV:-}" ]]; then
  printf '%s\0' "$@" >>"${FAKE_PROBE_ARGV}"
  printf '\n' >>"${FAKE_PROBE_ARGV}"
fi
output="${FAKE_PROBE_OUTPUT:?}"
if [[ " $* " == *' stream=duration '* ]]; then
  output="${FAKE_PROBE_STREAMS:-${output}}"
fi
cat "${output}"
exit "${FAKE_PROBE_EXIT:-0}"
"""

# Fields from [ROUTER] to reason=, which decision and exit lines share. metric2,
# unit2 and threshold2 appear only with a secondary probe, gpu only with per-GPU slots.
LOG_HEAD = (
    r"^\[ROUTER\] (?P<date>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ \d{4}) "
    r"mode=(?P<mode>\S+) metric=(?P<metric>\S+) time=(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) "
    r"host=(?P<host>(?:\\.|\S)+) unit=(?P<unit>(?:\\.|\S)+) threshold=(?P<threshold>\S+) "
    r"(?:metric2=(?P<metric2>\S+) unit2=(?P<unit2>(?:\\.|\S)+) threshold2=(?P<threshold2>\S+) )?"
    r"slot=(?P<slot>\S+) (?:gpu=(?P<gpu>\S+) )?pid=(?P<pid>\d+) reason=(?P<reason>\S+) "
)
LOG_LINE = re.compile(LOG_HEAD + r"input=(?P<input>.*?) args:(?P<args>.*)$")
EXIT_LINE = re.compile(
    LOG_HEAD + r"exit=(?P<exit>\d+) elapsed=(?P<elapsed>\d+\.\d{3}) "
    r"peak_rss_kb=(?P<peak_rss_kb>\d+|-) input=(?P<input>.*)$"
)


def bash_words(quoted: str) -> list[str]:
    """Return the words of ``quoted``, a string of words quoted like printf %q, as bash reads them."""
    script = 'eval "words=($1)"; for word in "${words[@]}"; do printf "%s\\0" "$word"; done'
    output = subprocess.run(
        ["bash", "-c", script, "bash", quoted], check=True, capture_output=True
    ).stdout
    return [word.decode() for word in output.split(b"\0")[:-1]]


@dataclass
class LogEntry:
    """One router log line split into fields; ``input`` and ``args`` are unquoted."""

    line: str
    fields: dict[str, str]
    input: str
    args: list[str]

    def __getitem__(self, name: str) -> str:
        return self.fields[name]


def parse_log_line(line: str) -> LogEntry:
    """Split a router log line into fields, failing the test when it does not match the format.

    A supervise-mode exit line (mode ending in -EXIT) has no arguments, so its ``args`` is empty.
    """
    is_exit_line = re.match(r"^\[ROUTER\] .*? mode=\S+-EXIT ", line) is not None
    match = (EXIT_LINE if is_exit_line else LOG_LINE).match(line)
    assert match, f"log line does not match the router format: {line!r}"
    fields = match.groupdict()
    input_words = bash_words(fields["input"])
    assert len(input_words) == 1, f"input field is not one quoted word: {fields['input']!r}"
    args = [] if is_exit_line else bash_words(fields["args"])
    return LogEntry(line, fields, input_words[0], args)


@dataclass
class Run:
    """Result of one router call: exit code, stderr and what the workload and log recorded."""

    returncode: int
    stderr: str
    argv: list[str] | None
    workload_pid: int | None
    env: dict[str, str] | None
    stdin: bytes | None
    log: list[LogEntry]

    @property
    def entry(self) -> LogEntry:
        """Return the one log line this call wrote."""
        assert len(self.log) == 1, f"expected one log line, got {len(self.log)}: {self.log}"
        return self.log[0]

    @property
    def exit_entry(self) -> LogEntry:
        """Return the exit line of a supervised call, which follows its decision line."""
        assert len(self.log) == 2, f"expected a decision and an exit line, got {len(self.log)}: {self.log}"
        return self.log[1]


@dataclass
class RouterHost:
    """A rendered router installed as ``bin/work``, with ``bin/work-real`` the fake workload."""

    root: Path
    settings: HostSettings
    router_text: str
    state_counter: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def binary(self) -> Path:
        return Path(self.settings.workload_binary)

    @property
    def log_path(self) -> Path:
        return Path(self.settings.router_log)

    @property
    def lock_dir(self) -> Path:
        return Path(self.settings.lock_dir)

    def log_lines(self) -> list[str]:
        """Return the router log's lines, or none when it is not a file."""
        if not self.log_path.is_file():
            return []
        return self.log_path.read_text(encoding="ascii").splitlines()

    def new_state_dir(self) -> Path:
        """Create an empty directory for one workload run's records, writable by any user."""
        self.state_counter += 1
        state = self.root / "state" / str(self.state_counter)
        state.mkdir(parents=True)
        state.chmod(0o777)
        return state

    def environment(self, state: Path, extra: dict[str, str] | None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FAKE_WORKLOAD_STATE": str(state),
        }
        env.update(extra or {})
        return env

    def run(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdin: bytes = b"",
        command_prefix: list[str] | None = None,
    ) -> Run:
        """Call the workload binary (the router) with ``args`` and wait for it."""
        state = self.new_state_dir()
        log_before = len(self.log_lines())
        completed = subprocess.run(
            [*(command_prefix or []), str(self.binary), *args],
            env=self.environment(state, env),
            cwd=cwd or self.root,
            input=stdin,
            capture_output=True,
            timeout=30,
        )
        new_lines = self.log_lines()[log_before:]
        return Run(
            returncode=completed.returncode,
            stderr=completed.stderr.decode(errors="replace"),
            argv=read_argv(state / "argv"),
            workload_pid=int((state / "pid").read_text()) if (state / "pid").exists() else None,
            env=read_env(state / "env"),
            stdin=(state / "stdin").read_bytes() if (state / "stdin").exists() else None,
            log=[parse_log_line(line) for line in new_lines],
        )

    def start(
        self, args: list[str], *, mode: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen, Path]:
        """Start a job whose workload keeps its slot (``mode`` wait-stdin, sleep, record-signal or fork-child).

        Returns the process and its state directory once the workload has started and,
        in supervise mode, where the router logs its decision after starting the
        workload, once the decision line is written.
        """
        state = self.new_state_dir()
        log_before = len(self.log_lines())
        process = subprocess.Popen(
            [str(self.binary), *args],
            env=self.environment(state, {**(env or {}), "FAKE_WORKLOAD_MODE": mode}),
            cwd=self.root,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(process)
        wait_for(lambda: (state / "done").exists() or process.poll() is not None)
        assert (state / "done").exists(), (
            f"workload did not start: exit {process.poll()}, stderr {process.stderr.read()!r}"
        )
        if self.settings.router_mode == "supervise":
            wait_for(lambda: len(self.log_lines()) > log_before)
        return process, state

    def stop_all(self) -> None:
        """Kill every job this host started that is still running."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            if process.stdin:
                process.stdin.close()
            if process.stderr:
                process.stderr.close()


def read_argv(path: Path) -> list[str] | None:
    if not path.exists():
        return None
    return [word.decode() for word in path.read_bytes().split(b"\0")[:-1]]


def read_env(path: Path) -> dict[str, str] | None:
    if not path.exists():
        return None
    pairs = [item.decode().split("=", 1) for item in path.read_bytes().split(b"\0")[:-1]]
    return {name: value for name, value in pairs}


def wait_for(condition, timeout: float = 10.0) -> None:
    """Poll ``condition`` every 10 ms until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def wait_until_gone(pid: int, timeout: float = 10.0) -> None:
    """Wait until process ``pid`` has exited (a zombie counts, since its descriptors are closed)."""

    def gone() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        return state in ("Z", "X")

    wait_for(gone, timeout)
    assert gone(), f"process {pid} still runs"


def kill_pid(pid: int) -> None:
    """Kill process ``pid``, started by a test, and wait until it has exited."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_until_gone(pid)


def base_values(root: Path) -> dict[str, object]:
    """Return inventory values for a router under ``root``, threshold 10 seconds."""
    return {
        "workload_binary": str(root / "bin" / "work"),
        "threshold_value": THRESHOLD_SECONDS,
        "gpu_args": list(GPU_ARGS),
        "cpu_args": list(CPU_ARGS),
        "workload_vram_mb": 3700,
        "workload_ram_mb": 11000,
        "router_log": str(root / "log" / "router.log"),
        "lock_dir": str(root / "locks"),
    }


def build_settings(values: dict[str, object]) -> HostSettings:
    """Build settings from inventory values."""
    return HostSettings.from_values(values)


def install_router(root: Path, overrides: dict[str, object] | None = None) -> RouterHost:
    """Render the router for ``base_values(root)`` plus ``overrides`` and install it under ``root``.

    The router goes to ``root/router``, ``bin/work`` is a symlink to it and
    ``bin/work-real`` is the fake workload; the log and lock directories exist.
    """
    values = {**base_values(root), **(overrides or {})}
    settings = build_settings(values)
    text = render_router(settings, host=HOST, version=VERSION)
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    router = root / "router"
    router.write_text(text)
    router.chmod(0o755)
    real = Path(settings.real_binary)
    real.write_text(FAKE_WORKLOAD)
    real.chmod(0o755)
    Path(settings.workload_binary).symlink_to(router)
    Path(settings.router_log).parent.mkdir(parents=True, exist_ok=True)
    Path(settings.lock_dir).mkdir(parents=True, exist_ok=True)
    return RouterHost(root=root, settings=settings, router_text=text)


@pytest.fixture
def make_router(tmp_path: Path):
    """Return a function that installs a router with the given overrides; stops its jobs after."""
    hosts: list[RouterHost] = []

    def make(**overrides: object) -> RouterHost:
        root = tmp_path / f"host{len(hosts)}"
        host = install_router(root, overrides)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.stop_all()


@pytest.fixture
def router(make_router) -> RouterHost:
    """A router with the default settings: duration probe, threshold 10 s, one slot per path."""
    return make_router()


@dataclass(frozen=True)
class Media:
    """Media files made with ffmpeg, shared by the whole session."""

    short: Path  # 5 s of audio
    long: Path  # 20 s of audio
    video: Path  # 1 s of 320x240 video
    live_webm: Path  # WebM streamed to a pipe: no container or stream duration
    junk: Path  # random bytes
    empty: Path  # zero bytes


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """Make the session's media files with the real ffmpeg."""
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        pytest.fail("the router tests need ffmpeg and ffprobe on PATH")
    folder = tmp_path_factory.mktemp("media")
    files = Media(
        short=folder / "short.wav",
        long=folder / "long.wav",
        video=folder / "video.mp4",
        live_webm=folder / "live.webm",
        junk=folder / "junk.bin",
        empty=folder / "empty.mp4",
    )
    ffmpeg("-f", "lavfi", "-i", f"sine=duration={SHORT_SECONDS}", "-ar", "8000", str(files.short))
    ffmpeg("-f", "lavfi", "-i", f"sine=duration={LONG_SECONDS}", "-ar", "8000", str(files.long))
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc=size={VIDEO_WIDTH}x{VIDEO_HEIGHT}:rate=5:duration=1",
        "-c:v", "mpeg4", str(files.video),
    )
    with files.live_webm.open("wb") as out:
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=duration=3",
             "-c:a", "libopus", "-f", "webm", "-"],
            stdout=out, check=True, timeout=60,
        )
    files.junk.write_bytes(bytes(range(256)) * 8)
    files.empty.write_bytes(b"")
    return files


@pytest.fixture
def fake_probe(tmp_path: Path) -> Path:
    """Install the fake ffprobe (see FAKE_PROBE) and return its path."""
    path = tmp_path / "fake-ffprobe"
    path.write_text(FAKE_PROBE)
    path.chmod(0o755)
    return path


# Unprivileged runs --------------------------------------------------------------

NOBODY = 65534


@pytest.fixture
def shared_root():
    """Return a directory that user ``nobody`` can enter, under /tmp; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="fleetroute-router-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    for path in root.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(root)


def unprivileged_prefix() -> list[str]:
    """Return the command prefix that runs a command as user ``nobody``, or none when not root."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot drop privileges")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]


def unprivileged_router(root: Path, media):
    """Install a router under ``root`` for user ``nobody``, with a copy of the short audio."""
    router = install_router(root)
    for path in [root, *root.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    router.log_path.parent.chmod(0o777)
    shutil.copy(media.short, root / "short.wav")
    (root / "short.wav").chmod(0o644)
    (root / "state").mkdir(mode=0o777)
    (root / "state").chmod(0o777)
    return router
