"""The pure input checks and the diff rule every Octopus provider uses."""

from __future__ import annotations

import pytest
from pulumi.runtime.rpc import UNKNOWN

from components.octopus.inputs import InputCheck, diff_inputs, is_unknown, name_problem


@pytest.mark.parametrize(
    "name", ["ryan0001", "Phoenix Web", "Feature environments (EU)", "o'brien-1.2", "Ünïcode"]
)
def test_plain_names_are_accepted(name: str) -> None:
    assert name_problem(name, created=True) is None


@pytest.mark.parametrize("name", ["a/b", "a\\b", "<script>", "semi;colon", '"quoted"', "$(cmd)", "`x`"])
def test_names_we_create_refuse_shell_and_path_characters(name: str) -> None:
    assert "characters" in name_problem(name, created=True)


def test_looked_up_names_may_hold_any_printable_character_but_no_control() -> None:
    assert name_problem("Team/App: [prod]", created=False) is None
    assert "control" in name_problem("bad\x00name", created=False)


@pytest.mark.parametrize(
    "version, ok",
    [
        ("1.0.0-ryan0001", True),
        ("1.0.0-ryan0001.7+build.5", True),
        ("1.0.0", True),
        ("1.0", False),
        ("01.0.0-ryan0001", False),
        ("1.0.0-", False),
        ("v1.0.0", False),
    ],
)
def test_release_versions_must_be_semver(version: str, ok: bool) -> None:
    check = InputCheck({"release_version": version}, ["release_version"])
    check.version("release_version")
    assert check.ok is ok
    if not ok:
        assert version in check.failures[0].reason


def test_integer_accepts_whole_doubles_from_the_wire_and_rejects_the_rest() -> None:
    check = InputCheck({"a": 20.0, "b": 20.5, "c": True, "d": 0}, "abcd")
    assert check.integer("a", default=1, minimum=1, maximum=60) == 20
    check.integer("b", default=1, minimum=1, maximum=60)
    check.integer("c", default=1, minimum=1, maximum=60)
    check.integer("d", default=1, minimum=1, maximum=60)
    assert [f.property for f in check.failures] == ["b", "c", "d"]


def test_name_lists_are_trimmed_deduplicated_and_sorted() -> None:
    check = InputCheck({"envs": ["b", " a", "b "]}, ["envs"])
    assert check.names("envs") == ["a", "b"]
    assert check.inputs == {"envs": ["a", "b"]}


def test_diff_reports_only_changed_inputs_and_their_replacements() -> None:
    olds = {"name": "a", "space": "Default", "computed": "x"}
    same = diff_inputs(olds, {"name": "a", "space": "Default"}, compared=["name", "space"], replacing=["space"])
    assert (same.changes, same.replaces) == (False, [])
    renamed = diff_inputs(olds, {"name": "b", "space": "Default"}, compared=["name", "space"], replacing=["space"])
    assert (renamed.changes, renamed.replaces, renamed.delete_before_replace) == (True, [], None)
    moved = diff_inputs(
        olds, {"name": "a", "space": UNKNOWN}, compared=["name", "space"], replacing=["space"],
        delete_before_replace=True,
    )
    assert (moved.changes, moved.replaces, moved.delete_before_replace) == (True, ["space"], True)


def test_unknowns_are_recognised_in_both_forms_and_inside_lists() -> None:
    from pulumi.output import Unknown

    assert is_unknown(Unknown()) and is_unknown(UNKNOWN) and is_unknown(["a", Unknown()])
    assert not is_unknown("Tenants-1") and not is_unknown(["a"]) and not is_unknown(None)


def test_a_resource_identity_comes_from_the_state_else_from_the_id() -> None:
    from components.octopus.inputs import resource_identity

    keys = ("space_id", "tenant_id")
    assert resource_identity("x", {"space_id": "Spaces-1", "tenant_id": "Tenants-2"}, keys, "S/T") == (
        "Spaces-1", "Tenants-2")
    assert resource_identity("Spaces-1/Tenants-3", {}, keys, "S/T") == ("Spaces-1", "Tenants-3")
    for bad in ("Spaces-1", "Spaces-1//", "a/b/c"):
        with pytest.raises(ValueError, match=r"is not an id of this resource \(S/T\)"):
            resource_identity(bad, {}, keys, "S/T")
