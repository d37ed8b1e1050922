"""TimeSpan strings in the forms Octopus clients write and read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from components.octopus.timespan import format_timespan, parse_timespan


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("00:20:00", timedelta(minutes=20)),
        ("1.00:00:00", timedelta(days=1)),
        ("48:00:00", timedelta(hours=48)),  # the .NET client's total-hours form
        ("2.03:04:05", timedelta(days=2, hours=3, minutes=4, seconds=5)),
        ("00:00:01.5000000", timedelta(seconds=1.5)),
        ("-00:05:00", timedelta(minutes=-5)),
    ],
)
def test_parse(text: str, span: timedelta) -> None:
    assert parse_timespan(text) == span


@pytest.mark.parametrize("text", ["", "20m", "1.24:00:00", "00:60:00", "00:00:60", "1:2", None])
def test_parse_refuses(text) -> None:
    with pytest.raises(ValueError):
        parse_timespan(text)


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(minutes=20), "00:20:00"),
        (timedelta(hours=48), "2.00:00:00"),
        (timedelta(days=1, seconds=1), "1.00:00:01"),
        (timedelta(seconds=1.5), "00:00:01.5000000"),
        (timedelta(minutes=-5), "-00:05:00"),
    ],
)
def test_format(span: timedelta, text: str) -> None:
    assert format_timespan(span) == text
    assert parse_timespan(text) == span
