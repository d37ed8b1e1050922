"""What the server does to deployment targets on its own: registration, auto-deploy, cleanup.

A mixin of `OctopusState`: the methods take its lock and use its generic
create/modify/delete, so a registered machine passes the same rules as one
POSTed over the API.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Optional, Sequence

from components.octopus.timespan import parse_timespan
from tests.octopus_emulator.documents import KINDS, now_iso, resource_links, sort_key

_AVAILABLE = ("Healthy", "HasWarnings")
_TASK_STATES = ("Success", "Failed", "Canceled", "TimedOut")


class MachineLifecycle:
    """Machines appearing, being deployed to, and being cleaned up."""

    docs: dict[str, dict[str, dict]]
    auto_deploy: bool
    deployment_outcome: str

    def run_health_checks(self, now: Optional[datetime] = None) -> list[str]:
        """What a health check pass does to unavailable machines: names of those deleted."""
        with self.lock:
            now = now or self.clock()
            deleted = []
            for machine_id, since in sorted(self.unavailable_since.items()):
                machine = self.docs["machines"].get(machine_id)
                policy = self.docs["machinepolicies"].get(machine["MachinePolicyId"]) if machine else None
                cleanup = (policy or {}).get("MachineCleanupPolicy") or {}
                if cleanup.get("DeleteMachinesBehavior") != "DeleteUnavailableMachines":
                    continue
                if now - since >= parse_timespan(cleanup["DeleteMachinesElapsedTimeSpan"]):
                    deleted.append(machine["Name"])
                    self.delete(machine["SpaceId"], "machines", machine_id)
            return deleted

    # -- deployments ----------------------------------------------------------

    def _auto_deploy(self, machine: dict) -> None:
        """A machine became available: run each matching AutoDeploy trigger, as the server does."""
        if not self.auto_deploy:
            return
        space_id = machine["SpaceId"]
        for trigger in self._in_space(space_id, "projecttriggers"):
            if not _trigger_fires(trigger, machine):
                continue
            project = self.docs["projects"][trigger["ProjectId"]]
            wanted = trigger["Filter"]["EnvironmentIds"]
            for environment_id in machine["EnvironmentIds"]:
                if wanted and environment_id not in wanted:
                    continue
                for tenant_id in self._deploy_tenants(project, environment_id, machine):
                    release_id = self._release_to_deploy(project, environment_id, tenant_id)
                    if release_id is None or self._already_deployed(
                        trigger, release_id, environment_id, tenant_id, machine["Id"]
                    ):
                        continue
                    self.deploy(
                        space_id, project["Id"], release_id, environment_id, tenant_id,
                        machine_ids=[machine["Id"]], outcome=self.deployment_outcome,
                    )

    def _deploy_tenants(self, project: dict, environment_id: str, machine: dict) -> list[Optional[str]]:
        participation = machine["TenantedDeploymentParticipation"]
        tenants: list[Optional[str]] = []
        if participation != "Untenanted" and project["TenantedDeploymentMode"] != "Untenanted":
            for tenant_id in machine["TenantIds"]:
                tenant = self.docs["tenants"].get(tenant_id)
                if tenant and environment_id in tenant["ProjectEnvironments"].get(project["Id"], []):
                    tenants.append(tenant_id)
        if participation != "Tenanted" and project["TenantedDeploymentMode"] != "Tenanted":
            tenants.append(None)
        return tenants

    def _release_to_deploy(
        self, project: dict, environment_id: str, tenant_id: Optional[str]
    ) -> Optional[str]:
        for entry in project["AutoDeployReleaseOverrides"]:
            if entry["EnvironmentId"] == environment_id and entry.get("TenantId") == tenant_id:
                return entry["ReleaseId"]
        for deployment in self._deployments_newest_first(project, environment_id, tenant_id):
            if self.docs["tasks"][deployment["TaskId"]]["State"] == "Success":
                return deployment["ReleaseId"]
        return None

    def _deployments_newest_first(
        self, project: dict, environment_id: str, tenant_id: Optional[str]
    ) -> list[dict]:
        return sorted(
            (
                d for d in self._in_space(project["SpaceId"], "deployments")
                if d["ProjectId"] == project["Id"]
                and d["EnvironmentId"] == environment_id
                and d["TenantId"] == tenant_id
            ),
            key=sort_key("deployments"),
        )

    def _already_deployed(
        self, trigger: dict, release_id: str, environment_id: str, tenant_id, machine_id: str
    ) -> bool:
        if trigger["Action"].get("ShouldRedeployWhenMachineHasBeenDeployedTo"):
            return False
        project = self.docs["projects"][trigger["ProjectId"]]
        return any(
            d["ReleaseId"] == release_id and machine_id in d["DeployedToMachineIds"]
            for d in self._deployments_newest_first(project, environment_id, tenant_id)
        )

    def deploy(
        self,
        space_id: str,
        project_id: str,
        release_id: str,
        environment_id: str,
        tenant_id: Optional[str],
        *,
        machine_ids: Sequence[str] = (),
        outcome: str = "Success",
    ) -> dict:
        """Record a finished deployment and its task; a success clears the matching override."""
        if outcome not in _TASK_STATES:
            raise ValueError(f"outcome must be one of {_TASK_STATES}")
        with self.lock:
            project = self.lookup(space_id, "projects", project_id)
            release = self.lookup(space_id, "releases", release_id)
            environment = self.lookup(space_id, "environments", environment_id)
            moment = now_iso(self.stamp())
            task_id = self.next_id("ServerTasks")
            deployment_id = self.next_id("Deployments")
            succeeded = outcome == "Success"
            task = {
                "Id": task_id,
                "SpaceId": space_id,
                "Name": "Deploy",
                "Description": f"Deploy {project['Name']} release {release['Version']} to "
                f"{environment['Name']}",
                "State": outcome,
                "IsCompleted": True,
                "FinishedSuccessfully": succeeded,
                "HasWarningsOrErrors": not succeeded,
                "HasPendingInterruptions": False,
                "ErrorMessage": "" if succeeded else "The deployment failed.",
                "QueueTime": moment,
                "StartTime": moment,
                "CompletedTime": moment,
                "LastUpdatedTime": moment,
                "Duration": "1 second",
                "Completed": "just now",
                "ProjectId": project_id,
                "Arguments": {
                    "DeploymentId": deployment_id,
                    "EnvironmentId": environment_id,
                    "TenantId": tenant_id,
                },
                "Links": {"Self": f"/api/tasks/{task_id}", "Details": f"/api/tasks/{task_id}/details"},
            }
            deployment = {
                "Id": deployment_id,
                "SpaceId": space_id,
                "Name": f"Deploy to {environment['Name']}",
                "ReleaseId": release_id,
                "EnvironmentId": environment_id,
                "TenantId": tenant_id,
                "ProjectId": project_id,
                "ChannelId": release["ChannelId"],
                "TaskId": task_id,
                "Created": moment,
                "DeployedBy": "System" if machine_ids else "phoenix",
                "SpecificMachineIds": list(machine_ids),
                "ExcludedMachineIds": [],
                "DeployedToMachineIds": list(machine_ids),
            }
            deployment["Links"] = resource_links(KINDS["deployments"], deployment)
            self.docs["tasks"][task_id] = task
            self.docs["deployments"][deployment_id] = deployment
            if succeeded:
                project["AutoDeployReleaseOverrides"] = [
                    e for e in project["AutoDeployReleaseOverrides"]
                    if not (e["EnvironmentId"] == environment_id and e.get("TenantId") == tenant_id)
                ]
            return copy.deepcopy(deployment)

    # -- what Tentacle registration does ----------------------------------------

    def register_machine(
        self,
        space_id: str,
        name: str,
        *,
        environments: Sequence[str],
        roles: Sequence[str],
        tenants: Sequence[str] = (),
        tenant_tags: Sequence[str] = (),
        machine_policy: Optional[str] = None,
        participation: Optional[str] = None,
        comms_style: str = "TentacleActive",
        health: str = "Healthy",
        force: bool = False,
    ) -> dict:
        """Resolve names as `Tentacle register-with` does, then POST (or PUT with --force)."""
        with self.lock:
            existing = [m for m in self._in_space(space_id, "machines") if m["Name"] == name]
            if existing and not force:
                raise LookupError(
                    f"A machine named '{name}' already exists in the environment. "
                    "Use the --force parameter if you intend to update the existing machine."
                )
            thumbprint = uuid.uuid4().hex.upper()[:40]
            uri = (
                f"poll://{uuid.uuid4().hex[:20]}/"
                if comms_style == "TentacleActive"
                else f"https://{name}:10933/"
            )
            body = {
                "Name": name,
                "EnvironmentIds": [self._resolve(space_id, "environments", e) for e in environments],
                "Roles": list(roles),
                "TenantIds": [self._resolve(space_id, "tenants", t) for t in tenants],
                "TenantTags": list(tenant_tags),
                "HealthStatus": health,
                "Endpoint": {"CommunicationStyle": comms_style, "Uri": uri, "Thumbprint": thumbprint},
            }
            if machine_policy is not None:
                body["MachinePolicyId"] = self._resolve(space_id, "machinepolicies", machine_policy)
            if participation is not None:
                body["TenantedDeploymentParticipation"] = participation
            elif tenants:
                body["TenantedDeploymentParticipation"] = "Tenanted"
            if existing:
                return self.modify(space_id, "machines", existing[0]["Id"], body)
            return self.create(space_id, "machines", body)

    def _resolve(self, space_id: str, kind: str, name_or_id: str) -> str:
        """An id from a name, slug or id, or the registration tool's "could not find" error."""
        for doc in self._in_space(space_id, kind):
            if name_or_id in (doc["Id"], doc.get("Slug")) or doc["Name"].casefold() == name_or_id.casefold():
                return doc["Id"]
        raise LookupError(
            f"Could not find the {KINDS[kind].label} named {name_or_id} on the Octopus server. "
            f"Ensure the {KINDS[kind].label} exists and you have permission to access it."
        )

    def resolve(self, space_id: str, kind: str, name_or_id: str) -> dict:
        with self.lock:
            return copy.deepcopy(self.docs[kind][self._resolve(space_id, kind, name_or_id)])


def is_available(machine: dict) -> bool:
    return machine["HealthStatus"] in _AVAILABLE and not machine["IsDisabled"]


def _trigger_fires(trigger: dict, machine: dict) -> bool:
    trigger_filter, action = trigger.get("Filter") or {}, trigger.get("Action") or {}
    if trigger.get("IsDisabled") or trigger_filter.get("FilterType") != "MachineFilter":
        return False
    if action.get("ActionType") != "AutoDeploy":
        return False
    groups, categories = trigger_filter.get("EventGroups"), trigger_filter.get("EventCategories")
    if (groups or categories) and not (
        {"MachineAvailableForDeployment", "Machine"} & set(groups or ())
        or {"MachineAdded", "MachineHealthy", "MachineEnabled"} & set(categories or ())
    ):
        return False
    roles = trigger_filter.get("Roles") or []
    return not roles or bool(set(roles) & set(machine["Roles"]))
