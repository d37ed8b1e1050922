"""shellcheck on the Linux script and on the userdata that carries it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap.render import render_userdata, script_source
from tests.bootstrap.samples import sample_settings

INSTALL_HINT = "apt-get update && apt-get install -y shellcheck"


def shellcheck(text: str, tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    binary = shutil.which("shellcheck")
    if binary is None:
        pytest.fail(f"shellcheck is not installed: {INSTALL_HINT}")
    path = tmp_path / name
    path.write_text(text)
    return subprocess.run([binary, "--shell=bash", "--severity=style", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_linux_script_is_shellcheck_clean(tmp_path: Path) -> None:
    done = shellcheck(script_source("linux"), tmp_path, "bootstrap.sh")

    assert done.returncode == 0, done.stdout + done.stderr


def test_rendered_userdata_is_shellcheck_clean(tmp_path: Path) -> None:
    done = shellcheck(render_userdata(sample_settings(tenant="O'Brien $(x)"), "linux"), tmp_path, "userdata")

    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_does_flag_an_unquoted_expansion(tmp_path: Path) -> None:
    done = shellcheck('#!/bin/bash\nrm -rf $1/cache\n', tmp_path, "bad.sh")

    assert done.returncode != 0 and "SC2086" in done.stdout
