"""The shapes Octopus Server answers with: errors, collection pages, root documents, kinds.

Field names follow the REST reference; where the reference marks a wording
unconfirmed, the text chosen here is noted beside it. Where the reference and
an official client disagree, the client wins (noted where it happens):
`Details` in an error body is an object of field -> message, as the
TypeScript client (`@octopusdeploy/api-client`, `OctopusError.Details`) and
the .NET client read it, not `null`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional, Sequence
from urllib.parse import urlencode

#: The generic summary of a 400; the reference marks the exact text unconfirmed.
VALIDATION_MESSAGE = "There was a problem with your request."
#: 401 text; unconfirmed, chosen to match what current servers show.
UNAUTHENTICATED_MESSAGE = (
    "You must be logged in to perform this action. Please provide a valid API key or log in again."
)
FORBIDDEN_MESSAGE = (
    "You do not have permission to perform this action. Please contact your Octopus administrator."
)
MAINTENANCE_MESSAGE = (
    "Your Octopus Cloud instance is currently undergoing maintenance and will be back soon."
)
MAINTENANCE_HTML = (
    "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
    "<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service "
    "your request. Please try again later.</p></body></html>"
)

#: `take` when a request gives none.
DEFAULT_TAKE = 30
#: The `take` of `Page.All`: Int32.MaxValue, as the server writes it.
TAKE_ALL = 2147483647

#: A server with the per-project tenant variable endpoints (GA in 2025.2).
SERVER_VERSION = "2025.2.11370"


class Problems(list):
    """Validation messages in the order found, and for those about one field, which field.

    A list of strings like any `errors` list; `field()` also records the
    message under the field's name for the error body's `Details`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.details: dict[str, str] = {}

    def field(self, name: str, message: str) -> None:
        self.append(message)
        self.details.setdefault(name, message)


class ApiError(Exception):
    """An Octopus error response: status plus the server's error object."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: Sequence[str] = (),
        details: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)
        self.details = dict(details or getattr(errors, "details", None) or {})

    def __str__(self) -> str:
        detail = " ".join(self.errors)
        return f"{self.status} {self.message} {detail}".strip()

    def body(self) -> dict:
        return error_body(self.message, self.errors, self.details)


def error_body(
    message: str, errors: Sequence[str] = (), details: Optional[Mapping[str, str]] = None
) -> dict:
    return {
        "ErrorMessage": message,
        "Errors": list(errors),
        "Details": dict(details or {}),
        "HelpText": "",
        "HelpLink": "",
        "FullException": "",
    }


def validation_error(errors: Sequence[str]) -> ApiError:
    """A 400 listing every problem; a `Problems` list also fills `Details`."""
    return ApiError(400, VALIDATION_MESSAGE, errors)


def not_found(ident: str) -> ApiError:
    """Single-resource 404; the reference marks this wording unconfirmed."""
    return ApiError(404, f"The resource '{ident}' was not found.")


def duplicate_name(label: str) -> str:
    return f"A {label} with this name already exists. Please choose a different name."


def now_iso(moment: Optional[datetime] = None) -> str:
    """ISO 8601 with milliseconds and offset, the form Octopus writes."""
    return (moment or datetime.now(timezone.utc)).isoformat(timespec="milliseconds")


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def id_number(ident: str) -> int:
    tail = ident.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


@dataclass(frozen=True)
class Kind:
    """One space-scoped collection: its URL segment, id prefix and naming rules."""

    collection: str
    prefix: str
    item_type: str
    label: str
    template: str
    #: Names unique in the space (case-insensitively, as SQL Server compares them).
    unique_name: bool = True
    #: How the `name` filter matches: "contains" (obsolete form) or "exact".
    name_filter: str = "contains"
    #: Only the server creates these; POST/PUT/DELETE answer 405.
    read_only: bool = False


KINDS: dict[str, Kind] = {
    kind.collection: kind
    for kind in (
        Kind("tenants", "Tenants", "Tenant", "tenant",
             "{?skip,projectId,name,tags,take,ids,clone,partialName,clonedFromTenantId}"),
        Kind("projects", "Projects", "Project", "project",
             "{?name,skip,ids,clone,take,partialName,clonedFromProjectId}"),
        Kind("environments", "Environments", "Environment", "environment",
             "{?name,skip,ids,take,partialName}"),
        Kind("machines", "Machines", "DeploymentTarget", "machine",
             "{?skip,take,name,ids,partialName,roles,isDisabled,healthStatuses,commStyles,"
             "tenantIds,tenantTags,environmentIds,thumbprint,deploymentId,shellNames,"
             "deploymentTargetTypes}",
             name_filter="exact"),
        Kind("machinepolicies", "MachinePolicies", "MachinePolicy", "machine policy",
             "{?skip,take,ids,partialName}"),
        Kind("projecttriggers", "ProjectTriggers", "ProjectTrigger", "trigger",
             "{?skip,take,ids,runbooks}", unique_name=False),
        Kind("releases", "Releases", "Release", "release", "{?skip,take,ids}", unique_name=False),
        Kind("deployments", "Deployments", "Deployment", "deployment",
             "{?skip,take,ids,projects,environments,tenants,channels,taskState,partialName}",
             unique_name=False, read_only=True),
        Kind("tasks", "ServerTasks", "Task", "task",
             "{?skip,active,environment,tenant,project,name,states,take,ids,partialName}",
             unique_name=False, read_only=True),
    )
}


def parse_paging(params: dict[str, str]) -> tuple[int, int]:
    try:
        skip = int(params.get("skip") or 0)
        take = int(params.get("take") or DEFAULT_TAKE)
    except ValueError:
        raise validation_error(["skip and take must be whole numbers."]) from None
    if skip < 0 or take < 0:
        raise validation_error(["skip and take must not be negative."])
    return skip, take


def collection_page(
    items: Sequence[dict], *, params: dict[str, str], base: str, item_type: str, template: str
) -> dict:
    """One page in Octopus' collection shape, with its paging links.

    An empty collection reports one (empty) page, so LastPageNumber is never
    negative.
    """
    skip, take = parse_paging(params)
    total = len(items)
    pages = max(1, math.ceil(total / take)) if take else 1
    extra = {k: v for k, v in params.items() if k not in ("skip", "take")}

    def link(page_skip: int, page_take: int) -> str:
        return f"{base}?{urlencode({**extra, 'skip': page_skip, 'take': page_take})}"

    links = {
        "Self": link(skip, take),
        "Template": base + template,
        "Page.All": link(0, TAKE_ALL),
        "Page.Current": link(skip, take),
        "Page.Last": link((pages - 1) * take, take),
    }
    if take and skip + take < total:
        links["Page.Next"] = link(skip + take, take)
    if skip > 0:
        links["Page.Previous"] = link(max(0, skip - take), take)
    return {
        "ItemType": item_type,
        "TotalResults": total,
        "ItemsPerPage": take,
        "NumberOfPages": pages,
        "LastPageNumber": pages - 1,
        "Items": list(items[skip : skip + take]),
        "Links": links,
    }


#: Space-scoped links of the root and space root documents, as a 2023.1 server
#: lists them (the link set is part of the contract: the .NET and Go clients
#: find routes by link name, e.g. `MachinePolicyTemplate`). Paths are relative
#: to `/api/{spaceId}`. The emulator serves the resources phoenix and the
#: contract tests use; a link to one it does not model answers 404.
SPACE_LINKS: dict[str, str] = {
    "Accounts": "/accounts{/id}{?skip,take,ids,partialName,accountType}",
    "ActionTemplates": "/actiontemplates{/id}{?skip,take,ids,partialName}",
    "Artifacts": "/artifacts{/id}{?skip,take,regarding,ids,partialName,order}",
    "BuildInformation": "/build-information{/id}{?packageId,filter,latest,skip,take,overwriteMode}",
    "Certificates": "/certificates{/id}{?skip,take,search,archived,tenant,firstResult,orderBy,ids,partialName}",
    "Channels": "/channels{/id}{?skip,take,ids,partialName}",
    "Dashboard": "/dashboard{?projectId,releaseId,selectedTenants,selectedTags,showAll,"
                 "highestLatestVersionPerProjectAndEnvironment}",
    "DeploymentProcesses": "/deploymentprocesses{/id}{?skip,take,ids}",
    "Deployments": "/deployments{/id}" + KINDS["deployments"].template,
    "Environments": "/environments{/id}" + KINDS["environments"].template,
    "EnvironmentSortOrder": "/environments/sortorder",
    "Interruptions": "/interruptions{/id}{?skip,take,regarding,pendingOnly,ids}",
    "LibraryVariables": "/libraryvariablesets{/id}{?skip,contentType,take,ids,partialName}",
    "Lifecycles": "/lifecycles{/id}{?skip,take,ids,partialName}",
    "MachineOperatingSystems": "/machines/operatingsystem/names/all",
    "MachinePolicies": "/machinepolicies{/id}" + KINDS["machinepolicies"].template,
    "MachinePolicyTemplate": "/machinepolicies/template",
    "MachineRoles": "/machineroles/all",
    "Machines": "/machines{/id}" + KINDS["machines"].template,
    "MachineShells": "/machines/operatingsystem/shells/all",
    "Packages": "/packages{/id}{?nuGetPackageId,filter,latest,skip,take,includeNotes}",
    "ProjectGroups": "/projectgroups{/id}{?skip,take,ids,partialName}",
    "Projects": "/projects{/id}" + KINDS["projects"].template,
    "ProjectTriggers": "/projecttriggers{/id}" + KINDS["projecttriggers"].template,
    "Proxies": "/proxies{/id}{?skip,take,ids,partialName}",
    "Releases": "/releases{/id}{?skip,ignoreChannelRules,take,ids}",
    "RunbookProcesses": "/runbookProcesses{/id}{?skip,take,ids}",
    "RunbookRuns": "/runbookRuns{/id}{?skip,take,ids,projects,environments,tenants,runbooks,taskState,partialName}",
    "Runbooks": "/runbooks{/id}{?skip,take,ids,partialName,clone,projectIds}",
    "RunbookSnapshots": "/runbookSnapshots{/id}{?skip,take,ids,publish}",
    "Subscriptions": "/subscriptions{/id}{?skip,take,ids,partialName,spaces}",
    "TagSets": "/tagsets{/id}{?skip,take,ids,partialName}",
    "Tenants": "/tenants{/id}" + KINDS["tenants"].template,
    "TenantsMissingVariables": "/tenants/variables-missing{?tenantId,projectId,environmentId,includeDetails}",
    "TenantTagTest": "/tenants/tag-test{?tenantIds,tags}",
    "TenantVariables": "/tenantvariables/all{?projectId}",
    "VariableNames": "/variables/names{?project,runbook,projectEnvironmentsFilter,gitRef}",
    "Variables": "/variables{/id}{?ids}",
    "WorkerPools": "/workerpools{/id}{?skip,ids,take,partialName}",
    "Workers": "/workers{/id}{?skip,take,name,ids,partialName,isDisabled,healthStatuses,commStyles,"
               "workerPoolIds,thumbprint,shellNames}",
}

#: Links only the root document has: server-wide resources.
GLOBAL_LINKS: dict[str, str] = {
    "Self": "/api",
    "Configuration": "/api/configuration{/id}",
    "CurrentUser": "/api/users/me",
    "Events": "/api/events{/id}{?skip,regarding,regardingAny,user,users,projects,environments,"
              "eventGroups,eventCategories,tenants,from,to,take,ids,spaces}",
    "Feeds": "/api/feeds{/id}{?skip,take,ids,partialName,feedType,name}",
    "PermissionDescriptions": "/api/permissions/all",
    "ServerStatus": "/api/serverstatus",
    "SpaceHome": "/api/{spaceId}",
    "Spaces": "/api/spaces{/id}{?skip,ids,take,partialName}",
    "Tasks": "/api/tasks{/id}" + KINDS["tasks"].template.replace("}", ",spaces}"),
    "Teams": "/api/teams{/id}{?skip,take,ids,partialName,spaces,includeSystem}",
    "UserRoles": "/api/userroles{/id}{?skip,take,ids,partialName}",
    "Users": "/api/users{/id}{?skip,take,ids,filter}",
    "Web": "/app",
}


def root_document(default_space_id: Optional[str], installation_id: str) -> dict:
    """`GET /api`; space-scoped links point at the default space, as the server's do."""
    scope = f"/api/{default_space_id}" if default_space_id else "/api"
    links = {**{name: scope + path for name, path in SPACE_LINKS.items()}, **GLOBAL_LINKS}
    return {
        "Application": "Octopus Deploy",
        "Version": SERVER_VERSION,
        "ApiVersion": "3.0.0",
        "InstallationId": installation_id,
        "HasLongTermSupport": True,
        "Links": dict(sorted(links.items())),
    }


def space_root_document(space: dict) -> dict:
    """`GET /api/{spaceId}`: the space's own links, the space-scoped half of the root's."""
    scope = f"/api/{space['Id']}"
    links = {"Self": scope, **{name: scope + path for name, path in SPACE_LINKS.items()}}
    links["Tasks"] = scope + "/tasks{/id}" + KINDS["tasks"].template
    links["Web"] = f"/app#/{space['Id']}"
    return {"Id": space["Id"], "Links": dict(sorted(links.items()))}


# -- enumerations the server validates --------------------------------------

TENANTED_MODES = ("Untenanted", "TenantedOrUntenanted", "Tenanted")
HEALTH_STATUSES = ("Healthy", "Unhealthy", "HasWarnings", "Unavailable", "Unknown")
FILTER_TYPES = (
    "MachineFilter", "DailySchedule", "DaysPerWeekSchedule", "DaysPerMonthSchedule",
    "CronExpressionSchedule", "OnceDailySchedule", "ContinuousDailySchedule", "FeedFilter",
    "ArcFeedFilter", "GitFilter", "WebhookFilter",
)
ACTION_TYPES = (
    "AutoDeploy", "DeployLatestRelease", "DeployNewRelease", "DeployLatestReleaseToEnvironment",
    "RunRunbook", "CreateRelease",
)
EVENT_GROUPS = (
    "Machine", "MachineCritical", "MachineAvailableForDeployment",
    "MachineUnavailableForDeployment", "MachineHealthChanged",
)
EVENT_CATEGORIES = (
    "MachineCleanupFailed", "MachineAdded", "MachineDeploymentRelatedPropertyWasUpdated",
    "MachineDisabled", "MachineEnabled", "MachineHealthy", "MachineUnavailable",
    "MachineUnhealthy", "MachineHasWarnings",
)
#: Machine policy enumerations by the path of the field that holds them.
POLICY_ENUMS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("MachineCleanupPolicy", "DeleteMachinesBehavior"): ("DoNotDelete", "DeleteUnavailableMachines"),
    ("MachineConnectivityPolicy", "MachineConnectivityBehavior"): (
        "ExpectedToBeOnline", "MayBeOfflineAndCanBeSkipped"),
    ("MachineHealthCheckPolicy", "HealthCheckType"): ("RunScript", "OnlyConnectivity"),
    ("MachineHealthCheckPolicy", "PowerShellHealthCheckPolicy", "RunType"): (
        "InheritFromDefault", "Inline", "OnlyConnectivity"),
    ("MachineHealthCheckPolicy", "BashHealthCheckPolicy", "RunType"): (
        "InheritFromDefault", "Inline", "OnlyConnectivity"),
    ("MachineUpdatePolicy", "CalamariUpdateBehavior"): (
        "UpdateOnDeployment", "UpdateOnNewMachine", "UpdateAlways"),
    ("MachineUpdatePolicy", "TentacleUpdateBehavior"): ("NeverUpdate", "Update"),
    ("MachineUpdatePolicy", "KubernetesAgentUpdateBehavior"): ("NeverUpdate", "Update", "Block"),
}
#: Machine policy TimeSpan fields by path; written back in the day form.
POLICY_TIMESPANS: tuple[tuple[str, ...], ...] = (
    ("ConnectionConnectTimeout",),
    ("ConnectionRetrySleepInterval",),
    ("ConnectionRetryTimeLimit",),
    ("PollingRequestQueueTimeout",),
    ("PollingRequestMaximumMessageProcessingTimeout",),
    ("MachineCleanupPolicy", "DeleteMachinesElapsedTimeSpan"),
    ("MachineHealthCheckPolicy", "HealthCheckInterval"),
)


def machine_policy_template(space_id: str) -> dict:
    """`GET …/machinepolicies/template`: the defaults of a new policy."""
    return {
        "Id": None,
        "Name": None,
        "Description": None,
        "SpaceId": space_id,
        "IsDefault": False,
        "ConnectionConnectTimeout": "00:01:00",
        "ConnectionRetryCountLimit": 5,
        "ConnectionRetrySleepInterval": "00:00:01",
        "ConnectionRetryTimeLimit": "00:05:00",
        "PollingRequestQueueTimeout": "00:02:00",
        "PollingRequestMaximumMessageProcessingTimeout": "00:10:00",
        "MachineCleanupPolicy": {
            "DeleteMachinesBehavior": "DoNotDelete",
            "DeleteMachinesElapsedTimeSpan": "1.00:00:00",
        },
        "MachineConnectivityPolicy": {"MachineConnectivityBehavior": "ExpectedToBeOnline"},
        "MachineHealthCheckPolicy": {
            "HealthCheckType": "RunScript",
            "HealthCheckInterval": "1.00:00:00",
            "HealthCheckCron": None,
            "HealthCheckCronTimezone": "UTC",
            "PowerShellHealthCheckPolicy": {"RunType": "InheritFromDefault", "ScriptBody": None},
            "BashHealthCheckPolicy": {"RunType": "InheritFromDefault", "ScriptBody": None},
        },
        "MachineUpdatePolicy": {
            "CalamariUpdateBehavior": "UpdateOnDeployment",
            "TentacleUpdateBehavior": "NeverUpdate",
            "KubernetesAgentUpdateBehavior": "Update",
            "TentacleUpdateAccountId": None,
        },
        "Links": {},
    }


def get_path(document: Any, path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def set_path(document: dict, path: Sequence[str], value: Any) -> None:
    for part in path[:-1]:
        document = document.setdefault(part, {})
    document[path[-1]] = value


# -- order and links -----------------------------------------------------------


def _by_name(doc: dict) -> tuple:
    return ((doc.get("Name") or "").casefold(), id_number(doc["Id"]))


def _newest_first(field: str) -> Callable[[dict], tuple]:
    return lambda doc: (_negated(doc[field]), -id_number(doc["Id"]))


def _negated(stamp: str) -> float:
    return -datetime.fromisoformat(stamp).timestamp()


_SORT_KEYS: dict[str, Callable[[dict], Any]] = {
    "environments": lambda doc: (doc["SortOrder"], _by_name(doc)),
    "releases": _newest_first("Assembled"),
    "deployments": _newest_first("Created"),
    "tasks": _newest_first("QueueTime"),
}


def sort_key(kind: str) -> Callable[[dict], Any]:
    """Names for most collections; SortOrder for environments; newest first for history."""
    return _SORT_KEYS.get(kind, _by_name)


def csv_values(value: Optional[str]) -> list[str]:
    """A comma-separated query parameter as a list."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def resource_links(kind: Kind, doc: dict) -> dict:
    """The `Links` a stored resource carries, as the server builds them."""
    scope = f"/api/{doc['SpaceId']}"
    self_link = f"{scope}/{kind.collection}/{doc['Id']}"
    if kind.collection == "tasks":
        self_link = f"/api/tasks/{doc['Id']}"
    links = {"Self": self_link}
    ident = doc["Id"]
    if kind.collection == "tenants":
        links["Variables"] = f"{self_link}/variables"
        links["Web"] = f"/app#/{doc['SpaceId']}/tenants/{ident}"
    elif kind.collection == "projects":
        links.update(
            Releases=f"{self_link}/releases{{/version}}{{?skip,take,searchByVersion}}",
            Channels=f"{self_link}/channels{{?skip,take,partialName}}",
            Triggers=f"{self_link}/triggers{{?skip,take,partialName,triggerActionType}}",
            DeploymentSettings=f"{self_link}/deploymentsettings",
            Web=f"/app#/{doc['SpaceId']}/projects/{ident}",
        )
    elif kind.collection == "environments":
        links["Machines"] = (
            f"{self_link}/machines{{?skip,take,partialName,roles,isDisabled,healthStatuses,"
            "commStyles,tenantIds,tenantTags,shellNames}"
        )
    elif kind.collection == "machines":
        links["Connection"] = f"{self_link}/connection"
        links["TasksTemplate"] = f"{self_link}/tasks{{?skip,take,type}}"
    elif kind.collection == "machinepolicies":
        links["Machines"] = f"{self_link}/machines{{?skip,take}}"
    elif kind.collection == "projecttriggers":
        links["Project"] = f"{scope}/projects/{doc.get('ProjectId')}"
    elif kind.collection == "releases":
        links.update(
            Project=f"{scope}/projects/{doc.get('ProjectId')}",
            Deployments=f"{scope}/releases/{ident}/deployments{{?skip,take}}",
        )
    elif kind.collection == "deployments":
        links.update(
            Release=f"{scope}/releases/{doc['ReleaseId']}",
            Environment=f"{scope}/environments/{doc['EnvironmentId']}",
            Project=f"{scope}/projects/{doc['ProjectId']}",
            Task=f"/api/tasks/{doc['TaskId']}",
        )
    return links
