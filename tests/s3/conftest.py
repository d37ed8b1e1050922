"""The S3 tier: phoenix's command line on Pulumi's S3 backend (moto in server mode), as separate CI runners.

Each runner is a process with its own copy of the Octopus-only test project
and its own PULUMI_HOME, holding only the README's IAM policy on the bucket;
moto checks every request's signature and policy. Nothing tells phoenix it
talks to an emulator: the backend URL (endpoint, path style) and the
environment (credentials, region) are all that differ from a real bucket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from automation import pulumi_cli
from automation.pulumi_cli import PROJECT_ROOT
from tests.conftest import TEST_PASSPHRASE
from tests.engine.projects.octopus.program import PROJECT_NAME, copy_project
from tests.engine.test_cli_end_to_end import Cli, seed_octopus
from tests.octopus_emulator.fixtures import TEST_REGISTRATION_KEY
from tests.s3_emulator import Identity, S3Emulator, backend_url, readme_policy
from tests.s3_emulator.fixtures import s3_emulator, s3_proxy, s3_server  # noqa: F401 - fixtures


#: Variables of the caller's shell that would steer a runner elsewhere.
_OUTSIDE = ("GITHUB_STEP_SUMMARY", "PHOENIX_WORK_DIR", "PHOENIX_DEFAULTS", "CI", "PHOENIX_DEBUG",
            "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL")


@dataclass
class Runner(Cli):
    """One CI runner: `python -m automation` with its own work dir and PULUMI_HOME."""

    s3: Optional[S3Emulator] = None
    name: str = ""

    def has_stack(self, name: str) -> bool:
        assert self.s3 is not None
        return name in self.s3.stacks(PROJECT_NAME)


@dataclass
class World:
    """The bucket, Octopus, and a runner identity limited to the README's policy."""

    s3: S3Emulator
    octopus: object
    identity: Identity
    root: Path
    runners: list[Runner] = field(default_factory=list)

    def env(self, home: Path, endpoint: Optional[str] = None) -> dict[str, str]:
        env = {k: v for k, v in pulumi_cli.engine_env().items() if k not in _OUTSIDE and not k.startswith("AWS_")}
        env.update(self.identity.env())
        env.update(
            PULUMI_HOME=str(home),
            PULUMI_BACKEND_URL=backend_url(endpoint or self.s3.endpoint),
            PULUMI_CONFIG_PASSPHRASE=TEST_PASSPHRASE,
            OCTOPUS_API_KEY=self.octopus.api_key,
            OCTOPUS_REGISTRATION_API_KEY=TEST_REGISTRATION_KEY,
            AWS_SHARED_CREDENTIALS_FILE=str(self.root / "no-aws-credentials"),
            AWS_CONFIG_FILE=str(self.root / "no-aws-config"),
            AWS_EC2_METADATA_DISABLED="true",
            PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")]),
        )
        return env

    def runner(self, name: str, *, endpoint: Optional[str] = None, **env: str) -> Runner:
        """A runner that has never seen any stack: a fresh work dir and PULUMI_HOME."""
        root = self.root / name
        work_dir = copy_project(root / "project")
        runner = Runner(work_dir, {**self.env(root / "pulumi-home", endpoint), **env}, self.octopus,
                        root / "no-file-state", s3=self.s3, name=name)
        self.runners.append(runner)
        return runner


@pytest.fixture
def world(s3_emulator: S3Emulator, octopus_emulator, tmp_path: Path, pulumi_bin) -> World:
    seed_octopus(octopus_emulator)
    identity = s3_emulator.runner("ci-runner", readme_policy())
    s3_emulator.enforce_iam()
    return World(s3_emulator, octopus_emulator, identity, tmp_path)
