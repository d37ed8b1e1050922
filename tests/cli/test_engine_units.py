"""The engine's own decisions that need no engine: backends, passphrase, project, locks, events."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from pulumi.automation import events

from automation.engine import (
    StepRecorder,
    _lock_user,
    _pid_is_pulumi,
    check_passphrase,
    local_backend_warning,
    program_for,
    read_project,
    resolve_backend,
    stale_lock,
)
from automation.errors import InputError
from automation.summary import Step

LOCK = (
    "error: the stack is currently locked by {n} lock(s). Either wait for the other process(es) to end "
    "or delete the lock file with `pulumi cancel`.\n"
)


def lock_line(user: str, host: str, pid: int) -> str:
    return f"  file:///s/.pulumi/locks/o/p/ryan0001/x.json: created by {user}@{host} (pid {pid}) at 2026-01-01T00:00:00Z\n"


def test_backend_from_flag_then_environment_then_the_work_dir(tmp_path: Path) -> None:
    assert resolve_backend("s3://bucket/phoenix", {"PULUMI_BACKEND_URL": "file:///x"}, tmp_path).url == (
        "s3://bucket/phoenix"
    )
    from_env = resolve_backend(None, {"PULUMI_BACKEND_URL": "file:///srv/state"}, tmp_path)
    assert from_env.url == "file:///srv/state" and not from_env.local_default
    local = resolve_backend(None, {}, tmp_path)
    assert local.url == f"file://{tmp_path.resolve()}/.state" and local.local_default


def test_a_relative_file_backend_is_read_from_the_callers_folder(tmp_path: Path, monkeypatch) -> None:
    caller = tmp_path / "caller"
    caller.mkdir()
    monkeypatch.chdir(caller)
    for explicit, environ in (("file://state-dir", {}), (None, {"PULUMI_BACKEND_URL": "file://state-dir"})):
        relative = resolve_backend(explicit, environ, tmp_path / "work")
        assert relative.url == f"file://{caller / 'state-dir'}"


@pytest.mark.parametrize(
    ("explicit", "environ", "source"),
    [("foo", {}, "--backend"), (None, {"PULUMI_BACKEND_URL": "bucket/phoenix"}, "PULUMI_BACKEND_URL"),
     ("ftp://host/state", {}, "--backend")],
)
def test_a_backend_that_is_no_url_pulumi_knows_is_bad_input_naming_its_source(
    tmp_path: Path, explicit, environ, source
) -> None:
    with pytest.raises(InputError) as raised:
        resolve_backend(explicit, environ, tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{source} ") and "not a state backend URL" in message
    assert "s3://" in message and "file://" in message


def test_ci_with_the_local_backend_is_warned_about(tmp_path: Path) -> None:
    local = resolve_backend(None, {}, tmp_path)
    warning = local_backend_warning(local, {"CI": "true"})
    assert warning and "lost" in warning and "PULUMI_BACKEND_URL" in warning
    assert local_backend_warning(local, {}) is None
    assert local_backend_warning(resolve_backend("s3://b", {}, tmp_path), {"CI": "true"}) is None


def test_passphrase_must_come_from_the_environment(tmp_path: Path) -> None:
    check_passphrase({"PULUMI_CONFIG_PASSPHRASE": "x"})
    phrase = tmp_path / "phrase"
    phrase.write_text("x")
    check_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(phrase)})
    with pytest.raises(InputError) as caught:
        check_passphrase({})
    assert "PULUMI_CONFIG_PASSPHRASE" in str(caught.value)
    with pytest.raises(InputError) as caught:
        check_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "missing")})
    assert "missing" in str(caught.value)


def test_the_work_dir_must_be_a_pulumi_project_with_a_program(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_project(tmp_path)
    assert "Pulumi.yaml" in str(caught.value)
    with pytest.raises(InputError):
        read_project(tmp_path / "nowhere")
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    project = read_project(tmp_path)
    assert project.name == "demo"
    with pytest.raises(InputError) as caught:
        program_for(tmp_path, project)
    assert "__main__.py" in str(caught.value)
    (tmp_path / "Pulumi.yaml").write_text("name: [unclosed\n")
    with pytest.raises(InputError):
        read_project(tmp_path)


def test_the_inline_program_runs_the_work_dirs_main(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    (tmp_path / "helper_for_demo.py").write_text("VALUE = 41\n")
    (tmp_path / "__main__.py").write_text(
        "import helper_for_demo\nimport builtins\nbuiltins.phoenix_demo_ran = helper_for_demo.VALUE + 1\n"
    )
    import builtins

    program_for(tmp_path, read_project(tmp_path))()
    assert builtins.phoenix_demo_ran == 42  # ran as a script, importing beside itself
    del builtins.phoenix_demo_ran


def test_only_a_provably_dead_local_holder_makes_a_lock_stale() -> None:
    dead = {4242}
    alive = lambda pid: pid not in dead  # noqa: E731
    mine = dict(hostname="runner-7", username="ci", alive=alive)
    assert stale_lock(LOCK.format(n=1) + lock_line("ci", "runner-7", 4242), **mine) == "ci@runner-7, pid 4242"
    # the holder still runs
    assert stale_lock(LOCK.format(n=1) + lock_line("ci", "runner-7", 4243), **mine) is None
    # another machine or another user: cannot be proven dead
    assert stale_lock(LOCK.format(n=1) + lock_line("ci", "runner-8", 4242), **mine) is None
    assert stale_lock(LOCK.format(n=1) + lock_line("bob", "runner-7", 4242), **mine) is None
    # two locks, one live
    two = LOCK.format(n=2) + lock_line("ci", "runner-7", 4242) + lock_line("ci", "runner-7", 4243)
    assert stale_lock(two, **mine) is None
    # a service backend's conflict names no holder
    assert stale_lock("error: [409] Conflict: Another update is currently in progress.", **mine) is None


def test_a_pid_reused_by_another_program_or_gone_counts_as_dead() -> None:
    import getpass
    import os
    import socket

    text = LOCK.format(n=1) + lock_line(getpass.getuser(), socket.gethostname(), os.getpid())
    # our own pid is alive but is not a Pulumi process: a lock naming it was left by a dead one
    assert stale_lock(text) is not None
    text = LOCK.format(n=1) + lock_line(getpass.getuser(), socket.gethostname(), 2**22 + 7)
    assert stale_lock(text) is not None


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_killed_pulumi_left_unreaped_counts_as_dead(tmp_path: Path) -> None:
    """A container whose init does not reap leaves a killed CLI as a zombie that still answers kill(pid, 0)."""
    import os
    import signal
    import subprocess
    import time

    fake = tmp_path / "pulumi"
    fake.symlink_to(shutil.which("sleep"))
    running = subprocess.Popen([str(fake), "60"])
    try:
        assert _pid_is_pulumi(running.pid)
        os.kill(running.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _state(running.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(running.pid) == "Z" and Path(f"/proc/{running.pid}/comm").read_text().strip() == "pulumi"
        assert not _pid_is_pulumi(running.pid)
        text = LOCK.format(n=1) + lock_line(_lock_user(), socket.gethostname(), running.pid)
        assert stale_lock(text) is not None
    finally:
        running.kill()
        running.wait()


def test_the_lock_owner_is_the_account_not_the_user_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import pwd

    # Pulumi names the uid's account in a lock; a CI runner may export USER=runner as root
    monkeypatch.setenv("USER", "somebody-else")
    monkeypatch.setenv("LOGNAME", "somebody-else")
    assert _lock_user() == pwd.getpwuid(os.getuid()).pw_name


def pre_event(op: str, type_: str, name: str):
    return events.EngineEvent.from_json({
        "sequence": 1, "timestamp": 0,
        "resourcePreEvent": {"metadata": {
            "op": op, "urn": f"urn:pulumi:ryan0001::phoenix::{type_}::{name}", "type": type_, "provider": "",
        }},
    })


def test_steps_are_recorded_from_engine_events_without_providers() -> None:
    recorder = StepRecorder()
    recorder(pre_event("create", "pulumi-python:dynamic/octopus:Tenant", "ryan0001-tenant"))
    recorder(pre_event("update", "pulumi:providers:pulumi-python", "default"))
    recorder(pre_event("refresh", "pulumi-python:dynamic/octopus:Tenant", "ryan0001-tenant"))
    recorder(events.EngineEvent.from_json({"sequence": 2, "timestamp": 0, "stdoutEvent": {"message": "x", "color": ""}}))
    assert recorder.steps == [Step("create", "pulumi-python:dynamic/octopus:Tenant", "ryan0001-tenant")]
