"""What an instance boots with, and the infrastructure version stamped into it.

The stamp is what makes the fleet immutable: it changes exactly when what an
instance boots with changes (the image, the package it deploys, or anything
in its userdata: the bootstrap script, the wrapper around it, the values
rendered into them), so Pulumi writes a new launch template version and the
rollout refreshes the group. Capacity and tags are not rendered into the
userdata, so they cannot move the stamp. The image is the one pinned in the
stack (or fleet.amiId), never "the newest", so a new AMI release moves nothing.

Pure, so `parse_settings` can render once to prove a config renders, and the
fleet and the Octopus resources can take their values from the same object.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import TYPE_CHECKING

from bootstrap.render import BootstrapSettings, render_userdata, userdata_bytes

from components import naming

if TYPE_CHECKING:
    from components.settings import FeatureSettings

STAMP_LENGTH = 12
#: Placeholder version for settings built before their stamp is known.
UNSTAMPED = "unstamped"
#: The launch lifecycle hook the bootstrap completes once the deployment is healthy.
LAUNCH_HOOK_NAME = "phoenix-bootstrap"
#: The termination lifecycle hook the instance completes once it has deleted its Octopus machine.
TERMINATION_HOOK_NAME = "phoenix-deregister"
#: The instance checks the app on itself, not through the load balancer.
LOOPBACK = "127.0.0.1"
#: The image in the stamp while none is pinned yet (config validated before `automation` pins one).
UNPINNED_IMAGE = "unpinned"


def infrastructure_version(*, package_version: str, rendered: str, image_id: str) -> str:
    """`<package version>+infra.<hash>`: SemVer build metadata, so it still sorts by package."""
    stamp = naming.digest(package_version, image_id, rendered, length=STAMP_LENGTH)
    joiner = "." if "+" in package_version else "+"
    return f"{package_version}{joiner}infra.{stamp}"


def stamped(
    settings: BootstrapSettings, *, package_version: str, platform: str, image_id: str
) -> BootstrapSettings:
    """The settings with their infrastructure version derived from the image and the userdata they render.

    The hash is of the userdata itself, rendered with a fixed placeholder where
    the stamp goes, so it covers exactly what renders it (every setting, the
    script, the wrapper, the quoting) and never an earlier stamp.
    """
    unstamped = dataclasses.replace(settings, infrastructure_version=UNSTAMPED)
    version = infrastructure_version(
        package_version=package_version, rendered=render_userdata(unstamped, platform), image_id=image_id
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
        healthy_status_codes=fleet.healthy_status_codes,
        health_timeout_seconds=fleet.health_timeout_seconds,
        heartbeat_interval_seconds=fleet.heartbeat_interval_seconds,
        lifecycle_hook_name=LAUNCH_HOOK_NAME,
        termination_hook_name=TERMINATION_HOOK_NAME,
        asg_name=naming.group_name(settings.feature),
        region=settings.region,
        infrastructure_version=UNSTAMPED,
        tentacle_package_source=fleet.tentacle_package_source,
        machine_name_prefix=settings.feature,
    )
    return stamped(
        unstamped, package_version=settings.package_version, platform=fleet.os,
        image_id=fleet.image_id or UNPINNED_IMAGE,
    )


def userdata(bootstrap: BootstrapSettings, platform: str) -> str:
    """Base64 userdata for a launch template (gzip on Linux; anything past EC2's 16 KB is refused)."""
    return base64.b64encode(userdata_bytes(bootstrap, platform)).decode()
