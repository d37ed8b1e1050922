"""parse_settings: the sample parses into typed values; every bad input names its setting."""

from __future__ import annotations

import hashlib

import pytest

from components.settings import SettingsError, parse_settings
from tests.unit.sample_config import SAMPLE_API_KEY, SAMPLE_REGISTRATION_KEY, sample_config


def error_for(changes, **kwargs) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        parse_settings(sample_config(changes, **kwargs))
    return caught.value


def test_sample_config_parses_into_typed_settings() -> None:
    settings = parse_settings(sample_config())

    assert settings.feature == "ryan0001"
    assert settings.tenant_name == "ryan0001"
    assert settings.package_version == "1.0.0-ryan0001"
    assert settings.region == "eu-west-1"
    assert settings.network.cidr == "10.20.0.0/16"
    assert settings.network.az_count == 2
    assert settings.network.nat == "single"
    assert settings.fleet.ami_id is None
    assert settings.fleet.ami_owners == ("amazon",)
    assert settings.fleet.listener_cidrs == ("0.0.0.0/0",)
    assert (settings.fleet.min_size, settings.fleet.max_size, settings.fleet.desired_capacity) == (1, 2, 1)
    assert settings.octopus.roles == ("web",)
    assert settings.octopus.project == "Phoenix Web"
    assert settings.octopus.machine_policy == "Feature environments"
    assert settings.tags == {"team": "web"}


def test_registration_key_falls_back_to_the_api_key_only_by_opt_in() -> None:
    settings = parse_settings(sample_config())
    assert settings.octopus.registration_key == SAMPLE_REGISTRATION_KEY
    assert not settings.octopus.shares_deploy_key and not settings.octopus.share_deploy_key_with_instances
    opted_in = {"phoenix:octopus.shareDeployKeyWithInstances": True}
    without = parse_settings(sample_config({"octopus:registrationApiKey": None, **opted_in}))
    assert without.octopus.registration_key == SAMPLE_API_KEY and without.octopus.shares_deploy_key


@pytest.mark.parametrize(
    ("registration", "said"),
    [(None, "is not set"), (SAMPLE_API_KEY, "is the deploy key itself")],
    ids=["missing", "equal"],
)
def test_no_registration_key_or_the_deploy_key_is_refused(registration, said: str) -> None:
    error = error_for({"octopus:registrationApiKey": registration})
    assert error.key == "octopus:registrationApiKey"
    assert error.reason.startswith(said)
    assert "OCTOPUS_REGISTRATION_API_KEY" in error.reason and "shareDeployKeyWithInstances" in error.reason
    assert SAMPLE_API_KEY not in str(error)


def test_the_opt_in_is_a_flag() -> None:
    error = error_for({"phoenix:octopus.shareDeployKeyWithInstances": "yes"})
    assert error.key == "phoenix:octopus.shareDeployKeyWithInstances"


def test_volume_key_is_feature_or_account() -> None:
    assert parse_settings(sample_config()).fleet.volume_key == "feature"
    assert parse_settings(sample_config({"phoenix:fleet.volumeKey": "account"})).fleet.volume_key == "account"
    assert error_for({"phoenix:fleet.volumeKey": "aws/ebs"}).key == "phoenix:fleet.volumeKey"


def test_settings_never_show_a_secret() -> None:
    settings = parse_settings(sample_config())
    shown = repr(settings) + str(settings)
    assert SAMPLE_API_KEY not in shown
    assert SAMPLE_REGISTRATION_KEY not in shown
    assert "ryan0001" in shown  # the repr is still useful


def test_server_url_loses_its_trailing_slash() -> None:
    settings = parse_settings(sample_config({"octopus:serverUrl": "https://octopus.example.com/"}))
    assert settings.octopus.server_url == "https://octopus.example.com"


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"phoenix:network.nat": "triple"}, "phoenix:network.nat", "'triple' is not one of none, single, per_az"),
        ({"phoenix:fleet.minSize": 3}, "phoenix:fleet.minSize", "greater than maxSize 2"),
        ({"phoenix:network.cidr": "10.20.0.0/33"}, "phoenix:network.cidr", "not an IPv4 network"),
        ({"phoenix:network.cidr": "10.20.1.0/16"}, "phoenix:network.cidr", "host bits"),
        ({"phoenix:network.cidr": "banana"}, "phoenix:network.cidr", "not an IPv4 network"),
        ({"phoenix:network.cidr": "10.20.0.0/24"}, "phoenix:network.cidr", "/16 to /22"),
        ({"phoenix:network.azCount": 0}, "phoenix:network.azCount", "0 availability zones"),
        ({"phoenix:network.azCount": 1}, "phoenix:network.azCount", "needs 2 to 6"),
        ({"phoenix:fleet.desiredCapacity": 5}, "phoenix:fleet.desiredCapacity", "outside minSize..maxSize"),
        ({"phoenix:fleet.maxSize": "2"}, "phoenix:fleet.maxSize", "must be a whole number, got a string"),
        ({"phoenix:fleet.maxSize": True}, "phoenix:fleet.maxSize", "got a boolean"),
        ({"phoenix:fleet.appPort": 70000}, "phoenix:fleet.appPort", "outside 1..65535"),
        ({"phoenix:fleet.listenerCidrs": ["0.0.0.0/0", "10.0.0.300/32"]}, "phoenix:fleet.listenerCidrs[1]", "not an IPv4"),
        ({"phoenix:fleet.listenerCidrs": []}, "phoenix:fleet.listenerCidrs", "at least one"),
        ({"phoenix:fleet.os": "plan9"}, "phoenix:fleet.os", "not one of linux, windows"),
        ({"phoenix:fleet.amiId": "ubuntu"}, "phoenix:fleet.amiId", "not an AMI id"),
        ({"phoenix:fleet.amiNamePattern": "Windows_Server-2022-English-Full-Base-*"}, "phoenix:fleet.amiNamePattern",
         "an image name pattern for windows, but fleet.os is linux: use al2023-ami-2023.*-x86_64"),
        ({"phoenix:fleet.os": "windows", "phoenix:fleet.amiNamePattern": "al2023-ami-*"}, "phoenix:fleet.amiNamePattern",
         "for linux, but fleet.os is windows: use Windows_Server-2022-English-Full-Base-*"),
        ({"phoenix:fleet.tentaclePackageSource": "https://octopus.com/downloads/latest/OctopusTentacle64"},
         "phoenix:fleet.tentaclePackageSource", "a Tentacle source for windows, but fleet.os is linux: use https://rpm"),
        ({"phoenix:fleet.tentaclePackageSource": "https://mirror.example.com/Octopus.Tentacle.8.1.msi"},
         "phoenix:fleet.tentaclePackageSource", "for windows, but fleet.os is linux"),
        ({"phoenix:fleet.os": "windows", "phoenix:fleet.tentaclePackageSource": "https://apt.octopus.com"},
         "phoenix:fleet.tentaclePackageSource", "for linux, but fleet.os is windows: use https://octopus.com/downloads"),
        ({"phoenix:imageId": "ubuntu"}, "phoenix:imageId", "not an AMI id"),
        ({"phoenix:fleet.healthyStatusCodes": "2xx"}, "phoenix:fleet.healthyStatusCodes", "a range like 200-299"),
        ({"phoenix:fleet.healthyStatusCodes": "200-600"}, "phoenix:fleet.healthyStatusCodes", "600 is outside 200-499"),
        ({"phoenix:fleet.healthyStatusCodes": "299-200"}, "phoenix:fleet.healthyStatusCodes", "runs backwards"),
        ({"phoenix:fleet.healthyStatusCodes": "200,300-399"}, "phoenix:fleet.healthyStatusCodes", "not both"),
        ({"phoenix:fleet.instanceWarmupSeconds": -1}, "phoenix:fleet.instanceWarmupSeconds", "outside 0..3600"),
        ({"phoenix:fleet.instanceType": "big"}, "phoenix:fleet.instanceType", "not an EC2 instance type"),
        ({"phoenix:fleet.healthCheckPath": "health"}, "phoenix:fleet.healthCheckPath", "must start with /"),
        ({"phoenix:fleet.healthCheckPath": "/h'$(reboot)"}, "phoenix:fleet.healthCheckPath", "must start with /"),
        ({"phoenix:fleet.lifecycleHeartbeatSeconds": 20}, "phoenix:fleet.lifecycleHeartbeatSeconds", "outside 30..7200"),
        ({"phoenix:fleet.lifecycleHeartbeatSeconds": 7201}, "phoenix:fleet.lifecycleHeartbeatSeconds", "outside 30..7200"),
        ({"phoenix:fleet.lifecycleHeartbeatSeconds": 30, "phoenix:fleet.healthTimeoutSeconds": 3000},
         "phoenix:fleet.lifecycleHeartbeatSeconds", "at most 3000s in all"),
        ({"phoenix:fleet.rolloutTimeoutMinutes": 10}, "phoenix:fleet.rolloutTimeoutMinutes", "shorter than"),
        ({"phoenix:fleet.tentaclePackageSource": "ftp://x"}, "phoenix:fleet.tentaclePackageSource", "not an http(s) URL"),
        ({"phoenix:fleet.sshKey": "mine"}, "phoenix:fleet.sshKey", "unknown setting"),
        ({"phoenix:network.natMode": "none"}, "phoenix:network.natMode", "unknown setting"),
        ({"phoenix:octopus.role": "web"}, "phoenix:octopus.role", "unknown setting"),
        ({"phoenix:size": 3}, "phoenix:size", "unknown setting"),
        ({"octopus:server": "https://x"}, "octopus:server", "unknown setting"),
        ({"phoenix:network": "10.0.0.0/16"}, "phoenix:network", "must be an object, got a string"),
        ({"phoenix:fleet": None}, "phoenix:fleet", "required but missing"),
        ({"phoenix:octopus.roles": []}, "phoenix:octopus.roles", "at least one"),
        ({"phoenix:octopus.roles": ["web", ""]}, "phoenix:octopus.roles[1]", "non-empty string"),
        ({"phoenix:octopus.project": "  "}, "phoenix:octopus.project", "must not be empty"),
        ({"phoenix:octopus.tenantTags": ["Feature"]}, "phoenix:octopus.tenantTags[0]", "not 'TagSet/Tag'"),
        ({"phoenix:octopus.adoptExistingTenant": "yes"}, "phoenix:octopus.adoptExistingTenant", "true or false"),
        ({"aws:region": "Ireland"}, "aws:region", "not an AWS region"),
        ({"aws:region": None}, "aws:region", "required but missing"),
        ({"octopus:serverUrl": "octopus.example.com"}, "octopus:serverUrl", "not an http(s) URL"),
        ({"octopus:serverUrl": "https://admin:pw@octopus.example.com"}, "octopus:serverUrl", "credentials"),
        ({"octopus:apiKey": None}, "octopus:apiKey", "set OCTOPUS_API_KEY"),
        ({"phoenix:ttl": "3 days"}, "phoenix:ttl", "not a duration"),
        ({"phoenix:maxTtl": "two weeks"}, "phoenix:maxTtl", "not a duration"),
        ({"phoenix:maxTtl": "48h"}, "phoenix:maxTtl", "shorter than feature.ttl 72h"),
        ({"phoenix:packageVersion": "1.0"}, "phoenix:packageVersion", "not a semantic version"),
        ({"phoenix:packageVersion": "1.0.0-sam0002"}, "phoenix:packageVersion", "does not name feature 'ryan0001'"),
        ({"phoenix:feature": "Ryan0001"}, "phoenix:feature", "upper-case"),
        ({"phoenix:feature": "x" * 64}, "phoenix:feature", "at most 63"),
        ({"phoenix:tags": {"aws:owner": "me"}}, "phoenix:tags.aws:owner", "reserved"),
        ({"phoenix:tags": {"phoenix:feature": "other"}}, "phoenix:tags.phoenix:feature", "reserved"),
        ({"phoenix:tags": {"team": 7}}, "phoenix:tags.team", "strings"),
        # What the bootstrap would refuse to render fails here, before any resource exists.
        ({"phoenix:octopus.roles": ['web"; reboot; "']}, "phoenix:octopus.roles", "cannot carry safely"),
        ({"phoenix:octopus.machinePolicy": "</powershell>"}, "phoenix:octopus.machinePolicy", "cannot carry safely"),
        ({"phoenix:octopus.environment": "Feature\nrm -rf /"}, "phoenix:octopus.environment", "control character"),
        ({"phoenix:octopus.environment": "E" * 201}, "phoenix:octopus.environment", "longer than 200"),
        ({"octopus:space": "API-ABCDEFGHIJKLMNOPQRSTUV"}, "octopus:space", "looks like an Octopus API key"),
        # Digests: compression cannot bring them under the limit.
        ({"phoenix:octopus.roles": [f"r{i}-" + hashlib.sha512(str(i).encode()).hexdigest() for i in range(250)]},
         "phoenix:octopus", "over EC2's limit"),
    ],
)
def test_bad_setting_is_named_with_a_reason(changes, key, words) -> None:
    error = error_for(changes)
    assert error.key == key
    assert words in error.reason
    assert str(error).startswith(f"{key}: ")
    assert isinstance(error, ValueError)


def test_other_namespaces_are_left_to_their_owners() -> None:
    # Provider settings such as aws:profile belong to the AWS provider, not to phoenix.
    settings = parse_settings(sample_config({"aws:profile": "ci", "aws:skipMetadataApiCheck": "false"}))
    assert settings.region == "eu-west-1"


@pytest.mark.parametrize("key", ["octopus:apiKey", "octopus:registrationApiKey"])
@pytest.mark.parametrize("bad", ["API-WITH SPACE0000000000", " API-PADDED00000000000000 "])
def test_a_bad_secret_is_refused_without_echoing_it(key: str, bad: str) -> None:
    error = error_for({key: bad})
    assert error.key == key
    assert bad.strip() not in str(error)


def test_numbers_where_a_secret_belongs_are_refused() -> None:
    error = error_for({"octopus:apiKey": 12345})
    assert error.key == "octopus:apiKey"
    assert "12345" not in str(error)


def test_health_codes_and_heartbeat_interval_have_one_source() -> None:
    settings = parse_settings(sample_config({"phoenix:fleet.healthyStatusCodes": " 200 , 204 ",
                                             "phoenix:fleet.lifecycleHeartbeatSeconds": 30}))
    assert settings.fleet.healthy_status_codes == "200,204"
    assert settings.fleet.heartbeat_interval_seconds == 10, "a third of the timeout: room for one missed heartbeat"
    assert parse_settings(sample_config({"phoenix:fleet.healthyStatusCodes": 200})).fleet.healthy_status_codes == "200"


def test_a_long_health_wait_fits_in_the_hooks_global_timeout_once_the_heartbeat_allows_it() -> None:
    settings = parse_settings(sample_config({"phoenix:fleet.lifecycleHeartbeatSeconds": 31,
                                             "phoenix:fleet.healthTimeoutSeconds": 3000,
                                             "phoenix:fleet.rolloutTimeoutMinutes": 60}))
    assert settings.fleet.lifecycle_heartbeat_seconds == 31


@pytest.mark.parametrize(
    ("platform", "pattern", "source"),
    [("linux", "al2023-ami-2023.*-x86_64", "https://rpm.octopus.com"),
     ("windows", "Windows_Server-2022-English-Full-Base-*", "https://octopus.com/downloads/latest/OctopusTentacle64")],
)
def test_each_os_gets_its_own_image_pattern_and_tentacle_source(platform, pattern, source) -> None:
    settings = parse_settings(sample_config({"phoenix:fleet.os": platform}))
    assert (settings.fleet.ami_name_pattern, settings.fleet.tentacle_package_source) == (pattern, source)


def test_an_own_source_and_pattern_for_the_same_os_are_kept() -> None:
    settings = parse_settings(sample_config({"phoenix:fleet.tentaclePackageSource": "https://apt.octopus.com",
                                             "phoenix:fleet.amiNamePattern": "ubuntu/images/*-24.04-amd64-server-*"}))
    assert settings.fleet.tentacle_package_source == "https://apt.octopus.com"
    assert settings.fleet.ami_name_pattern == "ubuntu/images/*-24.04-amd64-server-*"


def test_the_pinned_image_is_used_unless_fleet_ami_id_is_set() -> None:
    assert parse_settings(sample_config()).fleet.image_id == "ami-0a1b2c3d4e5f60718"
    chosen = parse_settings(sample_config({"phoenix:fleet.amiId": "ami-0123456789abcdef0"}))
    assert chosen.fleet.image_id == "ami-0123456789abcdef0"
    assert parse_settings(sample_config({"phoenix:imageId": None})).fleet.image_id is None


@pytest.mark.parametrize("pinned", [None, "ami-0a1b2c3d4e5f60718"])
@pytest.mark.parametrize("owners", [[], None])
def test_image_owners_are_required_when_no_image_id_is_set(owners, pinned) -> None:
    """Without fleet.amiId the image is looked up by name (now, or on --refresh-image even when one is
    pinned); with no owners that look-up would take any account's image whose name matches."""
    error = error_for({"phoenix:fleet.amiId": "", "phoenix:fleet.amiOwners": owners, "phoenix:imageId": pinned})
    assert error.key == "phoenix:fleet.amiOwners"
    assert "at least one" in str(error)


def test_ami_id_replaces_the_lookup() -> None:
    settings = parse_settings(
        sample_config({"phoenix:fleet.amiId": "ami-0123456789abcdef0", "phoenix:fleet.amiOwners": [], "phoenix:fleet.amiNamePattern": ""})
    )
    assert settings.fleet.ami_id == "ami-0123456789abcdef0"


def test_optional_settings_have_defaults() -> None:
    settings = parse_settings(
        sample_config(
            {
                "octopus:space": None,
                "phoenix:ttl": None,
                "phoenix:tags": None,
                "phoenix:octopus.tenantTags": None,
                "phoenix:octopus.adoptExistingTenant": None,
                "phoenix:octopus.shareDeployKeyWithInstances": None,
                "phoenix:fleet.volumeKey": None,
            }
        )
    )
    assert settings.octopus.space == "Default"
    assert settings.octopus.share_deploy_key_with_instances is False
    assert settings.fleet.volume_key == "feature"
    assert settings.ttl is None
    assert settings.tags == {}
    assert settings.octopus.tenant_tags == ()
    assert settings.octopus.adopt_existing_tenant is False


def test_a_sixty_character_feature_is_valid() -> None:
    feature = "f" + "e" * 59
    settings = parse_settings(sample_config(feature=feature))
    assert settings.feature == feature
    assert settings.package_version == f"1.0.0-{feature}"


def test_sample_follows_the_shape_of_defaults_yaml() -> None:
    """The sample stands in for what automation writes from stacks/defaults.yaml; both must agree."""
    from pathlib import Path

    import yaml

    from tests.unit.sample_config import SAMPLE_CONFIG

    defaults = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "defaults.yaml").read_text())
    for section in ("network", "fleet"):
        assert set(defaults[section]) == set(SAMPLE_CONFIG[f"phoenix:{section}"]), section
    lifted = {"serverUrl", "space"}
    assert set(defaults["octopus"]) - lifted == set(SAMPLE_CONFIG["phoenix:octopus"])
    flat = {
        **sample_config(),
        "aws:region": defaults["aws"]["region"],
        "phoenix:network": defaults["network"],
        "phoenix:fleet": defaults["fleet"],
        "phoenix:octopus": {k: v for k, v in defaults["octopus"].items() if k not in lifted},
    }
    assert parse_settings(flat).network.nat == defaults["network"]["nat"]


def test_max_ttl_bounds_extend_and_may_equal_the_ttl() -> None:
    assert parse_settings(sample_config({"phoenix:maxTtl": "14d"})).max_ttl == "14d"
    assert parse_settings(sample_config({"phoenix:maxTtl": "72h"})).max_ttl == "72h"
    assert parse_settings(sample_config()).max_ttl is None


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ({"minSize": 0, "desiredCapacity": 0, "maxSize": 1}, (0, 1, 0)),
        ({"minSize": 1, "desiredCapacity": 1, "maxSize": 1}, (1, 1, 1)),
        ({"minSize": 100, "desiredCapacity": 100, "maxSize": 100}, (100, 100, 100)),
        ({"minSize": 0, "desiredCapacity": 2, "maxSize": 2}, (0, 2, 2)),
    ],
    ids=["scaled-to-zero", "one", "largest", "desired-at-max"],
)
def test_fleet_sizes_take_their_whole_range(sizes, expected) -> None:
    fleet = parse_settings(sample_config({f"phoenix:fleet.{k}": v for k, v in sizes.items()})).fleet
    assert (fleet.min_size, fleet.max_size, fleet.desired_capacity) == expected


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"minSize": -1}, "minSize", "outside 0..100"),
        ({"minSize": 101, "maxSize": 100}, "minSize", "outside 0..100"),
        ({"maxSize": 0, "minSize": 0, "desiredCapacity": 0}, "maxSize", "outside 1..100"),
        ({"maxSize": 101}, "maxSize", "outside 1..100"),
        ({"desiredCapacity": 101, "maxSize": 100}, "desiredCapacity", "outside 0..100"),
        ({"healthTimeoutSeconds": 59}, "healthTimeoutSeconds", "outside 60..36000"),
        # Past 600 minutes no rolloutTimeoutMinutes could wait for it: refused for what it is.
        ({"healthTimeoutSeconds": 36001, "rolloutTimeoutMinutes": 600}, "healthTimeoutSeconds", "outside 60..36000"),
        ({"rolloutTimeoutMinutes": 601}, "rolloutTimeoutMinutes", "outside 1..600"),
        ({"rolloutTimeoutMinutes": 0}, "rolloutTimeoutMinutes", "outside 1..600"),
        # A second past the rollout's 600 s is already too long.
        ({"rolloutTimeoutMinutes": 10, "healthTimeoutSeconds": 601}, "rolloutTimeoutMinutes", "(601s: max("),
        ({"listenerPort": 0}, "listenerPort", "outside 1..65535"),
        ({"listenerPort": 65536}, "listenerPort", "outside 1..65535"),
    ],
)
def test_fleet_numbers_outside_their_range_name_the_range(changes, key, words) -> None:
    error = error_for({f"phoenix:fleet.{k}": v for k, v in changes.items()})
    assert (error.key, words in error.reason) == (f"phoenix:fleet.{key}", True), error.reason


@pytest.mark.parametrize("health_timeout", [60, 36000])
def test_the_health_wait_may_use_the_longest_rollout(health_timeout) -> None:
    settings = parse_settings(sample_config({"phoenix:fleet.healthTimeoutSeconds": health_timeout,
                                             "phoenix:fleet.lifecycleHeartbeatSeconds": 600,
                                             "phoenix:fleet.rolloutTimeoutMinutes": 600}))
    assert settings.fleet.health_timeout_seconds == health_timeout


def test_a_heartbeat_too_short_for_the_health_wait_says_which_heartbeat_would_do() -> None:
    error = error_for({"phoenix:fleet.lifecycleHeartbeatSeconds": 30, "phoenix:fleet.healthTimeoutSeconds": 3000})
    assert error.key == "phoenix:fleet.lifecycleHeartbeatSeconds"
    assert "raise it to at least 31s" in error.reason
    advised = sample_config({"phoenix:fleet.lifecycleHeartbeatSeconds": 31, "phoenix:fleet.healthTimeoutSeconds": 3000,
                             "phoenix:fleet.rolloutTimeoutMinutes": 60})
    assert parse_settings(advised).fleet.lifecycle_heartbeat_seconds == 31


def test_the_shortest_heartbeat_aws_allows_still_spans_a_health_check() -> None:
    from components.settings import HEALTH_CHECK_ROUND_SECONDS, HEARTBEAT_RANGE

    fleet = parse_settings(sample_config({"phoenix:fleet.lifecycleHeartbeatSeconds": HEARTBEAT_RANGE[0]})).fleet
    assert fleet.heartbeat_interval_seconds >= HEALTH_CHECK_ROUND_SECONDS


def test_fleet_settings_left_out_take_their_defaults() -> None:
    from bootstrap import health

    left_out = ("amiId", "amiNamePattern", "healthyStatusCodes", "tentaclePackageSource", "instanceWarmupSeconds",
                "volumeKey")
    fleet = parse_settings(sample_config({f"phoenix:fleet.{name}": None for name in left_out})).fleet
    assert fleet.ami_id is None and fleet.image_id == "ami-0a1b2c3d4e5f60718"
    assert fleet.ami_name_pattern == "al2023-ami-2023.*-x86_64"
    assert fleet.healthy_status_codes == health.normalized(health.DEFAULT)
    assert fleet.tentacle_package_source == "https://rpm.octopus.com"
    assert fleet.instance_warmup_seconds == 60
    assert fleet.volume_key == "feature"


def test_a_package_version_too_long_for_the_instances_names_the_package_version() -> None:
    error = error_for({"phoenix:packageVersion": "1.0.0-ryan0001+" + "a" * 200})
    assert error.key == "phoenix:packageVersion"
    assert "at most 128" in error.reason


def test_a_value_of_a_type_yaml_makes_from_a_date_is_named_by_its_type() -> None:
    import datetime

    error = error_for({"phoenix:ttl": datetime.date(2026, 12, 1)})
    assert error.key == "phoenix:ttl"
    assert error.reason == "must be a string, got date"


@pytest.mark.parametrize("platform", ["linux", "windows"])
def test_an_image_pattern_that_names_no_os_is_left_to_the_user(platform) -> None:
    settings = parse_settings(sample_config({"phoenix:fleet.os": platform,
                                             "phoenix:fleet.amiNamePattern": "golden-image-2026-*"}))
    assert settings.fleet.ami_name_pattern == "golden-image-2026-*"


@pytest.mark.parametrize(
    "source",
    [
        "https://rpm.octopus.com",
        "https://mirror.example.com/Octopus/RPM/stable",
        "https://mirror.example.com/octopus/apt",
        "https://mirror.example.com/octopus/yum/",
        "https://mirror.example.com/deb/octopus",
        "https://mirror.example.com/files/octopus-tentacle.repo",
        "https://mirror.example.com/files/tentacle-8.1.x86_64.rpm",
        "https://mirror.example.com/files/tentacle_8.1_amd64.deb",
    ],
)
def test_a_linux_package_source_on_windows_is_refused(source) -> None:
    error = error_for({"phoenix:fleet.os": "windows", "phoenix:fleet.tentaclePackageSource": source})
    assert error.key == "phoenix:fleet.tentaclePackageSource"
    assert error.reason.startswith(f"{source!r} is a Tentacle source for linux, but fleet.os is windows")


@pytest.mark.parametrize("platform", ["linux", "windows"])
def test_a_package_source_that_names_no_os_is_left_to_the_user(platform) -> None:
    source = "https://mirror.example.com/tentacle/latest"
    settings = parse_settings(sample_config({"phoenix:fleet.os": platform, "phoenix:fleet.tentaclePackageSource": source}))
    assert settings.fleet.tentacle_package_source == source


def test_tags_at_awss_limits_and_with_its_punctuation_are_kept() -> None:
    tags = {"a": "v" * 256, "k" * 128: "", "cost centre": "web-ops_1.a:b/c=d+e@f g", "ünïcode": "naïve 7"}
    tags.update({f"t{i}": "x" for i in range(40 - len(tags))})
    assert parse_settings(sample_config({"phoenix:tags": tags})).tags == tags


@pytest.mark.parametrize(
    ("tags", "key", "words"),
    [
        ({"": "x"}, "phoenix:tags.", "tag keys are 1 to 128 characters"),
        ({"k" * 129: "x"}, "phoenix:tags." + "k" * 129, "tag keys are 1 to 128 characters"),
        ({"team": "v" * 257}, "phoenix:tags.team", "at most 256 characters"),
        ({"team": "web#ops"}, "phoenix:tags.team", "the tag value 'web#ops' holds '#'"),
        ({"team#": "web"}, "phoenix:tags.team#", "the tag key 'team#' holds '#'"),
        ({"team": "web\tops"}, "phoenix:tags.team", "holds '\\t'"),
        ({f"t{i}": "x" for i in range(41)}, "phoenix:tags", "41 tags; at most 40"),
    ],
    ids=["empty-key", "long-key", "long-value", "value-char", "key-char", "tab", "too-many"],
)
def test_tags_aws_would_refuse_are_refused_before_anything_is_created(tags, key, words) -> None:
    error = error_for({"phoenix:tags": tags})
    assert error.key == key
    assert words in error.reason


def test_the_fleets_values_reach_the_typed_settings() -> None:
    fleet = parse_settings(sample_config({"phoenix:fleet.appPort": 8080, "phoenix:fleet.listenerPort": 65535})).fleet
    assert (fleet.os, fleet.instance_type, fleet.app_port, fleet.listener_port) == ("linux", "t3.small", 8080, 65535)
    assert (fleet.health_check_path, fleet.health_timeout_seconds, fleet.lifecycle_heartbeat_seconds) == (
        "/health", 900, 600)
    assert fleet.rollout_timeout_minutes == 30
    assert parse_settings(sample_config({"phoenix:fleet.listenerPort": 1})).fleet.listener_port == 1


def test_the_shortest_rollout_waits_exactly_as_long_as_an_instance_may() -> None:
    fleet = parse_settings(sample_config({"phoenix:fleet.rolloutTimeoutMinutes": 1,
                                          "phoenix:fleet.healthTimeoutSeconds": 60,
                                          "phoenix:fleet.lifecycleHeartbeatSeconds": 30})).fleet
    assert (fleet.rollout_timeout_minutes, fleet.health_timeout_seconds) == (1, 60)


def test_an_image_pattern_of_the_other_os_is_named_in_the_refusal() -> None:
    pattern = "Windows_Server-2019-English-Full-Base-*"
    error = error_for({"phoenix:fleet.amiNamePattern": pattern})
    assert error.reason.startswith(f"{pattern!r} is an image name pattern for windows")


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({"phoenix:network.azCount": 6}, True),
        ({"phoenix:network.azCount": 7}, False),
        ({"phoenix:network.cidr": "10.20.0.0/22"}, True),
        ({"phoenix:network.cidr": "10.20.0.0/23"}, False),
    ],
)
def test_the_network_takes_six_zones_and_a_slash_22_at_most(changes, accepted) -> None:
    if accepted:
        parse_settings(sample_config(changes))
    else:
        assert error_for(changes).key == next(iter(changes))


def test_an_unknown_setting_lists_the_known_ones_beside_it() -> None:
    error = error_for({"phoenix:network.natMode": "none"})
    assert error.reason == "unknown setting (known here: azCount, cidr, nat)"


def test_tenant_tags_are_kept_as_tag_set_and_tag() -> None:
    tags = ["Region/EU West", "Tier/Feature"]
    assert parse_settings(sample_config({"phoenix:octopus.tenantTags": tags})).octopus.tenant_tags == tuple(tags)


@pytest.mark.parametrize("tag", ["Region/ ", "/EU", "Region/EU/West", "Region"])
def test_a_tenant_tag_without_both_tag_set_and_tag_is_refused(tag) -> None:
    error = error_for({"phoenix:octopus.tenantTags": ["Tier/Feature", tag]})
    assert error.key == "phoenix:octopus.tenantTags[1]"
    assert error.reason == f"{tag!r} is not 'TagSet/Tag'"


def tenant_variables(variables: dict, secrets=None):
    return parse_settings(sample_config({"phoenix:octopus.tenantVariables": variables,
                                         "phoenix:tenantVariableSecrets": secrets})).octopus.tenant_variables


def test_tenant_variable_values_and_sensitive_names_reach_the_settings() -> None:
    variables = tenant_variables({"values": {"App Name": "Phoenix", "N" * 200: "x"},
                                  "sensitive": {"App.DbPassword": "PHOENIX_DB_PASSWORD"}},
                                 secrets={"App.DbPassword": "s3cret"})
    assert dict(variables.values) == {"App Name": "Phoenix", "N" * 200: "x"}
    assert dict(variables.sensitive) == {"App.DbPassword": "PHOENIX_DB_PASSWORD"}
    assert dict(variables.sensitive_values) == {"App.DbPassword": "s3cret"}
    assert variables.templates == ("App Name", "N" * 200, "App.DbPassword")


@pytest.mark.parametrize(
    ("variables", "key", "reason"),
    [
        ({"values": {"N" * 201: "x"}}, "values." + "N" * 201, "at most 200 characters, one line"),
        ({"values": {"App\tName": "x"}}, "values.App\tName", "at most 200 characters, one line"),
        ({"url": "App.Url", "values": {"app.url": "x"}}, "values.app.url",
         "template 'app.url' is also given by phoenix:octopus.tenantVariables.url"),
        ({"values": {"App.Port": 8080}}, "values.App.Port", "must be text, got a number"),
        ({"values": "App.Port"}, "values", "must be an object of template name -> text, got a string"),
    ],
)
def test_bad_tenant_variables_are_named_with_what_is_wrong(variables, key, reason) -> None:
    with pytest.raises(SettingsError) as caught:
        tenant_variables(variables)
    assert caught.value.key == f"phoenix:octopus.tenantVariables.{key}"
    assert reason in caught.value.reason


def test_a_sensitive_variable_set_but_empty_counts_as_not_set() -> None:
    with pytest.raises(SettingsError) as caught:
        tenant_variables({"sensitive": {"App.DbPassword": "PHOENIX_DB_PASSWORD"}}, secrets={"App.DbPassword": ""})
    assert caught.value.key == "phoenix:octopus.tenantVariables.sensitive.App.DbPassword"
    assert caught.value.reason == "environment variable PHOENIX_DB_PASSWORD is not set"


@pytest.mark.parametrize("secrets", ['{"App.DbPassword": "s3cret"}', {"App.DbPassword": "s3cret"}], ids=["json", "object"])
def test_sensitive_values_are_read_from_json_text_or_an_object(secrets) -> None:
    variables = tenant_variables({"sensitive": {"App.DbPassword": "PHOENIX_DB_PASSWORD"}}, secrets=secrets)
    assert dict(variables.sensitive_values) == {"App.DbPassword": "s3cret"}


@pytest.mark.parametrize("secrets", ["[1, 2]", "{not json"])
def test_sensitive_values_that_are_not_a_json_object_are_refused(secrets) -> None:
    with pytest.raises(SettingsError) as caught:
        tenant_variables({}, secrets=secrets)
    assert caught.value.key == "phoenix:tenantVariableSecrets"
    assert caught.value.reason == "must be a JSON object of template name -> value"


def test_a_plain_http_server_and_package_source_are_accepted() -> None:
    settings = parse_settings(sample_config({"octopus:serverUrl": "http://octopus.internal:8080/",
                                             "phoenix:fleet.tentaclePackageSource": "http://mirror.internal/rpm"}))
    assert settings.octopus.server_url == "http://octopus.internal:8080"
    assert settings.fleet.tentacle_package_source == "http://mirror.internal/rpm"


@pytest.mark.parametrize(
    ("value", "asleep"), [(None, False), ("true", True), ("false", False), (True, True), (False, False)]
)
def test_the_recorded_sleep_is_a_flag_pulumi_may_hand_over_as_text(value, asleep) -> None:
    assert parse_settings(sample_config({"phoenix:asleep": value})).asleep is asleep


@pytest.mark.parametrize("value", ["yes", "TRUE", 1])
def test_a_recorded_sleep_that_is_no_flag_is_refused(value) -> None:
    error = error_for({"phoenix:asleep": value})
    assert (error.key, error.reason) == ("phoenix:asleep", f"must be true or false, got {value!r}")


@pytest.mark.parametrize(("value", "budget"), [(None, None), (10, 10.0), (0.5, 0.5), (999_999.5, 999_999.5)])
def test_the_daily_budget_is_any_positive_amount_or_none(value, budget) -> None:
    assert parse_settings(sample_config({"phoenix:maxCostPerDay": value})).max_cost_per_day == budget


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "0 is not a budget: give a positive number of USD a day"),
        (-2.5, "-2.5 is not a budget"),
        (1_000_000, "1000000 is not a budget"),
        (True, "must be a number of USD a day (e.g. 10 or 2.5), got a boolean"),
        ("10", "must be a number of USD a day (e.g. 10 or 2.5), got a string"),
    ],
)
def test_a_budget_that_is_no_positive_amount_is_refused(value, reason) -> None:
    error = error_for({"phoenix:maxCostPerDay": value})
    assert error.key == "phoenix:maxCostPerDay"
    assert error.reason.startswith(reason)


def test_awake_hours_are_parsed_and_none_means_always_awake() -> None:
    from components.awake import EXAMPLE, parse_awake_hours

    assert parse_settings(sample_config({"phoenix:awakeHours": EXAMPLE})).awake_hours == parse_awake_hours(EXAMPLE)
    assert parse_settings(sample_config()).awake_hours is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [(7, "must be text like 'Mon-Fri 07:00-19:00 Europe/London', got a number"),
     ("whenever", "'whenever' is not DAYS HH:MM-HH:MM TIME-ZONE")],
)
def test_bad_awake_hours_are_refused_by_name(value, reason) -> None:
    error = error_for({"phoenix:awakeHours": value})
    assert error.key == "phoenix:awakeHours"
    assert error.reason.startswith(reason)


@pytest.mark.parametrize(
    ("url", "reason"),
    [*((url, f"{url!r} must be a plain URL without query, fragment or quotes") for url in (
        "https://octopus.example.com/?space=x", "https://octopus.example.com/#top", "https://octopus.example.com/a b",
        "https://octopus.example.com/'x")),
     ("https://user@octopus.example.com", "must not embed credentials"),
     ("https://:pw@octopus.example.com", "must not embed credentials")],
)
def test_a_server_url_with_more_than_a_plain_address_is_refused(url, reason) -> None:
    error = error_for({"octopus:serverUrl": url})
    assert (error.key, error.reason) == ("octopus:serverUrl", reason)


def test_max_ttl_compares_whole_durations_across_units() -> None:
    error = error_for({"phoenix:ttl": "100h", "phoenix:maxTtl": "4d"})
    assert (error.key, error.reason) == ("phoenix:maxTtl", "4d is shorter than feature.ttl 100h")
    assert parse_settings(sample_config({"phoenix:ttl": "90m", "phoenix:maxTtl": "2h"})).max_ttl == "2h"


def test_max_ttl_without_a_ttl_stands_alone() -> None:
    assert parse_settings(sample_config({"phoenix:ttl": None, "phoenix:maxTtl": "14d"})).max_ttl == "14d"


def test_without_tenant_variables_the_tenant_fills_in_no_template() -> None:
    variables = parse_settings(sample_config({"phoenix:octopus.tenantVariables": None})).octopus.tenant_variables
    assert variables.templates == () and dict(variables.sensitive_values) == {}


def test_the_ttl_reaches_the_settings() -> None:
    assert parse_settings(sample_config({"phoenix:ttl": "3d"})).ttl == "3d"


def test_a_key_in_phoenixs_namespace_with_more_colons_is_still_unknown() -> None:
    assert error_for({"phoenix:fleet:size": 3}).key == "phoenix:fleet:size"


@pytest.mark.parametrize(
    ("key", "reason"),
    [("phoenix:octopus.project", "is required but missing"),
     ("octopus:apiKey", "is required but missing (set OCTOPUS_API_KEY)")],
)
def test_a_missing_setting_is_named_with_a_hint_only_where_one_helps(key, reason) -> None:
    error = error_for({key: None})
    assert (error.key, error.reason) == (key, reason)


def test_text_with_spaces_around_it_is_refused_and_a_secret_is_not_echoed() -> None:
    padded = error_for({"phoenix:octopus.project": " Phoenix Web"})
    assert (padded.key, padded.reason) == ("phoenix:octopus.project", "' Phoenix Web' has leading or trailing spaces")
    secret = error_for({"octopus:apiKey": "API-WITH SPACE0000000000"})
    assert (secret.key, secret.reason) == ("octopus:apiKey", "must not contain spaces")
