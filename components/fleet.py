"""`Fleet`: instances behind a load balancer, replaced, never changed, when their userdata changes.

The launch template plays the launch configuration's role in the original
design (AWS no longer lets new accounts create launch configurations): each
new infrastructure version is a new template version. The group is created on
the first one and the AWS provider never moves it: the rollout resource starts
the instance refresh that carries each later version, so AWS's rollback
returns to the version the group ran before (`components/rollout.py`). A
launch lifecycle hook holds each new instance until its bootstrap reports the
deployment healthy, recording heartbeats meanwhile: the cfn-signal of the
original design. A termination hook holds each instance Auto Scaling stops
(scale-in, awake hours, a refresh) while it deletes its own Octopus machine.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from bootstrap.render import BootstrapSettings
from components import naming
from components.awake import AwakeHours
from components.domain import FeatureDomain, FeatureDomainArgs, HostedZone
from components.feature_key import PARAMETER_CONTEXT_KEY, FeatureKey, FeatureKeyArgs, ssm_service
from components.rollout import RolloutGate
from components.settings import DEFAULT_TLS_POLICY, HTTPS_PORT, IMAGE_KEY, FleetSettings, SettingsError
from components.versioning import userdata

#: Seconds after an instance is in service before failed health checks count;
#: the launch hook already held it until its deployment was healthy.
HEALTH_CHECK_GRACE_SECONDS = 120
#: Old targets drain this long; feature environments favour fast refreshes.
DEREGISTRATION_DELAY_SECONDS = 30
#: What the group takes from its declaration only when it is created; afterwards the rollout owns the
#: version it launches, and the hook resource owns the hook (the group's initial hook is ForceNew).
CREATE_ONLY_GROUP_PROPERTIES = ("launchTemplate", "initialLifecycleHooks")
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
#: How long a terminating instance may take to delete its Octopus machine. The hook then CONTINUEs,
#: so an instance whose watch died is only held this long (the machine policy removes its machine).
TERMINATION_HEARTBEAT_SECONDS = 300


@dataclass(frozen=True, kw_only=True)
class FleetArgs:
    """What a feature's fleet is built from; network ids arrive as outputs."""

    feature: str
    """Feature id: names every AWS resource."""
    settings: FleetSettings
    """Capacity, image, ports, health and rollout settings."""
    bootstrap: BootstrapSettings
    """What instances boot with (`versioning.bootstrap_for`): Octopus registration, group, region, stamp."""
    registration_key: pulumi.Input[str]
    """Secret key Tentacles register with; stored in SSM, never in userdata."""
    vpc_id: pulumi.Input[str]
    """VPC of the load balancer and instances."""
    vpc_cidr: str
    """The VPC's CIDR: the load balancer may reach instances only inside it."""
    public_subnet_ids: pulumi.Input[Sequence[str]]
    """Subnets of the internet-facing load balancer."""
    instance_subnet_ids: pulumi.Input[Sequence[str]]
    """Subnets the group launches instances in."""
    assign_public_ip: bool = False
    """Give instances a public address: their way out when the network has no NAT."""
    octopus_tenant_id: Optional[pulumi.Input[str]] = None
    """Recorded on the group; also holds the group back until the tenant exists."""
    octopus_release_id: Optional[pulumi.Input[str]] = None
    """Recorded on the group; also holds it back until the override points at the release."""
    before_launch: Optional[Callable[[pulumi.Output[str]], Sequence[pulumi.Resource]]] = None
    """Given the feature's URL (known once the load balancer exists), the resources the group
    waits for: what a first deployment reads, such as the tenant variables that carry the URL."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource, instances and volumes included (`naming.resource_tags`)."""
    zone: Optional[HostedZone] = None
    """The public zone of the feature's name: HTTPS at FEATURE.<zone>, HTTP redirected to it.
    None: plain HTTP at the load balancer's own name."""
    tls_policy: str = DEFAULT_TLS_POLICY
    """The HTTPS listener's security policy (with a zone)."""
    awake_hours: Optional[AwakeHours] = None
    """When the group runs: two scheduled actions scale it up and to zero, and own its capacity."""


#: What the awake-hours scheduled actions change behind Pulumi's back: not drift, so never reset.
SCHEDULED_GROUP_PROPERTIES = ("desiredCapacity", "minSize")


def group_arn(*, partition: str, region: str, account: str, group: str) -> str:
    """The group's ARN, known before the group exists so the policy can precede it."""
    return f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{group}"


def parameter_arn(*, partition: str, region: str, account: str, name: str) -> str:
    """A parameter's ARN, known before it exists so the key's policy can name it (`name` starts with /)."""
    return f"arn:{partition}:ssm:{region}:{account}:parameter{name}"


#: What Session Manager needs on the instance, and nothing of Systems Manager's
#: other features (AWS's own Session-Manager-only policy, AWSCloud9SSMInstanceProfile,
#: holds exactly these): the agent registers the instance and reports it online
#: (UpdateInstanceInformation), opens its control channel to the Message Gateway
#: Service (Create/OpenControlChannel) and a data channel per session
#: (Create/OpenDataChannel). None of them reads a parameter or a document.
SESSION_MANAGER_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


def instance_policy(*, parameter_arn: str, group_arn: str, key_arn: str, region: str) -> str:
    """The instances' only permissions: read and decrypt one key, heartbeat and complete one group's hooks, Session Manager."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadRegistrationKey",
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameter"],
                    "Resource": [parameter_arn],
                },
                {
                    "Sid": "DecryptRegistrationKey",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": [key_arn],
                    "Condition": {
                        "StringEquals": {"kms:ViaService": ssm_service(region), PARAMETER_CONTEXT_KEY: parameter_arn}
                    },
                },
                {
                    "Sid": "CompleteLifecycleHooks",
                    "Effect": "Allow",
                    "Action": ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
                    "Resource": [group_arn],
                },
                {
                    "Sid": "SessionManager",
                    "Effect": "Allow",
                    "Action": list(SESSION_MANAGER_ACTIONS),
                    "Resource": "*",
                },
            ],
        },
        sort_keys=True,
    )


EC2_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def sleeping(settings: FleetSettings) -> FleetSettings:
    """A sleeping feature's fleet: no instances (the group, its template and its version stay, so waking
    launches the version the rollout last set, and neither starts a refresh)."""
    return dataclasses.replace(settings, min_size=0, desired_capacity=0)


def service_url(dns_name: str, port: int) -> str:
    return f"http://{dns_name}" if port == 80 else f"http://{dns_name}:{port}"


#: Where the plain HTTP listener sends every request when the feature has a name.
REDIRECT_TO_HTTPS = aws.lb.ListenerDefaultActionRedirectArgs(
    protocol="HTTPS", port=str(HTTPS_PORT), status_code="HTTP_301"
)


def listener_ports(settings: FleetSettings, *, https: bool) -> tuple[int, ...]:
    """The ports the load balancer listens on: the HTTP listener's, and 443 with a name."""
    return (settings.listener_port, HTTPS_PORT) if https else (settings.listener_port,)


class Fleet(pulumi.ComponentResource):
    """Load balancer, target group, launch template and auto scaling group of one feature."""

    url: pulumi.Output[str]
    group_name: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    launch_template_version: pulumi.Output[str]
    rollout_status: pulumi.Output[str]
    infrastructure_version: str
    image_id: str

    def __init__(self, name: str, args: FleetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("phoenix:index:Fleet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings, feature, bootstrap = args.settings, args.feature, args.bootstrap
        if settings.image_id is None:
            raise SettingsError(IMAGE_KEY, "no image is pinned and fleet.amiId is empty: `python -m automation "
                                "create` pins the newest image matching fleet.amiNamePattern")
        self.infrastructure_version = bootstrap.infrastructure_version
        self.image_id = settings.image_id

        def tags(name_tag: str) -> dict[str, str]:
            return naming.named(args.tags, name_tag)

        lb_group = aws.ec2.SecurityGroup(
            f"{name}-lb",
            name=naming.security_group_name(feature, "lb"),
            description="Load balancer: the listener, from the allowed networks",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="listener" if port == settings.listener_port else "HTTPS listener",
                    protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_blocks=list(settings.listener_cidrs),
                )
                for port in listener_ports(settings, https=args.zone is not None)
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="to instances and their health checks",
                    protocol="tcp",
                    from_port=settings.app_port,
                    to_port=settings.app_port,
                    cidr_blocks=[args.vpc_cidr],
                )
            ],
            tags=tags(naming.security_group_name(feature, "lb")),
            opts=child,
        )
        instance_group = aws.ec2.SecurityGroup(
            f"{name}-instances",
            name=naming.security_group_name(feature, "instances"),
            description="Instances: the app port from the load balancer only; no SSH",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="app, from the load balancer",
                    protocol="tcp",
                    from_port=settings.app_port,
                    to_port=settings.app_port,
                    security_groups=[lb_group.id],
                )
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="Octopus, Systems Manager and package sources",
                    protocol="-1",
                    from_port=0,
                    to_port=0,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
            tags=tags(naming.security_group_name(feature, "instances")),
            opts=child,
        )

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        group = bootstrap.asg_name
        role = aws.iam.Role(
            f"{name}-instance",
            name=naming.role_name(feature),
            description="Instances of one feature environment",
            assume_role_policy=EC2_TRUST_POLICY,
            tags=tags(naming.role_name(feature)),
            opts=child,
        )
        # Known before the parameter exists: the key's policy names it, the parameter uses the key.
        registration_arn = pulumi.Output.all(partition.partition, identity.account_id).apply(
            lambda values: parameter_arn(
                partition=values[0], region=bootstrap.region, account=values[1],
                name=bootstrap.registration_key_parameter,
            )
        )
        encrypts_volumes = settings.volume_key == "feature"
        key = FeatureKey(
            f"{name}-key",
            FeatureKeyArgs(
                feature=feature,
                alias=naming.key_alias(feature),
                region=bootstrap.region,
                partition=partition.partition,
                account=identity.account_id,
                instance_role_arn=role.arn,
                parameter_arn=registration_arn,
                encrypts_volumes=encrypts_volumes,
                tags=args.tags,
            ),
            opts=child,
        )
        parameter = aws.ssm.Parameter(
            f"{name}-registration-key",
            name=bootstrap.registration_key_parameter,
            description="Octopus API key the feature's Tentacles register with",
            type="SecureString",
            key_id=key.key_arn,
            value=pulumi.Output.secret(args.registration_key),
            tags=tags(bootstrap.registration_key_parameter),
            opts=child,
        )
        permissions = aws.iam.RolePolicy(
            f"{name}-instance",
            role=role.name,
            policy=pulumi.Output.all(registration_arn, partition.partition, identity.account_id, key.key_arn).apply(
                lambda values: instance_policy(
                    parameter_arn=values[0],
                    group_arn=group_arn(partition=values[1], region=bootstrap.region, account=values[2], group=group),
                    key_arn=values[3],
                    region=bootstrap.region,
                )
            ),
            # The group waits for these permissions; instances also need the parameter to exist.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[parameter]),
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-instance", name=naming.role_name(feature), role=role.name, tags=tags(naming.role_name(feature)), opts=child
        )

        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            name=naming.launch_template_name(feature),
            description=f"{feature} {self.infrastructure_version}",
            image_id=self.image_id,
            instance_type=settings.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    associate_public_ip_address=str(args.assign_public_ip).lower(),
                    security_groups=[instance_group.id],
                    delete_on_termination="true",
                )
            ],
            user_data=userdata(bootstrap, settings.os),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=self._root_device(self.image_id),
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        encrypted="true",
                        kms_key_id=key.key_arn if encrypts_volumes else None,
                        delete_on_termination="true",
                    ),
                )
            ],
            update_default_version=True,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags(f"{feature}-{kind}"))
                for kind in ("instance", "volume")
            ],
            tags=tags(naming.launch_template_name(feature)),
            opts=child,
        )

        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            name=naming.target_group_name(feature, port=settings.app_port, vpc_cidr=args.vpc_cidr),
            port=settings.app_port,
            protocol="HTTP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=settings.health_check_path,
                matcher=settings.healthy_status_codes,
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=tags(naming.target_group_name(feature, port=settings.app_port, vpc_cidr=args.vpc_cidr)),
            opts=child,
        )
        balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=naming.load_balancer_name(feature),
            load_balancer_type="application",
            internal=False,
            security_groups=[lb_group.id],
            subnets=args.public_subnet_ids,
            drop_invalid_header_fields=True,
            tags=tags(naming.load_balancer_name(feature)),
            opts=child,
        )
        forward = aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)
        domain = None
        if args.zone is not None:
            domain = FeatureDomain(
                f"{name}-domain",
                FeatureDomainArgs(
                    feature=feature,
                    zone=args.zone,
                    load_balancer_dns_name=balancer.dns_name,
                    load_balancer_zone_id=balancer.zone_id,
                    tags=args.tags,
                ),
                opts=child,
            )
        listener = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=balancer.arn,
            port=settings.listener_port,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="redirect", redirect=REDIRECT_TO_HTTPS) if domain else forward
            ],
            tags=tags(f"{naming.load_balancer_name(feature)}-http"),
            opts=child,
        )
        listeners = [listener]
        if domain is not None:
            # The issued certificate's ARN comes from the validation: this listener waits for it,
            # and is deleted before the certificate.
            listeners.append(
                aws.lb.Listener(
                    f"{name}-https",
                    load_balancer_arn=balancer.arn,
                    port=HTTPS_PORT,
                    protocol="HTTPS",
                    ssl_policy=args.tls_policy,
                    certificate_arn=domain.certificate_arn,
                    default_actions=[forward],
                    tags=tags(f"{naming.load_balancer_name(feature)}-https"),
                    opts=child,
                )
            )

        # The feature's URL, one value: the group waits on what is built from it, and
        # `url` reports it once the rollout is done (and the name exists).
        if domain is not None:
            address = pulumi.Output.from_input(domain.url)
            reported = [domain.record_fqdn]
        else:
            address = balancer.dns_name.apply(lambda dns_name: service_url(dns_name, settings.listener_port))
            reported = []
        launch_after = list(args.before_launch(address)) if args.before_launch else []

        # The group is created on the template's current version; after that only the rollout moves it.
        version = template.latest_version.apply(str)
        asg = aws.autoscaling.Group(
            f"{name}-asg",
            name=group,
            min_size=settings.min_size,
            max_size=settings.max_size,
            desired_capacity=settings.desired_capacity,
            vpc_zone_identifiers=args.instance_subnet_ids,
            target_group_arns=[target_group.arn],
            health_check_type="ELB",
            health_check_grace_period=HEALTH_CHECK_GRACE_SECONDS,
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=template.id, version=version),
            # The first instances launch through the hook too; `hook` below keeps it up to date.
            initial_lifecycle_hooks=[
                aws.autoscaling.GroupInitialLifecycleHookArgs(
                    name=bootstrap.lifecycle_hook_name,
                    lifecycle_transition=LAUNCHING,
                    default_result="ABANDON",
                    heartbeat_timeout=settings.lifecycle_heartbeat_seconds,
                )
            ],
            # A failed launch (no capacity in one zone) is retried by AWS; it must not fail the create.
            ignore_failed_scaling_activities=True,
            wait_for_capacity_timeout=f"{settings.rollout_timeout_minutes}m",
            tags=self._group_tags(tags(group), args),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[permissions, *listeners, *launch_after],
                ignore_changes=list(CREATE_ONLY_GROUP_PROPERTIES)
                + (list(SCHEDULED_GROUP_PROPERTIES) if args.awake_hours else []),
            ),
        )
        if args.awake_hours:
            self._schedule(name, group, asg, args.awake_hours, settings)
        hook = aws.autoscaling.LifecycleHook(
            f"{name}-launch-hook",
            name=bootstrap.lifecycle_hook_name,
            autoscaling_group_name=asg.name,
            lifecycle_transition=LAUNCHING,
            default_result="ABANDON",
            heartbeat_timeout=settings.lifecycle_heartbeat_seconds,
            opts=child,
        )
        # Deleted before the group on destroy: the tenant's deletion removes what machines are left.
        termination_hook = aws.autoscaling.LifecycleHook(
            f"{name}-termination-hook",
            name=bootstrap.termination_hook_name,
            autoscaling_group_name=asg.name,
            lifecycle_transition=TERMINATING,
            default_result="CONTINUE",
            heartbeat_timeout=TERMINATION_HEARTBEAT_SECONDS,
            opts=child,
        )
        gate = RolloutGate(
            f"{name}-rollout",
            asg_name=asg.name,
            region=bootstrap.region,
            launch_template_id=template.id,
            launch_template_version=version,
            timeout_minutes=settings.rollout_timeout_minutes,
            instance_warmup_seconds=settings.instance_warmup_seconds,
            # The refresh's old instances leave Octopus through the termination hook.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[asg, hook, termination_hook]),
        )

        self.rollout_status = gate.status
        self.group_name = gate.asg_name
        self.url = pulumi.Output.all(address, gate.status, *reported).apply(lambda values: values[0])
        self.launch_template_id = template.id
        # The version the group runs: the rollout records it only once it got there.
        self.launch_template_version = gate.launch_template_version
        self.register_outputs(
            {
                "url": self.url,
                "group_name": self.group_name,
                "launch_template_id": self.launch_template_id,
                "launch_template_version": self.launch_template_version,
                "infrastructure_version": self.infrastructure_version,
                "image_id": self.image_id,
                "rollout_status": self.rollout_status,
            }
        )

    def _schedule(self, name: str, group: str, asg: aws.autoscaling.Group, hours: AwakeHours,
                  settings: FleetSettings) -> None:
        """The awake hours as two scheduled actions in their time zone: up at the start, to zero at the end."""
        for action, recurrence, low, desired in (
            ("wake", hours.wake_recurrence, settings.min_size, settings.desired_capacity),
            ("sleep", hours.sleep_recurrence, 0, 0),
        ):
            aws.autoscaling.Schedule(
                f"{name}-{action}",
                autoscaling_group_name=asg.name,
                scheduled_action_name=f"{group}-{action}",
                recurrence=recurrence,
                time_zone=hours.zone,
                min_size=low,
                max_size=settings.max_size,
                desired_capacity=desired,
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _root_device(self, image_id: pulumi.Input[str]) -> pulumi.Output[str]:
        """The image's root device: a mapping under another name would add a volume, not encrypt the root."""
        return aws.ec2.get_ami_output(
            filters=[aws.ec2.GetAmiFilterArgs(name="image-id", values=[image_id])],
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).root_device_name

    @staticmethod
    def _group_tags(tags: Mapping[str, str], args: FleetArgs) -> list[aws.autoscaling.GroupTagArgs]:
        """The group's own tags (instances get theirs from the template), plus its Octopus wiring."""
        wiring = {"phoenix:octopus-tenant": args.octopus_tenant_id, "phoenix:octopus-release": args.octopus_release_id}
        return [
            aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=False)
            for key, value in {**tags, **wiring}.items()
            if value is not None
        ]
