"""Parse one router log line, in the format the router template's header documents."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_LINE = re.compile(
    r"^\[ROUTER\] .*? mode=(?P<mode>\S+) metric=(?P<metric>\S+) time=(?P<time>\S+) host=(?P<host>.*?)"
    r" unit=(?P<unit>.*?) threshold=(?P<threshold>\S+) slot=(?P<slot>\S+) pid=(?P<pid>\d+)"
    r" reason=(?P<reason>\S+) input=(?P<input>.*?) args:(?P<args>.*)$"
)


@dataclass(frozen=True)
class RouterLogLine:
    """The fields of one router log line, as text.

    ``host``, ``unit`` and ``input`` stay quoted as bash's ``printf %q`` wrote them,
    and ``args`` is the text after ``args:``, each argument after a space.
    """

    mode: str
    metric: str
    time: str
    host: str
    unit: str
    threshold: str
    slot: str
    pid: int
    reason: str
    input: str
    args: str

    @property
    def reasons(self) -> list[str]:
        """Return the reason tokens, or an empty list for ``-``."""
        return [] if self.reason == "-" else self.reason.split(",")

    def to_dict(self) -> dict:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


def parse_log_line(line: str) -> RouterLogLine | None:
    """Parse a router log line; return None when ``line`` is not one."""
    match = _LINE.match(line.rstrip("\n"))
    if match is None:
        return None
    fields = match.groupdict()
    return RouterLogLine(**{**fields, "pid": int(fields["pid"])})
