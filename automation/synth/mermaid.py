"""The Mermaid form: a flowchart of the environment and of how an instance becomes healthy."""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from automation.synth.model import Synthesis, SynthResource, address, short_type
from automation.synth.values import compact, lookup


VPC_TYPE = "aws:ec2/vpc:Vpc"
GROUP_TYPE = "aws:autoscaling/group:Group"
TENANT_TYPE = "pulumi-python:dynamic/octopus:Tenant"
OVERRIDE_TYPE = "pulumi-python:dynamic/octopus:AutoDeployOverride"
PARAMETER_TYPE = "aws:ssm/parameter:Parameter"
RECORD_TYPE = "aws:route53/record:Record"
#: Drawn resources that are regional or global, never in the VPC, whatever they are wired to.
OUTSIDE_VPC = frozenset({RECORD_TYPE, "aws:acm/certificate:Certificate", "aws:acm/certificateValidation:CertificateValidation"})
#: Resources the diagram draws, with the facts its node shows; the VPC is a box around them.
DRAWN: dict[str, tuple[str, ...]] = {
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone"),
    "aws:ec2/internetGateway:InternetGateway": (),
    "aws:ec2/natGateway:NatGateway": (),
    "aws:lb/loadBalancer:LoadBalancer": ("loadBalancerType",),
    "aws:lb/listener:Listener": ("protocol", "port", "sslPolicy"),
    "aws:lb/targetGroup:TargetGroup": ("protocol", "port", "healthCheck.path"),
    GROUP_TYPE: ("minSize", "desiredCapacity", "maxSize", "launchTemplate.version"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("instanceType", "imageId", "description"),
    PARAMETER_TYPE: ("type",),
    RECORD_TYPE: ("name", "type"),
    "aws:acm/certificate:Certificate": ("domainName", "subjectAlternativeNames", "validationMethod"),
    "aws:acm/certificateValidation:CertificateValidation": (),
    TENANT_TYPE: ("tenant_name", "environments"),
    OVERRIDE_TYPE: ("environment", "release_version"),
    "pulumi-python:dynamic/rollout:RolloutGate": ("launch_template_version", "timeout_minutes"),
}
MERMAID_STYLES = (
    "classDef aws fill:#fff4e5,stroke:#d97706,color:#111",
    "classDef octopus fill:#e8f1fb,stroke:#2f6fba,color:#111",
    "classDef gate fill:#eefaf0,stroke:#2f8a3d,color:#111",
    "classDef flow fill:#f4f4f5,stroke:#71717a,color:#111,stroke-dasharray:4 3",
)


def mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label, with no entity codes.

    Mermaid leaves entity codes such as `#lt;` undecoded in flowchart labels
    that sit beside subgraphs or classes, so placeholders keep their look with
    look-alike angle quotes (`‹az-1›`) and double quotes become single ones.
    """
    text = text.replace("<", "‹").replace(">", "›").replace('"', "'")
    return re.sub(r"#(\w+;)", r"# \1", text)


def mermaid_label(*lines: str) -> str:
    return '"' + "<br/>".join(mermaid_text(line) for line in lines if line) + '"'


def node_id(resource: SynthResource) -> str:
    return "r_" + re.sub(r"[^A-Za-z0-9_]", "_", address(resource))


def inside_vpc(synthesis: Synthesis, vpc: SynthResource) -> list[SynthResource]:
    """Drawn resources that live in the VPC: those wired to it, or to something drawn in it."""
    inside = {vpc.urn}
    drawn = [r for r in synthesis.resources
             if r.type in DRAWN and r.type.startswith("aws:") and r.type not in OUTSIDE_VPC]
    changed = True
    while changed:
        changed = False
        for resource in drawn:
            if resource.urn in inside:
                continue
            if any(urn in inside for urns in resource.dependencies.values() for urn in urns):
                inside.add(resource.urn)
                changed = True
    return [r for r in sorted(drawn, key=lambda r: (r.type, r.name)) if r.urn in inside]


def render_mermaid(synthesis: Synthesis) -> str:
    """A flowchart of the environment and of how an instance becomes healthy; renders on GitHub."""
    by_urn = synthesis.by_urn()
    drawn = sorted((r for r in synthesis.resources if r.type in DRAWN), key=lambda r: (r.type, r.name))
    region = synthesis.config.get("aws:region") or "region"
    server = synthesis.config.get("octopus:serverUrl") or "Octopus"
    space = synthesis.config.get("octopus:space") or "Default"

    def node(resource: SynthResource, indent: str) -> str:
        facts = []
        for path in DRAWN[resource.type]:
            value = lookup(resource.inputs, path)
            if value is not None:
                facts.append(f"{path}: {compact(value)}")
        shape = ("[", "]") if resource.custom else ("[[", "]]")
        cls = "aws" if resource.type.startswith("aws:") else (
            "octopus" if resource.type.startswith("pulumi-python:dynamic/octopus:") else "gate"
        )
        label = mermaid_label(f"{short_type(resource.type)} {resource.name}", *facts)
        return f"{indent}{node_id(resource)}{shape[0]}{label}{shape[1]}:::{cls}"

    lines = [
        f"%% phoenix synth of stack {synthesis.stack}, offline: ‹...› values are assigned by AWS or Octopus",
        "flowchart TB",
    ]
    placed: set[str] = set()
    lines.append(f'  subgraph aws[{mermaid_label(f"AWS {region}")}]')
    for vpc in synthesis.of_type(VPC_TYPE):
        cidr = vpc.inputs.get("cidrBlock", "")
        lines.append(f'    subgraph {node_id(vpc)}[{mermaid_label(f"VPC {vpc.name}", str(cidr))}]')
        for resource in inside_vpc(synthesis, vpc):
            if resource.urn not in placed:
                lines.append(node(resource, "      "))
                placed.add(resource.urn)
        lines.append("    end")
    records = [r for r in drawn if r.type == RECORD_TYPE]
    if records:
        lines.append(f'    subgraph route53[{mermaid_label(f"Route 53 zone {_zone(synthesis)}")}]')
        for resource in records:
            lines.append(node(resource, "      "))
            placed.add(resource.urn)
        lines.append("    end")
    for resource in drawn:
        if resource.type.startswith("aws:") and resource.urn not in placed:
            lines.append(node(resource, "    "))
            placed.add(resource.urn)
    lines.append("  end")
    lines.append(f'  subgraph octopus[{mermaid_label(f"Octopus {server} · space {space}")}]')
    for resource in drawn:
        if resource.type.startswith("pulumi-python:dynamic/octopus:"):
            lines.append(node(resource, "    "))
            placed.add(resource.urn)
    flow = _flow(synthesis)
    if flow:
        lines.append(f'    flow_deploy(["{flow["deploy"]}"]):::flow')
    lines.append("  end")
    for resource in drawn:
        if resource.urn not in placed:
            lines.append(node(resource, "  "))
            placed.add(resource.urn)

    edges: dict[tuple[str, str], list[str]] = {}
    for resource in drawn:
        for prop, urns in resource.dependencies.items():
            for urn in urns:
                source = by_urn.get(urn)
                if source is not None and source.type in DRAWN and source.urn != resource.urn:
                    edges.setdefault((node_id(source), node_id(resource)), []).append(prop)
    for (source, target), props in sorted(edges.items()):
        lines.append(f'  {source} -->|{mermaid_label(", ".join(sorted(set(props))))}| {target}')

    if flow:
        lines += [
            f'  flow_tentacle(["{flow["tentacle"]}"]):::flow',
            f'  flow_health{{{{"{flow["health"]}"}}}}:::flow',
        ]
        for source, target, text in flow["edges"]:
            lines.append(f"  {source} -.->|{mermaid_label(text)}| {target}")
    lines += ["  " + style for style in MERMAID_STYLES]
    return "\n".join(lines) + "\n"


def _zone(synthesis: Synthesis) -> str:
    """The zone the records go in, as `dns.zone` names it."""
    dns = synthesis.config.get("phoenix:dns")
    zone = dns.get("zone") if isinstance(dns, Mapping) else None
    return str(zone) if zone else "of the feature"


def _flow(synthesis: Synthesis) -> Optional[dict[str, Any]]:
    """How a new instance becomes healthy: Tentacle -> Octopus -> deployment -> health -> signal."""
    groups, tenants, overrides = (synthesis.of_type(t) for t in (GROUP_TYPE, TENANT_TYPE, OVERRIDE_TYPE))
    if not (groups and tenants and overrides):
        return None
    group, tenant, override = groups[0], tenants[0], overrides[0]
    wiring = synthesis.config.get("phoenix:octopus")
    wiring = wiring if isinstance(wiring, Mapping) else {}
    fleet = synthesis.config.get("phoenix:fleet")
    fleet = fleet if isinstance(fleet, Mapping) else {}
    roles = ", ".join(str(role) for role in wiring.get("roles") or [])
    release = override.inputs.get("release_version", "the release")
    environment = override.inputs.get("environment", "")
    health = f"http://127.0.0.1:{fleet.get('appPort', 80)}{fleet.get('healthCheckPath', '/')}"
    edges = [
        (node_id(group), "flow_tentacle", "1 launches an instance; the launch hook holds it"),
        (
            "flow_tentacle",
            node_id(tenant),
            f"2 registers: tenant {tenant.inputs.get('tenant_name', '')}, environment {environment}, roles {roles}",
        ),
        (node_id(tenant), "flow_deploy", "3 project trigger fires for the new machine"),
        (node_id(override), "flow_deploy", f"picks release {release}"),
        ("flow_deploy", "flow_health", "4 deploys to the instance"),
        ("flow_health", node_id(group), "5 healthy: complete-lifecycle-action CONTINUE"),
    ]
    parameters = synthesis.of_type(PARAMETER_TYPE)
    if parameters:
        edges.insert(1, (node_id(parameters[0]), "flow_tentacle", "registration key"))
    return {
        "tentacle": mermaid_text("Tentacle on each new instance"),
        "deploy": mermaid_text(f"Deployment of {release}"),
        "health": mermaid_text(f"instance polls {health}"),
        "edges": edges,
    }
