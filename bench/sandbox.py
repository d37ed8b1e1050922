"""A private world for one benchmark: the Octopus emulator, the Octopus test project, a state backend.

Everything lives in a temporary folder and on 127.0.0.1. The command line
runs against it exactly as the end-to-end tests drive it: a subprocess with
`--work-dir`, a defaults file (PHOENIX_DEFAULTS) whose `octopus.serverUrl` is
the emulator, and the backend and passphrase in the environment. The backend
is a folder, or (`sandbox(s3=True)`) a bucket of moto's S3 server reached
through a fault proxy, with a runner identity holding only the README's policy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

from automation import pulumi_cli
from automation.config import DEFAULTS_FILE
from bench.timing import CommandFailed
from tests.engine.projects.octopus.program import copy_project
from tests.octopus_emulator import OctopusEmulator
from tests.octopus_emulator.ready import REGISTRATION_ONLY, octopus_names
from tests.s3_emulator import FaultProxy, Identity, S3Emulator, backend_url, readme_policy

PASSPHRASE = "phoenix-bench-passphrase"
API_KEY = "API-BENCHMARKKEY000000000000001"
#: The key instances register with; its user may only register and delete machines.
REGISTRATION_KEY = "API-BENCHMARKREGISTRATION00001"

#: Variables of the caller's shell that would steer the command line elsewhere.
_OUTSIDE = ("GITHUB_STEP_SUMMARY", "PHOENIX_WORK_DIR", "PHOENIX_DEFAULTS", "CI", "PHOENIX_DEBUG",
            "PULUMI_CONFIG_PASSPHRASE_FILE", "OCTOPUS_REGISTRATION_API_KEY", "OCTOPUS_URL")


@dataclass(frozen=True)
class S3State:
    """A sandbox's S3 backend: moto's server, the fault proxy the runners reach it through, their identity."""

    emulator: S3Emulator
    proxy: FaultProxy
    identity: Identity

    @property
    def url(self) -> str:
        return backend_url(self.proxy.url)


class Sandbox:
    """One emulator, one project copy, one backend; `cli()` runs `python -m automation` in it."""

    def __init__(self, root: Path, emulator: OctopusEmulator, s3: Optional[S3State] = None) -> None:
        self.root = root
        self.emulator = emulator
        self.s3 = s3
        self.state_dir = root / "state"
        self.state_dir.mkdir()
        self.work_dir = copy_project(root / "project")
        self.defaults = root / "defaults.yaml"
        document = yaml.safe_load((pulumi_cli.PROJECT_ROOT / DEFAULTS_FILE).read_text(encoding="utf-8"))
        document["octopus"]["serverUrl"] = emulator.url
        document["fleet"]["amiId"] = "ami-0123456789abcdef0"  # no AWS part: create asks EC2 for no image
        self.defaults.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        self.names = octopus_names(document)

    @property
    def backend_url(self) -> str:
        return self.s3.url if self.s3 else f"file://{self.state_dir}"

    @property
    def env(self) -> dict[str, str]:
        """What CI exports: backend, passphrase, API and registration keys; no AWS credentials (there is no AWS here)."""
        env = pulumi_cli.engine_env(self.work_dir)
        for name in list(env):
            if name in _OUTSIDE or name.startswith("AWS_"):
                env.pop(name)
        env.update(
            PULUMI_BACKEND_URL=self.backend_url,
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            OCTOPUS_API_KEY=self.emulator.api_key,
            OCTOPUS_REGISTRATION_API_KEY=REGISTRATION_KEY,
            PHOENIX_DEFAULTS=str(self.defaults),
            AWS_SHARED_CREDENTIALS_FILE=str(self.root / "no-aws-credentials"),
            AWS_CONFIG_FILE=str(self.root / "no-aws-config"),
            AWS_EC2_METADATA_DISABLED="true",
        )
        if self.s3:
            env.update(self.s3.identity.env())
        return env

    def cli_argv(self, command: str, *args: str) -> list[str]:
        return [sys.executable, "-m", "automation", command, *args, "--work-dir", str(self.work_dir)]

    def cli(self, command: str, *args: str, check: bool = True, timeout: float = 600,
            env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
        done = subprocess.run(
            self.cli_argv(command, *args), env=env or self.env, cwd=pulumi_cli.PROJECT_ROOT, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout,
        )
        if check and done.returncode != 0:
            raise CommandFailed(f"automation {command} {' '.join(args)} exited {done.returncode}: {done.stderr[-1500:]}")
        return done

    # -- what exists ------------------------------------------------------------------

    def stacks(self) -> set[str]:
        """Stacks the backend holds (a removed stack leaves only a .bak)."""
        if self.s3:
            from tests.engine.projects.octopus.program import PROJECT_NAME

            return self.s3.emulator.stacks(PROJECT_NAME)
        return {path.stem for path in self.state_dir.glob(".pulumi/stacks/*/*.json")}

    def stack_config_files(self) -> list[Path]:
        return sorted(self.work_dir.glob("Pulumi.*.yaml"))

    def overrides(self) -> list[dict]:
        return list(self.emulator.project(self.names.project).get("AutoDeployReleaseOverrides") or [])

    # -- seeding ----------------------------------------------------------------------

    def seed_releases(self, *versions: str) -> None:
        for version in versions:
            self.emulator.seed_release(self.names.project, version)

    def ready_for_preflight(self) -> None:
        """What doctor's Octopus checks look for: the policy and the auto-deploy trigger (templates are seeded)."""
        self.emulator.seed_machine_policy(self.names.machine_policy, delete_unavailable_after=timedelta(minutes=20))
        self.emulator.seed_trigger(self.names.project, environments=[self.names.environment], roles=list(self.names.roles))

    def template_names(self) -> dict[str, str]:
        """builtin -> template name, as the defaults file names them ({"url": "Phoenix.Url", ...})."""
        document = yaml.safe_load(self.defaults.read_text(encoding="utf-8"))
        section = document["octopus"].get("tenantVariables") or {}
        return {key: section[key] for key in ("url", "feature", "packageVersion") if section.get(key)}

    def seed_templates(self) -> None:
        """The project variable templates the defaults file gives the feature tenant values for."""
        for name in self.template_names().values():
            self.emulator.seed_project_template(self.names.project, name)

    def stack_config(self, feature: str, version: str, **extra: Any) -> dict[str, Any]:
        """The Automation API config of the test project for a raw (CLI-less) run."""
        from tests.engine.projects.octopus.program import stack_config

        extra.setdefault("tenant_variables", self.template_names())  # as the defaults file gives them
        return stack_config(
            server_url=self.emulator.url, api_key=self.emulator.api_key, feature=feature,
            package_version=version, project=self.names.project, environment=self.names.environment,
            **extra,
        )


@contextmanager
def s3_state() -> Iterator[S3State]:
    """moto's S3 server with the state bucket, a fault proxy before it (no faults yet), a runner identity."""
    with S3Emulator() as emulator:
        emulator.reset()
        identity = emulator.runner("bench-runner", readme_policy())
        emulator.enforce_iam()
        with FaultProxy(emulator.endpoint) as proxy:
            yield S3State(emulator, proxy, identity)


@contextmanager
def sandbox(*, s3: bool = False) -> Iterator[Sandbox]:
    """A started, seeded emulator (the defaults' project and environment) and a fresh backend."""
    root = Path(tempfile.mkdtemp(prefix="phoenix-bench-"))
    try:
        with OctopusEmulator(api_key=API_KEY) as emulator, (s3_state() if s3 else nullcontext()) as state:
            emulator.add_api_key(REGISTRATION_KEY, username="tentacle-registrar", permissions=REGISTRATION_ONLY)
            box = Sandbox(root, emulator, state)
            emulator.seed_project(box.names.project)
            emulator.seed_environment(box.names.environment)
            box.seed_templates()
            yield box
    finally:
        shutil.rmtree(root, ignore_errors=True)
