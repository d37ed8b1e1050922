"""Awake hours (`feature.awakeHours`, e.g. `Mon-Fri 07:00-19:00 Europe/London`): when a feature runs.

Pure: the spec, the two Auto Scaling recurrences it becomes (one scheduled
action scales the group up at the start, one to zero at the end, in the spec's
time zone, so AWS follows daylight saving), the share of a week it is awake and
its next transition. Outside its awake hours a feature keeps everything but its
instances.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Optional

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Cron's day numbers (Sunday 0), as Auto Scaling's recurrences read them.
_CRON_DAY = {day: (index + 1) % 7 for index, day in enumerate(DAYS)}
_SPEC = re.compile(r"^(?P<days>\S+)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})\s+(?P<zone>\S+)$")
EXAMPLE = "Mon-Fri 07:00-19:00 Europe/London"
HOURS_PER_WEEK = 168


class AwakeHoursError(ValueError):
    """An awake-hours spec phoenix cannot turn into scheduled actions; the message says why."""


@dataclass(frozen=True, kw_only=True)
class AwakeHours:
    days: tuple[int, ...]
    """Indexes into DAYS (Monday 0), in order."""
    start: time
    end: time
    zone: str
    """An IANA time zone: the recurrences run in it."""

    @property
    def cron_days(self) -> str:
        return ",".join(str(_CRON_DAY[DAYS[day]]) for day in self.days)

    @property
    def wake_recurrence(self) -> str:
        return f"{self.start.minute} {self.start.hour} * * {self.cron_days}"

    @property
    def sleep_recurrence(self) -> str:
        return f"{self.end.minute} {self.end.hour} * * {self.cron_days}"

    def weekly_share(self) -> float:
        """The share of a week the feature is awake."""
        minutes = (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)
        return len(self.days) * minutes / (HOURS_PER_WEEK * 60)

    def awake_at(self, moment: datetime) -> bool:
        local = moment.astimezone(_zone(self.zone))
        return local.weekday() in self.days and self.start <= local.time().replace(tzinfo=None) < self.end

    def next_transition(self, now: datetime) -> tuple[str, datetime]:
        """("sleeps" or "wakes", when), the first change of state after `now`."""
        zone = _zone(self.zone)
        local = now.astimezone(zone)
        awake = self.awake_at(now)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() not in self.days:
                continue
            moment = datetime.combine(day, self.end if awake else self.start, tzinfo=zone)
            if moment > local:
                return ("sleeps" if awake else "wakes", moment)
        raise AssertionError("a week always holds a transition")  # pragma: no cover - days is never empty


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _days(text: str) -> tuple[int, ...]:
    chosen: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        for name in (first, last) if dash else (first,):
            if name not in DAYS:
                raise AwakeHoursError(f"{name!r} is not a day; use {', '.join(DAYS)} (e.g. Mon-Fri or Mon,Wed,Fri)")
        if not dash:
            chosen.add(DAYS.index(first))
            continue
        low, high = DAYS.index(first), DAYS.index(last)
        if low > high:
            raise AwakeHoursError(f"{part!r} runs backwards; write the days Monday first (e.g. Mon-Fri)")
        chosen.update(range(low, high + 1))
    return tuple(sorted(chosen))


def _time(text: str) -> time:
    hours, minutes = (int(piece) for piece in text.split(":"))
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise AwakeHoursError(f"{text!r} is not a time of day (00:00 to 23:59)")
    return time(hours, minutes)


def parse_awake_hours(text: Optional[str]) -> Optional[AwakeHours]:
    """The spec; None or empty: always awake. A bad spec raises AwakeHoursError saying what is wrong."""
    if text is None or not text.strip():
        return None
    found = _SPEC.match(text.strip())
    if not found:
        raise AwakeHoursError(f"{text!r} is not DAYS HH:MM-HH:MM TIME-ZONE, e.g. {EXAMPLE!r}")
    days = _days(found["days"])
    start, end = _time(found["start"]), _time(found["end"])
    if start >= end:
        raise AwakeHoursError(
            f"{found['start']}-{found['end']} ends before it starts; awake hours are within one day"
        )
    try:
        from zoneinfo import ZoneInfoNotFoundError

        _zone(found["zone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise AwakeHoursError(f"{found['zone']!r} is not an IANA time zone (e.g. Europe/London, UTC)") from None
    return AwakeHours(days=days, start=start, end=end, zone=found["zone"])
