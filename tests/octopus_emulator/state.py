"""The emulated server's data and rules, behind one lock.

Every read and write takes `lock`, and every document handed out is a deep
copy, so parallel clients see whole writes only. Validation follows the REST
reference; choices where the reference marks the real behaviour unconfirmed
are listed in `OctopusState`'s docstring.
"""

from __future__ import annotations

import copy
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Optional

from tests.octopus_emulator.documents import (
    KINDS,
    FORBIDDEN_MESSAGE,
    ApiError,
    Kind,
    Problems,
    duplicate_name,
    machine_policy_template,
    not_found,
    now_iso,
    resource_links,
    slugify,
    sort_key,
    validation_error,
)
from tests.octopus_emulator.machines import MachineLifecycle, is_available
from tests.octopus_emulator.rules import ResourceRules, match_common
from tests.octopus_emulator.variables import TenantVariables

#: Kinds whose `{id}` route also takes the slug.
_BY_SLUG = ("projects",)

#: Collections a PUT replaces: omitting one clears it (or fails if it is required).
_REPLACED_ON_PUT = {
    "tenants": ("TenantTags", "ProjectEnvironments"),
    "projects": ("AutoDeployReleaseOverrides", "Templates"),
    "machines": ("EnvironmentIds", "Roles", "TenantIds", "TenantTags"),
}


class OctopusState(ResourceRules, MachineLifecycle, TenantVariables):
    """What an Octopus Server holds, with the rules it enforces on writes.

    A tenant's `TenantTags` and `ProjectEnvironments` may be left out on
    create and PUT (empty then): the reference's "required" was a 2023.1
    regression, and the official TypeScript client's `NewTenant` leaves them
    out. Choices where the reference leaves the real server's behaviour open:
    names are unique case-insensitively (SQL Server collation); a duplicate
    name is a 400; unknown ids inside `ProjectEnvironments` or
    `AutoDeployReleaseOverrides` are a 400, as is an override whose release
    belongs to another project; connecting a tenant to an `Untenanted`
    project is a 400 (`require_tenanted_projects`); machine names are unique;
    deleting a tenant removes it from machines' `TenantIds` but leaves any
    override that names it, so a leaked override stays visible to tests;
    policies echo TimeSpans in the .NET day form; new machines registered
    through the API start `Unknown`; auto-deploy on a new machine happens only
    when `auto_deploy` is on, so tests that do not expect deployments get none.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.installation_id = str(uuid.uuid4())
        self.require_tenanted_projects = True
        self.auto_deploy = False
        self.deployment_outcome = "Success"
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self._sequences: dict[str, int] = {}
        self._last_stamp: Optional[datetime] = None
        self.spaces: dict[str, dict] = {}
        self.docs: dict[str, dict[str, dict]] = {name: {} for name in KINDS}
        self.users_by_key: dict[str, dict] = {}
        self.permissions: dict[str, dict] = {}
        self.read_only_keys: set[str] = set()
        self.unavailable_since: dict[str, datetime] = {}
        self._init_variables()

    # -- ids, time, users --------------------------------------------------

    def next_id(self, prefix: str) -> str:
        self._sequences[prefix] = self._sequences.get(prefix, 0) + 1
        return f"{prefix}-{self._sequences[prefix]}"

    def stamp(self) -> datetime:
        """Now, strictly later than any earlier stamp, so "newest first" is total."""
        moment = self.clock()
        if self._last_stamp is not None and moment <= self._last_stamp:
            moment = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = moment
        return moment

    def add_api_key(
        self, key: str, *, username: str, read_only: bool = False,
        permissions: Optional[Mapping[str, Any]] = None,
    ) -> dict:
        """A key and its user; `permissions` is its `UserPermissionSetResource` body, space and system."""
        with self.lock:
            user = {
                "Id": self.next_id("Users"),
                "Username": username,
                "DisplayName": username,
                "EmailAddress": f"{username}@example.invalid",
                "IsActive": True,
                "IsService": True,
                "IsRequestor": False,
                "CanPasswordBeEdited": False,
                "Identities": [],
            }
            user["Links"] = {
                "Self": f"/api/users/{user['Id']}",
                "Permissions": f"/api/users/{user['Id']}/permissions{{?spaces}}",
            }
            self.users_by_key[key] = user
            self.permissions[user["Id"]] = {
                "SpacePermissions": dict((permissions or {}).get("SpacePermissions") or {}),
                "SystemPermissions": list((permissions or {}).get("SystemPermissions") or []),
            }
            if read_only:
                self.read_only_keys.add(key)
            return copy.deepcopy(user)

    def revoke_api_key(self, key: str) -> None:
        with self.lock:
            self.users_by_key.pop(key, None)
            self.read_only_keys.discard(key)

    def user_permissions(self, user_id: str, asking: dict) -> dict:
        """`GET /api/users/{id}/permissions`: a user reads its own; another's needs UserView."""
        with self.lock:
            if user_id not in self.permissions:
                raise ApiError(404, "The resource you requested was not found.")
            own = asking["Id"] == user_id
            if not own and "UserView" not in self.permissions[asking["Id"]]["SystemPermissions"]:
                raise ApiError(403, FORBIDDEN_MESSAGE)
            granted = copy.deepcopy(self.permissions[user_id])
            return {
                "Id": user_id,
                **granted,
                "Teams": [],
                "IsPermissionsComplete": True,
                "IsTeamsComplete": True,
                "Links": {"Self": f"/api/users/{user_id}/permissions", "Export": f"/api/users/{user_id}/permissions/export"},
            }

    def user_for_key(self, key: Optional[str]) -> Optional[dict]:
        with self.lock:
            user = self.users_by_key.get(key or "")
            return copy.deepcopy(user) if user else None

    # -- spaces --------------------------------------------------------------

    def add_space(self, name: str, *, is_default: bool = False, description: str = "") -> dict:
        with self.lock:
            if any(s["Name"].casefold() == name.casefold() for s in self.spaces.values()):
                raise validation_error([duplicate_name("space")])
            space_id = self.next_id("Spaces")
            space = {
                "Id": space_id,
                "Name": name,
                "Slug": slugify(name),
                "Description": description,
                "IsDefault": is_default,
                "IsPrivate": False,
                "TaskQueueStopped": False,
                "SpaceManagersTeams": [],
                "SpaceManagersTeamMembers": [],
                "Links": {"Self": f"/api/spaces/{space_id}", "SpaceHome": f"/api/{space_id}"},
            }
            self.spaces[space_id] = space
            self._seed_default_policy(space_id)
            return copy.deepcopy(space)

    def find_space(self, ident: str) -> dict:
        """A space by id (`Spaces-1`) or slug; 404 otherwise."""
        with self.lock:
            for space in self.spaces.values():
                if space["Id"].lower() == ident.lower() or space["Slug"] == ident.lower():
                    return space
            raise not_found(ident)

    def default_space_id(self) -> str:
        with self.lock:
            for space in self.spaces.values():
                if space["IsDefault"]:
                    return space["Id"]
            raise ApiError(404, "There is no default space.")

    def space_by_name(self, name: Optional[str]) -> str:
        """The id of the space named `name` (seeding API); the default space for None."""
        if name is None:
            return self.default_space_id()
        with self.lock:
            for space in self.spaces.values():
                if name in (space["Id"], space["Name"]) or space["Slug"] == name:
                    return space["Id"]
        raise LookupError(f"no space named {name!r}")

    def list_spaces(self, params: dict[str, str]) -> list[dict]:
        with self.lock:
            found = [s for s in self.spaces.values() if match_common(s, params, "contains")]
            return copy.deepcopy(sorted(found, key=sort_key("spaces")))

    # -- generic collection operations --------------------------------------

    def _in_space(self, space_id: str, kind: str) -> list[dict]:
        return [doc for doc in self.docs[kind].values() if doc["SpaceId"] == space_id]

    def lookup(self, space_id: str, kind: str, ident: str) -> dict:
        """The stored document (not a copy): for use under the lock.

        A project is found by its id or its slug, as the server's
        `projects/{idOrSlug}` route does.
        """
        doc = self.docs[kind].get(ident)
        if doc is None and kind in _BY_SLUG:
            doc = next((d for d in self._in_space(space_id, kind) if d.get("Slug") == ident), None)
        if doc is None or doc["SpaceId"] != space_id:
            raise not_found(ident)
        return doc

    def get(self, space_id: str, kind: str, ident: str) -> dict:
        with self.lock:
            self.find_space(space_id)
            return copy.deepcopy(self.lookup(space_id, kind, ident))

    def find_task(self, task_id: str) -> dict:
        """A task by id in any space: `/api/tasks/{id}` is not space-scoped."""
        with self.lock:
            task = self.docs["tasks"].get(task_id)
            if task is None:
                raise not_found(task_id)
            return copy.deepcopy(task)

    def query(
        self,
        space_id: str,
        kind: str,
        params: dict[str, str],
        *,
        where: Optional[dict[str, Any]] = None,
    ) -> list[dict]:
        """The collection filtered by the query parameters the server knows, in its order."""
        with self.lock:
            self.find_space(space_id)
            found = [
                doc
                for doc in self._in_space(space_id, kind)
                if all(doc.get(field) == value for field, value in (where or {}).items())
                and match_common(doc, params, KINDS[kind].name_filter)
                and self._match_kind(kind, doc, params)
            ]
            return copy.deepcopy(sorted(found, key=sort_key(kind)))

    def create(self, space_id: str, kind: str, body: Any, user: Optional[dict] = None) -> dict:
        with self.lock:
            self.find_space(space_id)
            doc = self._build(space_id, KINDS[kind], _object(body), None)
            doc["Id"] = self.next_id(KINDS[kind].prefix)
            doc = self._store(space_id, KINDS[kind], doc, user)
            self._after_write(kind, doc, None)
            return copy.deepcopy(doc)

    def modify(
        self, space_id: str, kind: str, ident: str, body: Any, user: Optional[dict] = None
    ) -> dict:
        with self.lock:
            self.find_space(space_id)
            current = self.lookup(space_id, kind, ident)
            doc = self._build(space_id, KINDS[kind], _object(body), current)
            doc["Id"] = current["Id"]
            before = copy.deepcopy(current)
            doc = self._store(space_id, KINDS[kind], doc, user)
            self._after_write(kind, doc, before)
            return copy.deepcopy(doc)

    def delete(self, space_id: str, kind: str, ident: str) -> None:
        with self.lock:
            self.find_space(space_id)
            doc = self.lookup(space_id, kind, ident)
            getattr(self, f"_before_delete_{kind}", lambda _doc: None)(doc)
            del self.docs[kind][doc["Id"]]

    def _build(self, space_id: str, kind: Kind, body: dict, current: Optional[dict]) -> dict:
        """Validate a POST/PUT body into the document to store; 400 lists every problem.

        PUT carries the whole resource: fields it omits keep their value,
        except the collections it names, which it replaces.
        """
        errors = Problems()
        base = copy.deepcopy(current) if current else {}
        for server_owned in ("Id", "SpaceId", "Links", "LastModifiedOn", "LastModifiedBy"):
            body.pop(server_owned, None)
        doc = {**base, **body}
        for field in _REPLACED_ON_PUT.get(kind.collection, ()):
            if field not in body:
                doc.pop(field, None)
        getattr(self, f"_check_{kind.collection}")(space_id, doc, current, errors)
        if kind.unique_name or kind.collection == "projecttriggers":
            self._check_name(space_id, kind, doc, current, errors)
        if errors:
            raise validation_error(errors)
        return doc

    def _check_name(
        self, space_id: str, kind: Kind, doc: dict, current: Optional[dict], errors: Problems
    ) -> None:
        name = doc.get("Name")
        if not isinstance(name, str) or not name.strip():
            errors.insert(0, "The Name field is required.")
            errors.details["Name"] = "The Name field is required."
            return
        doc["Name"] = name.strip()
        others = [
            other
            for other in self._in_space(space_id, kind.collection)
            if other["Id"] != (current or {}).get("Id")
            and other["Name"].casefold() == doc["Name"].casefold()
            and (kind.collection != "projecttriggers" or other["ProjectId"] == doc.get("ProjectId"))
        ]
        if others:
            errors.append(duplicate_name(kind.label))

    def _store(self, space_id: str, kind: Kind, doc: dict, user: Optional[dict]) -> dict:
        doc = {"Id": doc["Id"], "SpaceId": space_id, **doc}
        if kind.unique_name and not doc.get("Slug"):
            doc["Slug"] = slugify(doc["Name"])
        doc["LastModifiedOn"] = now_iso(self.stamp())
        doc["LastModifiedBy"] = (user or {}).get("Username", "system")
        doc["Links"] = resource_links(kind, doc)
        self.docs[kind.collection][doc["Id"]] = doc
        return doc

    # -- hooks ----------------------------------------------------------------

    def _after_write(self, kind: str, doc: dict, before: Optional[dict]) -> None:
        if kind == "tenants":
            self._prune_values(doc["Id"])  # a project or environment disconnected takes its values
        elif kind == "projects":
            self._prune_all(doc["SpaceId"])  # a template removed takes its values
        if kind != "machines":
            return
        now_available = is_available(doc)
        if doc["HealthStatus"] == "Unavailable":
            self.unavailable_since.setdefault(doc["Id"], self.clock())
        else:
            self.unavailable_since.pop(doc["Id"], None)
        if now_available and (before is None or not is_available(before)):
            self._auto_deploy(doc)

    def _before_delete_tenants(self, tenant: dict) -> None:
        self.tenant_values.pop(tenant["Id"], None)
        for machine in self._in_space(tenant["SpaceId"], "machines"):
            if tenant["Id"] in machine["TenantIds"]:
                machine["TenantIds"] = [t for t in machine["TenantIds"] if t != tenant["Id"]]

    def _before_delete_projects(self, project: dict) -> None:
        for kind in ("releases", "projecttriggers"):
            for doc in list(self._in_space(project["SpaceId"], kind)):
                if doc["ProjectId"] == project["Id"]:
                    del self.docs[kind][doc["Id"]]
        for tenant in self._in_space(project["SpaceId"], "tenants"):
            tenant["ProjectEnvironments"].pop(project["Id"], None)
            self._prune_values(tenant["Id"])

    def _before_delete_machinepolicies(self, policy: dict) -> None:
        if policy.get("IsDefault"):
            raise validation_error(["The default machine policy cannot be deleted."])
        users = [
            m for m in self._in_space(policy["SpaceId"], "machines")
            if m["MachinePolicyId"] == policy["Id"]
        ]
        if users:
            raise validation_error(
                [f"This machine policy is in use by {len(users)} deployment target(s) and "
                 "cannot be deleted."]
            )

    def _before_delete_machines(self, machine: dict) -> None:
        self.unavailable_since.pop(machine["Id"], None)

    def _before_delete_deployments(self, deployment: dict) -> None:
        raise ApiError(405, "Deployments cannot be deleted here.")

    _before_delete_tasks = _before_delete_deployments

    # -- machine policies ---------------------------------------------------

    def _seed_default_policy(self, space_id: str) -> None:
        policy = machine_policy_template(space_id)
        del policy["Links"]
        policy.update(
            Id=self.next_id("MachinePolicies"),
            Name="Default Machine Policy",
            Description="Default machine policy",
            IsDefault=True,
        )
        self._store(space_id, KINDS["machinepolicies"], policy, None)

    def _default_policy_id(self, space_id: str) -> Optional[str]:
        for policy in self._in_space(space_id, "machinepolicies"):
            if policy.get("IsDefault"):
                return policy["Id"]
        return None


# -- request bodies ------------------------------------------------------------


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise validation_error(["The request body must be a JSON object."])
    return copy.deepcopy(body)
