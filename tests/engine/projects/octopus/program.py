"""The Octopus half of a feature stack, as an inline Automation API program.

It reads the same stack config keys as phoenix itself (`octopus:*`,
`phoenix:feature`, `phoenix:packageVersion`, `phoenix:octopus`,
`phoenix:tenantVariableSecrets`), so a test or a benchmark configures it the
way `python -m automation` configures a feature. Without a load balancer, the
feature's URL is a stand-in named for the feature (`feature_url`); with
`dns.zone` it is the one the feature's name gets (`components.dns_names`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Optional

import pulumi

from components.octopus.override import AutoDeployOverride
from components.octopus.tenant import Tenant, phoenix_description
from components.octopus.tenant_variables import TenantVariables, tenant_values
from components.settings import TenantVariableSettings

PROJECT_DIR = Path(__file__).resolve().parent
PROJECT_NAME = "phoenix-octopus"


def program() -> None:
    phoenix = pulumi.Config("phoenix")
    feature = phoenix.require("feature")
    version = phoenix.require("packageVersion")
    octopus = phoenix.require_object("octopus")
    # A `revision` tag (free-form, like every tag) changes the tenant in place: how
    # the soak and benchmarks make an update that is not a new release.
    revision = (phoenix.get_object("tags") or {}).get("revision")
    tenant = Tenant(
        f"{feature}-tenant",
        tenant_name=feature,
        projects=[octopus["project"]],
        environments=[octopus["environment"]],
        description=phoenix_description(feature, f"revision {revision}" if revision else ""),
        tenant_tags=octopus.get("tenantTags") or [],
        adopt_existing=bool(octopus.get("adoptExistingTenant", False)),
    )
    override = AutoDeployOverride(
        f"{feature}-override",
        project=octopus["project"],
        environment=octopus["environment"],
        tenant_id=tenant.tenant_id,
        release_version=version,
    )
    variables = tenant_variable_settings(octopus.get("tenantVariables") or {}, phoenix.get("tenantVariableSecrets"))
    if variables.templates:
        url = feature_url(feature, (phoenix.get_object("dns") or {}).get("zone") or None)
        TenantVariables(
            f"{feature}-tenant-variables",
            tenant_id=tenant.tenant_id,
            project=octopus["project"],
            environment=octopus["environment"],
            values=tenant_values(variables, url=url, feature=feature, package_version=version),
            sensitive=pulumi.Output.secret(dict(variables.sensitive_values)),
        )
        pulumi.export("url", url)
    pulumi.export("tenant_id", tenant.tenant_id)
    pulumi.export("release_id", override.release_id)
    pulumi.export("package_version", version)


def feature_url(feature: str, zone: Optional[str] = None) -> str:
    """The feature's name in the zone (a name, as given); without one, a stand-in for the balancer's address."""
    if zone:
        from components import dns_names

        return dns_names.feature_url(feature, dns_names.parse_zone(zone).name or zone)
    return f"https://{feature}.features.test"


def tenant_variable_settings(section: dict, secrets: Optional[str]) -> TenantVariableSettings:
    """The `tenantVariables` section as phoenix reads it (the settings parser needs the AWS half too)."""
    import json

    sensitive = dict(section.get("sensitive") or {})
    found = json.loads(secrets) if secrets else {}
    return TenantVariableSettings(
        url=section.get("url") or None,
        feature=section.get("feature") or None,
        package_version=section.get("packageVersion") or None,
        values=dict(section.get("values") or {}),
        sensitive=sensitive,
        sensitive_values={name: found[name] for name in sensitive if name in found},
    )


def stack_config(
    *,
    server_url: str,
    api_key: str,
    feature: str,
    package_version: str,
    project: str,
    environment: str,
    space: str = "Default",
    roles: Optional[list[str]] = None,
    machine_policy: str = "Default Machine Policy",
    tenant_tags: Optional[list[str]] = None,
    adopt_existing_tenant: bool = False,
    tenant_variables: Optional[dict[str, Any]] = None,
    sensitive_values: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    """`pulumi.automation.ConfigValue`s for `Stack.set_all_config(..., path=False)`."""
    import json

    from pulumi.automation import ConfigValue

    octopus = {
        "project": project,
        "environment": environment,
        "roles": roles or ["web"],
        "machinePolicy": machine_policy,
        "tenantTags": tenant_tags or [],
        "adoptExistingTenant": adopt_existing_tenant,
        "tenantVariables": tenant_variables or {},
    }
    secrets = {"phoenix:tenantVariableSecrets": ConfigValue(json.dumps(sensitive_values), secret=True)}
    return {
        **(secrets if sensitive_values else {}),
        "octopus:serverUrl": ConfigValue(server_url),
        "octopus:apiKey": ConfigValue(api_key, secret=True),
        "octopus:space": ConfigValue(space),
        "phoenix:feature": ConfigValue(feature),
        "phoenix:packageVersion": ConfigValue(package_version),
        "phoenix:octopus": ConfigValue(json.dumps(octopus)),
    }


def copy_project(destination: Path) -> Path:
    """A private copy of the project folder, so stack files never land in the repository."""
    shutil.copytree(PROJECT_DIR, destination, ignore=shutil.ignore_patterns("__pycache__", "__init__.py", "program.py"))
    return destination
