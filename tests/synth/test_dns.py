"""synth shows a feature's name and certificate: in the tree, the JSON and the diagram; and none without a zone."""

from __future__ import annotations

import pytest

from automation import synth
from tests.synth import mermaid_parser, sample

DNS_TYPES = ("aws:acm/certificate:Certificate", "aws:acm/certificateValidation:CertificateValidation",
             "aws:route53/record:Record")


def names(synthesis: synth.Synthesis, type_: str) -> list[str]:
    return sorted(r.name for r in synthesis.of_type(type_))


def test_the_tree_shows_the_name_the_certificate_and_both_listeners(synthesis: synth.Synthesis) -> None:
    tree = synth.render(synthesis, "tree")
    for line in (
        "FeatureDomain phoenix-fleet-domain  [phoenix:index:FeatureDomain]",
        "Certificate phoenix-fleet-domain-cert  [aws:acm/certificate:Certificate]",
        "domainName: ryan0001.features.example.com",
        "validationMethod: DNS",
        "name: ryan0001.features.example.com",
        "type: A",
        "name: <Certificate:phoenix-fleet-domain-cert.validation[ryan0001.features.example.com].name>",
        "validationRecordFqdns: [<Record:phoenix-fleet-domain-validation-0.fqdn>]",
        "sslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06",
        "defaultActions: [{redirect: {port: 443, protocol: HTTPS, statusCode: HTTP_301}, type: redirect}]",
        "url: https://ryan0001.features.example.com",
        "<hosted-zone-id>",
    ):
        assert line in tree, line


def test_the_diagram_puts_the_records_in_the_zone_and_wires_the_certificate_to_https(
    synthesis: synth.Synthesis,
) -> None:
    parsed = mermaid_parser.parse(synth.render(synthesis, "mermaid"))
    assert parsed.ok, parsed.error
    subgraphs = parsed.subgraphs()
    zone = subgraphs["route53"]
    assert zone["title"] == "Route 53 zone features.example.com"
    records = {synth.node_id(r) for r in synthesis.of_type("aws:route53/record:Record")}
    assert len(records) == 2 and set(zone["nodes"]) == records
    vpc = synthesis.of_type("aws:ec2/vpc:Vpc")[0]
    assert not records & set(subgraphs[synth.node_id(vpc)]["nodes"]), "Route 53 is not in the VPC"
    by_type = {t: synth.node_id(synthesis.of_type(t)[0]) for t in DNS_TYPES[:2]}
    https = synth.node_id(next(r for r in synthesis.of_type("aws:lb/listener:Listener") if r.name.endswith("-https")))
    edges = {(e["start"], e["end"]) for e in parsed.edges()}
    validation = by_type["aws:acm/certificateValidation:CertificateValidation"]
    assert (validation, https) in edges
    assert (by_type["aws:acm/certificate:Certificate"], validation) in edges


def test_without_a_zone_synth_has_none_of_it_and_the_url_is_the_balancers() -> None:
    plain = sample.synthesize(overrides=["phoenix:dns.zone="])
    assert not [r for r in plain.resources if r.type in DNS_TYPES or r.type == "phoenix:index:FeatureDomain"]
    assert plain.outputs["url"] == "http://<LoadBalancer:phoenix-fleet-alb.dnsName>"
    assert "route53" not in synth.render(plain, "mermaid")


def test_a_zone_given_by_id_is_named_by_a_stand_in_synth_explains() -> None:
    by_id = sample.synthesize(overrides=["phoenix:dns.zone=Z0123456789ABCDEFGHIJ"])
    assert by_id.outputs["url"] == "https://ryan0001.hosted-zone.invalid"
    records = by_id.of_type("aws:route53/record:Record")
    assert {r.inputs["zoneId"] for r in records} == {"Z0123456789ABCDEFGHIJ"}
    assert "hosted-zone.invalid" in synth.render(by_id, "tree").split("placeholders", 1)[1]


@pytest.mark.parametrize("zone", ["https://features.example.com", "features"])
def test_a_zone_that_is_not_a_domain_fails_synth_naming_the_setting(zone: str) -> None:
    from automation.config import ConfigError

    with pytest.raises(ConfigError) as refused:
        sample.synthesize(overrides=[f"phoenix:dns.zone={zone}"])
    assert (refused.value.source, refused.value.key) == ("--set", "phoenix:dns.zone")
    assert zone in refused.value.reason
