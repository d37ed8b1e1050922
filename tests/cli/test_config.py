"""defaults.yaml + --set + environment -> the validated stack config (and where a bad value came from)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from automation import config
from automation.errors import ExitCode, InputError, classify
from automation.feature import parse_feature
from automation.pulumi_cli import PROJECT_ROOT

REPO_DEFAULTS = PROJECT_ROOT / "stacks" / "defaults.yaml"
API_KEY = "API-CONFIGTEST0000000000001"
REGISTRATION_KEY = "API-CONFIGREGISTRATION000001"
ENV = {"OCTOPUS_API_KEY": API_KEY, "OCTOPUS_REGISTRATION_API_KEY": REGISTRATION_KEY}
FEATURE = parse_feature("1.0.0-ryan0001")


def defaults_copy(tmp_path: Path, edit=None) -> Path:
    """A work dir whose stacks/defaults.yaml is the repository's, optionally edited."""
    document = yaml.safe_load(REPO_DEFAULTS.read_text())
    if edit:
        edit(document)
    target = tmp_path / "stacks" / "defaults.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(document))
    return target


def build(tmp_path: Path, overrides=(), edit=None, environ=ENV, version="1.0.0-ryan0001", runs_program=True):
    defaults_copy(tmp_path, edit)
    sources = config.load(tmp_path, overrides)
    return config.build(sources, FEATURE, package_version=version, environ=environ, runs_program=runs_program)


def test_the_repository_defaults_make_a_valid_stack_config(tmp_path: Path) -> None:
    stack = build(tmp_path)
    assert stack.values["aws:region"] == "eu-west-1"
    assert stack.values["phoenix:feature"] == "ryan0001"
    assert stack.values["phoenix:packageVersion"] == "1.0.0-ryan0001"
    assert stack.values["phoenix:ttl"] == "72h"
    assert stack.values["phoenix:octopus"]["project"] == "Phoenix Web"
    assert "serverUrl" not in stack.values["phoenix:octopus"], "lifted out to octopus:serverUrl"
    assert stack.values["octopus:serverUrl"] == "https://octopus.example.com"
    assert stack.secrets == {"octopus:apiKey": API_KEY, "octopus:registrationApiKey": REGISTRATION_KEY}
    assert stack.settings.package_version == "1.0.0-ryan0001"
    assert stack.sources["phoenix:network.nat"].endswith("defaults.yaml: network.nat")
    assert stack.sources["octopus:apiKey"] == "environment: OCTOPUS_API_KEY"


def test_work_dir_without_defaults_falls_back_to_the_repository(tmp_path: Path) -> None:
    assert config.defaults_path(tmp_path) == REPO_DEFAULTS.resolve()
    own = defaults_copy(tmp_path)
    assert config.defaults_path(tmp_path) == own.resolve()
    explicit = tmp_path / "elsewhere.yaml"
    assert config.defaults_path(tmp_path, str(explicit)) == explicit.resolve()


def test_overrides_are_typed_like_the_value_they_replace(tmp_path: Path) -> None:
    stack = build(
        tmp_path,
        [
            "phoenix:fleet.maxSize=3",
            "phoenix:fleet.amiId=ami-0123456789abcdef0",
            "phoenix:octopus.roles=[web, api]",
            "phoenix:octopus.adoptExistingTenant=true",
            "phoenix:tags.team=007",  # a new key: stays text, as a tag value must
            "aws:region=us-east-1",
        ],
    )
    fleet = stack.values["phoenix:fleet"]
    assert fleet["maxSize"] == 3 and fleet["amiId"] == "ami-0123456789abcdef0"
    assert stack.values["phoenix:octopus"]["roles"] == ["web", "api"]
    assert stack.values["phoenix:octopus"]["adoptExistingTenant"] is True
    assert stack.values["phoenix:tags"] == {"team": "007"}
    assert stack.values["aws:region"] == "us-east-1"
    assert stack.sources["aws:region"] == "--set: aws:region"


def test_a_new_key_stays_text_unless_plainly_a_flag_or_collection(tmp_path: Path) -> None:
    defaults_copy(tmp_path)
    sources = config.load(
        tmp_path, ["phoenix:tags.team=007", "phoenix:tags.cost=7", "phoenix:x.flag=true", "phoenix:x.list=[a, b]"]
    )
    assert sources.values["phoenix:tags"] == {"team": "007", "cost": "7"}
    assert sources.values["phoenix:x"] == {"flag": True, "list": ["a", "b"]}
    assert sources.origin("phoenix:tags.team") == ("--set", "phoenix:tags.team")
    assert sources.origin("phoenix:network.nat")[1] == "network.nat"
    assert sources.origin("phoenix:fleet.listenerCidrs[0]")[1] == "fleet.listenerCidrs[0]"


def test_objects_are_written_as_objects_and_secrets_never_as_plain(tmp_path: Path) -> None:
    stack = build(tmp_path)
    document = json.loads(stack.plain_json())
    assert document["phoenix:network"]["objectValue"] == stack.values["phoenix:network"]
    assert json.loads(document["phoenix:network"]["value"]) == stack.values["phoenix:network"]
    assert document["phoenix:octopus"]["objectValue"]["adoptExistingTenant"] is False
    assert document["phoenix:ttl"] == {"value": "72h", "secret": False}
    assert "octopus:apiKey" not in document
    assert API_KEY not in stack.plain_json()
    assert API_KEY not in repr(stack)
    assert stack.flat()["octopus:apiKey"] == API_KEY
    assert stack.keys() >= {"octopus:apiKey", "phoenix:network", "aws:region"}


def test_the_optional_registration_key_comes_from_its_own_variable(tmp_path: Path) -> None:
    stack = build(tmp_path, environ={**ENV, "OCTOPUS_REGISTRATION_API_KEY": "API-REGISTRATION000000001"})
    assert stack.secrets["octopus:registrationApiKey"] == "API-REGISTRATION000000001"
    assert "API-REGISTRATION" not in repr(stack)


@pytest.mark.parametrize(
    ("overrides", "edit", "source", "key", "reason"),
    [
        ([], lambda d: d["network"].update(nat="double"), "stacks/defaults.yaml", "network.nat", "not one of"),
        (["phoenix:network.nat=double"], None, "--set", "phoenix:network.nat", "not one of"),
        ([], lambda d: d["fleet"].update(minSize="one"), "stacks/defaults.yaml", "fleet.minSize", "whole number"),
        ([], lambda d: d["fleet"].update(listenerCidrs=["10.0.0.0/33"]), "stacks/defaults.yaml",
         "fleet.listenerCidrs[0]", "CIDR"),
        ([], lambda d: d["fleet"].update(minSize=3), "stacks/defaults.yaml", "fleet.minSize", "greater than maxSize"),
        ([], lambda d: d["network"].update(cidr="10.20.0.0/33"), "stacks/defaults.yaml", "network.cidr", "CIDR"),
        ([], lambda d: d["network"].update(azCount=0), "stacks/defaults.yaml", "network.azCount", "2 to 6"),
        ([], lambda d: d["fleet"].update(color="blue"), "stacks/defaults.yaml", "fleet.color", "unknown setting"),
        ([], lambda d: d["octopus"].pop("project"), "stacks/defaults.yaml", "octopus", "required but missing"),
        ([], lambda d: d["aws"].update(region="mars"), "stacks/defaults.yaml", "aws.region", "not an AWS region"),
        ([], lambda d: d["feature"].update(ttl="forever"), "stacks/defaults.yaml", "feature.ttl", "duration"),
        (["phoenix:colour=blue"], None, "--set", "phoenix:colour", "unknown setting"),
        (["phoenix:fleet.minSize=abc"], None, "--set", "phoenix:fleet.minSize", "whole number"),
    ],
)
def test_bad_values_name_their_file_or_flag_key_and_reason(tmp_path, overrides, edit, source, key, reason) -> None:
    with pytest.raises(config.ConfigError) as caught:
        build(tmp_path, overrides, edit)
    error = caught.value
    assert error.source.endswith(source)
    assert error.key.startswith(key)
    assert reason in error.reason
    assert str(error).startswith(error.source) and error.key in str(error)
    assert classify(error).code == ExitCode.BAD_INPUT


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("aws: [1, 2]\n", "aws", "must be a mapping"),
        ("network:\n  cidr: 10.0.0.0/16\ndatabase: {}\n", "database", "unknown section"),
        ("aws:\n  region: eu-west-1\n  profile: dev\n", "aws.profile", "unknown key"),
        ("feature:\n  owner: ryan\n", "feature.owner", "unknown key"),
        ("- just\n- a list\n", "", "mapping of sections"),
        ("aws:\n  region: [unclosed\n", "line", ""),
    ],
)
def test_defaults_file_structure_errors(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = tmp_path / "stacks" / "defaults.yaml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(config.ConfigError) as caught:
        config.load(tmp_path)
    assert caught.value.key.startswith(key)
    assert reason in caught.value.reason
    assert "defaults.yaml" in caught.value.source


def test_a_missing_defaults_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load(tmp_path, explicit_defaults=str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in caught.value.source and "not found" in caught.value.reason


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("octopus:apiKey=API-LEAK", "OCTOPUS_API_KEY"),
        ("octopus:registrationApiKey=API-LEAK", "OCTOPUS_REGISTRATION_API_KEY"),
        ("phoenix:feature=other", "FEATURE"),
        ("phoenix:packageVersion=1.0.0-x", "FEATURE"),
        ("region=eu-west-1", "namespaced"),
        ("aws:region", "KEY=VALUE"),
        ("=x", "KEY=VALUE"),
        ("phoenix:fleet..minSize=1", "namespaced"),
        ("phoenix:ttl.hours=3", "not an object"),
    ],
)
def test_bad_overrides(tmp_path: Path, item: str, needle: str) -> None:
    defaults_copy(tmp_path)
    with pytest.raises(config.ConfigError) as caught:
        config.load(tmp_path, [item])
    assert needle in str(caught.value)
    assert "API-LEAK" not in str(caught.value)


def test_a_missing_api_key_is_an_environment_error(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as caught:
        build(tmp_path, environ={"OCTOPUS_API_KEY": "   "})
    assert caught.value.source == "environment" and caught.value.key == "OCTOPUS_API_KEY"


def test_without_a_version_a_stand_in_is_validated_but_never_written(tmp_path: Path) -> None:
    stack = build(tmp_path, version=None)
    assert "phoenix:packageVersion" not in stack.values
    assert stack.settings.package_version == "0.0.0-ryan0001"


def test_a_version_of_another_feature_is_refused(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as caught:
        build(tmp_path, version="1.0.0-other01")
    assert caught.value.key == "phoenix:packageVersion"


# --- the package version from Octopus, over real HTTP -------------------------------------------


def sources_for(tmp_path: Path, emulator) -> config.Sources:
    defaults_copy(tmp_path)
    return config.load(tmp_path, [f"octopus:serverUrl={emulator.url}"])


def test_the_newest_release_naming_the_feature_is_found(tmp_path, octopus_emulator) -> None:
    octopus_emulator.seed_project("Phoenix Web")
    for version in ("1.0.0-ryan0001.2", "1.0.0-ryan0001.10", "1.0.0-other01", "9.9.9"):
        octopus_emulator.seed_release("Phoenix Web", version)
    found = config.find_package_version(
        sources_for(tmp_path, octopus_emulator), parse_feature("ryan0001"), octopus_emulator.api_key
    )
    assert found == "1.0.0-ryan0001.10"


def test_no_release_for_the_feature_is_a_clear_input_error(tmp_path, octopus_emulator) -> None:
    octopus_emulator.seed_project("Phoenix Web")
    octopus_emulator.seed_release("Phoenix Web", "1.0.0-other01")
    with pytest.raises(InputError) as caught:
        config.find_package_version(
            sources_for(tmp_path, octopus_emulator), parse_feature("ryan0001"), octopus_emulator.api_key
        )
    assert "ryan0001" in str(caught.value) and "--version" in str(caught.value)


def test_a_missing_project_is_named(tmp_path, octopus_emulator) -> None:
    with pytest.raises(InputError) as caught:
        config.find_package_version(
            sources_for(tmp_path, octopus_emulator), parse_feature("ryan0001"), octopus_emulator.api_key
        )
    assert "Phoenix Web" in str(caught.value)


def test_a_refused_key_is_bad_input_and_never_echoed(tmp_path, octopus_emulator) -> None:
    octopus_emulator.seed_project("Phoenix Web")
    wrong = "API-WRONGKEY00000000000001"
    with pytest.raises(Exception) as caught:
        config.find_package_version(sources_for(tmp_path, octopus_emulator), parse_feature("ryan0001"), wrong)
    failure = classify(caught.value)
    assert failure.code == ExitCode.BAD_INPUT
    assert wrong not in failure.message


def raw_defaults(tmp_path: Path, text: str) -> Path:
    """A work dir whose stacks/defaults.yaml is exactly `text` (the repository's, edited by hand)."""
    target = tmp_path / "stacks" / "defaults.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def refusal(tmp_path: Path, overrides=()) -> config.ConfigError:
    with pytest.raises(config.ConfigError) as raised:
        config.build(config.load(tmp_path, overrides), FEATURE, package_version="1.0.0-ryan0001", environ=ENV)
    assert classify(raised.value).code == ExitCode.BAD_INPUT
    return raised.value


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    text = REPO_DEFAULTS.read_text().replace("  nat: single", "  nat: single\n  nat: per_az", 1)
    raw_defaults(tmp_path, text)
    first = next(n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith("nat: single"))
    error = refusal(tmp_path)
    assert error.key == f"line {first + 1}"
    assert f"duplicate key 'nat' (also on line {first})" in error.reason


def test_a_section_given_twice_is_refused_too(tmp_path: Path) -> None:
    raw_defaults(tmp_path, REPO_DEFAULTS.read_text() + "\ntags:\n  owner: me\n")
    assert "duplicate key 'tags'" in refusal(tmp_path).reason


@pytest.mark.parametrize(("written", "read_as"), [("0x10", "16"), ("010", "8"), ("1_0", "10"), ("1:20", "80")])
def test_numbers_in_the_defaults_are_decimal_only(tmp_path: Path, written: str, read_as: str) -> None:
    raw_defaults(tmp_path, REPO_DEFAULTS.read_text().replace("  minSize: 1", f"  minSize: {written}", 1))
    error = refusal(tmp_path)
    assert error.key.startswith("line ") and f"{written!r} is not a decimal number" in error.reason
    assert f"would read it as {read_as}" in error.reason


def test_a_set_number_is_decimal_only_but_a_new_text_value_stays_text(tmp_path: Path) -> None:
    defaults_copy(tmp_path)
    error = refusal(tmp_path, ["phoenix:fleet.minSize=0x10"])
    assert (error.source, error.key) == ("--set", "phoenix:fleet.minSize")
    assert "'0x10' is not a decimal number" in error.reason
    stack = config.build(config.load(tmp_path, ["phoenix:tags.build=0x10"]), FEATURE,
                         package_version="1.0.0-ryan0001", environ=ENV)
    assert stack.values["phoenix:tags"] == {"build": "0x10"}


def test_a_defaults_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    target = raw_defaults(tmp_path, "")
    target.write_bytes(b"aws:\n  region: eu-west-1\n# caf\xe9\n")
    error = refusal(tmp_path)
    assert error.key == "line 3" and "not UTF-8" in error.reason and "0xe9" in error.reason


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_defaults_file_says_so_instead_of_blaming_a_setting(tmp_path: Path, text: str) -> None:
    raw_defaults(tmp_path, text)
    error = refusal(tmp_path)
    assert error.key == "" and "is empty" in error.reason and "aws:region" not in str(error)


def test_a_set_that_replaces_an_object_takes_the_blame_for_what_it_lacks(tmp_path: Path) -> None:
    defaults_copy(tmp_path)
    error = refusal(tmp_path, ["phoenix:fleet={}"])
    assert error.source == "--set" and error.key.startswith("phoenix:fleet.")
    assert "defaults.yaml" not in str(error)


@pytest.mark.parametrize(("tag", "bad"), [("line\nbreak", "\n"), ("$(id)", "$"), ("a;b", ";"), ("x`y", "`")])
def test_tags_follow_the_aws_tag_rules_at_input_time(tmp_path: Path, tag: str, bad: str) -> None:
    defaults_copy(tmp_path)
    error = refusal(tmp_path, [f"phoenix:tags.owner={tag}"])
    assert (error.source, error.key) == ("--set", "phoenix:tags.owner")
    assert f"holds {bad!r}" in error.reason and "AWS allows only" in error.reason
    fine = config.build(config.load(tmp_path, ["phoenix:tags.owner=Ryan O. <x>".replace(" <x>", ""),
                                               "phoenix:tags.cost-centre=ops/é:1+2=3@x_y"]),
                        FEATURE, package_version="1.0.0-ryan0001", environ=ENV)
    assert fine.values["phoenix:tags"]["cost-centre"] == "ops/é:1+2=3@x_y"


@pytest.mark.parametrize("registration", [None, API_KEY], ids=["missing", "the-deploy-key"])
def test_a_command_that_runs_the_program_refuses_instances_the_deploy_key(tmp_path: Path, registration) -> None:
    environ = {"OCTOPUS_API_KEY": API_KEY, **({"OCTOPUS_REGISTRATION_API_KEY": registration} if registration else {})}
    with pytest.raises(config.ConfigError) as caught:
        build(tmp_path, environ=environ)
    error = caught.value
    assert (error.source, error.key) == ("environment", "OCTOPUS_REGISTRATION_API_KEY")
    assert "shareDeployKeyWithInstances" in error.reason and API_KEY not in str(error)
    assert classify(error).code == ExitCode.BAD_INPUT
    opted_in = build(tmp_path, ["phoenix:octopus.shareDeployKeyWithInstances=true"], environ=environ)
    assert opted_in.settings.octopus.registration_key == API_KEY


def test_destroy_needs_no_registration_key_and_writes_none(tmp_path: Path) -> None:
    defaults_copy(tmp_path)
    stack = config.build(
        config.load(tmp_path), FEATURE, package_version="1.0.0-ryan0001",
        environ={"OCTOPUS_API_KEY": API_KEY}, runs_program=False,
    )
    assert stack.secrets == {"octopus:apiKey": API_KEY}
    assert config.REGISTRATION_STAND_IN not in json.dumps(stack.values) + json.dumps(stack.secrets)
