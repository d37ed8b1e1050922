"""Running the program under mocks: offline, isolated, secret-free, and strict about input."""

from __future__ import annotations

import contextvars
import re
import socket
import subprocess
import time
from typing import Any

import pulumi
import pytest

from automation import synth
from automation.config import ConfigError
from components.settings import SettingsError
from automation.synth.placeholders import REGISTRATION_MARKER
from tests.synth import sample

API_KEY = "API-SYNTHADMIN00000000000000000"
REGISTRATION_KEY = "API-SYNTHREGISTER000000000000000"


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("synth tried to reach the network or start a process")


def test_needs_no_network_credentials_octopus_or_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                     "OCTOPUS_API_KEY", "OCTOPUS_REGISTRATION_API_KEY", "PULUMI_ACCESS_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse)
    started = time.monotonic()
    synthesis = sample.synthesize()
    elapsed = time.monotonic() - started
    assert len([r for r in synthesis.resources if r.custom]) > 20
    assert elapsed < 30, f"synth took {elapsed:.1f}s"


def test_each_run_starts_fresh_and_leaves_no_state(synthesis: synth.Synthesis) -> None:
    other = sample.synthesize("bob0002", "2.1.0-bob0002")
    assert other.stack == "bob0002"
    assert "ryan0001" not in synth.render(other, "json")
    assert {(r.type, r.name) for r in other.resources if r.custom} == {
        (r.type, r.name) for r in synthesis.resources if r.custom
    }
    assert other.outputs["package_version"] == "2.1.0-bob0002"
    again = sample.synthesize()
    assert synth.render(again, "json") == synth.render(synthesis, "json")


def test_the_callers_pulumi_runtime_is_left_alone() -> None:
    """A test that set its own mocks keeps them: synth runs on its own thread and context."""

    class CallerMocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return f"{args.name}-id", args.inputs

        def call(self, args):
            return {}

    def caller() -> tuple[str, str, Any]:
        pulumi.runtime.set_mocks(CallerMocks(), project="caller-project", stack="caller-stack")
        root = pulumi.runtime.settings.get_root_resource()
        synthesis = sample.synthesize()
        assert synthesis.stack == sample.FEATURE
        return (pulumi.get_project(), pulumi.get_stack(), pulumi.runtime.settings.get_root_resource() is root)

    assert contextvars.copy_context().run(caller) == ("caller-project", "caller-stack", True)


def test_secrets_are_replaced_by_the_marker_everywhere() -> None:
    synthesis = sample.synthesize(
        environ={"OCTOPUS_API_KEY": API_KEY, "OCTOPUS_REGISTRATION_API_KEY": REGISTRATION_KEY}
    )
    for fmt in synth.FORMATS:
        text = synth.render(synthesis, fmt)
        assert API_KEY not in text and REGISTRATION_KEY not in text, fmt
    assert synthesis.config["octopus:apiKey"] == synth.SECRET_MARKER
    assert synthesis.config["octopus:registrationApiKey"] == REGISTRATION_MARKER
    parameter = synthesis.of_type("aws:ssm/parameter:Parameter")[0]
    assert parameter.inputs["value"] == synth.SECRET_MARKER
    assert parameter.inputs["type"] == "SecureString"


def test_synth_stands_in_for_the_registration_key_create_requires(synthesis: synth.Synthesis) -> None:
    assert synthesis.config["octopus:apiKey"] == synth.SECRET_MARKER
    assert synthesis.config["octopus:registrationApiKey"] == REGISTRATION_MARKER
    assert synth.masked_environ({"OCTOPUS_REGISTRATION_API_KEY": "  ", "HOME": "/root"}) == {
        "OCTOPUS_API_KEY": synth.SECRET_MARKER,
        "OCTOPUS_REGISTRATION_API_KEY": REGISTRATION_MARKER,
        "HOME": "/root",
    }


def test_a_secret_create_would_not_write_stays_absent() -> None:
    """With the org's opt-in and no registration key, create writes none, and synth shows the deploy key's use."""
    synthesis = sample.synthesize(overrides=["phoenix:octopus.shareDeployKeyWithInstances=true"])
    assert "octopus:registrationApiKey" not in synthesis.config
    assert synth.masked_environ({"OCTOPUS_REGISTRATION_API_KEY": "  "}, shares_deploy_key=True) == {
        "OCTOPUS_API_KEY": synth.SECRET_MARKER,
    }


def test_synth_refuses_the_deploy_key_as_registration_key_as_create_does() -> None:
    with pytest.raises(ConfigError) as caught:
        sample.synthesize(environ={"OCTOPUS_API_KEY": API_KEY, "OCTOPUS_REGISTRATION_API_KEY": API_KEY})
    assert caught.value.key == "OCTOPUS_REGISTRATION_API_KEY" and API_KEY not in str(caught.value)


def test_values_only_aws_knows_are_marked_placeholders(synthesis: synth.Synthesis) -> None:
    zones = {subnet.inputs["availabilityZone"] for subnet in synthesis.of_type("aws:ec2/subnet:Subnet")}
    assert zones == {"<az-1>", "<az-2>"}
    template = synthesis.of_type("aws:ec2/launchTemplate:LaunchTemplate")[0]
    assert template.inputs["imageId"] == synth.PLACEHOLDER_IMAGE
    group = synthesis.of_type("aws:autoscaling/group:Group")[0]
    assert group.inputs["launchTemplate"] == {
        "id": "<LaunchTemplate:phoenix-fleet-lt.id>",
        "version": "<LaunchTemplate:phoenix-fleet-lt.latestVersion>",
    }
    assert synthesis.outputs["url"] == "http://<LoadBalancer:phoenix-fleet-alb.dnsName>"
    values = sample.flatten(sample.document(synthesis)).values()
    assert not [value for value in values if value is None or value == "None"]
    text = synth.render(synthesis, "json")
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", text), "a random id reached the document"


def test_a_configured_ami_replaces_the_placeholder() -> None:
    synthesis = sample.synthesize(overrides=["phoenix:fleet.amiId=ami-0123456789abcdef0"])
    template = synthesis.of_type("aws:ec2/launchTemplate:LaunchTemplate")[0]
    assert template.inputs["imageId"] == "ami-0123456789abcdef0"
    assert synthesis.outputs["image_id"] == "ami-0123456789abcdef0"


def test_bad_config_fails_naming_the_key_before_the_program_runs(synthesis: synth.Synthesis) -> None:
    ran: list[bool] = []
    config = {**synthesis.config, "phoenix:network": {"cidr": "10.20.0.0/16", "azCount": 2, "nat": "sometimes"}}
    with pytest.raises(SettingsError) as error:
        synth.synthesize(config, stack="ryan0001", program=lambda: ran.append(True))
    assert error.value.key == "phoenix:network.nat"
    assert ran == []


def test_a_bad_override_fails_like_create_would() -> None:
    with pytest.raises(ConfigError) as error:
        sample.synthesize(overrides=["phoenix:fleet.minSize=5"])
    assert "minSize" in str(error.value)


def test_input_errors_the_program_raises_keep_their_type(synthesis: synth.Synthesis) -> None:
    def program() -> None:
        raise SettingsError("phoenix:network.azCount", "the region offers only 1 zone")

    with pytest.raises(SettingsError, match="azCount"):
        synth.synthesize(synthesis.config, stack="ryan0001", program=program)


def test_a_failing_program_is_a_synth_error_and_the_next_run_is_clean(synthesis: synth.Synthesis) -> None:
    def program() -> None:
        import pulumi_aws as aws

        aws.ec2.Vpc("half", cidr_block="10.0.0.0/16")
        raise RuntimeError("boom")

    with pytest.raises(synth.SynthError, match="RuntimeError: boom"):
        synth.synthesize(synthesis.config, stack="ryan0001", program=program)
    assert synth.render(sample.synthesize(), "json") == synth.render(synthesis, "json")


def test_a_data_source_synth_cannot_answer_is_named(synthesis: synth.Synthesis) -> None:
    def program() -> None:
        import pulumi_aws as aws

        aws.ec2.get_vpc(default=True)

    with pytest.raises(synth.SynthError, match="aws:ec2/getVpc:getVpc"):
        synth.synthesize(synthesis.config, stack="ryan0001", program=program)


def test_an_unknown_format_is_refused(synthesis: synth.Synthesis) -> None:
    with pytest.raises(ValueError, match="tree, json, mermaid"):
        synth.render(synthesis, "yaml")
