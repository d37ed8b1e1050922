"""The feature's Octopus tenant as a Pulumi resource.

Connected by name to projects and environments (resolved to ids here, in the
provider), renamed in place, replaced when its space changes. Destroying it
first deletes the deployment targets registered for it alone and any
auto-deploy override still naming it, so a destroyed feature leaves nothing
behind in Octopus.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.octopus.inputs import InputCheck, diff_inputs, is_unknown
from components.octopus.provider import OctopusProvider

#: The checked inputs, in the state both as inputs and as outputs.
INPUTS = ("tenant_name", "description", "tenant_tags", "projects", "environments", "space", "adopt_existing")
#: What `diff` compares; `adopt_existing` only matters when creating.
COMPARED = ("tenant_name", "description", "tenant_tags", "projects", "environments", "space")
REPLACING = ("space",)


class TenantNameTaken(ValueError):
    """A tenant with the wanted name exists and adopting it was not asked for."""

    def __init__(self, name: str, tenant_id: str, space: str) -> None:
        super().__init__(
            f"an Octopus tenant named {name!r} already exists in space {space!r} ({tenant_id});"
            " set adopt_existing (phoenix:octopus.adoptExistingTenant) to manage it from this"
            " stack, or delete it first"
        )


class TenantProvider(OctopusProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        check = InputCheck(news, INPUTS)
        check.name("tenant_name", created=True)
        check.text("description")
        check.names("tenant_tags", minimum=0, tags=True)
        projects = check.names("projects")
        environments = check.names("environments")
        space = check.space("space", self.default_space())
        check.boolean("adopt_existing")
        if check.ok and not is_unknown([projects, environments, space]):
            with self.client(space) as client:
                _resolve(client, projects, environments, on_missing=check.fail)
        return check.result()

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_inputs(
            olds, news, compared=COMPARED, replacing=REPLACING, delete_before_replace=True
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        name = props["tenant_name"]
        with self.client(props["space"]) as client:
            project_ids, environment_ids = _resolve(client, props["projects"], props["environments"])
            existing = client.find_tenant(name)
            if existing is not None and not props.get("adopt_existing"):
                raise TenantNameTaken(name, existing["Id"], props["space"])
            if existing is not None:
                tenant = client.modify_tenant(
                    _desired(existing, props, project_ids, environment_ids, managed=())
                )
            else:
                body = _desired(
                    {"SpaceId": client.space_id, "IsDisabled": False},
                    props, project_ids, environment_ids, managed=(),
                )
                tenant = client.create_tenant(body)
            outs = _outputs(props, tenant, project_ids, environment_ids, client.space_id)
        outs["adopted"] = existing is not None
        return CreateResult(tenant["Id"], outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.octopus.errors import OctopusNotFound

        try:
            with self.client(self.recorded_space(props)) as client:
                tenant = client.get_tenant(id_)
                space_id = client.space_id
        except OctopusNotFound:
            return ReadResult("", {})  # deleted behind Pulumi's back: the next `up` recreates it
        live = _live_inputs(props, tenant)
        project_ids, environment_ids = _connected_ids(props, tenant)
        outs = _outputs(live, tenant, project_ids, environment_ids, space_id)
        outs["adopted"] = bool(props.get("adopted"))
        return ReadResult(id_, outs, inputs={key: outs[key] for key in INPUTS})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with self.client(self.recorded_space(olds)) as client:
            project_ids, environment_ids = _resolve(client, news["projects"], news["environments"])
            current = client.get_tenant(id_)
            managed = set(olds.get("project_ids") or ()) | set(project_ids)
            tenant = client.modify_tenant(
                _desired(current, news, project_ids, environment_ids, managed=managed)
            )
            outs = _outputs(news, tenant, project_ids, environment_ids, client.space_id)
        outs["adopted"] = bool(olds.get("adopted"))
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self.client(self.recorded_space(props)) as client:
            delete_tenant(client, id_)


def delete_tenant(client: Any, tenant_id: str) -> None:
    """Delete the tenant, the machines registered for it alone and overrides naming it;
    a tenant already gone (or its whole space) leaves nothing to delete."""
    from components.octopus.errors import OctopusNotFound

    try:
        tenant = client.get_tenant(tenant_id)
    except OctopusNotFound:
        return
    deregister_machines(client, tenant_id)
    _remove_overrides(client, tenant)
    try:
        client.delete_tenant(tenant_id)
    except OctopusNotFound:
        pass  # deleted meanwhile: the goal is met


#: How a phoenix-made tenant's description begins: `reap --orphans` deletes only tenants
#: marked so whose feature has no stack. A description needs no tag set made in Octopus
#: first, and the adopted tenant of a feature gets it too.
MARK = "Feature environment {name}, managed by phoenix"


def phoenix_description(feature: str, detail: str = "") -> str:
    """The description that marks the feature's tenant as phoenix's; `detail` follows it."""
    return MARK.format(name=feature) + (f", {detail}" if detail else "")


def made_by_phoenix(tenant: Mapping[str, Any]) -> bool:
    """Whether the tenant carries phoenix's mark for its own name (a copied description names another)."""
    name, description = tenant.get("Name"), tenant.get("Description")
    if not isinstance(name, str) or not isinstance(description, str):
        return False
    mark = MARK.format(name=name)
    return description == mark or description.startswith(mark + ", ")


def deregister_machines(client: Any, tenant_id: str) -> list[str]:
    """Delete the deployment targets registered for this tenant and no other; their ids.

    A machine shared with other tenants still serves them, so it stays.
    """
    from components.octopus.errors import OctopusNotFound

    deleted = []
    for machine in client.machines_for_tenant(tenant_id):
        if list(machine.get("TenantIds") or ()) != [tenant_id]:
            continue
        try:
            client.delete_machine(machine["Id"])
        except OctopusNotFound:
            pass  # removed meanwhile (machine policy cleanup): the goal is met
        deleted.append(machine["Id"])
    return deleted


def _remove_overrides(client: Any, tenant: dict) -> None:
    """Drop overrides that still name the tenant, so none points at a deleted tenant."""
    from components.octopus.errors import OctopusNotFound

    for project_id in sorted(tenant.get("ProjectEnvironments") or {}):
        try:
            project = client.get_project(project_id)
        except OctopusNotFound:
            continue
        for override in project.get("AutoDeployReleaseOverrides") or ():
            if override.get("TenantId") == tenant["Id"]:
                client.remove_auto_deploy_override(project_id, override["EnvironmentId"], tenant["Id"])


def _resolve(
    client: Any,
    projects: Sequence[str],
    environments: Sequence[str],
    on_missing: Optional[Callable[[str, str], None]] = None,
) -> tuple[list[str], list[str]]:
    """Project and environment ids in the order of the (sorted) names.

    With `on_missing` (check), a name Octopus does not know becomes a failure on
    its property; without it (create/update) the client's OctopusNotFound stands.
    """
    from components.octopus.errors import OctopusNotFound

    found: dict[str, list[str]] = {"projects": [], "environments": []}
    lookups = (("projects", projects, client.find_project), ("environments", environments, client.find_environment))
    for prop, names, find in lookups:
        for name in names:
            try:
                found[prop].append(find(name)["Id"])
            except OctopusNotFound:
                if on_missing is None:
                    raise
                on_missing(prop, f"Octopus has no {prop[:-1]} named {name!r}")
    return found["projects"], found["environments"]


def _desired(
    base: dict,
    props: dict[str, Any],
    project_ids: Sequence[str],
    environment_ids: Sequence[str],
    managed: Any,
) -> dict:
    """The tenant document to send: ours for the managed projects, others' left as they are."""
    body = dict(base)
    body["Name"] = props["tenant_name"]
    body["Description"] = props.get("description") or ""
    body["TenantTags"] = list(props.get("tenant_tags") or ())
    connections = {
        project_id: list(envs)
        for project_id, envs in (base.get("ProjectEnvironments") or {}).items()
        if project_id not in managed and project_id not in project_ids
    }
    for project_id in project_ids:
        connections[project_id] = sorted(environment_ids)
    body["ProjectEnvironments"] = connections
    return body


def _live_inputs(props: dict[str, Any], tenant: dict) -> dict[str, Any]:
    """The inputs as Octopus has them now, in the program's terms (names, not ids).

    A project or environment whose connection was removed in Octopus drops out,
    so the next `up` shows it coming back.
    """
    live = {key: props.get(key) for key in INPUTS}  # the name comes from the tenant in _outputs
    live["description"] = tenant.get("Description") or ""
    live["tenant_tags"] = sorted(tenant.get("TenantTags") or ())
    projects, environments = _connected_names(props, tenant)
    live["projects"] = projects
    live["environments"] = environments
    return live


def _pairs(props: dict[str, Any], names_key: str, ids_key: str) -> list[tuple[str, str]]:
    return list(zip(props.get(names_key) or (), props.get(ids_key) or ()))


def _connected(props: dict[str, Any], tenant: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    live = tenant.get("ProjectEnvironments") or {}
    projects = [(name, pid) for name, pid in _pairs(props, "projects", "project_ids") if pid in live]
    environments = [
        (name, eid)
        for name, eid in _pairs(props, "environments", "environment_ids")
        if projects and all(eid in live[pid] for _, pid in projects)
    ]
    return projects, environments


def _connected_names(props: dict[str, Any], tenant: dict) -> tuple[list[str], list[str]]:
    projects, environments = _connected(props, tenant)
    return [name for name, _ in projects], [name for name, _ in environments]


def _connected_ids(props: dict[str, Any], tenant: dict) -> tuple[list[str], list[str]]:
    projects, environments = _connected(props, tenant)
    return [pid for _, pid in projects], [eid for _, eid in environments]


def _outputs(
    props: dict[str, Any],
    tenant: dict,
    project_ids: Sequence[str],
    environment_ids: Sequence[str],
    space_id: str,
) -> dict[str, Any]:
    outs = {key: props.get(key) for key in INPUTS}
    outs.update(
        tenant_id=tenant["Id"],
        tenant_name=tenant["Name"],
        project_ids=list(project_ids),
        environment_ids=list(environment_ids),
        space_id=space_id,
    )
    return outs


class Tenant(Resource, module="octopus", name="Tenant"):
    """An Octopus tenant connected to projects and environments by name."""

    tenant_id: pulumi.Output[str]
    tenant_name: pulumi.Output[str]
    project_ids: pulumi.Output[list[str]]
    environment_ids: pulumi.Output[list[str]]
    space_id: pulumi.Output[str]
    #: True when the tenant existed and `adopt_existing` let this stack take it over.
    adopted: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        tenant_name: pulumi.Input[str],
        projects: pulumi.Input[Sequence[pulumi.Input[str]]],
        environments: pulumi.Input[Sequence[pulumi.Input[str]]],
        description: pulumi.Input[str] = "",
        tenant_tags: pulumi.Input[Sequence[pulumi.Input[str]]] = (),
        space: Optional[pulumi.Input[str]] = None,
        adopt_existing: pulumi.Input[bool] = False,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {
            "tenant_name": tenant_name,
            "projects": projects,
            "environments": environments,
            "description": description,
            "tenant_tags": tenant_tags,
            "space": space,
            "adopt_existing": adopt_existing,
            "tenant_id": None,
            "project_ids": None,
            "environment_ids": None,
            "space_id": None,
            "adopted": None,
        }
        super().__init__(TenantProvider(), resource_name, props, opts)
