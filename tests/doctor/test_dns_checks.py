"""The feature's name in doctor: plain HTTP warned about, the zone found in Route 53 (moto), its access simulated."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from automation import doctor
from automation.doctor.aws_checks import principal_arn
from tests.doctor.conftest import assert_named, check_named, run_one
from tests.doctor.iam_simulator import iam_simulator  # noqa: F401 - fixture

REGION = "eu-west-1"
ZONE = "features.example.com"
ZONE_SETTING = "phoenix:dns.zone"
CREATE_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["route53:GetHostedZone", "route53:ListResourceRecordSets",
                                       "route53:ChangeResourceRecordSets"],
         "Resource": "arn:aws:route53:::hostedzone/*"},
        {"Effect": "Allow", "Action": "route53:GetChange", "Resource": "arn:aws:route53:::change/*"},
        {"Effect": "Allow", "Action": "acm:*", "Resource": "*"},
    ],
}


@pytest.fixture
def aws(monkeypatch):
    """moto for every AWS call, credentials in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    with mock_aws():
        yield


def hosted_zone(name: str, *, private: bool = False) -> str:
    client = boto3.client("route53", region_name=REGION)
    options = {}
    if private:
        vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        options = {"HostedZoneConfig": {"PrivateZone": True, "Comment": ""}, "VPC": {"VPCRegion": REGION,
                                                                                  "VPCId": vpc}}
    zone = client.create_hosted_zone(Name=name, CallerReference=f"{name}-{private}", **options)
    return zone["HostedZone"]["Id"].rsplit("/", 1)[-1]


def as_user(monkeypatch, name: str, *policies: dict) -> str:
    """Run as a new IAM user holding these policies; its ARN."""
    iam = boto3.client("iam", region_name=REGION)
    user = iam.create_user(UserName=name)["User"]["Arn"]
    for index, policy in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{index}", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    return user


# --- without a zone ------------------------------------------------------------------------------


def test_without_a_zone_doctor_warns_of_plain_http_to_the_configured_cidrs(make_context) -> None:
    check = run_one(make_context(), "aws.https")
    assert check.status == "warn"
    assert_named(check.found, "plain HTTP", "0.0.0.0/0", "the internet", "port 80")
    assert_named(check.fix, ZONE_SETTING, "stacks/defaults.yaml: dns.zone", "https://ryan0001.<zone>")


def test_the_warning_names_private_networks_as_such(make_context) -> None:
    check = run_one(make_context("phoenix:fleet.listenerCidrs=[10.0.0.0/8]"), "aws.https")
    assert check.status == "warn"
    assert_named(check.found, "10.0.0.0/8", "these private networks")


def test_without_a_zone_nothing_is_looked_up_and_doctor_still_passes(make_context, aws) -> None:
    checks = doctor.run_checks(make_context(), only=["aws.zone", "aws.zoneAccess", "aws.https"])
    assert {c.name: c.status for c in checks if c.name.startswith("aws.")} == {
        "aws.region": "ok", "aws.credentials": "ok", "aws.https": "warn", "aws.zone": "ok", "aws.zoneAccess": "ok",
    }
    assert doctor.exit_code(checks) == 0


# --- the zone ------------------------------------------------------------------------------------


def test_a_public_zone_by_name_is_found(make_context, aws) -> None:
    zone_id = hosted_zone(ZONE)
    ctx = make_context(f"{ZONE_SETTING}={ZONE}")
    check = run_one(ctx, "aws.zone")
    assert check.status == "ok", check
    assert_named(check.found, f"{ZONE} ({zone_id})", "public", "FEATURE.features.example.com")
    https = run_one(ctx, "aws.https")
    assert https.status == "ok"
    assert_named(https.found, "https://ryan0001.features.example.com", "ELBSecurityPolicy-TLS13-1-2-2021-06",
                 "port 80 redirects")


def test_a_public_zone_by_id_is_found(make_context, aws) -> None:
    zone_id = hosted_zone(ZONE)
    check = run_one(make_context(f"{ZONE_SETTING}={zone_id}"), "aws.zone")
    assert check.status == "ok", check
    assert_named(check.found, ZONE, zone_id)


def test_a_missing_zone_fails_with_the_zones_there_are(make_context, aws) -> None:
    hosted_zone("feature.example.com")
    check = run_one(make_context(f"{ZONE_SETTING}={ZONE}"), "aws.zone")
    assert check.status == "fail"
    assert_named(check.found, f"no hosted zone named '{ZONE}'", "near matches: 'feature.example.com'")
    assert_named(check.fix, ZONE_SETTING, "--set")


def test_a_missing_zone_id_fails(make_context, aws) -> None:
    check = run_one(make_context(f"{ZONE_SETTING}=Z0000000000NOSUCHZONE"), "aws.zone")
    assert check.status == "fail"
    assert_named(check.found, "no hosted zone Z0000000000NOSUCHZONE")


def test_a_private_zone_with_public_cidrs_fails_naming_them(make_context, aws) -> None:
    hosted_zone(ZONE, private=True)
    check = run_one(make_context(f"{ZONE_SETTING}={ZONE}"), "aws.zone")
    assert check.status == "fail"
    assert_named(check.found, "private hosted zone", "0.0.0.0/0", "nobody can resolve ryan0001.features.example.com")
    assert_named(check.fix, "public hosted zone")


def test_a_private_zone_fails_even_for_private_cidrs_as_acm_cannot_see_it(make_context, aws) -> None:
    zone_id = hosted_zone(ZONE, private=True)
    check = run_one(make_context(f"{ZONE_SETTING}={zone_id}", "phoenix:fleet.listenerCidrs=[10.0.0.0/8]"), "aws.zone")
    assert check.status == "fail"
    assert_named(check.found, "private hosted zone", "public DNS only")


def test_of_a_public_and_a_private_zone_of_one_name_the_public_one_serves(make_context, aws) -> None:
    hosted_zone(ZONE, private=True)
    public = hosted_zone(ZONE)
    check = run_one(make_context(f"{ZONE_SETTING}={ZONE}"), "aws.zone")
    assert check.status == "ok"
    assert public in check.found


def test_zone_checks_need_credentials(make_context, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any call would fail here instead
    checks = doctor.run_checks(make_context(f"{ZONE_SETTING}={ZONE}"), only=["aws.zoneAccess"])
    assert [(c.name, c.status) for c in checks] == [
        ("settings", "ok"), ("aws.region", "ok"), ("aws.credentials", "fail"), ("aws.zone", "warn"),
        ("aws.zoneAccess", "warn"),
    ]
    assert check_named(checks, "aws.zone").not_checked


def test_the_zone_is_checked_before_a_preview_its_access_only_before_a_create(make_context, aws) -> None:
    ctx = make_context(f"{ZONE_SETTING}={ZONE}")
    preview = {c.name for c in doctor.run_checks(ctx, "preview")}
    create = {c.name for c in doctor.run_checks(ctx, "create")}
    assert {"aws.https", "aws.zone"} <= preview and "aws.zoneAccess" not in preview
    assert {"aws.https", "aws.zone", "aws.zoneAccess"} <= create


# --- may these credentials change it? ---------------------------------------------------------------


def test_credentials_allowed_to_change_the_zone_pass(make_context, aws, iam_simulator, monkeypatch) -> None:
    zone_id = hosted_zone(ZONE)
    user = as_user(monkeypatch, "ci", CREATE_ACCESS)
    check = run_one(make_context(f"{ZONE_SETTING}={ZONE}"), "aws.zoneAccess")
    assert check.status == "ok", check
    assert_named(check.found, user, ZONE, "nothing written")
    zone_request = next(r for r in iam_simulator if "route53:ChangeResourceRecordSets" in r["actions"])
    assert zone_request["principal"] == user
    assert zone_request["resources"] == [f"arn:aws:route53:::hostedzone/{zone_id}"]
    assert {"acm:RequestCertificate", "acm:DeleteCertificate", "route53:GetChange"} <= {
        action for request in iam_simulator for action in request["actions"]
    }


def test_credentials_that_may_not_change_the_zone_fail_naming_the_actions(make_context, aws, iam_simulator,
                                                                           monkeypatch) -> None:
    other = hosted_zone("other.example.com")
    hosted_zone(ZONE)
    only_other = json.loads(json.dumps(CREATE_ACCESS).replace("hostedzone/*", f"hostedzone/{other}"))
    user = as_user(monkeypatch, "ci", only_other)
    check = run_one(make_context(f"{ZONE_SETTING}={ZONE}"), "aws.zoneAccess")
    assert check.status == "fail"
    assert_named(check.found, user, "route53:ChangeResourceRecordSets (implicitDeny)")
    assert "acm:" not in check.found and "GetChange" not in check.found
    assert_named(check.fix, "arn:aws:route53:::hostedzone/")


def test_an_explicit_deny_is_named_as_such(make_context, aws, iam_simulator, monkeypatch) -> None:
    hosted_zone(ZONE)
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "acm:DeleteCertificate", "Resource": "*"}]}
    as_user(monkeypatch, "ci", CREATE_ACCESS, deny)
    check = run_one(make_context(f"{ZONE_SETTING}={ZONE}"), "aws.zoneAccess")
    assert check.status == "fail"
    assert_named(check.found, "acm:DeleteCertificate (explicitDeny)")


def test_without_the_simulator_doctor_says_it_cannot_tell(make_context, aws, iam_simulator, monkeypatch) -> None:
    """With moto's access control on, a caller without iam:SimulatePrincipalPolicy gets AccessDenied, as from AWS.

    The zone is found first with access control off: moto's Route 53 refuses every signed request once it is on.
    """
    from moto.core import set_initial_no_auth_action_count

    from automation.doctor import aws_checks
    from automation.doctor.probe import Probe
    from automation.doctor.settings_check import check_settings

    hosted_zone(ZONE)
    as_user(monkeypatch, "ci", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": "iam:SimulatePrincipalPolicy", "Resource": "*"}]})
    probe = Probe(make_context(f"{ZONE_SETTING}={ZONE}"))
    assert check_settings(probe).status == "ok"
    assert aws_checks.check_zone(probe).status == "ok"

    @set_initial_no_auth_action_count(0)
    def access() -> doctor.Check:
        return aws_checks.check_zone_access(probe)

    check = access()
    assert check.status == "warn"
    assert_named(check.found, "cannot tell without writing", "AccessDenied")
    assert_named(check.fix, "iam:SimulatePrincipalPolicy")
    assert iam_simulator == []


@pytest.mark.parametrize(
    ("caller", "role_arn", "expected"),
    [
        ("arn:aws:iam::123456789012:user/ci/runner", None, "arn:aws:iam::123456789012:user/ci/runner"),
        ("arn:aws:sts::123456789012:assumed-role/deployer/gh-123", None, "arn:aws:iam::123456789012:role/deployer"),
        ("arn:aws:sts::123456789012:assumed-role/deployer/gh-123", "arn:aws:iam::123456789012:role/ci/deployer",
         "arn:aws:iam::123456789012:role/ci/deployer"),
        ("arn:aws-cn:sts::123456789012:assumed-role/deployer/x", None, "arn:aws-cn:iam::123456789012:role/deployer"),
        ("arn:aws:iam::123456789012:root", None, None),
        ("arn:aws:sts::123456789012:federated-user/bob", None, None),
    ],
)
def test_the_principal_whose_policies_apply(caller: str, role_arn, expected) -> None:
    assert principal_arn(caller, lambda name: role_arn) == expected
