"""The infrastructure version: moved by the package and by anything in the userdata; nothing else."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest

from bootstrap import render
from bootstrap.render import USERDATA_LIMIT_BYTES, script_source, userdata_text, wrapper_source
from components import versioning
from components.versioning import userdata
from components.settings import parse_settings
from tests.unit.sample_config import SAMPLE_API_KEY, SAMPLE_REGISTRATION_KEY, sample_config

STAMP = re.compile(r"^1\.0\.0-ryan0001\+infra\.[0-9a-f]{12}$")


def stamped_for(config_changes=None, *, package_version=None):
    changes = dict(config_changes or {})
    if package_version:
        changes["phoenix:packageVersion"] = package_version
    return versioning.bootstrap_for(parse_settings(sample_config(changes)))


def test_version_is_the_package_version_with_a_stamp() -> None:
    assert STAMP.match(stamped_for().infrastructure_version)


def test_build_metadata_in_the_package_version_stays_valid_semver() -> None:
    version = versioning.infrastructure_version(package_version="1.0.0-ryan0001+ci.7", rendered="s",
                                                image_id="ami-0a1b2c3d4e5f60718")
    assert re.fullmatch(r"1\.0\.0-ryan0001\+ci\.7\.infra\.[0-9a-f]{12}", version)


def test_same_inputs_same_version() -> None:
    assert stamped_for().infrastructure_version == stamped_for().infrastructure_version


def test_package_version_moves_the_stamp_and_the_userdata() -> None:
    first, second = stamped_for(), stamped_for(package_version="1.0.1-ryan0001")
    assert first.infrastructure_version != second.infrastructure_version
    assert userdata(first, "linux") != userdata(second, "linux")
    # Nothing but the stamp differs between the two settings.
    assert dataclasses.replace(second, infrastructure_version=first.infrastructure_version) == first


def test_a_changed_bootstrap_script_moves_the_stamp(monkeypatch: pytest.MonkeyPatch) -> None:
    before = stamped_for().infrastructure_version
    original = script_source("linux")
    monkeypatch.setattr(render, "script_source", lambda platform: original + "\n# hotfix\n")
    assert stamped_for().infrastructure_version != before


@pytest.mark.parametrize("platform", ["linux", "windows"])
def test_a_changed_userdata_wrapper_moves_the_stamp(monkeypatch: pytest.MonkeyPatch, platform: str) -> None:
    """The wrapper is part of the userdata: a change to it alone must still refresh the fleet."""
    config = {"phoenix:fleet.os": platform}
    before = stamped_for(config)
    original = wrapper_source(platform)
    changed = original.replace("# phoenix instance bootstrap:", "# phoenix instance bootstrap (v2):", 1)
    assert changed != original
    monkeypatch.setattr(render, "wrapper_source", lambda _platform: changed)
    after = stamped_for(config)
    assert after.infrastructure_version != before.infrastructure_version
    assert dataclasses.replace(after, infrastructure_version=before.infrastructure_version) == before


def test_stamping_again_keeps_the_stamp() -> None:
    """The stamp is derived from the userdata without any earlier stamp in it."""
    first = stamped_for()
    again = versioning.stamped(first, package_version="1.0.0-ryan0001", platform="linux",
                               image_id="ami-0a1b2c3d4e5f60718")
    assert again == first


@pytest.mark.parametrize(
    "config_changes",
    [{"phoenix:imageId": "ami-0fedcba9876543210"}, {"phoenix:fleet.amiId": "ami-0fedcba9876543210"}],
    ids=["another-pinned-image", "fleet-ami-id"],
)
def test_the_image_moves_the_stamp_but_not_the_rendered_settings(config_changes) -> None:
    """What an instance boots from is part of the version, though the userdata never names it."""
    first, second = stamped_for(), stamped_for(config_changes)
    assert first.infrastructure_version != second.infrastructure_version
    assert dataclasses.replace(second, infrastructure_version=first.infrastructure_version) == first


def test_the_same_image_pinned_or_given_is_the_same_version() -> None:
    pinned = stamped_for({"phoenix:imageId": "ami-0fedcba9876543210"})
    given = stamped_for({"phoenix:imageId": None, "phoenix:fleet.amiId": "ami-0fedcba9876543210"})
    assert pinned == given


@pytest.mark.parametrize(
    "config_changes",
    [
        {"phoenix:fleet.healthCheckPath": "/ready"},
        {"phoenix:fleet.appPort": 8080},
        {"phoenix:fleet.healthTimeoutSeconds": 600},
        {"phoenix:fleet.healthyStatusCodes": "200-299"},
        {"phoenix:fleet.lifecycleHeartbeatSeconds": 900},
        {"phoenix:fleet.tentaclePackageSource": "https://mirror.example.com/tentacle"},
        {"phoenix:fleet.os": "windows"},
        {"phoenix:octopus.roles": ["web", "api"]},
        {"phoenix:octopus.environment": "Feature 2"},
        {"phoenix:octopus.machinePolicy": "Other"},
        {"octopus:serverUrl": "https://octopus2.example.com"},
        {"octopus:space": "Features"},
        {"aws:region": "us-east-1"},
    ],
)
def test_rendered_settings_move_the_stamp(config_changes) -> None:
    assert stamped_for(config_changes).infrastructure_version != stamped_for().infrastructure_version


@pytest.mark.parametrize(
    "config_changes",
    [
        {"phoenix:fleet.maxSize": 5},
        {"phoenix:fleet.minSize": 0, "phoenix:fleet.desiredCapacity": 0},
        {"phoenix:fleet.desiredCapacity": 2},
        {"phoenix:tags": {"team": "payments", "cost-centre": "42"}},
        {"phoenix:fleet.instanceType": "t3.large"},
        {"phoenix:fleet.listenerCidrs": ["10.0.0.0/8"]},
        {"phoenix:fleet.instanceWarmupSeconds": 300},
        {"phoenix:fleet.rolloutTimeoutMinutes": 60},
    ],
)
def test_capacity_tags_and_other_unrendered_settings_keep_the_userdata(config_changes) -> None:
    first, second = stamped_for(), stamped_for(config_changes)
    assert second == first
    assert userdata(second, "linux") == userdata(first, "linux")


@pytest.mark.parametrize("platform", ["linux", "windows"])
def test_longest_settings_stay_under_the_userdata_limit(platform: str) -> None:
    feature = "f" + "x" * 62
    settings = parse_settings(
        sample_config(
            {
                "aws:region": "ap-southeast-2",
                "octopus:serverUrl": "https://" + "o" * 180 + ".example.com",
                "octopus:space": "S" * 200,
                "phoenix:octopus.environment": "E" * 200,
                "phoenix:octopus.machinePolicy": "M" * 200,
                "phoenix:octopus.roles": [f"role-{i}-" + "r" * 150 for i in range(10)],
                "phoenix:fleet.healthCheckPath": "/" + "h" * 200,
                "phoenix:fleet.os": platform,
            },
            feature=feature,
        )
    )
    stamped = versioning.bootstrap_for(settings)
    raw = base64.b64decode(userdata(stamped, platform))
    assert len(raw) < USERDATA_LIMIT_BYTES
    assert stamped.infrastructure_version in userdata_text(raw)
    assert stamped.tenant == feature


@pytest.mark.parametrize("platform", ["linux", "windows"])
def test_userdata_names_the_key_parameter_but_never_holds_a_key(platform: str) -> None:
    stamped = stamped_for({"phoenix:fleet.os": platform})
    raw = userdata_text(base64.b64decode(userdata(stamped, platform)))
    assert stamped.registration_key_parameter in raw
    assert SAMPLE_API_KEY not in raw
    assert SAMPLE_REGISTRATION_KEY not in raw


def test_the_same_inputs_give_the_same_version_in_every_release() -> None:
    """A stamp computed differently after an upgrade would roll every live fleet on its next update."""
    assert versioning.infrastructure_version(
        package_version="1.0.0-ryan0001", rendered="#!/bin/bash", image_id="ami-0a1b2c3d4e5f60718"
    ) == "1.0.0-ryan0001+infra.8c2a62941b99"


def test_a_windows_fleet_boots_powershell_and_is_stamped_from_it() -> None:
    windows = {"phoenix:fleet.os": "windows", "phoenix:fleet.amiNamePattern": "Windows_Server-2022-English-Full-Base-*",
               "phoenix:fleet.tentaclePackageSource": "https://octopus.com/downloads/latest/OctopusTentacle64"}
    stamped = stamped_for(windows)
    assert base64.b64decode(userdata(stamped, "windows")).decode().startswith("<powershell>")
    unstamped = dataclasses.replace(stamped, infrastructure_version=versioning.UNSTAMPED)
    assert stamped.infrastructure_version == versioning.infrastructure_version(
        package_version="1.0.0-ryan0001", rendered=render.render_userdata(unstamped, "windows"),
        image_id="ami-0a1b2c3d4e5f60718",
    )
