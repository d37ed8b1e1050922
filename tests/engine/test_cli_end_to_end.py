"""`python -m automation` end to end: the real CLI process, the real engine, the Octopus emulator.

Each test runs the command line as CI does (a subprocess, environment
variables, exit codes) against a private copy of the Octopus-only test
project, a file backend in a temp folder and a fresh emulator.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from automation.pulumi_cli import PROJECT_ROOT
from tests.engine.projects.octopus.program import copy_project
from tests.octopus_emulator.fixtures import TEST_REGISTRATION_KEY

pytestmark = pytest.mark.engine

PROJECT = "Phoenix Web"
ENVIRONMENT = "Feature"
#: The image create would otherwise pin from EC2 (fleet.amiId names one, so EC2 is never asked).
FIXED_IMAGE = "ami-0123456789abcdef0"
#: Commands that take --set (and so get the emulator's URL as octopus:serverUrl).
CONFIGURED = {"create", "preview", "destroy", "reap", "list", "sleep", "wake"}


@dataclass
class Cli:
    """Runs `python -m automation` against one project copy, backend and emulator."""

    work_dir: Path
    env: dict[str, str]
    emulator: object
    state_dir: Path

    def argv(self, command: str, *args: str, preflight: bool = False) -> list[str]:
        argv = [sys.executable, "-m", "automation", command, *args, "--work-dir", str(self.work_dir)]
        if command in CONFIGURED:
            argv += ["--set", f"octopus:serverUrl={self.emulator.url}"]
        if command in ("create", "preview", "sleep", "wake"):
            argv += ["--set", f"phoenix:fleet.amiId={FIXED_IMAGE}"]  # no AWS part: no image to look up in EC2
        if command in ("create", "preview", "sleep", "wake") and not preflight:
            argv.append("--skip-preflight")  # doctor's AWS checks: this project has no AWS part
        return argv

    def run(self, command: str, *args: str, preflight: bool = False, timeout: float = 240):
        result = subprocess.run(
            self.argv(command, *args, preflight=preflight), cwd=PROJECT_ROOT, env=self.env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
        )
        assert not own_traceback(result.stderr), result.stderr[-3000:]
        return result

    def start(self, command: str, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(command, *args), cwd=PROJECT_ROOT, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def has_stack(self, name: str) -> bool:
        """Whether the file backend holds the stack (a removed one leaves only a .bak)."""
        return any(self.state_dir.glob(f".pulumi/stacks/*/{name}.json"))

    def json(self, command: str, *args: str):
        result = self.run(command, *args, "--json")
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout)


def own_traceback(stderr: str) -> bool:
    """A traceback of the CLI itself (the engine's streamed output is prefixed with the feature)."""
    return any(line.startswith("Traceback") for line in stderr.splitlines())


def error_lines(stderr: str) -> list[str]:
    """Lines a CI log scanner flags: `error:` at the start, after a `[feature] ` prefix or not."""
    return [line for line in stderr.splitlines() if line.split("] ", 1)[-1].lstrip().startswith("error:")]


def overrides(emulator) -> list[dict]:
    return list(emulator.project(PROJECT).get("AutoDeployReleaseOverrides") or [])


def seed_octopus(octopus_emulator) -> None:
    """The project, environment and variable templates the defaults name (no release)."""
    octopus_emulator.seed_project(PROJECT)
    octopus_emulator.seed_environment(ENVIRONMENT)
    for template in ("Phoenix.Url", "Phoenix.Feature", "Phoenix.PackageVersion"):  # the defaults' templates
        octopus_emulator.seed_project_template(PROJECT, template)


@pytest.fixture
def cli(engine, octopus_emulator, tmp_path: Path) -> Cli:
    seed_octopus(octopus_emulator)
    work_dir = copy_project(tmp_path / "project")
    env = {key: value for key, value in engine.env.items()
           if key not in ("GITHUB_STEP_SUMMARY", "PHOENIX_WORK_DIR", "PHOENIX_DEFAULTS", "CI")}
    env["OCTOPUS_API_KEY"] = octopus_emulator.api_key
    env["OCTOPUS_REGISTRATION_API_KEY"] = TEST_REGISTRATION_KEY
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")])
    return Cli(work_dir, env, octopus_emulator, Path(engine.backend_url.removeprefix("file://")))


def test_create_list_preview_update_destroy(cli: Cli, tmp_path: Path) -> None:
    emulator = cli.emulator
    first = emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    summary = tmp_path / "summary.md"

    # Preview of a feature without a stack: the change set, and no stack left behind.
    planned = cli.json("preview", "ryan0001")
    assert (planned["result"], planned["changes"]) == ("changes", {"create": 4})
    assert planned["packageVersion"] == "1.0.0-ryan0001"
    assert not cli.has_stack("ryan0001") and emulator.tenants() == []
    assert not (cli.work_dir / "Pulumi.ryan0001.yaml").exists()

    # The version comes from Octopus' newest release naming the feature.
    created = cli.run("create", "ryan0001", "--json", "--summary", str(summary))
    assert created.returncode == 0, created.stderr[-3000:]
    report = json.loads(created.stdout)
    [tenant] = emulator.tenants()
    assert (report["result"], report["packageVersion"]) == ("succeeded", "1.0.0-ryan0001")
    assert report["changes"] == {"create": 4}
    assert report["outputs"]["tenant_id"] == tenant["Id"] and tenant["Name"] == "ryan0001"
    assert [(o["TenantId"], o["ReleaseId"]) for o in overrides(emulator)] == [(tenant["Id"], first["Id"])]
    assert "[ryan0001] " in created.stderr, "engine output is streamed with the feature as prefix"
    markdown = summary.read_text()
    assert "### phoenix create `ryan0001`: succeeded" in markdown and "4 created" in markdown

    # Secrets: written encrypted, never printed.
    config_file = cli.work_dir / "Pulumi.ryan0001.yaml"
    assert "octopus:apiKey" in config_file.read_text()
    for text in (created.stdout, created.stderr, config_file.read_text(), markdown):
        assert emulator.api_key not in text and TEST_REGISTRATION_KEY not in text
    for state_file in cli.state_dir.rglob("*.json"):
        assert emulator.api_key not in state_file.read_text(), state_file
        assert TEST_REGISTRATION_KEY not in state_file.read_text(), state_file

    [row] = cli.json("list")
    assert (row["feature"], row["packageVersion"], row["ttl"]) == ("ryan0001", "1.0.0-ryan0001", "72h")
    last_update = datetime.fromisoformat(row["lastUpdate"])
    assert datetime.now(timezone.utc) - last_update < timedelta(minutes=10)
    assert datetime.fromisoformat(row["expires"]) == last_update + timedelta(hours=72)

    assert cli.json("outputs", "ryan0001") == report["outputs"]

    unchanged = cli.run("preview", "ryan0001", "--expect-no-changes")
    assert unchanged.returncode == 0, unchanged.stderr[-3000:]

    second = emulator.seed_release(PROJECT, "1.0.1-ryan0001")
    drift = cli.run("preview", "ryan0001", "--expect-no-changes")
    assert drift.returncode == 3, drift.stderr[-3000:]
    assert "2 to update" in drift.stdout  # the override and the tenant's PackageVersion
    assert overrides(emulator)[0]["ReleaseId"] == first["Id"], "preview changed nothing"

    updated = cli.json("create", "ryan0001", "--version", "1.0.1-ryan0001")
    assert updated["changes"] == {"same": 2, "update": 2}
    assert [s["op"] for s in updated["steps"] if s["op"] != "same"] == ["update", "update"]
    assert [o["ReleaseId"] for o in overrides(emulator)] == [second["Id"]]

    # A fresh CI workspace: no stack config file; destroy rebuilds it, and needs no registration key.
    config_file.unlink()
    del cli.env["OCTOPUS_REGISTRATION_API_KEY"]
    destroyed = cli.run("destroy", "ryan0001")
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    assert "destroyed" in destroyed.stdout
    assert "[y/N]" not in destroyed.stderr, "no terminal: nothing is asked"
    assert "pulumi stack rm" not in destroyed.stderr + destroyed.stdout
    assert not error_lines(destroyed.stderr)
    assert cli.json("list") == []
    assert emulator.tenants() == [] and overrides(emulator) == []
    assert not config_file.exists(), "the stack was removed with its config"

    absent = cli.run("destroy", "ryan0001")
    assert absent.returncode == 0 and "no stack" in absent.stdout
    missing = cli.run("outputs", "ryan0001")
    assert missing.returncode == 2 and "has no stack" in missing.stderr


def test_the_url_is_one_value_in_the_output_the_tenant_variable_the_summary_and_list(
    cli: Cli, tmp_path: Path
) -> None:
    """With a zone, `https://FEATURE.<zone>` everywhere CI and reviewers read it.

    This project is the Octopus half of a feature (no AWS provider plugin here): it
    names the URL with the function the feature's domain component uses.
    """
    cli.emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    summary = tmp_path / "summary.md"
    created = cli.run("create", "ryan0001", "--json", "--summary", str(summary),
                      "--set", "phoenix:dns.zone=Features.Example.com")
    assert created.returncode == 0, created.stderr[-3000:]
    url = json.loads(created.stdout)["outputs"]["url"]
    assert url == "https://ryan0001.features.example.com"
    [variable] = [v for v in cli.emulator.tenant_values("ryan0001") if v["Template"] == "Phoenix.Url"]
    assert variable["Value"] == url
    assert f"| `url` | `{url}` |" in summary.read_text()
    [row] = cli.json("list")
    assert row["url"] == url
    table = cli.run("list")
    assert url in table.stdout


def test_reap_destroys_expired_features_except_kept_ones(cli: Cli) -> None:
    for feature in ("a", "b", "c"):
        cli.emulator.seed_release(PROJECT, f"1.0.0-{feature}")
    creates = [cli.start("create", f"1.0.0-{feature}", "--quiet") for feature in ("a", "b", "c")]
    for process in creates:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-3000:]
    assert sorted(t["Name"] for t in cli.emulator.tenants()) == ["a", "b", "c"]

    not_yet = cli.json("reap", "--keep", "a", "--dry-run")  # their own ttl (72h) has not passed
    assert {o["feature"]: o["action"] for o in not_yet} == {"a": "kept", "b": "skipped", "c": "skipped"}

    # Octopus refuses every delete of b's tenant: c must still go, and reap exits 1.
    b_tenant = next(t for t in cli.emulator.tenants() if t["Name"] == "b")
    cli.emulator.fail_next("DELETE", rf"/tenants/{b_tenant['Id']}$", status=400, count=50)
    reaped = cli.run("reap", "--older-than", "0s", "--keep", "a", "--parallel", "2", "--quiet")
    assert reaped.returncode == 1, reaped.stderr[-3000:]
    assert "b: failed" in reaped.stdout and "c: destroyed" in reaped.stdout and "a: kept" in reaped.stdout
    assert "reap failed for b" in reaped.stderr
    assert sorted(t["Name"] for t in cli.emulator.tenants()) == ["a", "b"]

    cli.emulator.faults.clear()
    reaped = cli.run("reap", "--older-than", "0s", "--keep", "a", "--parallel", "2", "--quiet")
    assert reaped.returncode == 0, reaped.stderr[-3000:]
    assert "b: destroyed" in reaped.stdout and "a: kept" in reaped.stdout
    assert [row["feature"] for row in cli.json("list")] == ["a"]
    assert [t["Name"] for t in cli.emulator.tenants()] == ["a"]
    assert len(overrides(cli.emulator)) == 1


def wait_for(predicate, timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


#: How long the emulator holds one answer to the first create (under the client's 30 s read timeout).
HOLD_SECONDS = 25


def test_two_creates_of_one_feature_at_once(cli: Cli) -> None:
    emulator = cli.emulator
    emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    # The first update is held inside Octopus calls (its lock taken) until the waiting create has
    # met the lock and the second has been refused, so the test does not depend on how fast a
    # loaded machine starts processes.
    entered, met, refused = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        deadline = time.monotonic() + HOLD_SECONDS
        for event in (met, refused):
            event.wait(max(0.0, deadline - time.monotonic()))

    emulator.after_next("POST", r"/tenants$", hold)
    emulator.after_next("PUT", r"/projects/", hold)
    first = cli.start("create", "1.0.0-ryan0001")
    wait_for(lambda: entered.is_set() or first.poll() is not None, what="the first update")
    assert first.poll() is None, "the first create ended before the second could start"
    waiting = cli.start("create", "1.0.0-ryan0001", "--wait-lock", "180")
    waited: list[str] = []

    def read_waiting() -> None:
        for line in iter(waiting.stderr.readline, ""):
            waited.append(line)
            if "locked by another update; retrying" in line:
                met.set()

    reader = threading.Thread(target=read_waiting, daemon=True)
    reader.start()

    second = cli.start("create", "1.0.0-ryan0001")
    _, second_err = second.communicate(timeout=240)
    refused.set()
    assert not own_traceback(second_err), second_err[-3000:]
    assert second.returncode == 4, second_err[-3000:]
    assert "'ryan0001' is locked" in second_err

    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err[-3000:]
    out = waiting.stdout.read()
    waiting.wait(timeout=240)
    reader.join(timeout=30)
    err = "".join(waited)
    assert waiting.returncode == 0, err[-3000:]
    assert "locked by another update; retrying" in err
    assert "4 unchanged" in out
    assert [t["Name"] for t in emulator.tenants()] == ["ryan0001"]
    assert len(overrides(emulator)) == 1


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), however its session was set."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_with_descendants(pid: int) -> list[int]:
    """SIGKILL a process and everything below it at once (a runner that dies); the pids killed."""
    pids = [pid, *descendants(pid)]
    for each in pids:
        try:
            os.kill(each, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def an_init_that_never_reaps(killed: list[int]):
    """Make this test process the orphans' parent, and leave them unreaped while it runs.

    Some CI containers run a pid 1 that never reaps: a runner killed with its
    CLI leaves the Pulumi engine as a zombie that still answers kill(pid, 0)
    under its own name. The killed pids are reaped on the way out.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for pid in killed:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def process_state(pid: int) -> str:
    """The /proc state letter ("Z" for a zombie), or "" once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_a_create_killed_mid_update_is_recovered_by_the_next(cli: Cli, how: str) -> None:
    emulator = cli.emulator
    emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    killed: list[int] = []
    with an_init_that_never_reaps(killed) if how == "sigkill" else contextlib.nullcontext():
        process = cli.start("create", "1.0.0-ryan0001")

        def kill() -> None:
            # Runs once Octopus has created the tenant, before the answer reaches the provider.
            if how == "sigterm":  # a cancelled CI job
                process.send_signal(signal.SIGTERM)
                return
            # the runner dies: CLI, engine and provider go at once, leaving a lock behind
            killed.extend(kill_with_descendants(process.pid))

        emulator.after_next("POST", r"/tenants$", kill)
        out, err = process.communicate(timeout=240)
        assert [t["Name"] for t in emulator.tenants()] == ["ryan0001"]
        if how == "sigterm":
            assert process.returncode == 130, err[-3000:]
            assert "cancelling" in err and "interrupted" in err
        else:
            assert process.returncode == -signal.SIGKILL
            locks = list(cli.state_dir.rglob("locks/**/*.json"))
            assert locks, "a hard kill leaves the stack locked"
            holder = json.loads(locks[0].read_text())["pid"]
            assert holder in killed
            deadline = time.monotonic() + 30
            while process_state(holder) not in ("Z", "") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert process_state(holder) == "Z", "the killed engine stays an unreaped zombie"

        rerun = cli.run("create", "1.0.0-ryan0001", "--json")
        assert rerun.returncode == 0, rerun.stderr[-3000:]
    report = json.loads(rerun.stdout)
    [tenant] = emulator.tenants()
    assert report["outputs"]["tenant_id"] == tenant["Id"]
    assert [o["TenantId"] for o in overrides(emulator)] == [tenant["Id"]]
    if how == "sigkill":
        assert "removing a stale lock" in rerun.stderr
        assert "pending operations" in rerun.stderr
        # The engine's lock error and its `pulumi cancel` hint go to the run log, not to CI's log.
        assert not error_lines(rerun.stderr) and "pulumi cancel" not in rerun.stderr, rerun.stderr[-3000:]
        assert cli.json("create", "1.0.0-ryan0001")["changes"] == {"same": 4}


def test_a_failing_preflight_stops_create_before_the_stack(cli: Cli) -> None:
    cli.emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    env = {k: v for k, v in cli.env.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent")
    result = subprocess.run(
        cli.argv("create", "1.0.0-ryan0001", preflight=True), cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "preflight" in result.stderr and "--skip-preflight" in result.stderr
    assert not cli.has_stack("ryan0001"), "a stack was created"
    assert cli.emulator.tenants() == []
    assert not (cli.work_dir / "Pulumi.ryan0001.yaml").exists()


def test_a_refused_api_key_stops_create_before_the_stack_even_without_preflight(cli: Cli) -> None:
    env = dict(cli.env, OCTOPUS_API_KEY="API-WRONGKEY000000000000001")
    result = subprocess.run(
        cli.argv("create", "1.0.0-ryan0001"), cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert not own_traceback(result.stderr)
    assert result.stderr.startswith("error: create stopped before touching anything: octopus.user:")
    assert "OCTOPUS_API_KEY" in result.stderr and "401" in result.stderr
    assert "API-WRONGKEY" not in result.stderr + result.stdout
    assert cli.emulator.tenants() == []
    assert not cli.has_stack("ryan0001")
