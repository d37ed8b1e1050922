"""Stack locks of the self-managed backend across runners: who holds one, since when, and is it alive.

Pulumi's self-managed backend locks a stack with one object per holder,
`.pulumi/locks/<stack path>/<uuid>.json`, holding the CLI's pid, user, host and
start time (pkg/backend/diy/lock.go). On the holder's own host a dead pid
proves a lock stale (engine.stale_lock); from another host nothing does. So
a runner running an operation also writes a heartbeat,
`.phoenix/heartbeats/<stack path>.json`, naming the lock it holds, every
`PHOENIX_HEARTBEAT_SECONDS` (default 30): a lock whose holder still beats is
a running update, whatever its age. `unlock` removes a lock only when it is
older than the given age and its update is not recorded as running.

Everything here but `Heartbeat` (a thread) and the store calls is pure.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

LOCKS_DIR = ".pulumi/locks"
META_FILE = ".pulumi/meta.yaml"
HEARTBEATS_DIR = ".phoenix/heartbeats"

#: Seconds between heartbeats, unless PHOENIX_HEARTBEAT_SECONDS says otherwise.
HEARTBEAT_SECONDS = 30.0
#: A heartbeat younger than this many of its intervals is a live holder.
LIVE_BEATS = 4
#: The shortest wait for one's own lock to appear before the first heartbeat.
FIRST_LOOK_SECONDS = 0.25

#: What the CLI prints (and still exits 0) when it could not delete its own lock.
LOCK_NOT_DELETED = "there was a problem deleting the lock"

#: `<where>: created by <user>@<host> (pid <n>) at <RFC 3339 time>`, one line per lock.
_LOCK_LINE = re.compile(
    r"(?:(?P<where>\S+): )?created by (?P<user>[^@\s]+)@(?P<host>\S+) \(pid (?P<pid>\d+)\)"
    r"(?: at (?P<at>\S+))?"
)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def parse_time(text: Optional[str]) -> Optional[datetime]:
    """An RFC 3339 time as Go writes it (nanoseconds and `Z` included), or None."""
    if not text:
        return None
    cleaned = text.strip().replace("Z", "+00:00")
    # Python takes at most microseconds: cut Go's nanoseconds.
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", cleaned)
    try:
        return _utc(datetime.fromisoformat(cleaned))
    except ValueError:
        return None


def format_age(age: timedelta) -> str:
    from automation.reap import format_duration

    return format_duration(age) if age.total_seconds() >= 1 else "0s"


@dataclass(frozen=True)
class Lock:
    """One lock object (or one line of the CLI's "the stack is currently locked" message)."""

    username: str
    hostname: str
    pid: int
    taken: Optional[datetime]
    """the holder's clock when it took the lock"""
    key: str = ""
    """the object's key below the backend root ('' when read from a message)"""

    @property
    def holder(self) -> str:
        return f"{self.username}@{self.hostname}, pid {self.pid}"

    def age(self, now: datetime) -> Optional[timedelta]:
        return None if self.taken is None else max(timedelta(0), _utc(now) - self.taken)

    def describe(self, now: datetime) -> str:
        age = self.age(now)
        if age is None:
            return self.holder
        return f"{self.holder}, taken {format_age(age)} ago at {self.taken:%Y-%m-%d %H:%M:%S} UTC"


def locks_in_message(text: str) -> list[Lock]:
    """The holders the CLI names when it refuses a locked stack."""
    return [
        Lock(match["user"], match["host"], int(match["pid"]), parse_time(match["at"]), match["where"] or "")
        for match in _LOCK_LINE.finditer(text or "")
    ]


def holders_text(text: str, now: Optional[datetime] = None) -> Optional[str]:
    """Holder, host, pid and age of the locks a CLI message names (the exit-4 detail), or None."""
    locks = locks_in_message(text)
    if not locks:
        return None
    now = now or datetime.now(timezone.utc)
    return "; ".join(lock.describe(now) for lock in locks)


# --- where a stack's objects are ------------------------------------------------------------------


def stack_path(store: Any, project: str, stack: str) -> str:
    """The stack's path in the backend: `organization/<project>/<stack>`, or `<stack>` in a legacy one.

    Backends made by Pulumi 3.61 or later say `version: 1` (projects) in
    `.pulumi/meta.yaml`; older ones have no meta file or say 0.
    """
    meta = store.read(META_FILE)
    if meta is None:
        legacy = bool(store.list(".pulumi/stacks/")) and not store.list(f".pulumi/stacks/{project}/")
    else:
        found = re.search(rb"(?m)^version:\s*(\d+)", meta)
        legacy = not found or int(found.group(1)) < 1
    return stack if legacy else f"organization/{project}/{stack}"


def read_locks(store: Any, path: str) -> list[Lock]:
    """The stack's lock objects; one the CLI deleted while we read is left out."""
    locks = []
    for item in store.list(f"{LOCKS_DIR}/{path}/"):
        if not item.key.endswith(".json"):
            continue
        data = store.read(item.key)
        if data is None:
            continue
        try:
            content = json.loads(data)
            locks.append(Lock(
                username=str(content.get("username", "?")), hostname=str(content.get("hostname", "?")),
                pid=int(content.get("pid", 0)), taken=parse_time(content.get("timestamp")) or _utc(item.modified),
                key=item.key,
            ))
        except (ValueError, TypeError, AttributeError):
            # Not written by the CLI, yet the CLI counts it as a lock all the same.
            locks.append(Lock("?", "?", 0, _utc(item.modified), item.key))
    return locks


# --- heartbeats ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Beat:
    """A holder's sign of life: the lock it holds, when it last said so, and how often it says it."""

    hostname: str
    pid: int
    lock: str
    at: datetime
    every: float

    def fresh(self, now: datetime) -> bool:
        return _utc(now) - self.at < timedelta(seconds=LIVE_BEATS * self.every)

    def names(self, lock: Lock) -> bool:
        return self.lock == lock.key and (self.hostname, self.pid) == (lock.hostname, lock.pid)

    def encode(self) -> bytes:
        document = asdict(self)
        document["at"] = self.at.isoformat()
        return json.dumps(document, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: Optional[bytes]) -> Optional["Beat"]:
        try:
            document = json.loads(data or b"")
            at = parse_time(document["at"])
            if at is None:
                return None
            return cls(str(document["hostname"]), int(document["pid"]), str(document["lock"]), at,
                       float(document["every"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def heartbeat_key(path: str) -> str:
    return f"{HEARTBEATS_DIR}/{path}.json"


def heartbeat_seconds(environ: Optional[dict] = None) -> float:
    text = (environ if environ is not None else os.environ).get("PHOENIX_HEARTBEAT_SECONDS", "")
    try:
        value = float(text)
    except ValueError:
        return HEARTBEAT_SECONDS
    return value if value > 0 else HEARTBEAT_SECONDS


@dataclass
class Heartbeat:
    """While an operation runs: find the lock our CLI took, then say every `every` s that it is alive.

    `pids` answers the pids of our running CLI processes. Failures to read
    or write are counted, never raised: a heartbeat must not fail the update.
    """

    store: Any
    path: str
    pids: Callable[[], Iterable[int]]
    every: float = HEARTBEAT_SECONDS
    hostname: str = field(default_factory=socket.gethostname)
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    beats: int = field(default=0, init=False)
    errors: int = field(default=0, init=False)
    _stopped: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def ours(self) -> Optional[Lock]:
        pids = set(self.pids())
        for lock in read_locks(self.store, self.path):
            if lock.hostname == self.hostname and lock.pid in pids:
                return lock
        return None

    def beat(self) -> bool:
        """Write one heartbeat for our lock; False when we hold none (yet)."""
        try:
            lock = self.ours()
            if lock is None:
                return False
            beat = Beat(self.hostname, lock.pid, lock.key, self.clock(), self.every)
            self.store.write(heartbeat_key(self.path), beat.encode())
        except Exception:  # noqa: BLE001 - the store's faults must not fail the update
            self.errors += 1
            return False
        self.beats += 1
        return True

    def run(self) -> None:
        """Beat until stopped; the first beats wait for the CLI to take its lock."""
        wait = FIRST_LOOK_SECONDS
        while not self._stopped.wait(wait):
            if self.beat():
                wait = self.every
            else:  # the CLI has not taken its lock yet: look again soon
                wait = min(self.every, wait * 2)

    def stop(self) -> None:
        self._stopped.set()

    def clear(self) -> None:
        """Delete the beat once the operation is over (its lock is gone with it)."""
        if self.beats:
            try:
                self.store.delete(heartbeat_key(self.path))
            except Exception:  # noqa: BLE001 - a leftover beat only ages
                self.errors += 1


@contextmanager
def beating(heartbeat: Optional[Heartbeat]) -> Iterator[Optional[Heartbeat]]:
    """Run `heartbeat` in a daemon thread for the duration of the block (None: nothing)."""
    if heartbeat is None:
        yield None
        return
    thread = threading.Thread(target=heartbeat.run, name=f"heartbeat {heartbeat.path}", daemon=True)
    thread.start()
    try:
        yield heartbeat
    finally:
        heartbeat.stop()
        thread.join(timeout=30)  # a beat being written lands before the delete below
        heartbeat.clear()


# --- judging a lock ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgment:
    """Which locks may go; when any may not, none goes (the reasons say why)."""

    locks: tuple[Lock, ...]
    refusals: tuple[str, ...]

    @property
    def removable(self) -> bool:
        return bool(self.locks) and not self.refusals


def judge(
    locks: Sequence[Lock],
    beat: Optional[Beat],
    *,
    now: datetime,
    older_than: timedelta,
    hostname: str,
    alive: Callable[[int], bool],
) -> Judgment:
    """Whether a stack's locks belong to an update that is over.

    A lock goes only when it is older than `older_than` and nothing records
    its update as running: no fresh heartbeat names it, and, taken on this
    host, its pid no longer runs a Pulumi process.
    """
    refusals = []
    for lock in locks:
        age = lock.age(now)
        if age is None or age < older_than:
            refusals.append(f"the lock of {lock.describe(now)} is younger than {format_age(older_than)}")
        elif beat is not None and beat.names(lock) and beat.fresh(now):
            refusals.append(
                f"the update of {lock.holder} is running: its heartbeat is "
                f"{format_age(_utc(now) - beat.at)} old (one every {beat.every:g} s)"
            )
        elif lock.hostname == hostname and alive(lock.pid):
            refusals.append(f"the update of {lock.holder} is running: pid {lock.pid} is a live Pulumi process here")
    return Judgment(tuple(locks), tuple(refusals))
