"""The README's "Try it locally" walkthrough, run as written: its commands, and the output it shows.

Every `$ ` line of the section's console block runs in one bash process from the repository
root, in a clean environment (no Octopus, AWS or Pulumi settings, no CI); the lines under a
command are what it must print. Compared after `normalize`: times, dates, temp folders, the
clone's path and column padding differ from run to run, and the engine's lines may come in
another order (it runs independent resources in parallel). The port is a free one, shown as 8065.
What `scripts/setup` and `scripts/install-pulumi` print depends on what is installed already
(the README shows a fresh clone), so only their exit codes are checked.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from automation.pulumi_cli import PROJECT_ROOT

pytestmark = pytest.mark.engine

README = PROJECT_ROOT / "README.md"
SECTION = "## Try it locally"
#: Commands whose output depends on the machine's state, not on phoenix.
INSTALLERS = ("./scripts/setup", "./scripts/install-pulumi")
#: Exit codes other than 0 the walkthrough shows (doctor: no AWS credentials on this machine).
EXPECTED_CODES = {"scripts/phoenix doctor ryan0001": 2}
README_PORT = "8065"


@dataclass
class Step:
    command: str
    expected: list[str]


def walkthrough(text: str) -> list[Step]:
    """The `$ ` commands of the section's first console block, each with the lines it shows."""
    section = text[text.index(SECTION):]
    block = section[section.index("```console\n") + len("```console\n"):]
    block = block[: block.index("```")]
    steps: list[Step] = []
    lines = iter(block.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + " " + next(lines).strip()
            steps.append(Step(command, []))
        elif steps:
            steps[-1].expected.append(line)
    return steps


def normalize(lines: list[str]) -> list[str]:
    """What may differ between two correct runs, made equal."""
    out = []
    for line in lines:
        line = line.replace(str(PROJECT_ROOT), "~/phoenix")
        line = re.sub(r"/tmp/tmp\.[A-Za-z0-9]+", "/tmp/tmp.DEMO", line)
        line = re.sub(r"\(\d+(\.\d+)?m?s\)", "(Ts)", line)
        line = re.sub(r"(Duration: |in )\d+(\.\d+)?( ?)(m?s)\b", r"\1T\3s", line)
        line = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "DATE", line)
        line = re.sub(r"\(in [0-9dhm]+\)", "(in D)", line)
        out.append(" ".join(line.split()))
    return out


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def test_the_walkthrough_runs_as_the_readme_shows(tmp_path: Path) -> None:
    steps = walkthrough(README.read_text(encoding="utf-8"))
    commands = [step.command for step in steps]
    assert commands[:2] == list(INSTALLERS)
    assert any("create 1.0.0-ryan0001" in c for c in commands) and any("destroy ryan0001" in c for c in commands)
    port = free_port()
    script = ["trap 'kill ${emulator:-} 2>/dev/null; true' EXIT"]
    for number, step in enumerate(steps):
        script += [f"echo '@@@ {number}'", step.command.replace(README_PORT, port), f"echo \"@@@ rc=$?\""]
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws"), "AWS_CONFIG_FILE": str(tmp_path / "no-aws"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    process = subprocess.Popen(
        ["bash", "-c", "\n".join(script)], cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=900)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    runs: dict[int, tuple[list[str], int]] = {}
    current, lines = None, []
    for line in output.replace(port, README_PORT).splitlines():
        if line.startswith("@@@ rc="):
            runs[current] = (lines, int(line[len("@@@ rc="):]))
        elif line.startswith("@@@ "):
            current, lines = int(line[4:]), []
        else:
            lines.append(line)
    assert sorted(runs) == list(range(len(steps))), output[-3000:]
    for number, step in enumerate(steps):
        shown, code = runs[number]
        assert code == EXPECTED_CODES.get(step.command, 0), f"$ {step.command}\n" + "\n".join(shown)
        if step.command not in INSTALLERS:
            actual, expected = normalize(shown), normalize(step.expected)
            # The engine runs independent resources in parallel: its lines (and the steps listed
            # from its events) may come in another order; every line must be there, and
            # phoenix's own lines in the order shown.
            assert sorted(actual) == sorted(expected), f"$ {step.command}\n" + "\n".join(shown)
            assert [line for line in actual if _own(line)] == [line for line in expected if _own(line)]


def _own(line: str) -> bool:
    """A line phoenix prints itself, in a fixed order (not an engine line, not a listed step)."""
    return not line.startswith("[") and not line.startswith(("create ", "delete ", "update "))
