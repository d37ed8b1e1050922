"""The Markdown change summary CI shows next to a run (`--summary`, GITHUB_STEP_SUMMARY).

Rendering is pure so tests can read the exact Markdown; `append` is the only I/O.
Secret outputs are rendered masked, never as values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

#: Order in which change kinds are listed; anything else follows alphabetically.
OPERATION_ORDER = (
    "create", "update", "replace", "create-replacement", "delete-replaced",
    "delete", "import", "refresh", "read", "same",
)
_VERBS = {
    "create": "to create", "update": "to update", "replace": "to replace",
    "delete": "to delete", "same": "unchanged", "read": "to read", "import": "to import",
}
_PAST = {
    "create": "created", "update": "updated", "replace": "replaced",
    "delete": "deleted", "same": "unchanged", "read": "read", "import": "imported",
}
SECRET_MASK = "[secret]"


@dataclass(frozen=True)
class Step:
    """One resource the operation touched (or would touch)."""

    op: str
    type: str
    name: str


@dataclass(frozen=True)
class Output:
    value: Any
    secret: bool = False


@dataclass(frozen=True)
class Expiry:
    """When a feature expires, and how to keep it longer (automation/lifetime.py)."""

    feature: str
    expires: Optional[datetime]
    pinned: bool
    ttl: str
    max_ttl: str

    def describe(self) -> str:
        if self.pinned:
            return f"never: pinned (`phoenix unkeep {self.feature}` releases it)"
        when = f"{self.expires:%Y-%m-%d %H:%M} UTC" if self.expires else "unknown"
        return (
            f"{when} ({self.ttl} after its last update); `phoenix extend {self.feature} 48h` moves it "
            f"(at most {self.max_ttl} ahead), `phoenix keep {self.feature}` pins it"
        )


@dataclass(frozen=True)
class Report:
    """What one command did to one feature's stack."""

    command: str
    feature: str
    result: str
    package_version: Optional[str] = None
    changes: Mapping[str, int] = field(default_factory=dict)
    steps: Sequence[Step] = ()
    outputs: Mapping[str, Output] = field(default_factory=dict)
    duration_seconds: Optional[float] = None
    message: str = ""
    preview: bool = False
    estimate: Optional[Any] = None
    """`automation.cost.estimate.Estimate` of what the feature declares (create, preview)."""
    expires: Optional[Expiry] = None
    """When the feature expires (create); the summary says how to extend it."""


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value) if value is not None else ""
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return text


def _code(value: Any) -> str:
    text = _cell(value)
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _ordered(changes: Mapping[str, int]) -> list[tuple[str, int]]:
    known = [(op, changes[op]) for op in OPERATION_ORDER if changes.get(op)]
    rest = sorted((op, n) for op, n in changes.items() if op not in OPERATION_ORDER and n)
    return known + rest


def describe_changes(changes: Mapping[str, int], *, preview: bool) -> str:
    """`2 to create, 1 unchanged` (preview) or `2 created, 1 unchanged` (update)."""
    words = _VERBS if preview else _PAST
    parts = [f"{count} {words.get(op, op)}" for op, count in _ordered(changes)]
    return ", ".join(parts) if parts else "no resources"


def has_changes(changes: Mapping[str, int]) -> bool:
    """Whether a change summary holds anything but unchanged resources."""
    return any(count for op, count in changes.items() if op != "same")


def render(report: Report) -> str:
    """The Markdown for one report; ends with a blank line so reports can be appended."""
    lines = [
        f"### phoenix {report.command} `{_cell(report.feature)}`: {_cell(report.result)}",
        "",
        "| | |",
        "| --- | --- |",
        f"| Stack | {_code(report.feature)} |",
    ]
    if report.package_version:
        lines.append(f"| Package version | {_code(report.package_version)} |")
    if report.changes or report.result in ("succeeded", "no changes", "changes"):
        lines.append(f"| Changes | {describe_changes(report.changes, preview=report.preview)} |")
    if report.duration_seconds is not None:
        lines.append(f"| Duration | {report.duration_seconds:.0f} s |")
    if report.message:
        lines.append(f"| Message | {_cell(report.message)} |")
    if report.estimate is not None:
        from automation.cost.render import markdown

        lines += ["", markdown(report.estimate).rstrip("\n")]
    if report.expires is not None:
        lines.append(f"| Expires | {_cell(report.expires.describe())} |")
    changed = [step for step in report.steps if step.op != "same"]
    if changed:
        lines += ["", "| Operation | Type | Resource |", "| --- | --- | --- |"]
        lines += [f"| {_cell(s.op)} | {_code(s.type)} | {_code(s.name)} |" for s in changed]
    if report.outputs:
        lines += ["", "| Output | Value |", "| --- | --- |"]
        for name in sorted(report.outputs):
            output = report.outputs[name]
            value = SECRET_MASK if output.secret else output.value
            lines.append(f"| {_code(name)} | {_code(value)} |")
    return "\n".join(lines) + "\n\n"


#: Where each summary target comes from, as warnings name it.
SUMMARY_FLAG = "--summary"
STEP_SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"


def summary_targets(path: Optional[str], environ: Mapping[str, str]) -> list[Path]:
    """Where to write: --summary FILE and GITHUB_STEP_SUMMARY, each once."""
    return [target for target, _ in _sourced_targets(path, environ)]


def _sourced_targets(path: Optional[str], environ: Mapping[str, str]) -> list[tuple[Path, str]]:
    targets: list[tuple[Path, str]] = []
    for candidate, source in ((path, SUMMARY_FLAG), (environ.get(STEP_SUMMARY_VARIABLE), STEP_SUMMARY_VARIABLE)):
        if candidate:
            resolved = Path(candidate).expanduser().absolute()
            if resolved not in [target for target, _ in targets]:
                targets.append((resolved, source))
    return targets


@dataclass(frozen=True)
class SummaryFailure:
    """A summary target that could not be written, and where it was named."""

    path: Path
    source: str
    error: OSError

    def warning(self) -> str:
        reason = self.error.strerror or str(self.error)
        return f"warning: could not write the summary to {self.path} ({self.source}): {reason}"


def append(
    markdown: str, path: Optional[str], environ: Optional[Mapping[str, str]] = None
) -> tuple[list[Path], list[SummaryFailure]]:
    """Append the Markdown to every target, each tried on its own; (written, failed)."""
    written: list[Path] = []
    failed: list[SummaryFailure] = []
    for target, source in _sourced_targets(path, os.environ if environ is None else environ):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a", encoding="utf-8") as handle:
                handle.write(markdown)
        except OSError as error:
            failed.append(SummaryFailure(target, source, error))
        else:
            written.append(target)
    return written, failed


def render_reap(outcomes: Sequence[Any], *, dry_run: bool = False) -> str:
    """Markdown for one reap: every stack it looked at and what became of it."""
    title = "### phoenix reap" + (" (dry run)" if dry_run else "")
    if not outcomes:
        return f"{title}\n\nNo feature stacks.\n\n"
    lines = [title, "", "| Feature | Result | Why |", "| --- | --- | --- |"]
    lines += [f"| {_code(o.feature)} | {_cell(o.action)} | {_cell(o.reason)} |" for o in outcomes]
    return "\n".join(lines) + "\n\n"
