"""The pinned image: kept from the stack, looked up in EC2 only at first create, on --refresh-image or never.

EC2 is botocore's own client under its Stubber, which checks each request and
answer against the service model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from automation import image
from automation.config import ConfigError, load, parse_override
from automation.errors import InputError, OperationFailed
from automation.feature import parse_feature
from automation.stacks import Options, Session
from automation.summary import Output
from components.settings import IMAGE_KEY, parse_settings
from tests.unit.sample_config import sample_config

PATTERN = "al2023-ami-2023.*-x86_64"
OLD, NEW = "ami-0a1b2c3d4e5f60718", "ami-0fedcba9876543210"


def images_answer(*images: tuple[str, str, str]) -> dict[str, Any]:
    return {"Images": [{"ImageId": image_id, "Name": name, "CreationDate": created, "State": "available"}
                       for image_id, name, created in images]}


@pytest.fixture
def ec2() -> Any:
    return boto3.session.Session(aws_access_key_id="AKIAIMAGETEST0000000", aws_secret_access_key="s").client(
        "ec2", region_name="eu-west-1")


def expect_lookup(stub: Stubber, answer: dict[str, Any]) -> None:
    stub.add_response("describe_images", answer, {
        "Owners": ["amazon"],
        "Filters": [{"Name": "name", "Values": [PATTERN]}, {"Name": "state", "Values": ["available"]}],
    })


def newest(ec2: Any):
    return lambda: image.newest_image(region="eu-west-1", owners=("amazon",), name_pattern=PATTERN, client=ec2)


def test_the_newest_matching_image_is_chosen_by_creation_date(ec2) -> None:
    with Stubber(ec2) as stub:
        expect_lookup(stub, images_answer(
            (OLD, "al2023-ami-2023.6.20250107.0-kernel-6.1-x86_64", "2025-01-07T22:14:33.000Z"),
            (NEW, "al2023-ami-2023.7.20260301.0-kernel-6.1-x86_64", "2026-03-01T08:00:00.000Z"),
            ("ami-00000000000001234", "al2023-ami-2023.5.20240901.0-kernel-6.1-x86_64", "2024-09-01T00:00:00.000Z"),
        ))
        assert newest(ec2)() == (NEW, "al2023-ami-2023.7.20260301.0-kernel-6.1-x86_64")


def test_no_matching_image_is_bad_input_naming_the_pattern(ec2) -> None:
    with Stubber(ec2) as stub, pytest.raises(InputError) as caught:
        expect_lookup(stub, images_answer())
        newest(ec2)()

    assert f"no available image matches fleet.amiNamePattern {PATTERN!r} owned by amazon in eu-west-1" in str(caught.value)
    assert "fleet.amiId" in str(caught.value)


def test_aws_refusing_the_lookup_fails_the_run_with_its_reason(ec2) -> None:
    with Stubber(ec2) as stub, pytest.raises(OperationFailed, match="AWS refused DescribeImages .*UnauthorizedOperation"):
        stub.add_client_error("describe_images", service_error_code="UnauthorizedOperation",
                              service_message="You are not authorized to perform this operation.", http_status_code=403)
        newest(ec2)()


def refuse() -> tuple[str, str]:
    raise AssertionError("EC2 must not be asked")


def test_a_pinned_image_is_kept_and_ec2_is_not_asked() -> None:
    choice = image.choose(ami_id=None, pinned=OLD, refresh=False, newest=refuse)

    assert choice.image_id == OLD and "pinned in the stack" in choice.reason


def test_the_first_create_pins_the_newest() -> None:
    choice = image.choose(ami_id=None, pinned=None, refresh=False, newest=lambda: (NEW, "al2023-new"))

    assert choice == image.ImageChoice(NEW, f"pinning image {NEW} (al2023-new), the newest match")


def test_refresh_image_moves_the_pin_to_the_newest() -> None:
    moved = image.choose(ami_id=None, pinned=OLD, refresh=True, newest=lambda: (NEW, "al2023-new"))
    kept = image.choose(ami_id=None, pinned=NEW, refresh=True, newest=lambda: (NEW, "al2023-new"))

    assert moved.image_id == NEW and f"replacing {OLD}" in moved.reason
    assert kept.image_id == NEW and "still the newest" in kept.reason


def test_fleet_ami_id_decides_without_a_pin_or_a_lookup() -> None:
    choice = image.choose(ami_id=NEW, pinned=OLD, refresh=True, newest=refuse)

    assert choice.image_id is None and "fleet.amiId" in choice.reason


@pytest.mark.parametrize(
    ("outputs", "pinned"),
    [({"image_id": Output(value=OLD)}, OLD), ({}, None), ({"image_id": Output(value=None, secret=True)}, None),
     ({"image_id": Output(value="<ami-id>")}, None)],
)
def test_the_pin_is_read_from_the_stack_outputs(outputs, pinned) -> None:
    assert image.pinned_image(outputs) == pinned


class StackNotFoundError(Exception):
    """Named like the Automation API's, which is how the CLI recognises it."""


@dataclass
class FakeEngine:
    outputs_by_stack: dict[str, dict[str, Output]]
    new_backend: bool = False
    """A local file backend not made yet: `pulumi stack output` would fail on the missing folder."""

    def holds_no_stack(self) -> bool:
        return self.new_backend

    def outputs(self, name: str) -> dict[str, Output]:
        if self.new_backend:
            raise RuntimeError("unable to open state directory")
        if name not in self.outputs_by_stack:
            raise StackNotFoundError(f"no stack named {name!r} found")
        return self.outputs_by_stack[name]


@dataclass
class FakeSession:
    engine: FakeEngine


@pytest.mark.parametrize(
    ("stacks", "refresh", "expected"),
    [({}, False, NEW), ({"ryan0001": {"image_id": Output(value=OLD)}}, False, OLD),
     ({"ryan0001": {"image_id": Output(value=OLD)}}, True, NEW), ({"ryan0001": {}}, False, NEW)],
    ids=["no-stack", "pinned", "refresh", "stack-without-pin"],
)
def test_a_run_reads_the_pin_from_its_stack(monkeypatch, stacks, refresh, expected) -> None:
    asked: list[str] = []
    monkeypatch.setattr(image, "newest_image", lambda **kwargs: asked.append(kwargs["name_pattern"]) or (NEW, "new"))
    settings = parse_settings(sample_config({IMAGE_KEY: None}))

    choice = image.choose_for(FakeSession(FakeEngine(stacks)), parse_feature("ryan0001"), settings, refresh=refresh)

    assert choice.image_id == expected
    assert asked == ([] if expected == OLD else [PATTERN])


def test_the_first_create_on_a_new_local_backend_asks_ec2_without_reading_a_stack(monkeypatch) -> None:
    monkeypatch.setattr(image, "newest_image", lambda **kwargs: (NEW, "new"))
    settings = parse_settings(sample_config({IMAGE_KEY: None}))
    choice = image.choose_for(FakeSession(FakeEngine({}, new_backend=True)), parse_feature("ryan0001"), settings,
                              refresh=False)
    assert choice.image_id == NEW


def test_another_engine_error_is_not_taken_for_a_missing_stack() -> None:
    class Broken:
        def holds_no_stack(self) -> bool:
            return False

        def outputs(self, name: str) -> Any:
            raise RuntimeError("the backend is unreachable")

    with pytest.raises(RuntimeError, match="unreachable"):
        image.choose_for(FakeSession(Broken()), parse_feature("ryan0001"),  # type: ignore[arg-type]
                         parse_settings(sample_config()), refresh=False)


def test_the_chosen_image_is_written_to_the_stack_config(tmp_path) -> None:
    session = Session(Options(work_dir=tmp_path), environ={"OCTOPUS_API_KEY": "API-IMAGETEST000000000000000",
                                                             "OCTOPUS_REGISTRATION_API_KEY": "API-IMAGEREGISTRATION0000000"},
                      log=lambda line: None)

    config = session.stack_config(parse_feature("ryan0001"), "1.0.0-ryan0001", image_id=NEW)
    unpinned = session.stack_config(parse_feature("ryan0001"), "1.0.0-ryan0001")

    assert config.values[IMAGE_KEY] == NEW and config.settings.fleet.image_id == NEW
    assert IMAGE_KEY not in unpinned.values and unpinned.settings.fleet.image_id is None


def test_the_pin_cannot_be_set_by_hand() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_override(f"{IMAGE_KEY}={NEW}")

    assert "pinned by create (--refresh-image moves it)" in str(caught.value)
    assert "phoenix:fleet.amiId" in str(caught.value)
    with pytest.raises(ConfigError):
        load(Path("."), [f"{IMAGE_KEY}={NEW}"])


@pytest.mark.parametrize("command", ["create", "preview"])
def test_create_and_preview_take_refresh_image(command) -> None:
    from automation.cli import build_parser

    assert build_parser().parse_args([command, "ryan0001", "--refresh-image"]).refresh_image is True
    assert build_parser().parse_args([command, "ryan0001"]).refresh_image is False


def test_destroy_does_not_take_refresh_image(capsys) -> None:
    from automation.cli import build_parser

    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["destroy", "ryan0001", "--refresh-image"])
    assert caught.value.code == 2 and "--refresh-image" in capsys.readouterr().err


def test_the_image_look_up_refuses_to_search_without_owners(ec2) -> None:
    with Stubber(ec2):  # no answer queued: any call to AWS would fail the test with another error
        with pytest.raises(InputError) as caught:
            image.newest_image(region="eu-west-1", owners=(), name_pattern=PATTERN, client=ec2)
    assert "fleet.amiOwners" in str(caught.value) and "fleet.amiId" in str(caught.value)
