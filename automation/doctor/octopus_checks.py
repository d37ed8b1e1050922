"""Octopus checks: the server, the key, and what a feature environment needs in the space.

Each looks up what it names by the configured name and, when it is missing,
lists near matches. The client (requests) is imported inside the checks:
`python -m automation --help` stays fast.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from automation.doctor.probe import Probe, missing, need, source_of
from automation.doctor.report import FAIL, OK, WARN, Check

if TYPE_CHECKING:  # pragma: no cover - typing only
    from components.octopus.client import OctopusClient

#: A deployment-target trigger fires for a new machine on these events (an empty filter: any).
NEW_MACHINE_EVENT_GROUPS = frozenset({"MachineAvailableForDeployment", "Machine"})
NEW_MACHINE_EVENT_CATEGORIES = frozenset({"MachineAdded", "MachineHealthy", "MachineEnabled"})


def _names(client: "OctopusClient", path: str) -> list[str]:
    """Every name in a collection, for near matches; an error here only loses the hint."""
    from components.octopus.errors import OctopusError

    try:
        return [str(item.get("Name")) for item in client._pages(path) if item.get("Name")]
    except OctopusError:
        return []


def check_api_key(probe: Probe) -> Check:
    if probe.secret("octopus:apiKey") is None:
        return Check(
            "octopus.apiKey", FAIL, "octopus:apiKey is not set (OCTOPUS_API_KEY is empty)",
            "export OCTOPUS_API_KEY=API-... (a key of a user who may edit the project's tenants and overrides)",
        )
    return Check("octopus.apiKey", OK, f"set ({source_of(probe.ctx.sources, 'octopus:apiKey') or 'stack config'})")


def check_server(probe: Probe) -> Check:
    """Reachability is the server's answer to an anonymous `GET /api`: it needs no key."""
    from components.octopus.errors import OctopusAuthError, OctopusError, OctopusUnavailable

    url = probe.octopus_settings().server_url.rstrip("/")
    fix = f"check {probe.setting('octopus:serverUrl')} and that this machine can reach it"
    try:
        root = anonymous_root(url, timeout=probe.ctx.octopus_timeout, retries=probe.ctx.octopus_retries)
    except OctopusAuthError:
        return Check("octopus.server", OK, f"{url} answered (its /api needs a key)")
    except OctopusUnavailable as error:
        return Check("octopus.server", FAIL, f"{url} did not answer: {error.message}", fix)
    except OctopusError as error:
        return Check("octopus.server", FAIL, f"{url} has no Octopus API at /api: {error}", fix)
    if not isinstance(root, dict) or not root.get("Version"):
        return Check("octopus.server", FAIL, f"{url}/api is not an Octopus root document", fix)
    return Check("octopus.server", OK, f"{root.get('Application', 'Octopus')} {root['Version']} at {url}")


def anonymous_root(server_url: str, *, timeout: tuple[float, float], retries: int) -> Any:
    """`GET /api` without a key, with the client's retry policy and error mapping.

    `OctopusSession` always sends a key, and whether a server answers must not
    depend on one; so this one request is made here, on the same parts.
    """
    import requests
    from requests.adapters import HTTPAdapter

    from components.octopus.errors import OctopusError, OctopusUnavailable, error_for_response
    from components.octopus.session import retry_policy

    with requests.Session() as http:
        adapter = HTTPAdapter(max_retries=retry_policy(retries, backoff_factor=0.25))
        http.mount("http://", adapter)
        http.mount("https://", adapter)
        try:
            response = http.get(
                f"{server_url}/api", headers={"Accept": "application/json"}, timeout=timeout
            )
        except requests.RequestException as error:
            raise OctopusUnavailable(
                f"no response from the Octopus server: {type(error).__name__}: {error}",
                method="GET", path="/api",
            ) from None
    if response.status_code >= 400:
        raise error_for_response(method="GET", path="/api", status=response.status_code, text=response.text)
    try:
        return response.json()
    except ValueError:
        raise OctopusError(
            "the Octopus server answered with a body that is not JSON",
            method="GET", path="/api", status=response.status_code,
        ) from None


def check_user(probe: Probe) -> Check:
    from components.octopus.errors import OctopusAuthError

    try:
        user = probe.octopus().current_user()
    except OctopusAuthError as error:
        return Check(
            "octopus.user", FAIL,
            f"the key in {probe.setting('octopus:apiKey')} was refused ({error.status}: {error.message})",
            "create an API key (Octopus: your profile > My API Keys) and export it as OCTOPUS_API_KEY",
        )
    return Check("octopus.user", OK, f"key accepted: user {_user_name(user)!r}")


def _user_name(user: Any) -> str:
    if not isinstance(user, dict):
        return "?"
    return str(user.get("Username") or user.get("DisplayName") or user.get("Id") or "?")


def check_space(probe: Probe) -> Check:
    from components.octopus.errors import OctopusNotFound

    client = probe.octopus()
    space = probe.octopus_settings().space
    try:
        space_id = client.space_id
    except OctopusNotFound:
        return Check(
            "octopus.space", FAIL, missing("space", space, _names(client, "/api/spaces"), client.server_url),
            f"set {probe.setting('octopus:space')} to an existing space",
        )
    return Check("octopus.space", OK, f"{space!r} is {space_id}")


def _find_named(probe: Probe, name: str, key: str, what: str, collection: str,
                find: Callable[[str], dict]) -> tuple[Optional[dict], Optional[Check]]:
    """A project/environment/policy by its configured name, or the failed check naming near matches."""
    from components.octopus.errors import OctopusNotFound

    client = probe.octopus()
    try:
        return find(name), None
    except OctopusNotFound:
        names = _names(client, f"/api/{client.space_id}/{collection}")
        where = f"space {probe.octopus_settings().space!r}"
        return None, Check(
            f"octopus.{_CHECK_OF[key]}", FAIL, missing(what, name, names, where),
            f"set {probe.setting(key)} to an existing {what}, or create it in Octopus",
        )


_CHECK_OF = {
    "phoenix:octopus.project": "project",
    "phoenix:octopus.environment": "environment",
    "phoenix:octopus.machinePolicy": "machinePolicy",
}


def check_project(probe: Probe) -> Check:
    name = probe.octopus_settings().project
    project, failed = _find_named(
        probe, name, "phoenix:octopus.project", "project", "projects", probe.octopus().find_project
    )
    if failed:
        return failed
    assert project is not None
    if project.get("IsDisabled"):
        return Check(
            "octopus.project", FAIL, f"project {project.get('Name')!r} ({project.get('Id')}) is disabled",
            "enable the project in Octopus (Project > Settings)",
        )
    probe.project = project
    return Check("octopus.project", OK, f"{project.get('Name')!r} is {project.get('Id')}")


def check_tenanted(probe: Probe) -> Check:
    project = need(probe.project, "octopus.project")
    mode = project.get("TenantedDeploymentMode") or "Untenanted"
    if mode in ("Tenanted", "TenantedOrUntenanted"):
        return Check("octopus.tenantedMode", OK, f"project {project.get('Name')!r} allows tenants ({mode})")
    return Check(
        "octopus.tenantedMode", FAIL,
        f"project {project.get('Name')!r} is {mode}: it cannot deploy to the feature's tenant",
        "in Octopus, Project > Settings > Multi-tenanted deployments: allow deployments with or "
        "without a tenant (TenantedOrUntenanted)",
    )


def check_environment(probe: Probe) -> Check:
    name = probe.octopus_settings().environment
    environment, failed = _find_named(
        probe, name, "phoenix:octopus.environment", "environment", "environments",
        probe.octopus().find_environment,
    )
    if failed:
        return failed
    assert environment is not None
    probe.environment = environment
    return Check("octopus.environment", OK, f"{environment.get('Name')!r} is {environment.get('Id')}")


def check_machine_policy(probe: Probe) -> Check:
    name = probe.octopus_settings().machine_policy
    policy, failed = _find_named(
        probe, name, "phoenix:octopus.machinePolicy", "machine policy", "machinepolicies",
        probe.octopus().find_machine_policy,
    )
    if failed:
        return failed
    assert policy is not None
    cleanup = policy.get("MachineCleanupPolicy") or {}
    found = f"{policy.get('Name')!r} is {policy.get('Id')}"
    if cleanup.get("DeleteMachinesBehavior") != "DeleteUnavailableMachines":
        return Check(
            "octopus.machinePolicy", WARN,
            f"{found}, but it keeps unavailable machines: Tentacles of replaced instances stay registered",
            f"set the policy's clean-up to delete machines unavailable for some time "
            f"(Infrastructure > Machine Policies > {policy.get('Name')})",
        )
    elapsed = cleanup.get("DeleteMachinesElapsedTimeSpan")
    return Check("octopus.machinePolicy", OK, f"{found}; deletes machines unavailable for {elapsed}")


def judge_triggers(
    triggers: Sequence[Mapping[str, Any]], *, project: str, environment: Mapping[str, Any],
    roles: Sequence[str],
) -> Check:
    """Does an enabled AutoDeploy trigger fire for a new machine of this environment and these roles?

    Octopus matches a machine to a trigger's filter when the filter names its
    environment (or none) and at least one of its roles (or none), and when the
    filter's events include a machine becoming available (or none are named).
    """
    environment_name = environment.get("Name")
    role_text = ", ".join(repr(r) for r in roles)
    mismatches: list[str] = []
    for trigger in triggers:
        problem = _trigger_problem(trigger, environment.get("Id"), roles)
        if problem is None:
            return Check(
                "octopus.trigger", OK,
                f"trigger {trigger.get('Name')!r} deploys to new machines in {environment_name!r} "
                f"with role {role_text}",
            )
        if problem:
            mismatches.append(f"trigger {trigger.get('Name')!r} {problem}")
    found = (
        f"project {project!r} has no enabled AutoDeploy trigger for environment {environment_name!r} "
        f"and role {role_text}: new machines would never get a deployment"
    )
    if mismatches:
        found += "; " + "; ".join(mismatches)
    return Check(
        "octopus.trigger", FAIL, found,
        f"in Octopus, Project {project!r} > Triggers > Add trigger > Deployment target trigger: event "
        f"'Machine becomes available for deployment', environment {environment_name!r}, role {role_text}",
    )


def _trigger_problem(trigger: Mapping[str, Any], environment_id: Any, roles: Sequence[str]) -> Optional[str]:
    """Why a trigger would not deploy a new machine; None when it would, "" when it is no AutoDeploy one."""
    machine_filter = trigger.get("Filter") or {}
    action = trigger.get("Action") or {}
    if machine_filter.get("FilterType") != "MachineFilter" or action.get("ActionType") != "AutoDeploy":
        return ""
    if trigger.get("IsDisabled"):
        return "is disabled"
    environments = machine_filter.get("EnvironmentIds") or []
    if environments and environment_id not in environments:
        return f"covers other environments ({', '.join(map(str, environments))})"
    trigger_roles = machine_filter.get("Roles") or []
    if trigger_roles and not set(trigger_roles) & set(roles):
        return f"covers other roles ({', '.join(map(str, trigger_roles))})"
    groups = set(machine_filter.get("EventGroups") or [])
    categories = set(machine_filter.get("EventCategories") or [])
    if (groups or categories) and not (
        groups & NEW_MACHINE_EVENT_GROUPS or categories & NEW_MACHINE_EVENT_CATEGORIES
    ):
        return f"fires on {', '.join(sorted(groups | categories))}, not when a machine becomes available"
    return None


def check_trigger(probe: Probe) -> Check:
    project = need(probe.project, "octopus.project")
    environment = need(probe.environment, "octopus.environment")
    triggers = probe.octopus().project_triggers(project["Id"])
    return judge_triggers(
        triggers, project=str(project.get("Name")), environment=environment,
        roles=probe.octopus_settings().roles,
    )


def check_tenant(probe: Probe) -> Check:
    """A tenant with the feature's name that the stack does not manage would fail create midway."""
    feature = probe.ctx.feature
    if not feature:
        return Check("octopus.tenant", OK, "not checked: no feature given")
    octopus = probe.octopus_settings()
    tenant = probe.octopus().find_tenant(feature)
    if tenant is None:
        return Check("octopus.tenant", OK, f"no tenant named {feature!r} yet: create makes it")
    found = f"tenant {tenant.get('Name')!r} exists ({tenant.get('Id')})"
    managed = probe.ctx.stack_tenant_ids
    if managed is not None and tenant.get("Id") in managed:
        return Check("octopus.tenant", OK, f"{found}, managed by stack {feature}")
    if feature in probe.ctx.stack_creating_tenants:
        return Check("octopus.tenant", OK, f"{found}: an interrupted create of stack {feature} made it; "
                     "the next create adopts it")
    if octopus.adopt_existing_tenant:
        return Check("octopus.tenant", OK, f"{found}; {probe.setting('phoenix:octopus.adoptExistingTenant')} "
                     "is true: create takes it over")
    fix = (
        f"delete or rename that tenant in Octopus, or set {probe.setting('phoenix:octopus.adoptExistingTenant')} "
        "to true (--set phoenix:octopus.adoptExistingTenant=true) to manage it from this stack"
    )
    if managed is None:
        return Check("octopus.tenant", WARN, f"{found}; whether stack {feature} manages it was not checked "
                     "(its state could not be read)", fix)
    return Check(
        "octopus.tenant", FAIL,
        f"{found} in space {octopus.space!r} and stack {feature} does not manage it: create would fail "
        "when it creates the tenant", fix,
    )


def check_tenant_variables(probe: Probe) -> Check:
    """Each template the tenant's values are for exists on the project, sensitive where the value is."""
    from components.octopus.tenant_variables import template_problems

    project = need(probe.project, "octopus.project")
    variables = probe.octopus_settings().tenant_variables
    if not variables.templates:
        return Check("octopus.tenantVariables", OK, "no tenant variables configured")
    plain = [*variables.builtins.values(), *variables.values]
    problems = template_problems(project.get("Templates"), str(project.get("Name")), plain, variables.sensitive)
    if problems:
        names = ", ".join(repr(name) for name in problems)
        return Check(
            "octopus.tenantVariables", FAIL,
            f"project {project.get('Name')!r} cannot take the feature tenant's values for {names}",
            "; ".join(problems.values()),
        )
    return Check(
        "octopus.tenantVariables", OK,
        f"project {project.get('Name')!r} has the templates {', '.join(map(repr, variables.templates))}",
    )


def check_release(probe: Probe) -> Check:
    from automation.feature import newest_version
    from components.octopus.errors import OctopusNotFound

    project = need(probe.project, "octopus.project")
    client = probe.octopus()
    version = probe.ctx.package_version
    feature = probe.ctx.feature
    if not version and not feature:
        return Check("octopus.release", OK, "not checked: no feature or package version given")
    if not version:
        versions = [str(r.get("Version")) for r in client.releases(project["Id"])]
        version = newest_version(versions, str(feature))
        if version is None:
            return Check(
                "octopus.release", FAIL,
                f"project {project.get('Name')!r} has no release whose pre-release tag names {feature!r}",
                f"publish the branch's package and create its release (e.g. 1.0.0-{feature})",
            )
    try:
        release = client.find_release(project["Id"], version)
    except OctopusNotFound:
        versions = [str(r.get("Version")) for r in client.releases(project["Id"])]
        return Check(
            "octopus.release", FAIL,
            missing("release", version, versions, f"project {project.get('Name')!r}", named=False),
            f"create release {version} of project {project.get('Name')!r} (after its package is published)",
        )
    return Check("octopus.release", OK, f"{version} is {release.get('Id')}")


#: What `Tentacle deregister-from` needs when Auto Scaling terminates an instance (OctopusTentacle's
#: DeregisterMachineCommand: find the machines with its thumbprint, delete them).
DEREGISTRATION_PERMISSIONS = frozenset({"MachineView", "MachineDelete"})
#: What `Tentacle register-with` needs (OctopusClients' RegisterMachineOperation: find the
#: machine by name, resolve environments, tenants, tags, the policy and a proxy, then create
#: or, with --force, update the machine), and deregistration. Anything more on the instances' key is exposure.
REGISTRATION_PERMISSIONS = frozenset({
    "MachineCreate", "MachineEdit", "MachineView", "EnvironmentView", "TenantView",
    "MachinePolicyView", "ProxyView",
}) | DEREGISTRATION_PERMISSIONS
#: System permissions that grant nothing beyond seeing the spaces a key can use.
REGISTRATION_SYSTEM_PERMISSIONS = frozenset({"SpaceView"})

_DEDICATED_KEY = (
    "create a user that may only register and delete machines in the feature environment, give it an "
    "API key and export it as OCTOPUS_REGISTRATION_API_KEY"
)


def extra_permissions(permissions: Mapping[str, Any]) -> list[str]:
    """The permission names of a `UserPermissionSetResource` beyond machine registration, sorted."""
    space = set(permissions.get("SpacePermissions") or {}) - REGISTRATION_PERMISSIONS
    system = set(permissions.get("SystemPermissions") or []) - REGISTRATION_SYSTEM_PERMISSIONS
    return sorted(space | system)


def check_registration_key(probe: Probe) -> Check:
    """Instances hold the key they register with: never the deploy key, unless the org opted in.

    Where the key's user may read its own permissions, anything beyond
    machine registration is reported by name.
    """
    from components.octopus.errors import OctopusAuthError, OctopusError
    from components.settings import SHARE_DEPLOY_KEY, registration_key_refusal

    octopus = probe.octopus_settings()
    registration = probe.secret("octopus:registrationApiKey")
    if registration in (None, probe.secret("octopus:apiKey")):
        given = replace(octopus, registration_api_key=registration, api_key=probe.secret("octopus:apiKey") or "")
        refusal = registration_key_refusal(given)
        if octopus.share_deploy_key_with_instances:
            return Check(
                "octopus.registrationKey", WARN,
                f"octopus:registrationApiKey {refusal.split(':', 1)[0]}: instances hold the deploy key, "
                f"which can create and delete tenants, machines and releases, because "
                f"{probe.setting(SHARE_DEPLOY_KEY)} is true (unsafe)",
                _DEDICATED_KEY + ", then set shareDeployKeyWithInstances to false",
            )
        return Check("octopus.registrationKey", FAIL, f"octopus:registrationApiKey {refusal}", _DEDICATED_KEY)
    client = probe.octopus("octopus:registrationApiKey")
    try:
        user = client.current_user()
    except OctopusAuthError as error:
        return Check(
            "octopus.registrationKey", FAIL,
            f"the key in {probe.setting('octopus:registrationApiKey')} was refused "
            f"({error.status}: {error.message}): instances could not register",
            "export a valid key as OCTOPUS_REGISTRATION_API_KEY",
        )
    who = (
        f"instances register as user {_user_name(user)!r} "
        f"({source_of(probe.ctx.sources, 'octopus:registrationApiKey') or 'stack config'})"
    )
    try:
        permissions = client.user_permissions(user)
    except OctopusError as error:
        return Check("octopus.registrationKey", OK, f"{who}; its permissions are not readable with it "
                                                   f"({error.status}): not checked")
    extra = extra_permissions(permissions)
    if extra:
        return Check(
            "octopus.registrationKey", WARN,
            f"{who}, who holds more than machine-registration rights: {', '.join(extra)}",
            f"give user {_user_name(user)!r} a role with only {', '.join(sorted(REGISTRATION_PERMISSIONS))} "
            "(scoped to the feature environment)",
        )
    missing = sorted(DEREGISTRATION_PERMISSIONS - set(permissions.get("SpacePermissions") or {}))
    if missing:
        return Check(
            "octopus.registrationKey", WARN,
            f"{who}, who lacks {', '.join(missing)}: instances Auto Scaling stops (awake hours, scale-in) "
            "cannot delete their machine, which stays unavailable until the machine policy removes it",
            f"add {', '.join(missing)} (scoped to the feature environment) to user {_user_name(user)!r}'s role",
        )
    return Check("octopus.registrationKey", OK, f"{who}, who may only register and delete machines")
