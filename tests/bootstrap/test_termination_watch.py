"""The termination watch: an instance Auto Scaling terminates (scale-in, awake hours, a refresh)
deletes its own machine from Octopus before it goes, and never holds the termination up."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.bootstrap.host import FakeHost
from tests.bootstrap.test_linux_script import LOG_LINE, assert_key_kept_secret

UNIT = "phoenix-deregister.service"


def booted(host: FakeHost) -> FakeHost:
    run = host.boot()
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(host.world()["octopus"]["machines"]) == 1
    return host


def finish(watch: subprocess.Popen, timeout: float = 30) -> tuple[int, str]:
    stdout, stderr = watch.communicate(timeout=timeout)
    return watch.returncode, stdout + stderr


def termination_results(host: FakeHost) -> list[dict]:
    return [action for action in host.world()["autoscaling"]["completed"] if action["hook"].endswith("-deregister")]


def test_boot_starts_the_watch_as_a_unit_that_survives_the_boot(host: FakeHost) -> None:
    booted(host)

    unit = (host.root / "etc/systemd/system" / UNIT).read_text()
    assert "ExecStart=/bin/bash /opt/phoenix/bootstrap.sh --watch-termination /etc/phoenix/bootstrap.env" in unit
    assert "Restart=on-failure" in unit and "WantedBy=multi-user.target" in unit
    assert host.world()["systemd"][UNIT] == "active"
    enable = [call["argv"] for call in host.calls("systemctl") if UNIT in call["argv"]]
    assert enable == [["enable", "--now", UNIT]]


def test_a_terminated_instance_deletes_its_machine_then_lets_the_termination_continue(host: FakeHost) -> None:
    booted(host)
    watch = host.watch()
    time.sleep(1)
    assert watch.poll() is None, "the watch must keep running while the instance is in service"
    assert len(host.world()["octopus"]["machines"]) == 1

    host.terminate()
    code, output = finish(watch)

    assert code == 0, output
    assert host.world()["octopus"]["machines"] == []
    assert termination_results(host) == [
        {"group": "phoenix-ryan0001-fleet", "hook": "phoenix-ryan0001-deregister", "instance": host.instance_id,
         "result": "CONTINUE"}]
    [deregister] = [argv for argv in host.tentacle_commands() if argv[0] == "deregister-from"]
    assert deregister[deregister.index("--server") + 1] == "https://octopus.example.com"
    assert deregister[deregister.index("--space") + 1] == "Default"
    log = host.log()
    assert "deleted this instance's machine from Octopus" in log
    assert "termination watch complete" in log
    assert all(LOG_LINE.match(line) for line in log.splitlines())
    assert_key_kept_secret(host)


def test_the_watch_never_touches_the_launch_hook(host: FakeHost) -> None:
    booted(host)
    launch_calls = len(host.heartbeats()), list(host.lifecycle_results())
    host.terminate()

    code, output = finish(host.watch())

    assert code == 0, output
    assert len(host.heartbeats()) == launch_calls[0]
    assert host.lifecycle_results() == [*launch_calls[1], "CONTINUE"]
    completed = host.world()["autoscaling"]["completed"]
    assert [action["hook"] for action in completed] == ["phoenix-ryan0001-launch", "phoenix-ryan0001-deregister"]


def test_a_machine_already_removed_by_sleep_is_not_an_error(host: FakeHost) -> None:
    booted(host)
    host.change_world(lambda world: world["octopus"].update(machines=[]))
    host.terminate()

    code, output = finish(host.watch())

    assert code == 0, output
    assert "no machine to delete: it was already removed from Octopus" in host.log()
    assert [action["result"] for action in termination_results(host)] == ["CONTINUE"]


@pytest.mark.parametrize(
    ("world_change", "logged"),
    [
        (lambda world: world["octopus"].update(keys_without_machine_delete=world["octopus"]["api_keys"]),
         "Missing permission: MachineDelete"),
        (lambda world: world["ssm"].update(deny=True), "AccessDeniedException"),
    ],
    ids=["no-machine-delete-permission", "ssm-denied"],
)
def test_a_machine_that_cannot_be_deleted_never_holds_the_termination(host: FakeHost, world_change, logged) -> None:
    booted(host)
    host.change_world(world_change)
    host.terminate()

    code, output = finish(host.watch())

    assert code == 0, output
    assert len(host.world()["octopus"]["machines"]) == 1, "the machine policy's clean-up is left to remove it"
    assert [action["result"] for action in termination_results(host)] == ["CONTINUE"]
    log = host.log()
    assert logged in log
    assert "the machine policy removes it once it has been unavailable long enough" in log


def test_a_refused_completion_fails_so_systemd_runs_the_watch_again(host: FakeHost) -> None:
    booted(host)
    host.change_world(lambda world: world["imds"].update(target_lifecycle_state="Terminated"))

    code, _ = finish(host.watch())

    assert code != 0
    assert "FAILED in step 'deregister'" in host.log()
    assert "No active Lifecycle Action found" in host.log()
    assert host.world()["octopus"]["machines"] == []
    assert [action["hook"] for action in host.world()["autoscaling"]["completed"]] == ["phoenix-ryan0001-launch"]


def test_a_second_watch_leaves_the_running_one_alone(host: FakeHost) -> None:
    booted(host)
    first = host.watch()
    time.sleep(1)

    code, _ = finish(host.watch())
    host.terminate()
    first_code, output = finish(first)

    assert code == 75
    assert first_code == 0, output
    assert [action["result"] for action in termination_results(host)] == ["CONTINUE"]
