"""What a feature has cost so far: its estimate per day, recorded in the stack config by each update.

Each update records {"perDay", "since", "accrued"}: the estimate it deployed,
when, and what the estimates before it accrued until then. `list` adds the
current estimate's share since the last update, so a feature that slept for a
day accrued that day at its sleeping estimate.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Optional

#: The stack-config key each update writes (the program never reads it).
COST_KEY = "phoenix:cost"
SECONDS_PER_DAY = 86400


def _since(text: Any) -> Optional[datetime]:
    """The moment `next_record` wrote (ISO 8601 with its UTC offset); anything else is unusable."""
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo else None


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def accumulated(recorded: Any, now: datetime) -> Optional[float]:
    """USD accrued from the first update until `now`; None when nothing usable was recorded."""
    if not isinstance(recorded, Mapping):
        return None
    per_day, since = _number(recorded.get("perDay")), _since(recorded.get("since"))
    if per_day is None or since is None:
        return None
    accrued = _number(recorded.get("accrued")) or 0.0
    elapsed = max(0.0, (now - since).total_seconds())
    return accrued + per_day * elapsed / SECONDS_PER_DAY


def per_day(recorded: Any) -> Optional[float]:
    return _number(recorded.get("perDay")) if isinstance(recorded, Mapping) else None


def next_record(previous: Any, per_day_now: float, now: datetime) -> dict[str, Any]:
    """What this update records: its estimate from now on, and everything accrued before it."""
    accrued = accumulated(previous, now) or 0.0
    return {
        "perDay": round(per_day_now, 4),
        "since": now.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "accrued": round(accrued, 4),
    }
