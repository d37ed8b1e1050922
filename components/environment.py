"""`FeatureEnvironment`: one feature's network, fleet and Octopus wiring, built from one set of values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.domain import look_up_zone
from components.fleet import Fleet, FleetArgs, sleeping
from components.naming import resource_tags
from components.network import Network, NetworkArgs
from components.octopus.override import AutoDeployOverride
from components.octopus.tenant import Tenant, phoenix_description
from components.octopus.tenant_variables import TenantVariables, tenant_values
from components.settings import FeatureSettings
from components.versioning import bootstrap_for

#: Logged by every run of a feature whose instances hold the deploy key (the org's opt-in).
DEPLOY_KEY_SHARED = (
    "octopus.shareDeployKeyWithInstances is true: every instance of this feature holds the Octopus "
    "deploy key, which can create and delete tenants, machines and releases; set "
    "OCTOPUS_REGISTRATION_API_KEY to a key that may only register machines"
)


@dataclass(frozen=True, kw_only=True)
class FeatureEnvironmentArgs:
    """What a feature environment is built from."""

    settings: FeatureSettings
    """The validated feature settings (`components.settings.parse_settings`)."""


class FeatureEnvironment(pulumi.ComponentResource):
    """Network and fleet in AWS, tenant, its variables and auto-deploy override in Octopus.

    The instances register with exactly the tenant and environment the
    Octopus resources were created with, and the group launches only once the
    override points the tenant at this feature's release and the tenant's
    variables carry the feature's URL (the same value as the `url` output).
    """

    url: pulumi.Output[str]
    asg_name: pulumi.Output[str]
    tenant_id: pulumi.Output[str]
    package_version: pulumi.Output[str]
    infrastructure_version: pulumi.Output[str]
    image_id: pulumi.Output[str]

    def __init__(self, name: str, args: FeatureEnvironmentArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("phoenix:index:FeatureEnvironment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        # One object holds the Octopus wiring for both sides: what the tenant and
        # override are created with is what every instance registers with.
        bootstrap = bootstrap_for(settings)
        tags = resource_tags(settings.feature, settings.tags)
        if settings.octopus.shares_deploy_key:
            # The org opted in (settings refuse it otherwise); say so on every run.
            pulumi.log.warn(DEPLOY_KEY_SHARED, resource=self)

        # The look-ups first: a hosted zone that is missing, private or too long a name, and
        # the network's availability zones, are the last checks that can fail the program,
        # and they run before anything exists in AWS or Octopus.
        hosted_zone = look_up_zone(settings.dns, parent=self)
        network = Network(
            f"{name}-network",
            NetworkArgs(
                cidr=settings.network.cidr,
                az_count=settings.network.az_count,
                nat=settings.network.nat,
                tags=tags,
                asleep=settings.asleep,
            ),
            opts=child,
        )
        tenant = Tenant(
            f"{name}-tenant",
            tenant_name=bootstrap.tenant,
            projects=[settings.octopus.project],
            environments=[bootstrap.environment],
            description=phoenix_description(settings.feature),
            tenant_tags=list(settings.octopus.tenant_tags),
            space=bootstrap.space,
            adopt_existing=settings.octopus.adopt_existing_tenant,
            opts=child,
        )
        override = AutoDeployOverride(
            f"{name}-override",
            project=settings.octopus.project,
            environment=bootstrap.environment,
            tenant_id=tenant.tenant_id,
            release_version=settings.package_version,
            space=bootstrap.space,
            opts=child,
        )
        def tenant_variables(url: pulumi.Output[str]) -> list[pulumi.Resource]:
            """The tenant's template values; the instances launch only once they are set."""
            variables = settings.octopus.tenant_variables
            if not variables.templates:
                return []
            values = tenant_values(
                variables, url=url, feature=settings.feature, package_version=settings.package_version
            )
            return [
                TenantVariables(
                    f"{name}-tenant-variables",
                    tenant_id=tenant.tenant_id,
                    project=settings.octopus.project,
                    environment=bootstrap.environment,
                    values=values,
                    sensitive=pulumi.Output.secret(dict(variables.sensitive_values)),
                    space=bootstrap.space,
                    opts=child,
                )
            ]

        fleet = Fleet(
            f"{name}-fleet",
            FleetArgs(
                feature=settings.feature,
                settings=sleeping(settings.fleet) if settings.asleep else settings.fleet,
                # Asleep, nothing wakes the group on a schedule: only `wake` brings it back.
                awake_hours=None if settings.asleep else settings.awake_hours,
                bootstrap=bootstrap,
                registration_key=pulumi.Output.secret(settings.octopus.registration_key),
                vpc_id=network.vpc_id,
                vpc_cidr=network.vpc_cidr,
                public_subnet_ids=network.public_subnet_ids,
                instance_subnet_ids=network.instance_subnet_ids,
                assign_public_ip=network.assign_public_ip,
                octopus_tenant_id=tenant.tenant_id,
                octopus_release_id=override.release_id,
                before_launch=tenant_variables,
                tags=tags,
                zone=hosted_zone,
                tls_policy=settings.dns.tls_policy,
            ),
            opts=child,
        )

        def after_rollout(value: pulumi.Input[str]) -> pulumi.Output[str]:
            """Report a value only once the group has rolled out."""
            return pulumi.Output.all(value, fleet.rollout_status).apply(lambda values: values[0])

        self.url = fleet.url
        self.asg_name = fleet.group_name
        self.tenant_id = after_rollout(tenant.tenant_id)
        self.package_version = after_rollout(settings.package_version)
        self.infrastructure_version = after_rollout(fleet.infrastructure_version)
        self.image_id = after_rollout(fleet.image_id)
        self.register_outputs(
            {
                "url": self.url,
                "asg_name": self.asg_name,
                "tenant_id": self.tenant_id,
                "package_version": self.package_version,
                "infrastructure_version": self.infrastructure_version,
                "image_id": self.image_id,
            }
        )
