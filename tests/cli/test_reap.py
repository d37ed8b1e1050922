"""Which features reap destroys, and how it runs their destroys."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pytest

from automation.errors import ExitCode, InputError, OperationFailed
from automation.reap import (
    DESTROY,
    Decision,
    KEEP,
    SKIP,
    exit_code,
    format_duration,
    keep_set,
    parse_duration,
    plan,
    read_keep_file,
    run,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@dataclass
class Info:
    name: str
    last_update: Optional[datetime]
    update_in_progress: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("72h", 259200), ("30m", 1800), ("7d", 604800), ("1w", 604800), ("1h30m", 5400), ("0s", 0), (" 45S ", 45)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "72", "h", "72 h", "-1h", "1.5h", "3y", "72h!"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert "72h" in str(caught.value)


def test_format_duration() -> None:
    assert format_duration(timedelta(hours=72)) == "3d"
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"
    assert format_duration(timedelta(seconds=1)) == "1s"


def test_plan_uses_each_stacks_own_ttl_and_respects_kept_and_busy_stacks() -> None:
    stacks = [
        Info("old", NOW - timedelta(hours=73)),  # default ttl 72h: expired
        Info("young", NOW - timedelta(hours=71)),
        Info("long", NOW - timedelta(hours=100), config={"phoenix:ttl": "7d"}),  # its own ttl
        Info("short", NOW - timedelta(hours=2), config={"phoenix:ttl": "1h"}),
        Info("kept", NOW - timedelta(days=30)),
        Info("busy", NOW - timedelta(days=30), update_in_progress=True),
        Info("empty", None),
        Info("Not_A_Feature", NOW - timedelta(days=30)),
        Info("broken", NOW - timedelta(hours=73), config={"phoenix:ttl": "soon"}),
    ]
    decisions = {d.feature: d for d in plan(stacks, now=NOW, keep={"kept"}, default_ttl=timedelta(hours=72))}
    assert {name: d.action for name, d in decisions.items()} == {
        "old": DESTROY, "young": SKIP, "long": SKIP, "short": DESTROY, "kept": KEEP,
        "busy": SKIP, "empty": DESTROY, "Not_A_Feature": SKIP, "broken": DESTROY,
    }
    assert decisions["young"].expires == NOW + timedelta(hours=1)
    assert "7d" in decisions["long"].reason
    assert "invalid" in decisions["broken"].reason
    assert decisions["busy"].reason == "an update is running"


def test_every_decision_carries_the_reason_and_expiry_reap_dry_run_shows() -> None:
    stacks = [
        Info("old1", NOW - timedelta(hours=73)),
        Info("kept1", NOW - timedelta(days=30)),
        Info("busy1", NOW - timedelta(days=30), update_in_progress=True),
        Info("empty1", None),
        Info("Not_A_Feature", NOW - timedelta(days=30)),
        Info("odd1", NOW - timedelta(hours=1), config={"phoenix:ttl": 5}),  # not text: the default applies
    ]
    decisions = plan(stacks, now=NOW, keep={"kept1"}, default_ttl=timedelta(hours=72))
    assert [(d.feature, d.action, d.reason, d.expires) for d in decisions] == [
        ("Not_A_Feature", SKIP, "not a feature stack (its name is no feature id)", NOW + timedelta(days=-27)),
        ("busy1", SKIP, "an update is running", NOW + timedelta(days=-27)),
        ("empty1", DESTROY, "never updated", None),
        ("kept1", KEEP, "kept (--keep / --keep-file)", NOW + timedelta(days=-27)),
        ("odd1", SKIP, "not expired (the default ttl 3d; until 2026-03-04 11:00 UTC)", NOW + timedelta(hours=71)),
        ("old1", DESTROY, "last updated 2026-02-26 11:00 UTC, past the default ttl 3d", NOW - timedelta(hours=1)),
    ]


def test_older_than_overrides_every_ttl() -> None:
    stacks = [Info("a", NOW), Info("b", NOW - timedelta(seconds=1), config={"phoenix:ttl": "7d"})]
    decisions = plan(stacks, now=NOW, older_than=timedelta(0), default_ttl=timedelta(hours=72))
    assert [d.action for d in decisions] == [DESTROY, DESTROY]
    assert "--older-than 0s" in decisions[1].reason


def test_keep_file_takes_ids_versions_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "live.txt"
    path.write_text("# live branches\nryan0001\n\n1.2.0-anna0002   # from the package # v2\n  bob0003\n")
    assert read_keep_file(str(path)) == {"ryan0001", "anna0002", "bob0003"}
    assert keep_set(["carl0004", "1.0.0-dana0005"], [str(path)]) == {
        "ryan0001", "anna0002", "bob0003", "carl0004", "dana0005",
    }


def test_a_bad_keep_entry_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "live.txt"
    path.write_text("ryan0001\nfeature/ryan\n")
    with pytest.raises(InputError) as caught:
        read_keep_file(str(path))
    assert "line 2" in str(caught.value) and "live.txt" in str(caught.value)
    with pytest.raises(InputError) as caught:
        read_keep_file(str(tmp_path / "missing.txt"))
    assert str(caught.value) == f"--keep-file {tmp_path / 'missing.txt'}: No such file or directory"
    with pytest.raises(InputError) as caught:
        keep_set(["Bad Name"], [])
    assert str(caught.value).startswith("--keep 'Bad Name': ")


def test_run_continues_past_a_failure_and_reports_each() -> None:
    stacks = [Info(name, NOW - timedelta(days=9)) for name in ("a", "b", "c")]
    decisions = plan(stacks, now=NOW, default_ttl=timedelta(hours=72))
    destroyed, reported = [], []

    def destroy(decision: Decision) -> None:
        if decision.feature == "b":
            raise OperationFailed("b: Octopus is down")
        destroyed.append(decision.feature)

    outcomes = run(decisions, destroy, parallel=1, report=reported.append)
    assert destroyed == ["a", "c"]
    assert [(o.feature, o.action) for o in outcomes] == [("a", "destroyed"), ("b", "failed"), ("c", "destroyed")]
    assert outcomes[1].reason == "b: Octopus is down" and outcomes[1].code == ExitCode.FAILED
    assert sorted(o.feature for o in reported) == ["a", "b", "c"]
    assert exit_code(outcomes) == ExitCode.FAILED
    assert exit_code([o for o in outcomes if o.feature != "b"]) == ExitCode.OK


@pytest.mark.parametrize(("options", "count", "allowed"), [({"parallel": 3}, 6, 3), ({}, 2, 1)],
                         ids=["parallel-3", "default-one-at-a-time"])
def test_run_holds_at_most_parallel_destroys_at_once(options: dict, count: int, allowed: int) -> None:
    stacks = [Info(f"f{i}", NOW - timedelta(days=9)) for i in range(count)]
    decisions = plan(stacks, now=NOW, default_ttl=timedelta(hours=72))
    together = threading.Barrier(allowed, timeout=10)  # passes only when `allowed` destroys run at once
    lock, one_more = threading.Lock(), threading.Event()
    running, peak = 0, 0

    def destroy(decision: Decision) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running > allowed:
                one_more.set()
        together.wait()
        one_more.wait(0.3)  # room for one more destroy to start beside these, were it allowed to
        with lock:
            running -= 1

    outcomes = run(decisions, destroy, **options)
    assert [o.action for o in outcomes] == ["destroyed"] * count, "each group of `allowed` ran together"
    assert peak == allowed


def test_dry_run_destroys_nothing_and_kept_ones_are_reported() -> None:
    stacks = [Info("a", NOW - timedelta(days=9)), Info("b", NOW - timedelta(days=9))]
    decisions = plan(stacks, now=NOW, keep={"a"}, default_ttl=timedelta(hours=72))

    def destroy(decision: Decision) -> None:
        raise AssertionError("dry run destroyed something")

    outcomes = run(decisions, destroy, dry_run=True)
    assert [(o.feature, o.action) for o in outcomes] == [("a", "kept"), ("b", "planned")]
    assert exit_code(outcomes) == ExitCode.OK


def test_an_interrupted_reap_exits_130() -> None:
    from automation.errors import Interrupted

    decisions = plan([Info("a", NOW - timedelta(days=9))], now=NOW, default_ttl=timedelta(hours=72))

    def destroy(decision: Decision) -> None:
        raise Interrupted("interrupted")

    assert exit_code(run(decisions, destroy)) == ExitCode.INTERRUPTED


def test_parallel_must_be_positive() -> None:
    with pytest.raises(InputError, match="--parallel must be at least 1"):
        run([], lambda decision: None, parallel=0)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_stack_not_yet_expired_is_reported_skipped_and_never_destroyed(dry_run: bool) -> None:
    stacks = [Info("fresh1", NOW - timedelta(hours=1)), Info("stale1", NOW - timedelta(days=9))]
    decisions = plan(stacks, now=NOW, default_ttl=timedelta(hours=72))
    destroyed, reported = [], []
    outcomes = run(decisions, lambda d: destroyed.append(d.feature), dry_run=dry_run, report=reported.append)
    assert destroyed == ([] if dry_run else ["stale1"])
    assert [(o.feature, o.action) for o in outcomes] == [
        ("fresh1", "skipped"), ("stale1", "planned" if dry_run else "destroyed"),
    ]
    assert outcomes[0].reason == "not expired (the default ttl 3d; until 2026-03-04 11:00 UTC)"
    assert sorted(o.feature for o in reported) == ["fresh1", "stale1"], "the skipped one is reported as it happens"
    assert exit_code(outcomes) == ExitCode.OK


def test_each_outcome_says_why_and_a_failed_engine_run_names_its_stack() -> None:
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import create_command_error

    stacks = [Info("kept1", NOW - timedelta(days=9)), Info("gone1", NOW - timedelta(days=9)),
              Info("busy1", NOW - timedelta(days=9))]
    decisions = plan(stacks, now=NOW, keep={"kept1"}, default_ttl=timedelta(hours=72))

    def destroy(decision) -> None:
        if decision.feature == "busy1":
            raise create_command_error(CommandResult(stdout="", stderr="error: the cloud said no", code=255))

    outcomes = {o.feature: o for o in run(decisions, destroy)}
    past = "last updated 2026-02-20 12:00 UTC, past the default ttl 3d"
    assert outcomes["kept1"].reason == "kept (--keep / --keep-file)"
    assert outcomes["gone1"].reason == past
    assert outcomes["busy1"].action == "failed" and outcomes["busy1"].reason.startswith("busy1: ")
    planned = {o.feature: o.reason for o in run(decisions, destroy, dry_run=True)}
    assert planned["gone1"] == past
