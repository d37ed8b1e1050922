"""Doctor tests: every check against the Octopus emulator, moto for AWS, the real Pulumi CLI.

Each test builds its context the way `python -m automation doctor` does (the
project's stacks/defaults.yaml plus --set overrides, secrets from the
environment), with the Octopus names pinned here so the tests do not depend
on the organisation's defaults.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from pathlib import Path
from typing import Callable, Optional, Sequence

import pytest

from automation import doctor
from automation.pulumi_cli import PROJECT_ROOT
from automation.stacks import Options, Session
from tests.octopus_emulator import OctopusEmulator
from tests.octopus_emulator.fixtures import TEST_API_KEY, TEST_REGISTRATION_KEY

PROJECT = "Phoenix Web"
ENVIRONMENT = "Feature"
ROLE = "web"
POLICY = "Feature environments"
FEATURE = "ryan0001"
VERSION = "1.0.0-ryan0001"

#: Everything from outside that a check reads; each test starts without any of it.
_OUTSIDE = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_S3",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "OCTOPUS_API_KEY", "OCTOPUS_REGISTRATION_API_KEY",
    "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL",
    "PULUMI_ACCESS_TOKEN", "PHOENIX_DEFAULTS", "PHOENIX_WORK_DIR",
    "PULUMI_HOME", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "PULUMI_IGNORE_AMBIENT_PLUGINS",
    "PULUMI_ENABLE_LEGACY_PLUGIN_SEARCH",
)


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials, keys or passphrase leak in from the machine running the tests."""
    for variable in _OUTSIDE:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-absent"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def sdk_plugin(package: str) -> tuple[str, str]:
    """(name, version) from the pulumi-plugin.json an installed provider SDK carries."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    document = json.loads((Path(spec.submodule_search_locations[0]) / "pulumi-plugin.json").read_text())
    return document["name"], document["version"]


def install_plugin(home: Path, name: str, version: str) -> Path:
    """A resource plugin where `pulumi plugin ls` finds one: $PULUMI_HOME/plugins/resource-NAME-vVERSION/.

    The binary is a stand-in that fails if run; doctor only asks the CLI what is installed.
    """
    folder = home / "plugins" / f"resource-{name}-v{version}"
    folder.mkdir(parents=True)
    binary = folder / f"pulumi-resource-{name}"
    binary.write_text("#!/bin/sh\necho 'a stand-in plugin' >&2\nexit 1\n")
    binary.chmod(0o755)
    return folder


@pytest.fixture
def plugin_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty PULUMI_HOME of the test's own; engine_env (and so `pulumi plugin ls`) uses it."""
    home = tmp_path / "pulumi-home"
    home.mkdir()
    monkeypatch.setenv("PULUMI_HOME", str(home))
    return home


@pytest.fixture
def phoenix_plugins(plugin_home: Path) -> Path:
    """A PULUMI_HOME holding the provider plugins the phoenix program needs."""
    install_plugin(plugin_home, *sdk_plugin("pulumi_aws"))
    return plugin_home


#: The templates the repository's defaults give the feature tenant values for.
TEMPLATES = ("Phoenix.Url", "Phoenix.Feature", "Phoenix.PackageVersion")


@pytest.fixture
def ready_octopus(octopus_emulator: OctopusEmulator) -> OctopusEmulator:
    """An Octopus set up the way a feature environment needs it."""
    emu = octopus_emulator
    emu.seed_project(PROJECT)
    emu.seed_environment(ENVIRONMENT)
    emu.seed_machine_policy(POLICY, delete_unavailable_after=timedelta(minutes=20))
    emu.seed_trigger(PROJECT, environments=[ENVIRONMENT], roles=[ROLE])
    emu.seed_release(PROJECT, VERSION)
    for template in TEMPLATES:
        emu.seed_project_template(PROJECT, template)
    return emu


ContextFactory = Callable[..., doctor.DoctorContext]
SessionFactory = Callable[..., Session]


@pytest.fixture
def make_session(
    octopus_emulator: OctopusEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> SessionFactory:
    """`make_session(*overrides, api_key=..., ...)`: the session a command gets, Octopus names pinned."""

    def make(
        *overrides: str,
        api_key: Optional[str] = TEST_API_KEY,
        registration_key: Optional[str] = TEST_REGISTRATION_KEY,
        backend: Optional[str] = None,
        server_url: Optional[str] = None,
    ) -> Session:
        for variable, value in (
            ("OCTOPUS_API_KEY", api_key), ("OCTOPUS_REGISTRATION_API_KEY", registration_key),
        ):
            if value is None:
                monkeypatch.delenv(variable, raising=False)
            else:
                monkeypatch.setenv(variable, value)
        pinned = (
            f"octopus:serverUrl={server_url or octopus_emulator.url}",
            f"phoenix:octopus.project={PROJECT}",
            f"phoenix:octopus.environment={ENVIRONMENT}",
            f"phoenix:octopus.roles=[{ROLE}]",
            f"phoenix:octopus.machinePolicy={POLICY}",
            "octopus:space=Default",
            "aws:region=eu-west-1",
        )
        options = Options(
            work_dir=PROJECT_ROOT,
            backend=backend or f"file://{tmp_path / 'state'}",
            overrides=pinned + tuple(overrides),
        )
        return Session(options, log=lambda line: None)

    return make


@pytest.fixture
def make_context(make_session: SessionFactory) -> ContextFactory:
    """`make_context(*overrides, feature=..., api_key=..., ...)`: a doctor context as the CLI builds it."""

    def make(
        *overrides: str,
        feature: Optional[str] = FEATURE,
        version: Optional[str] = VERSION,
        **session_options: Optional[str],
    ) -> doctor.DoctorContext:
        session = make_session(*overrides, **session_options)
        return doctor.context_for_doctor(session, feature, version)

    return make


def check_named(checks: Sequence[doctor.Check], name: str) -> doctor.Check:
    found = [check for check in checks if check.name == name]
    assert len(found) == 1, f"expected one {name} check in {[c.name for c in checks]}"
    return found[0]


def run_one(ctx: doctor.DoctorContext, name: str) -> doctor.Check:
    """Run one check (and what it needs); its result."""
    return check_named(doctor.run_checks(ctx, only=[name]), name)


def assert_named(text: str, *names: str) -> None:
    for name in names:
        assert name in text, f"{name!r} missing from {text!r}"
