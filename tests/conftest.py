"""Fixtures shared by every test tier.

The Octopus emulator fixtures come from tests/octopus_emulator/fixtures.py; the
engine fixtures below give each test its own file backend and passphrase.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from automation import pulumi_cli

pytest_plugins = ["tests.octopus_emulator.fixtures"]

TEST_PASSPHRASE = "phoenix-test-passphrase"


@pytest.fixture(autouse=True)
def main_thread_event_loop():
    """Each test starts with its own current event loop on the main thread.

    Pulumi's mocks (`set_mocks`) take the main thread's current loop, and any
    earlier `asyncio.run()` leaves none behind, so without this a mocks test
    would pass alone and fail after an unrelated one.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture(autouse=True)
def no_octopus_key_from_the_shell(monkeypatch):
    """The providers prefer OCTOPUS_API_KEY to the stack config's key: a developer's own key
    must never reach a test (a test that wants one sets it)."""
    monkeypatch.delenv("OCTOPUS_API_KEY", raising=False)


@pytest.fixture(scope="session")
def pulumi_bin() -> Path:
    """The Pulumi CLI. In CI a missing CLI fails the run; locally it skips with the fix."""
    cli = pulumi_cli.find_cli()
    if cli is None:
        message = f"the Pulumi CLI is not installed: {pulumi_cli.INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return cli


@dataclass(frozen=True)
class Engine:
    """A private engine setup: file backend in a temp folder, passphrase secrets."""

    cli: Path
    backend_url: str
    env: dict[str, str]

    def workspace_options(self, work_dir: Path, **kwargs):
        from pulumi.automation import LocalWorkspaceOptions

        return LocalWorkspaceOptions(
            work_dir=str(work_dir),
            pulumi_command=pulumi_cli.pulumi_command(),
            env_vars=self.env,
            **kwargs,
        )


@pytest.fixture
def engine(tmp_path: Path, pulumi_bin: Path) -> Engine:
    state = tmp_path / "state"
    state.mkdir()
    backend_url = f"file://{state}"
    env = pulumi_cli.engine_env(
        extra={
            "PULUMI_BACKEND_URL": backend_url,
            "PULUMI_CONFIG_PASSPHRASE": TEST_PASSPHRASE,
        }
    )
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    env.pop("OCTOPUS_API_KEY", None)
    return Engine(cli=pulumi_bin, backend_url=backend_url, env=env)
