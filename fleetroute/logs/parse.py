"""Parse one router log line, in the runbook's format or in fleetroute's own.

Both formats start ``[ROUTER] <date> mode=<MODE> metric=<value>``:

- the runbook's hand-written router: ``<date>`` is ``$(date)`` in the C locale
  (``Tue Feb 17 03:12:44 UTC 2026``), followed by ``args: ...`` or
  ``(slot full, exiting)``;
- fleetroute's router (``templates/router.sh.j2``): the same date, then
  ``key=value`` fields, among them ``time=`` in ISO 8601 UTC, which wins over the
  date. Its date is ``-`` when date(1) failed; such a line has no time unless
  ``time=`` has one.

Supervise outcome lines, which the router writes after the workload exits, have a
mode ending in ``-EXIT`` and carry ``exit=<code>``, ``elapsed=<seconds>`` and
``peak_rss_kb=<KiB|->``. ``reason=`` lists, separated by commas, why a job went
where it did; ``gpu-full`` marks a GPU job that took a CPU slot. Only ``key=value`` fields before ``input=`` or ``args:`` are
read, because the input and arguments are free text.

``templates/remote/logstats.awk`` implements the same grammar for the host side;
change both together. Fields are separated by runs of spaces and tabs, as awk's
default field splitting does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

ROUTER_TAG = "[ROUTER]"
OUTCOME_SUFFIX = "-EXIT"
DRY_RUN_SUFFIX = "-DRYRUN"
GPU, CPU, GPU_BLOCKED, CPU_BLOCKED = "GPU", "CPU", "GPU-BLOCKED", "CPU-BLOCKED"
DECISION_MODES = (GPU, CPU, GPU_BLOCKED, CPU_BLOCKED)
JOB_MODES = (GPU, CPU)
ERROR_MODES = ("GPU-CONFIG-ERROR", "CPU-CONFIG-ERROR", "UNKNOWN-FAILED")

# A mode is upper-case words joined by "-"; longer or other tokens make the line unparsed.
MAX_MODE_LENGTH = 40
# The mode= field is searched for among the first this many fields: the tag, up to six
# date fields and the mode itself.
MODE_FIELD_SEARCH = 8
# Metrics are non-negative decimals as the probe printed them. Longer texts and values
# from MAX_METRIC up count as unknown, so that a runaway number cannot become inf.
MAX_NUMBER_LENGTH = 30
MAX_METRIC = 1e18

_FIELD_SEPARATOR = re.compile(r"[ \t]+")
_MODE = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
_NUMBER = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_ISO_TIME = re.compile(r"^([0-9]{4})-([0-9][0-9])-([0-9][0-9])T([0-9][0-9]):([0-9][0-9]):([0-9][0-9])Z$")
_CLOCK = re.compile(r"^([0-9][0-9]):([0-9][0-9]):([0-9][0-9])$")
_DAY = re.compile(r"^[0-9][0-9]?$")
_YEAR = re.compile(r"^[0-9]{4}$")
_NUMERIC_ZONE = re.compile(r"^[+-][0-9][0-9]([0-9][0-9])?$")

MONTHS = {name: number for number, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
WEEKDAYS = frozenset("Mon Tue Wed Thu Fri Sat Sun".split())

# UTC offsets in seconds of common time zone abbreviations that date(1) prints.
# Abbreviations that name several zones (CST, IST, ...) are left out. The
# host's own current abbreviation is added at run time. Any other abbreviation is read
# with the host's current offset and counted as a guess.
ZONE_OFFSETS: dict[str, int] = {
    "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "WET": 0,
    "WEST": 3600, "BST": 3600, "CET": 3600, "MET": 3600,
    "CEST": 7200, "MEST": 7200, "EET": 7200, "SAST": 7200,
    "EEST": 10800, "MSK": 10800,
    "PKT": 18000, "WIB": 25200, "HKT": 28800, "AWST": 28800,
    "JST": 32400, "KST": 32400, "ACST": 34200, "AEST": 36000, "ACDT": 37800, "AEDT": 39600,
    "NZST": 43200, "NZDT": 46800,
    "NDT": -9000, "NST": -12600, "ADT": -10800, "AST": -14400,
    "EDT": -14400, "EST": -18000, "CDT": -18000, "MDT": -21600, "MST": -25200,
    "PDT": -25200, "PST": -28800, "AKDT": -28800, "AKST": -32400, "HST": -36000,
}  # fmt: skip


@dataclass(frozen=True)
class ZoneTable:
    """Time zone abbreviations of one host: the fixed table plus the host's current zone.

    ``host_zone`` and ``host_offset_s`` come from ``date '+%Z %z'`` on the host.
    """

    host_zone: str = "UTC"
    host_offset_s: int = 0

    def offset(self, abbreviation: str) -> tuple[int, bool]:
        """Return (UTC offset in seconds, whether it is a guess) for a zone abbreviation.

        A numeric abbreviation (``+03``, ``-0530``) is read as written. An unknown one
        gets the host's current offset, and the second value is True.
        """
        if abbreviation == self.host_zone:
            return self.host_offset_s, False
        if abbreviation in ZONE_OFFSETS:
            return ZONE_OFFSETS[abbreviation], False
        if _NUMERIC_ZONE.match(abbreviation):
            return parse_utc_offset(abbreviation), False
        return self.host_offset_s, True

    def awk_table(self) -> str:
        """Return the table as ``ABBR=SECONDS,...`` for logstats.awk's ``zones`` variable."""
        return ",".join(f"{name}={offset}" for name, offset in ZONE_OFFSETS.items())


@dataclass(frozen=True)
class LogEntry:
    """One parsed line. ``metric``, ``exit_code`` and ``elapsed`` are the texts as logged.

    ``epoch`` is None for a line without a time. ``guessed_zone`` names the zone
    abbreviation read with the host's offset as a guess, when there was one.
    ``exit_code``, ``elapsed`` and ``peak_rss_kb`` are empty unless an outcome line
    has them, and ``reason`` is empty unless the line has one.
    """

    mode: str
    metric: str
    epoch: int | None
    exit_code: str = ""
    elapsed: str = ""
    peak_rss_kb: str = ""
    reason: str = ""
    guessed_zone: str | None = None


def parse_utc_offset(text: str) -> int:
    """Return the seconds of a ``+HH``, ``+HHMM`` or ``-HHMM`` UTC offset; 0 for any other text."""
    if not _NUMERIC_ZONE.match(text):
        return 0
    sign = -1 if text[0] == "-" else 1
    hours = int(text[1:3])
    minutes = int(text[3:5]) if len(text) == 5 else 0
    return sign * (hours * 3600 + minutes * 60)


def parse_number(text: str) -> float | None:
    """Return a metric or elapsed time as a float, or None when it is not a usable number."""
    if len(text) > MAX_NUMBER_LENGTH or not _NUMBER.match(text):
        return None
    value = float(text)
    return value if value < MAX_METRIC else None


def split_fields(line: str) -> list[str]:
    """Split a line on runs of spaces and tabs, as awk's default field splitting does."""
    stripped = line.strip(" \t")
    return _FIELD_SEPARATOR.split(stripped) if stripped else []


def parse_line(line: str, zones: ZoneTable) -> LogEntry | None:
    """Parse one log line (without its newline or final CR); return None when it is in neither format."""
    fields = split_fields(line)
    if not fields or fields[0] != ROUTER_TAG:
        return None
    mode_at = _find_mode_field(fields)
    if mode_at is None or mode_at == len(fields) - 1:
        return None
    mode = fields[mode_at][len("mode=") :]
    if len(mode) > MAX_MODE_LENGTH or not _MODE.match(mode):
        return None
    if not fields[mode_at + 1].startswith("metric="):
        return None
    metric = fields[mode_at + 1][len("metric=") :]

    keys = _leading_keys(fields[mode_at + 2 :])
    epoch = iso_epoch(keys.get("time", ""))
    guessed = None
    if epoch is None:
        date_fields = fields[1:mode_at]
        if date_fields != ["-"]:
            parsed = human_epoch(date_fields, zones)
            if parsed is None:
                return None
            epoch, guessed = parsed
    return LogEntry(
        mode,
        metric,
        epoch,
        exit_code=keys.get("exit", ""),
        elapsed=keys.get("elapsed", ""),
        peak_rss_kb=keys.get("peak_rss_kb", ""),
        reason=keys.get("reason", ""),
        guessed_zone=guessed,
    )


def _find_mode_field(fields: list[str]) -> int | None:
    for index in range(1, min(len(fields), MODE_FIELD_SEARCH)):
        if fields[index].startswith("mode="):
            return index
    return None


def _leading_keys(fields: list[str]) -> dict[str, str]:
    """Return the time, exit, elapsed, peak_rss_kb and reason values among the fields before input= or args:.

    The first time= wins, because a later one is part of a quoted host or unit. For the
    other keys, which come last in fleetroute's lines, the last one wins.
    """
    keys: dict[str, str] = {}
    for field in fields:
        if field == "args:" or field.startswith("input="):
            break
        key, found, value = field.partition("=")
        if not found:
            continue
        if key == "time":
            keys.setdefault(key, value)
        elif key in ("exit", "elapsed", "peak_rss_kb", "reason"):
            keys[key] = value
    return keys


def days_from_civil(year: int, month: int, day: int) -> int:
    """Return the days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).

    logstats.awk uses the same arithmetic, because POSIX awk has no mktime.
    """
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _valid_time(year: int, month: int, day: int, hour: int, minute: int, second: int) -> bool:
    # Seconds up to 60 allow a leap second; days up to 31 in any month, as awk checks.
    return 1970 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60


def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second


def iso_epoch(text: str) -> int | None:
    """Return the epoch seconds of a ``YYYY-MM-DDTHH:MM:SSZ`` time, or None."""
    match = _ISO_TIME.match(text)
    if not match:
        return None
    parts = [int(group) for group in match.groups()]
    return _epoch(*parts) if _valid_time(*parts) else None


def human_epoch(fields: list[str], zones: ZoneTable) -> tuple[int, str | None] | None:
    """Return (epoch seconds, guessed zone or None) of date(1)'s C-locale output, split in fields.

    The expected fields are weekday, month, day, HH:MM:SS, zone and year. Returns None
    when they do not have that shape.
    """
    if len(fields) != 6:
        return None
    weekday, month_name, day_text, clock_text, zone, year_text = fields
    clock = _CLOCK.match(clock_text)
    if weekday not in WEEKDAYS or month_name not in MONTHS or not clock:
        return None
    if not _DAY.match(day_text) or not _YEAR.match(year_text):
        return None
    parts = [int(year_text), MONTHS[month_name], int(day_text), *(int(group) for group in clock.groups())]
    if not _valid_time(*parts):
        return None
    offset, guessed = zones.offset(zone)
    return _epoch(*parts) - offset, zone if guessed else None


def bucket_index(value: float, ratio: float) -> int | None:
    """Return the log-spaced bucket of a metric: floor(log(value) / log(ratio)), None for 0.

    Bucket i covers [ratio**i, ratio**(i+1)). logstats.awk computes the same index.
    """
    if value <= 0:
        return None
    return math.floor(math.log(value) / math.log(ratio))
