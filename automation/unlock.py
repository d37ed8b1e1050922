"""`unlock FEATURE`: remove the lock a runner that died left on a feature's stack, when that is safe.

On its own host a dead holder is proven by its pid, and every run removes
such a lock itself (engine.stale_lock). A runner that died on another host
leaves a lock nothing can prove dead, so only an operator (or a nightly job)
removes it, with this rule: the lock is older than `--older-than` (by
default well above the longest rollout) and nothing records its update as
running (no fresh heartbeat from its holder; on this host, no live pid).
The next create or destroy then finds the interrupted update's pending
operations and recovers them as usual.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from automation import locks
from automation.errors import ExitCode, PhoenixError
from automation.feature import Feature

#: The least age of a lock that unlock removes by default...
DEFAULT_OLDER_THAN = timedelta(hours=6)
#: ...unless this many rollout timeouts are longer.
ROLLOUT_TIMEOUTS = 4


class UnlockRefused(PhoenixError):
    """The lock may belong to a running update; it stays (exit 4, as for any locked stack)."""

    code = ExitCode.LOCKED


def default_older_than(fleet: Any) -> timedelta:
    """6h, or ROLLOUT_TIMEOUTS x fleet.rolloutTimeoutMinutes when that is longer."""
    minutes = fleet.get("rolloutTimeoutMinutes") if isinstance(fleet, dict) else None
    if isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and minutes > 0:
        return max(DEFAULT_OLDER_THAN, timedelta(minutes=ROLLOUT_TIMEOUTS * minutes))
    return DEFAULT_OLDER_THAN


@dataclass(frozen=True)
class Unlocked:
    feature: str
    older_than: timedelta
    removed: tuple[locks.Lock, ...]
    now: datetime

    def lines(self) -> list[str]:
        if not self.removed:
            return [f"{self.feature}: not locked"]
        lines = [f"{self.feature}: removed the lock of {lock.describe(self.now)}" for lock in self.removed]
        lines.append(
            f"{self.feature}: the next create or destroy clears what the interrupted update left pending, "
            "then refreshes"
        )
        return lines

    def as_json(self) -> dict[str, Any]:
        from automation.reap import format_duration

        return {
            "feature": self.feature,
            "result": "unlocked" if self.removed else "not locked",
            "olderThan": format_duration(self.older_than),
            "removed": [
                {
                    "username": lock.username, "hostname": lock.hostname, "pid": lock.pid,
                    "taken": lock.taken.isoformat() if lock.taken else None, "key": lock.key,
                }
                for lock in self.removed
            ],
        }


def unlock(
    store: Any, project: str, feature: Feature, *, older_than: timedelta, now: Optional[datetime] = None,
    hostname: Optional[str] = None,
) -> Unlocked:
    """Remove the stack's locks when `locks.judge` allows; UnlockRefused with the details otherwise."""
    from automation.engine import _pid_is_pulumi

    now = now or datetime.now(timezone.utc)
    path = locks.stack_path(store, project, feature.stack_name)
    found = locks.read_locks(store, path)
    if not found:
        return Unlocked(feature.id, older_than, (), now)
    beat = locks.Beat.decode(store.read(locks.heartbeat_key(path)))
    judgment = locks.judge(
        found, beat, now=now, older_than=older_than, hostname=hostname or socket.gethostname(), alive=_pid_is_pulumi,
    )
    if not judgment.removable:
        raise UnlockRefused(
            f"stack {feature.stack_name!r} stays locked: " + "; ".join(judgment.refusals)
        )
    removed = tuple(lock for lock in found if store.delete(lock.key))
    if beat is not None:
        store.delete(locks.heartbeat_key(path))
    return Unlocked(feature.id, older_than, removed, now)


def run(session: Any, feature: Feature, *, older_than: Optional[str]) -> Unlocked:
    """The command: the session's backend and project, `--older-than` or its default."""
    from automation.backend_store import open_store
    from automation.engine import read_project
    from automation.errors import InputError
    from automation.reap import parse_duration

    age = default_older_than(session.sources.values.get("phoenix:fleet"))
    if older_than is not None:
        try:
            age = parse_duration(older_than)
        except ValueError as error:
            raise InputError(f"--older-than: {error}") from None
    project = read_project(session.options.work_dir).name
    return unlock(open_store(session.backend.url), project, feature, older_than=age)
