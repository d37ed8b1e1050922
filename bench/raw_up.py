"""The baseline `create` is measured against: a bare Automation API `up` of the Octopus test project.

No feature parsing, no defaults file, no preflight, no stack-config rebuild:
select or create the stack, set its config, `up`. Run as a module so it pays
the same interpreter start-up as `python -m automation`:

    python -m bench.raw_up --work-dir DIR --server-url URL --project P --environment E FEATURE=VERSION ...

with PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE and OCTOPUS_API_KEY in the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence


def stack(work_dir: Path, env: Mapping[str, str], feature: str, *, program: Optional[Any] = None) -> Any:
    """The feature's stack of the test project (created when absent), with an inline program."""
    from pulumi import automation as auto

    from automation import pulumi_cli
    from tests.engine.projects.octopus.program import PROJECT_NAME
    from tests.engine.projects.octopus.program import program as octopus_program

    return auto.create_or_select_stack(
        stack_name=feature,
        project_name=PROJECT_NAME,
        program=program or octopus_program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            pulumi_command=pulumi_cli.pulumi_command(),
            env_vars=dict(env),
            secrets_provider="passphrase",
        ),
    )


def up(work_dir: Path, env: Mapping[str, str], feature: str, config: Mapping[str, Any]) -> Any:
    """`up` one feature's stack of the test project; the Automation API's UpResult."""
    selected = stack(work_dir, env, feature)
    selected.set_all_config(dict(config))
    return selected.up(color="never")


def main(argv: Optional[Sequence[str]] = None) -> int:
    from tests.engine.projects.octopus.program import stack_config

    parser = argparse.ArgumentParser(prog="python -m bench.raw_up", description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--environment", required=True)
    parser.add_argument("--tenant-variables", default="{}", help="the tenantVariables section, as JSON")
    parser.add_argument("features", nargs="+", metavar="FEATURE=VERSION")
    args = parser.parse_args(argv)
    api_key = os.environ["OCTOPUS_API_KEY"]
    for item in args.features:
        feature, _, version = item.partition("=")
        config = stack_config(
            server_url=args.server_url, api_key=api_key, feature=feature, package_version=version,
            project=args.project, environment=args.environment,
            tenant_variables=json.loads(args.tenant_variables),
        )
        up(args.work_dir, os.environ, feature, config)
    return 0


def argv_for(box: Any, features: Mapping[str, str]) -> list[str]:
    """The command line that ups `features` ({feature: version}) in a sandbox."""
    return [
        sys.executable, "-m", "bench.raw_up", "--work-dir", str(box.work_dir),
        "--server-url", box.emulator.url, "--project", box.names.project,
        "--environment", box.names.environment, "--tenant-variables", json.dumps(box.template_names()),
        *(f"{feature}={version}" for feature, version in features.items()),
    ]


if __name__ == "__main__":
    sys.exit(main())
