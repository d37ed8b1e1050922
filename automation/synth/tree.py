"""The tree form, for people: component -> children, with the inputs that matter."""

from __future__ import annotations

from typing import Optional

from automation.synth.json_document import USERDATA_KEYS, describe_userdata
from automation.synth.model import Synthesis, SynthResource, short_type
from automation.synth.placeholders import PLACEHOLDERS, placeholder_version
from automation.synth.values import compact, lookup


#: The few inputs that matter per type, shown in the tree (the JSON has them all).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "mapPublicIpOnLaunch"),
    "aws:ec2/natGateway:NatGateway": ("subnetId",),
    "aws:ec2/routeTable:RouteTable": ("routes",),
    "aws:ec2/securityGroup:SecurityGroup": ("ingress", "egress"),
    "aws:lb/loadBalancer:LoadBalancer": ("loadBalancerType", "internal", "subnets"),
    "aws:lb/targetGroup:TargetGroup": ("port", "protocol", "healthCheck.path", "healthCheck.matcher"),
    "aws:lb/listener:Listener": ("port", "protocol", "sslPolicy", "certificateArn", "defaultActions"),
    "aws:acm/certificate:Certificate": ("domainName", "subjectAlternativeNames", "validationMethod"),
    "aws:acm/certificateValidation:CertificateValidation": ("certificateArn", "validationRecordFqdns"),
    "aws:route53/record:Record": ("zoneId", "type", "aliases", "records"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("instanceType", "imageId", "description", "userData"),
    "aws:autoscaling/group:Group": (
        "minSize",
        "maxSize",
        "desiredCapacity",
        "launchTemplate.version",
        "vpcZoneIdentifiers",
        "targetGroupArns",
        "healthCheckType",
        "initialLifecycleHooks",
    ),
    "aws:autoscaling/lifecycleHook:LifecycleHook": ("lifecycleTransition", "heartbeatTimeout", "defaultResult"),
    "aws:ssm/parameter:Parameter": ("type", "value"),
    "pulumi-python:dynamic/octopus:Tenant": ("tenant_name", "projects", "environments", "space"),
    "pulumi-python:dynamic/octopus:AutoDeployOverride": (
        "project",
        "environment",
        "release_version",
        "tenant_id",
    ),
    "pulumi-python:dynamic/rollout:RolloutGate": (
        "asg_name",
        "launch_template_version",
        "timeout_minutes",
        "instance_warmup_seconds",
    ),
}


def _userdata_line(encoded: str, stamp: Optional[str]) -> str:
    described = describe_userdata(encoded)
    text = "\n".join(described["lines"])
    line = (
        f"{described['bytes']} bytes {described['encoding']}, {len(described['lines'])} lines, "
        f"sha256 {described['sha256'][:12]}"
    )
    if stamp and stamp in text:
        line += f", stamped {stamp}"
    return line


def render_tree(synthesis: Synthesis) -> str:
    """The resource tree: component -> children, with type, names and the inputs that matter."""
    config = synthesis.config
    stamp = synthesis.outputs.get("infrastructure_version")
    stamp = stamp if isinstance(stamp, str) and not stamp.startswith("<") else None
    lines = [
        f"{synthesis.project} · stack {synthesis.stack} — synthesized offline under Pulumi mocks; nothing was created",
        "  "
        + " · ".join(
            part
            for part in (
                f"package {config.get('phoenix:packageVersion')}" if config.get("phoenix:packageVersion") else "",
                f"region {config.get('aws:region')}" if config.get("aws:region") else "",
                (
                    f"Octopus {config.get('octopus:serverUrl')} (space {config.get('octopus:space') or 'Default'})"
                    if config.get("octopus:serverUrl")
                    else ""
                ),
            )
            if part
        ),
        "",
    ]

    def walk(resource: SynthResource, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(f"{prefix}{branch}{short_type(resource.type)} {resource.name}  [{resource.type}]")
        inner = prefix if top else prefix + ("    " if last else "│   ")
        children = synthesis.children(resource.urn)
        detail = inner + ("│   " if children else "    ")
        if resource.physical_name is not None:
            lines.append(f"{detail}name: {resource.physical_name}")
        for path in KEY_INPUTS.get(resource.type, ()):
            value = lookup(resource.inputs, path)
            if value is None:
                continue
            if path in USERDATA_KEYS and isinstance(value, str):
                lines.append(f"{detail}{path}: {_userdata_line(value, stamp)}")
            else:
                lines.append(f"{detail}{path}: {compact(value)}")
        for index, child in enumerate(children):
            walk(child, inner, index == len(children) - 1, False)

    walk(synthesis.root(), "", True, True)
    lines += ["", "outputs"]
    lines += [f"  {key}: {compact(value)}" for key, value in sorted(synthesis.outputs.items())]
    if synthesis.warnings:
        lines += ["", "warnings"] + [f"  {warning}" for warning in synthesis.warnings]
    if synthesis.notes:
        lines += ["", "notes"] + [f"  {note}" for note in synthesis.notes]
    from automation.cost.render import synthesis_lines

    lines += ["", *synthesis_lines(synthesis)]
    lines += ["", "placeholders (values only AWS or Octopus know)"]
    width = max(len(key) for key in PLACEHOLDERS)
    lines += [f"  {key.ljust(width)}  {meaning}" for key, meaning in PLACEHOLDERS.items()]
    version = config.get("phoenix:packageVersion")
    lines += [
        "",
        f"{sum(r.custom for r in synthesis.resources)} resources in "
        f"{sum(not r.custom and r.parent is not None for r in synthesis.resources)} components.",
        "To create it for real (needs AWS credentials and OCTOPUS_API_KEY): "
        f"phoenix create {synthesis.stack}"
        + (f" --version {version}" if version and version != placeholder_version(synthesis.stack) else ""),
    ]
    return "\n".join(lines) + "\n"
