"""The feature's auto-deploy override as a Pulumi resource.

"For this tenant in this environment, auto-deploy exactly this release": the
entry lives on the project document, which many feature stacks change at the
same time; the client's write-then-verify keeps each stack's entry. Deleting
removes this tenant's entry only. Octopus itself drops an override once that
release is deployed, so a refresh may find it gone: that is reported, and the
next `up` puts it back, which is harmless.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.octopus.inputs import InputCheck, diff_inputs, is_unknown, resource_identity
from components.octopus.provider import OctopusProvider

INPUTS = ("project", "environment", "tenant_id", "release_version", "space")
#: The override's identity on the project; a new release is an in-place update.
REPLACING = ("project", "environment", "tenant_id", "space")


class ReleaseNotFound(ValueError):
    """The release version has no release in the project (yet)."""

    def __init__(self, project: str, version: str) -> None:
        super().__init__(
            f"Octopus project {project!r} has no release {version!r}: create the release"
            " (publish the package) before the feature environment"
        )


class TenantNotConnected(ValueError):
    """The tenant is not connected to the project in the environment, so no override applies."""


class AutoDeployOverrideProvider(OctopusProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        from components.octopus.errors import OctopusNotFound

        check = InputCheck(news, INPUTS)
        project = check.name("project")
        environment = check.name("environment")
        tenant_id = check.resource_id("tenant_id", "Tenants")
        version = check.version("release_version")
        space = check.space("space", self.default_space())
        if not check.ok or is_unknown([project, environment, version, space]):
            return check.result()
        with self.client(space) as client:
            try:
                project_id = client.find_project(project)["Id"]
            except OctopusNotFound:
                check.fail("project", f"Octopus has no project named {project!r}")
                project_id = None
            try:
                client.find_environment(environment)
            except OctopusNotFound:
                check.fail("environment", f"Octopus has no environment named {environment!r}")
            if project_id is not None:
                try:
                    client.find_release(project_id, version)
                except OctopusNotFound:
                    check.fail("release_version", str(ReleaseNotFound(project, version)))
            if not is_unknown(tenant_id):
                try:
                    client.get_tenant(tenant_id)
                except OctopusNotFound:
                    check.fail("tenant_id", f"Octopus has no tenant {tenant_id}")
        return check.result()

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Delete first: a replacement may name the same (environment, tenant) entry
        # (a project renamed to its slug, say), which a later delete would remove.
        return diff_inputs(
            olds, news, compared=INPUTS, replacing=REPLACING, delete_before_replace=True
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        from components.octopus.errors import OctopusError

        tenant_id = props["tenant_id"]
        with self.client(props["space"]) as client:
            project_id = client.find_project(props["project"])["Id"]
            environment_id = client.find_environment(props["environment"])["Id"]
            release_id = _release_id(client, project_id, props)
            _require_connected(client.get_tenant(tenant_id), project_id, environment_id, props)
            try:
                client.set_auto_deploy_override(project_id, environment_id, tenant_id, release_id)
            except Exception:
                # The PUT may have landed although the call failed: leave no entry
                # that the state will not know about.
                try:
                    client.remove_auto_deploy_override(project_id, environment_id, tenant_id)
                except OctopusError:
                    pass
                raise
            space_id = client.space_id
        outs = _outputs(props, space_id, project_id, environment_id, release_id)
        return CreateResult(_resource_id(outs), outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.octopus.errors import OctopusNotFound

        space_id, project_id, environment_id, tenant_id = _identity(id_, props)
        try:
            with self.client(space_id) as client:
                entry = client.find_auto_deploy_override(project_id, environment_id, tenant_id)
                if entry is None:
                    return ReadResult("", {})  # removed, or consumed by a deployment
                version = props.get("release_version")
                if entry.get("ReleaseId") != props.get("release_id"):
                    version = _version_of(client, project_id, entry.get("ReleaseId"))
        except OctopusNotFound:
            return ReadResult("", {})  # the project (or space) is gone, and the entry with it
        live = {key: props.get(key) for key in INPUTS}
        live.update(tenant_id=tenant_id, release_version=version)
        outs = _outputs(live, space_id, project_id, environment_id, entry.get("ReleaseId"))
        return ReadResult(id_, outs, inputs=live)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        space_id, project_id, environment_id, tenant_id = _identity(id_, olds)
        with self.client(space_id) as client:
            release_id = _release_id(client, project_id, news)
            client.set_auto_deploy_override(project_id, environment_id, tenant_id, release_id)
        return UpdateResult(_outputs(news, space_id, project_id, environment_id, release_id))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from components.octopus.errors import OctopusNotFound

        space_id, project_id, environment_id, tenant_id = _identity(id_, props)
        try:
            with self.client(space_id) as client:
                client.remove_auto_deploy_override(project_id, environment_id, tenant_id)
        except OctopusNotFound:
            pass  # the project (or space) is gone, and the entry with it


def _release_id(client: Any, project_id: str, props: dict[str, Any]) -> str:
    from components.octopus.errors import OctopusNotFound

    try:
        return client.find_release(project_id, props["release_version"])["Id"]
    except OctopusNotFound:
        raise ReleaseNotFound(props["project"], props["release_version"]) from None


def _require_connected(tenant: dict, project_id: str, environment_id: str, props: dict) -> None:
    """Octopus ignores an override for a tenant not connected there; say so instead."""
    connected = (tenant.get("ProjectEnvironments") or {}).get(project_id) or ()
    if environment_id not in connected:
        raise TenantNotConnected(
            f"tenant {tenant.get('Name')!r} ({tenant['Id']}) is not connected to project"
            f" {props['project']!r} in environment {props['environment']!r}; connect it"
            " (the Tenant's projects and environments) before adding its override"
        )


def _version_of(client: Any, project_id: str, release_id: Optional[str]) -> Optional[str]:
    """The version of a release someone else put in the override (drift), if it still exists."""
    return next(
        (r.get("Version") for r in client.releases(project_id) if r.get("Id") == release_id),
        None,
    )


def _resource_id(outs: dict[str, Any]) -> str:
    return "/".join(outs[key] for key in ("space_id", "project_id", "environment_id", "tenant_id"))


def _identity(id_: str, props: dict[str, Any]) -> tuple[str, str, str, str]:
    """(space, project, environment, tenant) ids: from the state, else from the resource id."""
    return resource_identity(  # type: ignore[return-value]
        id_, props, ("space_id", "project_id", "environment_id", "tenant_id"),
        "an auto-deploy override id: Spaces-1/Projects-1/Environments-1/Tenants-1",
    )


def _outputs(
    props: dict[str, Any], space_id: str, project_id: str, environment_id: str, release_id: Any
) -> dict[str, Any]:
    outs = {key: props.get(key) for key in INPUTS}
    outs.update(
        space_id=space_id,
        project_id=project_id,
        environment_id=environment_id,
        release_id=release_id,
    )
    return outs


class AutoDeployOverride(Resource, module="octopus", name="AutoDeployOverride"):
    """Auto-deploy one release to one tenant in one environment of a project."""

    project_id: pulumi.Output[str]
    environment_id: pulumi.Output[str]
    release_id: pulumi.Output[str]
    space_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        project: pulumi.Input[str],
        environment: pulumi.Input[str],
        tenant_id: pulumi.Input[str],
        release_version: pulumi.Input[str],
        space: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {
            "project": project,
            "environment": environment,
            "tenant_id": tenant_id,
            "release_version": release_version,
            "space": space,
            "project_id": None,
            "environment_id": None,
            "release_id": None,
            "space_id": None,
        }
        super().__init__(AutoDeployOverrideProvider(), resource_name, props, opts)
