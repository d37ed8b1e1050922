"""Run the emulator from a shell, so the client or the CLI can be pointed at it by hand.

    python -m tests.octopus_emulator --port 8065 --api-key API-TEST \
        --project Phoenix --environment Feature --release Phoenix=1.0.0-ryan0001
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.octopus_emulator.emulator import OctopusEmulator


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
    parser.add_argument("--space", default="Default", help="name of the default space (default Default)")
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
        "--machine-policy", action="append", default=[], help="seed a machine policy (repeatable)"
    )
    parser.add_argument("--auto-deploy", action="store_true", help="deploy to machines as they become available")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    emulator = OctopusEmulator(
        api_key=args.api_key, host=args.host, port=args.port, space=args.space,
        auto_deploy=args.auto_deploy,
    )
    try:
        for name in args.project:
            emulator.seed_project(name)
        for name in args.environment:
            emulator.seed_environment(name)
        for name in args.machine_policy:
            emulator.seed_machine_policy(name)
        for spec in args.release:
            project, sep, version = spec.partition("=")
            if not sep or not version:
                raise ValueError(f"--release takes PROJECT=VERSION, got {spec!r}")
            emulator.seed_release(project, version)
    except (ValueError, LookupError) as exc:
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
