"""feature.awakeHours: the spec, the scheduled actions it becomes under mocks, and what it saves."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from automation.config import ConfigError
from automation.cost.estimate import estimate
from automation.cost.prices import load_prices
from components.awake import AwakeHoursError, parse_awake_hours
from tests.synth import sample
from tests.unit.conftest import run_program
from tests.unit.sample_config import sample_config
from tests.unit.test_program import apply_ignore_changes

SPEC = "Mon-Fri 07:00-19:00 Europe/London"
GROUP = "aws:autoscaling/group:Group"
SCHEDULE = "aws:autoscaling/schedule:Schedule"


def test_a_spec_becomes_two_recurrences_in_its_time_zone() -> None:
    hours = parse_awake_hours(SPEC)
    assert (hours.days, hours.start, hours.end, hours.zone) == ((0, 1, 2, 3, 4), time(7), time(19), "Europe/London")
    # Cron's days: Sunday is 0, so Monday to Friday is 1-5.
    assert (hours.wake_recurrence, hours.sleep_recurrence) == ("0 7 * * 1,2,3,4,5", "0 19 * * 1,2,3,4,5")
    assert hours.weekly_share() == pytest.approx(60 / 168)
    weekend = parse_awake_hours("Sat,Sun 10:30-12:00 UTC")
    assert (weekend.wake_recurrence, weekend.sleep_recurrence) == ("30 10 * * 6,0", "0 12 * * 6,0")
    assert parse_awake_hours("") is None and parse_awake_hours(None) is None


def test_the_next_transition_follows_the_time_zone_across_daylight_saving() -> None:
    hours = parse_awake_hours(SPEC)
    # Saturday 28 March 2026: asleep; the UK moves to BST overnight, so Monday 07:00 is 06:00 UTC.
    state, moment = hours.next_transition(datetime(2026, 3, 28, 12, tzinfo=timezone.utc))
    assert state == "wakes" and moment.astimezone(timezone.utc) == datetime(2026, 3, 30, 6, tzinfo=timezone.utc)
    assert not hours.awake_at(datetime(2026, 3, 30, 5, 59, tzinfo=timezone.utc))
    assert hours.awake_at(datetime(2026, 3, 30, 6, 0, tzinfo=timezone.utc))
    state, moment = hours.next_transition(datetime(2026, 3, 30, 12, tzinfo=timezone.utc))
    assert state == "sleeps" and moment.astimezone(timezone.utc) == datetime(2026, 3, 30, 18, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("Mon-Fri 7-19 UTC", "is not DAYS HH:MM-HH:MM TIME-ZONE"),
        ("weekdays 07:00-19:00 UTC", "'weekdays' is not a day"),
        ("Fri-Mon 07:00-19:00 UTC", "runs backwards"),
        ("Mon-Fri 19:00-07:00 UTC", "ends before it starts"),
        ("Mon-Fri 07:00-07:00 UTC", "ends before it starts"),
        ("Mon-Fri 07:00-24:30 UTC", "'24:30' is not a time of day"),
        ("Mon-Fri 07:00-19:00 Europe/Londn", "'Europe/Londn' is not an IANA time zone"),
        ("Mon-Fri 07:00-19:00 ../../etc/passwd", "is not an IANA time zone"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(spec: str, needle: str) -> None:
    with pytest.raises(AwakeHoursError, match=needle.replace("(", r"\(")):
        parse_awake_hours(spec)
    with pytest.raises(ConfigError, match="phoenix:awakeHours"):
        sample.synthesize(overrides=(f"phoenix:awakeHours={spec}",))


def test_awake_hours_become_scheduled_actions_that_own_the_capacity() -> None:
    plain = run_program(sample_config())
    scheduled = run_program(sample_config({"phoenix:awakeHours": SPEC}))
    assert plain.of_type(SCHEDULE) == []
    wake, sleep = sorted(scheduled.of_type(SCHEDULE), key=lambda r: r.name, reverse=True)
    group = scheduled.one(GROUP)
    for action in (wake, sleep):
        assert action.inputs["autoscalingGroupName"] == group.inputs["name"]
        assert action.inputs["timeZone"] == "Europe/London" and action.inputs["maxSize"] == 2
    assert (wake.inputs["recurrence"], wake.inputs["minSize"], wake.inputs["desiredCapacity"]) == ("0 7 * * 1,2,3,4,5", 1, 1)
    assert (sleep.inputs["recurrence"], sleep.inputs["minSize"], sleep.inputs["desiredCapacity"]) == ("0 19 * * 1,2,3,4,5", 0, 0)
    assert set(group.ignore_changes) - set(plain.one(GROUP).ignore_changes) == {"desiredCapacity", "minSize"}


def test_a_scheduled_scale_to_zero_is_not_drift() -> None:
    """After 19:00 a refresh records the group at zero; the next preview or create must not scale it back."""
    scheduled = run_program(sample_config({"phoenix:awakeHours": SPEC}))
    group = scheduled.one(GROUP)
    at_night = {**group.inputs, "desiredCapacity": 0, "minSize": 0}
    assert apply_ignore_changes(at_night, group.inputs, group.ignore_changes) == at_night
    # Without awake hours the same state is drift, and the program's capacity wins.
    plain = run_program(sample_config()).one(GROUP)
    assert apply_ignore_changes(at_night, plain.inputs, plain.ignore_changes)["desiredCapacity"] == 1


def test_asleep_nothing_wakes_the_group_on_a_schedule() -> None:
    run = run_program(sample_config({"phoenix:awakeHours": SPEC, "phoenix:asleep": "true"}))
    assert run.of_type(SCHEDULE) == []
    group = run.one(GROUP)
    assert "desiredCapacity" not in group.ignore_changes and group.inputs["desiredCapacity"] == 0


def test_the_estimate_counts_the_instances_only_while_awake() -> None:
    table = load_prices()
    always = estimate(sample.synthesize(), table, ttl_hours=72)
    office = estimate(sample.synthesize(overrides=(f"phoenix:awakeHours={SPEC}",)), table, ttl_hours=72)
    group_lines = [line for line in always.lines if line.resource.startswith("Group:")]
    saved = sum(line.hourly for line in group_lines) * (1 - 60 / 168)
    assert always.per_hour - office.per_hour == pytest.approx(saved)
    [instances] = [line for line in office.lines if line.item == "instances"]
    assert instances.awake_share == pytest.approx(60 / 168) and "awake 36% of the week" in instances.detail


def test_list_shows_awake_or_asleep_and_the_next_transition() -> None:
    from automation.cli import _next_transition
    from automation.stacks import FeatureRow

    row = FeatureRow(feature="ryan0001", package_version="1.0.0-ryan0001", url=None, last_update=None, ttl="72h",
                     expires=None, resources=30, updating=False, awake_hours=SPEC)
    saturday = datetime(2026, 3, 28, 12, tzinfo=timezone.utc)
    assert row.schedule(saturday)[:2] == (False, "wakes")
    assert row.next_json(saturday) == {"transition": "wakes", "at": "2026-03-30T07:00:00+01:00"}
    assert _next_transition(row, saturday) == "wakes Mon 07:00 Europe/London (in 1d18h)"
    monday = datetime(2026, 3, 30, 12, tzinfo=timezone.utc)
    assert row.schedule(monday)[:2] == (True, "sleeps")
    # Put to sleep with `sleep`: nothing wakes it on a schedule, so there is no next transition.
    asleep = FeatureRow(**{**row.__dict__, "asleep": True})
    assert asleep.status == "asleep" and asleep.schedule(monday) is None and _next_transition(asleep, monday) == "-"
    always = FeatureRow(**{**row.__dict__, "awake_hours": None})
    assert always.status == "live" and always.next_json(monday) is None
