"""Octopus calls per operation: the emulator's request log next to the minimum the API needs.

Each provider operation runs in this process against the emulator, exactly as
the engine calls it (check's inputs into create, create's outputs into read,
update and delete). Every logged request is put in a *purpose* (space look-up,
project by name, the tenant PUT, ...); an operation's minimum is a count per
purpose, and each purpose above the minimum carries the reason it is there.
A purpose above the minimum without a reason is printed as UNEXPLAINED.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from bench.report import Report
from bench.table import render


@dataclass(frozen=True)
class Purpose:
    """What a request is for, recognised by its method and path."""

    name: str
    method: str
    pattern: str

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.search(self.pattern, path) is not None


PURPOSES: tuple[Purpose, ...] = (
    Purpose("space", "GET", r"^/api/spaces(/[^/]+)?$"),
    Purpose("project by name", "GET", r"/projects$"),
    Purpose("every project", "GET", r"/projects/all$"),
    Purpose("environment by name", "GET", r"/environments$"),
    Purpose("tenant by name", "GET", r"/tenants$"),
    Purpose("tenant", "GET", r"/tenants/Tenants-\d+$"),
    Purpose("POST tenant", "POST", r"/tenants$"),
    Purpose("PUT tenant", "PUT", r"/tenants/Tenants-\d+$"),
    Purpose("DELETE tenant", "DELETE", r"/tenants/Tenants-\d+$"),
    Purpose("release by version", "GET", r"/projects/[^/]+/releases/[^/]+$"),
    Purpose("releases", "GET", r"/projects/[^/]+/releases$"),
    Purpose("project", "GET", r"/projects/Projects-\d+$"),
    Purpose("PUT project", "PUT", r"/projects/Projects-\d+$"),
    Purpose("tenant's machines", "GET", r"/machines$"),
    Purpose("DELETE machine", "DELETE", r"/machines/[^/]+$"),
    Purpose("feature toggles", "GET", r"^/api/configuration/feature-toggles$"),
    # One purpose per meaning on both tenant variable APIs: the per-project list and the whole document.
    Purpose("tenant's variables", "GET", r"/tenants/Tenants-\d+/(project)?variables$"),
    Purpose("PUT tenant's variables", "PUT", r"/tenants/Tenants-\d+/(project)?variables$"),
)

#: The tenant variable API a server has; rows for the older one carry this suffix.
DOCUMENT_API = ", document API"


def purpose_of(method: str, path: str) -> str:
    """The purpose of one request; an unknown one is named by its method and path."""
    for purpose in PURPOSES:
        if purpose.matches(method, path):
            return purpose.name
    return f"{method} {path}"


def tally(records: Iterable[Any]) -> Counter:
    """Requests per purpose; records are the emulator's (method, path, status) log entries.

    Requests that got no answer (a dropped connection, status 0) or a fault
    status count too: each one was a round trip.
    """
    return Counter(purpose_of(record[0], record[1]) for record in records)


@dataclass(frozen=True)
class Operation:
    """One provider (or engine) operation: its minimum and why each extra request is made."""

    name: str
    minimum: Mapping[str, int]
    why_minimum: str
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    operation: Operation
    counts: Counter

    @property
    def requests(self) -> int:
        return sum(self.counts.values())

    @property
    def minimum(self) -> int:
        return sum(self.operation.minimum.values())

    def extras(self) -> dict[str, int]:
        return {
            purpose: count - self.operation.minimum.get(purpose, 0)
            for purpose, count in self.counts.items()
            if count > self.operation.minimum.get(purpose, 0)
        }

    def missing(self) -> dict[str, int]:
        """Purposes the minimum needs that the operation did not send: the minimum is wrong."""
        return {
            purpose: need - self.counts.get(purpose, 0)
            for purpose, need in self.operation.minimum.items()
            if self.counts.get(purpose, 0) < need
        }

    def unexplained(self) -> list[str]:
        return [purpose for purpose in self.extras() if purpose not in self.operation.reasons]

    def explanation(self) -> str:
        lines = []
        for purpose, count in self.extras().items():
            reason = self.operation.reasons.get(purpose, "UNEXPLAINED")
            lines.append(f"+{count} {purpose}: {reason}")
        for purpose, count in self.missing().items():
            lines.append(f"-{count} {purpose}: below the stated minimum (the minimum is wrong)")
        return "\n".join(lines) or "-"


SPACE = "the space is configured by name; ids are per server"
TOGGLES = ("which tenant variable API the server has (its feature toggles), asked once per client: "
           "the provider holds no client between operations")
RECORDED_SPACE = "the recorded space id is confirmed to exist"

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "tenant check",
            {},
            "0: checking inputs needs no server",
            {
                "space": SPACE,
                "project by name": "an unknown project becomes a CheckFailure at preview, not a failed up",
                "environment by name": "an unknown environment becomes a CheckFailure at preview",
            },
        ),
        Operation(
            "tenant create",
            {"space": 1, "project by name": 1, "environment by name": 1, "POST tenant": 1},
            "4: the space id, the project and environment ids ProjectEnvironments needs, the POST",
            {"tenant by name": "a tenant of that name is adopted or refused by name before the POST "
                               "(the POST alone cannot adopt)"},
        ),
        Operation(
            "tenant read",
            {"tenant": 1},
            "1: GET the tenant by the id in the state",
            {"space": "the recorded space id is confirmed to exist (a deleted space reads as gone)"},
        ),
        Operation(
            "tenant update",
            {"tenant": 1, "PUT tenant": 1},
            "2: PUT carries the whole tenant, so GET it first (ids are in the state)",
            {
                "space": "the recorded space id is confirmed to exist",
                "project by name": "names are resolved again: a project renamed or recreated in Octopus gets its new id",
                "environment by name": "as for the project",
            },
        ),
        Operation(
            "tenant delete",
            {"DELETE tenant": 1},
            "1: DELETE by id",
            {
                "space": "the recorded space id is confirmed to exist",
                "tenant": "the tenant's projects name the overrides to remove; a tenant already gone is fine",
                "tenant's machines": "machines registered for this tenant alone are deleted with it",
                "project": "an override still naming the tenant is removed, so none points at a deleted tenant",
            },
        ),
        Operation(
            "tenant variables check",
            {},
            "0: checking inputs needs no server",
            {
                "space": SPACE,
                "project by name": "the templates are on the project: a missing one, or one of the wrong "
                                   "sensitivity, becomes a CheckFailure at preview",
                "environment by name": "an unknown environment becomes a CheckFailure at preview",
            },
        ),
        Operation(
            "tenant variables create",
            {"space": 1, "project by name": 1, "environment by name": 1, "tenant's variables": 1,
             "PUT tenant's variables": 1},
            "5: space, project (its template ids) and environment ids; the tenant's variables, then one "
            "write: both APIs replace the whole set, so every other value is sent back as read",
            {"feature toggles": TOGGLES},
        ),
        Operation(
            "tenant variables read",
            {"tenant's variables": 1},
            "1: the tenant's variables (template ids are in the state)",
            {"space": RECORDED_SPACE, "feature toggles": TOGGLES},
        ),
        Operation(
            "tenant variables diff",
            {},
            "0: comparing inputs needs no server",
            {
                "tenant's variables": "a value edited in Octopus is drift: read back on every diff, so "
                                      "preview shows it without a refresh",
                "space": RECORDED_SPACE,
                "feature toggles": TOGGLES,
            },
        ),
        Operation(
            "tenant variables update",
            {"tenant's variables": 1, "PUT tenant's variables": 1},
            "2: read the whole set, write it back with the changed values",
            {
                "space": RECORDED_SPACE,
                "feature toggles": TOGGLES,
                "project": "template names are resolved again: one renamed or recreated in Octopus gets its new id",
            },
        ),
        Operation(
            "tenant variables delete",
            {"tenant's variables": 1, "PUT tenant's variables": 1},
            "2: read the whole set, write it back without this resource's values",
            {"space": RECORDED_SPACE, "feature toggles": TOGGLES},
        ),
        Operation(
            "override check",
            {},
            "0: checking inputs needs no server",
            {
                "space": SPACE,
                "project by name": "an unknown project becomes a CheckFailure at preview",
                "environment by name": "an unknown environment becomes a CheckFailure at preview",
                "release by version": "a release not yet published becomes a CheckFailure at preview",
                "tenant": "an unknown tenant id becomes a CheckFailure (known only once the tenant exists)",
            },
        ),
        Operation(
            "override create",
            {"space": 1, "project by name": 1, "environment by name": 1, "release by version": 1,
             "PUT project": 1},
            "5: space, project, environment and release ids, then one PUT of the project "
            "(the name search returns the whole project document to modify)",
            {
                "tenant": "the tenant must be connected to the project and environment, "
                          "else Octopus ignores the override silently: a clear error instead",
                "project": "1 fresh read just before the write and 1 read 0.25 s after it: a concurrent "
                           "writer's PUT (no concurrency token on projects) is detected and re-applied",
            },
        ),
        Operation(
            "override read",
            {"project": 1},
            "1: the override lives on the project document",
            {"space": "the recorded space id is confirmed to exist"},
        ),
        Operation(
            "override update",
            {"release by version": 1, "project": 1, "PUT project": 1},
            "3: the new release's id, then read-modify-write of the project",
            {
                "space": "the recorded space id is confirmed to exist",
                "project": "1 read 0.25 s after the PUT verifies that no concurrent writer dropped the entry",
            },
        ),
        Operation(
            "override delete",
            {"project": 1, "PUT project": 1},
            "2: read-modify-write of the project",
            {
                "space": "the recorded space id is confirmed to exist",
                "project": "1 read 0.25 s after the PUT verifies that no concurrent writer put the entry back",
            },
        ),
    )
}


# --- measuring --------------------------------------------------------------------------------


def _checked(result: Any) -> dict[str, Any]:
    if result.failures:
        raise RuntimeError("check failed: " + "; ".join(f"{f.property}: {f.reason}" for f in result.failures))
    return dict(result.inputs)


def provider_counts(box: Any) -> dict[str, Counter]:
    """Requests per purpose for each provider operation, in the order the engine runs them."""
    from pulumi.dynamic import Config, ConfigureRequest

    from components.octopus.override import AutoDeployOverrideProvider
    from components.octopus.tenant import TenantProvider
    from components.octopus.tenant_variables import TenantVariablesProvider

    emulator = box.emulator
    feature, version, next_version = "calls0001", "1.0.0-calls0001", "1.0.1-calls0001"
    box.seed_releases(version, next_version)
    config = {"octopus:serverUrl": emulator.url, "octopus:apiKey": emulator.api_key, "octopus:space": "Default"}

    def configured(provider: Any) -> Any:
        provider.configure(ConfigureRequest(Config(raw_config=config, project_name="phoenix")))
        return provider

    tenants, overrides = configured(TenantProvider()), configured(AutoDeployOverrideProvider())
    counts: dict[str, Counter] = {}

    def measure(name: str, call: Callable[[], Any]) -> Any:
        emulator.clear_log()
        result = call()
        counts[name] = tally(emulator.request_log)
        return result

    tenant_news = {
        "tenant_name": feature, "projects": [box.names.project], "environments": [box.names.environment],
        "description": "Feature environment", "tenant_tags": [], "space": None, "adopt_existing": False,
    }
    tenant_inputs = _checked(measure("tenant check", lambda: tenants.check({}, tenant_news)))
    created = measure("tenant create", lambda: tenants.create(tenant_inputs))
    tenant_id, tenant_outs = created.id, created.outs
    measure("tenant read", lambda: tenants.read(tenant_id, tenant_outs))
    changed = _checked(tenants.check(tenant_outs, {**tenant_news, "description": "changed"}))
    tenant_outs = {**tenant_outs, **measure("tenant update", lambda: tenants.update(tenant_id, tenant_outs, changed)).outs}

    override_news = {
        "project": box.names.project, "environment": box.names.environment, "tenant_id": tenant_id,
        "release_version": version, "space": None,
    }
    override_inputs = _checked(measure("override check", lambda: overrides.check({}, override_news)))
    made = measure("override create", lambda: overrides.create(override_inputs))
    override_id, override_outs = made.id, made.outs
    measure("override read", lambda: overrides.read(override_id, override_outs))
    bumped = _checked(overrides.check(override_outs, {**override_news, "release_version": next_version}))
    override_outs = {**override_outs, **measure("override update", lambda: overrides.update(override_id, override_outs, bumped)).outs}
    measure("override delete", lambda: overrides.delete(override_id, override_outs))

    templates = list(box.template_names().values())
    for suffix, per_project in (("", True), (DOCUMENT_API, False)):
        emulator.project_variables = per_project
        variables = configured(TenantVariablesProvider())
        variable_news = {
            "tenant_id": tenant_id, "project": box.names.project, "environment": box.names.environment,
            "values": {name: f"{feature}-value" for name in templates}, "sensitive": {}, "space": None,
        }
        variable_inputs = _checked(measure("tenant variables check" + suffix, lambda: variables.check({}, variable_news)))
        made = measure("tenant variables create" + suffix, lambda: variables.create(variable_inputs))
        variables_id, variables_outs = made.id, made.outs
        measure("tenant variables read" + suffix, lambda: variables.read(variables_id, variables_outs))
        measure("tenant variables diff" + suffix, lambda: variables.diff(variables_id, variables_outs, variable_inputs))
        changed_values = {**variable_news, "values": {name: "changed" for name in templates}}
        changed_inputs = _checked(variables.check(variables_outs, changed_values))
        variables_outs = {**variables_outs, **measure(
            "tenant variables update" + suffix, lambda: variables.update(variables_id, variables_outs, changed_inputs)
        ).outs}
        measure("tenant variables delete" + suffix, lambda: variables.delete(variables_id, variables_outs))
    emulator.project_variables = True
    measure("tenant delete", lambda: tenants.delete(tenant_id, tenant_outs))
    if emulator.tenants() or box.overrides() or emulator.state.tenant_values:
        raise RuntimeError("the measured operations left a tenant, an override or a tenant variable behind")
    return counts


def engine_counts(box: Any) -> list[tuple[str, Counter, str]]:
    """Requests per whole engine operation of the test project: (operation, counts, changes)."""
    from bench.raw_up import stack as feature_stack
    from bench.raw_up import up

    emulator = box.emulator
    feature, version, next_version = "engine0001", "1.0.0-engine0001", "1.0.1-engine0001"
    box.seed_releases(version, next_version)
    env = box.env
    rows: list[tuple[str, Counter, str]] = []

    def record(name: str, call: Callable[[], Any]) -> None:
        emulator.clear_log()
        result = call()
        summary = getattr(result, "summary", None)
        changes = dict(summary.resource_changes or {}) if summary else {}
        rows.append((name, tally(emulator.request_log), ", ".join(f"{k} {v}" for k, v in sorted(changes.items()))))

    record("up: create all", lambda: up(box.work_dir, env, feature, box.stack_config(feature, version)))
    record("up: no change", lambda: up(box.work_dir, env, feature, box.stack_config(feature, version)))
    record("up: new release", lambda: up(box.work_dir, env, feature, box.stack_config(feature, next_version)))
    stack = feature_stack(box.work_dir, env, feature)
    record("refresh", lambda: stack.refresh(color="never"))
    record("destroy", lambda: stack.destroy(color="never"))
    stack.workspace.remove_stack(feature)
    return rows


def verdict_for(name: str, counts: Counter) -> Verdict:
    """A measured row against its operation; rows on the document API share the operation's minimum."""
    return Verdict(OPERATIONS[name.removesuffix(DOCUMENT_API)], counts)


def _counts_text(counts: Counter) -> str:
    return ", ".join(f"{count} {purpose}" for purpose, count in counts.items())


def run(*, quick: bool = False) -> Report:
    from bench.sandbox import sandbox

    with sandbox() as box:
        measured = provider_counts(box)
        engine_rows = engine_counts(box)
    verdicts = [(name, verdict_for(name, counts)) for name, counts in measured.items()]
    unexplained = [name for name, v in verdicts if v.unexplained() or v.missing()]
    rows = [
        (name, v.requests, v.minimum, v.operation.why_minimum, v.explanation())
        for name, v in verdicts
    ]
    tables = [
        render(
            "2a. Octopus requests per provider operation (the emulator's request log)",
            ["operation", "requests", "minimum", "why that minimum", "above the minimum, and why"],
            rows,
            wrap=42,
            note=(
                "The space is configured by name; every operation builds its client afresh (the provider\n"
                "holds no session), so each resolves the space once. "
                + (f"UNEXPLAINED or wrong minimum: {', '.join(unexplained)}" if unexplained
                   else "Every request above the minimum is explained.")
            ),
        ),
        render(
            "2b. Octopus requests per engine operation (tenant, its variables and override: the test project)",
            ["engine operation", "resource changes", "requests", "by purpose"],
            [(name, changes, sum(counts.values()), _counts_text(counts)) for name, counts, changes in engine_rows],
            wrap=60,
            note="An `up` runs check() for every resource, and diff() (which reads the tenant's variables back),\n"
                 "then create/update only where something changed.",
        ),
    ]
    return Report("\n".join(tables), ok=not unexplained)
