"""What each command does to a feature's stack, on top of the engine.

Every flow validates first (feature, defaults.yaml, flags, secrets, the
engine's prerequisites) and touches a stack only once all of that passed, so
bad input leaves nothing half created. The config written to a stack is
rebuilt from scratch every time (CI workspaces are thrown away).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from automation import config as stack_config
from automation.errors import InputError, OperationFailed
from automation.feature import Feature, FeatureError, parse_feature, parse_version
from automation.lifetime import format_duration, parse_duration
from automation.reap import Decision, Outcome
from automation.summary import Expiry, Output, Report, has_changes

#: The TTL used when neither the stack nor defaults.yaml records one.
FALLBACK_TTL = "72h"

Log = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class Options:
    """The options every stack command shares (see cli.py for their help)."""

    work_dir: Path
    backend: Optional[str] = None
    defaults: Optional[str] = None
    overrides: tuple[str, ...] = ()
    wait_lock: float = 0.0
    quiet: bool = False
    verbose: bool = False
    color: bool = False
    skip_preflight: bool = False
    needs_passphrase: bool = True
    """list and outputs read no secret, so they need no passphrase."""
    refresh_image: bool = False


class Session:
    """One command's context: its options, environment and (lazily) its engine."""

    def __init__(
        self, options: Options, *, environ: Optional[Mapping[str, str]] = None, log: Log,
        run_log: Optional[Any] = None,
    ) -> None:
        self.options = options
        self.environ = dict(os.environ if environ is None else environ)
        self.log = log
        self.run_log = run_log
        self._engine: Any = None
        self._engine_lock = threading.Lock()

    @cached_property
    def sources(self) -> stack_config.Sources:
        return stack_config.load(self.options.work_dir, self.options.overrides, self.options.defaults)

    @cached_property
    def backend(self):
        from automation.engine import resolve_backend

        return resolve_backend(self.options.backend, self.environ, self.options.work_dir)

    @property
    def engine(self):
        """The engine, built once; building it checks the passphrase, project and CLI."""
        with self._engine_lock:
            if self._engine is None:
                from automation.engine import Engine, local_backend_warning

                warning = local_backend_warning(self.backend, self.environ)
                if warning:
                    self.log(warning)
                self._engine = Engine(
                    self.options.work_dir, self.backend, log=self.log,
                    environ=self.environ, quiet=self.options.quiet, verbose=self.options.verbose,
                    color=self.options.color, run_log=self.run_log,
                    needs_passphrase=self.options.needs_passphrase,
                )
            return self._engine

    def package_version(self, feature: Feature) -> str:
        """--version, else FEATURE when it is a version, else Octopus' newest release for it."""
        if feature.package_version:
            return feature.package_version
        secrets = stack_config.read_secrets(self.environ, require=True)
        self.log(f"[{feature.id}] looking up the newest release naming {feature.id!r} in Octopus")
        version = stack_config.find_package_version(self.sources, feature, secrets["octopus:apiKey"])
        self.log(f"[{feature.id}] package version {version}")
        return version

    def stack_config(
        self, feature: Feature, package_version: Optional[str], *, extra: Sequence[str] = (),
        runs_program: bool = True,
        image_id: Optional[str] = None,
    ) -> stack_config.StackConfig:
        """The feature's validated stack config; `extra` adds --set style overrides, `image_id` the pinned image."""
        sources = self.sources
        if extra:
            sources = stack_config.load(
                self.options.work_dir, (*self.options.overrides, *extra), self.options.defaults
            )
        return stack_config.build(
            sources, feature, package_version=package_version, environ=self.environ,
            runs_program=runs_program, image_id=image_id,
        )

    def estimate(self, feature: Feature, config: stack_config.StackConfig, *, extra: Sequence[str] = ()) -> Optional[Any]:
        """The feature's cost estimate (automation/cost), refused with exit 2 when over its budget."""
        from automation.cost.feature_cost import checked_estimate

        def sources_with(more: Sequence[str]) -> stack_config.Sources:
            return stack_config.load(
                self.options.work_dir, (*self.options.overrides, *extra, *more), self.options.defaults
            )

        found = checked_estimate(
            feature, sources=sources_with(()) if extra else self.sources, work_dir=self.options.work_dir,
            environ=self.environ,
            budget=config.settings.max_cost_per_day, sources_with=sources_with,
            warn=lambda text: self.log(f"[{feature.id}] warning: {text}"),
        )
        return found

    def default_ttl(self) -> timedelta:
        text = self.sources.ttl or FALLBACK_TTL
        try:
            return parse_duration(text)
        except ValueError as error:
            raise InputError(f"feature.ttl: {error}") from None

    def max_ttl(self) -> timedelta:
        """How far `extend` may move an expiry (feature.maxTtl)."""
        from automation.lifetime import FALLBACK_MAX_TTL, parse_bound

        return parse_bound(self.sources.max_ttl or FALLBACK_MAX_TTL, "feature.maxTtl")


#: An interrupted update may have created the feature's tenant in Octopus without
#: recording it; the run that recovers adopts it instead of failing on its name.
ADOPT_TENANT = "phoenix:octopus.adoptExistingTenant=true"


def interrupted_tenant_create(pending: Sequence[Mapping[str, Any]]) -> bool:
    return any(
        op.get("type") == "creating"
        and str((op.get("resource") or {}).get("type", "")).endswith("/octopus:Tenant")
        for op in pending
    )


def _elapsed(start: float) -> float:
    return time.monotonic() - start


def _stack_missing(error: BaseException) -> bool:
    return type(error).__name__ == "StackNotFoundError"


def _removed_meanwhile(engine: Any, name: str, error: BaseException) -> bool:
    """Whether an engine command failed because another runner removed the stack while this one waited.

    The CLI says so outright ("no stack named"), or, when the removal fell
    between its stack lookup and its checkpoint read, only that the
    checkpoint could not be loaded: a fresh lookup decides.
    """
    if _stack_missing(error):
        return True
    if "CommandError" not in {cls.__name__ for cls in type(error).__mro__}:
        return False
    try:
        engine.select(name)
    except Exception as again:  # noqa: BLE001 - only "missing" answers the question
        return _stack_missing(again)
    return False


# --- create / preview / destroy ----------------------------------------------------------------


#: The doctor check that asks Octopus who this run's key belongs to.
KEY_CHECK = "octopus.user"
#: The key check guards an operation, so it rides out a busy Octopus as the operation's own client
#: does (doctor alone asks once: it must answer quickly).
KEY_CHECK_RETRIES = 4


def require_accepted_key(ctx: Any, command: str) -> None:
    """Ask Octopus whether it accepts this run's OCTOPUS_API_KEY, before any stack is touched.

    Every Octopus operation, destroy and reap included, uses the key of this
    run (never one recorded in the state), so a refused key stops the command
    here with exit 2 naming the variable, and the stack stays as it was.
    """
    from automation import doctor

    ctx = replace(ctx, octopus_retries=max(ctx.octopus_retries, KEY_CHECK_RETRIES))
    failed = [check for check in doctor.run_checks(ctx, "all", only=(KEY_CHECK,)) if check.status == doctor.FAIL]
    if failed:
        check = failed[0]
        raise InputError(
            f"{command} stopped before touching anything: {check.name}: {check.found}"
            + (f"\n  fix: {check.fix}" if check.fix else "")
        )


#: The stack-config key `sleep` writes and `wake` drops (components/settings.py reads it).
ASLEEP = "phoenix:asleep"


def deployed_config(session: Session, feature: Feature) -> dict[str, Any]:
    """The plain config of the feature's last successful update; empty when it has no stack yet."""
    engine = session.engine
    if engine.holds_no_stack():
        return {}
    try:
        return engine.record(feature.stack_name).deployed_config
    except Exception as error:  # noqa: BLE001 - a stack that does not exist yet has none
        if _stack_missing(error) or "no stack named" in str(error):
            return {}
        raise


def is_asleep(deployed: Mapping[str, Any]) -> bool:
    return deployed.get(ASLEEP) in (True, "true")


def _prepare(session: Session, feature: Feature, command: str, *, asleep: Optional[bool] = None):
    """Everything `create` and `preview` check before touching a stack, cheapest first.

    The preflight runs before Octopus is asked for the feature's newest release:
    when Octopus is not set up, the checks' table says what to fix (its release
    check finds that version itself) instead of the look-up's first error.
    """
    config = session.stack_config(feature, feature.package_version)  # config, flags and secrets
    engine = session.engine  # passphrase, project, Pulumi CLI
    # Asleep stays asleep until `wake`: create and preview carry the recorded state on.
    deployed = deployed_config(session, feature)
    state = (f"{ASLEEP}=true",) if (is_asleep(deployed) if asleep is None else asleep) else ()
    if state:
        config = session.stack_config(feature, feature.package_version, extra=state)
    estimate = session.estimate(feature, config, extra=state)  # the budget refuses before anything is touched
    from automation import doctor

    ctx = doctor.context_for_stack(session, config, feature.package_version)
    if session.options.skip_preflight:
        require_accepted_key(ctx, command)
    else:
        if command == "create":
            ids, creating = engine.stack_tenants(feature.stack_name)
            ctx = replace(ctx, stack_tenant_ids=ids, stack_creating_tenants=creating)
        checks = doctor.preflight(ctx, command)
        for check in checks:
            if check.status == doctor.WARN:
                session.log(f"[{feature.id}] warning: {check.name}: {check.found}")
        if not any(check.name == KEY_CHECK for check in checks):  # preview's scope has no Octopus checks
            require_accepted_key(ctx, command)
    version = session.package_version(feature)  # Octopus, when no version was given
    from automation import image

    choice = image.choose_for(session, feature, config.settings, refresh=session.options.refresh_image)
    session.log(f"[{feature.id}] {choice.reason}")
    if version != feature.package_version or choice.image_id:
        config = session.stack_config(feature, version, extra=state, image_id=choice.image_id)
    if estimate is not None:  # shown once the checks passed: a refused run starts with its error
        from automation.cost.render import headline

        session.log(f"[{feature.id}] {headline(estimate)}")
    return config, engine, version, choice.image_id, estimate, state, deployed


def cost_record(estimate: Any, deployed: Mapping[str, Any]) -> dict[str, Any]:
    """This update's cost record (automation/cost/ledger.py), carried on from the last deployed one."""
    if estimate is None:
        return {}
    from automation.cost.ledger import COST_KEY, next_record

    return {COST_KEY: next_record(deployed.get(COST_KEY), estimate.per_day, datetime.now(timezone.utc))}


def _recorded(config: stack_config.StackConfig, record: Mapping[str, Any]) -> stack_config.StackConfig:
    return replace(config, values={**config.values, **record}) if record else config


def create(session: Session, feature: Feature, *, asleep: Optional[bool] = None, command: str = "create") -> Report:
    """Create or update the feature's stack; a second run with the same input changes nothing.

    `asleep` None keeps the state the last update recorded; `sleep` and `wake` set it.
    """
    config, engine, version, image_id, estimate, state, deployed = _prepare(session, feature, "create", asleep=asleep)
    start = time.monotonic()
    wait = session.options.wait_lock
    with engine.interruptible():
        stack, created = engine.create_or_select(feature.stack_name)
        if created:
            session.log(f"[{feature.id}] created stack {feature.stack_name}")
        try:
            cost = cost_record(estimate, {} if created else deployed)
            engine.write_config(stack, _recorded(config, cost))
            pending = engine.recover(stack, wait_seconds=wait)
            if interrupted_tenant_create(pending):
                session.log(
                    f"[{feature.id}] the interrupted update was creating tenant {feature.tenant_name!r}: "
                    "this run adopts it if Octopus has it"
                )
                engine.write_config(stack, _recorded(
                    session.stack_config(feature, version, extra=(ADOPT_TENANT, *state), image_id=image_id), cost
                ))
            result, steps = engine.up(stack, wait_seconds=wait)
        except BaseException:
            if created:
                _remove_if_empty(session, engine, stack, feature)
            raise
    from automation.engine import outputs_of

    return Report(
        command=command,
        feature=feature.id,
        result=result.summary.result,
        package_version=version,
        changes=dict(result.summary.resource_changes or {}),
        steps=steps,
        outputs=outputs_of(result.outputs),
        duration_seconds=_elapsed(start),
        estimate=estimate,
        expires=_expiry_after_update(session, engine, feature, config),
    )


def _expiry_after_update(session: Session, engine: Any, feature: Feature, config: Any):
    """When the feature just updated expires (its TTL from now, or a later extension), for the summary."""
    from automation.lifetime import lifetime_of, utcnow

    _, ttl = _ttl_text(config.values.get("phoenix:ttl"), session.default_ttl())
    try:
        tags = engine.tags(feature.stack_name)
    except Exception as error:  # noqa: BLE001 - the update succeeded; the expiry line is a courtesy
        session.log(f"[{feature.id}] warning: could not read the stack's tags for its expiry: {error}")
        tags = {}
    lifetime = lifetime_of(tags, last_update=utcnow(), ttl=ttl)
    return Expiry(feature.id, lifetime.expires, lifetime.pinned, format_duration(ttl),
                  format_duration(session.max_ttl()))


def preview(session: Session, feature: Feature, *, diff: bool = False) -> Report:
    """The change set `create` would make; nothing changes (a stack made for it is removed)."""
    config, engine, version, _, estimate, _, _ = _prepare(session, feature, "preview")
    start = time.monotonic()
    with engine.interruptible():
        stack, created = engine.create_or_select(feature.stack_name)
        try:
            engine.write_config(stack, config)
            result, steps = engine.preview(stack, diff=diff, wait_seconds=session.options.wait_lock)
        finally:
            if created:
                engine.remove(stack)
    changes = dict(result.change_summary or {})
    return Report(
        command="preview",
        feature=feature.id,
        result="changes" if has_changes(changes) else "no changes",
        package_version=version,
        changes=changes,
        steps=steps,
        duration_seconds=_elapsed(start),
        preview=True,
        estimate=estimate,
    )


def set_asleep(session: Session, feature: Feature, *, asleep: bool) -> Report:
    """`sleep` / `wake`: an ordinary update of an existing feature with the state recorded in its config.

    The package version is the one deployed (waking needs no new release). A
    sleeping feature's machines are removed from Octopus, so the machine policy
    finds none unavailable; waking registers new ones and the project trigger
    deploys the override's release to them, as on create.
    """
    command = "sleep" if asleep else "wake"
    engine = session.engine
    missing = InputError(f"feature {feature.id!r} has no stack: create it first (`phoenix list` shows those that do)")
    if engine.holds_no_stack():
        raise missing
    try:
        engine.select(feature.stack_name)
    except Exception as error:
        if _stack_missing(error):
            raise missing from None
        raise
    version = feature.package_version or _recorded_version(session, feature)
    if version is None:
        raise InputError(f"feature {feature.id!r} was never deployed: create it before it can {command}")
    report = create(session, replace(feature, package_version=version), asleep=asleep, command=command)
    if asleep:
        removed = _remove_machines(session, report)
        session.log(f"[{feature.id}] removed {len(removed)} machine{'' if len(removed) == 1 else 's'} from Octopus")
    else:
        record_activity(session, feature)  # waking counts as activity: the TTL counts from now
    return report


def _remove_machines(session: Session, report: Report) -> list[str]:
    """The sleeping feature's deployment targets, deleted from Octopus (those of its tenant alone)."""
    from components.octopus.client import OctopusClient
    from components.octopus.tenant import deregister_machines

    tenant = report.outputs.get("tenant_id")
    if tenant is None or tenant.value is None:
        return []
    server_url, space, _ = session.sources.octopus_target()
    api_key = stack_config.read_secrets(session.environ, require=True)["octopus:apiKey"]
    with OctopusClient(server_url, api_key, space) as client:
        return deregister_machines(client, str(tenant.value))


def _remove_if_empty(session: Session, engine: Any, stack: Any, feature: Feature) -> None:
    """After a failed first create: a stack that holds nothing is removed, so no environment
    that never existed is listed. One that holds anything stays, for the next run to continue."""
    try:
        if not engine.holds_nothing(stack):
            return
        engine.remove(stack, force=True)
    except Exception as error:  # noqa: BLE001 - the create's own failure is what to report
        session.log(f"[{feature.id}] warning: could not remove the empty stack this create made: {error}")
        return
    session.log(f"[{feature.id}] the create failed before anything was created: removed its stack")


def _recorded_version(session: Session, feature: Feature) -> Optional[str]:
    """The package version deployed (the last update that succeeded), if it names this feature."""
    recorded = session.engine.record(feature.stack_name).deployed_config.get("phoenix:packageVersion")
    if not isinstance(recorded, str):
        return None
    try:
        return recorded if parse_version(recorded).feature_tag == feature.id else None
    except FeatureError:
        return None


class NotConfirmed(OperationFailed):
    """The person at the terminal did not confirm a destroy."""


def destroy(session: Session, feature: Feature, *, confirm: Optional[Callable[[str], bool]] = None) -> Report:
    """Destroy everything the feature's stack holds, then remove the stack.

    A feature without a stack is reported, not an error. `confirm` is asked
    once the stack is found and this run's key accepted, before anything changes.
    """
    # Validate before looking at any stack; the recorded version may refine it below.
    # Destroy never runs the program: it needs no registration key.
    config = session.stack_config(feature, feature.package_version, runs_program=False)
    engine = session.engine
    start = time.monotonic()
    with engine.interruptible():
        try:
            stack = engine.select(feature.stack_name)
        except Exception as error:
            if not _stack_missing(error):
                raise
            return Report(
                command="destroy", feature=feature.id, result="absent",
                message=f"feature {feature.id!r} has no stack; nothing to destroy",
            )
        wait = session.options.wait_lock
        try:
            version = feature.package_version or _recorded_version(session, feature)
            if version and version != feature.package_version:
                config = session.stack_config(feature, version, runs_program=False)
            from automation import doctor

            require_accepted_key(doctor.context_for_stack(session, config, version), "destroy")
            if confirm is not None:
                deployed = f", package {version}" if version else ""
                if not confirm(
                    f"Destroy feature {feature.id!r} (stack {stack.name}{deployed}): its AWS resources, "
                    "Octopus tenant and override?"
                ):
                    raise NotConfirmed(f"destroy of {feature.id!r} was not confirmed: nothing was changed")
            engine.write_config(stack, config)
            engine.recover(stack, wait_seconds=wait)
            result, steps, gone = engine.destroy(stack, wait_seconds=wait, refresh=True)
        except Exception as error:
            if not _removed_meanwhile(engine, feature.stack_name, error):
                raise
            return Report(
                command="destroy", feature=feature.id, result="absent",
                message=f"feature {feature.id!r}: another run removed its stack meanwhile; nothing to destroy",
            )
        try:
            engine.remove(stack, wait_seconds=wait)
        except Exception as error:
            if not _removed_meanwhile(engine, feature.stack_name, error):
                raise
    missing = found_missing(gone)
    if missing:
        session.log(f"[{feature.id}] {missing}")
    return Report(
        command="destroy",
        feature=feature.id,
        result="destroyed",
        package_version=version,
        changes=dict(result.summary.resource_changes or {}),
        steps=steps,
        duration_seconds=_elapsed(start),
        message="stack removed" + (f"; {missing}" if missing else ""),
    )


#: Gone by design, not by hand: Octopus clears an override once its release is deployed (reference §6).
_GONE_BY_DESIGN = ("/octopus:AutoDeployOverride",)


def found_missing(gone: Sequence[Any]) -> str:
    """What destroy's refresh found deleted outside phoenix (in Octopus or AWS), in one sentence."""
    named = [
        f"{step.type.rsplit(':', 1)[-1]} {step.name}" for step in gone
        if not step.type.endswith(_GONE_BY_DESIGN)
    ]
    return f"already deleted outside phoenix: {', '.join(named)}" if named else ""


# --- reading ------------------------------------------------------------------------------------


def _of_existing_stack(session: Session, feature: Feature, read: Callable[[str], Any]) -> Any:
    """`read(stack name)`; a feature without a stack is bad input (exit 2)."""
    missing = InputError(f"feature {feature.id!r} has no stack (`phoenix list` shows those that do)")
    if session.engine.holds_no_stack():
        raise missing
    try:
        return read(feature.stack_name)
    except Exception as error:
        if _stack_missing(error):
            raise missing from None
        raise


def outputs(session: Session, feature: Feature) -> dict[str, Output]:
    return _of_existing_stack(session, feature, session.engine.outputs)


@dataclass(frozen=True)
class FeatureRow:
    """One line of `list`: what is deployed, and what the last operation did."""

    feature: str
    package_version: Optional[str]
    """The version of the last update that succeeded (None: nothing was ever deployed)."""
    url: Optional[str]
    last_update: Optional[datetime]
    ttl: str
    expires: Optional[datetime]
    resources: Optional[int]
    updating: bool
    last_operation: Optional[Any] = None
    """`automation.engine.LastOperation`: command, result, when."""
    cost: Optional[Mapping[str, Any]] = None
    """The cost record the deployed update wrote (automation/cost/ledger.py)."""
    asleep: bool = False
    """The deployed update put the feature to sleep (`sleep`); `wake` brings it back."""
    awake_hours: Optional[str] = None
    """The deployed feature.awakeHours (None or empty: always awake)."""

    def schedule(self, now: datetime) -> Optional[tuple[bool, str, datetime]]:
        """(awake now, "wakes"/"sleeps", when) under the deployed awake hours; None without them or asleep."""
        from components.awake import AwakeHoursError, parse_awake_hours

        try:
            hours = parse_awake_hours(self.awake_hours)
        except AwakeHoursError:
            return None
        if hours is None or self.asleep:
            return None
        transition, moment = hours.next_transition(now)
        return hours.awake_at(now), transition, moment

    def cost_per_day(self) -> Optional[float]:
        from automation.cost.ledger import per_day

        return per_day(self.cost)

    def cost_so_far(self, now: datetime) -> Optional[float]:
        from automation.cost.ledger import accumulated

        return accumulated(self.cost, now)
    pinned: bool = False
    """`keep` pinned it: reap never takes it."""

    @property
    def status(self) -> str:
        """live, updating, `<command> failed` (e.g. create failed), or never deployed."""
        last = self.last_operation
        if self.updating or (last is not None and last.result == "in-progress"):
            return "updating"
        if last is not None and last.result == "failed":
            return f"{last.command} failed"
        if self.package_version is None:
            return "never deployed"
        if self.asleep:
            return "asleep"
        schedule = self.schedule(datetime.now(timezone.utc))
        return "live" if schedule is None or schedule[0] else "asleep (awake hours)"

    def as_json(self) -> dict[str, Any]:
        last = self.last_operation
        return {
            "feature": self.feature,
            "status": self.status,
            "packageVersion": self.package_version,
            "url": self.url,
            "lastUpdate": self.last_update.isoformat() if self.last_update else None,
            "lastOperation": {
                "command": last.command,
                "result": last.result,
                "at": last.at.isoformat() if last.at else None,
            } if last else None,
            "ttl": self.ttl,
            "expires": self.expires.isoformat() if self.expires else None,
            "pinned": self.pinned,
            "resources": self.resources,
            "updateInProgress": self.updating,
            "estimate": self.estimate_json(datetime.now(timezone.utc)),
            "awakeHours": self.awake_hours or None,
            "next": self.next_json(datetime.now(timezone.utc)),
        }

    def next_json(self, now: datetime) -> Optional[dict[str, Any]]:
        schedule = self.schedule(now)
        if schedule is None:
            return None
        return {"transition": schedule[1], "at": schedule[2].isoformat()}

    def estimate_json(self, now: datetime) -> Optional[dict[str, Any]]:
        per_day, so_far = self.cost_per_day(), self.cost_so_far(now)
        if per_day is None:
            return None
        return {"perDay": round(per_day, 2), "accumulated": None if so_far is None else round(so_far, 2),
                "currency": "USD"}


def _ttl_text(recorded: Any, default: timedelta) -> tuple[str, timedelta]:
    if isinstance(recorded, str):
        try:
            return recorded, parse_duration(recorded)
        except ValueError:
            pass
    return format_duration(default), default


def _plain_output(outputs_: Mapping[str, Output], name: str) -> Optional[str]:
    output = outputs_.get(name)
    if output is None or output.secret or output.value is None:
        return None
    return str(output.value)


def _lifetime(info: Any, default_ttl: timedelta):
    from automation.lifetime import lifetime_of

    _, ttl = _ttl_text(info.config.get("phoenix:ttl"), default_ttl)
    return lifetime_of(info.tags, last_update=info.last_update, ttl=ttl)


def list_features(
    session: Session, *, expiring: Optional[timedelta] = None, now: Optional[datetime] = None
) -> list[FeatureRow]:
    """Every feature stack; with `expiring`, only those reap may take within that window."""
    from automation.lifetime import utcnow
    from automation.cost.ledger import COST_KEY

    default_ttl = session.default_ttl()
    now = now or utcnow()
    rows = []
    for info in session.engine.infos(with_outputs=True):
        ttl_text, _ = _ttl_text(info.config.get("phoenix:ttl"), default_ttl)
        lifetime = _lifetime(info, default_ttl)
        if expiring is not None and not lifetime.expiring(now, expiring):
            continue
        version = info.deployed_config.get("phoenix:packageVersion")
        rows.append(
            FeatureRow(
                feature=info.name,
                package_version=version if isinstance(version, str) else None,
                url=_plain_output(info.outputs, "url"),
                last_update=info.last_update,
                ttl=ttl_text,
                expires=lifetime.expires,
                resources=info.resource_count,
                updating=info.update_in_progress,
                last_operation=info.last_operation,
                cost=info.deployed_config.get(COST_KEY),
                asleep=is_asleep(info.deployed_config),
                awake_hours=info.deployed_config.get("phoenix:awakeHours") or None,
                pinned=lifetime.pinned,
            )
        )
    return rows


# --- lifetime: extend, keep, unkeep, activity ------------------------------------------------------


def _stack_info(session: Session, feature: Feature) -> Any:
    return _of_existing_stack(session, feature, session.engine.info)


def _lifetime_row(session: Session, feature: Feature) -> Expiry:
    info = _stack_info(session, feature)
    default_ttl = session.default_ttl()
    lifetime = _lifetime(info, default_ttl)
    return Expiry(feature.id, lifetime.expires, lifetime.pinned, format_duration(lifetime.ttl),
                  format_duration(session.max_ttl()))


def extend(session: Session, feature: Feature, duration: timedelta) -> Expiry:
    """Record activity and move the expiry to DURATION from now (never earlier; at most feature.maxTtl)."""
    from automation.lifetime import EXPIRES_TAG, extended, format_moment, utcnow

    max_ttl = session.max_ttl()
    info = _stack_info(session, feature)
    lifetime = _lifetime(info, session.default_ttl())
    expires = extended(lifetime, now=utcnow(), duration=duration, max_ttl=max_ttl)
    session.engine.set_tag(feature.stack_name, EXPIRES_TAG, format_moment(expires))
    session.log(f"[{feature.id}] expiry recorded in the stack: {format_moment(expires)}")
    return _lifetime_row(session, feature)


def record_activity(session: Session, feature: Feature) -> Expiry:
    """Activity (`wake`): the TTL counts from now; an expiry already later stays."""
    from automation.lifetime import EXPIRES_TAG, after_activity, format_moment, utcnow

    info = _stack_info(session, feature)
    lifetime = _lifetime(info, session.default_ttl())
    expires = after_activity(lifetime, now=utcnow(), max_ttl=session.max_ttl())
    session.engine.set_tag(feature.stack_name, EXPIRES_TAG, format_moment(expires))
    return _lifetime_row(session, feature)


def pin(session: Session, feature: Feature, *, pinned: bool) -> Expiry:
    """`keep` (pinned) or `unkeep`: recorded in the stack, so every runner's reap sees it."""
    from automation.lifetime import PINNED_TAG

    _stack_info(session, feature)
    if pinned:
        session.engine.set_tag(feature.stack_name, PINNED_TAG, "true")
    else:
        session.engine.remove_tag(feature.stack_name, PINNED_TAG)
    return _lifetime_row(session, feature)


# --- reap ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeepList:
    """The features reap must not take, and whether (and where) a list was given at all."""

    features: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()
    """`--keep`, `--keep-file live.txt`: where the list came from (none: no list was given)."""
    allow_empty: bool = False


def reap_plan(
    session: Session, *, keep: KeepList, older_than: Optional[timedelta], now: Optional[datetime] = None,
    orphans: bool = False, max_destroy: Optional[int] = None,
) -> list[Decision]:
    """What reap does with every stack (and, with `orphans`, every phoenix tenant without one).

    The keep-list is checked against the stacks before anything is decided: a
    refused list stops here (exit 2), before any destroy or Octopus write.
    """
    from automation import reap
    from automation.feature import validate_feature_id
    from automation.lifetime import utcnow

    # Tenants first, then stacks: a tenant exists only after its stack does, so a tenant
    # listed here whose stack is missing from the later listing really has none.
    tenants = _phoenix_tenants(session) if orphans else []
    infos = session.engine.infos(with_outputs=False)
    features = []
    for info in infos:
        try:
            features.append(validate_feature_id(info.name))
        except FeatureError:
            continue
    reap.check_keep_list(
        set(keep.features), given=bool(keep.sources), feature_stacks=features,
        allow_empty=keep.allow_empty, sources=keep.sources,
    )
    decisions = reap.plan(
        infos,
        now=now or utcnow(),
        keep=keep.features,
        older_than=older_than,
        default_ttl=session.default_ttl(),
        orphans=_stack_orphans(session, infos, tenants) if orphans else {},
    )
    if orphans:
        decisions += reap.orphan_tenants(tenants, [info.name for info in infos])
    return reap.cap(decisions, reap.DEFAULT_MAX_DESTROY if max_destroy is None else max_destroy)


def _octopus_client(session: Session):
    from components.octopus.client import OctopusClient

    api_key = stack_config.read_secrets(session.environ, require=True)["octopus:apiKey"]
    server_url, space, _ = session.sources.octopus_target()
    if not server_url:
        raise InputError(f"{session.sources.defaults_path}: octopus.serverUrl is needed to find orphans in Octopus")
    return OctopusClient(server_url, api_key, space)


def _phoenix_tenants(session: Session) -> list[dict]:
    """Every tenant of the configured space (the orphan check keeps only phoenix's)."""
    from automation import doctor

    require_accepted_key(doctor.context_for_doctor(session, None, None), "reap --orphans")
    with _octopus_client(session) as client:
        return client.tenants()


def _stack_orphans(session: Session, infos: Sequence[Any], tenants: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Stacks whose Octopus tenant is gone (deleted by hand), and why.

    Only the tenant decides: Octopus clears an override once its release is
    deployed (reference/octopus-api.md §6) and a fleet scaled to zero has no
    machines, so neither proves a feature abandoned. A tenant missing from the
    listing is asked for once more by id, so one made after the listing is no orphan.
    """
    from components.octopus.errors import OctopusNotFound

    listed = {str(tenant.get("Id")) for tenant in tenants}
    orphans: dict[str, str] = {}
    with _octopus_client(session) as client:
        for info in infos:
            if info.update_in_progress:
                continue
            ids, _ = session.engine.stack_tenants(info.name)
            for tenant_id in sorted(ids or ()):
                if tenant_id in listed:
                    continue
                try:
                    client.get_tenant(tenant_id)
                except OctopusNotFound:
                    orphans[info.name] = (
                        f"its Octopus tenant {tenant_id} is gone (deleted in Octopus): destroy what is left"
                    )
    return orphans


def reap(
    session: Session,
    decisions: Sequence[Decision],
    *,
    parallel: int,
    dry_run: bool,
    report: Callable[[Outcome], None],
    confirm: Optional[Callable[[str], bool]] = None,
) -> list[Outcome]:
    """Destroy the expired features with the same flow `destroy` uses, and delete orphan
    tenants with their machines; `confirm` is asked once."""
    from automation import reap as reaping

    doomed = [d for d in decisions if d.action == reaping.DESTROY]
    if not dry_run and doomed:
        from automation import doctor

        stack_config.read_secrets(session.environ, require=True)
        require_accepted_key(doctor.context_for_doctor(session, None, None), "reap")
        names = ", ".join(d.feature + (" (orphan tenant)" if d.kind == reaping.TENANT else "") for d in doomed)
        orphaned = any(d.kind == reaping.TENANT or d.reason.startswith("orphan:") for d in doomed)
        what = "expired or orphaned" if orphaned else "expired"
        if confirm is not None and not confirm(
            f"Destroy {len(doomed)} {what} feature{'s' if len(doomed) > 1 else ''} ({names})?"
        ):
            raise NotConfirmed("reap was not confirmed: nothing was destroyed")

    def destroy_one(decision: Decision) -> None:
        with session.engine.interruptible():
            if decision.kind == reaping.TENANT:
                _delete_orphan_tenant(session, decision)
            else:
                destroy(session, parse_feature(decision.feature))

    with session.engine.interruptible():
        return reaping.run(decisions, destroy_one, parallel=parallel, dry_run=dry_run, report=report)


def _delete_orphan_tenant(session: Session, decision: Decision) -> None:
    """Delete a phoenix tenant without a stack, unless a create made its stack meanwhile."""
    from components.octopus.tenant import delete_tenant

    if decision.feature in session.engine.stack_names():
        raise OperationFailed(
            f"tenant {decision.feature!r} has a stack now (a create started since the plan): left as it is"
        )
    with _octopus_client(session) as client:
        delete_tenant(client, str(decision.target_id))
