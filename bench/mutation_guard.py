"""mutmut, with a wall-clock timeout that signals only the mutants it was set for.

mutmut 3.8.1 (mutmut/workers/timeout.py) keeps a (deadline, pid) pair for every mutant
it starts and sends SIGXCPU to that pid at the deadline, also when the mutant ended long
before: it never cancels a timeout. By then Linux may have given the pid to another
process (pid_max is often 32768, and a mutation run forks thousands of times), which then
dies of SIGXCPU: here it stopped a test run that shared the machine with a mutation run.
This module gives mutmut a timeout that remembers when each process started (field 22
of /proc/PID/stat, see proc(5)) and signals the pid only while it is still that process.

`bench/mutation.py` runs mutmut through this file (`python bench/mutation_guard.py run
...`): its directory, not the project, is on sys.path there, so it imports only mutmut.
"""

from __future__ import annotations

import heapq
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional


def start_time(pid: int) -> Optional[str]:
    """When the process started, in clock ticks since boot; None once it is gone (or without /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


class Timeouts:
    """Deadlines for processes; at one, SIGXCPU goes to the process only if it is the one registered."""

    def __init__(self, identity: Callable[[int], Optional[str]] = start_time) -> None:
        self._identity = identity
        self._heap: list[tuple[float, int, Optional[str]]] = []
        self._ready = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def register(self, pid: int, timeout_s: float) -> None:
        """mutmut's `register_timeout(pid, timeout_s)`."""
        with self._ready:
            heapq.heappush(self._heap, (time.time() + timeout_s, pid, self._identity(pid)))
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="mutation-timeouts", daemon=True)
                self._thread.start()
            self._ready.notify()

    def _watch(self) -> None:
        with self._ready:
            while True:
                while not self._heap:
                    self._ready.wait()
                now = time.time()
                while self._heap and self._heap[0][0] <= now:
                    _, pid, registered = heapq.heappop(self._heap)
                    if registered is not None and self._identity(pid) == registered:
                        try:
                            os.kill(pid, signal.SIGXCPU)
                        except ProcessLookupError:
                            pass
                if self._heap:
                    self._ready.wait(timeout=max(0.0, self._heap[0][0] - now))


def install(timeouts: Timeouts) -> None:
    """Put `timeouts` where mutmut looks up its timeout (imported by name into isolation.py)."""
    import mutmut.workers.isolation as isolation
    import mutmut.workers.timeout as timeout

    isolation.register_timeout = timeout.register_timeout = timeouts.register


def main() -> None:
    install(Timeouts())
    from mutmut.__main__ import cli

    sys.exit(cli(prog_name="mutmut"))


if __name__ == "__main__":
    main()
