"""Octopus' .NET TimeSpan strings, in every form clients write them.

Servers and clients disagree on the form: the .NET client writes total hours
(`"48:00:00"`), the Go client and the server's own day form `"2.00:00:00"`.
Reading accepts both; writing uses the day form at one day or more, which
every client reads.
"""

from __future__ import annotations

import re
from datetime import timedelta

_TIMESPAN = re.compile(
    r"^(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<hours>\d+):(?P<minutes>\d{1,2}):(?P<seconds>\d{1,2})"
    r"(?:\.(?P<fraction>\d{1,7}))?$"
)


def parse_timespan(text: str) -> timedelta:
    """`[-][d.]hh:mm:ss[.fffffff]` (hours may exceed 23 when no days are given)."""
    match = _TIMESPAN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a TimeSpan like '00:20:00' or '1.00:00:00'")
    days = int(match["days"] or 0)
    hours, minutes, seconds = int(match["hours"]), int(match["minutes"]), int(match["seconds"])
    if minutes > 59 or seconds > 59 or (match["days"] is not None and hours > 23):
        raise ValueError(f"{text!r} is not a TimeSpan: a field is out of range")
    fraction = int((match["fraction"] or "0").ljust(7, "0"))
    span = timedelta(
        days=days, hours=hours, minutes=minutes, seconds=seconds, microseconds=fraction // 10
    )
    return -span if match["sign"] else span


def format_timespan(span: timedelta) -> str:
    """The .NET form: `hh:mm:ss` below a day, `d.hh:mm:ss` from a day on."""
    sign = "-" if span < timedelta(0) else ""
    span = abs(span)
    hours, rest = divmod(span.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if span.microseconds:
        text += f".{span.microseconds * 10:07d}"
    if span.days:
        text = f"{span.days}.{text}"
    return sign + text
