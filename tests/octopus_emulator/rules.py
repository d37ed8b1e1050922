"""The rules a write must pass and the filters a read applies, per kind of resource.

A mixin of `OctopusState`: the methods run under its lock and read its
`docs`. Wording of validation messages follows the server where known; the
reference marks most of it unconfirmed.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

from components.octopus.timespan import format_timespan, parse_timespan
from tests.octopus_emulator.documents import (
    ACTION_TYPES,
    EVENT_CATEGORIES,
    EVENT_GROUPS,
    FILTER_TYPES,
    HEALTH_STATUSES,
    POLICY_ENUMS,
    POLICY_TIMESPANS,
    TENANTED_MODES,
    Problems,
    csv_values,
    get_path,
    id_number,
    machine_policy_template,
    now_iso,
    set_path,
)


class ResourceRules:
    """`_check_<collection>` completes and validates a document before it is stored."""

    docs: dict[str, dict[str, dict]]
    require_tenanted_projects: bool


    def _check_tenants(self, space_id: str, doc: dict, current, errors: Problems) -> None:
        doc.setdefault("Description", "")
        doc.setdefault("IsDisabled", False)
        doc.setdefault("ClonedFromTenantId", None)
        doc.setdefault("Icon", None)
        doc.setdefault("CustomFields", {})
        # Both may be left out (a 2023.1 regression required them; current servers
        # and the official clients' `NewTenant` treat them as optional): empty.
        tags = doc.get("TenantTags")
        if tags is None:
            tags = doc["TenantTags"] = []
        if not isinstance(tags, list) or not all(
            isinstance(tag, str) and tag.count("/") == 1 and all(tag.split("/")) for tag in tags
        ):
            errors.field("TenantTags", "TenantTags must be canonical tag names like 'TagSet/Tag'.")
        links = doc.get("ProjectEnvironments")
        if links is None:
            links = doc["ProjectEnvironments"] = {}
        if not isinstance(links, dict):
            errors.field(
                "ProjectEnvironments", "ProjectEnvironments must map project ids to lists of environment ids."
            )
            return
        for project_id, environment_ids in links.items():
            project = self.docs["projects"].get(project_id)
            if project is None or project["SpaceId"] != space_id:
                errors.append(f"The project '{project_id}' was not found.")
                continue
            if self.require_tenanted_projects and project["TenantedDeploymentMode"] == "Untenanted":
                errors.append(
                    f"The project '{project['Name']}' is not enabled for tenanted deployments."
                )
            if not isinstance(environment_ids, list):
                errors.append(f"The environments of project '{project_id}' must be a list.")
                continue
            for environment_id in environment_ids:
                if not self._exists(space_id, "environments", environment_id):
                    errors.append(f"The environment '{environment_id}' was not found.")

    def _check_projects(self, space_id: str, doc: dict, current, errors: Problems) -> None:
        doc.setdefault("Description", "")
        doc.setdefault("IsDisabled", False)
        doc.setdefault("TenantedDeploymentMode", "Untenanted")
        doc.setdefault("ProjectGroupId", "ProjectGroups-1")
        doc.setdefault("LifecycleId", "Lifecycles-1")
        doc.setdefault("IsVersionControlled", False)
        doc.setdefault("PersistenceSettings", {"Type": "Database"})
        doc.setdefault("DiscreteChannelRelease", False)
        doc.setdefault("IncludedLibraryVariableSetIds", [])
        self._check_templates(doc, current, errors)
        if doc["TenantedDeploymentMode"] not in TENANTED_MODES:
            errors.field("TenantedDeploymentMode",
                f"TenantedDeploymentMode must be one of {', '.join(TENANTED_MODES)}."
            )
        overrides = doc.get("AutoDeployReleaseOverrides")
        if overrides is None:
            overrides = doc["AutoDeployReleaseOverrides"] = []
        if not isinstance(overrides, list):
            errors.append("AutoDeployReleaseOverrides must be a list.")
            return
        seen: set[tuple[Any, Any]] = set()
        for entry in overrides:
            if not isinstance(entry, dict):
                errors.append("Each auto deploy release override must be an object.")
                continue
            environment_id = entry.get("EnvironmentId")
            tenant_id = entry.get("TenantId") or None
            release_id = entry.get("ReleaseId")
            entry["TenantId"] = tenant_id
            if not self._exists(space_id, "environments", environment_id):
                errors.append(f"The environment '{environment_id}' was not found.")
            if tenant_id is not None and not self._exists(space_id, "tenants", tenant_id):
                errors.append(f"The tenant '{tenant_id}' was not found.")
            release = self.docs["releases"].get(release_id or "")
            if release is None or release["SpaceId"] != space_id:
                errors.append(f"The release '{release_id}' was not found.")
            elif current is not None and release["ProjectId"] != current["Id"]:
                errors.append(f"The release '{release_id}' belongs to another project.")
            if (environment_id, tenant_id) in seen:
                errors.append(
                    f"There is more than one auto deploy release override for environment "
                    f"'{environment_id}' and tenant '{tenant_id}'."
                )
            seen.add((environment_id, tenant_id))

    def _check_environments(self, space_id: str, doc: dict, current, errors: Problems) -> None:
        doc.setdefault("Description", "")
        doc.setdefault("UseGuidedFailure", False)
        doc.setdefault("AllowDynamicInfrastructure", True)
        doc.setdefault("ExtensionSettings", [])
        if "SortOrder" not in doc:
            doc["SortOrder"] = len(self._in_space(space_id, "environments"))
        name = doc.get("Name")
        if isinstance(name, str) and len(name) > 50:
            errors.append("The Name field must be at most 50 characters.")

    def _check_machines(self, space_id: str, doc: dict, current, errors: Problems) -> None:
        doc.setdefault("IsDisabled", False)
        doc.setdefault("HealthStatus", "Unknown")
        doc.setdefault("StatusSummary", "This machine has not been health checked yet.")
        doc.setdefault("HasLatestCalamari", True)
        doc.setdefault("IsInProcess", False)
        doc.setdefault("SkipInitialHealthCheck", False)
        doc.setdefault("TenantTags", [])
        tenant_ids = doc.setdefault("TenantIds", [])
        doc.setdefault(
            "TenantedDeploymentParticipation", "Tenanted" if tenant_ids else "Untenanted"
        )
        if not doc.get("MachinePolicyId"):
            doc["MachinePolicyId"] = self._default_policy_id(space_id)
        environment_ids = doc.get("EnvironmentIds")
        if not isinstance(environment_ids, list) or not environment_ids:
            errors.field("EnvironmentIds", "The EnvironmentIds field is required.")
        else:
            for environment_id in environment_ids:
                if not self._exists(space_id, "environments", environment_id):
                    errors.append(f"The environment '{environment_id}' was not found.")
        roles = doc.get("Roles")
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r for r in roles):
            errors.field("Roles", "The Roles field is required.")
        if not isinstance(tenant_ids, list):
            errors.append("TenantIds must be a list.")
        else:
            for tenant_id in tenant_ids:
                if not self._exists(space_id, "tenants", tenant_id):
                    errors.append(f"The tenant '{tenant_id}' was not found.")
        participation = doc["TenantedDeploymentParticipation"]
        if participation not in TENANTED_MODES:
            errors.append(
                f"TenantedDeploymentParticipation must be one of {', '.join(TENANTED_MODES)}."
            )
        elif participation == "Untenanted" and tenant_ids:
            errors.append("An untenanted deployment target cannot be connected to tenants.")
        if not self._exists(space_id, "machinepolicies", doc["MachinePolicyId"]):
            errors.append(f"The machine policy '{doc['MachinePolicyId']}' was not found.")
        if doc["HealthStatus"] not in HEALTH_STATUSES:
            errors.append(f"HealthStatus must be one of {', '.join(HEALTH_STATUSES)}.")
        endpoint = doc.get("Endpoint")
        if not isinstance(endpoint, dict) or not endpoint.get("CommunicationStyle"):
            errors.field("Endpoint", "The Endpoint field is required.")
        else:
            if endpoint["CommunicationStyle"] in ("TentacleActive", "TentaclePassive"):
                if not endpoint.get("Uri") or not endpoint.get("Thumbprint"):
                    errors.append("A Tentacle endpoint needs a Uri and a Thumbprint.")
            doc["Uri"] = endpoint.get("Uri")
            doc["Thumbprint"] = endpoint.get("Thumbprint")

    def _check_machinepolicies(self, space_id: str, doc: dict, current, errors: Problems) -> None:
        template = machine_policy_template(space_id)
        for field, default in template.items():
            if field in ("Id", "Links"):
                continue
            if isinstance(default, dict):
                doc[field] = _merged(default, doc.get(field))
            elif field not in doc or (doc[field] is None and field != "Description"):
                doc[field] = default
        doc["IsDefault"] = bool(current and current.get("IsDefault"))
        if doc.get("Description") is None:
            doc["Description"] = ""
        for path in POLICY_TIMESPANS:
            value = get_path(doc, path)
            try:
                set_path(doc, path, format_timespan(parse_timespan(value)))
            except ValueError:
                errors.append(f"{'.'.join(path)}: {value!r} is not a valid TimeSpan.")
        for path, allowed in POLICY_ENUMS.items():
            value = get_path(doc, path)
            if value not in allowed:
                errors.append(f"{'.'.join(path)} must be one of {', '.join(allowed)}.")
        count = doc.get("ConnectionRetryCountLimit")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            errors.append("ConnectionRetryCountLimit must be a whole number.")

    def _check_projecttriggers(self, space_id: str, doc: dict, current, errors: Problems) -> None:
        doc.setdefault("Description", "")
        doc.setdefault("IsDisabled", False)
        if not self._exists(space_id, "projects", doc.get("ProjectId")):
            errors.append(f"The project '{doc.get('ProjectId')}' was not found.")
        trigger_filter, action = doc.get("Filter"), doc.get("Action")
        if not isinstance(trigger_filter, dict) or trigger_filter.get("FilterType") not in FILTER_TYPES:
            errors.append(f"Filter.FilterType must be one of {', '.join(FILTER_TYPES)}.")
        elif trigger_filter["FilterType"] == "MachineFilter":
            for field in ("EnvironmentIds", "Roles", "EventGroups", "EventCategories"):
                trigger_filter.setdefault(field, [])
                if not isinstance(trigger_filter[field], list):
                    errors.append(f"Filter.{field} must be a list.")
            for environment_id in trigger_filter["EnvironmentIds"] or []:
                if not self._exists(space_id, "environments", environment_id):
                    errors.append(f"The environment '{environment_id}' was not found.")
            for group in trigger_filter["EventGroups"] or []:
                if group not in EVENT_GROUPS:
                    errors.append(f"'{group}' is not an event group.")
            for category in trigger_filter["EventCategories"] or []:
                if category not in EVENT_CATEGORIES:
                    errors.append(f"'{category}' is not an event category.")
        if not isinstance(action, dict) or action.get("ActionType") not in ACTION_TYPES:
            errors.append(f"Action.ActionType must be one of {', '.join(ACTION_TYPES)}.")
        elif action["ActionType"] == "AutoDeploy":
            action.setdefault("ShouldRedeployWhenMachineHasBeenDeployedTo", False)

    def _check_releases(self, space_id: str, doc: dict, current, errors: Problems) -> None:
        project_id, version = doc.get("ProjectId"), doc.get("Version")
        if not self._exists(space_id, "projects", project_id):
            errors.append(f"The project '{project_id}' was not found.")
        if not isinstance(version, str) or not version.strip():
            errors.field("Version", "The Version field is required.")
        elif any(
            r["ProjectId"] == project_id
            and r["Version"] == version
            and r["Id"] != (current or {}).get("Id")
            for r in self._in_space(space_id, "releases")
        ):
            errors.append(
                "A release with this version already exists for this project. "
                "Please choose a different version."
            )
        doc.setdefault("ChannelId", f"Channels-{id_number(project_id or '')}")
        doc.setdefault("ReleaseNotes", "")
        doc.setdefault("SelectedPackages", [])
        doc.setdefault("BuildInformation", [])
        doc.setdefault("Assembled", now_iso(self.stamp()))

    def _exists(self, space_id: str, kind: str, ident: Any) -> bool:
        doc = self.docs[kind].get(ident) if isinstance(ident, str) else None
        return doc is not None and doc["SpaceId"] == space_id

    def _match_kind(self, kind: str, doc: dict, params: dict[str, str]) -> bool:
        def any_of(name: str, values: Iterable[Any]) -> bool:
            wanted = csv_values(params.get(name))
            return not wanted or bool(set(wanted) & set(values or ()))

        if kind == "tenants":
            project_id = params.get("projectId")
            return (not project_id or project_id in doc["ProjectEnvironments"]) and any_of(
                "tags", doc["TenantTags"]
            )
        if kind == "machines":
            endpoint = doc.get("Endpoint") or {}
            thumbprint = params.get("thumbprint")
            return (
                any_of("roles", doc["Roles"])
                and any_of("environmentIds", doc["EnvironmentIds"])
                and any_of("tenantIds", doc["TenantIds"])
                and any_of("tenantTags", doc["TenantTags"])
                and any_of("healthStatuses", [doc["HealthStatus"]])
                and any_of("commStyles", [endpoint.get("CommunicationStyle")])
                and (not thumbprint or thumbprint == doc.get("Thumbprint"))
            )
        if kind == "releases":
            search = params.get("searchByVersion")
            return not search or search.casefold() in doc["Version"].casefold()
        if kind == "projecttriggers":
            action_type = params.get("triggerActionType")
            return not action_type or (doc.get("Action") or {}).get("ActionType") == action_type
        if kind == "deployments":
            task = self.docs["tasks"].get(doc["TaskId"], {})
            return (
                any_of("projects", [doc["ProjectId"]])
                and any_of("environments", [doc["EnvironmentId"]])
                and any_of("tenants", [doc["TenantId"]])
                and any_of("taskState", [task.get("State")])
            )
        if kind == "tasks":
            active = params.get("active")
            return (
                any_of("project", [doc.get("ProjectId")])
                and any_of("environment", [doc["Arguments"].get("EnvironmentId")])
                and any_of("tenant", [doc["Arguments"].get("TenantId")])
                and any_of("states", [doc["State"]])
                and (active is None or (active.lower() == "true") != doc["IsCompleted"])
            )
        return True


def _merged(default: dict, given: Any) -> dict:
    """`given` with whatever it lacks taken from `default`, nested objects included."""
    if not isinstance(given, dict):
        return copy.deepcopy(default)
    merged = dict(given)
    for key, value in default.items():
        if isinstance(value, dict):
            merged[key] = _merged(value, given.get(key))
        else:
            merged.setdefault(key, value)
    return merged


def match_common(doc: dict, params: dict[str, str], name_filter: str) -> bool:
    """The filters every collection knows: ids, partialName, name, isDisabled."""
    ids = csv_values(params.get("ids"))
    if ids and doc["Id"] not in ids:
        return False
    name = (doc.get("Name") or "").casefold()
    partial = params.get("partialName")
    if partial and partial.strip().casefold() not in name:
        return False
    wanted = params.get("name")
    if wanted:
        wanted = wanted.strip().casefold()
        if (name != wanted) if name_filter == "exact" else (wanted not in name):
            return False
    disabled = params.get("isDisabled")
    if disabled is not None and "IsDisabled" in doc:
        if str(doc["IsDisabled"]).lower() != disabled.lower():
            return False
    return True
