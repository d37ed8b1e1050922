"""The feature tenant's values for the project's variable templates, as a Pulumi resource.

A deployment reads these as variables named after the templates
(`#{Phoenix.Url}`); Octopus resolves them at deployment time, not when the
release is created, so they must be set before the first instance registers.
The resource owns only the templates it names, in the one environment the
feature's tenant is connected to: other values of the tenant stay as they
are. Sensitive values arrive as secret inputs, travel in Octopus' sensitive
form, and are stored by Pulumi encrypted; Octopus never gives them back, so a
refresh can see that one was cleared but not what it was changed to.

The server decides the API: the per-project endpoints where it advertises
them (`CommonVariableScopingFeatureToggle`), else the whole tenant document
(see `OctopusClient.supports_project_variables`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.octopus.inputs import InputCheck, diff_inputs, is_unknown, name_problem, resource_identity
from components.octopus.provider import OctopusProvider

if TYPE_CHECKING:  # pragma: no cover - typing only
    from components.settings import TenantVariableSettings

INPUTS = ("tenant_id", "project", "environment", "values", "sensitive", "space")
#: Where the values live; moving them anywhere else is a new resource.
REPLACING = ("tenant_id", "project", "environment", "space")


def tenant_values(
    settings: "TenantVariableSettings",
    *,
    url: pulumi.Input[str],
    feature: pulumi.Input[str],
    package_version: pulumi.Input[str],
) -> dict[str, pulumi.Input[str]]:
    """Template name -> value: what phoenix knows under the configured names, then the org's values."""
    known = {"url": url, "feature": feature, "packageVersion": package_version}
    return {**{name: known[key] for key, name in settings.builtins.items()}, **settings.values}


class TemplateMissing(ValueError):
    """The project has no variable template of a name the values are for."""


def template_fix(name: str, project: str, *, sensitive: bool) -> str:
    """What to do when a template is missing: the one wording doctor and check share."""
    kind = "Sensitive" if sensitive else "Single-line text"
    return (
        f"add a project variable template named {name!r} to project {project!r} "
        f"(Project > Variables > Project Templates, control type {kind})"
    )


def template_problems(
    templates: Any, project: str, values: Mapping[str, Any], sensitive: Mapping[str, Any]
) -> dict[str, str]:
    """Template name -> what is wrong: missing from the project, or of the other sensitivity.

    A value meant for a sensitive template but given in plain would be sent
    and shown in clear; a secret given to an ordinary template would be shown
    in Octopus' UI to anyone who may read variables. Both are refused.
    """
    from components.octopus.client import is_sensitive_template

    by_name = {str(t.get("Name")).casefold(): t for t in templates or () if t.get("Name")}
    problems = {}
    for names, secret in ((values, False), (sensitive, True)):
        for name in names:
            template = by_name.get(name.casefold())
            if template is None:
                problems[name] = template_fix(name, project, sensitive=secret)
            elif is_sensitive_template(template) and not secret:
                problems[name] = (
                    f"template {name!r} of project {project!r} is Sensitive: give its value through an "
                    "environment variable (octopus.tenantVariables.sensitive), never in plain text"
                )
            elif secret and not is_sensitive_template(template):
                problems[name] = (
                    f"template {name!r} of project {project!r} is not Sensitive, so Octopus would show the "
                    "secret in plain text: make the template Sensitive, or give a plain value"
                )
    return problems


class TenantVariablesProvider(OctopusProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        from components.octopus.errors import OctopusNotFound

        check = InputCheck(news, INPUTS)
        tenant_id = check.resource_id("tenant_id", "Tenants")
        project = check.name("project")
        environment = check.name("environment")
        space = check.space("space", self.default_space())
        values = _text_map(check, news, "values")
        sensitive = _text_map(check, news, "sensitive")
        if values is not None and sensitive is not None and (
            {str(n).casefold() for n in values} & {str(n).casefold() for n in sensitive}
        ):
            check.fail("sensitive", "a template is given both a plain and a sensitive value")
        if not check.ok or is_unknown([project, environment, space]) or values is None or sensitive is None:
            return check.result()
        with self.client(space) as client:
            try:
                found = client.find_project(project)
            except OctopusNotFound:
                check.fail("project", f"Octopus has no project named {project!r}")
                found = None
            try:
                client.find_environment(environment)
            except OctopusNotFound:
                check.fail("environment", f"Octopus has no environment named {environment!r}")
        if found is not None:
            problems = template_problems(found.get("Templates"), project, values, sensitive)
            for name, problem in problems.items():
                check.fail("sensitive" if name in sensitive else "values", problem)
        return check.result()

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """What changed in the program, or else in Octopus: a value edited in its UI is drift.

        The values are read back here, not only on refresh, so `preview` shows
        a value someone changed by hand and the next `up` puts it back.
        """
        result = diff_inputs(olds, news, compared=INPUTS, replacing=REPLACING, delete_before_replace=True)
        if result.changes or not self._drifted(id_, olds):
            return result
        return DiffResult(changes=True, replaces=[], delete_before_replace=None)

    def _drifted(self, id_: str, olds: dict[str, Any]) -> bool:
        from components.octopus.errors import OctopusNotFound

        space_id, tenant_id, project_id, environment_id = _identity(id_, olds)
        templates = olds.get("template_ids") or {}
        try:
            with self.client(space_id) as client:
                live = client.tenant_variable_values(tenant_id, project_id, environment_id)
        except OctopusNotFound:
            return True  # the tenant or its connection went: the values must be set again
        return any(
            live.get(templates.get(name)) != text for name, text in (olds.get("values") or {}).items()
        ) or not all(_still_set(live.get(templates.get(name))) for name in olds.get("sensitive") or {})

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self.client(props["space"]) as client:
            project, environment_id = _locate(client, props)
            templates = _template_ids(project, props)
            client.set_tenant_variable_values(
                props["tenant_id"], project["Id"], environment_id, _wire(project, props, templates)
            )
            outs = _outputs(props, client.space_id, project["Id"], environment_id, templates)
        return CreateResult(_resource_id(outs), outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.octopus.errors import OctopusNotFound

        space_id, tenant_id, project_id, environment_id = _identity(id_, props)
        templates = dict(props.get("template_ids") or {})
        try:
            with self.client(space_id) as client:
                live = client.tenant_variable_values(tenant_id, project_id, environment_id)
        except OctopusNotFound:
            return ReadResult("", {})  # the tenant (or project, or space) is gone, and its values with it
        values = {
            name: live[templates[name]]
            for name in props.get("values") or {}
            if isinstance(live.get(templates.get(name)), str)
        }
        sensitive = {
            name: value
            for name, value in (props.get("sensitive") or {}).items()
            if _still_set(live.get(templates.get(name)))
        }
        inputs = {**{key: props.get(key) for key in INPUTS}, "values": values, "sensitive": sensitive}
        outs = {**props, **inputs}
        return ReadResult(id_, outs, inputs=inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        space_id, tenant_id, project_id, environment_id = _identity(id_, olds)
        with self.client(space_id) as client:
            project = client.get_project(project_id)
            templates = _template_ids(project, news)
            wire = _wire(project, news, templates)
            for name, template_id in (olds.get("template_ids") or {}).items():
                if name not in templates and template_id not in wire:
                    wire[template_id] = None  # no longer ours: its value goes
            client.set_tenant_variable_values(tenant_id, project_id, environment_id, wire)
        return UpdateResult(_outputs(news, space_id, project_id, environment_id, templates))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from components.octopus.errors import OctopusNotFound

        space_id, tenant_id, project_id, environment_id = _identity(id_, props)
        removed = {template_id: None for template_id in (props.get("template_ids") or {}).values()}
        try:
            with self.client(space_id) as client:
                client.set_tenant_variable_values(tenant_id, project_id, environment_id, removed)
        except OctopusNotFound:
            pass  # the tenant or its connection is gone, and the values with it


def _text_map(check: InputCheck, news: dict[str, Any], prop: str) -> Any:
    """A map of template name -> text; None when the map itself is not known yet (preview).

    A value not known yet (the URL before the load balancer exists) passes:
    the template names are what check can judge.
    """
    value = news.get(prop) or {}
    if is_unknown(value):
        check.inputs[prop] = value
        return None
    if not isinstance(value, dict):
        check.fail(prop, f"must be a map of template name -> text, got {type(value).__name__}")
        return None
    for name, text in value.items():
        problem = name_problem(str(name).strip(), created=False)
        if problem or name != name.strip():
            check.fail(prop, f"template name {name!r} {problem or 'has leading or trailing spaces'}")
        elif not isinstance(text, str) and not is_unknown(text):
            # The value itself stays out of the message: it may be a secret.
            check.fail(prop, f"the value for template {name!r} must be text, got {type(text).__name__}")
    check.inputs[prop] = dict(value)
    return value


def _still_set(live: Any) -> bool:
    """Octopus never returns a sensitive value: it can only say whether one is set."""
    return isinstance(live, dict) and live.get("HasValue") is True or isinstance(live, str)


def _locate(client: Any, props: Mapping[str, Any]) -> tuple[dict, str]:
    project = client.find_project(props["project"])
    return project, client.find_environment(props["environment"])["Id"]


def _template_ids(project: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, str]:
    """Template name -> id for every name the values are for; a missing one is an error."""
    values, sensitive = props.get("values") or {}, props.get("sensitive") or {}
    problems = template_problems(project.get("Templates"), str(project.get("Name")), values, sensitive)
    if problems:
        raise TemplateMissing("; ".join(problems.values()))
    by_name = {str(t.get("Name")).casefold(): t["Id"] for t in project.get("Templates") or ()}
    return {name: by_name[name.casefold()] for name in (*values, *sensitive)}


def _wire(project: Mapping[str, Any], props: Mapping[str, Any], templates: Mapping[str, str]) -> dict[str, Any]:
    from components.octopus.client import sensitive_value

    wire: dict[str, Any] = {templates[name]: text for name, text in (props.get("values") or {}).items()}
    wire.update({templates[name]: sensitive_value(text) for name, text in (props.get("sensitive") or {}).items()})
    return wire


def _resource_id(outs: Mapping[str, Any]) -> str:
    return "/".join(outs[key] for key in ("space_id", "tenant_id", "project_id", "environment_id"))


def _identity(id_: str, props: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(space, tenant, project, environment) ids: from the state, else from the resource id."""
    return resource_identity(  # type: ignore[return-value]
        id_, dict(props), ("space_id", "tenant_id", "project_id", "environment_id"),
        "a tenant variables id: Spaces-1/Tenants-1/Projects-1/Environments-1",
    )


def _outputs(
    props: Mapping[str, Any], space_id: str, project_id: str, environment_id: str, templates: Mapping[str, str]
) -> dict[str, Any]:
    outs = {key: props.get(key) for key in INPUTS}
    outs.update(space_id=space_id, project_id=project_id, environment_id=environment_id,
                template_ids=dict(templates))
    return outs


class TenantVariables(Resource, module="octopus", name="TenantVariables"):
    """A tenant's values for a project's variable templates in one environment."""

    space_id: pulumi.Output[str]
    project_id: pulumi.Output[str]
    environment_id: pulumi.Output[str]
    #: Template name -> the template's id on the project.
    template_ids: pulumi.Output[dict]

    def __init__(
        self,
        resource_name: str,
        *,
        tenant_id: pulumi.Input[str],
        project: pulumi.Input[str],
        environment: pulumi.Input[str],
        values: pulumi.Input[Mapping[str, pulumi.Input[str]]],
        sensitive: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]] = None,
        space: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {
            "tenant_id": tenant_id,
            "project": project,
            "environment": environment,
            "values": values,
            # Always a secret: even an empty map, so its shape never leaks which values changed.
            "sensitive": pulumi.Output.secret(sensitive or {}),
            "space": space,
            "space_id": None,
            "project_id": None,
            "environment_id": None,
            "template_ids": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["sensitive"]))
        super().__init__(TenantVariablesProvider(), resource_name, props, opts)
