"""The diagram parses with Mermaid's own parser and shows what the tree shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation import synth
from tests.synth import mermaid_parser


@pytest.fixture(scope="module")
def parsed(synthesis: synth.Synthesis) -> mermaid_parser.Parsed:
    result = mermaid_parser.parse(synth.render(synthesis, "mermaid"))
    assert result.ok, result.error
    return result


def label(resource: synth.SynthResource) -> str:
    return synth.mermaid_text(f"{synth.short_type(resource.type)} {resource.name}")


def test_the_diagram_draws_each_drawn_resource_once(
    synthesis: synth.Synthesis, parsed: mermaid_parser.Parsed
) -> None:
    assert parsed.graph["type"].startswith("flowchart")
    drawn = [r for r in synthesis.resources if r.type in synth.DRAWN]
    vertices = parsed.vertices()
    resource_vertices = {id_ for id_, v in vertices.items() if not id_.startswith("flow_")}
    assert resource_vertices == {synth.node_id(r) for r in drawn}
    for resource in drawn:
        assert vertices[synth.node_id(resource)]["text"].startswith(label(resource))
    kinds = {"Subnet", "LoadBalancer", "Group", "LaunchTemplate", "Tenant", "AutoDeployOverride"}
    assert kinds <= {synth.short_type(r.type) for r in drawn}


def test_the_vpc_holds_its_subnets_and_octopus_its_resources(
    synthesis: synth.Synthesis, parsed: mermaid_parser.Parsed
) -> None:
    subgraphs = parsed.subgraphs()
    vpc = synthesis.of_type("aws:ec2/vpc:Vpc")[0]
    box = subgraphs[synth.node_id(vpc)]
    assert box["title"] == f"VPC {vpc.name}<br>{vpc.inputs['cidrBlock']}"
    subnets = {synth.node_id(s) for s in synthesis.of_type("aws:ec2/subnet:Subnet")}
    assert len(subnets) == 4 and subnets <= set(box["nodes"])
    assert synth.node_id(synthesis.of_type("aws:autoscaling/group:Group")[0]) in box["nodes"]
    octopus = set(subgraphs["octopus"]["nodes"])
    for type_ in (synth.TENANT_TYPE, synth.OVERRIDE_TYPE):
        assert synth.node_id(synthesis.of_type(type_)[0]) in octopus
    subnet_text = parsed.vertices()[synth.node_id(synthesis.of_type("aws:ec2/subnet:Subnet")[0])]["text"]
    assert "‹az-" in subnet_text, "placeholders stay visible, marked"


def test_the_wiring_between_drawn_resources_is_drawn(
    synthesis: synth.Synthesis, parsed: mermaid_parser.Parsed
) -> None:
    by_urn = synthesis.by_urn()
    edges = {(e["start"], e["end"]) for e in parsed.edges()}
    expected = {
        (synth.node_id(by_urn[urn]), synth.node_id(resource))
        for resource in synthesis.resources if resource.type in synth.DRAWN
        for urns in resource.dependencies.values() for urn in urns
        if by_urn[urn].type in synth.DRAWN
    }
    assert expected and expected <= edges
    group = synth.node_id(synthesis.of_type("aws:autoscaling/group:Group")[0])
    template = synth.node_id(synthesis.of_type("aws:ec2/launchTemplate:LaunchTemplate")[0])
    assert (template, group) in expected


def test_the_flow_tentacle_octopus_deployment_health_signal(
    synthesis: synth.Synthesis, parsed: mermaid_parser.Parsed
) -> None:
    group = synth.node_id(synthesis.of_type("aws:autoscaling/group:Group")[0])
    tenant = synth.node_id(synthesis.of_type(synth.TENANT_TYPE)[0])
    override = synth.node_id(synthesis.of_type(synth.OVERRIDE_TYPE)[0])
    dotted = {(e["start"], e["end"]): e["text"] for e in parsed.edges() if e["stroke"] == "dotted"}
    chain = [group, "flow_tentacle", tenant, "flow_deploy", "flow_health", group]
    for step, (start, end) in enumerate(zip(chain, chain[1:]), start=1):
        assert dotted[(start, end)].startswith(f"{step} "), (start, end)
    assert "tenant ryan0001, environment Feature, roles web" in dotted[("flow_tentacle", tenant)]
    assert dotted[(override, "flow_deploy")] == "picks release 1.0.0-ryan0001"
    assert "http://127.0.0.1:80/health" in parsed.vertices()["flow_health"]["text"]


def test_hostile_text_stays_inside_its_label() -> None:
    hostile = 'x"] --> evil["<script>alert(1)</script> #lt; | ]'
    text = "\n".join([
        "flowchart TB",
        f"  a[{synth.mermaid_label(hostile, 'second line')}]",
        f"  a -->|{synth.mermaid_label(hostile)}| b",
    ])
    result = mermaid_parser.parse(text)
    assert result.ok, result.error
    assert set(result.vertices()) == {"a", "b"}
    shown = "x'] --› evil['‹script›alert(1)‹/script› # lt; | ]"
    assert result.vertices()["a"]["text"] == f"{shown}<br>second line"
    assert result.edges()[0]["text"] == shown


def test_the_parser_rejects_a_broken_diagram(synthesis: synth.Synthesis) -> None:
    """The check can fail: a label with a stray quote does not parse."""
    broken = synth.render(synthesis, "mermaid").replace('["Subnet', '["Sub"net', 1)
    result = mermaid_parser.parse(broken)
    assert not result.ok
    assert "Parse error" in result.error or "error" in result.error.lower()


def test_a_missing_parser_fails_with_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception) as failure:
        mermaid_parser.parse("flowchart TB\n  a --> b\n", parser_dir=tmp_path)
    assert "npm ci --prefix tests/synth/mermaid" in str(failure.value)
