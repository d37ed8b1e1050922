"""How long a feature lives: its TTL, the expiry `extend` moves and the pin `keep` sets.

Both live as stack tags: the file and S3 backends keep a stack's tags beside its
state (`<stack>.pulumi-tags`), so every runner sees what another recorded, and
they go when the stack is removed. Stack config would not do: it lives in each
workspace's `Pulumi.<stack>.yaml`, which CI throws away.

A feature expires its TTL after the last update that succeeded; activity (`extend`,
`wake`) records a later expiry in `phoenix:expires`, which only ever moves it later.
Everything here is pure except `utcnow`, the one clock (tests freeze it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping, Optional

from automation.errors import InputError

_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}



def parse_duration(text: str) -> timedelta:
    """`72h`, `30m`, `7d`, `1h30m`, `0s` -> timedelta; ValueError names the bad text."""
    cleaned = (text or "").strip().lower()
    if not cleaned or _DURATION_PART.sub("", cleaned):
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit s, m, h, d or w, e.g. 72h or 1h30m"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(cleaned))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


#: The expiry activity recorded (ISO 8601, UTC); the later of it and last update + TTL holds.
EXPIRES_TAG = "phoenix:expires"
#: "true": the feature is pinned; reap never takes it, whatever its expiry.
PINNED_TAG = "phoenix:pinned"
#: The TTL's upper bound when defaults.yaml names none (feature.maxTtl).
FALLBACK_MAX_TTL = "14d"


def utcnow() -> datetime:
    """The one clock `extend`, `keep`, `list` and `reap` read."""
    return datetime.now(timezone.utc)


def format_moment(moment: datetime) -> str:
    """How a tag records a moment: UTC, to the second, `Z` (Pulumi tag values are plain text)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_moment(text: object) -> Optional[datetime]:
    """A recorded moment, or None when the tag is absent or not one (a hand edit is ignored, not fatal)."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Lifetime:
    """What one stack records about its life, and the expiry that follows."""

    last_update: Optional[datetime]
    ttl: timedelta
    extended_until: Optional[datetime] = None
    pinned: bool = False

    @property
    def expires(self) -> Optional[datetime]:
        """The later of last update + TTL and the recorded expiry; None if neither is known."""
        candidates = [moment for moment in (
            self.last_update + self.ttl if self.last_update is not None else None,
            self.extended_until,
        ) if moment is not None]
        return max(candidates) if candidates else None

    def expiring(self, now: datetime, within: timedelta) -> bool:
        """Whether reap may take it within `within` from now (expired ones included; pinned never)."""
        expires = self.expires
        return not self.pinned and expires is not None and expires <= now + within


def lifetime_of(
    tags: Mapping[str, str], *, last_update: Optional[datetime], ttl: timedelta
) -> Lifetime:
    return Lifetime(
        last_update=last_update,
        ttl=ttl,
        extended_until=parse_moment(tags.get(EXPIRES_TAG)),
        pinned=str(tags.get(PINNED_TAG, "")).strip().lower() == "true",
    )


def parse_bound(text: str, what: str) -> timedelta:
    """A positive duration from defaults.yaml or the command line; InputError names `what`."""
    try:
        duration = parse_duration(text)
    except ValueError as error:
        raise InputError(f"{what}: {error}") from None
    if duration <= timedelta(0):
        raise InputError(f"{what}: {text!r} must be longer than 0s")
    return duration


def extended(lifetime: Lifetime, *, now: datetime, duration: timedelta, max_ttl: timedelta) -> datetime:
    """The expiry after `extend DURATION`: activity now, so at least the TTL from now,
    DURATION from now when longer, never earlier than it was. DURATION beyond the
    max TTL is refused (exit 2), not cut short: the person asked for more than allowed."""
    if duration > max_ttl:
        raise InputError(
            f"DURATION {format_duration(duration)} is longer than feature.maxTtl {format_duration(max_ttl)}: "
            "ask for less, or raise feature.maxTtl in defaults.yaml"
        )
    return _later(lifetime, now + max(duration, min(lifetime.ttl, max_ttl)))


def after_activity(lifetime: Lifetime, *, now: datetime, max_ttl: timedelta) -> datetime:
    """The expiry after activity (`wake`): the TTL counts from now, bounded by the max TTL."""
    return _later(lifetime, now + min(lifetime.ttl, max_ttl))


def _later(lifetime: Lifetime, candidate: datetime) -> datetime:
    current = lifetime.expires
    return candidate if current is None or candidate > current else current
