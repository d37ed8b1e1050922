"""Fault injection and the request log: what reliability tests and benchmarks read and steer."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional
from urllib.parse import parse_qs


@dataclass
class Fault:
    """The next `remaining` requests matching `method` and `pattern` fail this way.

    `drop` closes the connection without an answer; otherwise `status` is sent
    (with `Retry-After` when given, an HTML page when `html`, `errors` in the
    body). With `processed`
    the server first does the work, so only the answer is lost: the case a
    client must not turn into a duplicate.
    """

    method: str
    pattern: re.Pattern
    status: int
    remaining: int
    drop: bool = False
    retry_after: Optional[float] = None
    processed: bool = False
    html: bool = False
    #: The error body's `Errors` (a 400 the server gives for its own reasons).
    errors: tuple[str, ...] = ()

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.pattern.search(path) is not None


@dataclass
class Hook:
    """Runs `action` after the next `remaining` matching requests are handled, before
    their answers are sent: a deterministic stand-in for another writer's timing."""

    method: str
    pattern: re.Pattern
    action: Callable[[], Any]
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.pattern.search(path) is not None


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._hooks: list[Hook] = []

    def add_hook(self, hook: Hook) -> None:
        with self._lock:
            self._hooks.append(hook)

    def take_hooks(self, method: str, path: str) -> list[Hook]:
        with self._lock:
            due = [h for h in self._hooks if h.remaining > 0 and h.matches(method, path)]
            for hook in due:
                hook.remaining -= 1
            return due

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Optional[Fault]:
        """The first pending fault for this request, counted as used."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
            return None

    def pending(self) -> int:
        with self._lock:
            return sum(fault.remaining for fault in self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._hooks.clear()


class _Record(NamedTuple):
    method: str
    path: str
    status: int


class LoggedRequest(_Record):
    """`(method, path, status)`; `.query` keeps the query string (any `apikey` removed).

    A dropped connection is logged with status 0.
    """

    def __new__(cls, method: str, path: str, status: int, query: str = "") -> "LoggedRequest":
        record = super().__new__(cls, method, path, status)
        record.query = query
        return record

    @property
    def params(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(self.query).items()}


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[LoggedRequest] = []

    def append(self, record: LoggedRequest) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(self, method: str = "*", path_regex: str = "") -> int:
        pattern = re.compile(path_regex)
        return sum(
            1
            for record in self.records()
            if method in ("*", record.method) and pattern.search(record.path)
        )
