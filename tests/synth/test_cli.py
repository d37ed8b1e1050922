"""The README's main job, `python -m automation synth`, on a machine with no credentials at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from automation import synth
from automation.pulumi_cli import PROJECT_ROOT
from tests.synth import sample


def run_synth(*args: str, home: Path, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    """A fresh process with nothing but a PATH to Python: no AWS, Octopus or Pulumi settings.

    From `cwd` (the repository by default; the project is installed in the virtualenv, so
    `python -m automation` runs from any folder)."""
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(home),
        "PULUMI_HOME": str(home / "no-pulumi"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_CONFIG_FILE": str(home / "no-config"),
    }
    return subprocess.run(
        [sys.executable, "-m", "automation", "synth", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False,
    )


def test_the_main_job_shows_the_environment_and_how_to_create_it(tmp_path: Path) -> None:
    done = run_synth("ryan0001", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    first, *_ = done.stdout.splitlines()
    assert first.startswith("phoenix · stack ryan0001") and "nothing was created" in first
    assert "Group phoenix-fleet-asg  [aws:autoscaling/group:Group]" in done.stdout
    assert done.stdout.rstrip().endswith("phoenix create ryan0001")
    assert not (tmp_path / "no-pulumi").exists(), "synth must not set up a Pulumi home"


def test_json_to_a_file_is_the_document_the_golden_test_compares(tmp_path: Path) -> None:
    target = tmp_path / "out" / "ryan0001.json"
    target.parent.mkdir()
    done = run_synth("ryan0001", "--version", sample.VERSION, "--json", "--output", str(target),
                     home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert target.read_text(encoding="utf-8") == synth.render(sample.synthesize(), "json")
    assert json.loads(target.read_text(encoding="utf-8"))["stack"] == "ryan0001"


def test_bad_input_exits_2_naming_the_key_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "never.json"
    done = run_synth("ryan0001", "--set", "phoenix:network.nat=sometimes", "--format", "json",
                     "--output", str(target), home=tmp_path)
    assert done.returncode == 2
    assert "phoenix:network.nat" in done.stderr and "sometimes" in done.stderr
    assert "Traceback" not in done.stderr
    assert not target.exists()


def test_an_output_into_a_missing_folder_is_bad_input_and_creates_nothing(tmp_path: Path) -> None:
    done = run_synth("ryan0001", "--json", "--output", "typo/ryan0001.json", home=tmp_path, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: --output {tmp_path / 'typo' / 'ryan0001.json'}: the folder ")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "typo").exists()


def test_json_and_another_format_at_once_are_refused(tmp_path: Path) -> None:
    done = run_synth("ryan0001", "--json", "--format", "mermaid", home=tmp_path)
    assert done.returncode == 2 and "--json and --format mermaid" in done.stderr
