"""The Octopus half of a feature stack, as an inline Automation API program.

It reads the same stack config keys as phoenix itself (`octopus:*`,
`phoenix:feature`, `phoenix:packageVersion`, `phoenix:octopus`), so a test or a
benchmark configures it the way `python -m automation` configures a feature.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Optional

import pulumi

from components.octopus.override import AutoDeployOverride
from components.octopus.tenant import Tenant

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
        description=f"Feature environment {feature}" + (f", revision {revision}" if revision else ""),
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
    pulumi.export("tenant_id", tenant.tenant_id)
    pulumi.export("release_id", override.release_id)
    pulumi.export("package_version", version)


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
    }
    return {
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
