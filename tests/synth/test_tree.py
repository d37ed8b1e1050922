"""The tree: every resource once, under its component, with the inputs that matter."""

from __future__ import annotations

from automation import synth
from tests.synth import sample


def resource_lines(text: str) -> dict[str, int]:
    """`Type name  [token]` line -> its index, for each resource line of the tree."""
    lines = text.splitlines()
    found: dict[str, int] = {}
    for index, line in enumerate(lines):
        if line.rstrip().endswith("]") and "  [" in line:
            label = line.split("  [")[0].lstrip("│├└─ ")
            assert label not in found, f"{label} appears twice"
            found[label] = index
    return found


def depth(line: str) -> int:
    return len(line) - len(line.lstrip("│├└─ "))


def test_every_resource_appears_once_under_its_parent(synthesis: synth.Synthesis) -> None:
    text = synth.render(synthesis, "tree")
    lines = text.splitlines()
    found = resource_lines(text)
    by_urn = synthesis.by_urn()
    labels = {r.urn: f"{synth.short_type(r.type)} {r.name}" for r in synthesis.resources}
    assert set(found) == set(labels.values())
    for resource in synthesis.resources:
        line = lines[found[labels[resource.urn]]]
        assert line.endswith(f"[{resource.type}]")
        if resource.parent is None:
            continue
        parent_index = found[labels[by_urn[resource.parent].urn]]
        child_index = found[labels[resource.urn]]
        assert parent_index < child_index
        assert depth(lines[child_index]) == depth(lines[parent_index]) + 4
        between = lines[parent_index + 1 : child_index]
        assert all(depth(other) > depth(lines[parent_index]) for other in between if other.strip())


def details(text: str, label: str) -> list[str]:
    """The detail lines printed under one resource line."""
    lines = text.splitlines()
    start = resource_lines(text)[label]
    out = []
    for line in lines[start + 1 :]:
        if "  [" in line and line.rstrip().endswith("]") or not line.strip():
            break
        out.append(line.lstrip("│ "))
    return out


def test_the_inputs_that_matter_are_shown(synthesis: synth.Synthesis) -> None:
    text = synth.render(synthesis, "tree")
    stamp = synthesis.outputs["infrastructure_version"]
    assert "cidrBlock: 10.20.0.0/16" in details(text, "Vpc phoenix-network-vpc")
    assert {"cidrBlock: 10.20.0.0/20", "availabilityZone: <az-1>"} <= set(
        details(text, "Subnet phoenix-network-public-0")
    )
    group = details(text, "Group phoenix-fleet-asg")
    assert {"minSize: 1", "maxSize: 2", "desiredCapacity: 1",
            "launchTemplate.version: <LaunchTemplate:phoenix-fleet-lt.latestVersion>"} <= set(group)
    template = details(text, "LaunchTemplate phoenix-fleet-lt")
    assert "instanceType: t3.small" in template and f"imageId: {synth.PLACEHOLDER_IMAGE}" in template
    assert any(line.startswith("userData: ") and line.endswith(f"stamped {stamp}") for line in template)
    assert "healthCheck.path: /health" in details(text, "TargetGroup phoenix-fleet-tg")
    tenant = details(text, "Tenant phoenix-tenant")
    assert {"name: ryan0001", "tenant_name: ryan0001", "environments: [Feature]"} <= set(tenant)
    override = details(text, "AutoDeployOverride phoenix-override")
    assert {"environment: Feature", f"release_version: {sample.VERSION}",
            "tenant_id: <Tenant:phoenix-tenant.tenant_id>"} <= set(override)


def test_physical_names_follow_the_naming_rules(synthesis: synth.Synthesis) -> None:
    balancer = synthesis.of_type("aws:lb/loadBalancer:LoadBalancer")[0]
    target_group = synthesis.of_type("aws:lb/targetGroup:TargetGroup")[0]
    for resource in (balancer, target_group):
        assert resource.physical_name == resource.inputs["name"]
        assert len(resource.physical_name) <= 32 and sample.FEATURE in resource.physical_name
    policy = synthesis.of_type("aws:iam/rolePolicy:RolePolicy")[0]
    assert policy.physical_name == "phoenix-fleet-instance-<random>"
    vpc = synthesis.of_type("aws:ec2/vpc:Vpc")[0]
    assert vpc.physical_name == "<Vpc:phoenix-network-vpc.id> tagged Name=phoenix-network-vpc"
    assert synthesis.root().physical_name is None


def test_the_tree_says_it_created_nothing_and_how_to_create_for_real(synthesis: synth.Synthesis) -> None:
    text = synth.render(synthesis, "tree")
    assert "nothing was created" in text.splitlines()[0]
    assert text.rstrip().endswith(f"phoenix create {sample.FEATURE} --version {sample.VERSION}")
    assert "<az-N>" in text and synth.SECRET_MARKER in text


def test_without_a_version_the_stand_in_is_said() -> None:
    text = synth.render(sample.synthesize(version=None), "tree")
    assert f"package version 0.0.0-{sample.FEATURE} is a stand-in" in text
    assert text.rstrip().endswith(f"phoenix create {sample.FEATURE}")
