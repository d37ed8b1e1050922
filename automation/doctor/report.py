"""A check's result and the ways it is shown: a table for people, JSON for machines.

Pure: nothing here reads the environment or calls out, so the shapes the README
documents are tested without a server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Sequence

from automation.errors import ExitCode

OK, WARN, FAIL = "ok", "warn", "fail"
STATUSES = (OK, WARN, FAIL)

#: Version of the `doctor --json` document; raised only on an incompatible change.
JSON_SCHEMA = 1

#: How a check whose prerequisite did not pass begins what it found.
NOT_CHECKED = "not checked:"


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, what was found, how to fix it."""

    name: str
    status: str
    found: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"a check's status is one of {', '.join(STATUSES)}, not {self.status!r}")

    @property
    def not_checked(self) -> bool:
        return self.status == WARN and self.found.startswith(NOT_CHECKED)


def skipped(name: str, need: str) -> Check:
    """The result of a check that could not run because `need` did not pass."""
    return Check(name, WARN, f"{NOT_CHECKED} {need} did not pass", f"fix {need} first")


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing failed (warnings allowed), 2 when a check failed."""
    return int(ExitCode.BAD_INPUT) if any(c.status == FAIL for c in checks) else int(ExitCode.OK)


def render_table(checks: Sequence[Check]) -> str:
    """A table for people: check, status, what was found, and under it how to fix it."""
    width = max([len("CHECK")] + [len(c.name) for c in checks])
    indent = " " * (width + len("  STATUS  "))
    lines = [f"{'CHECK'.ljust(width)}  STATUS  FOUND"]
    for check in checks:
        found = check.found.splitlines() or [""]
        lines.append(f"{check.name.ljust(width)}  {check.status.ljust(6)}  {found[0]}".rstrip())
        lines.extend(f"{indent}{line}" for line in found[1:])
        if check.fix and check.status != OK:
            lines.append(f"{indent}fix: {check.fix}")
    lines.append("")
    lines.append(summary_line(checks))
    return "\n".join(lines)


def summary_line(checks: Sequence[Check]) -> str:
    counts = _counts(checks)
    return f"{len(checks)} checks: {counts[OK]} ok, {counts[WARN]} warn, {counts[FAIL]} fail"


def _counts(checks: Sequence[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in STATUSES}


def render_json(checks: Sequence[Check]) -> str:
    """The `doctor --json` document: keys sorted, checks in run order (see README)."""
    document = {
        "schema": JSON_SCHEMA,
        "ok": not any(c.status == FAIL for c in checks),
        "counts": _counts(checks),
        "checks": [
            {"name": c.name, "status": c.status, "found": c.found, "fix": c.fix} for c in checks
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True)


def render_failures(checks: Sequence[Check], command: str) -> str:
    """Why `create`/`preview` stopped: each failed check with its fix, on one message."""
    failed = [c for c in checks if c.status == FAIL]
    lines = [f"{command} stopped before touching the stack: {len(failed)} preflight check(s) failed"]
    for check in failed:
        first, *more = check.found.splitlines() or [""]
        lines.append(f"  {check.name}: {first}")
        lines.extend(f"    {line}" for line in more)
        if check.fix:
            lines.append(f"    fix: {check.fix}")
    lines.append(
        "run `phoenix doctor` for every check, or pass --skip-preflight to go ahead anyway"
    )
    return "\n".join(lines)
