"""The reliability soak: feature lifecycles under random Octopus faults, then Pulumi's state against Octopus.

Workers run side by side, each in its own process with its own feature stack
in one shared file backend, through the same flows `python -m automation
create` and `destroy` use (`automation.stacks`, the real engine, no
preflight). A lifecycle is an `up` (create, or update a surviving feature to
a random release and revision), then either a destroy (the stack goes too) or
a change (another release, another tenant description, or both). The emulator
answers 5% of requests 503, drops 1% of connections (half of them after doing
the work) and delays every request. A failed operation is run again, as CI
would rerun the job, up to three attempts.

On S3 (`python -m bench soak-s3`, 60 lifecycles on 4 workers by default) the
stacks share a bucket of moto's S3 server instead, reached through the fault
proxy: the faults (same shares, 0-20 ms latency) hit the state backend, not
Octopus, so what fails is the CLI's talk to S3.

Pulumi's state is the truth. After every operation the worker re-reads
Octopus: the tenant, the one override the stack now records (with its
release) and the tenant's variables (the feature's URL, id and package
version), or after a destroy none of them; an override another writer
dropped in between shows here even when a later destroy would hide it. At the
end every tenant, override and tenant variable any stack records must exist
in Octopus exactly once, and Octopus must hold nothing else (no orphans, no
lost overrides or values, no duplicates), and no stack may hold pending
operations; `reap --dry-run --orphans` must find nothing to clean on either side.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from bench.faults import FaultRates, RandomFaults
from bench.report import Report
from bench.table import render

LIFECYCLES = 200
WORKERS = 8
QUICK_LIFECYCLES = 16
QUICK_WORKERS = 4
#: Releases each worker's feature can be moved between.
RELEASES = 4
#: Attempts per operation (the first and two reruns).
ATTEMPTS = 3
#: No new lifecycle starts after this long; the soak reports how far it got.
MAX_MINUTES = 60.0
#: The soak on the S3 backend: fewer lifecycles, and faults on S3 only.
S3_LIFECYCLES = 60
S3_WORKERS = 4
S3_RATES = FaultRates(unavailable=0.05, dropped=0.01, latency=(0.0, 0.02))

TENANT_TYPE = "pulumi-python:dynamic/octopus:Tenant"
OVERRIDE_TYPE = "pulumi-python:dynamic/octopus:AutoDeployOverride"
VARIABLES_TYPE = "pulumi-python:dynamic/octopus:TenantVariables"


def feature_of(worker: int) -> str:
    return f"soak{worker}"


def releases_of(worker: int) -> list[str]:
    return [f"1.0.{k}-{feature_of(worker)}" for k in range(RELEASES)]


# --- one worker, in its own process -----------------------------------------------------------


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    lifecycles: int
    seed: int
    work_dir: str
    defaults: str
    server_url: str
    project: str
    environment: str
    templates: dict = field(default_factory=dict)
    """builtin ("url", "feature", "packageVersion") -> template name, as the defaults file names them"""
    env: dict = field(repr=False, default_factory=dict)
    deadline: float = 0.0
    """time.time() after which no lifecycle starts; 0 for none"""


@dataclass
class WorkerReport:
    index: int
    lifecycles: int = 0
    operations: Counter = field(default_factory=Counter)
    reruns: int = 0
    unrecovered: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False
    checks: int = 0
    mismatches: list[str] = field(default_factory=list)
    unchecked: int = 0


def octopus_mismatch(client: Any, project: str, feature: str, tenant_id: Optional[str],
                     release_id: Optional[str], variables: Optional[Mapping[str, str]] = None,
                     environment: Optional[str] = None) -> Optional[str]:
    """How Octopus differs from what the operation just recorded for the feature, or None.

    After an up: the tenant `tenant_id` named for the feature, exactly one
    override for it naming `release_id`, and the tenant's `variables` (template
    name -> value) in `environment`. After a destroy (`release_id` None): no
    tenant of that name and no override left for the old tenant.
    """
    tenant = client.find_tenant(feature)
    found_project = client.find_project(project)
    entries = [
        entry for entry in found_project.get("AutoDeployReleaseOverrides") or ()
        if tenant_id and entry.get("TenantId") == tenant_id
    ]
    if release_id is None:
        if tenant is not None:
            return f"tenant {tenant['Id']} ({feature}) is still in Octopus after destroy"
        return f"{len(entries)} override(s) of the destroyed tenant {tenant_id} left" if entries else None
    if tenant is None or tenant["Id"] != tenant_id:
        return f"the state records tenant {tenant_id}, Octopus has {tenant['Id'] if tenant else 'none'} named {feature}"
    releases = [entry.get("ReleaseId") for entry in entries]
    if releases != [release_id]:
        return f"the state records override -> {release_id}, Octopus has {releases or 'none'} for {tenant_id}"
    if variables:
        names = {t.get("Id"): t.get("Name") for t in found_project.get("Templates") or ()}
        environment_id = client.find_environment(environment)["Id"]
        live = client.tenant_variable_values(tenant_id, found_project["Id"], environment_id)
        held = {names.get(template_id): value for template_id, value in live.items()}
        wrong = {name: held.get(name) for name, value in variables.items() if held.get(name) != value}
        if wrong:
            return f"the state records tenant variables {dict(variables)}, Octopus has {wrong} for {tenant_id}"
    return None


def run_worker(spec: WorkerSpec) -> WorkerReport:
    """Run one worker's lifecycles; every failure is recorded, none stops the worker."""
    from automation import stacks
    from automation.errors import classify
    from automation.feature import parse_feature
    from components.octopus.client import OctopusClient
    from components.octopus.errors import OctopusError
    from tests.engine.projects.octopus.program import feature_url

    os.environ.update(spec.env)
    rng = random.Random(spec.seed * 7919 + spec.index)
    report = WorkerReport(spec.index)
    releases = releases_of(spec.index)
    feature_id = feature_of(spec.index)
    log: list[str] = []

    def session(revision: int) -> Any:
        options = stacks.Options(
            work_dir=Path(spec.work_dir), defaults=spec.defaults, quiet=True, skip_preflight=True,
            overrides=(f"phoenix:tags.revision={revision}",),
        )
        return stacks.Session(options, log=log.append)

    def attempt(name: str, action: Any, lifecycle: int) -> Any:
        """The action's result once it succeeds; None when every attempt failed."""
        for number in range(1, ATTEMPTS + 1):
            started = time.monotonic()
            try:
                result = action()
            except Exception as error:  # noqa: BLE001 - every failure is counted, then rerun
                message = " / ".join(classify(error, stack=feature_id).message.splitlines()[:3])[:400]
                report.failures.append(f"worker {spec.index} lifecycle {lifecycle} {name} attempt {number}: {message}")
                if number < ATTEMPTS:
                    report.reruns += 1
                    continue
                report.unrecovered.append(report.failures[-1])
                return None
            finally:
                report.seconds.append(time.monotonic() - started)
            report.operations[name] += 1
            return result
        return None

    def verify(name: str, lifecycle: int, tenant_id: Optional[str], release_id: Optional[str],
               variables: Optional[Mapping[str, str]] = None) -> None:
        """Octopus right after the operation; the faults stay on, so the client retries through them."""
        try:
            with OctopusClient(spec.server_url, os.environ["OCTOPUS_API_KEY"], retries=8, backoff_factor=0.1) as client:
                mismatch = octopus_mismatch(client, spec.project, feature_id, tenant_id, release_id,
                                            variables, spec.environment)
        except OctopusError:
            report.unchecked += 1
            return
        report.checks += 1
        if mismatch:
            report.mismatches.append(f"worker {spec.index} lifecycle {lifecycle} after {name}: {mismatch}")

    def up(name: str, lifecycle: int) -> Optional[str]:
        """Create or change the feature; the tenant id the state now records."""
        done = attempt(name, lambda: stacks.create(session(revision), parse_feature(version)), lifecycle)
        if done is None:
            return None
        tenant_id, release_id = (done.outputs[key].value for key in ("tenant_id", "release_id"))
        known = {"url": feature_url(feature_id), "feature": feature_id, "packageVersion": version}
        verify(name, lifecycle, tenant_id, release_id,
               {template: known[key] for key, template in spec.templates.items()})
        return tenant_id

    revision = 0
    for lifecycle in range(spec.lifecycles):
        if spec.deadline and time.time() > spec.deadline:
            report.stopped_early = True
            break
        version = rng.choice(releases)
        tenant_id = up("up", lifecycle)
        if rng.random() < 0.5:
            destroyed = attempt("destroy", lambda: stacks.destroy(session(revision), parse_feature(feature_id)), lifecycle)
            if destroyed is not None:
                verify("destroy", lifecycle, tenant_id, None)
        else:
            what = rng.choice(("release", "description", "both"))
            if what in ("release", "both"):
                version = rng.choice([r for r in releases if r != version])
            if what in ("description", "both"):
                revision += 1
            up(f"change {what}", lifecycle)
        report.lifecycles += 1
    return report


# --- the truth: Pulumi's state against Octopus -------------------------------------------------


OverrideKey = tuple[str, str, str]
"""(project id, environment id, tenant id): an override's identity."""


@dataclass(frozen=True)
class Census:
    """Tenants and overrides as one side sees them; lists, so duplicates show."""

    tenants: tuple[tuple[str, str], ...]
    """(tenant id, name)"""
    overrides: tuple[tuple[OverrideKey, str], ...]
    """(identity, release id)"""
    variables: tuple[tuple[tuple[str, str], str], ...] = ()
    """((tenant id, template name), value)"""
    pending: int = 0
    """operations a stack left unfinished (state side only)"""


@dataclass(frozen=True)
class Reconciliation:
    state: Census
    octopus: Census

    def _ids(self, census: Census) -> Counter:
        return Counter(tenant_id for tenant_id, _ in census.tenants)

    @property
    def matched_tenants(self) -> int:
        return len(set(self._ids(self.state)) & set(self._ids(self.octopus)))

    @property
    def orphan_tenants(self) -> list[str]:
        """In Octopus, not in any stack's state."""
        known = set(self._ids(self.state))
        return sorted(f"{i} ({name})" for i, name in self.octopus.tenants if i not in known)

    @property
    def missing_tenants(self) -> list[str]:
        """In a stack's state, gone from Octopus."""
        live = set(self._ids(self.octopus))
        return sorted(f"{i} ({name})" for i, name in self.state.tenants if i not in live)

    @property
    def duplicate_tenants(self) -> list[str]:
        """A name Octopus holds twice, or a tenant two stacks both claim."""
        names = Counter(name.casefold() for _, name in self.octopus.tenants)
        claimed = self._ids(self.state)
        return sorted([f"name {n!r} x{c}" for n, c in names.items() if c > 1]
                      + [f"{i} claimed by {c} stacks" for i, c in claimed.items() if c > 1])

    @property
    def matched_overrides(self) -> int:
        live = dict(self.octopus.overrides)
        return sum(1 for key, release in set(self.state.overrides) if live.get(key) == release)

    @property
    def lost_overrides(self) -> list[str]:
        """Recorded in a stack, absent from the project or naming another release."""
        live = dict(self.octopus.overrides)
        return sorted(f"{'/'.join(key)} -> {release} (Octopus: {live.get(key) or 'none'})"
                      for key, release in set(self.state.overrides) if live.get(key) != release)

    @property
    def orphan_overrides(self) -> list[str]:
        recorded = {key for key, _ in self.state.overrides}
        return sorted(f"{'/'.join(key)} -> {release}" for key, release in self.octopus.overrides if key not in recorded)

    @property
    def duplicate_overrides(self) -> list[str]:
        return sorted(
            [f"{'/'.join(k)} x{c} in Octopus" for k, c in Counter(k for k, _ in self.octopus.overrides).items() if c > 1]
            + [f"{'/'.join(k)} x{c} in state" for k, c in Counter(k for k, _ in self.state.overrides).items() if c > 1]
        )

    @property
    def matched_variables(self) -> int:
        live = dict(self.octopus.variables)
        return sum(1 for key, value in set(self.state.variables) if live.get(key) == value)

    @property
    def lost_variables(self) -> list[str]:
        """Recorded in a stack, absent from the tenant or holding another value."""
        live = dict(self.octopus.variables)
        return sorted(f"{'/'.join(key)} = {value!r} (Octopus: {live.get(key)!r})"
                      for key, value in set(self.state.variables) if live.get(key) != value)

    @property
    def orphan_variables(self) -> list[str]:
        recorded = {key for key, _ in self.state.variables}
        return sorted(f"{'/'.join(key)} = {value!r}" for key, value in self.octopus.variables if key not in recorded)

    @property
    def duplicate_variables(self) -> list[str]:
        return sorted(
            [f"{'/'.join(k)} x{c} in Octopus" for k, c in Counter(k for k, _ in self.octopus.variables).items() if c > 1]
            + [f"{'/'.join(k)} x{c} in state" for k, c in Counter(k for k, _ in self.state.variables).items() if c > 1]
        )

    @property
    def problems(self) -> dict[str, list[str]]:
        found = {
            "orphan tenants": self.orphan_tenants,
            "missing tenants": self.missing_tenants,
            "duplicate tenants": self.duplicate_tenants,
            "lost overrides": self.lost_overrides,
            "orphan overrides": self.orphan_overrides,
            "duplicate overrides": self.duplicate_overrides,
            "lost tenant variables": self.lost_variables,
            "orphan tenant variables": self.orphan_variables,
            "duplicate tenant variables": self.duplicate_variables,
        }
        if self.state.pending:
            found["pending operations"] = [f"{self.state.pending} in the state"]
        return {kind: items for kind, items in found.items() if items}

    @property
    def ok(self) -> bool:
        return not self.problems


def census_of_state(deployments: Iterable[Mapping[str, Any]]) -> Census:
    """What the stacks' exported deployments record."""
    tenants, overrides, variables, pending = [], [], [], 0
    for deployment in deployments:
        pending += len(deployment.get("pending_operations") or ())
        for resource in deployment.get("resources") or ():
            outputs = resource.get("outputs") or {}
            if resource.get("type") == TENANT_TYPE:
                tenants.append((resource.get("id"), outputs.get("tenant_name")))
            elif resource.get("type") == OVERRIDE_TYPE:
                key = (outputs.get("project_id"), outputs.get("environment_id"), outputs.get("tenant_id"))
                overrides.append((key, outputs.get("release_id")))
            elif resource.get("type") == VARIABLES_TYPE:
                variables += [((outputs.get("tenant_id"), name), value)
                              for name, value in (outputs.get("values") or {}).items()]
    return Census(tuple(tenants), tuple(overrides), tuple(variables), pending)


def census_of_octopus(tenants: Sequence[Mapping[str, Any]], projects: Sequence[Mapping[str, Any]],
                      values: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> Census:
    """What Octopus holds: every tenant, every override on every project, every tenant variable.

    `values` pairs a tenant id with one of its values as the server holds it
    (`OctopusEmulator.tenant_values`: template name and value).
    """
    overrides = [
        ((project["Id"], entry.get("EnvironmentId"), entry.get("TenantId")), entry.get("ReleaseId"))
        for project in projects
        for entry in project.get("AutoDeployReleaseOverrides") or ()
    ]
    variables = [((tenant_id, value["Template"]), value["Value"]) for tenant_id, value in values]
    return Census(tuple((t["Id"], t["Name"]) for t in tenants), tuple(overrides), tuple(variables))


def census_of_emulator(emulator: Any) -> Census:
    """What the Octopus emulator holds, tenant variables included."""
    tenants = emulator.tenants()
    return census_of_octopus(
        tenants, emulator.projects(), [(t["Id"], v) for t in tenants for v in emulator.tenant_values(t["Id"])],
    )


def exported_deployments(work_dir: Any, env: Mapping[str, str]) -> list[dict]:
    """Every stack of the backend `env` names, exported (the engine's own view of its state)."""
    from pulumi import automation as auto

    from automation import pulumi_cli

    workspace = auto.LocalWorkspace(
        work_dir=str(work_dir), env_vars=dict(env), pulumi_command=pulumi_cli.pulumi_command(),
    )
    return [dict(workspace.export_stack(summary.name).deployment or {}) for summary in workspace.list_stacks()]


# --- running it ----------------------------------------------------------------------------------


def split(total: int, workers: int) -> list[int]:
    """Lifecycles per worker: as even as possible, the first ones take the remainder."""
    if total < 0 or workers < 1:
        raise ValueError("lifecycles must be >= 0 and workers >= 1")
    base, extra = divmod(total, workers)
    return [base + (1 if index < extra else 0) for index in range(workers)]


def run(*, quick: bool = False, lifecycles: Optional[int] = None, workers: Optional[int] = None,
        seed: int = 1, rates: Optional[FaultRates] = None, max_minutes: float = MAX_MINUTES,
        s3: bool = False) -> Report:
    """The soak on the file backend (faults on Octopus) or, with `s3`, on S3 (faults on S3)."""
    from bench.sandbox import sandbox
    from tests.octopus_emulator.faults import FaultPlan

    lifecycles = lifecycles if lifecycles is not None else (
        QUICK_LIFECYCLES if quick else S3_LIFECYCLES if s3 else LIFECYCLES)
    workers = workers or (QUICK_WORKERS if quick else S3_WORKERS if s3 else WORKERS)
    shares = split(lifecycles, workers)
    with sandbox(s3=s3) as box:
        for index in range(workers):
            box.seed_releases(*releases_of(index))
        plan = RandomFaults(rates or (S3_RATES if s3 else FaultRates()), seed)
        faulty = box.s3.proxy if s3 else box.emulator
        faulty.faults = plan
        env = box.env
        deadline = time.time() + max_minutes * 60
        specs = [
            WorkerSpec(index, shares[index], seed, str(box.work_dir), str(box.defaults), box.emulator.url,
                       box.names.project, box.names.environment, box.template_names(), env, deadline)
            for index in range(workers) if shares[index]
        ]
        started = time.monotonic()
        with ProcessPoolExecutor(max_workers=len(specs) or 1, mp_context=get_context("spawn")) as pool:
            reports = list(pool.map(run_worker, specs))
        elapsed = time.monotonic() - started
        faulty.faults = FaultPlan()
        log = faulty.log.records() if s3 else box.emulator.request_log
        reconciliation = Reconciliation(
            census_of_state(exported_deployments(box.work_dir, box.env)), census_of_emulator(box.emulator),
        )
        live_stacks = len(box.stacks())
        reap_found = reap_would_clean(box)
    return Report(_report(reports, reconciliation, plan, log, elapsed, workers, lifecycles, live_stacks,
                          reap_found, where="S3" if s3 else "Octopus"),
                  reconciliation.ok and not reap_found and not any(r.unrecovered or r.mismatches for r in reports))


def reap_would_clean(box: Any) -> list[str]:
    """What `reap --dry-run --orphans` would destroy or delete after the soak: it must be nothing."""
    import json

    done = box.cli("reap", "--dry-run", "--orphans", "--json", check=False)
    if done.returncode != 0:
        return [f"reap --dry-run --orphans exited {done.returncode}: {done.stderr.strip()[-300:]}"]
    return [f"{o['kind']} {o['feature']}: {o['reason']}" for o in json.loads(done.stdout)
            if o["action"] not in ("skipped", "kept")]


def _report(reports: Sequence[WorkerReport], rec: Reconciliation, plan: RandomFaults, log: Sequence[Any],
            elapsed: float, workers: int, asked: int, live_stacks: int, reap_found: Sequence[str] = (),
            where: str = "Octopus") -> str:
    operations: Counter = Counter()
    for report in reports:
        operations.update(report.operations)
    done = sum(r.lifecycles for r in reports)
    seconds = [s for r in reports for s in r.seconds]
    reruns = sum(r.reruns for r in reports)
    unrecovered = [u for r in reports for u in r.unrecovered]
    mismatches = [m for r in reports for m in r.mismatches]
    attempts = sum(operations.values()) + reruns + len(unrecovered)
    run_rows = [
        ("lifecycles (asked / done)", f"{asked} / {done}" + (" (stopped at the time limit)" if any(r.stopped_early for r in reports) else "")),
        ("workers (processes, one stack each)", workers),
        ("engine operations that succeeded", ", ".join(f"{n} {k}" for k, n in sorted(operations.items()))),
        ("attempts: all / rerun after a failure / never succeeded", f"{attempts} / {reruns} / {len(unrecovered)}"),
        ("wall time", f"{elapsed:.0f} s ({elapsed / 60:.1f} min)"),
        ("Octopus re-read after each operation: checks / mismatches / unreadable",
         f"{sum(r.checks for r in reports)} / {len(mismatches)} / {sum(r.unchecked for r in reports)}"),
        ("median attempt (one engine operation)", f"{statistics.median(seconds):.1f} s" if seconds else "-"),
        (f"{where} requests", len(log)),
        (f"faults injected on {where}", ", ".join(f"{n} {k}" for k, n in sorted(plan.injected.items())) or "none"),
        ("fault rates", plan.rates.describe()),
        ("`reap --dry-run --orphans` afterwards: would clean", len(reap_found)),
    ]
    state, octopus = rec.state, rec.octopus
    truth_rows = [
        ("tenants", len(state.tenants), len(octopus.tenants), rec.matched_tenants,
         len(rec.orphan_tenants), len(rec.missing_tenants), len(rec.duplicate_tenants)),
        ("overrides", len(state.overrides), len(octopus.overrides), rec.matched_overrides,
         len(rec.orphan_overrides), len(rec.lost_overrides), len(rec.duplicate_overrides)),
        ("tenant variables", len(state.variables), len(octopus.variables), rec.matched_variables,
         len(rec.orphan_variables), len(rec.lost_variables), len(rec.duplicate_variables)),
    ]
    ok = rec.ok and not mismatches and not unrecovered and not reap_found
    verdict = "PASS: Octopus holds exactly what Pulumi's state records" if ok else "FAIL"
    details = [f"{kind}: {', '.join(items[:5])}" for kind, items in rec.problems.items()]
    details += [f"never succeeded: {u}" for u in unrecovered[:5]]
    details += [f"mismatch: {m}" for m in mismatches[:5]]
    details += [f"reap --orphans would clean: {r}" for r in reap_found[:5]]
    failures = [f for r in reports for f in r.failures]
    if failures:
        details.append(f"failed attempts (first {min(5, len(failures))} of {len(failures)}):")
        details += [f"  {f}" for f in failures[:5]]
    title = "Reliability soak" + (" on the S3 backend" if where == "S3" else "")
    return "\n".join([
        render(f"{title}: the run", ["", "value"], run_rows, wrap=90),
        render(
            f"{title}: Pulumi's state ({live_stacks} stacks left) against Octopus",
            ["", "in state", "in Octopus", "matched", "orphans", "lost/missing", "duplicates"],
            truth_rows,
            note="\n".join([verdict, *details, f"pending operations in the state: {state.pending}"]),
            wrap=120,
        ),
    ])
