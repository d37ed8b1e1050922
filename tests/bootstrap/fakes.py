"""Stand-ins for the commands the Linux bootstrap runs on an EC2 instance.

Run as ``python fakes.py <program> <args...>`` through small launchers on PATH
(curl, aws, dnf, apt-get, systemctl; the Tentacle launcher is "installed" by the
fake package managers). Each records its arguments and environment, then answers
the way the real command does, errors and exit codes included:

- curl: the instance metadata service (IMDSv2 token round-trip, 401 without a
  valid token, 405/400 on misuse), including ``autoscaling/target-lifecycle-state``
  (AWS EC2 Auto Scaling User Guide, "Retrieve the target lifecycle state through
  instance metadata": InService, Terminated, ...); any other URL goes to the real curl.
- aws: ``ssm get-parameter``, ``autoscaling complete-lifecycle-action`` and
  ``autoscaling record-lifecycle-action-heartbeat`` with AWS CLI v2 exit codes
  (252 usage, 253 configuration, 254 service error).
- dnf/yum and apt-get: install ``tentacle`` only from a configured repository.
- Tentacle: instances, certificates, trust, ``register-with`` and
  ``deregister-from`` against a small Octopus Server model (names, API keys,
  duplicate machines, machines found by thumbprint). ``deregister-from`` follows
  OctopusTentacle's DeregisterMachineCommand: no machine with the thumbprint is a
  controlled failure, several need ``--multiple``, and deleting needs the key's
  user to hold MachineDelete (Octopus answers 403 naming the missing permission).
- systemctl: units under the scratch root; ``enable --now`` also starts.

The world they share is ``$PHOENIX_FAKE_STATE/world.json``; every call is
appended to ``$PHOENIX_FAKE_STATE/calls.jsonl``.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, NoReturn
from urllib.parse import urlsplit

FAKES_FILE = Path(__file__).resolve()
IMDS_HOST = "169.254.169.254"
PROGRAMS = ("curl", "aws", "dnf", "yum", "apt-get", "systemctl", "Tentacle")


class Exit(Exception):
    def __init__(self, code: int, stderr: str = "", stdout: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.stderr = stderr
        self.stdout = stdout


def state_dir() -> Path:
    return Path(os.environ["PHOENIX_FAKE_STATE"])


def root() -> Path:
    return Path(os.environ.get("PHOENIX_ROOT") or "/")


def under_root(path: str) -> Path:
    return root() / path.lstrip("/")


def load_world() -> dict:
    return json.loads((state_dir() / "world.json").read_text())


def save_world(world: dict, directory: Path | None = None) -> None:
    target = (directory or state_dir()) / "world.json"
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(world, indent=2))
    temporary.replace(target)


def record(program: str, argv: list[str]) -> None:
    entry = {"program": program, "argv": argv, "env": dict(os.environ), "time": time.time()}
    with open(state_dir() / "calls.jsonl", "a", encoding="utf-8") as calls:
        calls.write(json.dumps(entry) + "\n")


def launcher(program: str) -> str:
    """A shell launcher that runs this module as ``program``."""
    return f'#!/bin/sh\nexec "{sys.executable}" -I -S "{FAKES_FILE}" {program} "$@"\n'


# --- curl: instance metadata ------------------------------------------------------------------

CURL_FLAGS = {"-s": "silent", "--silent": "silent", "-S": "show_error", "--show-error": "show_error",
              "-f": "fail", "--fail": "fail", "-L": "location", "--location": "location",
              "--retry-connrefused": "retry_connrefused"}
CURL_VALUES = {"-X": "request", "--request": "request", "-H": "header", "--header": "header",
               "-m": "max_time", "--max-time": "max_time", "-o": "output", "--output": "output",
               "-w": "write_out", "--write-out": "write_out", "--retry": "retry", "--retry-delay": "retry_delay",
               "--connect-timeout": "connect_timeout"}


def parse_curl(args: list[str]) -> dict:
    options: dict = {"headers": [], "urls": []}
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg.startswith("--") or (arg.startswith("-") and len(arg) == 2):
            names = [arg]
        elif arg.startswith("-") and len(arg) > 2:
            names = [f"-{letter}" for letter in arg[1:]]
        else:
            options["urls"].append(arg)
            continue
        for name in names:
            if name in CURL_FLAGS:
                options[CURL_FLAGS[name]] = True
            elif name in CURL_VALUES:
                if index >= len(args):
                    raise Exit(2, f"curl: option {name}: requires parameter\n")
                value = args[index]
                index += 1
                if CURL_VALUES[name] == "header":
                    options["headers"].append(value)
                else:
                    options[CURL_VALUES[name]] = value
            else:
                raise Exit(2, f"curl: option {name}: is unknown\n"
                              "curl: try 'curl --help' or 'curl --manual' for more information\n")
    return options


def imds_answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    world = load_world()
    imds = world["imds"]
    if path == "/latest/api/token":
        if method != "PUT":
            return 405, ""
        ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return 400, ""
        token = base64.b64encode(secrets.token_bytes(36)).decode()
        imds.setdefault("tokens", {})[token] = time.time() + int(ttl)
        save_world(world)
        return 200, token
    if method not in ("GET", "HEAD"):
        return 405, ""
    token = headers.get("x-aws-ec2-metadata-token")
    expiry = imds.get("tokens", {}).get(token) if token else None
    if imds.get("reject_tokens") or expiry is None or expiry < time.time():
        return 401, ""
    values = {"/latest/meta-data/instance-id": imds["instance_id"],
              "/latest/meta-data/placement/region": imds["region"],
              "/latest/meta-data/placement/availability-zone": imds["region"] + "a"}
    if imds.get("target_lifecycle_state"):
        values["/latest/meta-data/autoscaling/target-lifecycle-state"] = imds["target_lifecycle_state"]
    if path not in values:
        return 404, NOT_FOUND_HTML
    return 200, values[path]


NOT_FOUND_HTML = ('<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html>\n<html><head>'
                  "<title>404 - Not Found</title></head><body><h1>404 - Not Found</h1></body></html>\n")


def curl(args: list[str]) -> None:
    options = parse_curl(args)
    urls = options["urls"]
    if not urls or not any(IMDS_HOST in url for url in urls):
        real = os.environ["PHOENIX_FAKE_CURL"]
        os.execv(real, [real, *args])
    if len(urls) != 1:
        raise Exit(2, "curl: this stand-in handles one metadata URL per call\n")
    url = urls[0]
    quiet_errors = options.get("silent") and not options.get("show_error")
    if load_world()["imds"].get("unreachable"):
        raise Exit(7, "" if quiet_errors else
                   f"curl: (7) Failed to connect to {IMDS_HOST} port 80 after 0 ms: Couldn't connect to server\n")
    headers = {}
    for header in options["headers"]:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    path = urlsplit(url).path
    status, body = imds_answer(options.get("request", "GET").upper(), path, headers)
    if status >= 400 and options.get("fail"):
        raise Exit(22, "" if quiet_errors else f"curl: (22) The requested URL returned error: {status}\n")
    if "output" in options:
        Path(options["output"]).write_text(body)
        body = ""
    if "write_out" in options:
        body += options["write_out"].replace("%{http_code}", str(status))
    raise Exit(0, stdout=body)


# --- aws ---------------------------------------------------------------------------------------

AWS_FLAGS = {"--with-decryption", "--no-with-decryption", "--no-cli-pager", "--debug", "--no-paginate"}


def parse_aws(args: list[str]) -> tuple[list[str], dict]:
    positional: list[str] = []
    options: dict = {}
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("--"):
            positional.append(arg)
        elif arg in AWS_FLAGS:
            options[arg] = True
        else:
            if index >= len(args):
                raise Exit(252, aws_usage(f"argument {arg}: expected one argument"))
            options[arg] = args[index]
            index += 1
    return positional, options


def aws_usage(message: str) -> str:
    return ("\nusage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]\n"
            "To see help text, you can run:\n\n  aws help\n  aws <command> help\n"
            f"  aws <command> <subcommand> help\n\naws: error: {message}\n")


def aws_error(code: str, operation: str, message: str) -> Exit:
    return Exit(254, f"\nAn error occurred ({code}) when calling the {operation} operation: {message}\n")


def aws_region(options: dict) -> str:
    region = options.get("--region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise Exit(253, '\nYou must specify a region. You can also configure your region by running "aws configure".\n')
    return region


def aws_output(response: dict, options: dict) -> str:
    value: object = response
    if "--query" in options:
        for key in options["--query"].split("."):
            value = value.get(key) if isinstance(value, dict) else None
    if options.get("--output") == "text":
        return ("None" if value is None else str(value)) + "\n"
    return json.dumps(value, indent=4) + "\n"


def require(options: dict, *names: str) -> None:
    missing = [name for name in names if name not in options]
    if missing:
        raise Exit(252, aws_usage("the following arguments are required: " + ", ".join(missing)))


def aws(args: list[str]) -> None:
    positional, options = parse_aws(args)
    if positional[:2] == ["ssm", "get-parameter"]:
        ssm_get_parameter(options)
    if positional[:2] == ["autoscaling", "complete-lifecycle-action"]:
        complete_lifecycle_action(options)
    if positional[:2] == ["autoscaling", "record-lifecycle-action-heartbeat"]:
        record_lifecycle_action_heartbeat(options)
    raise Exit(252, aws_usage(f"argument operation: Invalid choice: {' '.join(positional)}"))


def ssm_get_parameter(options: dict) -> NoReturn:
    require(options, "--name")
    region = aws_region(options)
    world = load_world()
    ssm = world["ssm"]
    name = options["--name"]
    account = "123456789012"
    if ssm.get("deny"):
        raise aws_error("AccessDeniedException", "GetParameter",
                        f"User: arn:aws:sts::{account}:assumed-role/phoenix-fleet/{world['imds']['instance_id']} "
                        f"is not authorized to perform: ssm:GetParameter on resource: "
                        f"arn:aws:ssm:{region}:{account}:parameter{name if name.startswith('/') else '/' + name} "
                        "because no identity-based policy allows the ssm:GetParameter action")
    parameter = ssm["parameters"].get(name)
    if parameter is None or region != world["imds"]["region"]:
        raise aws_error("ParameterNotFound", "GetParameter", "")
    value = parameter["value"]
    if parameter["type"] == "SecureString" and "--with-decryption" not in options:
        value = base64.b64encode(b"\x01\x02\x02\x00x" + hashlib.sha256(value.encode()).digest()).decode()
    response = {"Parameter": {"Name": name, "Type": parameter["type"], "Value": value, "Version": 1,
                              "ARN": f"arn:aws:ssm:{region}:{account}:parameter{name}", "DataType": "text"}}
    raise Exit(0, stdout=aws_output(response, options))


def pending_action(options: dict, operation: str, world: dict) -> dict:
    """The launch hook's action waiting on this instance, or the error AWS gives when there is none."""
    region = aws_region(options)
    instance = options.get("--instance-id")
    if instance is None and "--lifecycle-action-token" not in options:
        raise aws_error("ValidationError", operation, "Either instance ID or lifecycle action token must be specified")
    for action in world["autoscaling"]["pending"]:
        if (action["group"], action["hook"], action["instance"], region) == (
                options["--auto-scaling-group-name"], options["--lifecycle-hook-name"], instance,
                world["imds"]["region"]):
            return action
    raise aws_error("ValidationError", operation, f"No active Lifecycle Action found with instance ID {instance}")


def complete_lifecycle_action(options: dict) -> NoReturn:
    require(options, "--lifecycle-hook-name", "--auto-scaling-group-name", "--lifecycle-action-result")
    operation = "CompleteLifecycleAction"
    world = load_world()
    result = options["--lifecycle-action-result"]
    if result not in ("CONTINUE", "ABANDON"):
        raise aws_error("ValidationError", operation,
                        f"Lifecycle Action Result '{result}' is invalid. Valid values are: CONTINUE, ABANDON")
    action = pending_action(options, operation, world)
    world["autoscaling"]["pending"].remove(action)
    world["autoscaling"]["completed"].append({**action, "result": result})
    save_world(world)
    raise Exit(0)


def record_lifecycle_action_heartbeat(options: dict) -> NoReturn:
    require(options, "--lifecycle-hook-name", "--auto-scaling-group-name")
    world = load_world()
    if world["autoscaling"].get("deny_heartbeat"):
        raise aws_error("AccessDenied", "RecordLifecycleActionHeartbeat",
                        "User is not authorized to perform: autoscaling:RecordLifecycleActionHeartbeat")
    action = pending_action(options, "RecordLifecycleActionHeartbeat", world)
    world["autoscaling"].setdefault("heartbeats", []).append({**action, "time": time.time()})
    save_world(world)
    raise Exit(0)


# --- package managers ---------------------------------------------------------------------------

def install_tentacle_files() -> None:
    binary = under_root("/opt/octopus/tentacle/Tentacle")
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text(launcher("Tentacle"))
    binary.chmod(0o755)


def offered(world: dict, url: str) -> list[str]:
    return world["packages"]["repositories"].get(url.rstrip("/"), [])


def dnf(args: list[str]) -> None:
    if not args or args[0] != "install":
        raise Exit(1, f"No such command: {' '.join(args[:1])}. Please use /usr/bin/dnf --help\n")
    packages = [arg for arg in args[1:] if not arg.startswith("-")]
    world = load_world()
    available: set[str] = set()
    for repo_file in sorted(under_root("/etc/yum.repos.d").glob("*.repo")):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(repo_file)
        except configparser.Error as error:
            raise Exit(1, f"Error: Parsing file '{repo_file}' failed: {error}\n") from None
        for section in parser.sections():
            url = parser[section].get("baseurl", "").replace("$basearch", "x86_64").replace("$releasever", "2023")
            if parser[section].get("enabled", "1") == "1":
                available.update(offered(world, url))
    missing = [package for package in packages if package not in available]
    if missing:
        raise Exit(1, "".join(f"Error: Unable to find a match: {package}\n" for package in missing))
    if "-y" not in args and "--assumeyes" not in args:
        raise Exit(1, stdout="Is this ok [y/N]: Operation aborted.\n")
    install_tentacle_files()
    raise Exit(0, stdout="Installed:\n  " + "\n  ".join(f"{p}-8.1.0-1.x86_64" for p in packages) + "\n\nComplete!\n")


def apt_get(args: list[str]) -> None:
    world = load_world()
    if args[:1] == ["update"]:
        lists = []
        for list_file in sorted(under_root("/etc/apt/sources.list.d").glob("*.list")):
            for line in list_file.read_text().splitlines():
                words = line.split()
                if not words or words[0] != "deb":
                    continue
                signed_by = next((w[len("[signed-by="):-1] for w in words if w.startswith("[signed-by=")), None)
                url = next(w for w in words[1:] if not w.startswith("["))
                if signed_by is None or not under_root(signed_by).is_file():
                    raise Exit(100, f"E: The repository '{url} stable InRelease' is not signed.\n")
                lists.append(url.rstrip("/"))
        world["apt_lists"] = lists
        save_world(world)
        raise Exit(0, stdout="Reading package lists... Done\n")
    if args[:1] == ["install"]:
        packages = [arg for arg in args[1:] if not arg.startswith("-")]
        available = {p for url in world.get("apt_lists", []) for p in offered(world, url)}
        for package in packages:
            if package not in available:
                raise Exit(100, f"Reading package lists...\nE: Unable to locate package {package}\n")
        if "-y" not in args and "--yes" not in args:
            raise Exit(1, stdout="Do you want to continue? [Y/n] Abort.\n")
        install_tentacle_files()
        raise Exit(0, stdout="".join(f"Setting up {p} (8.1.0) ...\n" for p in packages))
    raise Exit(100, f"E: Invalid operation {' '.join(args[:1])}\n")


# --- systemctl ----------------------------------------------------------------------------------

def systemctl(args: list[str]) -> None:
    world = load_world()
    units = world.setdefault("systemd", {})
    command, names = args[0], [arg for arg in args[1:] if not arg.startswith("-")]
    if command == "daemon-reload":
        raise Exit(0)
    for name in names:
        if not under_root(f"/etc/systemd/system/{name}").is_file():
            raise Exit(5, f"Failed to {command} {name}: Unit {name} not found.\n")
    if command in ("enable", "start", "restart"):
        starts = command != "enable" or "--now" in args
        for name in names:
            units[name] = "active" if starts else units.get(name, "inactive")
        save_world(world)
        raise Exit(0)
    if command == "is-active":
        states = [units.get(name, "inactive") for name in names]
        raise Exit(0 if all(state == "active" for state in states) else 3, stdout="\n".join(states) + "\n")
    raise Exit(1, f"Unknown command verb {command}.\n")


# --- Tentacle -----------------------------------------------------------------------------------

TENTACLE_FLAGS = {"--if-blank", "--reset-trust", "--install", "--start", "--stop", "--force", "--console",
                  "--multiple", "-m"}
TENTACLE_REPEATABLE = {"--env", "--environment", "--role", "-r", "--tenant", "--tenanttag"}
TENTACLE_OPTIONS = {
    "create-instance": {"--instance", "--config", "--home"},
    "new-certificate": {"--instance", "--if-blank"},
    "configure": {"--instance", "--noListen", "--reset-trust", "--app", "--home", "--port", "--trust"},
    "register-with": {"--instance", "--server", "--apiKey", "--space", "--name", "--env", "--environment", "--role",
                      "-r", "--tenant", "--tenanttag", "--tenanted-deployment-participation", "--policy",
                      "--comms-style", "--server-comms-port", "--force", "--publicHostName"},
    "service": {"--instance", "--install", "--start", "--stop"},
    "deregister-from": {"--instance", "--server", "--apiKey", "--space", "--multiple", "-m"},
}


def parse_tentacle(command: str, args: list[str]) -> dict:
    allowed = TENTACLE_OPTIONS[command] | {"--console"}
    options: dict = {}
    unknown = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        name, has_value, value = arg.partition("=")
        if name not in allowed:
            unknown.append(arg)
            continue
        if name in TENTACLE_FLAGS:
            options[name] = True
            continue
        if not has_value:
            if index >= len(args):
                raise Exit(1, f"Error: Missing required value for option '{name}'.\n")
            value = args[index]
            index += 1
        if name in TENTACLE_REPEATABLE:
            options.setdefault({"--environment": "--env", "-r": "--role"}.get(name, name), []).append(value)
        else:
            options[name] = value
    if unknown:
        raise Exit(1, "Unrecognized command line arguments: " + " ".join(unknown) + "\n")
    return options


def instance_config(options: dict) -> tuple[Path, dict]:
    name = options.get("--instance", "Tentacle")
    registry = under_root(f"/etc/octopus/instances/{name}.json")
    if not registry.is_file():
        raise Exit(1, f"Error: Tentacle instance '{name}' has not been created; run create-instance first.\n")
    path = Path(json.loads(registry.read_text())["config"])
    return path, json.loads(path.read_text())


def tentacle(args: list[str]) -> None:
    if not args or args[0] not in TENTACLE_OPTIONS:
        raise Exit(1, f"Command '{args[0] if args else ''}' is not supported. See 'Tentacle help'.\n")
    command = args[0]
    options = parse_tentacle(command, args[1:])
    world = load_world()
    if world.get("tentacle", {}).get("echo_arguments"):
        print("Command line: Tentacle " + " ".join(args))
    handlers: dict[str, Callable[[dict, dict], None]] = {
        "create-instance": tentacle_create_instance, "new-certificate": tentacle_new_certificate,
        "configure": tentacle_configure, "register-with": tentacle_register_with, "service": tentacle_service,
        "deregister-from": tentacle_deregister_from,
    }
    handlers[command](options, world)
    raise Exit(0)


def tentacle_create_instance(options: dict, world: dict) -> None:
    name = options.get("--instance", "Tentacle")
    registry = under_root(f"/etc/octopus/instances/{name}.json")
    if registry.exists():
        raise Exit(1, f"Error: A Tentacle instance named '{name}' already exists.\n")
    if "--config" not in options:
        raise Exit(1, "Error: Please specify a --config file.\n")
    config = Path(options["--config"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"certificate": None, "noListen": False, "trusted": [], "app": None}))
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text(json.dumps({"config": str(config)}))
    print(f"Creating empty configuration file: {config}\nSaving instance: {name}")


def tentacle_new_certificate(options: dict, world: dict) -> None:
    path, config = instance_config(options)
    if config["certificate"] and options.get("--if-blank"):
        print("A certificate already exists, no changes will be applied.")
        return
    config["certificate"] = hashlib.sha1(secrets.token_bytes(16)).hexdigest().upper()
    path.write_text(json.dumps(config))
    print(f"A new certificate has been generated and installed. Thumbprint:\n{config['certificate']}")


def tentacle_configure(options: dict, world: dict) -> None:
    path, config = instance_config(options)
    if options.get("--reset-trust"):
        config["trusted"] = []
        print("Removing all trusted Octopus Servers...")
    if "--noListen" in options:
        config["noListen"] = options["--noListen"].lower() == "true"
    if "--app" in options:
        config["app"] = options["--app"]
    path.write_text(json.dumps(config))
    print("These changes require a restart of the Tentacle.")


def tentacle_register_with(options: dict, world: dict) -> None:
    path, config = instance_config(options)
    if not config["certificate"]:
        raise Exit(1, "Error: No certificate has been generated for this Tentacle. Please run new-certificate.\n")
    octopus = world["octopus"]
    space_name = server_space(options, world)
    server = options["--server"]
    space = octopus["spaces"][space_name]

    def resolve(kind: str, names: list[str], known: list[str]) -> None:
        for name in names:
            if name.lower() not in {k.lower() for k in known}:
                raise Exit(1, f"Error: Could not find the {kind} named {name} on the Octopus Server. "
                              f"Ensure the {kind} exists and you have permission to access it.\n")

    environments = options.get("--env", [])
    if not environments:
        raise Exit(1, "Error: Please specify an environment name, slug or Id, e.g., --environment=Development\n")
    resolve("environment", environments, space["environments"])
    resolve("tenant", options.get("--tenant", []), space["tenants"])
    if "--policy" in options:
        resolve("machine policy", [options["--policy"]], space["machine_policies"])
    participation = options.get("--tenanted-deployment-participation", "Untenanted")
    if participation not in ("Untenanted", "TenantedOrUntenanted", "Tenanted"):
        raise Exit(1, f"Error: Invalid tenanted deployment participation '{participation}'.\n")
    name = options.get("--name") or "ip-10-0-0-1"
    existing = [m for m in octopus["machines"] if m["Name"] == name and m["Space"] == space_name]
    if existing and not options.get("--force"):
        raise Exit(1, f"Error: A machine named '{name}' already exists in the environment. "
                      "Use the --force parameter if you want to update the existing machine.\n")
    polling = options.get("--comms-style", "TentaclePassive") == "TentacleActive"
    machine = {
        "Name": name, "Space": space_name, "EnvironmentNames": environments,
        "Roles": options.get("--role", []), "TenantNames": options.get("--tenant", []),
        "TenantedDeploymentParticipation": participation, "MachinePolicy": options.get("--policy"),
        "Endpoint": {"CommunicationStyle": "TentacleActive" if polling else "TentaclePassive",
                     "Uri": f"poll://{secrets.token_hex(10)}/" if polling else f"https://{name}:10933/",
                     "Thumbprint": config["certificate"]},
        "ServerCommsPort": options.get("--server-comms-port"),
    }
    octopus["machines"] = [m for m in octopus["machines"] if m not in existing] + [machine]
    config["trusted"].append(octopus["thumbprint"])
    path.write_text(json.dumps(config))
    save_world(world)
    print(f"Registering the tentacle with the server at {server}\nMachine registered successfully")


def server_space(options: dict, world: dict) -> str:
    """The space a Tentacle command talks to, after the server and key checks `register-with` makes too."""
    octopus = world["octopus"]
    server = options.get("--server")
    if not server:
        raise Exit(1, "Error: Please specify an Octopus Server with --server.\n")
    if server.rstrip("/") != octopus["url"]:
        raise Exit(1, f"Error: Could not connect to the Octopus Server at {server}.\n")
    if options.get("--apiKey") not in octopus["api_keys"]:
        raise Exit(1, "Error: Bad request from Octopus Server: 401 Unauthorized. "
                      "You must be logged in to perform this action. Please provide a valid API key.\n")
    space_name = options.get("--space", "Default")
    if space_name not in octopus["spaces"]:
        raise Exit(1, f"Error: Could not find the space named {space_name} on the Octopus Server.\n")
    return space_name


def tentacle_deregister_from(options: dict, world: dict) -> None:
    _, config = instance_config(options)
    space_name = server_space(options, world)
    octopus = world["octopus"]
    matching = [m for m in octopus["machines"]
                if m["Space"] == space_name and m["Endpoint"]["Thumbprint"] == config["certificate"]]
    if not matching:
        raise Exit(1, "Error: No machine was found matching this Tentacle's thumbprint.\n")
    if len(matching) > 1 and not (options.get("--multiple") or options.get("-m")):
        raise Exit(1, "Error: The Tentacle matches more than one machine on the server. "
                      "To deregister all of these machines specify the --multiple flag.\n")
    if options["--apiKey"] in octopus.get("keys_without_machine_delete", []):
        raise Exit(1, "Error: You do not have permission to perform this action. "
                      "Please contact your Octopus administrator. Missing permission: MachineDelete\n")
    for machine in matching:
        print(f"Deleting machine '{machine['Name']}' from the Octopus Server...")
    octopus["machines"] = [m for m in octopus["machines"] if m not in matching]
    save_world(world)
    print("The Octopus Server is still trusted. If you wish to remove trust for this Octopus Server, "
          "use 'Tentacle.exe configure --remove-trust=...'\nMachine deregistered successfully")


def tentacle_service(options: dict, world: dict) -> None:
    instance_config(options)
    unit = f"{options.get('--instance', 'Tentacle')}.service"
    if options.get("--install"):
        unit_file = under_root(f"/etc/systemd/system/{unit}")
        unit_file.parent.mkdir(parents=True, exist_ok=True)
        unit_file.write_text("[Unit]\nDescription=Octopus Deploy Tentacle\n\n[Service]\n"
                             "ExecStart=/opt/octopus/tentacle/Tentacle run --instance Tentacle --noninteractive\n")
        for command in (["daemon-reload"], ["enable", unit]):
            run_systemctl(command)
    if options.get("--start"):
        run_systemctl(["start", unit])
    print("Service installed and started" if options.get("--start") else "Service installed")


def run_systemctl(command: list[str]) -> None:
    done = subprocess.run(["systemctl", *command], capture_output=True, text=True)
    if done.returncode != 0:
        raise Exit(done.returncode, done.stderr)


def main(argv: list[str]) -> int:
    program, args = argv[0], argv[1:]
    record(program, args)
    handlers = {"curl": curl, "aws": aws, "dnf": dnf, "yum": dnf, "apt-get": apt_get,
                "systemctl": systemctl, "Tentacle": tentacle}
    try:
        handlers[program](args)
    except Exit as done:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
