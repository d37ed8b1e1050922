"""Tenant variables: the values a tenant gives a project's variable templates, in both APIs.

A mixin of `OctopusState` (its lock, `docs`, ids), following the reference's
§15. The values are held once, as entries `(project, template, environment
scope, value)`, and shown two ways:

- the whole-document API, `…/tenants/{id}/variables` (GET, PUT or POST),
  keyed project -> environment -> template id, one value per connected
  environment (an unscoped value shows under each);
- the per-project API of 2025.2, `…/tenants/{id}/projectvariables` (GET with
  `includeMissingVariables`, PUT or POST), a flat list of entries with ids
  and environment scopes. It is served only while the feature toggle
  `CommonVariableScopingFeatureToggle` is on (`/api/configuration/feature-toggles`
  lists it), which is how clients tell the two kinds of server apart.

Where the reference and an official client disagree the client wins: the
TypeScript client (`@octopusdeploy/api-client` 3.11, `modifyProjectVariables`)
sends the per-project write as a bare array of `{Id, TemplateId, Value,
Scope}` without the owner field, so a bare array is accepted and the project
is found from the template (template ids are unique GUIDs); the object form
`{TenantId, ConcurrencyToken, Variables}` of the .NET and Go clients is too,
with `ProjectId` or `OwnerId`.

Values travel in the polymorphic form: text for ordinary templates; for
`Sensitive` ones reads give `{"HasValue": true, "NewValue": null, "Hint":
null}` and never the value, writes take `{"HasValue": true, "NewValue": s}`
(set), the read object echoed back (keep) or `{"HasValue": false}` (clear),
and plain text (the docs' binding script sends it).

Choices where the real server's answer is unconfirmed: a value for an
unknown template, an unconnected project or environment, or a malformed value
is a 400 listing each problem; a stale `ConcurrencyToken` is a 400 with the
server's observed wording (a write that omits the token is not checked);
disconnecting a project or environment from the tenant, removing a template
from the project, or deleting the tenant or project deletes the values it
held. The common (library variable set) variables are served empty: the
emulator has no library variable sets, so any value written there names an
unknown template.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, Iterable, Optional

from tests.octopus_emulator.documents import ApiError, Problems, not_found, validation_error

#: The feature toggle under which 2025.1 shipped the per-project API (GA in 2025.2).
PROJECT_VARIABLES_TOGGLE = "CommonVariableScopingFeatureToggle"
SENSITIVE = "Sensitive"
STALE_TOKEN_MESSAGE = (
    "Changes to these tenant variables could not be saved, because another user has made changes "
    "to them since you loaded them. Please reload and try again."
)


def is_sensitive(template: dict) -> bool:
    return (template.get("DisplaySettings") or {}).get("Octopus.ControlType") == SENSITIVE


def shown(template: dict, stored: Any) -> Any:
    """A stored value as reads show it: a sensitive one only says that it is set."""
    if is_sensitive(template):
        return {"HasValue": stored is not None, "NewValue": None, "Hint": None}
    return stored


def _keeps(value: Any) -> bool:
    """The read form of a sensitive value echoed back: keep what is stored."""
    return isinstance(value, dict) and value.get("HasValue") is True and value.get("NewValue") is None


class TenantVariables:
    """The values, the templates they belong to, and both APIs over them."""

    docs: dict[str, dict[str, dict]]

    def _init_variables(self) -> None:
        #: tenant id -> entries {"Id", "ProjectId", "TemplateId", "EnvironmentIds", "Value"}.
        self.tenant_values: dict[str, list[dict]] = {}
        self.variable_tokens: dict[str, str] = {}

    # -- templates ---------------------------------------------------------------------

    def _check_templates(self, doc: dict, current: Optional[dict], errors: Problems) -> None:
        """A project's `Templates`: each named once; an Id kept when sent, assigned when not."""
        templates = doc.get("Templates")
        if templates is None:
            templates = doc["Templates"] = []
        if not isinstance(templates, list) or not all(isinstance(t, dict) for t in templates):
            errors.field("Templates", "Templates must be a list of variable templates.")
            return
        names: set[str] = set()
        for template in templates:
            name = template.get("Name")
            if not isinstance(name, str) or not name.strip():
                errors.field("Templates", "Every variable template needs a Name.")
                continue
            if name.casefold() in names:
                errors.field("Templates", f"The variable template name '{name}' is used more than once.")
            names.add(name.casefold())
            if not isinstance(template.get("Id"), str) or not template["Id"]:
                # Without its Id a template is a new one: values given to the old one are lost.
                template["Id"] = str(uuid.uuid4())
            template.setdefault("Label", "")
            template.setdefault("HelpText", None)
            template.setdefault("DefaultValue", None)
            settings = template.setdefault("DisplaySettings", {})
            if not isinstance(settings, dict):
                errors.field("Templates", f"DisplaySettings of template '{name}' must be an object.")

    def _project_templates(self, project_id: str) -> dict[str, dict]:
        project = self.docs["projects"].get(project_id) or {}
        return {t["Id"]: t for t in project.get("Templates") or ()}

    def _template_owner(self, space_id: str, template_id: Any) -> Optional[tuple[str, dict]]:
        for project in self._in_space(space_id, "projects"):
            for template in project.get("Templates") or ():
                if template["Id"] == template_id:
                    return project["Id"], template
        return None

    # -- keeping values consistent with what they hang on ---------------------------------

    def _prune_values(self, tenant_id: str) -> None:
        """Drop values of templates, projects or environments no longer there or connected."""
        tenant = self.docs["tenants"].get(tenant_id)
        if tenant is None:
            self.tenant_values.pop(tenant_id, None)
            self.variable_tokens.pop(tenant_id, None)
            return
        connected = tenant.get("ProjectEnvironments") or {}
        kept = []
        for entry in self.tenant_values.get(tenant_id, []):
            environments = connected.get(entry["ProjectId"])
            if environments is None or entry["TemplateId"] not in self._project_templates(entry["ProjectId"]):
                continue
            if entry["EnvironmentIds"]:
                entry["EnvironmentIds"] = [e for e in entry["EnvironmentIds"] if e in environments]
                if not entry["EnvironmentIds"]:
                    continue
            kept.append(entry)
        if kept != self.tenant_values.get(tenant_id, []):
            self._store_values(tenant_id, kept)

    def _prune_all(self, space_id: str) -> None:
        for tenant_id in list(self.tenant_values):
            tenant = self.docs["tenants"].get(tenant_id)
            if tenant is None or tenant["SpaceId"] == space_id:
                self._prune_values(tenant_id)

    def _store_values(self, tenant_id: str, entries: list[dict]) -> None:
        self.tenant_values[tenant_id] = entries
        self.variable_tokens[tenant_id] = uuid.uuid4().hex

    def _token(self, tenant_id: str) -> str:
        return self.variable_tokens.setdefault(tenant_id, uuid.uuid4().hex)

    def _check_token(self, tenant_id: str, body: Any) -> None:
        token = body.get("ConcurrencyToken") if isinstance(body, dict) else None
        if token and token != self._token(tenant_id):
            raise validation_error([STALE_TOKEN_MESSAGE])

    # -- the whole-document API --------------------------------------------------------

    def tenant_variables(self, space_id: str, tenant_id: str) -> dict:
        """`GET …/tenants/{id}/variables`."""
        with self.lock:
            tenant = self.lookup(space_id, "tenants", tenant_id)
            return self._variables_document(tenant)

    def all_tenant_variables(self, space_id: str, project_id: Optional[str]) -> list[dict]:
        """`GET …/tenantvariables/all?projectId=`: whole documents of the tenants connected to it."""
        with self.lock:
            self.find_space(space_id)
            return [
                self._variables_document(tenant)
                for tenant in sorted(self._in_space(space_id, "tenants"), key=lambda t: t["Name"].casefold())
                if not project_id or project_id in (tenant.get("ProjectEnvironments") or {})
            ]

    def _variables_document(self, tenant: dict) -> dict:
        entries = self.tenant_values.get(tenant["Id"], [])
        projects = {}
        for project_id, environment_ids in (tenant.get("ProjectEnvironments") or {}).items():
            project = self.docs["projects"][project_id]
            templates = self._project_templates(project_id)
            variables: dict[str, dict] = {}
            for environment_id in environment_ids:
                values: dict[str, Any] = {}
                for template_id, template in templates.items():
                    entry = _entry_for(entries, project_id, template_id, environment_id)
                    if entry is not None:
                        values[template_id] = shown(template, entry["Value"])
                variables[environment_id] = values
            projects[project_id] = {
                "ProjectId": project_id,
                "ProjectName": project["Name"],
                "Templates": copy.deepcopy(list(templates.values())),
                "Variables": variables,
                "Links": {"Project": f"/api/{tenant['SpaceId']}/projects/{project_id}"},
            }
        return {
            "TenantId": tenant["Id"],
            "TenantName": tenant["Name"],
            "SpaceId": tenant["SpaceId"],
            "ConcurrencyToken": self._token(tenant["Id"]),
            "ProjectVariables": projects,
            "LibraryVariables": {},
            "Links": {"Self": f"/api/{tenant['SpaceId']}/tenants/{tenant['Id']}/variables"},
        }

    def set_tenant_variables(self, space_id: str, tenant_id: str, body: Any) -> dict:
        """`PUT`/`POST …/tenants/{id}/variables`: the document replaces every project value."""
        with self.lock:
            tenant = self.lookup(space_id, "tenants", tenant_id)
            if not isinstance(body, dict):
                raise validation_error(["The request body must be a JSON object."])
            self._check_token(tenant["Id"], body)
            errors = Problems()
            connected = tenant.get("ProjectEnvironments") or {}
            current = self.tenant_values.get(tenant["Id"], [])
            entries: list[dict] = []
            projects = body.get("ProjectVariables") or {}
            if not isinstance(projects, dict):
                raise validation_error(["ProjectVariables must map project ids to their variables."])
            for project_id, section in projects.items():
                if project_id not in connected:
                    errors.append(f"The project '{project_id}' is not connected to tenant '{tenant['Name']}'.")
                    continue
                templates = self._project_templates(project_id)
                by_environment = (section or {}).get("Variables") or {}
                if not isinstance(by_environment, dict):
                    errors.append(f"The variables of project '{project_id}' must map environments to values.")
                    continue
                for environment_id, values in by_environment.items():
                    if environment_id not in connected[project_id]:
                        errors.append(
                            f"The environment '{environment_id}' is not connected to tenant "
                            f"'{tenant['Name']}' for project '{project_id}'."
                        )
                        continue
                    for template_id, value in (values or {}).items():
                        template = templates.get(template_id)
                        if template is None:
                            errors.append(f"The variable template '{template_id}' was not found.")
                            continue
                        # An echoed sensitive value keeps what applies here, scoped or not;
                        # the entry keeps its id only if it was scoped to this environment alone.
                        applies = _entry_for(current, project_id, template_id, environment_id)
                        own = _entry_for(current, project_id, template_id, environment_id, exact=True)
                        stored = _stored(template, value, applies, errors)
                        if stored is not None:
                            entries.append({
                                "Id": own["Id"] if own and own["EnvironmentIds"] == [environment_id]
                                else self.next_id("TenantVariables"),
                                "ProjectId": project_id, "TemplateId": template_id,
                                "EnvironmentIds": [environment_id], "Value": stored,
                            })
            for set_id, section in (body.get("LibraryVariables") or {}).items():
                if (section or {}).get("Variables"):
                    errors.append(f"The library variable set '{set_id}' was not found.")
            if errors:
                raise validation_error(errors)
            self._store_values(tenant["Id"], entries)
            return self._variables_document(tenant)

    # -- the per-project API ---------------------------------------------------------------

    def project_variables(self, space_id: str, tenant_id: str, include_missing: bool) -> dict:
        """`GET …/tenants/{id}/projectvariables?includeMissingVariables=`."""
        with self.lock:
            tenant = self.lookup(space_id, "tenants", tenant_id)
            answer = {
                "TenantId": tenant["Id"],
                "ConcurrencyToken": self._token(tenant["Id"]),
                "Variables": self._items(tenant),
            }
            if include_missing:
                answer["MissingVariables"] = self._missing(tenant)
            return answer

    def _items(self, tenant: dict) -> list[dict]:
        items = []
        for entry in self.tenant_values.get(tenant["Id"], []):
            template = self._project_templates(entry["ProjectId"])[entry["TemplateId"]]
            items.append({
                "Id": entry["Id"],
                **self._owner(entry["ProjectId"], template),
                "Value": shown(template, entry["Value"]),
                "Scope": {"EnvironmentIds": list(entry["EnvironmentIds"])},
            })
        return items

    def _owner(self, project_id: str, template: dict) -> dict:
        return {
            "ProjectId": project_id,
            "ProjectName": self.docs["projects"][project_id]["Name"],
            "TemplateId": template["Id"],
            "Template": {key: copy.deepcopy(template.get(key)) for key in
                         ("Id", "Name", "Label", "HelpText", "DefaultValue", "DisplaySettings")},
        }

    def _missing(self, tenant: dict) -> list[dict]:
        """Template x connected environment pairs without a value, carrying the default."""
        entries = self.tenant_values.get(tenant["Id"], [])
        missing = []
        for project_id, environment_ids in (tenant.get("ProjectEnvironments") or {}).items():
            for template_id, template in self._project_templates(project_id).items():
                for environment_id in environment_ids:
                    if _entry_for(entries, project_id, template_id, environment_id) is None:
                        missing.append({
                            **self._owner(project_id, template),
                            "Value": copy.deepcopy(template.get("DefaultValue")),
                            "Scope": {"EnvironmentIds": [environment_id]},
                        })
        return missing

    def set_project_variables(self, space_id: str, tenant_id: str, body: Any) -> dict:
        """`PUT`/`POST …/tenants/{id}/projectvariables`: the list is the complete set."""
        with self.lock:
            tenant = self.lookup(space_id, "tenants", tenant_id)
            if isinstance(body, dict):
                self._check_token(tenant["Id"], body)
                items = body.get("Variables")
            else:
                items = body  # the TypeScript client sends the bare list
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise validation_error(["Variables must be a list of tenant project variables."])
            connected = tenant.get("ProjectEnvironments") or {}
            current = {entry["Id"]: entry for entry in self.tenant_values.get(tenant["Id"], [])}
            errors = Problems()
            entries: list[dict] = []
            seen: set[tuple] = set()
            for item in items:
                entry = self._project_entry(space_id, tenant, connected, current, item, errors)
                if entry is None:
                    continue
                for environment_id in entry["EnvironmentIds"] or [None]:
                    key = (entry["ProjectId"], entry["TemplateId"], environment_id)
                    if key in seen:
                        errors.append(
                            f"There is more than one value for template '{entry['TemplateId']}'"
                            + (f" in environment '{environment_id}'." if environment_id else " for all environments.")
                        )
                    seen.add(key)
                if entry["Value"] is not None:
                    entries.append(entry)
            if errors:
                raise validation_error(errors)
            self._store_values(tenant["Id"], entries)
            return {"TenantId": tenant["Id"], "Variables": self._items(tenant)}

    def _project_entry(
        self, space_id: str, tenant: dict, connected: dict, current: dict, item: dict, errors: Problems
    ) -> Optional[dict]:
        owner = self._template_owner(space_id, item.get("TemplateId"))
        if owner is None:
            errors.append(f"The variable template '{item.get('TemplateId')}' was not found.")
            return None
        project_id, template = owner
        named = item.get("ProjectId") or item.get("OwnerId")
        if named and named != project_id:
            errors.append(f"The variable template '{template['Id']}' belongs to project '{project_id}', not '{named}'.")
            return None
        if project_id not in connected:
            errors.append(f"The project '{project_id}' is not connected to tenant '{tenant['Name']}'.")
            return None
        scope = (item.get("Scope") or {}).get("EnvironmentIds") or []
        if not isinstance(scope, list):
            errors.append("Scope.EnvironmentIds must be a list.")
            return None
        for environment_id in scope:
            if environment_id not in connected[project_id]:
                errors.append(
                    f"The environment '{environment_id}' is not connected to tenant '{tenant['Name']}' "
                    f"for project '{project_id}'."
                )
                return None
        old = current.get(item.get("Id") or "")
        if old is None:
            old = next(
                (e for e in current.values()
                 if e["TemplateId"] == template["Id"] and sorted(e["EnvironmentIds"]) == sorted(scope)),
                None,
            )
        stored = _stored(template, item.get("Value"), old, errors)
        return {
            "Id": old["Id"] if old else self.next_id("TenantVariables"),
            "ProjectId": project_id, "TemplateId": template["Id"],
            "EnvironmentIds": list(scope), "Value": stored,
        }

    def common_variables(self, space_id: str, tenant_id: str, include_missing: bool) -> dict:
        """`GET …/tenants/{id}/commonvariables`: no library variable sets here, so none."""
        with self.lock:
            tenant = self.lookup(space_id, "tenants", tenant_id)
            answer = {"TenantId": tenant["Id"], "ConcurrencyToken": self._token(tenant["Id"]), "Variables": []}
            if include_missing:
                answer["MissingVariables"] = []
            return answer

    def set_common_variables(self, space_id: str, tenant_id: str, body: Any) -> dict:
        with self.lock:
            tenant = self.lookup(space_id, "tenants", tenant_id)
            items = body.get("Variables") if isinstance(body, dict) else body
            if not isinstance(items, list):
                raise validation_error(["Variables must be a list of tenant common variables."])
            if items:
                raise validation_error(
                    [f"The variable template '{item.get('TemplateId')}' was not found." for item in items
                     if isinstance(item, dict)] or ["Variables must be a list of tenant common variables."]
                )
            return {"TenantId": tenant["Id"], "Variables": []}

    # -- for tests: what the server holds ---------------------------------------------------

    def stored_tenant_values(self, space_id: str, tenant_id: str) -> list[dict]:
        """Every value of a tenant with names, sensitive ones in clear: the server's side."""
        with self.lock:
            tenant = self.lookup(space_id, "tenants", tenant_id)
            result = []
            for entry in self.tenant_values.get(tenant["Id"], []):
                template = self._project_templates(entry["ProjectId"])[entry["TemplateId"]]
                result.append({
                    "Id": entry["Id"],
                    "Project": self.docs["projects"][entry["ProjectId"]]["Name"],
                    "Template": template["Name"],
                    "Environments": [self.docs["environments"][e]["Name"] for e in entry["EnvironmentIds"]],
                    "Value": entry["Value"],
                    "Sensitive": is_sensitive(template),
                })
            return result


def _entry_for(
    entries: Iterable[dict], project_id: str, template_id: str, environment_id: str, *, exact: bool = False
) -> Optional[dict]:
    """The value that applies in an environment: one scoped to it, else an unscoped one."""
    scoped = unscoped = None
    for entry in entries:
        if entry["ProjectId"] != project_id or entry["TemplateId"] != template_id:
            continue
        if environment_id in entry["EnvironmentIds"]:
            scoped = scoped or entry
        elif not entry["EnvironmentIds"]:
            unscoped = unscoped or entry
    return scoped if exact else scoped or unscoped


def _stored(template: dict, value: Any, old: Optional[dict], errors: Problems) -> Any:
    """What to store for a written value (None: no value), or a problem recorded."""
    name = template["Name"]
    if not is_sensitive(template):
        if value is None or isinstance(value, str):
            return value
        errors.append(f"The value of variable template '{name}' must be text.")
        return None
    if isinstance(value, str):
        return value
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("HasValue"), bool):
        errors.append(f"The value of sensitive variable template '{name}' must be text or "
                      "{\"HasValue\": ..., \"NewValue\": ...}.")
        return None
    if not value["HasValue"]:
        return None
    if _keeps(value):
        return old["Value"] if old else None
    if not isinstance(value["NewValue"], str):
        errors.append(f"The NewValue of sensitive variable template '{name}' must be text.")
        return None
    return value["NewValue"]


def feature_toggles_document(toggles: Optional[dict[str, bool]], name: Optional[str]) -> dict:
    """`GET /api/configuration/feature-toggles{?Name}`; a server without it answers 404."""
    if toggles is None:
        raise ApiError(404, "The resource you requested was not found.")
    listed = [{"Name": key, "IsEnabled": bool(enabled)} for key, enabled in sorted(toggles.items())
              if not name or key == name]
    return {"FeatureToggles": listed}


def require_project_variables(toggles: Optional[dict[str, bool]]) -> None:
    """The per-project API is there only with its toggle on; older servers answer 404."""
    if not (toggles or {}).get(PROJECT_VARIABLES_TOGGLE):
        raise not_found("projectvariables")
