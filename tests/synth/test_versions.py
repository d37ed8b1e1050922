"""Immutability, seen offline: what a new package version changes, and what it must not."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.synth import sample

NEXT_VERSION = "1.0.1-ryan0001"
LAUNCH_TEMPLATE = "resources.LaunchTemplate:phoenix-fleet-lt"
OVERRIDE = "resources.AutoDeployOverride:phoenix-override"
USERDATA = f"{LAUNCH_TEMPLATE}.inputs.userData"


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """Paths whose value differs; userdata lines are one path (compared on their own below)."""
    flat_before, flat_after = sample.flat_document(before), sample.flat_document(after)
    changed = {
        path for path in flat_before.keys() | flat_after.keys()
        if flat_before.get(path, KeyError) != flat_after.get(path, KeyError)
    }
    return {re.sub(r"\.lines\[\d+\]$", ".lines", path) for path in changed}


@pytest.fixture(scope="module")
def next_version_document() -> dict[str, Any]:
    return sample.document(sample.synthesize(version=NEXT_VERSION))


def test_a_new_package_version_changes_exactly_the_userdata_version_and_the_release(
    sample_document: dict[str, Any], next_version_document: dict[str, Any]
) -> None:
    after = next_version_document
    # The gzip-compressed userdata's size may move with any change to its text, by a byte or two.
    assert changed_paths(sample_document, after) - {f"{USERDATA}.bytes"} == {
        "config.phoenix:packageVersion",
        # The launch template: its userdata carries the infrastructure version,
        # and its description names it; the digest follows the script.
        f"{USERDATA}.lines",
        f"{USERDATA}.sha256",
        f"{LAUNCH_TEMPLATE}.inputs.description",
        # The override points the tenant at the new release; its variable names it.
        f"{OVERRIDE}.inputs.release_version",
        "resources.TenantVariables:phoenix-tenant-variables.inputs.values.Phoenix.PackageVersion",
        "outputs.package_version",
        "outputs.infrastructure_version",
    }
    assert sample.resources(after)["AutoDeployOverride:phoenix-override"]["inputs"]["release_version"] == NEXT_VERSION


def test_the_userdata_differs_only_in_its_version_stamp(
    sample_document: dict[str, Any], next_version_document: dict[str, Any]
) -> None:
    after = next_version_document
    old_stamp = sample_document["outputs"]["infrastructure_version"]
    new_stamp = after["outputs"]["infrastructure_version"]
    assert old_stamp.startswith(f"{sample.VERSION}+") and new_stamp.startswith(f"{NEXT_VERSION}+")
    old_lines = sample.resources(sample_document)["LaunchTemplate:phoenix-fleet-lt"]["inputs"]["userData"]["lines"]
    new_lines = sample.resources(after)["LaunchTemplate:phoenix-fleet-lt"]["inputs"]["userData"]["lines"]
    assert len(old_lines) == len(new_lines)
    moved = [(old, new) for old, new in zip(old_lines, new_lines) if old != new]
    assert moved, "a new package version must reach the instances' userdata"
    for old, new in moved:
        assert old_stamp in old and old.replace(old_stamp, new_stamp) == new, (old, new)


def test_capacity_changes_the_group_and_never_the_userdata(sample_document: dict[str, Any]) -> None:
    """Scaling is an in-place change of the group: no new template version, no refresh."""
    after = sample.document(sample.synthesize(overrides=["phoenix:fleet.maxSize=3"]))
    assert changed_paths(sample_document, after) == {
        "config.phoenix:fleet.maxSize",
        "resources.Group:phoenix-fleet-asg.inputs.maxSize",
    }


def test_changed_paths_sees_each_changed_leaf(sample_document: dict[str, Any]) -> None:
    """The comparison itself can fail: each edited leaf is one changed path."""
    edited = copy.deepcopy(sample_document)
    edited["outputs"]["url"] = "http://elsewhere"
    sample.resources(edited)["Subnet:phoenix-network-public-1"]["inputs"]["cidrBlock"] = "10.20.32.0/20"
    assert changed_paths(sample_document, edited) == {
        "outputs.url",
        "resources.Subnet:phoenix-network-public-1.inputs.cidrBlock",
    }
