"""The fakes answer like the real commands; a lenient fake would let a broken script pass."""

from __future__ import annotations

import subprocess
import time

from tests.bootstrap.host import FakeHost

IMDS = "http://169.254.169.254/latest"


def run(host: FakeHost, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=host.env, cwd=host.base, capture_output=True, text=True, timeout=30)


def token(host: FakeHost, ttl: str = "60") -> str:
    done = run(host, "curl", "-sS", "-f", "-X", "PUT", "-H", f"X-aws-ec2-metadata-token-ttl-seconds: {ttl}",
               f"{IMDS}/api/token")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_metadata_needs_a_token_from_the_put_round_trip(host: FakeHost) -> None:
    without = run(host, "curl", "-sS", "--fail", f"{IMDS}/meta-data/instance-id")
    assert (without.returncode, without.stderr) == (22, "curl: (22) The requested URL returned error: 401\n")

    with_token = run(host, "curl", "-sS", "--fail", "-H", f"X-aws-ec2-metadata-token: {token(host)}",
                     f"{IMDS}/meta-data/instance-id")
    assert (with_token.returncode, with_token.stdout) == (0, host.instance_id)

    forged = run(host, "curl", "-sS", "--fail", "-H", "X-aws-ec2-metadata-token: forged", f"{IMDS}/meta-data/instance-id")
    assert forged.returncode == 22


def test_an_expired_token_gets_401(host: FakeHost) -> None:
    short = token(host, ttl="1")
    time.sleep(1.2)

    done = run(host, "curl", "-sS", "-f", "-H", f"X-aws-ec2-metadata-token: {short}", f"{IMDS}/meta-data/instance-id")

    assert done.returncode == 22 and "401" in done.stderr


def test_token_endpoint_refuses_get_and_a_missing_ttl(host: FakeHost) -> None:
    get = run(host, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{IMDS}/api/token")
    no_ttl = run(host, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", f"{IMDS}/api/token")

    assert (get.stdout, no_ttl.stdout) == ("405", "400")


def test_ssm_returns_ciphertext_without_decryption_and_fails_like_the_cli(host: FakeHost) -> None:
    name = "/phoenix/ryan0001/registration-key"
    query = ("--query", "Parameter.Value", "--output", "text")

    plain = run(host, "aws", "ssm", "get-parameter", "--region", "eu-west-1", "--name", name, "--with-decryption", *query)
    cipher = run(host, "aws", "ssm", "get-parameter", "--region", "eu-west-1", "--name", name, *query)
    no_region = run(host, "aws", "ssm", "get-parameter", "--name", name, "--with-decryption", *query)
    other_region = run(host, "aws", "ssm", "get-parameter", "--region", "us-east-1", "--name", name, *query)

    assert (plain.returncode, plain.stdout) == (0, host.registration_key + "\n")
    assert cipher.returncode == 0 and host.registration_key not in cipher.stdout
    assert no_region.returncode == 253 and "You must specify a region" in no_region.stderr
    assert other_region.returncode == 254 and "(ParameterNotFound)" in other_region.stderr


def test_a_lifecycle_action_completes_once(host: FakeHost) -> None:
    command = ("aws", "autoscaling", "complete-lifecycle-action", "--region", "eu-west-1",
               "--auto-scaling-group-name", "phoenix-ryan0001-fleet", "--lifecycle-hook-name", "phoenix-ryan0001-launch",
               "--instance-id", host.instance_id)

    bad_result = run(host, *command, "--lifecycle-action-result", "OK")
    first = run(host, *command, "--lifecycle-action-result", "CONTINUE")
    second = run(host, *command, "--lifecycle-action-result", "ABANDON")

    assert bad_result.returncode == 254 and "(ValidationError)" in bad_result.stderr
    assert first.returncode == 0
    assert second.returncode == 254
    assert f"No active Lifecycle Action found with instance ID {host.instance_id}" in second.stderr


def test_tentacle_refuses_a_duplicate_machine_and_unknown_options(host: FakeHost) -> None:
    host.change_world(lambda world: world["octopus"]["machines"].append({"Name": "web-1", "Space": "Default"}))
    install = run(host, "dnf", "install", "-y", "tentacle")
    assert install.returncode == 1 and "Unable to find a match: tentacle" in install.stderr
    (host.root / "etc/yum.repos.d").mkdir(parents=True)
    (host.root / "etc/yum.repos.d/t.repo").write_text(f"[t]\nbaseurl={host.url}/rpm/stable/$basearch\n")
    assert run(host, "dnf", "install", "tentacle").returncode == 1, "dnf without -y must not install"
    assert run(host, "dnf", "install", "-y", "tentacle").returncode == 0
    tentacle = str(host.root / "opt/octopus/tentacle/Tentacle")
    config = str(host.root / "tentacle.config")
    for command in (["create-instance", "--instance", "Tentacle", "--config", config],
                    ["new-certificate", "--instance", "Tentacle", "--if-blank"]):
        assert run(host, tentacle, *command).returncode == 0

    duplicate = run(host, tentacle, "register-with", "--instance", "Tentacle", "--server", "https://octopus.example.com",
                    "--apiKey", host.registration_key, "--name", "web-1", "--env", "Feature")
    unknown = run(host, tentacle, "configure", "--instance", "Tentacle", "--listen-please")
    again = run(host, tentacle, "create-instance", "--instance", "Tentacle", "--config", config)

    assert duplicate.returncode == 1 and "A machine named 'web-1' already exists" in duplicate.stderr
    assert unknown.returncode == 1 and "Unrecognized command line arguments: --listen-please" in unknown.stderr
    assert again.returncode == 1 and "already exists" in again.stderr
