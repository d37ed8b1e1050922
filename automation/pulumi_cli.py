"""Where the Pulumi CLI lives and the environment every engine run gets.

One place decides this so the CLI, the tests and the benchmarks run the engine
the same way: offline (no plugin downloads, no update check), with a
project-local PULUMI_HOME, and with dynamic providers started from this
project's virtualenv with the project importable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional

#: The CLI release scripts/install-pulumi builds; the `pulumi` SDK in
#: requirements.txt is pinned to the same release.
PULUMI_VERSION = "3.260.0"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTALL_ROOT = PROJECT_ROOT / ".pulumi"
INSTALL_HINT = "run scripts/install-pulumi (it builds the pinned CLI with Go, offline)"


class PulumiCliMissing(RuntimeError):
    """No usable Pulumi CLI: neither the project's install nor one on PATH."""


def installed_bin() -> Path:
    return INSTALL_ROOT / "bin"


def find_cli() -> Optional[Path]:
    """The project's own CLI when installed, else a `pulumi` on PATH, else None."""
    own = installed_bin() / "pulumi"
    if own.is_file() and os.access(own, os.X_OK):
        return own
    found = shutil.which("pulumi")
    return Path(found) if found else None


def cli_version(cli: Path) -> str:
    out = subprocess.run(
        [str(cli), "version"], capture_output=True, text=True, timeout=60,
        env=engine_env(),
    )
    return out.stdout.strip().lstrip("v")


def require_cli() -> Path:
    cli = find_cli()
    if cli is None:
        raise PulumiCliMissing(f"the Pulumi CLI was not found: {INSTALL_HINT}")
    return cli


def engine_env(
    work_dir: Optional[Path] = None, extra: Optional[Mapping[str, str]] = None
) -> dict[str, str]:
    """Environment for any `pulumi` process: offline, project-local home.

    PULUMI_PYTHON_CMD makes the dynamic-provider plugin script start this very
    interpreter (the project's virtualenv); PYTHONPATH lets that process import
    the provider classes that the state refers to by module.
    """
    env = dict(os.environ)
    home = Path(env.get("PULUMI_HOME") or INSTALL_ROOT / "home")
    home.mkdir(parents=True, exist_ok=True)
    cli = find_cli()
    path_parts = [str(cli.parent)] if cli else []
    path_parts.append(str(Path(sys.executable).parent))
    paths = [str(work_dir or PROJECT_ROOT)]
    if work_dir and Path(work_dir).resolve() != PROJECT_ROOT:
        paths.append(str(PROJECT_ROOT))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(
        {
            "PULUMI_HOME": str(home),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_PYTHON_CMD": sys.executable,
            "PYTHONPATH": os.pathsep.join(paths),
            "PATH": os.pathsep.join(path_parts + [env.get("PATH", "")]),
        }
    )
    # Nothing downloads at run time unless the caller opts in (set it to "false")
    # to let the CLI fetch a missing provider plugin such as pulumi-resource-aws.
    env.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
    # The Automation API skips its CLI version check when this is set at all.
    env.pop("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", None)
    env.pop("PULUMI_RUNTIME_VIRTUALENV", None)
    if extra:
        env.update(extra)
    return env


def pulumi_command():
    """A `PulumiCommand` for the Automation API, bound to the found CLI.

    Imported here, not at module level: `pulumi.automation` is heavy and
    `python -m automation --help` must stay fast.
    """
    from pulumi.automation import PulumiCommand

    cli = require_cli()
    return PulumiCommand(root=str(cli.parent.parent), skip_version_check=False)
