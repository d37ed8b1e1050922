"""Octopus Deploy resource operations: spaces, projects, tenants, overrides, machines, policies.

Build an `OctopusClient` where it is used and close it there (it is a context
manager): it holds an API key and a connection pool, so it refuses to be
pickled and must never be kept on a dynamic provider. Every look-up reads all
pages; every name match is made here, exactly, because the server's `name` and
`partialName` filters are contains-matches.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable, Iterator, Mapping, Optional
from urllib.parse import quote

from components.octopus.errors import (
    OctopusAuthError,
    OctopusConflict,
    OctopusError,
    OctopusNotFound,
    OctopusUnavailable,
)
from components.octopus.session import BACKOFF_MAX_SECONDS, OctopusSession

_SPACE_ID = re.compile(r"^Spaces-\d+$")

#: Page size for collection reads; the server's own default is 30.
PAGE_SIZE = 100

#: Rounds of write-then-verify before an override change is declared lost.
OVERRIDE_WRITE_ROUNDS = 8

#: How long a writer waits before checking that its override survived. A
#: concurrent read-modify-write by another process that read the project
#: before our PUT lands within this window and is then detected and repaired.
OVERRIDE_SETTLE_SECONDS = 0.25

#: The feature toggle that says a server has the per-project tenant variable API.
PROJECT_VARIABLES_TOGGLE = "CommonVariableScopingFeatureToggle"

#: Writes of a tenant's variables refused for a concurrency token that went stale.
TENANT_VARIABLE_WRITE_ROUNDS = 4

_project_locks: dict[tuple[str, str, str], threading.Lock] = {}
_project_locks_guard = threading.Lock()


def _project_lock(server: str, space_id: str, project_id: str) -> threading.Lock:
    """One lock per project per process: parallel resources in one provider never race."""
    return _lock_for(server, space_id, project_id)


def _lock_for(*key: str) -> threading.Lock:
    with _project_locks_guard:
        return _project_locks.setdefault(key, threading.Lock())  # type: ignore[arg-type]


def same_name(left: Any, right: str) -> bool:
    """Octopus names are unique case-insensitively; match the way the server does."""
    return isinstance(left, str) and left.strip().casefold() == right.strip().casefold()


def override_matches(entry: Mapping[str, Any], environment_id: str, tenant_id: Optional[str]) -> bool:
    """An override's identity is (environment, tenant); an untenanted one has no tenant."""
    return entry.get("EnvironmentId") == environment_id and (entry.get("TenantId") or None) == (
        tenant_id or None
    )


def is_sensitive_template(template: Optional[Mapping[str, Any]]) -> bool:
    """A variable template whose values Octopus keeps secret (control type `Sensitive`)."""
    settings = (template or {}).get("DisplaySettings") or {}
    return settings.get("Octopus.ControlType") == "Sensitive"


def sensitive_value(value: str) -> dict[str, Any]:
    """A new value for a sensitive template, in the form Octopus accepts it."""
    return {"HasValue": True, "NewValue": value}


def _stale_token(conflict: OctopusError) -> bool:
    text = " ".join([conflict.message, *conflict.errors]).lower()
    return "another user has made changes" in text


def same_overrides(left: Any, right: Any) -> bool:
    """Whether two override lists hold the same entries, in any order."""

    def key(entry: Mapping[str, Any]) -> tuple:
        return (entry.get("EnvironmentId"), entry.get("TenantId") or None, entry.get("ReleaseId"))

    return sorted(map(key, left or ())) == sorted(map(key, right or ()))


class OctopusClient:
    """The operations phoenix needs, scoped to one space (resolved lazily by name or id)."""

    def __init__(
        self,
        server_url: str,
        api_key: str,
        space: str = "Default",
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        retries: int = 4,
        backoff_factor: float = 0.25,
        page_size: int = PAGE_SIZE,
    ) -> None:
        if not space:
            raise ValueError("an Octopus space name or id is required")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._session = OctopusSession(
            server_url, api_key, timeout=timeout, retries=retries, backoff_factor=backoff_factor
        )
        self.space = space
        self._space_id: Optional[str] = None
        self._page_size = page_size
        self._create_attempts = retries + 1
        self._backoff_factor = backoff_factor
        self._project_variables: Optional[bool] = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def server_url(self) -> str:
        return self._session.server_url

    def __repr__(self) -> str:
        return f"OctopusClient(server_url={self.server_url!r}, space={self.space!r})"

    def __reduce__(self):
        raise TypeError(
            "OctopusClient holds an API key and a connection pool and is never pickled; "
            "construct it inside the method that uses it"
        )

    def __enter__(self) -> "OctopusClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # -- plumbing ----------------------------------------------------------

    def _get(self, path: str, **params: Any) -> Any:
        return self._session.request("GET", path, params=params or None)

    def _scoped(self, path: str) -> str:
        return f"/api/{self.space_id}/{path}"

    def _pages(self, path: str, **params: Any) -> Iterator[dict]:
        """Every item of a collection, page by page, each item once.

        Advances `skip` by what arrived rather than following `Links`, whose
        paths may not carry a virtual-directory prefix of `server_url`.
        """
        seen: set[str] = set()
        skip = 0
        while True:
            page = self._get(path, **params, skip=skip, take=self._page_size)
            items = page.get("Items") or []
            for item in items:
                item_id = item.get("Id")
                if item_id in seen:
                    continue  # an insert shifted the pages while we read
                seen.add(item_id)
                yield item
            skip += len(items)
            total = page.get("TotalResults")
            if not items or (skip >= int(total) if total is not None else len(items) < self._page_size):
                return

    def _find_by_name(self, collection: str, name: str) -> Optional[dict]:
        for item in self._pages(self._scoped(collection), partialName=name.strip()):
            if same_name(item.get("Name"), name):
                return item
        return None

    def _require(self, found: Optional[dict], what: str, name: str, collection: str) -> dict:
        if found is None:
            raise OctopusNotFound(
                f"no {what} named {name!r} in space {self.space!r}",
                method="GET",
                path=self._scoped(collection),
                status=None,
            )
        return found

    def _create(self, collection: str, body: dict, find_existing: Callable[[], Optional[dict]]) -> dict:
        """POST a new resource without ever making a duplicate.

        urllib3 does not repeat a POST (it is not idempotent). When a POST gets
        no usable answer (dropped connection, timeout, 429/5xx) the server may
        or may not have created the resource, so instead of posting blindly
        again we look it up by its unique name: found means our POST landed;
        absent means it did not, and posting again is safe. Should that second
        POST meet "name already exists", an earlier attempt landed after our
        look-up, and the look-up is repeated. A name clash on the first attempt
        is a real conflict and is raised.
        """
        path = self._scoped(collection)
        lost: Optional[OctopusUnavailable] = None
        for attempt in range(self._create_attempts):
            if lost is not None:
                existing = find_existing()
                if existing is not None:
                    return existing
                time.sleep(min(BACKOFF_MAX_SECONDS, self._backoff_factor * (2**attempt)))
            try:
                return self._session.request("POST", path, body=body)
            except OctopusUnavailable as exc:
                lost = exc
            except OctopusConflict:
                if lost is None:
                    raise
                existing = find_existing()
                if existing is None:
                    raise
                return existing
        existing = find_existing()
        if existing is not None:
            return existing
        assert lost is not None
        raise lost

    # -- server and space --------------------------------------------------

    def root(self) -> dict:
        return self._get("/api")

    def current_user(self) -> dict:
        """The key's user; any valid key may read it, so it is the cheapest key check."""
        return self._get("/api/users/me")

    def user_permissions(self, user: dict) -> dict:
        """A user's effective permissions (`UserPermissionSetResource`), from the user's Permissions link.

        Octopus' own clients follow that link (OctopusClients'
        `UserPermissionsRepository.Get`); a user may read its own.
        """
        link = str((user.get("Links") or {}).get("Permissions") or f"/api/users/{user.get('Id')}/permissions")
        return self._get(link.split("{", 1)[0])

    @property
    def space_id(self) -> str:
        if self._space_id is None:
            self._space_id = self._resolve_space(self.space)
        return self._space_id

    def _resolve_space(self, space: str) -> str:
        if _SPACE_ID.match(space):
            return self._get(f"/api/spaces/{space}")["Id"]
        matches = [
            item
            for item in self._pages("/api/spaces", partialName=space)
            if same_name(item.get("Name"), space)
        ]
        exact = [item for item in matches if item.get("Name") == space]
        found = (exact or matches or [None])[0]
        if found is None:
            raise OctopusNotFound(
                f"no space named {space!r} on {self.server_url}",
                method="GET",
                path="/api/spaces",
            )
        return found["Id"]

    # -- look-ups ----------------------------------------------------------

    def find_project(self, name_or_slug: str) -> dict:
        """A project by name, slug or id; a name search first, then every project."""
        found = self._find_by_name("projects", name_or_slug)
        if found is None:
            wanted = name_or_slug.strip()
            found = next(
                (
                    item
                    for item in self._get(self._scoped("projects/all"))
                    if item.get("Slug") == wanted.lower() or item.get("Id") == wanted
                ),
                None,
            )
        return self._require(found, "project", name_or_slug, "projects")

    def get_project(self, project_id: str) -> dict:
        return self._get(self._scoped(f"projects/{project_id}"))

    def find_environment(self, name: str) -> dict:
        return self._require(
            self._find_by_name("environments", name), "environment", name, "environments"
        )

    def find_release(self, project_id: str, version: str) -> dict:
        path = self._scoped(f"projects/{project_id}/releases/{quote(version, safe='')}")
        try:
            return self._get(path)
        except OctopusNotFound as exc:
            raise OctopusNotFound(
                f"no release {version!r} in project {project_id}",
                method=exc.method,
                path=exc.path,
                status=exc.status,
                errors=exc.errors,
            ) from None

    def releases(self, project_id: str) -> list[dict]:
        """All releases of a project in the server's order: newest first."""
        return list(self._pages(self._scoped(f"projects/{project_id}/releases")))

    def find_tenant(self, name: str) -> Optional[dict]:
        return self._find_by_name("tenants", name)

    def tenants(self, partial_name: str = "") -> list[dict]:
        params = {"partialName": partial_name} if partial_name else {}
        return list(self._pages(self._scoped("tenants"), **params))

    def find_machine_policy(self, name: str) -> dict:
        return self._require(
            self._find_by_name("machinepolicies", name), "machine policy", name, "machinepolicies"
        )

    def machines_for_tenant(self, tenant_id: str) -> list[dict]:
        # Filtered again here: a server that ignored the filter must not make
        # destroy delete another tenant's machines.
        return [
            machine
            for machine in self._pages(self._scoped("machines"), tenantIds=tenant_id)
            if tenant_id in (machine.get("TenantIds") or [])
        ]

    def project_triggers(self, project_id: str) -> list[dict]:
        return list(self._pages(self._scoped(f"projects/{project_id}/triggers")))

    def deployments(
        self, *, project_id: str, environment_id: str, tenant_id: Optional[str] = None
    ) -> list[dict]:
        """Deployments of a project to an environment (and tenant), newest first."""
        params = {"projects": project_id, "environments": environment_id}
        if tenant_id:
            params["tenants"] = tenant_id
        return list(self._pages(self._scoped("deployments"), **params))

    def get_task(self, task_id: str) -> dict:
        return self._get(f"/api/tasks/{task_id}")

    # -- tenants -----------------------------------------------------------

    def create_tenant(self, body: dict) -> dict:
        """Create a tenant; `Name` is required, the connection fields default to empty."""
        name = body.get("Name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a tenant needs a non-empty Name")
        # Some servers reject a create that omits these two, even when empty.
        full = {
            "TenantTags": [],
            "ProjectEnvironments": {},
            **body,
            "SpaceId": self.space_id,
        }
        return self._create("tenants", full, lambda: self.find_tenant(name))

    def get_tenant(self, tenant_id: str) -> dict:
        return self._get(self._scoped(f"tenants/{tenant_id}"))

    def modify_tenant(self, tenant: dict) -> dict:
        """PUT the whole tenant: what it omits (projects, tags) is removed."""
        return self._session.request("PUT", self._scoped(f"tenants/{tenant['Id']}"), body=tenant)

    def delete_tenant(self, tenant_id: str) -> None:
        """Delete a tenant; OctopusNotFound if it is already gone (callers decide if that is fine)."""
        self._session.request("DELETE", self._scoped(f"tenants/{tenant_id}"))

    # -- auto-deploy overrides ---------------------------------------------

    def find_auto_deploy_override(
        self, project_id: str, environment_id: str, tenant_id: Optional[str]
    ) -> Optional[dict]:
        project = self.get_project(project_id)
        return next(
            (
                entry
                for entry in project.get("AutoDeployReleaseOverrides") or []
                if override_matches(entry, environment_id, tenant_id)
            ),
            None,
        )

    def set_auto_deploy_override(
        self, project_id: str, environment_id: str, tenant_id: Optional[str], release_id: str
    ) -> dict:
        """Add or replace the override for (environment, tenant); returns the entry.

        Overrides live on the project document and only a whole-project PUT
        changes them, with no concurrency token. Two writers that read before
        either writes lose one change. So each writer checks, after a pause,
        that its own entry survived and writes again if not; writers in this
        process are serialised outright.
        """
        entry = {"EnvironmentId": environment_id, "TenantId": tenant_id, "ReleaseId": release_id}

        def apply(overrides: list[dict]) -> list[dict]:
            kept = [e for e in overrides if not override_matches(e, environment_id, tenant_id)]
            return kept + [entry]

        def holds(overrides: list[dict]) -> bool:
            return any(
                override_matches(e, environment_id, tenant_id) and e.get("ReleaseId") == release_id
                for e in overrides
            )

        self._write_overrides(project_id, apply, holds)
        return entry

    def remove_auto_deploy_override(
        self, project_id: str, environment_id: str, tenant_id: Optional[str]
    ) -> bool:
        """Remove the override for (environment, tenant); False when there was none."""
        removed = False

        def apply(overrides: list[dict]) -> list[dict]:
            nonlocal removed
            kept = [e for e in overrides if not override_matches(e, environment_id, tenant_id)]
            removed = removed or len(kept) != len(overrides)
            return kept

        def holds(overrides: list[dict]) -> bool:
            return not any(override_matches(e, environment_id, tenant_id) for e in overrides)

        self._write_overrides(project_id, apply, holds)
        return removed

    def _write_overrides(
        self,
        project_id: str,
        apply: Callable[[list[dict]], list[dict]],
        holds: Callable[[list[dict]], bool],
    ) -> None:
        path = self._scoped(f"projects/{project_id}")
        refused: Optional[OctopusError] = None
        with _project_lock(self.server_url, self.space_id, project_id):
            project = self.get_project(project_id)
            for attempt in range(OVERRIDE_WRITE_ROUNDS):
                overrides = list(project.get("AutoDeployReleaseOverrides") or [])
                if holds(overrides):
                    return
                project["AutoDeployReleaseOverrides"] = apply(overrides)
                try:
                    # Sent once: a PUT repeated after a backoff would write back a copy
                    # that other writers may have changed meanwhile, undoing their
                    # entries after they verified them. Every attempt starts from a read.
                    self._session.request("PUT", path, body=project, retry=False)
                except OctopusConflict as conflict:
                    # The copy we read may be stale: another writer removed an entry and
                    # deleted its tenant since, and the server refuses the dead reference.
                    # Only then is re-reading and re-applying the fix. Octopus also answers
                    # 400 for reasons of its own (a version-controlled or read-only project,
                    # release settings, our own entry): those fail at once, with its text.
                    fresh = self.get_project(project_id)
                    if conflict.status != 409 and same_overrides(
                        fresh.get("AutoDeployReleaseOverrides"), overrides
                    ):
                        raise
                    refused = conflict
                    project = fresh
                    continue
                except OctopusUnavailable as unavailable:
                    refused = unavailable
                    time.sleep(min(BACKOFF_MAX_SECONDS, self._backoff_factor * 2**attempt))
                    project = self.get_project(project_id)
                    continue
                refused = None
                time.sleep(OVERRIDE_SETTLE_SECONDS)
                project = self.get_project(project_id)
                if holds(list(project.get("AutoDeployReleaseOverrides") or [])):
                    return
        if refused is not None:
            raise refused
        raise OctopusError(
            f"the auto-deploy overrides of {project_id} kept being overwritten by another "
            f"writer; gave up after {OVERRIDE_WRITE_ROUNDS} attempts",
            method="PUT",
            path=path,
        )

    # -- tenant variables --------------------------------------------------

    def supports_project_variables(self) -> bool:
        """Whether the server has the per-project tenant variable API (2025.2+).

        Decided as the official Terraform provider decides it: by the feature
        toggle the API shipped under, read from `/api/configuration/feature-toggles`.
        A server without that document (404), or a key that may not read it
        (403), gets the whole-document API, which every version still serves.
        """
        if self._project_variables is None:
            try:
                document = self._get("/api/configuration/feature-toggles", Name=PROJECT_VARIABLES_TOGGLE)
            except (OctopusNotFound, OctopusAuthError) as exc:
                if isinstance(exc, OctopusAuthError) and exc.status != 403:
                    raise
                document = {}
            self._project_variables = any(
                toggle.get("Name") == PROJECT_VARIABLES_TOGGLE and toggle.get("IsEnabled") is True
                for toggle in (document or {}).get("FeatureToggles") or ()
            )
        return self._project_variables

    def tenant_variable_values(self, tenant_id: str, project_id: str, environment_id: str) -> dict[str, Any]:
        """The tenant's values for the project's templates in one environment, by template id.

        Only values that are set; a sensitive one is its read form (`HasValue`).
        A value scoped to the environment wins over an unscoped one.
        """
        if self.supports_project_variables():
            found: dict[str, Any] = {}
            for item in self._project_variables_list(tenant_id)["Variables"] or ():
                scope = (item.get("Scope") or {}).get("EnvironmentIds") or []
                if item.get("ProjectId") != project_id or (scope and environment_id not in scope):
                    continue
                if scope or item.get("TemplateId") not in found:
                    found[item["TemplateId"]] = item.get("Value")
            return found
        section = self._variables_document(tenant_id)["ProjectVariables"].get(project_id) or {}
        return dict((section.get("Variables") or {}).get(environment_id) or {})

    def set_tenant_variable_values(
        self, tenant_id: str, project_id: str, environment_id: str, values: Mapping[str, Any]
    ) -> None:
        """Give templates (by id) values in one environment; a None value removes it.

        Values are in the wire form (text, or `{"HasValue": true, "NewValue": ...}`
        for a sensitive template). Every other value of the tenant is sent back
        as it was read (a sensitive one in its read form, which keeps it): both
        APIs replace the whole set. A write refused for a stale concurrency token
        is rebuilt from a fresh read; writers in this process are serialised.
        """
        write = (
            self._write_project_variables if self.supports_project_variables() else self._write_variables_document
        )
        with _lock_for(self.server_url, self.space_id, "tenant-variables", tenant_id):
            for attempt in range(TENANT_VARIABLE_WRITE_ROUNDS):
                try:
                    write(tenant_id, project_id, environment_id, values)
                    return
                except OctopusConflict as conflict:
                    if not _stale_token(conflict) or attempt == TENANT_VARIABLE_WRITE_ROUNDS - 1:
                        raise
                    time.sleep(min(BACKOFF_MAX_SECONDS, self._backoff_factor * 2**attempt))

    def _project_variables_list(self, tenant_id: str) -> dict:
        return self._get(self._scoped(f"tenants/{tenant_id}/projectvariables"))

    def _variables_document(self, tenant_id: str) -> dict:
        document = self._get(self._scoped(f"tenants/{tenant_id}/variables"))
        document["ProjectVariables"] = document.get("ProjectVariables") or {}
        return document

    def _write_project_variables(
        self, tenant_id: str, project_id: str, environment_id: str, values: Mapping[str, Any]
    ) -> None:
        current = self._project_variables_list(tenant_id)
        ours = [environment_id]
        kept = [
            {key: item.get(key) for key in ("Id", "ProjectId", "TemplateId", "Value", "Scope")}
            for item in current.get("Variables") or ()
            if not (
                item.get("ProjectId") == project_id
                and item.get("TemplateId") in values
                and (item.get("Scope") or {}).get("EnvironmentIds") == ours
            )
        ]
        previous = {
            item["TemplateId"]: item.get("Id")
            for item in current.get("Variables") or ()
            if item.get("ProjectId") == project_id and (item.get("Scope") or {}).get("EnvironmentIds") == ours
        }
        added = [
            {"Id": previous.get(template_id), "ProjectId": project_id, "TemplateId": template_id,
             "Value": value, "Scope": {"EnvironmentIds": ours}}
            for template_id, value in values.items()
            if value is not None
        ]
        body = {"TenantId": tenant_id, "ConcurrencyToken": current.get("ConcurrencyToken"),
                "Variables": kept + [{k: v for k, v in item.items() if v is not None} for item in added]}
        self._session.request("PUT", self._scoped(f"tenants/{tenant_id}/projectvariables"), body=body)

    def _write_variables_document(
        self, tenant_id: str, project_id: str, environment_id: str, values: Mapping[str, Any]
    ) -> None:
        document = self._variables_document(tenant_id)
        section = document["ProjectVariables"].get(project_id)
        by_environment = (section or {}).get("Variables") or {}
        if environment_id not in by_environment:
            raise OctopusNotFound(
                f"tenant {tenant_id} is not connected to project {project_id} in environment "
                f"{environment_id}, so it has no variables there",
                method="GET", path=self._scoped(f"tenants/{tenant_id}/variables"),
            )
        templates = {t.get("Id"): t for t in section.get("Templates") or ()}
        environment = by_environment[environment_id]
        for template_id, value in values.items():
            if value is not None:
                environment[template_id] = value
            elif is_sensitive_template(templates.get(template_id)):
                environment[template_id] = {"HasValue": False}  # clears it, as the Terraform provider does
            else:
                environment.pop(template_id, None)
        self._session.request("PUT", self._scoped(f"tenants/{tenant_id}/variables"), body=document)

    # -- machines ----------------------------------------------------------

    def delete_machine(self, machine_id: str) -> None:
        self._session.request("DELETE", self._scoped(f"machines/{machine_id}"))

    # -- machine policies --------------------------------------------------

    def machine_policy_template(self) -> dict:
        """The server's defaults for a new policy: start from these, change what you need."""
        return self._get(self._scoped("machinepolicies/template"))

    def create_machine_policy(self, body: dict) -> dict:
        name = body.get("Name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a machine policy needs a non-empty Name")
        full = {**body, "SpaceId": self.space_id}

        def existing() -> Optional[dict]:
            return self._find_by_name("machinepolicies", name)

        return self._create("machinepolicies", full, existing)

    def get_machine_policy(self, policy_id: str) -> dict:
        return self._get(self._scoped(f"machinepolicies/{policy_id}"))

    def modify_machine_policy(self, body: dict) -> dict:
        return self._session.request(
            "PUT", self._scoped(f"machinepolicies/{body['Id']}"), body=body
        )

    def delete_machine_policy(self, policy_id: str) -> None:
        self._session.request("DELETE", self._scoped(f"machinepolicies/{policy_id}"))
