"""The Linux bootstrap, rendered into userdata and run under bash on a scratch instance."""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import stat
from datetime import datetime

import pytest

from tests.bootstrap.host import OCTOPUS_URL, FakeHost, Run

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[[a-z ]+\] ")


def assert_key_kept_secret(host: FakeHost, *runs: Run) -> None:
    """The key is an argument of one register-with call (and of the deregister-from call that deletes the
    machine when the instance is terminated) and nowhere else: no log, file, output or environment."""
    key = host.registration_key
    holders = []
    for call in host.calls():
        assert all(key not in value for value in call["env"].values()), f"key in the environment of {call['program']}"
        if any(key in arg for arg in call["argv"]):
            holders.append(call)
    assert len([call for call in holders if call["argv"][0] == "register-with"]) <= 1
    for call in holders:
        assert call["program"] == "Tentacle" and call["argv"][0] in ("register-with", "deregister-from")
        assert call["argv"][call["argv"].index("--apiKey") + 1] == key
    assert key not in host.log()
    for run in runs:
        assert key not in run.stdout and key not in run.stderr
    assert host.files_containing(key) == []


def logged_at(log: str, text: str) -> datetime:
    line = next(line for line in log.splitlines() if text in line)
    return datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%SZ")


def test_healthy_boot_registers_a_polling_tentacle_and_continues(host: FakeHost) -> None:
    host.change_world(lambda world: world["app"].update(checks_before_healthy=2))

    run = host.boot(host.settings(roles=("web", "api")))

    assert run.returncode == 0, run.stdout + run.stderr
    machine_name = f"ryan0001-{host.instance_id}"
    assert [argv[0] for argv in host.tentacle_commands()] == [
        "create-instance", "new-certificate", "configure", "register-with", "service"]
    register = next(argv for argv in host.tentacle_commands() if argv[0] == "register-with")
    assert register == [
        "register-with", "--instance", "Tentacle", "--server", OCTOPUS_URL, "--apiKey", host.registration_key,
        "--space", "Default", "--name", machine_name, "--env", "Feature", "--role", "web", "--role", "api",
        "--tenant", "ryan0001", "--tenanted-deployment-participation", "Tenanted",
        "--policy", "Feature environments", "--comms-style", "TentacleActive", "--server-comms-port", "10943"]
    configure = next(argv for argv in host.tentacle_commands() if argv[0] == "configure")
    assert configure[configure.index("--noListen") + 1] == "True"

    [machine] = host.world()["octopus"]["machines"]
    assert machine["Name"] == machine_name
    assert machine["TenantNames"] == ["ryan0001"] and machine["Roles"] == ["web", "api"]
    assert machine["Endpoint"]["Uri"].startswith("poll://")
    assert host.world()["systemd"]["Tentacle.service"] == "active"
    assert "not healthy yet: HTTP 503" in host.log() and "healthy: HTTP 200 after 3 checks" in host.log()

    [ssm] = [call["argv"] for call in host.calls("aws") if call["argv"][:2] == ["ssm", "get-parameter"]]
    assert "--with-decryption" in ssm
    assert host.lifecycle_results() == ["CONTINUE"]
    assert host.world()["autoscaling"]["completed"] == [
        {"group": "phoenix-ryan0001-fleet", "hook": "phoenix-ryan0001-launch", "instance": host.instance_id,
         "result": "CONTINUE"}]
    assert_key_kept_secret(host, run)


def test_every_step_logs_timestamped_lines_to_file_and_console(host: FakeHost) -> None:
    run = host.boot()

    assert run.returncode == 0, run.stdout + run.stderr
    log = host.log()
    assert log == run.stdout
    assert all(LOG_LINE.match(line) for line in log.splitlines()), log
    for step in ("settings", "instance metadata", "registration key", "tentacle install", "tentacle configure",
                 "tentacle register", "tentacle service", "health"):
        assert f"[{step}] begin" in log
    mode = (host.root / "var/log/phoenix/bootstrap.log").stat().st_mode
    assert not mode & (stat.S_IRWXG | stat.S_IRWXO), "the log is readable by others"


def test_health_that_never_comes_abandons_within_the_timeout(host: FakeHost) -> None:
    host.change_world(lambda world: world["app"].update(mode="never"))

    run = host.boot(host.settings(health_timeout_seconds=3, health_interval_seconds=1))

    assert run.returncode != 0
    waited = logged_at(host.log(), "[health] begin"), logged_at(host.log(), "FAILED in step 'health'")
    assert 3 <= (waited[1] - waited[0]).total_seconds() <= 3 + 1 + 2, "the wait ignored its 3 s timeout"
    assert run.seconds < 30
    assert host.lifecycle_results() == ["ABANDON"]
    assert host.world()["autoscaling"]["completed"][0]["result"] == "ABANDON"
    assert "FAILED in step 'health'" in host.log()
    assert "within 3s (last HTTP 503)" in host.log()
    assert len(host.world()["octopus"]["machines"]) == 1
    assert_key_kept_secret(host, run)


@pytest.mark.parametrize(
    ("world_change", "settings_change", "aws_error"),
    [
        (lambda world: world["ssm"].update(deny=True), {}, "AccessDeniedException"),
        (lambda world: None, {"registration_key_parameter": "/phoenix/other/registration-key"}, "ParameterNotFound"),
    ],
    ids=["access-denied", "parameter-missing"],
)
def test_ssm_failure_abandons_and_names_the_step(host: FakeHost, world_change, settings_change, aws_error) -> None:
    host.change_world(world_change)

    run = host.boot(host.settings(**settings_change))

    assert run.returncode != 0
    assert host.lifecycle_results() == ["ABANDON"]
    log = host.log()
    assert "FAILED in step 'registration key'" in log
    assert f"An error occurred ({aws_error}) when calling the GetParameter operation" in log
    assert host.calls("dnf") == [] and host.calls("Tentacle") == []
    assert host.world()["octopus"]["machines"] == []


def test_second_run_does_not_register_again(host: FakeHost) -> None:
    first = host.boot()
    assert first.returncode == 0, first.stdout + first.stderr
    config = host.root / "etc/octopus/Tentacle/tentacle-Tentacle.config"
    trusted = json.loads(config.read_text())["trusted"]

    second = host.rerun()

    assert second.returncode == 0, second.stdout + second.stderr
    assert [argv[0] for argv in host.tentacle_commands()].count("register-with") == 1
    assert len(host.world()["octopus"]["machines"]) == 1
    assert len([c for c in host.calls("aws") if c["argv"][:2] == ["ssm", "get-parameter"]]) == 1
    assert host.lifecycle_results() == ["CONTINUE"]
    assert json.loads(config.read_text())["trusted"] == trusted == ["8E0A1B2C"]
    assert "not registering again" in second.stdout
    assert "lifecycle action already completed (CONTINUE)" in second.stdout
    assert_key_kept_secret(host, first, second)


def test_a_concurrent_run_leaves_the_running_one_alone(host: FakeHost) -> None:
    lock_path = host.root / "var/lib/phoenix/bootstrap.lock"
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = host.boot()

    assert run.returncode == 75
    assert "another bootstrap is running" in run.stdout
    assert host.calls("aws") == [] and host.calls("Tentacle") == []


def test_metadata_refusing_the_token_fails_without_a_signal(host: FakeHost) -> None:
    host.change_world(lambda world: world["imds"].update(reject_tokens=True))

    run = host.boot()

    assert run.returncode != 0
    log = host.log()
    assert "FAILED in step 'instance metadata'" in log
    assert "returned error: 401" in log
    assert "cannot signal ABANDON without the instance id" in log
    assert host.calls("aws") == []


def test_missing_package_repository_abandons_in_the_install_step(host: FakeHost) -> None:
    run = host.boot(host.settings(tentacle_package_source=f"{host.url}/nowhere"))

    assert run.returncode != 0
    assert "FAILED in step 'tentacle install'" in host.log()
    assert "returned error: 404" in host.log()
    assert host.lifecycle_results() == ["ABANDON"]
    assert host.calls("Tentacle") == []


def test_registration_refused_by_octopus_abandons(host: FakeHost) -> None:
    host.change_world(lambda world: world["octopus"]["spaces"]["Default"].update(environments=["Production"]))

    run = host.boot()

    assert run.returncode != 0
    log = host.log()
    assert "FAILED in step 'tentacle register'" in log
    assert "Could not find the environment named Feature on the Octopus Server" in log
    assert host.lifecycle_results() == ["ABANDON"]
    assert_key_kept_secret(host, run)


def test_a_tool_that_echoes_the_key_is_redacted_in_the_log(host: FakeHost) -> None:
    host.change_world(lambda world: world.update(tentacle={"echo_arguments": True}))

    run = host.boot()

    assert run.returncode == 0, run.stdout + run.stderr
    assert "--apiKey [redacted]" in host.log()
    assert_key_kept_secret(host, run)


def test_failed_signal_is_reported_and_not_retried_as_abandon(host: FakeHost) -> None:
    host.change_world(lambda world: world["autoscaling"].update(pending=[]))

    run = host.boot()

    assert run.returncode != 0
    assert "No active Lifecycle Action found with instance ID" in host.log()
    assert host.lifecycle_results() == ["CONTINUE"]
    assert not (host.root / "var/lib/phoenix/lifecycle-action").exists()


def test_hostile_but_valid_names_reach_tentacle_verbatim(host: FakeHost) -> None:
    tenant = "O'Brien $(touch pwned) `touch pwned` ; & | * ~ {a,b} $HOME"
    role = "web' 'api"
    host.change_world(lambda world: world["octopus"]["spaces"]["Default"]["tenants"].append(tenant))

    run = host.boot(host.settings(tenant=tenant, roles=(role,)))

    assert run.returncode == 0, run.stdout + run.stderr
    register = next(argv for argv in host.tentacle_commands() if argv[0] == "register-with")
    assert register[register.index("--tenant") + 1] == tenant
    assert register[register.index("--role") + 1] == role
    assert register.count("--role") == 1
    assert list(host.base.rglob("pwned")) == []


def test_debian_instance_installs_from_the_apt_repository(debian_host: FakeHost) -> None:
    run = debian_host.boot()

    assert run.returncode == 0, run.stdout + run.stderr
    assert [call["argv"] for call in debian_host.calls("apt-get")] == [["update"], ["install", "-y", "tentacle"]]
    sources = (debian_host.root / "etc/apt/sources.list.d/octopus-tentacle.list").read_text()
    assert sources == f"deb [signed-by=/etc/apt/keyrings/octopus-tentacle.asc] {debian_host.url}/apt/ stable main\n"
    assert (debian_host.root / "etc/apt/keyrings/octopus-tentacle.asc").read_text().startswith("-----BEGIN PGP")
    assert debian_host.lifecycle_results() == ["CONTINUE"]
    assert_key_kept_secret(debian_host, run)


def test_settings_missing_a_value_fail_in_the_settings_step(host: FakeHost) -> None:
    host.boot()
    settings_file = host.root / "etc/phoenix/bootstrap.env"
    settings_file.write_text(
        "\n".join(line for line in settings_file.read_text().splitlines() if not line.startswith("PHOENIX_TENANT="))
    )
    shutil.rmtree(host.root / "var/lib/phoenix")

    run = host.rerun()

    assert run.returncode != 0
    assert "[settings] ERROR: setting PHOENIX_TENANT is missing or empty" in run.stdout
    assert "FAILED in step 'settings'" in run.stdout
    assert "cannot signal ABANDON without the instance id" in run.stdout


def test_heartbeats_are_recorded_while_the_deployment_is_awaited(host: FakeHost) -> None:
    host.change_world(lambda world: world["app"].update(checks_before_healthy=5))

    run = host.boot(host.settings(heartbeat_interval_seconds=1, health_interval_seconds=1))

    assert run.returncode == 0, run.stdout + run.stderr
    heartbeats = host.heartbeats()
    assert len(heartbeats) >= 3, host.log()
    assert all(argv == ["autoscaling", "record-lifecycle-action-heartbeat", "--region", "eu-west-1",
                        "--auto-scaling-group-name", "phoenix-ryan0001-fleet",
                        "--lifecycle-hook-name", "phoenix-ryan0001-launch", "--instance-id", host.instance_id]
               for argv in heartbeats)
    assert len(host.world()["autoscaling"]["heartbeats"]) == len(heartbeats), "each one reached the hook"
    assert "[health] recorded a lifecycle heartbeat" in host.log(), "heartbeats while the deployment is awaited"
    calls = [call["argv"] for call in host.calls("aws")]
    last_heartbeat = max(i for i, argv in enumerate(calls) if "record-lifecycle-action-heartbeat" in argv)
    assert "complete-lifecycle-action" in calls[-1] and last_heartbeat < len(calls) - 1
    assert host.lifecycle_results() == ["CONTINUE"]


def test_heartbeats_come_no_more_often_than_their_interval(host: FakeHost) -> None:
    host.change_world(lambda world: world["app"].update(checks_before_healthy=3))

    run = host.boot(host.settings(heartbeat_interval_seconds=3600, health_interval_seconds=1))

    assert run.returncode == 0, run.stdout + run.stderr
    assert len(host.heartbeats()) == 1, "one as soon as the instance id is known, then one an hour"
    assert "[registration key] recorded a lifecycle heartbeat" in host.log()


def test_a_refused_heartbeat_is_logged_and_the_boot_goes_on(host: FakeHost) -> None:
    host.change_world(lambda world: world["autoscaling"].update(deny_heartbeat=True))

    run = host.boot(host.settings(heartbeat_interval_seconds=1))

    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING: record-lifecycle-action-heartbeat failed" in host.log()
    assert "not authorized to perform: autoscaling:RecordLifecycleActionHeartbeat" in host.log()
    assert host.lifecycle_results() == ["CONTINUE"]


@pytest.mark.parametrize(
    ("codes", "answer", "result"),
    [("200", 204, "ABANDON"), ("200-299", 204, "CONTINUE"), ("200,204", 204, "CONTINUE"), ("200-299", 302, "ABANDON"),
     ("200,202", 200, "CONTINUE")],
)
def test_the_health_wait_accepts_the_load_balancers_codes_only(host: FakeHost, codes, answer, result) -> None:
    host.change_world(lambda world: world["app"].update(deployed_status=answer))

    run = host.boot(host.settings(healthy_status_codes=codes, health_timeout_seconds=3, health_interval_seconds=1))

    assert host.lifecycle_results() == [result], host.log()
    assert (run.returncode == 0) == (result == "CONTINUE")
    assert f"for HTTP {codes} from" in host.log()
    if result == "ABANDON":
        assert f"no HTTP {codes} from" in host.log() and f"(last HTTP {answer})" in host.log()
