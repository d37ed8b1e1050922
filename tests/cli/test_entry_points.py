"""`phoenix` three ways (scripts/phoenix, the installed console script, python -m automation), from any folder.

Relative paths are read from the caller's folder: a defaults file named relatively must be
the one beside the caller, never one in the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from automation import __version__
from automation.pulumi_cli import PROJECT_ROOT

ENTRY_POINTS = {
    "scripts/phoenix": [str(PROJECT_ROOT / "scripts" / "phoenix")],
    "console script": [str(Path(sys.executable).parent / "phoenix")],
    "python -m automation": [sys.executable, "-m", "automation"],
}


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PHOENIX_", "OCTOPUS_", "PULUMI_", "GITHUB_")) and key not in ("PYTHONPATH", "CI")}
    return subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_each_entry_point_runs_from_another_folder_and_reads_paths_from_there(name: str, tmp_path: Path) -> None:
    command = ENTRY_POINTS[name]
    version = run([*command, "--version"], tmp_path)
    assert version.returncode == 0, version.stderr[-2000:]
    assert version.stdout.splitlines()[0] == f"phoenix {__version__}"

    (tmp_path / "mine.yaml").write_text((PROJECT_ROOT / "stacks" / "defaults.yaml").read_text()
                                        .replace("region: eu-west-1", "region: Mars North"))
    refused = run([*command, "synth", "ryan0001", "--defaults", "mine.yaml"], tmp_path)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert refused.stderr.startswith("error: mine.yaml: aws.region: 'Mars North'"), refused.stderr[-2000:]

    written = run([*command, "synth", "ryan0001", "--json", "--output", "out.json"], tmp_path)
    assert written.returncode == 0, written.stderr[-2000:]
    assert (tmp_path / "out.json").is_file() and not (PROJECT_ROOT / "out.json").exists()
