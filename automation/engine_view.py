"""What a person sees of the engine's output; the run log keeps all of it.

The engine streams progress, and also every diagnostic in full: a failing
dynamic provider's Python traceback appears three times before phoenix's own
one-line message, and a recovered stale lock or a finished destroy leave
lines (`error: the stack is currently locked ... pulumi cancel`, "run
`pulumi stack rm`") that are false for phoenix, which clears the lock and
removes the stack itself. CI log scanners flag such lines. So, unless
`--verbose`, the terminal gets the progress without them: error lines and
tracebacks, the Diagnostics section (its warnings excepted), the engine's
stderr (errors; phoenix states the failure once, with advice) and the
engine's hints for commands phoenix runs for you. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Optional

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Top-level headers that end the Diagnostics section.
_SECTION_ENDS = ("Outputs:", "Resources:", "Duration:", "Policies:")
#: What the engine suggests that phoenix does itself (it removes the stack, clears a stale lock).
ENGINE_HINTS = ("pulumi stack rm", "pulumi cancel", "history and configuration associated with the stack")
_STATUS = re.compile(r"\*\*[^*]+\*\*")
#: A step row that says nothing: a resource's type and name with no operation or status
#: (the engine repeats the stack's row so, at a moment that varies from run to run).
_BARE_STEP = re.compile(r"^ {4}[\w.-]+:[\w/.-]*:[\w/.-]+ \S+$")


def plain(line: str) -> str:
    """The line without colour codes."""
    return _ANSI.sub("", line)


class TerminalView:
    """Decides, line by line, what of the engine's output a person sees (one per stream and run)."""

    def __init__(self) -> None:
        self.in_diagnostics = False

    def show(self, line: str, *, stderr: bool = False) -> Optional[str]:
        """The line to print (possibly cut short), or None to leave it to the run log."""
        text = plain(line)
        stripped = text.strip()
        if not stripped:
            return None
        if any(hint in text for hint in ENGINE_HINTS):
            return None
        if stderr:
            # The engine's stderr carries its errors (phoenix states them once) and warnings.
            return line if stripped.startswith("warning:") else None
        if not text.startswith((" ", "\t")):
            if stripped == "Diagnostics:":
                self.in_diagnostics = True
                return None
            if stripped.startswith(_SECTION_ENDS):
                self.in_diagnostics = False
        if self.in_diagnostics:
            return stripped if stripped.startswith("warning:") else None
        if stripped.startswith("@ ") or _BARE_STEP.match(text):
            return None  # the engine's heartbeat ("@ updating...."), or a row without news
        cut = _error_start(text)
        if cut is not None:
            kept = text[:cut].rstrip()
            # A step line that failed keeps its status ("**creating failed**"); the error goes.
            return kept if _STATUS.search(kept) else None
        return line


def _error_start(text: str) -> Optional[int]:
    """Where an `error:` begins in a progress line, if one does."""
    if text.lstrip().startswith("error:"):
        return 0
    index = text.find(" error: ")
    return index if index >= 0 else None
