"""Which checks run, in which order, for which command; and the preflight that stops a command.

Each check is a function of a `Probe` returning one `Check`. A check runs
after what it needs; when a need did not pass, it is reported as not checked
instead of failing again for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Iterable, Optional, Sequence

from automation.doctor import aws_checks, octopus_checks, pulumi_checks
from automation.doctor.probe import DoctorContext, NotChecked, Probe
from automation.doctor.report import FAIL, Check, render_failures, skipped
from automation.doctor.settings_check import check_settings
from automation.errors import InputError

#: `doctor` runs every check; `create` and `preview` only those that can make them fail.
SCOPES = ("all", "create", "preview")

#: The check that finds the feature's newest release when no version was given.
RELEASE_CHECK = "octopus.release"


class PreflightFailed(InputError):
    """`create` or `preview` stopped before touching the stack: a check failed."""

    def __init__(self, checks: Sequence[Check], command: str) -> None:
        self.checks = tuple(checks)
        super().__init__(render_failures(self.checks, command))


@dataclass(frozen=True)
class Spec:
    """A check: its name, its function, the commands it runs for, the checks it needs first."""

    name: str
    check: Callable[[Probe], Check]
    scopes: frozenset[str]
    needs: tuple[str, ...] = ()


_CREATE = frozenset({"all", "create"})
_EVERY = frozenset(SCOPES)

#: The checks in the order they run and are reported; a check follows what it needs.
CHECKS: tuple[Spec, ...] = (
    Spec("settings", check_settings, _EVERY),
    Spec("pulumi.cli", pulumi_checks.check_cli, _EVERY),
    Spec("pulumi.plugins", pulumi_checks.check_plugins, _EVERY, ("pulumi.cli",)),
    Spec("pulumi.backend", pulumi_checks.check_backend, _EVERY),
    Spec("pulumi.passphrase", pulumi_checks.check_passphrase, _EVERY),
    Spec("aws.region", aws_checks.check_region, _EVERY),
    Spec("aws.credentials", aws_checks.check_credentials, _EVERY, ("aws.region",)),
    Spec("octopus.apiKey", octopus_checks.check_api_key, _CREATE),
    Spec("octopus.server", octopus_checks.check_server, _CREATE, ("settings",)),
    Spec("octopus.user", octopus_checks.check_user, _CREATE, ("octopus.server", "octopus.apiKey")),
    Spec("octopus.space", octopus_checks.check_space, _CREATE, ("octopus.user",)),
    Spec("octopus.project", octopus_checks.check_project, _CREATE, ("octopus.space",)),
    Spec("octopus.tenantedMode", octopus_checks.check_tenanted, _CREATE, ("octopus.project",)),
    Spec("octopus.environment", octopus_checks.check_environment, _CREATE, ("octopus.space",)),
    Spec("octopus.machinePolicy", octopus_checks.check_machine_policy, _CREATE, ("octopus.space",)),
    Spec("octopus.trigger", octopus_checks.check_trigger, _CREATE, ("octopus.project", "octopus.environment")),
    Spec("octopus.tenant", octopus_checks.check_tenant, _CREATE, ("octopus.space",)),
    Spec("octopus.tenantVariables", octopus_checks.check_tenant_variables, _CREATE, ("octopus.project",)),
    Spec(RELEASE_CHECK, octopus_checks.check_release, _CREATE, ("octopus.project",)),
    Spec("octopus.registrationKey", octopus_checks.check_registration_key, _CREATE, ("octopus.server",)),
)


def run_checks(
    ctx: DoctorContext,
    scope: str = "all",
    only: Optional[Collection[str]] = None,
    *,
    also: Collection[str] = (),
) -> list[Check]:
    """Run the checks of `scope` (or only the named ones and what they need), in order.

    `also` names checks outside the scope to run as well, with what they need.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    in_scope = {spec.name for spec in CHECKS if scope in spec.scopes}
    wanted = in_scope if only is None else _with_needs(only) & in_scope
    wanted |= _with_needs(also)
    results: dict[str, Check] = {}
    probe = Probe(ctx)
    try:
        for spec in CHECKS:
            if spec.name not in wanted:
                continue
            unmet = [name for name in spec.needs if not _passed(results.get(name))]
            results[spec.name] = skipped(spec.name, unmet[0]) if unmet else _guarded(spec, probe)
    finally:
        probe.close()
    return list(results.values())


def _passed(check: Optional[Check]) -> bool:
    return check is not None and check.status != FAIL and not check.not_checked


def _with_needs(names: Iterable[str]) -> set[str]:
    """The named checks and, transitively, every check they need."""
    by_name = {spec.name: spec for spec in CHECKS}
    names = list(names)
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise ValueError(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(by_name)}")
    wanted: set[str] = set()
    stack = names
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(by_name[name].needs)
    return wanted


def _guarded(spec: Spec, probe: Probe) -> Check:
    """A check's result; an Octopus failure it did not expect still becomes a result."""
    from components.octopus.errors import OctopusError

    try:
        return spec.check(probe)
    except NotChecked as missing:
        return skipped(spec.name, str(missing))
    except OctopusError as error:
        return Check(spec.name, FAIL, f"Octopus answered: {error}", "see the Octopus server's message")


def preflight(ctx: DoctorContext, command: str) -> list[Check]:
    """The checks `create`/`preview` run before touching a stack; PreflightFailed if one fails.

    Without a package version the command asks Octopus for the feature's newest
    release next, so the release check (and what it needs) runs first, whatever the scope.
    """
    also = (RELEASE_CHECK,) if ctx.feature and not ctx.package_version else ()
    checks = run_checks(ctx, command, also=also)
    if any(check.status == FAIL for check in checks):
        raise PreflightFailed(checks, command)
    return checks
