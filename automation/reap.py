"""Reaping expired features: which stacks go (pure), and running their destroys.

A feature expires when its last update is older than its TTL (`phoenix:ttl`
recorded with the stack, else the default; `--older-than` overrides both).
Kept features (the live branches CI passes in) and stacks being updated
right now are never touched. One failing destroy does not stop the others.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from automation.errors import ExitCode, InputError, classify
from automation.feature import FeatureError, parse_feature, validate_feature_id

_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

DESTROY, KEEP, SKIP = "destroy", "keep", "skip"


def parse_duration(text: str) -> timedelta:
    """`72h`, `30m`, `7d`, `1h30m`, `0s` -> timedelta; ValueError names the bad text."""
    cleaned = text.strip().lower()
    if not cleaned or _DURATION_PART.sub("", cleaned):
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit s, m, h, d or w, e.g. 72h or 1h30m"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(cleaned))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


@dataclass(frozen=True)
class Decision:
    """What reap does with one stack, and why."""

    feature: str
    action: str
    reason: str
    expires: Optional[datetime] = None


def _ttl_of(config: Mapping[str, Any], default: timedelta) -> tuple[timedelta, str]:
    recorded = config.get("phoenix:ttl")
    if isinstance(recorded, str) and recorded:
        try:
            return parse_duration(recorded), f"its ttl {recorded}"
        except ValueError:
            return default, f"the default ttl {format_duration(default)} (its ttl {recorded!r} is invalid)"
    return default, f"the default ttl {format_duration(default)}"


def expiry(last_update: Optional[datetime], ttl: timedelta) -> Optional[datetime]:
    return last_update + ttl if last_update is not None else None


def plan(
    stacks: Iterable[Any],
    *,
    now: datetime,
    keep: Iterable[str] = (),
    older_than: Optional[timedelta] = None,
    default_ttl: timedelta,
) -> list[Decision]:
    """Decide for each stack (objects with name, last_update, update_in_progress, config)."""
    kept = set(keep)
    decisions = []
    for info in sorted(stacks, key=lambda item: item.name):
        if older_than is not None:
            ttl, why = older_than, f"--older-than {format_duration(older_than)}"
        else:
            ttl, why = _ttl_of(info.config, default_ttl)
        expires = expiry(info.last_update, ttl)
        try:
            validate_feature_id(info.name)
        except FeatureError:
            decisions.append(Decision(info.name, SKIP, "not a feature stack (its name is no feature id)", expires))
            continue
        if info.name in kept:
            decisions.append(Decision(info.name, KEEP, "kept (--keep / --keep-file)", expires))
        elif info.update_in_progress:
            decisions.append(Decision(info.name, SKIP, "an update is running", expires))
        elif info.last_update is None:
            decisions.append(Decision(info.name, DESTROY, "never updated", None))
        elif now >= expires:
            decisions.append(
                Decision(info.name, DESTROY, f"last updated {info.last_update:%Y-%m-%d %H:%M} UTC, past {why}", expires)
            )
        else:
            decisions.append(Decision(info.name, SKIP, f"not expired ({why})", expires))
    return decisions


def read_keep_file(path: str) -> set[str]:
    """Feature ids (or package versions naming them), one a line; `#` starts a comment."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"--keep-file {path}: {error.strerror or error}") from None
    features = set()
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            features.add(parse_feature(entry).id)
        except FeatureError as error:
            raise InputError(f"--keep-file {path}, line {number}: {error}") from None
    return features


def keep_set(keep: Sequence[str], keep_files: Sequence[str]) -> set[str]:
    features = set()
    for entry in keep:
        try:
            features.add(parse_feature(entry).id)
        except FeatureError as error:
            raise InputError(f"--keep {entry!r}: {error}") from None
    for path in keep_files:
        features |= read_keep_file(path)
    return features


@dataclass(frozen=True)
class Outcome:
    feature: str
    action: str
    """destroyed | failed | kept | skipped | planned (--dry-run)"""
    reason: str
    code: int = 0


def run(
    decisions: Sequence[Decision],
    destroy: Callable[[str], Any],
    *,
    parallel: int = 1,
    dry_run: bool = False,
    report: Optional[Callable[[Outcome], None]] = None,
) -> list[Outcome]:
    """Destroy the expired features, up to `parallel` at once, past any failure."""
    if parallel < 1:
        raise InputError("--parallel must be at least 1")

    def emit(outcome: Outcome) -> Outcome:
        if report:
            report(outcome)
        return outcome

    outcomes: dict[str, Outcome] = {}
    doomed = [d for d in decisions if d.action == DESTROY]
    for decision in decisions:
        if decision.action == KEEP:
            outcomes[decision.feature] = emit(Outcome(decision.feature, "kept", decision.reason))
        elif decision.action == SKIP:
            outcomes[decision.feature] = emit(Outcome(decision.feature, "skipped", decision.reason))
        elif dry_run:
            outcomes[decision.feature] = emit(Outcome(decision.feature, "planned", decision.reason))

    def one(decision: Decision) -> Outcome:
        try:
            destroy(decision.feature)
        except BaseException as error:  # noqa: BLE001 - every failure is reported, none stops the rest
            if isinstance(error, (SystemExit,)):
                raise
            failure = classify(error, stack=decision.feature)
            return emit(Outcome(decision.feature, "failed", failure.message, int(failure.code)))
        return emit(Outcome(decision.feature, "destroyed", decision.reason))

    if doomed and not dry_run:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="reap") as pool:
            for outcome in pool.map(one, doomed):
                outcomes[outcome.feature] = outcome
    return [outcomes[d.feature] for d in decisions if d.feature in outcomes]


def exit_code(outcomes: Sequence[Outcome]) -> ExitCode:
    """1 when any destroy failed (130 if interrupted), else 0."""
    codes = {o.code for o in outcomes if o.action == "failed"}
    if int(ExitCode.INTERRUPTED) in codes:
        return ExitCode.INTERRUPTED
    return ExitCode.FAILED if codes else ExitCode.OK
