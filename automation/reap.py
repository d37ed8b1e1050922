"""Reaping expired features: which stacks go (pure), and running their destroys.

A feature expires its TTL after its last update (`phoenix:ttl` recorded with the
stack, else the default; `--older-than` overrides both), or later when `extend`
or activity recorded a later expiry (automation/lifetime.py). Pinned features,
kept ones (the live branches CI passes in) and stacks being updated right now
are never touched. One failing destroy does not stop the others.

Reaping fails closed: a keep-list that is empty, or keeps none of many features,
stops the run before anything changes (the Argo CD pull-request generator once
deleted every app when the SCM answered "0 pull requests"); `--max-destroy`
caps what one run deletes, the rest left for the next.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from automation.errors import ExitCode, InputError, classify
from automation.feature import FeatureError, parse_feature, validate_feature_id
from automation.lifetime import format_duration, lifetime_of, parse_duration

DESTROY, KEEP, SKIP, LEFT = "destroy", "keep", "skip", "left"
#: What a decision is about: a feature's stack, or an Octopus tenant phoenix made that has no stack.
STACK, TENANT = "stack", "tenant"
#: A keep-list that keeps none of more feature stacks than this is taken for a broken list.
KEEP_NOTHING_THRESHOLD = 3
#: How many features (and orphan tenants) one run deletes at most, unless --max-destroy says otherwise.
DEFAULT_MAX_DESTROY = 10
ALLOW_EMPTY_FLAG = "--allow-empty-keep-list"


@dataclass(frozen=True)
class Decision:
    """What reap does with one stack (or orphan tenant), and why."""

    feature: str
    action: str
    reason: str
    expires: Optional[datetime] = None
    kind: str = STACK
    target_id: Optional[str] = None
    """The orphan tenant's Octopus id (kind TENANT)."""


def _ttl_of(config: Mapping[str, Any], default: timedelta) -> tuple[timedelta, str]:
    recorded = config.get("phoenix:ttl")
    if isinstance(recorded, str) and recorded:
        try:
            return parse_duration(recorded), f"its ttl {recorded}"
        except ValueError:
            return default, f"the default ttl {format_duration(default)} (its ttl {recorded!r} is invalid)"
    return default, f"the default ttl {format_duration(default)}"


def plan(
    stacks: Iterable[Any],
    *,
    now: datetime,
    keep: Iterable[str] = (),
    older_than: Optional[timedelta] = None,
    default_ttl: timedelta,
    orphans: Mapping[str, str] = {},  # noqa: B006 - read only
) -> list[Decision]:
    """Decide for each stack (objects with name, last_update, update_in_progress, config, tags).

    `orphans` maps a stack's name to why it is an orphan (its tenant is gone):
    such a stack goes even before it expires, unless pinned, kept or updating.
    """
    kept = set(keep)
    decisions = []
    for info in sorted(stacks, key=lambda item: item.name):
        if older_than is not None:
            ttl, why = older_than, f"--older-than {format_duration(older_than)}"
        else:
            ttl, why = _ttl_of(info.config, default_ttl)
        lifetime = lifetime_of(info.tags, last_update=info.last_update, ttl=ttl)
        expires = lifetime.expires
        try:
            validate_feature_id(info.name)
        except FeatureError:
            decisions.append(Decision(info.name, SKIP, "not a feature stack (its name is no feature id)", expires))
            continue
        if lifetime.pinned:
            decisions.append(Decision(info.name, KEEP, "pinned (`phoenix unkeep` releases it)", expires))
        elif info.name in kept:
            decisions.append(Decision(info.name, KEEP, "kept (--keep / --keep-file)", expires))
        elif info.update_in_progress:
            decisions.append(Decision(info.name, SKIP, "an update is running", expires))
        elif info.name in orphans:
            decisions.append(Decision(info.name, DESTROY, f"orphan: {orphans[info.name]}", expires))
        elif expires is None:
            decisions.append(Decision(info.name, DESTROY, "never updated"))
        elif now >= expires:
            if lifetime.extended_until == expires:
                because = f"extended to {expires:%Y-%m-%d %H:%M} UTC, now past"
            else:
                because = f"last updated {info.last_update:%Y-%m-%d %H:%M} UTC, past {why}"
            decisions.append(Decision(info.name, DESTROY, because, expires))
        else:
            decisions.append(Decision(info.name, SKIP, f"not expired ({why}; until {expires:%Y-%m-%d %H:%M} UTC)", expires))
    return decisions


def orphan_tenants(tenants: Iterable[Mapping[str, Any]], stack_names: Iterable[str]) -> list[Decision]:
    """Tenants phoenix made (components/octopus/tenant.py's mark) whose feature has no stack."""
    from components.octopus.tenant import made_by_phoenix

    names = set(stack_names)
    return sorted(
        (
            Decision(
                str(tenant["Name"]), DESTROY,
                f"orphan: Octopus tenant {tenant['Name']!r} ({tenant['Id']}) was made by phoenix and has no stack: "
                "delete it with its machines and override",
                kind=TENANT, target_id=str(tenant["Id"]),
            )
            for tenant in tenants
            if made_by_phoenix(tenant) and tenant.get("Name") not in names
        ),
        key=lambda decision: decision.feature,
    )


def check_keep_list(
    keep: set[str], *, given: bool, feature_stacks: Iterable[str], allow_empty: bool,
    sources: Sequence[str] = (),
) -> None:
    """Refuse (exit 2) a keep-list that is empty or keeps none of many features.

    A list that was never given is no list: reap then goes by expiry alone.
    """
    if not given or allow_empty:
        return
    named = " and ".join(sources) or "the keep-list"
    features = set(feature_stacks)
    if not keep:
        raise InputError(
            f"{named} names no feature: reap refuses to run on an empty keep-list (the list of live branches "
            f"may have come back empty); pass {ALLOW_EMPTY_FLAG} if that is what you mean"
        )
    if len(features) > KEEP_NOTHING_THRESHOLD and not keep & features:
        raise InputError(
            f"{named} keeps none of the {len(features)} feature stacks: reap refuses, since a list of live "
            f"branches that matches nothing is more likely broken than true; pass {ALLOW_EMPTY_FLAG} to reap anyway"
        )


def cap(decisions: Sequence[Decision], max_destroy: int) -> list[Decision]:
    """At most `max_destroy` deletions, longest expired first (orphans after); the rest are left."""
    if max_destroy < 0:
        raise InputError("--max-destroy must not be negative")
    doomed = [d for d in decisions if d.action == DESTROY]
    order = sorted(doomed, key=lambda d: (d.kind != STACK, d.expires is not None, d.expires or datetime.min, d.feature))
    chosen = {(d.kind, d.feature) for d in order[:max_destroy]}
    return [
        d if d.action != DESTROY or (d.kind, d.feature) in chosen
        else replace(d, action=LEFT, reason=f"{d.reason}; left for the next run (--max-destroy {max_destroy})")
        for d in decisions
    ]


def read_keep_file(path: str) -> set[str]:
    """Feature ids (or package versions naming them), one a line; `#` starts a comment."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"--keep-file {path}: {error.strerror or error}") from None
    features = set()
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.partition("#")[0].strip()
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
    """destroyed | failed | kept | skipped | left (over --max-destroy) | planned (--dry-run)"""
    reason: str
    code: int = 0
    kind: str = STACK


_REPORTED = {KEEP: "kept", SKIP: "skipped", LEFT: "left"}


def run(
    decisions: Sequence[Decision],
    destroy: Callable[[Decision], Any],
    *,
    parallel: int = 1,
    dry_run: bool = False,
    report: Optional[Callable[[Outcome], None]] = None,
) -> list[Outcome]:
    """Destroy the expired features (and orphans), up to `parallel` at once, past any failure."""
    if parallel < 1:
        raise InputError("--parallel must be at least 1")

    def emit(outcome: Outcome) -> Outcome:
        if report:
            report(outcome)
        return outcome

    outcomes: dict[tuple[str, str], Outcome] = {}
    doomed = [d for d in decisions if d.action == DESTROY]
    for decision in decisions:
        action = _REPORTED.get(decision.action) or ("planned" if dry_run else None)
        if action:
            outcomes[decision.kind, decision.feature] = emit(
                Outcome(decision.feature, action, decision.reason, kind=decision.kind)
            )

    def one(decision: Decision) -> Outcome:
        try:
            destroy(decision)
        except BaseException as error:  # noqa: BLE001 - every failure is reported, none stops the rest
            if isinstance(error, (SystemExit,)):
                raise
            failure = classify(error, stack=decision.feature)
            return emit(Outcome(decision.feature, "failed", failure.message, int(failure.code), kind=decision.kind))
        return emit(Outcome(decision.feature, "destroyed", decision.reason, kind=decision.kind))

    if doomed and not dry_run:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            for outcome in pool.map(one, doomed):
                outcomes[outcome.kind, outcome.feature] = outcome
    return [outcomes[d.kind, d.feature] for d in decisions if (d.kind, d.feature) in outcomes]


def exit_code(outcomes: Sequence[Outcome]) -> ExitCode:
    """1 when any destroy failed (130 if interrupted), else 0."""
    codes = {o.code for o in outcomes if o.action == "failed"}
    if int(ExitCode.INTERRUPTED) in codes:
        return ExitCode.INTERRUPTED
    return ExitCode.FAILED if codes else ExitCode.OK
