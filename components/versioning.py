"""What an instance boots with, and the infrastructure version stamped into it.

The stamp is what makes the fleet immutable: it changes exactly when what an
instance boots with changes (the package it deploys, the bootstrap script,
the values the script is rendered with), so Pulumi writes a new launch
template version and the group refreshes. Capacity and tags are not rendered
into the userdata, so they cannot move the stamp.

Pure, so `parse_settings` can render once to prove a config renders, and the
fleet and the Octopus resources can take their values from the same object.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import TYPE_CHECKING, Any, Mapping

from bootstrap.render import BootstrapSettings, render_userdata, script_source

from components import naming

if TYPE_CHECKING:
    from components.settings import FeatureSettings

STAMP_LENGTH = 12
#: Placeholder version for settings built before their stamp is known.
UNSTAMPED = "unstamped"
#: The launch lifecycle hook the bootstrap completes once the deployment is healthy.
LAUNCH_HOOK_NAME = "phoenix-bootstrap"
#: The instance checks the app on itself, not through the load balancer.
LOOPBACK = "127.0.0.1"


def infrastructure_version(*, package_version: str, script: str, rendered: Mapping[str, Any]) -> str:
    """`<package version>+infra.<hash>`: SemVer build metadata, so it still sorts by package."""
    payload = json.dumps(rendered, sort_keys=True, separators=(",", ":"))
    stamp = naming.digest(package_version, script, payload, length=STAMP_LENGTH)
    joiner = "." if "+" in package_version else "+"
    return f"{package_version}{joiner}infra.{stamp}"


def stamped(settings: BootstrapSettings, *, package_version: str, platform: str) -> BootstrapSettings:
    """The settings with their infrastructure version derived from everything else they hold.

    Every field counts, defaults included, since every field is rendered.
    """
    rendered = {
        field.name: getattr(settings, field.name)
        for field in dataclasses.fields(settings)
        if field.name != "infrastructure_version"
    }
    rendered["platform"] = platform
    version = infrastructure_version(
        package_version=package_version, script=script_source(platform), rendered=rendered
    )
    return dataclasses.replace(settings, infrastructure_version=version)


def bootstrap_for(settings: FeatureSettings) -> BootstrapSettings:
    """The stamped bootstrap settings of a feature: the one source of the tenant,
    environment, roles and machine policy, for its instances and its Octopus resources alike."""
    octopus, fleet = settings.octopus, settings.fleet
    unstamped = BootstrapSettings(
        server_url=octopus.server_url,
        space=octopus.space,
        environment=octopus.environment,
        roles=tuple(octopus.roles),
        tenant=settings.tenant_name,
        machine_policy=octopus.machine_policy,
        registration_key_parameter=naming.registration_key_parameter(settings.feature),
        health_url=f"http://{LOOPBACK}:{fleet.app_port}{fleet.health_check_path}",
        health_timeout_seconds=fleet.health_timeout_seconds,
        lifecycle_hook_name=LAUNCH_HOOK_NAME,
        asg_name=naming.group_name(settings.feature),
        region=settings.region,
        infrastructure_version=UNSTAMPED,
        tentacle_package_source=fleet.tentacle_package_source,
        machine_name_prefix=settings.feature,
    )
    return stamped(unstamped, package_version=settings.package_version, platform=fleet.os)


def userdata(bootstrap: BootstrapSettings, platform: str) -> str:
    """Base64 userdata for a launch template (the renderer refuses anything past 16 KB)."""
    return base64.b64encode(render_userdata(bootstrap, platform).encode()).decode()
