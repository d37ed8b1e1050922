"""Random faults for the emulator: a share of requests answered 503 or dropped, every one delayed.

Installed as the emulator's fault plan (`emulator.faults = RandomFaults(...)`),
so explicit `fail_next` faults still come first. A dropped connection is
either lost before the server acts or after (`processed`: the work is done,
only the answer is lost), half and half: the second is the case that turns a
naive retried POST into a duplicate.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Optional

from tests.octopus_emulator.faults import Fault, FaultPlan

_ANY = re.compile("")


@dataclass(frozen=True)
class FaultRates:
    """Shares of requests that fail, and the range of the delay every request gets."""

    unavailable: float = 0.05
    """answered 503 with Octopus' maintenance message"""
    dropped: float = 0.01
    """the connection closed without an answer"""
    latency: tuple[float, float] = (0.0, 0.05)
    """seconds, uniform"""

    def __post_init__(self) -> None:
        if not (0 <= self.unavailable and 0 <= self.dropped and self.unavailable + self.dropped <= 1):
            raise ValueError("fault shares must be between 0 and 1 and add up to at most 1")
        low, high = self.latency
        if not 0 <= low <= high:
            raise ValueError("latency must be a range 0 <= low <= high")

    def describe(self) -> str:
        low, high = self.latency
        return (f"{self.unavailable:.0%} answered 503, {self.dropped:.0%} dropped, "
                f"latency {low * 1000:.0f}-{high * 1000:.0f} ms on every request")


class RandomFaults(FaultPlan):
    """A fault plan that also fails requests at random, with a seeded generator."""

    def __init__(self, rates: FaultRates, seed: int, *, sleep=time.sleep) -> None:
        super().__init__()
        self.rates = rates
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        self._sleep = sleep
        self.injected: Counter = Counter()

    def take(self, method: str, path: str) -> Optional[Fault]:
        planned = super().take(method, path)
        if planned is not None:
            return planned
        with self._random_lock:
            roll = self._random.random()
            delay = self._random.uniform(*self.rates.latency)
            processed = self._random.random() < 0.5
        if delay:
            self._sleep(delay)
        if roll < self.rates.dropped:
            kind = "dropped after the work" if processed else "dropped before the work"
            fault = Fault(method=method, pattern=_ANY, status=0, remaining=0, drop=True, processed=processed)
        elif roll < self.rates.dropped + self.rates.unavailable:
            kind = "503"
            fault = Fault(method=method, pattern=_ANY, status=503, remaining=0)
        else:
            return None
        with self._random_lock:
            self.injected[kind] += 1
        return fault
