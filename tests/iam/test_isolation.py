"""Two features synthesized side by side: what each one's instances may read, decrypt and do.

The documents are the ones the program registers under Pulumi's mocks (the
instance role's policies, every managed policy attached to it, the key
policy); moto's IAM evaluator judges each request and parliament lints each
document (see `tests.iam.evaluation` for what each tool covers). Run alone:

    .venv/bin/python -m pytest tests/iam -q
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from components import naming
from components.fleet import instance_policy
from tests.iam.evaluation import (
    MANAGED,
    Account,
    NotJudged,
    identity_allows,
    kms_allows,
    lint,
    managed_policy,
    statements,
)
from tests.unit.conftest import ACCOUNT, ProgramRun, run_program
from tests.unit.sample_config import sample_config

REGION = "eu-west-1"
ACCOUNT_OF = Account("aws", ACCOUNT)
VIA_SSM = {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}
CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
#: Every action that returns a parameter's value.
PARAMETER_READS = ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory")


@dataclass(frozen=True)
class Feature:
    """One synthesized feature: its instance role's documents and the ARNs they protect."""

    name: str
    run: ProgramRun

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:role/{naming.role_name(self.name)}"

    @property
    def parameter_arn(self) -> str:
        return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{naming.registration_key_parameter(self.name)}"

    @property
    def key_arn(self) -> str:
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.run.one('aws:kms/key:Key').id}"

    @property
    def group_arn(self) -> str:
        group = self.run.one("aws:autoscaling/group:Group")
        return f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:0f0e0d0c-1111-2222-3333-444455556666:autoScalingGroupName/{group.inputs['name']}"

    @property
    def key_policy(self) -> dict:
        return json.loads(self.run.one("aws:kms/key:Key").inputs["policy"])

    @property
    def inline_policies(self) -> list[dict]:
        return [
            json.loads(policy.inputs["policy"])
            for policy in self.run.of_type("aws:iam/rolePolicy:RolePolicy")
            if policy.inputs["role"] == naming.role_name(self.name)
        ]

    @property
    def attached_arns(self) -> list[str]:
        return [a.inputs["policyArn"] for a in self.run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")]

    @property
    def role_policies(self) -> list[dict]:
        """Every policy on the instance role: inline, customer-managed and AWS-managed."""
        customer = {
            p.id: json.loads(p.inputs["policy"]) for p in self.run.of_type("aws:iam/policy:Policy")
        }
        attached = [customer[arn] if arn in customer else managed_policy(arn) for arn in self.attached_arns]
        return self.inline_policies + attached

    def documents(self) -> dict[str, dict]:
        found = {f"{self.name} inline {i}": doc for i, doc in enumerate(self.inline_policies)}
        found.update({f"{self.name} attached {arn}": managed_policy(arn) for arn in self.attached_arns})
        found[f"{self.name} key policy"] = self.key_policy
        return found


@pytest.fixture(scope="module")
def a() -> Feature:
    return Feature("ryan0001", run_program(sample_config(feature="ryan0001")))


@pytest.fixture(scope="module")
def b() -> Feature:
    return Feature("maya0002", run_program(sample_config(feature="maya0002")))


def reads(policies, parameter_arn: str) -> list[str]:
    """The parameter reads the policies allow on that parameter."""
    return [action for action in PARAMETER_READS if identity_allows(policies, action=action, resource=parameter_arn)]


def decrypts(owner: Feature, reader: Feature, *, policies=None, context=None) -> bool:
    """Can `reader`'s instance role decrypt with `owner`'s key (through SSM, for `owner`'s parameter)?"""
    return kms_allows(
        account=ACCOUNT_OF,
        key_policy=owner.key_policy,
        key_arn=owner.key_arn,
        principal=reader.role_arn,
        identity_policies=reader.role_policies if policies is None else policies,
        action="kms:Decrypt",
        context=context or {**VIA_SSM, "kms:EncryptionContext:PARAMETER_ARN": owner.parameter_arn},
    )


# --- what an instance can read --------------------------------------------------------------------


def test_a_reads_and_decrypts_its_own_registration_key(a: Feature) -> None:
    assert reads(a.role_policies, a.parameter_arn) == ["ssm:GetParameter"]
    assert decrypts(a, a)


def test_a_cannot_read_bs_parameter_or_any_other(a: Feature, b: Feature) -> None:
    assert reads(a.role_policies, b.parameter_arn) == []
    for other in ("/", "/phoenix/", "/aws/reference/secretsmanager/db", "/phoenix/anything/registration-key"):
        assert reads(a.role_policies, f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{other}") == [], other


def test_a_cannot_decrypt_with_bs_key(a: Feature, b: Feature) -> None:
    assert not decrypts(b, a)
    assert decrypts(b, b)


def test_a_decrypts_its_key_only_through_ssm_and_only_for_its_parameter(a: Feature, b: Feature) -> None:
    outside_ssm = {"kms:ViaService": f"ec2.{REGION}.amazonaws.com", "kms:EncryptionContext:PARAMETER_ARN": a.parameter_arn}
    assert not decrypts(a, a, context=outside_ssm)
    another = {**VIA_SSM, "kms:EncryptionContext:PARAMETER_ARN": b.parameter_arn}
    assert not decrypts(a, a, context=another)


def test_the_ci_encrypts_and_reads_through_parameter_store_only(a: Feature) -> None:
    """The account's administrators (here: IAM allows everything) keep the parameter writable and readable."""
    administrator = [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]
    ci = f"arn:aws:iam::{ACCOUNT}:role/ci-deployer"

    def ci_may(action: str, via: str, policies=administrator) -> bool:
        # Parameter Store sends the parameter's ARN as encryption context with every call.
        context = {"kms:ViaService": via, "kms:EncryptionContext:PARAMETER_ARN": a.parameter_arn}
        return kms_allows(
            account=ACCOUNT_OF, key_policy=a.key_policy, key_arn=a.key_arn, principal=ci,
            identity_policies=policies, action=action, context=context,
        )

    assert ci_may("kms:Encrypt", f"ssm.{REGION}.amazonaws.com")
    assert ci_may("kms:Decrypt", f"ssm.{REGION}.amazonaws.com")
    assert not ci_may("kms:Decrypt", f"s3.{REGION}.amazonaws.com")
    # Without an IAM grant, the account's statement gives a principal nothing.
    assert not ci_may("kms:Decrypt", f"ssm.{REGION}.amazonaws.com", policies=[])


# --- what an instance can do ----------------------------------------------------------------------


def test_a_completes_only_its_own_groups_lifecycle_actions(a: Feature, b: Feature) -> None:
    policies = a.role_policies
    assert identity_allows(policies, action="autoscaling:CompleteLifecycleAction", resource=a.group_arn)
    for action in ("autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"):
        assert not identity_allows(policies, action=action, resource=b.group_arn), action
    for action in ("autoscaling:DescribeLifecycleHooks", "autoscaling:DescribeAutoScalingInstances",
                   "autoscaling:DescribeAutoScalingGroups", "autoscaling:PutLifecycleHook"):
        assert not identity_allows(policies, action=action, resource="*"), action


def test_session_manager_keeps_working(a: Feature) -> None:
    instance = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
    for action in ("ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
                   "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
                   "ssmmessages:OpenDataChannel"):
        assert identity_allows(a.role_policies, action=action, resource=instance), action
    # ...and nothing of Systems Manager that reads documents, associations or sends commands.
    for action in ("ssm:GetDocument", "ssm:ListAssociations", "ec2messages:GetMessages", "ssm:SendCommand"):
        assert not identity_allows(a.role_policies, action=action, resource="*"), action


def test_no_managed_policy_is_attached(a: Feature, b: Feature) -> None:
    assert a.attached_arns == [] and b.attached_arns == []


# --- the checks can fail ----------------------------------------------------------------------------


def test_with_the_old_managed_policy_a_would_read_bs_parameter_but_not_decrypt_it(a: Feature, b: Feature) -> None:
    """AmazonSSMManagedInstanceCore (as AWS publishes it) reads every parameter: the evaluator sees it.

    Quick Setup's host management can attach it to instance roles by itself;
    the feature's key is why B's secret stays unreadable even then.
    """
    with_core = a.role_policies + [managed_policy(CORE)]
    assert reads(with_core, b.parameter_arn) == ["ssm:GetParameter", "ssm:GetParameters"]
    assert not decrypts(b, a, policies=with_core)


def test_the_evaluator_refuses_what_it_cannot_judge(a: Feature) -> None:
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ssm:*", "NotResource": a.parameter_arn}]}
    with pytest.raises(NotJudged, match="Deny"):
        identity_allows([deny], action="ssm:GetParameter", resource=a.parameter_arn)
    with pytest.raises(NotJudged, match="absent condition key"):
        decrypts(a, a, context=VIA_SSM)  # the encryption context left out
    with pytest.raises(NotJudged, match="not pinned"):
        managed_policy("arn:aws:iam::aws:policy/AdministratorAccess")


# --- lint ----------------------------------------------------------------------------------------------


def test_every_document_lints_clean(a: Feature, b: Feature) -> None:
    """parliament's default auditors over every document; findings above LOW (and unknown actions) fail."""
    documents = {**a.documents(), **b.documents()}
    assert len(documents) == 4
    failing = [f for name, doc in documents.items() for f in lint(name, doc, community=False) if f.fails]
    assert failing == []


def test_the_instances_documents_pass_the_community_auditors(a: Feature) -> None:
    """Privilege escalation, credentials exposure, permission management: none on the instance role."""
    failing = [f for i, doc in enumerate(a.role_policies) for f in lint(f"inline {i}", doc, community=True) if f.fails]
    assert failing == []


def test_the_key_policys_permission_management_is_administration_and_volume_grants(a: Feature) -> None:
    """The community auditors flag managing permissions: the account administering its key, and the
    grant Auto Scaling creates for each encrypted volume (AWS's documented requirement). Nothing else."""
    policy = a.key_policy
    issues = {f.issue for f in lint("key policy", policy, community=True) if f.fails}
    assert issues == {"PERMISSIONS_MANAGEMENT_ACTIONS"}
    by_design = {"AccountAdministersKey", "AutoScalingAttachesVolumes"}
    without = {**policy, "Statement": [s for s in statements(policy) if s["Sid"] not in by_design]}
    assert [f for f in lint("key policy", without, community=True) if f.fails] == []


def test_lint_fails_a_misspelt_action_and_a_condition_the_action_lacks(a: Feature) -> None:
    policy = json.loads(
        instance_policy(parameter_arn=a.parameter_arn, group_arn=a.group_arn, key_arn=a.key_arn, region=REGION)
    )
    policy["Statement"][0]["Action"] = ["ssm:GetParamter"]
    assert {f.issue for f in lint("typo", policy, community=False) if f.fails} == {"UNKNOWN_ACTION"}
    policy = json.loads(
        instance_policy(parameter_arn=a.parameter_arn, group_arn=a.group_arn, key_arn=a.key_arn, region=REGION)
    )
    policy["Statement"][0]["Condition"] = {"StringEquals": {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"}}
    assert "UNKNOWN_CONDITION_FOR_ACTION" in {f.issue for f in lint("condition", policy, community=False) if f.fails}


# --- pinned managed policies --------------------------------------------------------------------------


def test_pinned_managed_policies_are_what_aws_publishes() -> None:
    """Each pinned document equals the copy moto ships of AWS's managed policies, version and date included."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    published = json.loads(aws_managed_policies_data)
    pinned = sorted(MANAGED.glob("*.json"))
    assert pinned, "AmazonSSMManagedInstanceCore is pinned for the negative control"
    for path in pinned:
        document = json.loads(path.read_text())
        shipped = published[document["PolicyName"]]
        assert document["Document"] == shipped["Document"], path.name
        assert (document["DefaultVersionId"], document["UpdateDate"]) == (
            shipped["DefaultVersionId"], shipped["UpdateDate"]
        ), path.name
        assert document["PinnedOn"]
