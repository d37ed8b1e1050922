"""AWS names: within every service's limits for any valid feature, distinct for distinct features."""

from __future__ import annotations

import re

import pytest

from components import naming
from tests.unit.conftest import NAME_RULES

LONG = "feature-" + "x" * 52  # 60 characters, the longest ids CI produces are close to this
assert len(LONG) == 60

#: Every name the program gives AWS, with the resource type whose rules it must meet.
NAMERS = {
    "aws:lb/loadBalancer:LoadBalancer": naming.load_balancer_name,
    "aws:lb/targetGroup:TargetGroup": lambda f: naming.target_group_name(f, port=80, vpc_cidr="10.20.0.0/16"),
    "aws:autoscaling/group:Group": naming.group_name,
    "aws:iam/role:Role": naming.role_name,
    "aws:iam/instanceProfile:InstanceProfile": naming.role_name,
    "aws:ec2/launchTemplate:LaunchTemplate": naming.launch_template_name,
    "aws:ec2/securityGroup:SecurityGroup": lambda f: naming.security_group_name(f, "instances"),
    "aws:ssm/parameter:Parameter": naming.registration_key_parameter,
}


@pytest.mark.parametrize("feature", ["ryan0001", LONG, "a", "a-b-c-" + "9" * 57])
@pytest.mark.parametrize("typ", sorted(NAMERS))
def test_names_meet_aws_rules(typ: str, feature: str) -> None:
    limit, pattern = NAME_RULES[typ]
    name = NAMERS[typ](feature)
    assert len(name) <= limit, name
    assert re.fullmatch(pattern, name), name


def test_load_balancer_names_fit_32_characters_and_stay_readable() -> None:
    name = naming.load_balancer_name(LONG)
    assert len(name) == 32
    assert name.startswith("phx-feature-xxx")
    assert name.endswith("-alb")
    assert naming.load_balancer_name("ryan0001").startswith("phx-ryan0001-")


@pytest.mark.parametrize("typ", sorted(NAMERS))
def test_features_sharing_a_forty_character_prefix_do_not_collide(typ: str) -> None:
    prefix = "shared-" + "p" * 33
    assert len(prefix) == 40
    first, second = prefix + "-alpha", prefix + "-bravo"
    assert NAMERS[typ](first) != NAMERS[typ](second)


def test_names_are_stable_across_runs() -> None:
    # A name that changed between runs would replace the resource on every update.
    assert naming.group_name("ryan0001") == naming.group_name("ryan0001")
    assert naming.group_name("ryan0001") == "phx-ryan0001-" + naming.digest("ryan0001", "") + "-asg"


def test_kinds_keep_a_features_names_apart() -> None:
    names = {namer(LONG) for typ, namer in NAMERS.items() if typ != "aws:iam/instanceProfile:InstanceProfile"}
    assert len(names) == len(NAMERS) - 1


def test_a_new_port_or_vpc_gives_the_target_group_a_new_name() -> None:
    base = naming.target_group_name("ryan0001", port=80, vpc_cidr="10.20.0.0/16")
    assert naming.target_group_name("ryan0001", port=8080, vpc_cidr="10.20.0.0/16") != base
    assert naming.target_group_name("ryan0001", port=80, vpc_cidr="10.30.0.0/16") != base
    assert naming.target_group_name("ryan0001", port=80, vpc_cidr="10.20.0.0/16") == base


def test_features_the_slug_would_merge_still_differ() -> None:
    # Slugs drop case and punctuation; the hash of the exact feature keeps names apart.
    assert naming.slug("Ryan_0001") == naming.slug("ryan-0001") == "ryan-0001"
    assert naming.group_name("Ryan_0001") != naming.group_name("ryan-0001")


def test_a_kind_too_long_for_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        naming.aws_name("ryan0001", "a-very-long-kind-of-resource", limit=32)


def test_digest_separates_its_parts() -> None:
    assert naming.digest("ab", "c") != naming.digest("a", "bc")
    assert len(naming.digest("x")) == naming.HASH_LENGTH


def test_project_tags_win_over_user_tags() -> None:
    tags = naming.resource_tags("ryan0001", {"team": "web", naming.FEATURE_TAG: "spoofed"})
    assert tags == {"team": "web", naming.FEATURE_TAG: "ryan0001"}
    assert naming.named(tags, "x") == {**tags, "Name": "x"}


def test_a_features_names_are_the_same_in_every_release() -> None:
    """Existing stacks hold these names: any change to how they are made would replace (or orphan)
    the group, the load balancer, the role and the key of every live feature on its next update."""
    assert {
        "group": naming.group_name("ryan0001"),
        "load balancer": naming.load_balancer_name("ryan0001"),
        "target group": naming.target_group_name("ryan0001", port=80, vpc_cidr="10.20.0.0/16"),
        "role": naming.role_name("ryan0001"),
        "launch template": naming.launch_template_name("ryan0001"),
        "security group": naming.security_group_name("ryan0001", "instances"),
        "registration key": naming.registration_key_parameter("ryan0001"),
        "key alias": naming.key_alias("ryan0001"),
        "long load balancer": naming.load_balancer_name(LONG),
    } == {
        "group": "phx-ryan0001-be755723-asg",
        "load balancer": "phx-ryan0001-be755723-alb",
        "target group": "phx-ryan0001-e683a175-tg",
        "role": "phx-ryan0001-be755723-instance",
        "launch template": "phx-ryan0001-be755723-lt",
        "security group": "phx-ryan0001-be755723-instances-sg",
        "registration key": "/phoenix/phx-ryan0001-be755723-octopus/registration-key",
        "key alias": "alias/phoenix/phx-ryan0001-be755723-key",
        "long load balancer": "phx-feature-xxxxxxx-16b00e66-alb",
    }


def test_the_shortest_limit_still_holds_one_character_of_the_feature() -> None:
    # phx + 8 hex + "alb" + three hyphens leave exactly one character at a limit of 18.
    assert naming.aws_name("ryan0001", "alb", limit=18) == "phx-r-be755723-alb"
    with pytest.raises(ValueError, match="no room for a feature in a 17-character 'alb' name"):
        naming.aws_name("ryan0001", "alb", limit=17)


def test_a_slug_has_no_hyphen_at_either_end() -> None:
    assert naming.slug("_Ryan 0001!") == "ryan-0001"
    assert naming.group_name("-ryan0001-").startswith("phx-ryan0001-")


def test_a_feature_cut_at_a_hyphen_leaves_no_double_hyphen() -> None:
    # 15 characters fit a load balancer name: "feature-branch-" ends on the hyphen.
    name = naming.load_balancer_name("feature-branch-x-123")
    assert name == "phx-feature-branch-" + naming.digest("feature-branch-x-123", "") + "-alb"
    assert "--" not in name
