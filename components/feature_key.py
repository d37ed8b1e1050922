"""`FeatureKey`: one customer-managed KMS key per feature, for its registration key and its volumes.

Parameter Store's default `aws/ssm` key lets every principal of the account
that may call SSM decrypt; a key of the feature's own, whose policy lets only
this feature's instance role decrypt (through SSM, for this one parameter),
keeps one feature's instances out of another's secret. Destroy schedules the
key's deletion with the shortest window AWS allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

#: AWS's shortest wait between ScheduleKeyDeletion and the key's deletion (7 to 30 days).
DELETION_WINDOW_DAYS = 7

#: What the account administers through IAM; no cryptographic operation is among them.
#: The key administrators' statement of AWS's default key policy (KMS developer guide,
#: "Default key policy: allows key administrators to administer the KMS key").
ADMINISTRATION_ACTIONS = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
)
#: Parameter Store encrypts a standard SecureString with Encrypt and reads it with Decrypt
#: (Systems Manager user guide, "How AWS Systems Manager Parameter Store uses AWS KMS").
PARAMETER_STORE_ACTIONS = ("kms:Encrypt", "kms:Decrypt")
#: What EC2 Auto Scaling's service-linked role needs to launch instances with volumes
#: encrypted by a customer-managed key (EC2 Auto Scaling user guide, "Required AWS KMS
#: key policy for use with encrypted volumes").
AUTO_SCALING_VOLUME_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
)


def ssm_service(region: str) -> str:
    """The `kms:ViaService` value of requests Parameter Store makes in `region`."""
    return f"ssm.{region}.amazonaws.com"


#: Parameter Store puts the parameter's ARN in the encryption context under this name.
PARAMETER_CONTEXT_KEY = "kms:EncryptionContext:PARAMETER_ARN"


def auto_scaling_role_arn(*, partition: str, account: str) -> str:
    return (
        f"arn:{partition}:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )


def key_policy(
    *,
    partition: str,
    account: str,
    region: str,
    instance_role_arn: str,
    parameter_arn: str,
    encrypts_volumes: bool,
) -> str:
    """The key's policy: the account administers it, only Parameter Store may use it for the account.

    The account's IAM principals (the CI that writes and reads the parameter)
    may encrypt and decrypt only through SSM; the feature's instance role is
    named as the one principal that decrypts, through SSM, this one parameter.
    With `encrypts_volumes`, Auto Scaling's service-linked role may use the key
    for the instances' volumes, as AWS documents it.
    """
    root = f"arn:{partition}:iam::{account}:root"
    through_ssm = {"kms:ViaService": ssm_service(region), "kms:CallerAccount": account}
    statements = [
        _grant("AccountAdministersKey", root, ADMINISTRATION_ACTIONS),
        _grant("AccountUsesKeyOnlyThroughParameterStore", root, PARAMETER_STORE_ACTIONS,
               {"StringEquals": through_ssm}),
        _grant("InstancesDecryptTheirRegistrationKey", instance_role_arn, ("kms:Decrypt",),
               {"StringEquals": {**through_ssm, PARAMETER_CONTEXT_KEY: parameter_arn}}),
    ]
    if encrypts_volumes:
        scaling = auto_scaling_role_arn(partition=partition, account=account)
        statements += [
            _grant("AutoScalingEncryptsVolumes", scaling, AUTO_SCALING_VOLUME_ACTIONS),
            _grant("AutoScalingAttachesVolumes", scaling, ("kms:CreateGrant",),
                   {"Bool": {"kms:GrantIsForAWSResource": True}}),
        ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def _grant(sid: str, principal: str, actions: Sequence[str], condition: Optional[dict] = None) -> dict:
    """One Allow statement of a key policy ("Resource": "*" is the key itself)."""
    statement = {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions), "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    return statement


@dataclass(frozen=True, kw_only=True)
class FeatureKeyArgs:
    """What a feature's key is made for."""

    feature: str
    """Feature id: names the key's alias and description."""
    alias: str
    """The alias naming the feature (`naming.key_alias`)."""
    region: str
    """The region of the parameter (Parameter Store's `kms:ViaService`)."""
    partition: pulumi.Input[str]
    """The AWS partition of the account (aws, aws-cn, ...), for the ARNs the policy names."""
    account: pulumi.Input[str]
    """The account that administers the key and whose CI uses it through Parameter Store."""
    instance_role_arn: pulumi.Input[str]
    """The one role that may decrypt the registration key."""
    parameter_arn: pulumi.Input[str]
    """The registration key's parameter: the only one the instances may decrypt."""
    encrypts_volumes: bool
    """Also encrypt the instances' root volumes (Auto Scaling's service-linked role uses it)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the key (`naming.resource_tags`)."""


class FeatureKey(pulumi.ComponentResource):
    """The feature's KMS key and its alias."""

    key_arn: pulumi.Output[str]
    alias_name: pulumi.Output[str]

    def __init__(self, name: str, args: FeatureKeyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("phoenix:index:FeatureKey", name, None, opts)
        policy = pulumi.Output.all(
            args.partition, args.account, args.instance_role_arn, args.parameter_arn
        ).apply(
            lambda values: key_policy(
                partition=values[0],
                account=values[1],
                region=args.region,
                instance_role_arn=values[2],
                parameter_arn=values[3],
                encrypts_volumes=args.encrypts_volumes,
            )
        )
        key = aws.kms.Key(
            f"{name}-key",
            description=f"phoenix feature {args.feature}: its Octopus registration key"
            + (" and instance volumes" if args.encrypts_volumes else ""),
            policy=policy,
            deletion_window_in_days=DELETION_WINDOW_DAYS,
            enable_key_rotation=True,
            tags={**args.tags, "Name": args.alias},
            opts=pulumi.ResourceOptions(parent=self),
        )
        alias = aws.kms.Alias(
            f"{name}-alias", name=args.alias, target_key_id=key.key_id, opts=pulumi.ResourceOptions(parent=self)
        )
        self.key_arn = key.arn
        self.alias_name = alias.name
        self.register_outputs({"key_arn": self.key_arn, "alias_name": self.alias_name})
