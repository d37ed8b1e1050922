"""The feature's key against moto's KMS and SSM: it encrypts the parameter, and a destroy outlives its deletion.

Destroy deletes the key last (the parameter, alias, launch template and
instance policy all depend on it), and the AWS provider deletes an
`aws.kms.Key` by scheduling its deletion with `deletion_window_in_days`;
terraform-provider-aws (internal/service/kms/key.go, resourceKeyDelete)
treats `NotFoundException` and `KMSInvalidStateException` "is pending
deletion" as already deleted, and its read treats a key in PendingDeletion as
gone. What can run here is the AWS side of that sequence, on moto; the
provider plugin itself cannot be built offline (README, "The Pulumi engine,
offline").
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from components import naming
from components.feature_key import DELETION_WINDOW_DAYS, key_policy
from components.fleet import parameter_arn
from tests.unit.conftest import run_program
from tests.unit.sample_config import SAMPLE_REGISTRATION_KEY, sample_config

REGION = "eu-west-1"
FEATURE = "ryan0001"


@pytest.fixture
def aws(monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(name, value)
    with mock_aws():
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        yield account, boto3.client("kms", region_name=REGION), boto3.client("ssm", region_name=REGION)


def create_feature_key(account: str, kms, ssm) -> tuple[str, str]:
    """What create does in AWS: the key with the program's policy, its alias, the parameter on it."""
    name = naming.registration_key_parameter(FEATURE)
    policy = key_policy(
        partition="aws", account=account, region=REGION,
        instance_role_arn=f"arn:aws:iam::{account}:role/{naming.role_name(FEATURE)}",
        parameter_arn=parameter_arn(partition="aws", region=REGION, account=account, name=name),
        encrypts_volumes=True,
    )
    key = kms.create_key(Policy=policy, Description=f"phoenix feature {FEATURE}")["KeyMetadata"]
    kms.create_alias(AliasName=naming.key_alias(FEATURE), TargetKeyId=key["KeyId"])
    ssm.put_parameter(Name=name, Type="SecureString", KeyId=key["Arn"], Value=SAMPLE_REGISTRATION_KEY)
    return key["KeyId"], name


def test_the_parameter_is_encrypted_with_the_features_key(aws) -> None:
    account, kms, ssm = aws
    key_id, name = create_feature_key(account, kms, ssm)
    (described,) = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    assert described["KeyId"].endswith(key_id) and described["Type"] == "SecureString"
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == SAMPLE_REGISTRATION_KEY
    assert json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])["Statement"]


def test_destroy_schedules_deletion_with_the_shortest_window_and_outlives_it(aws) -> None:
    account, kms, ssm = aws
    key_id, name = create_feature_key(account, kms, ssm)
    # Someone (or an earlier, interrupted destroy) already scheduled the key's deletion.
    deletion = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=DELETION_WINDOW_DAYS)["DeletionDate"]
    assert DELETION_WINDOW_DAYS == 7
    expected = datetime.now(timezone.utc) + timedelta(days=7)
    assert abs((deletion - expected).total_seconds()) < 300
    # What the provider reads as "already deleted".
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    # The rest of destroy needs no usable key: the parameter and alias go.
    ssm.delete_parameter(Name=name)
    kms.delete_alias(AliasName=naming.key_alias(FEATURE))
    assert ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"] == []
    assert naming.key_alias(FEATURE) not in {a["AliasName"] for a in kms.list_aliases()["Aliases"]}


def test_destroy_deletes_the_key_after_everything_that_uses_it() -> None:
    """Pulumi deletes dependents first: the parameter, alias, template and policy go before the key."""
    run = run_program(sample_config())
    key = run.one("aws:kms/key:Key")
    assert key.inputs["deletionWindowInDays"] == DELETION_WINDOW_DAYS
    for typ in ("aws:ssm/parameter:Parameter", "aws:kms/alias:Alias", "aws:ec2/launchTemplate:LaunchTemplate",
                "aws:iam/rolePolicy:RolePolicy"):
        assert key.urn in run.one(typ).dependencies, typ


def test_the_shortest_window_is_what_aws_documents() -> None:
    """botocore's KMS model (AWS's own API documentation) says 7 to 30 days."""
    import botocore.session

    operation = botocore.session.get_session().get_service_model("kms").operation_model("ScheduleKeyDeletion")
    assert "waiting period of 7-30 days" in operation.documentation
