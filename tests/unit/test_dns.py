"""A feature's name and certificate under Pulumi mocks: what a zone adds, how it is wired, what destroy must respect.

The mocks answer like Route 53 and ACM (`tests/unit/conftest.py`): the zone
look-up finds public zones by name and any zone by id, ACM refuses a first
name over 64 characters and names one validation CNAME per name, Route 53
refuses a record outside its zone or with an illegal label. The engine here
cannot run pulumi-aws resources (no AWS provider plugin on this machine), so
the order destroy takes is shown on the dependency graph the program
registers: Pulumi deletes a resource only after everything that depends on it.
"""

from __future__ import annotations

import base64
import graphlib

import pytest

from bootstrap.render import userdata_text
from components import dns_names, naming
from components.feature import MAX_FEATURE_LENGTH
from components.settings import DEFAULT_TLS_POLICY, SettingsError
from tests.unit.conftest import BALANCER_ZONE_ID, ZONES, AwsRejected, FeatureMocks, ProgramRun, Registered, run_program
from tests.unit.sample_config import sample_config

CERTIFICATE = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
LISTENER = "aws:lb/listener:Listener"
BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
GROUP = "aws:autoscaling/group:Group"
SG = "aws:ec2/securityGroup:SecurityGroup"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
DOMAIN = "phoenix:index:FeatureDomain"
FLEET = "phoenix:index:Fleet"
TENANT_VARIABLES = "pulumi-python:dynamic/octopus:TenantVariables"
DNS_TYPES = (CERTIFICATE, VALIDATION, RECORD, DOMAIN)

PUBLIC, PRIVATE = ZONES
LONGEST_FEATURE = "r" + "a" * (MAX_FEATURE_LENGTH - 1)


def with_zone(zone: str = PUBLIC.name, feature: str = "ryan0001", **changes) -> dict:
    return sample_config({"phoenix:dns": {"zone": zone, **changes}}, feature=feature)


@pytest.fixture(scope="module")
def named() -> ProgramRun:
    return run_program(with_zone())


@pytest.fixture(scope="module")
def plain() -> ProgramRun:
    return run_program(sample_config())


def listener(run: ProgramRun, suffix: str) -> Registered:
    found = [r for r in run.of_type(LISTENER) if r.name.endswith(suffix)]
    assert len(found) == 1, [r.name for r in run.of_type(LISTENER)]
    return found[0]


def records(run: ProgramRun, kind: str) -> list[Registered]:
    return [r for r in run.of_type(RECORD) if r.inputs["type"] == kind]


# --- with a zone ---------------------------------------------------------------------------------


def test_the_feature_is_named_in_its_zone_by_an_alias_to_the_balancer(named: ProgramRun) -> None:
    (alias,) = records(named, "A")
    balancer = named.one(BALANCER)
    assert alias.inputs["name"] == "ryan0001.features.example.com"
    assert alias.inputs["zoneId"] == PUBLIC.id
    assert alias.inputs["aliases"] == [{
        "name": f"{balancer.inputs['name']}-1234567890.eu-west-1.elb.amazonaws.com",
        "zoneId": BALANCER_ZONE_ID,
        "evaluateTargetHealth": True,
    }]
    assert "ttl" not in alias.inputs and "records" not in alias.inputs


def test_the_url_is_https_at_the_name_everywhere_it_appears(named: ProgramRun) -> None:
    assert named.outputs["url"] == "https://ryan0001.features.example.com"
    assert named.one(TENANT_VARIABLES).inputs["values"]["Phoenix.Url"] == named.outputs["url"]


def test_the_certificate_is_validated_through_dns_in_the_same_zone(named: ProgramRun) -> None:
    certificate = named.one(CERTIFICATE)
    assert certificate.inputs["domainName"] == "ryan0001.features.example.com"
    assert certificate.inputs["validationMethod"] == "DNS"
    assert "subjectAlternativeNames" not in certificate.inputs
    assert certificate.inputs["tags"][naming.FEATURE_TAG] == "ryan0001"
    (cname,) = records(named, "CNAME")
    # Exactly the record ACM asked for (the mocks name it from the certificate's name), in the zone.
    assert cname.inputs["zoneId"] == PUBLIC.id
    assert cname.inputs["name"].endswith(".ryan0001.features.example.com.") and cname.inputs["name"].startswith("_")
    assert cname.inputs["records"][0].endswith(".acm-validations.aws.")
    validation = named.one(VALIDATION)
    assert validation.inputs["certificateArn"] == certificate.id
    assert validation.inputs["validationRecordFqdns"] == [cname.inputs["name"].rstrip(".")]


def test_https_serves_the_validated_certificate_with_the_tls_policy_and_http_redirects(named: ProgramRun) -> None:
    https = listener(named, "-https").inputs
    assert (https["port"], https["protocol"]) == (443, "HTTPS")
    assert https["sslPolicy"] == DEFAULT_TLS_POLICY == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificateArn"] == named.one(CERTIFICATE).id
    assert https["defaultActions"] == [{"type": "forward", "targetGroupArn": named.one(TARGET_GROUP).id}]
    http = listener(named, "-http").inputs
    assert http["port"] == 80
    assert http["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ]


def test_the_balancer_accepts_both_listeners_from_the_configured_cidrs_only() -> None:
    run = run_program({**with_zone(), "phoenix:fleet": {**sample_config()["phoenix:fleet"],
                                                       "listenerCidrs": ["10.0.0.0/8"]}})
    ingress = next(r for r in run.of_type(SG) if r.name.endswith("-lb")).inputs["ingress"]
    assert [(rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) for rule in ingress] == [
        (80, 80, ["10.0.0.0/8"]), (443, 443, ["10.0.0.0/8"]),
    ]


def test_another_tls_policy_from_the_settings_reaches_the_listener() -> None:
    run = run_program(with_zone(tlsPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06"))
    assert listener(run, "-https").inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06"


def test_the_new_resources_belong_to_the_domain_component_of_the_fleet(named: ProgramRun) -> None:
    for resource in named.resources:
        if resource.type in (CERTIFICATE, VALIDATION, RECORD):
            assert resource.parent_type == DOMAIN, resource.urn
    assert named.one(DOMAIN).parent_type == FLEET
    assert listener(named, "-https").parent_type == FLEET


def test_a_zone_adds_the_name_and_leaves_the_instances_alone(named: ProgramRun, plain: ProgramRun) -> None:
    """The difference a zone makes: the name, the certificate, a listener; never the userdata or the group."""
    added = {typ: count - plain.counts().get(typ, 0) for typ, count in named.counts().items()}
    assert {typ: n for typ, n in added.items() if n} == {DOMAIN: 1, CERTIFICATE: 1, VALIDATION: 1, RECORD: 2,
                                                          LISTENER: 1}
    assert named.one(TEMPLATE).inputs == plain.one(TEMPLATE).inputs
    assert named.one(GROUP).inputs == plain.one(GROUP).inputs


def test_a_zone_given_by_id_names_the_feature_the_same_way(named: ProgramRun) -> None:
    run = run_program(with_zone(PUBLIC.id))
    assert run.outputs["url"] == named.outputs["url"]
    assert [r.inputs["name"] for r in records(run, "A")] == ["ryan0001.features.example.com"]
    lookup = next(call for call in run.mocks.calls if call.token == "aws:route53/getZone:getZone")
    assert lookup.args.get("zoneId") == PUBLIC.id and not lookup.args.get("name")


# --- the longest legal feature id --------------------------------------------------------------


def test_the_longest_feature_gets_a_short_certificate_name_and_its_own_name_beside_it() -> None:
    run = run_program(with_zone(feature=LONGEST_FEATURE))
    host = f"{LONGEST_FEATURE}.features.example.com"
    certificate = run.one(CERTIFICATE).inputs
    assert len(host) > 64, "too long to be a certificate's first name: the mocks refuse it as ACM does"
    assert certificate["domainName"] == dns_names.short_name(LONGEST_FEATURE, "features.example.com")
    assert len(certificate["domainName"]) <= 64
    assert certificate["subjectAlternativeNames"] == [host]
    # One validation record per name, each for the name ACM asked about.
    cnames = records(run, "CNAME")
    assert sorted(r.inputs["name"].split(".", 1)[1] for r in cnames) == sorted(
        f"{name}." for name in (certificate["domainName"], host)
    )
    assert run.one(VALIDATION).inputs["validationRecordFqdns"] == [r.inputs["name"].rstrip(".") for r in cnames]
    assert [r.inputs["name"] for r in records(run, "A")] == [host]
    assert run.outputs["url"] == f"https://{host}"


# --- without a zone ------------------------------------------------------------------------------


def test_without_a_zone_none_of_it_and_plain_http_at_the_balancers_name(plain: ProgramRun) -> None:
    assert not [r for r in plain.resources if r.type in DNS_TYPES]
    (only,) = plain.of_type(LISTENER)
    assert (only.inputs["port"], only.inputs["protocol"]) == (80, "HTTP")
    assert only.inputs["defaultActions"][0]["type"] == "forward"
    assert plain.outputs["url"].startswith("http://phx-ryan0001-") and plain.outputs["url"].endswith(
        ".elb.amazonaws.com"
    )
    assert not [call for call in plain.mocks.calls if call.token == "aws:route53/getZone:getZone"]


# --- zones that cannot serve -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "error", "expected"),
    [
        (PRIVATE.id, SettingsError, "private hosted zone"),
        # By name only public zones are looked for, as the program asks; AWS's look-up fails.
        (PRIVATE.name, AwsRejected, "no matching Route 53 Hosted Zone"),
        ("missing.example.com", AwsRejected, "no matching Route 53 Hosted Zone"),
    ],
)
def test_a_zone_that_cannot_serve_stops_the_program_before_anything_is_created(zone: str, error, expected: str) -> None:
    mocks = FeatureMocks()
    with pytest.raises(error) as stopped:
        run_program(with_zone(zone), mocks=mocks)
    assert expected in str(stopped.value)
    assert getattr(stopped.value, "key", "phoenix:dns.zone") == "phoenix:dns.zone"
    assert [r.name for r in mocks.registered if r.custom] == []


def test_a_zone_whose_name_no_feature_fits_stops_the_program() -> None:
    long_name = "z" * 30 + ".features-for-previews.example.com"
    mocks = FeatureMocks(hosted_zones=(*ZONES, type(PUBLIC)("Z1111111111LONGNAME", long_name)))
    with pytest.raises(SettingsError) as stopped:
        run_program(with_zone("Z1111111111LONGNAME"), mocks=mocks)
    assert stopped.value.key == "phoenix:dns.zone" and "at most 51" in stopped.value.reason
    assert [r.name for r in mocks.registered if r.custom] == []


# --- the dependency graph destroy follows ------------------------------------------------------------


def test_the_https_listener_waits_for_the_validated_certificate(named: ProgramRun) -> None:
    https, validation, certificate = listener(named, "-https"), named.one(VALIDATION), named.one(CERTIFICATE)
    assert validation.urn in https.dependencies
    assert certificate.urn not in https.dependencies, "the ARN comes from the validation, never the request"
    assert certificate.urn in validation.dependencies
    assert {r.urn for r in records(named, "CNAME")} <= validation.dependencies
    assert all(certificate.urn in r.dependencies for r in records(named, "CNAME"))
    assert named.one(BALANCER).urn in records(named, "A")[0].dependencies
    # The group registers with the target group only once HTTPS forwards to it.
    assert https.urn in named.one(GROUP).dependencies


def destroy_order(run: ProgramRun) -> list[str]:
    """An order Pulumi's destroy may take: each resource after every resource that depends on it."""
    by_urn = {r.urn: r for r in run.resources}
    dependents: dict[str, set[str]] = {urn: set() for urn in by_urn}
    for resource in run.resources:
        for urn in resource.dependencies & by_urn.keys():
            dependents[urn].add(resource.urn)
    return [by_urn[urn].name for urn in graphlib.TopologicalSorter(dependents).static_order()]


def test_destroy_removes_the_listener_before_the_certificate_and_the_records_with_it(named: ProgramRun) -> None:
    order = destroy_order(named)
    position = {name: index for index, name in enumerate(order)}
    https = listener(named, "-https").name
    validation, certificate = named.one(VALIDATION).name, named.one(CERTIFICATE).name
    assert position[https] < position[validation] < position[certificate]
    for cname in records(named, "CNAME"):
        assert position[validation] < position[cname.name] < position[certificate]
    # Every one of them is in the stack, so destroy removes each.
    assert {certificate, validation, *(r.name for r in named.of_type(RECORD))} <= set(order)


def test_userdata_never_names_the_url(named: ProgramRun) -> None:
    userdata = userdata_text(base64.b64decode(named.one(TEMPLATE).inputs["userData"]))
    assert "features.example.com" not in userdata
