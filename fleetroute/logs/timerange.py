"""Parse the times of ``--since`` and ``--until``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RELATIVE = re.compile(r"^([0-9]+)\s*([smhdw])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, now: datetime | None = None) -> int:
    """Return the epoch seconds of a --since or --until value.

    Accepted: a duration before now (``90s``, ``30m``, ``24h``, ``7d``, ``2w``);
    ``now``, ``today`` and ``yesterday`` (local midnight); an ISO 8601 date or date
    and time (``2026-02-17``, ``2026-02-17T03:00``, ``2026-02-17 03:00:00Z``,
    ``...+01:00``). A time without a UTC offset is local time. Raises ``ValueError``
    naming the accepted forms for anything else.
    """
    now = now or datetime.now(timezone.utc)
    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative:
        return int((now - timedelta(seconds=int(relative.group(1)) * UNIT_SECONDS[relative.group(2)])).timestamp())
    keyword = value.lower()
    if keyword == "now":
        return int(now.timestamp())
    if keyword in ("today", "yesterday"):
        midnight = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        return int((midnight - timedelta(days=1 if keyword == "yesterday" else 0)).timestamp())
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: use a duration before now (30m, 24h, 7d, 2w), now, today, yesterday, "
            f"or an ISO 8601 date or time such as 2026-02-17 or 2026-02-17T03:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp())
