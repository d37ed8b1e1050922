"""Feature ids and package versions: what CI passes as FEATURE and --version."""

from __future__ import annotations

import pytest

from automation.feature import (
    MAX_FEATURE_LENGTH,
    FeatureError,
    is_semver,
    newest_version,
    parse_feature,
    parse_version,
)


@pytest.mark.parametrize(
    ("text", "version", "expected_id", "expected_version"),
    [
        ("ryan0001", None, "ryan0001", None),
        ("1.0.0-ryan0001", None, "ryan0001", "1.0.0-ryan0001"),
        ("2.10.3-ryan0001.7", None, "ryan0001", "2.10.3-ryan0001.7"),
        ("1.0.0-ryan0001+build.5", None, "ryan0001", "1.0.0-ryan0001+build.5"),
        ("ryan0001", "1.4.0-ryan0001", "ryan0001", "1.4.0-ryan0001"),
        ("  ryan0001\n", None, "ryan0001", None),
        ("feature-x-2", None, "feature-x-2", None),
        ("a" * MAX_FEATURE_LENGTH, None, "a" * MAX_FEATURE_LENGTH, None),
    ],
)
def test_valid_features(text, version, expected_id, expected_version) -> None:
    feature = parse_feature(text, version)
    assert feature.id == expected_id
    assert feature.stack_name == expected_id and feature.tenant_name == expected_id
    assert feature.package_version == expected_version


@pytest.mark.parametrize(
    ("text", "version", "needle"),
    [
        ("", None, "empty"),
        ("Ryan0001", None, "'ryan0001'"),  # the fix is named
        ("0001ryan", None, "start with a letter"),
        ("ryan_0001", None, "lower-case letters, digits and hyphens"),
        ("ryan 0001", None, "lower-case letters, digits and hyphens"),
        ("ryan/0001", None, "lower-case letters, digits and hyphens"),
        ("ryän0001", None, "lower-case letters, digits and hyphens"),
        ("ryan-", None, "trailing or doubled hyphens"),
        ("ry--an", None, "trailing or doubled hyphens"),
        ("a" * (MAX_FEATURE_LENGTH + 1), None, f"at most {MAX_FEATURE_LENGTH}"),
        ("1.0.0", None, "no pre-release tag"),
        ("1.0.0-0001", None, "leading zero"),
        ("1.0.0-7", None, "does not name a feature"),
        ("01.0.0-ryan0001", None, "not a semantic version"),
        ("1.0-ryan0001", None, "not a semantic version"),
        ("1.0.0-ryan..1", None, "empty pre-release identifier"),
        ("1.0.0-", None, "not a semantic version"),
        ("1.0.0-Ryan0001", None, "upper-case"),
        ("ryan0001", "1.0.0-other01", "belongs to feature 'other01'"),
        ("ryan0001", "1.0.0", "no pre-release tag"),
        ("ryan0001", "", "--version is empty"),
        ("1.0.0-ryan0001", "1.0.1-ryan0001", "two package versions"),
    ],
)
def test_invalid_features_say_why(text, version, needle) -> None:
    with pytest.raises(FeatureError) as caught:
        parse_feature(text, version)
    assert needle in str(caught.value)


def test_a_long_id_is_not_echoed_in_full() -> None:
    with pytest.raises(FeatureError) as caught:
        parse_feature("x" * 500)
    assert len(str(caught.value)) < 200


def test_the_same_version_twice_is_accepted() -> None:
    assert parse_feature("1.0.0-ryan0001", "1.0.0-ryan0001").package_version == "1.0.0-ryan0001"


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("1.0.0", True), ("0.0.1-alpha.1", True), ("1.0.0+20130313144700", True),
        ("1.0.0-rc.1+build.1", True), ("10.20.30", True),
        ("1.0", False), ("v1.0.0", False), ("1.0.0-01", False), ("1.0.0+", False),
        ("1.0.0-a..b", False), ("1.0.0+a..b", False), ("1.0.0 ", False), ("", False),
    ],
)
def test_is_semver(text: str, valid: bool) -> None:
    assert is_semver(text) is valid


def test_semver_precedence_orders_prereleases() -> None:
    ordered = [
        "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
        "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
    ]
    keys = [parse_version(text).precedence_key() for text in ordered]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_newest_version_picks_by_precedence_not_by_order() -> None:
    versions = [
        "1.0.0-ryan0001.2",
        "1.0.0-ryan0001.10",
        "0.9.0-ryan0001",
        "2.0.0-other01",  # another feature's release
        "latest",  # Octopus allows any text: ignored, not fatal
        "1.0.0",  # a release, not a feature's
        "1.0.0-ryan00012",  # a feature whose id merely starts the same
    ]
    assert newest_version(versions, "ryan0001") == "1.0.0-ryan0001.10"
    assert newest_version(versions + ["1.1.0-ryan0001"], "ryan0001") == "1.1.0-ryan0001"


def test_of_releases_equal_in_precedence_the_newest_created_wins() -> None:
    """Build metadata does not order versions; Octopus lists a project's releases newest first."""
    assert newest_version(["1.0.0-ryan0001+build.2", "1.0.0-ryan0001+build.1"], "ryan0001") == \
        "1.0.0-ryan0001+build.2"


def test_newest_version_without_a_match_is_none() -> None:
    assert newest_version(["1.0.0-other01", "1.0.0"], "ryan0001") is None
    assert newest_version([], "ryan0001") is None
