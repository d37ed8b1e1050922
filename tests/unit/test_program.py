"""The whole program under Pulumi mocks: what it registers, how it is wired, what it exports."""

from __future__ import annotations

import base64
import json

import pytest
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

from bootstrap.render import USERDATA_LIMIT_BYTES, bash_quote, bash_variable, userdata_text
from components import naming
from components.settings import SettingsError
from tests.unit.conftest import ACCOUNT, FeatureMocks, ProgramRun, run_program
from tests.unit.sample_config import SAMPLE_API_KEY, SAMPLE_REGISTRATION_KEY, sample_config

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
EIP = "aws:ec2/eip:Eip"
NAT = "aws:ec2/natGateway:NatGateway"
IGW = "aws:ec2/internetGateway:InternetGateway"
SG = "aws:ec2/securityGroup:SecurityGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
FEATURE_KEY = "phoenix:index:FeatureKey"
PROFILE = "aws:iam/instanceProfile:InstanceProfile"
PARAMETER = "aws:ssm/parameter:Parameter"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
BALANCER = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
GROUP = "aws:autoscaling/group:Group"
HOOK = "aws:autoscaling/lifecycleHook:LifecycleHook"
TENANT = "pulumi-python:dynamic/octopus:Tenant"
OVERRIDE = "pulumi-python:dynamic/octopus:AutoDeployOverride"
TENANT_VARIABLES = "pulumi-python:dynamic/octopus:TenantVariables"
GATE = "pulumi-python:dynamic/rollout:RolloutGate"
ENVIRONMENT = "phoenix:index:FeatureEnvironment"
NETWORK = "phoenix:index:Network"
FLEET = "phoenix:index:Fleet"

EXPECTED_SAMPLE = {
    ENVIRONMENT: 1, NETWORK: 1, FLEET: 1,
    VPC: 1, IGW: 1, SUBNET: 4, ROUTE_TABLE: 2, ASSOCIATION: 4, EIP: 1, NAT: 1,
    SG: 2, ROLE: 1, ROLE_POLICY: 1, PROFILE: 1, PARAMETER: 1, FEATURE_KEY: 1, KEY: 1, ALIAS: 1,
    TEMPLATE: 1, TARGET_GROUP: 1, BALANCER: 1, LISTENER: 1, GROUP: 1, HOOK: 2, GATE: 1,
    TENANT: 1, OVERRIDE: 1, TENANT_VARIABLES: 1,
}

PARENTS = {
    ENVIRONMENT: "pulumi:pulumi:Stack",
    NETWORK: ENVIRONMENT, FLEET: ENVIRONMENT, TENANT: ENVIRONMENT, OVERRIDE: ENVIRONMENT,
    TENANT_VARIABLES: ENVIRONMENT,
    VPC: NETWORK, IGW: NETWORK, SUBNET: NETWORK, ROUTE_TABLE: NETWORK, ASSOCIATION: NETWORK, EIP: NETWORK, NAT: NETWORK,
    SG: FLEET, ROLE: FLEET, ROLE_POLICY: FLEET, PROFILE: FLEET, PARAMETER: FLEET,
    FEATURE_KEY: FLEET, KEY: FEATURE_KEY, ALIAS: FEATURE_KEY,
    TEMPLATE: FLEET, TARGET_GROUP: FLEET, BALANCER: FLEET, LISTENER: FLEET, GROUP: FLEET, HOOK: FLEET, GATE: FLEET,
}


@pytest.fixture(scope="module")
def sample() -> ProgramRun:
    return run_program(sample_config())


def hook(run: ProgramRun, transition: str = "autoscaling:EC2_INSTANCE_LAUNCHING"):
    [found] = [h for h in run.of_type(HOOK) if h.inputs["lifecycleTransition"] == transition]
    return found


def decoded_userdata(run: ProgramRun) -> str:
    return userdata_text(base64.b64decode(run.one(TEMPLATE).inputs["userData"]))


def group_by_name(run: ProgramRun, suffix: str):
    return next(r for r in run.of_type(SG) if r.name.endswith(suffix))


# --- the whole program -------------------------------------------------------------------------


def test_every_resource_type_in_the_expected_count(sample: ProgramRun) -> None:
    assert sample.counts() == EXPECTED_SAMPLE


def test_every_child_is_parented_to_its_component(sample: ProgramRun) -> None:
    for resource in sample.resources:
        assert resource.parent_type == PARENTS[resource.type], resource.urn


def test_outputs_are_exported(sample: ProgramRun) -> None:
    balancer = sample.one(BALANCER)
    stamp = sample.outputs["infrastructure_version"]
    assert sample.outputs == {
        "url": f"http://{balancer.inputs['name']}-1234567890.eu-west-1.elb.amazonaws.com",
        "asg_name": naming.group_name("ryan0001"),
        "tenant_id": "Tenants-1",
        "package_version": "1.0.0-ryan0001",
        "infrastructure_version": stamp,
        "image_id": "ami-0a1b2c3d4e5f60718",
    }
    assert stamp.startswith("1.0.0-ryan0001+infra.")
    assert f"PHOENIX_INFRASTRUCTURE_VERSION={bash_quote(stamp)}" in decoded_userdata(sample)


def test_the_tenant_variables_carry_the_exported_url_feature_and_version(sample: ProgramRun) -> None:
    variables = sample.one(TENANT_VARIABLES).inputs
    assert variables["values"] == {
        "Phoenix.Url": sample.outputs["url"],
        "Phoenix.Feature": "ryan0001",
        "Phoenix.PackageVersion": sample.outputs["package_version"],
    }
    assert (variables["project"], variables["environment"]) == ("Phoenix Web", "Feature")
    assert variables["tenant_id"] == sample.outputs["tenant_id"]


def test_the_group_launches_only_once_the_tenant_variables_are_set(sample: ProgramRun) -> None:
    variables = sample.one(TENANT_VARIABLES)
    assert variables.urn in sample.one(GROUP).dependencies
    assert sample.one(BALANCER).urn in variables.dependencies, "the URL comes from the load balancer"
    assert sample.one(TENANT).urn in variables.dependencies


def test_a_listener_port_reaches_the_url_and_its_tenant_variable_alike() -> None:
    run = run_program(sample_config({"phoenix:fleet.listenerPort": 8080}))
    assert run.outputs["url"].endswith(":8080")
    assert run.one(TENANT_VARIABLES).inputs["values"]["Phoenix.Url"] == run.outputs["url"]


def test_template_names_come_from_the_settings_and_org_values_join_them() -> None:
    run = run_program(sample_config({"phoenix:octopus.tenantVariables": {
        "url": "App.BaseUrl", "feature": "", "values": {"App.Region": "eu-west-1"},
    }}))
    values = run.one(TENANT_VARIABLES).inputs["values"]
    assert values == {"App.BaseUrl": run.outputs["url"], "App.Region": "eu-west-1"}


def test_no_templates_named_no_tenant_variables() -> None:
    run = run_program(sample_config({"phoenix:octopus.tenantVariables": {"url": "", "feature": ""}}))
    assert run.of_type(TENANT_VARIABLES) == []


def test_sensitive_tenant_values_are_registered_as_secrets() -> None:
    secret = "s3cret-db-password-value"
    run = run_program(sample_config({
        "phoenix:octopus.tenantVariables": {"sensitive": {"App.DbPassword": "PHOENIX_DB_PASSWORD"}},
        "phoenix:tenantVariableSecrets": json.dumps({"App.DbPassword": secret}),
    }))
    variables = run.one(TENANT_VARIABLES).inputs
    assert variables["sensitive"] == {_special_sig_key: _special_secret_sig, "value": {"App.DbPassword": secret}}
    assert secret not in json.dumps(variables["values"])


def test_listener_on_another_port_shows_in_the_url() -> None:
    run = run_program(sample_config({"phoenix:fleet.listenerPort": 8080}))
    assert run.outputs["url"].endswith(".elb.amazonaws.com:8080")
    assert run.one(LISTENER).inputs["port"] == 8080


# --- network -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nat", "zones", "subnets", "nats", "route_tables"),
    [("none", 2, 2, 0, 1), ("single", 3, 6, 1, 2), ("per_az", 3, 6, 3, 4)],
)
def test_nat_modes(nat: str, zones: int, subnets: int, nats: int, route_tables: int) -> None:
    run = run_program(sample_config({"phoenix:network.nat": nat, "phoenix:network.azCount": zones}))
    counts = run.counts()
    assert counts[SUBNET] == subnets
    assert counts.get(NAT, 0) == counts.get(EIP, 0) == nats
    assert counts[ROUTE_TABLE] == route_tables
    assert counts[ASSOCIATION] == subnets
    assert sorted(s.inputs["availabilityZone"] for s in run.of_type(SUBNET)) == sorted(
        [f"eu-west-1{z}" for z in "abc"[:zones]] * (subnets // zones)
    )


def test_with_nat_instances_live_in_private_subnets_without_public_addresses(sample: ProgramRun) -> None:
    private = {s.id for s in sample.of_type(SUBNET) if "-private-" in s.name}
    public = {s.id for s in sample.of_type(SUBNET) if "-public-" in s.name}
    assert set(sample.one(GROUP).inputs["vpcZoneIdentifiers"]) == private
    assert set(sample.one(BALANCER).inputs["subnets"]) == public
    assert sample.one(TEMPLATE).inputs["networkInterfaces"][0]["associatePublicIpAddress"] == "false"
    nat = sample.one(NAT)
    assert nat.inputs["subnetId"] in public
    for table in (t for t in sample.of_type(ROUTE_TABLE) if "-private-" in t.name):
        assert table.inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "natGatewayId": nat.id}]


def test_without_nat_instances_take_public_addresses_and_still_only_the_balancer_reaches_them() -> None:
    run = run_program(sample_config({"phoenix:network.nat": "none"}))
    public = {s.id for s in run.of_type(SUBNET)}
    assert set(run.one(GROUP).inputs["vpcZoneIdentifiers"]) == public
    assert run.one(TEMPLATE).inputs["networkInterfaces"][0]["associatePublicIpAddress"] == "true"
    assert_instances_reachable_only_from_the_balancer(run)


def test_subnets_split_the_vpc_without_overlap(sample: ProgramRun) -> None:
    import ipaddress

    vpc = ipaddress.ip_network(sample.one(VPC).inputs["cidrBlock"])
    blocks = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in sample.of_type(SUBNET)]
    assert all(block.subnet_of(vpc) for block in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    assert sample.one(VPC).inputs["enableDnsHostnames"] is True


def test_more_zones_than_the_region_has_is_a_clear_error() -> None:
    mocks = FeatureMocks(zones=2)
    with pytest.raises(SettingsError) as caught:
        run_program(sample_config({"phoenix:network.azCount": 3}), mocks=mocks)
    assert caught.value.key == "phoenix:network.azCount"
    assert "only 2" in caught.value.reason
    assert not any(r.custom for r in mocks.registered), "no cloud resource may be registered"


def test_zones_come_from_the_lookup_of_available_zones(sample: ProgramRun) -> None:
    lookups = [c for c in sample.mocks.calls if c.token == "aws:index/getAvailabilityZones:getAvailabilityZones"]
    assert len(lookups) == 1
    assert lookups[0].args["state"] == "available"


# --- security ------------------------------------------------------------------------------------


def assert_instances_reachable_only_from_the_balancer(run: ProgramRun) -> None:
    instances, balancer = group_by_name(run, "-instances"), group_by_name(run, "-lb")
    ingress = instances.inputs["ingress"]
    assert len(ingress) == 1
    rule = ingress[0]
    assert rule.get("cidrBlocks") in (None, [])
    assert rule["securityGroups"] == [balancer.id]
    assert (rule["fromPort"], rule["toPort"], rule["protocol"]) == (80, 80, "tcp")
    for group in run.of_type(SG):
        for rule in group.inputs.get("ingress", []):
            assert not rule["fromPort"] <= 22 <= rule["toPort"], "no SSH ingress"
    assert run.one(BALANCER).inputs["securityGroups"] == [balancer.id]
    assert run.one(TEMPLATE).inputs["networkInterfaces"][0]["securityGroups"] == [instances.id]


def test_instances_accept_only_the_balancer(sample: ProgramRun) -> None:
    assert_instances_reachable_only_from_the_balancer(sample)
    lb = group_by_name(sample, "-lb").inputs
    assert lb["ingress"][0]["cidrBlocks"] == ["0.0.0.0/0"]
    assert lb["egress"] == [
        {"description": "to instances and their health checks", "protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["10.20.0.0/16"]}
    ]


def test_listener_cidrs_limit_the_balancer() -> None:
    run = run_program(sample_config({"phoenix:fleet.listenerCidrs": ["10.0.0.0/8", "192.168.0.0/16"]}))
    assert group_by_name(run, "-lb").inputs["ingress"][0]["cidrBlocks"] == ["10.0.0.0/8", "192.168.0.0/16"]


def test_imdsv2_is_required(sample: ProgramRun) -> None:
    options = sample.one(TEMPLATE).inputs["metadataOptions"]
    assert options["httpTokens"] == "required"
    assert options["httpEndpoint"] == "enabled"


def test_userdata_holds_no_key_and_fits_the_limit(sample: ProgramRun) -> None:
    text = decoded_userdata(sample)
    assert SAMPLE_API_KEY not in text
    assert SAMPLE_REGISTRATION_KEY not in text
    assert naming.registration_key_parameter("ryan0001") in text
    assert len(base64.b64decode(sample.one(TEMPLATE).inputs["userData"])) < USERDATA_LIMIT_BYTES


def test_the_registration_key_is_a_secret_securestring(sample: ProgramRun) -> None:
    parameter = sample.one(PARAMETER).inputs
    assert parameter["type"] == "SecureString"
    assert parameter["name"] == naming.registration_key_parameter("ryan0001")
    assert parameter["value"] == {_special_sig_key: _special_secret_sig, "value": SAMPLE_REGISTRATION_KEY}


@pytest.mark.parametrize("registration", [None, SAMPLE_API_KEY], ids=["missing", "the-deploy-key"])
def test_instances_never_get_the_deploy_key_without_the_orgs_opt_in(registration) -> None:
    mocks = FeatureMocks()
    with pytest.raises(SettingsError) as caught:
        run_program(sample_config({"octopus:registrationApiKey": registration}), mocks=mocks)
    assert caught.value.key == "octopus:registrationApiKey"
    assert "OCTOPUS_REGISTRATION_API_KEY" in caught.value.reason
    assert "shareDeployKeyWithInstances" in caught.value.reason
    assert SAMPLE_API_KEY not in str(caught.value)
    assert mocks.registered == [] and mocks.calls == []


@pytest.mark.parametrize("registration", [None, SAMPLE_API_KEY], ids=["missing", "the-deploy-key"])
def test_with_the_opt_in_the_deploy_key_serves_and_every_run_warns(registration, caplog) -> None:
    from components.environment import DEPLOY_KEY_SHARED

    changes = {"octopus:registrationApiKey": registration, "phoenix:octopus.shareDeployKeyWithInstances": True}
    with caplog.at_level("WARNING"):
        run = run_program(sample_config(changes))
    assert run.one(PARAMETER).inputs["value"] == {_special_sig_key: _special_secret_sig, "value": SAMPLE_API_KEY}
    assert DEPLOY_KEY_SHARED in caplog.text


def test_a_separate_registration_key_logs_no_warning(caplog) -> None:
    from components.environment import DEPLOY_KEY_SHARED

    with caplog.at_level("WARNING"):
        run_program(sample_config())
    assert DEPLOY_KEY_SHARED not in caplog.text


def test_no_key_appears_in_any_other_resource(sample: ProgramRun) -> None:
    checked = {r.type for r in sample.resources if r.type != PARAMETER}
    assert {KEY, ALIAS, ROLE_POLICY, TEMPLATE} <= checked, "the KMS path is searched too"
    for resource in sample.resources:
        if resource.type == PARAMETER:
            continue
        inputs = dict(resource.inputs)
        provider = inputs.pop("__provider", None)
        text = json.dumps(inputs, default=str)
        if provider is not None:  # the serialized dynamic provider, as the state holds it
            if isinstance(provider, dict) and provider.get(_special_sig_key) == _special_secret_sig:
                provider = provider["value"]
            text += base64.b64decode(provider).decode("latin-1")
        for key in (SAMPLE_API_KEY, SAMPLE_REGISTRATION_KEY):
            assert key not in text, f"{resource.type} {resource.name} carries a key"


def test_instance_role_is_least_privilege(sample: ProgramRun) -> None:
    role = sample.one(ROLE).inputs
    trust = json.loads(role["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert not sample.of_type(ATTACHMENT), "no managed policy: AmazonSSMManagedInstanceCore reads every parameter"
    policy = json.loads(sample.one(ROLE_POLICY).inputs["policy"])
    group = naming.group_name("ryan0001")
    parameter = f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter{naming.registration_key_parameter('ryan0001')}"
    assert {s["Sid"]: (s["Action"], s["Resource"]) for s in policy["Statement"]} == {
        "ReadRegistrationKey": (["ssm:GetParameter"], [parameter]),
        "DecryptRegistrationKey": (["kms:Decrypt"], [sample.one(KEY).inputs and key_arn(sample)]),
        "CompleteLifecycleHooks": (
            ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
            [f"arn:aws:autoscaling:eu-west-1:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/{group}"],
        ),
        "SessionManager": (
            [
                "ssm:UpdateInstanceInformation",
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "*",
        ),
    }
    decrypt = next(s for s in policy["Statement"] if s["Sid"] == "DecryptRegistrationKey")
    assert decrypt["Condition"] == {
        "StringEquals": {
            "kms:ViaService": "ssm.eu-west-1.amazonaws.com",
            "kms:EncryptionContext:PARAMETER_ARN": parameter,
        }
    }
    assert sample.one(PROFILE).inputs["role"] == role["name"]


def key_arn(run: ProgramRun) -> str:
    return f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{run.one(KEY).id}"


def test_the_registration_key_is_encrypted_with_the_features_own_key(sample: ProgramRun) -> None:
    key = sample.one(KEY).inputs
    assert sample.one(PARAMETER).inputs["keyId"] == key_arn(sample)
    assert key["deletionWindowInDays"] == 7, "destroy schedules deletion with AWS's shortest window"
    assert key["enableKeyRotation"] is True
    alias = sample.one(ALIAS).inputs
    assert alias["name"] == naming.key_alias("ryan0001") and "ryan0001" in alias["name"]
    assert alias["targetKeyId"] == sample.one(KEY).id
    assert key["tags"][naming.FEATURE_TAG] == "ryan0001"


def test_the_key_policy_lets_only_this_features_role_decrypt(sample: ProgramRun) -> None:
    policy = json.loads(sample.one(KEY).inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    root = f"arn:aws:iam::{ACCOUNT}:root"
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{naming.role_name('ryan0001')}"
    assert statements["AccountAdministersKey"]["Principal"] == {"AWS": root}
    assert not {"kms:Decrypt", "kms:*", "kms:Encrypt"} & set(statements["AccountAdministersKey"]["Action"])
    through_ssm = {"kms:ViaService": "ssm.eu-west-1.amazonaws.com", "kms:CallerAccount": ACCOUNT}
    assert statements["AccountUsesKeyOnlyThroughParameterStore"]["Condition"] == {"StringEquals": through_ssm}
    instances = statements["InstancesDecryptTheirRegistrationKey"]
    assert instances["Principal"] == {"AWS": role_arn}
    assert instances["Action"] == ["kms:Decrypt"]
    assert instances["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"] == (
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter{naming.registration_key_parameter('ryan0001')}"
    )
    # The key names the role, so it must wait for it; the parameter waits for the key.
    assert sample.one(ROLE).urn in sample.one(KEY).dependencies


def test_root_volumes_are_encrypted_with_the_features_key(sample: ProgramRun) -> None:
    mapping = sample.one(TEMPLATE).inputs["blockDeviceMappings"]
    assert mapping == [
        {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": key_arn(sample), "deleteOnTermination": "true"}}
    ]
    scaling = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    statements = {s["Sid"]: s for s in json.loads(sample.one(KEY).inputs["policy"])["Statement"]}
    assert statements["AutoScalingEncryptsVolumes"]["Principal"] == {"AWS": scaling}
    assert statements["AutoScalingAttachesVolumes"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": True}}


def test_the_org_may_encrypt_volumes_with_the_accounts_ebs_key() -> None:
    run = run_program(sample_config({"phoenix:fleet.volumeKey": "account"}))
    (mapping,) = run.one(TEMPLATE).inputs["blockDeviceMappings"]
    assert mapping["ebs"] == {"encrypted": "true", "deleteOnTermination": "true"}
    sids = {s["Sid"] for s in json.loads(run.one(KEY).inputs["policy"])["Statement"]}
    assert not {"AutoScalingEncryptsVolumes", "AutoScalingAttachesVolumes"} & sids


# --- rollout -------------------------------------------------------------------------------------


def test_the_group_is_created_on_the_templates_version_and_never_moved_by_the_provider(sample: ProgramRun) -> None:
    group = sample.one(GROUP)
    template = sample.one(TEMPLATE)
    assert group.inputs["launchTemplate"] == {"id": template.id, "version": "1"}
    assert set(group.ignore_changes) == {"launchTemplate", "initialLifecycleHooks"}
    assert "instanceRefresh" not in group.inputs, "the provider's refresh rolls back to the new version (#34189)"
    assert group.inputs["ignoreFailedScalingActivities"] is True, "AWS retries a launch that found no capacity"
    assert group.inputs["healthCheckType"] == "ELB"
    assert group.inputs["targetGroupArns"] == [sample.one(TARGET_GROUP).id]
    assert (group.inputs["minSize"], group.inputs["maxSize"], group.inputs["desiredCapacity"]) == (1, 2, 1)


def apply_ignore_changes(state: dict, declared: dict, ignored: tuple[str, ...]) -> dict:
    """The inputs the engine keeps for an existing resource: the state's value for each ignored property.

    Pulumi's `ignoreChanges` option: "the engine uses the old value from the
    state" for those properties (pulumi.com/docs/iac/concepts/options/ignorechanges).
    """
    return {key: state[key] if key in ignored and key in state else value for key, value in declared.items()}


def test_the_group_runs_the_deployed_version_and_the_rollout_carries_the_new_one() -> None:
    """Under mocks, an existing stack whose template is at version 3 while the group was created on 1."""
    created = run_program(sample_config())
    updated = run_program(sample_config({"phoenix:packageVersion": "1.0.1-ryan0001"}),
                          mocks=FeatureMocks(template_version=3))

    group = updated.one(GROUP)
    kept = apply_ignore_changes(created.one(GROUP).inputs, group.inputs, group.ignore_changes)
    assert kept["launchTemplate"]["version"] == "1", "the provider leaves the group on the deployed version"
    rollout = updated.one(GATE).inputs
    assert (rollout["launch_template_id"], rollout["launch_template_version"]) == (updated.one(TEMPLATE).id, "3")
    assert {k: v for k, v in kept.items() if k != "tags"} == {
        k: v for k, v in created.one(GROUP).inputs.items() if k != "tags"}, "nothing else of the group changes"


def test_the_launch_hook_is_declared_twice_so_that_changing_it_never_replaces_the_group(sample: ProgramRun) -> None:
    declared = {
        "name": "phoenix-bootstrap",
        "lifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
        "defaultResult": "ABANDON",
        "heartbeatTimeout": 600,
    }
    assert sample.one(GROUP).inputs["initialLifecycleHooks"] == [declared], "the first instances launch through it"
    resource = hook(sample).inputs
    assert {k: resource[k] for k in declared} == declared
    assert resource["autoscalingGroupName"] == naming.group_name("ryan0001")
    changed = run_program(sample_config({"phoenix:fleet.lifecycleHeartbeatSeconds": 900}))
    assert hook(changed).inputs["heartbeatTimeout"] == 900
    kept = apply_ignore_changes(sample.one(GROUP).inputs, changed.one(GROUP).inputs, changed.one(GROUP).ignore_changes)
    assert kept == sample.one(GROUP).inputs, "the group sees no change, so nothing replaces it"


def test_terminating_instances_are_held_while_they_leave_octopus_and_never_longer(sample: ProgramRun) -> None:
    termination = hook(sample, "autoscaling:EC2_INSTANCE_TERMINATING").inputs
    assert termination["autoscalingGroupName"] == naming.group_name("ryan0001")
    assert termination["defaultResult"] == "CONTINUE", "a watch that died must not keep the instance"
    assert 30 <= termination["heartbeatTimeout"] <= 600
    assert termination["name"] != hook(sample).inputs["name"]
    text = decoded_userdata(sample)
    assert f"{bash_variable('termination_hook_name')}={bash_quote(termination['name'])}" in text
    gate = sample.one(GATE)
    assert hook(sample, "autoscaling:EC2_INSTANCE_TERMINATING").urn in gate.dependencies, \
        "the refresh's old instances leave Octopus too"
    statement = next(s for s in json.loads(sample.one(ROLE_POLICY).inputs["policy"])["Statement"]
                     if "autoscaling:CompleteLifecycleAction" in s["Action"])
    assert statement["Resource"] == [
        f"arn:aws:autoscaling:eu-west-1:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/{naming.group_name('ryan0001')}"]


def test_launch_hook_abandons_instances_that_never_report_healthy(sample: ProgramRun) -> None:
    assert hook(sample).inputs["defaultResult"] == "ABANDON"
    text = decoded_userdata(sample)
    assert f"{bash_variable('lifecycle_hook_name')}={bash_quote('phoenix-bootstrap')}" in text
    assert f"{bash_variable('asg_name')}={bash_quote(naming.group_name('ryan0001'))}" in text
    assert f"{bash_variable('heartbeat_interval_seconds')}=200" in text, "a heartbeat every third of the timeout"


def test_one_health_rule_for_the_load_balancer_and_the_bootstrap() -> None:
    run = run_program(sample_config({"phoenix:fleet.healthyStatusCodes": "200-299"}))
    assert run.one(TARGET_GROUP).inputs["healthCheck"]["matcher"] == "200-299"
    assert f"{bash_variable('healthy_status_codes')}={bash_quote('200-299')}" in decoded_userdata(run)


def test_target_group_checks_the_configured_health_path() -> None:
    run = run_program(sample_config({"phoenix:fleet.healthCheckPath": "/ready", "phoenix:fleet.appPort": 8080}))
    target = run.one(TARGET_GROUP).inputs
    assert target["port"] == 8080
    assert target["healthCheck"]["path"] == "/ready"
    assert target["healthCheck"]["protocol"] == "HTTP"
    assert f"{bash_variable('health_url')}={bash_quote('http://127.0.0.1:8080/ready')}" in decoded_userdata(run)


def test_rollout_gate_waits_on_the_group_and_its_version(sample: ProgramRun) -> None:
    gate = sample.one(GATE)
    assert gate.inputs["asg_name"] == naming.group_name("ryan0001")
    assert gate.inputs["launch_template_id"] == sample.one(TEMPLATE).id
    assert gate.inputs["launch_template_version"] == "1"
    assert gate.inputs["timeout_minutes"] == 30 and gate.inputs["instance_warmup_seconds"] == 60
    assert gate.inputs["region"] == "eu-west-1"
    assert {sample.one(GROUP).urn, hook(sample).urn} <= gate.dependencies, "the hook is current before a rollout"


# --- the version stamp ---------------------------------------------------------------------------


def test_a_new_package_version_changes_the_userdata() -> None:
    first = run_program(sample_config())
    second = run_program(sample_config({"phoenix:packageVersion": "1.0.1-ryan0001"}))
    assert decoded_userdata(first) != decoded_userdata(second)
    assert first.outputs["infrastructure_version"] != second.outputs["infrastructure_version"]
    assert second.one(OVERRIDE).inputs["release_version"] == "1.0.1-ryan0001"


@pytest.mark.parametrize(
    "changes",
    [{"phoenix:fleet.maxSize": 4}, {"phoenix:tags": {"team": "payments"}}],
    ids=["max_size", "tags"],
)
def test_capacity_or_tags_leave_the_userdata_alone(changes) -> None:
    first = run_program(sample_config())
    second = run_program(sample_config(changes))
    assert first.one(TEMPLATE).inputs["userData"] == second.one(TEMPLATE).inputs["userData"]
    assert first.outputs["infrastructure_version"] == second.outputs["infrastructure_version"]
    assert first.one(GROUP).inputs != second.one(GROUP).inputs  # the change did land somewhere


# --- names ---------------------------------------------------------------------------------------


def test_a_sixty_character_feature_builds_with_valid_names() -> None:
    feature = "long-feature-" + "n" * 47
    assert len(feature) == 60
    # The mocks refuse any name AWS would refuse, so building at all is the check.
    run = run_program(sample_config(feature=feature))
    assert len(run.one(BALANCER).inputs["name"]) <= 32
    assert len(run.one(TARGET_GROUP).inputs["name"]) <= 32
    assert run.one(TENANT).inputs["tenant_name"] == feature


def test_features_sharing_a_long_prefix_get_distinct_names() -> None:
    prefix = "shared-prefix-" + "q" * 26
    first = run_program(sample_config(feature=prefix + "-one"))
    second = run_program(sample_config(feature=prefix + "-two"))
    for typ in (BALANCER, TARGET_GROUP, GROUP, ROLE, TEMPLATE, PARAMETER, ALIAS):
        assert first.one(typ).inputs["name"] != second.one(typ).inputs["name"], typ


# --- Octopus wiring ------------------------------------------------------------------------------


def test_instances_register_with_what_the_octopus_resources_were_created_with(sample: ProgramRun) -> None:
    tenant, override = sample.one(TENANT).inputs, sample.one(OVERRIDE).inputs
    text = decoded_userdata(sample)
    assert f"{bash_variable('tenant')}={bash_quote(tenant['tenant_name'])}" in text
    assert f"{bash_variable('environment')}={bash_quote(tenant['environments'][0])}" in text
    assert f"{bash_variable('space')}={bash_quote(tenant['space'])}" in text
    assert override["environment"] == tenant["environments"][0]
    assert override["space"] == tenant["space"] == "Default", "the override is written in the tenant's space"
    # Both are children of the feature's environment, like its AWS resources: destroyed and listed with it.
    parents = {typ: sample.one(typ).urn.split("::")[2].rpartition("$")[0] for typ in (TENANT, OVERRIDE)}
    assert parents == {TENANT: "phoenix:index:FeatureEnvironment", OVERRIDE: "phoenix:index:FeatureEnvironment"}
    assert override["project"] == tenant["projects"][0] == "Phoenix Web"
    assert override["tenant_id"] == "Tenants-1"
    assert override["release_version"] == "1.0.0-ryan0001"
    assert f"{bash_variable('machine_policy')}={bash_quote('Feature environments')}" in text
    assert f"{bash_variable('roles')}=({bash_quote('web')})" in text


def test_group_launches_only_after_the_tenant_and_override_exist(sample: ProgramRun) -> None:
    tags = {t["key"]: t["value"] for t in sample.one(GROUP).inputs["tags"]}
    assert tags["phoenix:octopus-tenant"] == "Tenants-1"
    assert tags["phoenix:octopus-release"] == "Releases-7"
    assert tags[naming.FEATURE_TAG] == "ryan0001"


def test_creation_order_keeps_instances_from_launching_too_early(sample: ProgramRun) -> None:
    """The group waits for its permissions, its listener and Octopus; the gate waits for the group."""
    group = sample.one(GROUP)
    for typ in (ROLE_POLICY, LISTENER, TENANT, OVERRIDE, TEMPLATE):
        assert sample.one(typ).urn in group.dependencies, typ
    assert group.urn in sample.one(GATE).dependencies
    # ...and its permissions wait for the parameter the instances read at boot, which waits for its key.
    assert sample.one(PARAMETER).urn in sample.one(ROLE_POLICY).dependencies
    assert sample.one(KEY).urn in sample.one(PARAMETER).dependencies
    assert sample.one(PARAMETER).inputs["name"] in sample.one(ROLE_POLICY).inputs["policy"]
    assert sample.one(TENANT).urn in sample.one(OVERRIDE).dependencies
    assert sample.one(NAT).dependencies >= {sample.one(IGW).urn, sample.one(EIP).urn}


def test_tenant_options_pass_through() -> None:
    run = run_program(
        sample_config({"phoenix:octopus.tenantTags": ["Feature/Branch"], "phoenix:octopus.adoptExistingTenant": True})
    )
    tenant = run.one(TENANT).inputs
    assert tenant["tenant_tags"] == ["Feature/Branch"]
    assert tenant["adopt_existing"] is True


def test_every_aws_resource_that_takes_tags_carries_the_feature_tag(sample: ProgramRun) -> None:
    tagged = [r for r in sample.resources if r.type.startswith("aws:") and "tags" in r.inputs]
    assert len(tagged) >= 15
    for resource in tagged:
        tags = resource.inputs["tags"]
        if isinstance(tags, list):
            tags = {t["key"]: t["value"] for t in tags}
        assert tags[naming.FEATURE_TAG] == "ryan0001", resource.name
        assert tags["team"] == "web", resource.name
    for spec in sample.one(TEMPLATE).inputs["tagSpecifications"]:
        assert spec["tags"][naming.FEATURE_TAG] == "ryan0001"
    assert {s["resourceType"] for s in sample.one(TEMPLATE).inputs["tagSpecifications"]} == {"instance", "volume"}


# --- images --------------------------------------------------------------------------------------


def test_the_pinned_image_is_used_and_nothing_looks_for_a_newer_one(sample: ProgramRun) -> None:
    assert sample.one(TEMPLATE).inputs["imageId"] == "ami-0a1b2c3d4e5f60718"
    lookups = [c for c in sample.mocks.calls if c.token == "aws:ec2/getAmi:getAmi"]
    # A new AMI release in AWS must change nothing: only the pinned image's own record is read, for its root device.
    assert [c.args["filters"] for c in lookups] == [[{"name": "image-id", "values": ["ami-0a1b2c3d4e5f60718"]}]]


def test_another_pinned_image_moves_the_template_and_the_stamp_and_nothing_else() -> None:
    first = run_program(sample_config())
    second = run_program(sample_config({"phoenix:imageId": "ami-0fedcba9876543210"}))
    assert second.one(TEMPLATE).inputs["imageId"] == "ami-0fedcba9876543210"
    assert first.outputs["infrastructure_version"] != second.outputs["infrastructure_version"]
    assert second.outputs["image_id"] == "ami-0fedcba9876543210"
    before = {(r.type, r.name): r.inputs for r in first.resources}
    changed = {r.name: sorted(k for k in r.inputs if r.inputs[k] != before[r.type, r.name].get(k))
               for r in second.resources if r.inputs != before[r.type, r.name]}
    assert changed == {"phoenix-fleet-lt": ["description", "imageId", "userData"]}, (
        "the image reaches instances only through a new template version (its stamp is in the userdata)"
    )


def test_a_given_image_overrides_the_pinned_one() -> None:
    run = run_program(sample_config({"phoenix:fleet.amiId": "ami-0fedcba9876543210"}))
    lookups = [c for c in run.mocks.calls if c.token == "aws:ec2/getAmi:getAmi"]
    # Only the given image's own record is read, for its root device.
    assert [c.args["filters"] for c in lookups] == [[{"name": "image-id", "values": ["ami-0fedcba9876543210"]}]]
    assert run.one(TEMPLATE).inputs["imageId"] == "ami-0fedcba9876543210"
    assert run.outputs["image_id"] == "ami-0fedcba9876543210"


def test_without_an_image_the_program_stops_before_anything_exists() -> None:
    mocks = FeatureMocks()
    with pytest.raises(SettingsError) as caught:
        run_program(sample_config({"phoenix:imageId": None}), mocks=mocks)
    assert caught.value.key == "phoenix:imageId" and "python -m automation" in caught.value.reason
    assert not [r for r in mocks.registered if r.typ == TEMPLATE]


def test_windows_fleet_renders_powershell_userdata() -> None:
    run = run_program(sample_config({"phoenix:fleet.os": "windows"}))
    text = decoded_userdata(run)
    assert "<powershell>" in text
    assert "TentaclePackageSource = 'https://octopus.com/downloads/latest/OctopusTentacle64'" in text
    assert SAMPLE_REGISTRATION_KEY not in text and SAMPLE_API_KEY not in text


# --- bad config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"phoenix:network.nat": "sometimes"}, "phoenix:network.nat"),
        ({"phoenix:fleet.minSize": 3}, "phoenix:fleet.minSize"),
        ({"phoenix:network.cidr": "10.20.0.0/8x"}, "phoenix:network.cidr"),
        ({"phoenix:network.azCount": 0}, "phoenix:network.azCount"),
        ({"octopus:apiKey": None}, "octopus:apiKey"),
    ],
)
def test_bad_config_fails_before_anything_is_registered(changes, key: str) -> None:
    mocks = FeatureMocks()
    with pytest.raises(SettingsError) as caught:
        run_program(sample_config(changes), mocks=mocks)
    assert caught.value.key == key
    assert mocks.registered == []
    assert mocks.calls == []
