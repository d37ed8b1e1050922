"""A scratch EC2 instance for running the Linux bootstrap for real.

A root directory stands in for ``/`` (the script and wrapper honour
``PHOENIX_ROOT``), the fakes in ``fakes.py`` are the only AWS/Octopus/package
commands on PATH, next to a few real system tools, and a local HTTP server on
127.0.0.1 plays the Tentacle package repository and the app's health endpoint.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bootstrap.render import BootstrapSettings, userdata_bytes, userdata_text
from tests.bootstrap import fakes
from tests.bootstrap.samples import sample_settings

# The real tools the script and its wrapper may use; anything else is a finding.
SYSTEM_TOOLS = ("mkdir", "cat", "chmod", "rm", "mktemp", "flock", "sleep")
OCTOPUS_URL = sample_settings().server_url
PACKAGE_KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBFake\n-----END PGP PUBLIC KEY BLOCK-----\n"


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    host: "FakeHost"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        host = self.server.host
        if self.path == "/rpm/tentacle.repo":
            self._send(200, f"[octopus-tentacle]\nname=Octopus Tentacle\nbaseurl={host.url}/rpm/stable/$basearch\n"
                            "enabled=1\ngpgcheck=1\n")
        elif self.path == "/apt/public.key":
            self._send(200, PACKAGE_KEY)
        elif self.path == "/health":
            self._send(host.health_status(), "ok\n")
        else:
            self._send(404, "not found\n")

    def _send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server signature
        pass


class FakeHost:
    """One instance: its root, its fakes, its package repository and app."""

    def __init__(self, base: Path, package_manager: str = "dnf") -> None:
        real_curl = shutil.which("curl")
        if real_curl is None:
            pytest.fail("curl is not installed; the bootstrap tests need it: apt-get install -y curl")
        self.base = base
        self.root = base / "root"
        self.state = base / "state"
        self.bin = base / "bin"
        system_bin = base / "system-bin"
        for folder in (self.root, self.state, self.bin, system_bin, base / "tmp", base / "home"):
            folder.mkdir(parents=True)
        for program in ("curl", "aws", "systemctl", package_manager):
            launcher = self.bin / program
            launcher.write_text(fakes.launcher(program))
            launcher.chmod(0o755)
        for tool in SYSTEM_TOOLS:
            found = shutil.which(tool)
            if found is None:
                pytest.fail(f"the system tool {tool} is missing (util-linux/coreutils)")
            (system_bin / tool).symlink_to(found)
        self.registration_key = "API-" + secrets.token_hex(13).upper()
        self.instance_id = "i-0" + secrets.token_hex(8)
        self.health_lock = threading.Lock()
        self.health_checks_since_deploy = 0
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.host = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self.env = {
            "PATH": f"{self.bin}:{system_bin}",
            "PHOENIX_ROOT": str(self.root),
            "PHOENIX_FAKE_STATE": str(self.state),
            "PHOENIX_FAKE_CURL": real_curl,
            "TMPDIR": str(base / "tmp"),
            "HOME": str(base / "home"),
            "LANG": "C.UTF-8",
        }
        self.package_source = f"{self.url}/rpm" if package_manager in ("dnf", "yum") else f"{self.url}/apt"
        self.write_world(self.default_world())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the world the fakes share -------------------------------------------------------------

    def default_world(self) -> dict:
        return {
            "imds": {"instance_id": self.instance_id, "region": "eu-west-1", "target_lifecycle_state": "InService"},
            "ssm": {"parameters": {"/phoenix/ryan0001/registration-key":
                                   {"type": "SecureString", "value": self.registration_key}}},
            "autoscaling": {"pending": [{"group": "phoenix-ryan0001-fleet", "hook": "phoenix-ryan0001-launch",
                                         "instance": self.instance_id}], "completed": []},
            "packages": {"repositories": {f"{self.url}/rpm/stable/x86_64": ["tentacle"],
                                          f"{self.url}/apt": ["tentacle"]}},
            "octopus": {"url": OCTOPUS_URL, "api_keys": [self.registration_key], "thumbprint": "8E0A1B2C",
                        "spaces": {"Default": {"environments": ["Feature"], "tenants": ["ryan0001"],
                                               "machine_policies": ["Feature environments"]}},
                        "machines": []},
            "app": {"mode": "deploys", "checks_before_healthy": 0},
        }

    def world(self) -> dict:
        return json.loads((self.state / "world.json").read_text())

    def write_world(self, world: dict) -> None:
        fakes.save_world(world, self.state)

    def change_world(self, change) -> None:
        world = self.world()
        change(world)
        self.write_world(world)

    def health_status(self) -> int:
        """The app answers once Octopus has deployed to a registered machine, a few checks later."""
        app = self.world()["app"]
        if app["mode"] == "never":
            return 503
        if not self.world()["octopus"]["machines"]:
            return 503
        with self.health_lock:
            self.health_checks_since_deploy += 1
            deployed = self.health_checks_since_deploy > app["checks_before_healthy"]
            return app.get("deployed_status", 200) if deployed else 503

    # --- settings and runs -------------------------------------------------------------------

    def settings(self, **overrides) -> BootstrapSettings:
        """Settings that point at this instance's app, repository and a short health wait."""
        values = dict(roles=("web",), health_url=f"{self.url}/health", health_timeout_seconds=20,
                      health_interval_seconds=1, tentacle_package_source=self.package_source)
        return sample_settings(**{**values, **overrides})

    def boot(self, settings: BootstrapSettings | None = None, timeout: float = 60) -> Run:
        """Runs the userdata the way cloud-init does: unpacked from what EC2 holds, as a script, once."""
        userdata = self.base / "userdata"
        userdata.write_text(userdata_text(userdata_bytes(settings or self.settings(), "linux")))
        return self._run(["/bin/bash", str(userdata)], timeout)

    def rerun(self, timeout: float = 60) -> Run:
        """Runs the installed script again, as an operator would."""
        return self._run(["/bin/bash", str(self.root / "opt/phoenix/bootstrap.sh")], timeout)

    def watch(self, timeout: float = 60) -> subprocess.Popen:
        """Starts the termination watch as its systemd unit does (the boot must have installed the script)."""
        return subprocess.Popen(
            ["/bin/bash", str(self.root / "opt/phoenix/bootstrap.sh"), "--watch-termination"],
            env={**self.env, "PHOENIX_WATCH_INTERVAL_SECONDS": "0.2"}, cwd=self.base,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def terminate(self, hook: str = "phoenix-ryan0001-deregister") -> None:
        """What Auto Scaling does when it scales the instance in: the termination hook's action waits on
        it, and the metadata's target lifecycle state becomes Terminated."""
        def change(world: dict) -> None:
            world["autoscaling"]["pending"].append(
                {"group": "phoenix-ryan0001-fleet", "hook": hook, "instance": self.instance_id})
            world["imds"]["target_lifecycle_state"] = "Terminated"
        self.change_world(change)

    def _run(self, command: list[str], timeout: float) -> Run:
        started = time.monotonic()
        done = subprocess.run(
            command, env=self.env, cwd=self.base, capture_output=True, text=True, timeout=timeout
        )
        return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    # --- what happened -----------------------------------------------------------------------

    def calls(self, program: str | None = None) -> list[dict]:
        path = self.state / "calls.jsonl"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        return [entry for entry in entries if program is None or entry["program"] == program]

    def tentacle_commands(self) -> list[list[str]]:
        return [entry["argv"] for entry in self.calls("Tentacle")]

    def heartbeats(self) -> list[list[str]]:
        """The arguments of every record-lifecycle-action-heartbeat the script ran."""
        return [call["argv"] for call in self.calls("aws") if "record-lifecycle-action-heartbeat" in call["argv"]]

    def lifecycle_results(self) -> list[str]:
        return [call["argv"][call["argv"].index("--lifecycle-action-result") + 1]
                for call in self.calls("aws") if "complete-lifecycle-action" in call["argv"]]

    def log(self) -> str:
        path = self.root / "var/log/phoenix/bootstrap.log"
        return path.read_text() if path.exists() else ""

    def files_containing(self, text: str) -> list[Path]:
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.is_symlink() and text.encode() in path.read_bytes():
                found.append(path)
        return found
