"""Run the emulator from a shell, so the client or the CLI can be pointed at it by hand.

    python -m tests.octopus_emulator --port 8065 --api-key API-TEST --ready \
        --release "Phoenix Web=1.0.0-ryan0001"

`--ready` seeds everything `phoenix doctor` checks in Octopus for the settings of
stacks/defaults.yaml (or the file given): the project with the variable templates
its tenant variables need, the environment, a machine policy that deletes
unavailable machines and an AutoDeploy trigger for the environment and roles. The
single flags seed one thing each.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Optional

from tests.octopus_emulator.documents import ApiError
from tests.octopus_emulator.emulator import OctopusEmulator
from tests.octopus_emulator.ready import REGISTRATION_ONLY, OctopusNames, Template, octopus_names

#: How long the policy `--ready` seeds waits before deleting an unavailable machine.
READY_CLEANUP = timedelta(minutes=20)


def parse_template(spec: str) -> Template:
    """`PROJECT=NAME[:sensitive]`."""
    project, sep, rest = spec.partition("=")
    name, _, kind = rest.partition(":")
    if not sep or not project.strip() or not name.strip() or kind not in ("", "sensitive"):
        raise argparse.ArgumentTypeError(f"takes PROJECT=NAME[:sensitive], got {spec!r}")
    return Template(project.strip(), name.strip(), kind == "sensitive")


@dataclass(frozen=True)
class Trigger:
    project: str
    environment: str
    roles: tuple[str, ...]


def parse_trigger(spec: str) -> Trigger:
    """`PROJECT=ENVIRONMENT[:ROLE,ROLE...]`."""
    project, sep, rest = spec.partition("=")
    environment, _, roles = rest.partition(":")
    if not sep or not project.strip() or not environment.strip():
        raise argparse.ArgumentTypeError(f"takes PROJECT=ENVIRONMENT[:ROLE,...], got {spec!r}")
    return Trigger(project.strip(), environment.strip(), tuple(r.strip() for r in roles.split(",") if r.strip()))


def parse_policy(spec: str) -> tuple[str, Optional[timedelta]]:
    """`NAME[=DURATION]`: with a duration (20m, 1h), the policy deletes machines unavailable that long."""
    from automation.reap import parse_duration

    name, sep, duration = spec.partition("=")
    if not name.strip():
        raise argparse.ArgumentTypeError(f"takes NAME[=DURATION], got {spec!r}")
    if not sep:
        return name.strip(), None
    try:
        return name.strip(), parse_duration(duration)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.octopus_emulator",
        description="A local Octopus Server stand-in on 127.0.0.1 (runs until interrupted).",
    )
    parser.add_argument(
        "--port", type=int, default=8065, help="port to listen on; 0 picks a free one (default 8065)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--api-key", default="API-TEST", help="the API key clients must send (default API-TEST)"
    )
    parser.add_argument(
        "--extra-api-key", action="append", default=[], metavar="KEY",
        help="another key the server accepts, of its own user who may only register and delete machines "
        "(e.g. OCTOPUS_REGISTRATION_API_KEY; repeatable)",
    )
    parser.add_argument("--space", default="Default", help="name of the default space (default Default)")
    parser.add_argument(
        "--ready", nargs="?", const="", default=None, metavar="DEFAULTS",
        help="seed what doctor checks for a defaults file (default: this repository's stacks/defaults.yaml): "
        "project and its tenant variable templates, environment, a machine policy deleting unavailable "
        "machines, an AutoDeploy trigger",
    )
    parser.add_argument(
        "--project", action="append", default=[], help="seed a tenanted-capable project (repeatable)"
    )
    parser.add_argument(
        "--environment", action="append", default=[], help="seed an environment (repeatable)"
    )
    parser.add_argument(
        "--release", action="append", default=[], metavar="PROJECT=VERSION",
        help="seed a release of a seeded project (repeatable)",
    )
    parser.add_argument(
        "--machine-policy", action="append", default=[], type=parse_policy, metavar="NAME[=DURATION]",
        help="seed a machine policy; with =20m it deletes machines unavailable that long (repeatable)",
    )
    parser.add_argument(
        "--trigger", action="append", default=[], type=parse_trigger, metavar="PROJECT=ENVIRONMENT[:ROLES]",
        help="seed an AutoDeploy trigger for new machines in ENVIRONMENT with one of ROLES "
        "(comma-separated), e.g. 'Phoenix Web=Feature:web' (repeatable)",
    )
    parser.add_argument(
        "--template", action="append", default=[], type=parse_template, metavar="PROJECT=NAME[:sensitive]",
        help="seed a project variable template (a tenant variable's slot), e.g. 'Phoenix Web=Phoenix.Url' (repeatable)",
    )
    parser.add_argument("--auto-deploy", action="store_true", help="deploy to machines as they become available")
    return parser.parse_args(argv)


def ready_settings(path: Optional[str]) -> OctopusNames:
    from automation.config import read_defaults
    from automation.pulumi_cli import PROJECT_ROOT

    return octopus_names(read_defaults(Path(path) if path else PROJECT_ROOT / "stacks" / "defaults.yaml"))


def seed(emulator: OctopusEmulator, args: argparse.Namespace) -> None:
    """What the flags ask for, `--ready` first (a name seeded twice is seeded once)."""
    projects, environments = list(args.project), list(args.environment)
    policies, triggers, templates = list(args.machine_policy), list(args.trigger), list(args.template)
    if args.ready is not None:
        ready = ready_settings(args.ready or None)
        projects.insert(0, ready.project)
        environments.insert(0, ready.environment)
        policies.insert(0, (ready.machine_policy, READY_CLEANUP))
        triggers.insert(0, Trigger(ready.project, ready.environment, ready.roles))
        templates[:0] = ready.templates
    for name in dict.fromkeys(projects):
        emulator.seed_project(name)
    for template in dict.fromkeys(templates):
        emulator.seed_project_template(template.project, template.name, sensitive=template.sensitive)
    for name in dict.fromkeys(environments):
        emulator.seed_environment(name)
    seen: set[str] = set()
    for name, cleanup in policies:
        if name not in seen:
            seen.add(name)
            emulator.seed_machine_policy(name, delete_unavailable_after=cleanup)
    for trigger in dict.fromkeys(triggers):
        roles = f" ({', '.join(trigger.roles)})" if trigger.roles else ""
        emulator.seed_trigger(
            trigger.project, environments=[trigger.environment], roles=list(trigger.roles),
            name=f"Auto deploy to new {trigger.environment} targets{roles}",
        )
    for spec in args.release:
        project, sep, version = spec.partition("=")
        if not sep or not version:
            raise ValueError(f"--release takes PROJECT=VERSION, got {spec!r}")
        emulator.seed_release(project, version)
    for number, key in enumerate(args.extra_api_key, start=1):
        emulator.add_api_key(key, username=f"extra{number}", permissions=REGISTRATION_ONLY)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    emulator = OctopusEmulator(
        api_key=args.api_key, host=args.host, port=args.port, space=args.space,
        auto_deploy=args.auto_deploy,
    )
    try:
        seed(emulator, args)
    except (ValueError, LookupError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        emulator.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"Octopus emulator listening on {emulator.url} (header X-Octopus-ApiKey)", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
