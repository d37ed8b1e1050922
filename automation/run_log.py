"""The run log: all of one command's engine output, in a file whose path a failure prints.

The terminal shows the engine's progress and phoenix's one-line verdict
(automation/engine_view.py); the full text, tracebacks included, goes here.
It lives beside the local state, in the work dir's git-ignored `.state/logs/`
(PHOENIX_LOG_DIR to put it elsewhere; a temp folder when that is not
writable). The file is made only when the engine writes, so a run refused
for bad input leaves nothing. Every line is redacted as the console redacts,
without colour codes; the newest `KEEP` logs are kept.
"""

from __future__ import annotations

import os
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Optional, TextIO

from automation.engine_view import plain

LOG_DIR_ENV = "PHOENIX_LOG_DIR"
#: Under the work dir: the folder of the embedded local backend, already git-ignored.
LOG_SUBDIR = Path(".state") / "logs"
KEEP = 50


def log_dir(work_dir: Path, environ: Mapping[str, str]) -> Path:
    explicit = (environ.get(LOG_DIR_ENV) or "").strip()
    if explicit:
        return Path(explicit).expanduser().resolve()
    return Path(work_dir).resolve() / LOG_SUBDIR


def log_name(command: str, subject: Optional[str], now: datetime, pid: int) -> str:
    """`20261130T074216Z-destroy-ryan0001-4242.log`: sorts by time, names the run."""
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parts = [stamp, command] + ([subject] if subject else []) + [str(pid)]
    return "-".join(parts) + ".log"


class RunLog:
    """A log file made on the first line written; thread-safe (reap runs destroys in parallel)."""

    def __init__(self, directory: Path, name: str, *, redact: Callable[[str], str] = lambda text: text) -> None:
        self.directory = Path(directory)
        self.name = name
        self.redact = redact
        self.path: Optional[Path] = None
        self._handle: Optional[TextIO] = None
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock:
            if self._handle is None:
                self._handle = self._open()
                if self._handle is None:
                    return
            self._handle.write(self.redact(plain(line)) + "\n")
            self._handle.flush()

    def _open(self) -> Optional[TextIO]:
        fallback = Path(tempfile.gettempdir()) / f"phoenix-logs-{os.getuid()}"
        for directory in (self.directory, fallback):
            try:
                directory.mkdir(parents=True, exist_ok=True)
                path = directory / self.name
                handle = path.open("a", encoding="utf-8")
            except OSError:
                continue
            self.path = path
            prune(directory, keep=KEEP)
            return handle
        return None

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def prune(directory: Path, *, keep: int) -> list[Path]:
    """Remove all but the newest `keep` logs (names sort by time); the removed paths."""
    logs = sorted(directory.glob("*.log"))
    doomed = logs[:-keep] if keep > 0 else logs
    for path in doomed:
        try:
            path.unlink()
        except OSError:
            pass
    return doomed
