"""logstats.sh and logstats.awk run locally with bash: file discovery, decompression, and
agreement with the Python parser on the same lines (awk path and streamed path)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fleetroute.logs.parse import ZoneTable
from fleetroute.logs.stats import LogStats
from fleetroute.operations.logstats import HostLogs, LogStatsOptions, parse_logstats_output, script_arguments
from fleetroute.remote import remote_script
from tests.logstats_lines import GARBAGE, START_EPOCH, LineGenerator, Mix, write_log_set

STATS_FIELDS = (
    "lines",
    "parsed",
    "unparsed",
    "filtered",
    "untimed",
    "unparsed_examples",
    "counts",
    "unknown_metric",
    "zero_metric",
    "gpu_full",
    "samples",
    "days",
    "first",
    "last",
    "exits",
    "guessed_zones",
)


def run_host_script(log: Path, *, path_prefix: Path | None = None, since=None, until=None) -> tuple[HostLogs, str]:
    """Run logstats.sh on this machine as SSH would run it on a host; return the parsed output and stdout."""
    env = dict(os.environ)
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    options = LogStatsOptions(connect=None, since=since, until=until)
    done = subprocess.run(
        ["bash", "-c", remote_script("logstats.sh"), "fleetroute-logstats", *script_arguments(str(log), "", options)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return parse_logstats_output("local", done.stdout, options), done.stdout


def python_stats(paths: list[Path], since=None, until=None) -> LogStats:
    """Count the files' lines with the Python parser, reading them in the host script's order.

    The script reads LOG first, then its rotated copies sorted by name; ``paths``
    comes oldest first from ``write_log_set``, so LOG is its last entry.
    """
    stats = LogStats()
    for path in [paths[-1], *sorted(paths[:-1])]:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        elif path.suffix == ".bz2":
            data = bz2.decompress(data)
        elif path.suffix == ".xz":
            data = lzma.decompress(data)
        lines = data.decode("utf-8", errors="replace").split("\n")
        if lines[-1] == "":
            lines.pop()
        for line in lines:
            stats.add_line(line, ZoneTable(), since, until)
    return stats


def assert_same_stats(left: LogStats, right: LogStats) -> None:
    for name in STATS_FIELDS:
        assert getattr(left, name) == getattr(right, name), name
    assert left.histograms.keys() == right.histograms.keys()
    for key, histogram in left.histograms.items():
        assert histogram == right.histograms[key], key


@pytest.fixture
def no_awk(tmp_path) -> Path:
    """Return a folder whose awk fails as a missing awk would, to put first on PATH."""
    folder = tmp_path / "no-awk"
    folder.mkdir()
    fake = folder / "awk"
    fake.write_text("#!/bin/sh\necho 'awk: command not found' >&2\nexit 127\n")
    fake.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def rotated_logs(tmp_path_factory) -> tuple[Path, list[Path]]:
    """Write 30,000 lines of every kind into LOG, LOG.1 and LOG.2.gz."""
    log = tmp_path_factory.mktemp("logs") / "router.log"
    generator = LineGenerator("h1", Mix(oom=0.05, garbage=0.02), seed=7)
    paths = write_log_set(log, generator, [10000, 10000, 10000])
    return log, paths


def test_awk_matches_python_parser(rotated_logs):
    log, paths = rotated_logs

    logs, _ = run_host_script(log)

    assert logs.method == "awk"
    assert_same_stats(logs.stats, python_stats(paths))


def test_stream_matches_python_parser(rotated_logs, no_awk):
    log, paths = rotated_logs

    logs, _ = run_host_script(log, path_prefix=no_awk)

    assert logs.method == "stream"
    assert_same_stats(logs.stats, python_stats(paths))


@pytest.mark.parametrize(("since_h", "until_h"), [(24, None), (None, 48), (24, 48)])
def test_time_range_matches_python_parser(rotated_logs, since_h, until_h):
    log, paths = rotated_logs
    since = START_EPOCH + since_h * 3600 if since_h else None
    until = START_EPOCH + until_h * 3600 if until_h else None

    logs, _ = run_host_script(log, since=since, until=until)

    expected = python_stats(paths, since, until)
    assert expected.filtered > 0
    assert_same_stats(logs.stats, expected)


def test_lines_per_file(rotated_logs):
    log, _ = rotated_logs

    logs, _ = run_host_script(log)

    assert [(Path(file.path).name, file.state, file.lines) for file in logs.files] == [
        ("router.log", "plain", 10000),
        ("router.log.1", "plain", 10000),
        ("router.log.2.gz", "gzip", 10000),
    ]


def test_output_is_small(rotated_logs):
    log, paths = rotated_logs

    _, stdout = run_host_script(log)

    assert len(stdout.encode()) < 40_000
    assert sum(path.stat().st_size for path in paths) > 2_000_000


def test_rotated_names(tmp_path):
    log = tmp_path / "router.log"
    line = "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU metric=1 args: x\n"
    included = ["router.log", "router.log.1", "router.log.12.gz", "router.log-20260217", "router.log-20260218.gz"]
    excluded = ["router.log.bak", "router.log.1.tmp", "router.logx", "router.log-old", "other.log.1"]
    for name in included + excluded:
        (tmp_path / name).write_bytes(gzip.compress(line.encode()) if name.endswith(".gz") else line.encode())

    logs, _ = run_host_script(log)

    assert sorted(Path(file.path).name for file in logs.files) == sorted(included)
    assert logs.stats.counts["GPU"] == len(included)


@pytest.mark.parametrize("suffix", [".bz2", ".xz", ".zst"])
def test_other_compressions(tmp_path, suffix):
    tool = {".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}[suffix]
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    log = tmp_path / "router.log"
    plain = tmp_path / "router.log.1"
    plain.write_text("[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=CPU metric=5000 args: x\n" * 3)
    subprocess.run([tool, "-q", str(plain)], check=True)
    plain.unlink(missing_ok=True)  # zstd keeps its input

    logs, _ = run_host_script(log)

    assert logs.stats.counts["CPU"] == 3
    assert [file.state for file in logs.files] == ["missing", tool]


def test_missing_log(tmp_path):
    logs, _ = run_host_script(tmp_path / "absent" / "router.log")

    assert logs.log_state == "missing"
    assert logs.problems() == []
    assert logs.stats.lines == 0


def test_empty_log(tmp_path):
    (tmp_path / "router.log").write_bytes(b"")

    logs, _ = run_host_script(tmp_path / "router.log")

    assert logs.log_state == "empty"
    assert logs.problems() == []


def test_corrupt_gzip_is_a_problem(tmp_path):
    (tmp_path / "router.log").write_text("[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU metric=1 args: x\n")
    data = gzip.compress(b"[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU metric=2 args: y\n" * 1000)
    (tmp_path / "router.log.2.gz").write_bytes(data[: len(data) // 2])

    logs, _ = run_host_script(tmp_path / "router.log")

    assert logs.files[1].read_error is not None
    assert "router.log.2.gz" in logs.problems()[0]
    assert logs.stats.counts["GPU"] >= 1


def test_log_path_is_a_directory(tmp_path):
    (tmp_path / "router.log").mkdir()

    logs, _ = run_host_script(tmp_path / "router.log")

    assert logs.files[0].state == "not-a-file"
    assert "not a regular file" in logs.problems()[0]


@pytest.mark.parametrize("awk_works", [True, False])
def test_lines_without_final_newline_stay_apart(tmp_path, no_awk, awk_works):
    (tmp_path / "router.log").write_text("[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU metric=1 args: x")
    (tmp_path / "router.log.1").write_text("[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=CPU metric=4000 args: y")

    logs, _ = run_host_script(tmp_path / "router.log", path_prefix=None if awk_works else no_awk)

    assert logs.stats.counts == {"GPU": 1, "CPU": 1}
    assert [file.lines for file in logs.files] == [1, 1]


def test_stream_keeps_lines_that_look_like_markers(tmp_path, no_awk):
    (tmp_path / "router.log").write_text("@@fleetroute:end@@\n@@fleetroute:stats@@\ntotal\tlines\t99\n")

    logs, _ = run_host_script(tmp_path / "router.log", path_prefix=no_awk)

    assert logs.stats.lines == 3
    assert logs.stats.unparsed == 3


def test_shellcheck_finds_nothing():
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck is not on PATH")
    script = Path(__file__).resolve().parents[2] / "templates" / "remote" / "logstats.sh"

    result = subprocess.run(
        ["shellcheck", "--shell=bash", "--enable=all", "--exclude=SC2310", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout == ""
    assert result.returncode == 0


TRICKY_LINES = [
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU metric=12 time=2026-02-17T03:12:44Z host=a "
    "unit=x\\ time=2020-01-01T00:00:00Z threshold=10 slot=0 pid=1 reason=- input=y args: y",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=CPU metric=12 time=2026-02-17T03:12:44Z host=a\\ exit=9 "
    "unit=s threshold=10 slot=0 pid=1 reason=probe-exit-1,gpu-full input=y args: y",
    "[ROUTER] - mode=GPU-EXIT metric=3000 time=2026-02-17T03:12:44Z reason=- exit=137 elapsed=1.5 "
    "peak_rss_kb=- input=a\\ exit=0 args: exit=0",
    "[ROUTER] - mode=CPU-EXIT metric=unknown time=- reason=- exit=abc elapsed=N/A input=x",
    "[ROUTER] Tue Feb  3 03:12:44 CEST 2026 mode=CPU-BLOCKED metric=9120 (slot full, exiting)\r",
    "[ROUTER]\tTue Feb 17 03:12:44 +0530 2026\tmode=GPU metric=.5 args: tabs",
    "[ROUTER] Tue Feb 17 03:12:44 XYZT 2026 mode=GPU metric=0 args: guessed zone",
    "   [ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU-DRYRUN metric=5.000000 args: leading blanks",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=FUTURE-MODE metric=1 args: unknown mode",
    "[ROUTER] Tue Feb 17 03:12:44 UTC 2026 mode=GPU metric=99999999999999999999 args: too large",
    "caf\u00e9 \u2028 line separator is not a newline",
    *GARBAGE,
]


@pytest.mark.parametrize("awk_works", [True, False])
def test_tricky_lines_match_python_parser(tmp_path, no_awk, awk_works):
    log = tmp_path / "router.log"
    log.write_text("\n".join(TRICKY_LINES) + "\n", encoding="utf-8")

    logs, _ = run_host_script(log, path_prefix=None if awk_works else no_awk)

    expected = python_stats([log])
    assert_same_stats(logs.stats, expected)
    assert expected.lines == len(TRICKY_LINES)
    assert expected.gpu_full == {"CPU": 1}
    assert expected.exits == {"GPU": {"137": 1}, "CPU": {"?": 1}}
    assert expected.guessed_zones == {"XYZT": 1}
