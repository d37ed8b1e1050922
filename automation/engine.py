"""The Automation API operations behind the commands: one stack per feature.

The work dir's program runs *inline* (in this process) because the engine is
driven through `pulumi.automation`; the Pulumi CLI runs in its own session so
that exactly one signal reaches it per signal we receive (the first cancels
cleanly, a second terminates).

Everything here is imported lazily by the command line: `pulumi.automation`
is heavy and `python -m automation --help` must stay fast.
"""

from __future__ import annotations

import getpass
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

import pulumi.automation as auto
from pulumi.automation._cmd import CommandResult, OnOutput, PulumiCommand
from pulumi.automation.errors import create_command_error

from automation import locks, pulumi_cli
from automation.config import SECRET_ENV, StackConfig
from automation.errors import InputError, Interrupted, PhoenixError, StackLocked, lock_holder
from automation.summary import Output, Step

#: Folder of the work dir holding the embedded file backend (git-ignored).
LOCAL_STATE_DIR = ".state"
#: How often a locked stack is retried under --wait-lock.
LOCK_POLL_SECONDS = 2.0
#: The variable the Octopus providers take this run's API key from (components/octopus/provider.py).
API_KEY_VARIABLE = SECRET_ENV["octopus:apiKey"]
PASSPHRASE_FILE_VARIABLE = "PULUMI_CONFIG_PASSPHRASE_FILE"

Log = Callable[[str], None]


# --- where state lives and how secrets are encrypted -------------------------------------------


@dataclass(frozen=True)
class Backend:
    url: str
    local_default: bool


#: URL schemes the Pulumi CLI logs in to (`pulumi login`); anything else it takes for a Pulumi Cloud URL.
BACKEND_SCHEMES = ("file", "s3", "gs", "azblob", "postgres", "http", "https")


def resolve_backend(explicit: Optional[str], environ: Mapping[str, str], work_dir: Path) -> Backend:
    """--backend, else PULUMI_BACKEND_URL, else a file backend in the work dir's .state/.

    A relative `file://` folder is read from the folder the command runs in, like any path
    given on the command line or in the environment.
    """
    source = "--backend" if explicit else "PULUMI_BACKEND_URL"
    url = (explicit or environ.get("PULUMI_BACKEND_URL") or "").strip()
    if url:
        scheme, sep, _ = url.partition("://")
        if not sep or scheme.lower() not in BACKEND_SCHEMES:
            raise InputError(
                f"{source} {url!r} is not a state backend URL: use file:///path/to/state, "
                "s3://bucket/prefix, gs://bucket, azblob://container, postgres://... or "
                "https://api.pulumi.com (with PULUMI_ACCESS_TOKEN)"
            )
        if url.startswith("file://") and not url.startswith("file:///"):
            relative, query_mark, query = url[len("file://"):].partition("?")
            folder = Path(relative).expanduser().absolute()
            url = f"file://{folder}{query_mark}{query}"
        return Backend(url=url, local_default=False)
    state = Path(work_dir).resolve() / LOCAL_STATE_DIR
    return Backend(url=f"file://{state}", local_default=True)


def local_backend_warning(backend: Backend, environ: Mapping[str, str]) -> Optional[str]:
    if backend.local_default and environ.get("CI"):
        return (
            f"warning: CI is set and no backend was given: state goes to {backend.url[7:]}, "
            "which is lost with this workspace. Pass --backend or set PULUMI_BACKEND_URL."
        )
    return None


def check_passphrase(environ: Mapping[str, str]) -> None:
    """Stacks use the passphrase secrets provider; it must come from the environment."""
    if environ.get("PULUMI_CONFIG_PASSPHRASE"):
        return
    path = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if path:
        candidate = Path(path).expanduser()
        if not candidate.is_file() or not os.access(candidate, os.R_OK):
            raise InputError(f"PULUMI_CONFIG_PASSPHRASE_FILE names {path!r}, which is not a readable file")
        return
    raise InputError(
        "no passphrase for stack secrets: set PULUMI_CONFIG_PASSPHRASE or "
        "PULUMI_CONFIG_PASSPHRASE_FILE (the same one every run of this feature uses)"
    )


def read_project(work_dir: Path) -> auto.ProjectSettings:
    """The work dir's Pulumi.yaml; a work dir without a readable one is bad input."""
    import yaml

    if not Path(work_dir).is_dir():
        raise InputError(f"--work-dir {work_dir} is not a directory")
    for name in ("Pulumi.yaml", "Pulumi.yml", "Pulumi.json"):
        path = Path(work_dir) / name
        if path.is_file():
            try:
                document = yaml.safe_load(path.read_text(encoding="utf-8"))
                return auto.ProjectSettings.from_dict(document)
            except (yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
                raise InputError(f"{path} is not a valid Pulumi project file: {error}") from None
    raise InputError(f"{work_dir} holds no Pulumi.yaml: --work-dir must name a Pulumi project")


def program_for(work_dir: Path, project: auto.ProjectSettings) -> Callable[[], None]:
    """An inline program that runs the project's __main__.py as `pulumi up` would."""
    main = Path(work_dir) / (project.main or "")
    if main.is_dir():
        main = main / "__main__.py"
    if not main.is_file():
        raise InputError(f"the Pulumi project in {work_dir} has no program at {main}")
    root = str(Path(work_dir).resolve())
    paths = [root] + ([str(pulumi_cli.PROJECT_ROOT)] if root != str(pulumi_cli.PROJECT_ROOT) else [])

    def program() -> None:
        import runpy

        # As for the providers (pulumi_cli.engine_env): the work dir, then this repository.
        for path in reversed(paths):
            if path not in sys.path:
                sys.path.insert(0, path)
        runpy.run_path(str(main), run_name="__main__")

    program.__name__ = f"run_{Path(root).name}"
    return program


# --- the Pulumi CLI, tracked so a signal can cancel it -----------------------------------------


class TrackedCommand(PulumiCommand):
    """A PulumiCommand whose running processes can be signalled, and that can feed stdin.

    Secrets go to `pulumi config set --secret` on stdin, never on the command line.
    """

    def __init__(self, cli: Path) -> None:
        super().__init__(root=str(cli.parent.parent), skip_version_check=False)
        self.command = str(cli)
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def run(  # type: ignore[override]
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Optional[OnOutput] = None,
        on_error: Optional[OnOutput] = None,
        *,
        input_text: Optional[str] = None,
    ) -> CommandResult:
        args = list(args)
        if "--non-interactive" not in args:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        out_chunks: list[str] = []
        err_chunks: list[str] = []

        def consume(stream, callback, chunks) -> None:
            for line in iter(stream.readline, ""):
                stripped = line.rstrip()
                if callback:
                    callback(stripped)
                chunks.append(stripped)
            stream.close()

        process = subprocess.Popen(
            [self.command, *args],
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            encoding="utf-8",
            # Its own session: a terminal's ^C reaches only us, and we forward exactly one.
            start_new_session=True,
        )
        with self._lock:
            self._running.add(process)
        try:
            readers = [
                threading.Thread(target=consume, args=(process.stdout, on_output, out_chunks), daemon=True),
                threading.Thread(target=consume, args=(process.stderr, on_error, err_chunks), daemon=True),
            ]
            for reader in readers:
                reader.start()
            if input_text is not None:
                assert process.stdin is not None
                try:
                    process.stdin.write(input_text)
                    process.stdin.close()
                except BrokenPipeError:
                    pass
            for reader in readers:
                while reader.is_alive():
                    reader.join(0.2)
            code = process.wait()
        finally:
            with self._lock:
                self._running.discard(process)
        result = CommandResult(stdout="\n".join(out_chunks), stderr="\n".join(err_chunks), code=code)
        if code != 0:
            error = create_command_error(result)
            error.command_result = result  # type: ignore[attr-defined]
            raise error
        return result

    def pids(self) -> list[int]:
        """The pids of the CLI processes running now (a lock names the one that took it)."""
        with self._lock:
            return [process.pid for process in self._running]

    def signal_all(self, signum: int) -> int:
        """Send a signal to every running CLI process; returns how many got it."""
        with self._lock:
            running = list(self._running)
        sent = 0
        for process in running:
            if process.poll() is None:
                try:
                    process.send_signal(signum)
                    sent += 1
                except ProcessLookupError:
                    pass
        return sent


class Interruption:
    """SIGINT/SIGTERM while the engine runs: forward each one, remember that it happened.

    The first forwarded signal makes the CLI cancel cleanly (finish in-flight
    operations, save state, release the lock); a second makes it terminate.
    Handlers are installed by the outermost `with` on the main thread; nested
    uses (reap's worker threads) share the same count.
    """

    def __init__(self, command: TrackedCommand, log: Log, flag: Optional[Path] = None) -> None:
        self.command = command
        self.log = log
        #: Made on the first signal: a running rollout polls for it and rolls its refresh back.
        self.flag = flag
        self.count = 0
        self._depth = 0
        self._depth_lock = threading.Lock()
        self._previous: dict[int, Any] = {}

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.log(f"{name} received: cancelling the running operation cleanly (send it again to terminate)")
            self._raise_flag()
            self.command.signal_all(signal.SIGINT)
        else:
            self.log(f"{name} received again: terminating the Pulumi CLI")
            self.command.signal_all(signal.SIGTERM)

    def __enter__(self) -> "Interruption":
        with self._depth_lock:
            self._depth += 1
            outermost = self._depth == 1
        if outermost and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._depth_lock:
            self._depth -= 1
            last = self._depth == 0
        if last:
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)
            self._previous.clear()
            if self.flag is not None:
                self.flag.unlink(missing_ok=True)

    def _raise_flag(self) -> None:
        """The engine passes a cancel to providers only as a Cancel call the Python host ignores: say it with a file."""
        if self.flag is not None:
            try:
                self.flag.touch()
            except OSError as error:
                self.log(f"warning: could not tell the running providers to stop: {error}")

    def check(self) -> None:
        if self.interrupted:
            raise Interrupted(
                "interrupted: the running operation was cancelled and its state saved; "
                "run the same command again to continue"
            )

    @contextmanager
    def guard(self) -> Iterator["Interruption"]:
        """Run engine work; a failure caused by a signal becomes Interrupted (exit 130)."""
        with self:
            self.check()
            try:
                yield self
            except Exception:
                self.check()
                raise
            self.check()


# --- stale locks --------------------------------------------------------------------------------


def _pid_is_pulumi(pid: int) -> bool:
    """Whether `pid` is a running Pulumi process.

    A killed process whose parent died too stays a zombie until the
    container's init reaps it, and some inits never do: `kill(pid, 0)` and
    its `comm` still answer, so the state letter decides.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        comm = (proc / "comm").read_text().strip()
    except (OSError, IndexError):
        return proc.exists()  # gone between the two reads, or unreadable: alive only if still there
    return state not in ("Z", "X", "x") and "pulumi" in comm


def _lock_user() -> str:
    """The name Pulumi writes into a lock: the account of the uid, as Go's user.Current() finds it."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return getpass.getuser()


def stale_lock(stderr: str, *, hostname: Optional[str] = None, username: Optional[str] = None,
               alive: Callable[[int], bool] = _pid_is_pulumi) -> Optional[str]:
    """The holder of a file-backend lock whose process provably no longer runs.

    Only a lock taken on this host by this user can be proven stale (its pid
    is gone, or is no longer a Pulumi process); any other lock is respected.
    """
    import re

    hostname = hostname or socket.gethostname()
    username = username or _lock_user()
    holders = re.findall(r"created by (\S+)@(\S+) \(pid (\d+)\)", stderr or "")
    if not holders:
        return None
    for user, host, pid in holders:
        if host != hostname or user != username or alive(int(pid)):
            return None
    user, host, pid = holders[0]
    return f"{user}@{host}, pid {pid}"


# --- results ------------------------------------------------------------------------------------


@dataclass
class StepRecorder:
    """Collects the resources an operation touches from the engine's event stream."""

    steps: list[Step] = field(default_factory=list)
    gone: list[Step] = field(default_factory=list)
    """Resources a refresh found deleted outside Pulumi (a refresh step with no new state)."""

    def __call__(self, event: Any) -> None:
        done = getattr(event, "res_outputs_event", None)
        if done is not None and done.metadata is not None:
            meta = done.metadata
            if getattr(meta.op, "value", str(meta.op)) == "refresh" and meta.new is None:
                self.gone.append(Step(op="gone", type=meta.type, name=meta.urn.rsplit("::", 1)[-1]))
            return
        pre = getattr(event, "resource_pre_event", None)
        if pre is None or pre.metadata is None:
            return
        meta = pre.metadata
        op = getattr(meta.op, "value", str(meta.op))
        if op in ("refresh", "read-discard", "discard-replaced") or meta.type.startswith("pulumi:providers:"):
            return
        name = meta.urn.rsplit("::", 1)[-1]
        self.steps.append(Step(op=op, type=meta.type, name=name))


def outputs_of(output_map: Mapping[str, Any]) -> dict[str, Output]:
    return {
        name: Output(value=value.value, secret=bool(value.secret))
        for name, value in output_map.items()
    }


#: The type of the Octopus tenant resource ends so (components/octopus/tenant.py).
TENANT_TYPE_SUFFIX = "/octopus:Tenant"
#: Pulumi's operation kinds in phoenix's words: `create` runs an update.
_COMMAND_OF_KIND = {"update": "create"}


@dataclass(frozen=True)
class LastOperation:
    """The stack's most recent operation as the backend recorded it."""

    command: str
    """create, destroy, refresh, ... (Pulumi's `update` is phoenix's `create`)"""
    result: str
    """succeeded, failed or in-progress"""
    at: Optional[datetime]

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> "LastOperation":
        kind = str(entry.get("kind") or "?")
        return cls(
            command=_COMMAND_OF_KIND.get(kind, kind),
            result=str(entry.get("result") or "?"),
            at=_moment(entry.get("endTime") or entry.get("startTime")),
        )


def _moment(text: Any) -> Optional[datetime]:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _deployed(entry: Mapping[str, Any]) -> bool:
    return entry.get("kind") == "update" and entry.get("result") == "succeeded"


def plain_config(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The plain config a history entry recorded (secrets stay out)."""
    plain: dict[str, Any] = {}
    for key, value in (entry.get("config") or {}).items():
        if not isinstance(value, dict) or value.get("secret"):
            continue
        plain[key] = value.get("objectValue", value.get("value"))
    return plain


@dataclass(frozen=True)
class StackRecord:
    last_operation: Optional[LastOperation]
    last_config: dict[str, Any]
    """The plain config of the last operation (what reap reads the TTL from)."""
    deployed_config: dict[str, Any]
    """The plain config of the last update that succeeded: what is deployed."""


@dataclass(frozen=True)
class StackInfo:
    """What `list` and `reap` know about one feature's stack."""

    name: str
    last_update: Optional[datetime]
    update_in_progress: bool
    resource_count: Optional[int]
    config: dict[str, Any]
    outputs: dict[str, Output]
    last_operation: Optional[LastOperation] = None
    deployed_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    """The stack's own tags (automation/lifetime.py: expiry and pin)."""


# --- the engine ---------------------------------------------------------------------------------


class Engine:
    """One work dir, one backend: the stacks of its features."""

    def __init__(
        self,
        work_dir: Path,
        backend: Backend,
        *,
        log: Log,
        environ: Optional[Mapping[str, str]] = None,
        quiet: bool = False,
        verbose: bool = False,
        color: bool = False,
        run_log: Optional[Any] = None,
        needs_passphrase: bool = True,
    ) -> None:
        self.work_dir = Path(work_dir).resolve()
        self.backend = backend
        self.log = log
        self.quiet = quiet
        self.verbose = verbose
        self.color = "always" if color else "never"
        #: Where every line of the engine's output goes (automation/run_log.py), shown or not.
        self.run_log = run_log
        environ = os.environ if environ is None else environ
        if needs_passphrase:
            check_passphrase(environ)
        self.project = read_project(self.work_dir)
        self.command = TrackedCommand(pulumi_cli.require_cli())
        from components.rollout import INTERRUPT_FILE_ENV

        interrupt_file = Path(tempfile.gettempdir()) / f"phoenix-interrupt-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        extra = {
            "PULUMI_BACKEND_URL": backend.url,
            # A fresh CI workspace has no Pulumi.<stack>.yaml: take the salt from the state.
            "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
            INTERRUPT_FILE_ENV: str(interrupt_file),
        }
        if environ.get(API_KEY_VARIABLE):
            # The providers use this run's key, never the one recorded in the state.
            extra[API_KEY_VARIABLE] = environ[API_KEY_VARIABLE]
        if environ.get(PASSPHRASE_FILE_VARIABLE):
            # Read from the caller's folder, not from the work dir the CLI runs in.
            extra[PASSPHRASE_FILE_VARIABLE] = str(Path(environ[PASSPHRASE_FILE_VARIABLE]).expanduser().absolute())
        self.env = pulumi_cli.engine_env(self.work_dir, extra=extra)
        self._program: Optional[Callable[[], None]] = None
        self.interruption = Interruption(self.command, log, flag=interrupt_file)
        self.heartbeat_seconds = locks.heartbeat_seconds(dict(environ))

    # workspace and stacks

    @property
    def program(self) -> Callable[[], None]:
        if self._program is None:
            self._program = program_for(self.work_dir, self.project)
        return self._program

    def workspace(self) -> auto.LocalWorkspace:
        if self.backend.local_default:
            Path(self.backend.url[len("file://"):]).mkdir(parents=True, exist_ok=True)
        return auto.LocalWorkspace(
            work_dir=str(self.work_dir),
            program=self.program,
            env_vars=self.env,
            secrets_provider="passphrase",
            pulumi_command=self.command,
        )

    def stack_names(self) -> list[str]:
        return sorted(summary.name for summary in self.workspace().list_stacks())

    def select(self, name: str) -> auto.Stack:
        """The feature's stack; StackNotFoundError when it does not exist."""
        return auto.Stack.select(name, self.workspace())

    def create_or_select(self, name: str) -> tuple[auto.Stack, bool]:
        """The feature's stack and whether this call created it."""
        workspace = self.workspace()
        try:
            return auto.Stack.select(name, workspace), False
        except auto.StackNotFoundError:
            pass
        try:
            return auto.Stack.create(name, workspace), True
        except auto.StackAlreadyExistsError:
            return auto.Stack.select(name, workspace), False

    def remove(self, stack: auto.Stack, *, force: bool = False, wait_seconds: float = 0.0) -> None:
        """Remove the stack (it takes the lock too: a runner finishing its own destroy may hold it)."""
        self.with_lock(
            stack, lambda: stack.workspace.remove_stack(stack.name, force=force), wait_seconds=wait_seconds,
        )

    # config

    def write_config(self, stack: auto.Stack, config: StackConfig) -> None:
        """Make the stack's config exactly the derived one: set all, drop the rest."""
        workspace = stack.workspace
        current = set(self._config_keys(stack))
        # Secrets first: a passphrase that does not open the stack stops here, before anything is written.
        for key, value in config.secrets.items():
            self.command.run(
                ["config", "set", key, "--secret", "--stack", stack.name],
                str(self.work_dir), self.env, input_text=value,
            )
        workspace.set_all_config_json(stack.name, config.plain_json())
        stale = sorted(current - config.keys())
        if stale:
            workspace.remove_all_config(stack.name, stale)

    def _config_keys(self, stack: auto.Stack) -> list[str]:
        result = self.command.run(
            ["config", "--json", "--stack", stack.name], str(self.work_dir), self.env
        )
        return list(json.loads(result.stdout or "{}"))

    # reading

    def history(self, name: str, *, until: Callable[[dict], bool], page_size: int = 10,
                max_pages: int = 5) -> list[dict]:
        """The stack's operations, newest first, read a page at a time until one satisfies `until`."""
        entries: list[dict] = []
        for page in range(1, max_pages + 1):
            result = self.command.run(
                ["stack", "history", "--json", "--page-size", str(page_size), "--page", str(page),
                 "--stack", name],
                str(self.work_dir), self.env,
            )
            batch = json.loads(result.stdout or "[]") or []
            entries.extend(batch)
            if len(batch) < page_size or any(until(entry) for entry in batch):
                break
        return entries

    def recorded_config(self, name: str) -> dict[str, Any]:
        """The plain config of the stack's last operation (secrets stay masked)."""
        return self.record(name).last_config

    def record(self, name: str) -> "StackRecord":
        """The stack's last operation, and the config of the last update that succeeded."""
        entries = self.history(name, until=_deployed)
        deployed = next((entry for entry in entries if _deployed(entry)), None)
        return StackRecord(
            last_operation=LastOperation.of(entries[0]) if entries else None,
            last_config=plain_config(entries[0]) if entries else {},
            deployed_config=plain_config(deployed) if deployed else {},
        )

    def outputs(self, name: str) -> dict[str, Output]:
        """The stack's outputs; secret ones keep only their secrecy, never their value."""
        result = self.command.run(
            ["stack", "output", "--json", "--stack", name], str(self.work_dir), self.env
        )
        values = json.loads(result.stdout or "{}")
        return {
            key: Output(value=None, secret=True) if value == "[secret]" else Output(value=value)
            for key, value in values.items()
        }

    def infos(self, *, with_outputs: bool, workers: int = 4) -> list[StackInfo]:
        """Every stack of the project: one listing, then a bounded number of reads per stack."""
        from concurrent.futures import ThreadPoolExecutor

        summaries = self.workspace().list_stacks()
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            infos = pool.map(lambda summary: self._info(summary, with_outputs=with_outputs), summaries)
            return sorted(infos, key=lambda info: info.name)

    def info(self, name: str) -> StackInfo:
        """One stack's info (StackNotFoundError when it does not exist)."""
        for summary in self.workspace().list_stacks():
            if summary.name == name:
                return self._info(summary, with_outputs=False)
        raise auto.StackNotFoundError(CommandResult(stdout="", stderr=f"no stack named '{name}' found", code=255))

    def _info(self, summary: Any, *, with_outputs: bool) -> StackInfo:
        last = summary.last_update
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=timezone.utc)
        record = self.record(summary.name)
        return StackInfo(
            name=summary.name,
            last_update=last,
            update_in_progress=bool(summary.update_in_progress),
            resource_count=summary.resource_count,
            config=record.last_config,
            outputs=self.outputs(summary.name) if with_outputs else {},
            last_operation=record.last_operation,
            deployed_config=record.deployed_config,
            tags=self.tags(summary.name),
        )

    def tags(self, name: str) -> dict[str, str]:
        """The stack's tags, as every runner sees them (they live in the backend)."""
        return {str(key): str(value) for key, value in (self.workspace().list_tags(name) or {}).items()}

    def set_tag(self, name: str, key: str, value: str) -> None:
        self.workspace().set_tag(name, key, value)

    def remove_tag(self, name: str, key: str) -> None:
        if key in self.tags(name):
            self.workspace().remove_tag(name, key)

    # running

    def _streams(self, prefix: str) -> tuple[OnOutput, OnOutput]:
        """Callbacks for the engine's stdout and stderr: every line to the run log, what a
        person needs to the terminal (everything with --verbose, nothing with --quiet)."""
        from automation.engine_view import TerminalView

        def stream(*, stderr: bool) -> OnOutput:
            view = TerminalView()

            def emit(line: str) -> None:
                if self.run_log is not None and line.strip():
                    self.run_log.write(f"[{prefix}] {line}")
                if self.quiet:
                    return
                shown = line if self.verbose and line.strip() else view.show(line, stderr=stderr)
                if shown is not None:
                    self.log(f"[{prefix}] {shown}")

            return emit

        return stream(stderr=False), stream(stderr=True)

    def interruptible(self):
        """Context for engine work: signals cancel it cleanly and end in exit 130."""
        return self.interruption.guard()

    def with_lock(self, stack: auto.Stack, operation: Callable[[], Any], *, wait_seconds: float = 0.0) -> Any:
        """Run an operation that takes the stack's lock.

        A lock left by a dead process on this host is removed (with a warning);
        a live one is waited for up to `wait_seconds`, then reported (exit 4).
        While the operation runs, a heartbeat says that its lock is alive.
        """
        deadline = time.monotonic() + max(0.0, wait_seconds)
        cleared = False
        while True:
            self.interruption.check()
            try:
                with locks.beating(self.heartbeat(stack.name)):
                    result = operation()
                self.release_left_lock(stack, getattr(result, "stderr", "") or "")
                return result
            except auto.ConcurrentUpdateError as error:
                stderr = getattr(getattr(error, "command_result", None), "stderr", "") or str(error)
                holder = stale_lock(stderr)
                if holder and not cleared:
                    self.log(f"[{stack.name}] warning: removing a stale lock left by {holder}")
                    self.remove_locks(stack, locks.locks_in_message(stderr))
                    cleared = True
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StackLocked(stack.name, lock_holder(stderr) or "") from None
                self.log(f"[{stack.name}] locked by another update; retrying for {remaining:.0f} s more")
                # Jittered: runners that collided (each saw the other's lock) must not retry in step.
                time.sleep(min(LOCK_POLL_SECONDS * random.uniform(0.5, 1.5), remaining))

    # locks and heartbeats, read from the backend's objects (automation/locks.py)

    @cached_property
    def store(self) -> Optional[Any]:
        """The backend's objects (file:// and s3://), else None."""
        from automation.backend_store import open_store

        try:
            return open_store(self.backend.url)
        except InputError:
            return None

    def stack_path(self, name: str) -> str:
        return locks.stack_path(self.store, self.project.name, name)

    def heartbeat(self, name: str) -> Optional[locks.Heartbeat]:
        """The heartbeat of an operation on the stack; None where the backend's objects are out of reach."""
        if self.store is None:
            return None
        try:
            path = self.stack_path(name)
        except PhoenixError:  # the store failed: the operation runs, without a heartbeat
            return None
        return locks.Heartbeat(self.store, path, self.command.pids, every=self.heartbeat_seconds)

    def remove_locks(self, stack: auto.Stack, holders: list[locks.Lock]) -> None:
        """Delete exactly the locks of these holders; `pulumi cancel` would delete a new live one too."""
        if self.store is None:
            stack.cancel()
            return
        path = self.stack_path(stack.name)
        wanted = {(lock.username, lock.hostname, lock.pid) for lock in holders}
        for lock in locks.read_locks(self.store, path):
            if (lock.username, lock.hostname, lock.pid) in wanted:
                self.store.delete(lock.key)

    def release_left_lock(self, stack: auto.Stack, stderr: str, attempts: int = 3) -> None:
        """The CLI finished but could not delete its lock (it says so, and exits 0): delete it now.

        Left there, it would stop every runner on another host until `unlock`.
        """
        if locks.LOCK_NOT_DELETED not in stderr:
            return
        host, user = socket.gethostname(), _lock_user()
        for attempt in range(attempts if self.store is not None else 0):
            try:
                left = [
                    lock for lock in locks.read_locks(self.store, self.stack_path(stack.name))
                    if (lock.hostname, lock.username) == (host, user) and not _pid_is_pulumi(lock.pid)
                ]
                self.remove_locks(stack, left)
            except PhoenixError:
                time.sleep(2 ** attempt)
                continue
            names = ", ".join(lock.holder for lock in left) or "none left"
            self.log(f"[{stack.name}] warning: the Pulumi CLI could not delete its lock; phoenix removed it ({names})")
            return
        self.log(
            f"[{stack.name}] warning: the Pulumi CLI could not delete its lock, nor could phoenix: the next run on "
            f"this host removes it; on another host, run `unlock {stack.name}`"
        )

    def holds_no_stack(self) -> bool:
        """Whether the backend is a file backend not made yet (so it holds no stack at all)."""
        if not self.backend.url.startswith("file://"):
            return False
        folder = Path(self.backend.url[len("file://"):].partition("?")[0])
        return not (folder / ".pulumi").is_dir()

    def deployment(self, name: str) -> dict:
        """The stack's state as `pulumi stack export` writes it (secrets stay encrypted)."""
        result = self.command.run(["stack", "export", "--stack", name], str(self.work_dir), self.env)
        return json.loads(result.stdout or "{}").get("deployment") or {}

    def pending_operations(self, stack: auto.Stack) -> list[dict]:
        """Operations an interrupted update left unfinished (read without decrypting secrets)."""
        return list(self.deployment(stack.name).get("pending_operations") or [])

    def holds_nothing(self, stack: auto.Stack) -> bool:
        """Whether the stack's state holds no resource but the stack itself and its providers."""
        deployment = self.deployment(stack.name)
        if deployment.get("pending_operations"):
            return False
        return all(
            resource.get("type") == "pulumi:pulumi:Stack"
            or str(resource.get("type", "")).startswith("pulumi:providers:")
            for resource in deployment.get("resources") or ()
        )

    def stack_tenants(self, name: str) -> tuple[Optional[frozenset[str]], frozenset[str]]:
        """(ids of the Octopus tenants in the stack's state, names of tenants an interrupted
        update was creating); both empty when the stack does not exist, the ids None when its
        state cannot be read. Reads only: a file backend not made yet is not made here."""
        nothing: tuple[Optional[frozenset[str]], frozenset[str]] = (frozenset(), frozenset())
        if self.holds_no_stack():
            return nothing
        try:
            deployment = self.deployment(name)
        except auto.StackNotFoundError:
            return nothing
        except auto.CommandError:
            return None, frozenset()
        ids = {
            str((resource.get("outputs") or {}).get("tenant_id") or resource.get("id"))
            for resource in deployment.get("resources") or ()
            if str(resource.get("type", "")).endswith(TENANT_TYPE_SUFFIX) and resource.get("id")
        }
        creating = {
            str(((op.get("resource") or {}).get("inputs") or {}).get("tenant_name"))
            for op in deployment.get("pending_operations") or ()
            if op.get("type") == "creating"
            and str((op.get("resource") or {}).get("type", "")).endswith(TENANT_TYPE_SUFFIX)
        }
        return frozenset(ids), frozenset(creating - {"None"})

    def recover(self, stack: auto.Stack, *, wait_seconds: float = 0.0) -> list[dict]:
        """Clear what an interrupted update left behind: pending operations, then refresh.

        Returns the pending operations found (none: nothing was done).
        """
        pending = self.pending_operations(stack)
        if not pending:
            return []
        names = ", ".join(
            f"{op.get('type', '?')} {op.get('resource', {}).get('urn', '?').rsplit('::', 1)[-1]}"
            for op in pending
        )
        self.log(
            f"[{stack.name}] warning: the stack has pending operations ({names}): an update was "
            "interrupted (or is running); clearing them and refreshing"
        )
        on_output, on_error = self._streams(stack.name)
        self.with_lock(
            stack,
            lambda: stack.refresh(
                clear_pending_creates=True, color=self.color, on_output=on_output, on_error=on_error,
            ),
            wait_seconds=wait_seconds,
        )
        return pending

    def up(self, stack: auto.Stack, *, wait_seconds: float = 0.0) -> tuple[Any, list[Step]]:
        return self._operate(stack, stack.up, wait_seconds, show_secrets=False)

    def preview(self, stack: auto.Stack, *, diff: bool = False, wait_seconds: float = 0.0) -> tuple[Any, list[Step]]:
        return self._operate(stack, stack.preview, wait_seconds, diff=diff)

    def destroy(
        self, stack: auto.Stack, *, wait_seconds: float = 0.0, refresh: bool = False
    ) -> tuple[Any, list[Step], list[Step]]:
        """Destroy; with `refresh`, what was deleted by hand is dropped first and named (the third item)."""
        recorder = StepRecorder()
        result, steps = self._operate(
            stack, stack.destroy, wait_seconds, show_secrets=False, recorder=recorder,
            **({"refresh": True} if refresh else {}),
        )
        return result, steps, recorder.gone

    def _operate(
        self, stack: auto.Stack, operation: Callable[..., Any], wait_seconds: float, *,
        recorder: Optional[StepRecorder] = None, **options: Any
    ) -> tuple[Any, list[Step]]:
        """Run one engine operation under the stack's lock, streaming its output and recording its steps."""
        recorder = recorder or StepRecorder()
        on_output, on_error = self._streams(stack.name)
        result = self.with_lock(
            stack,
            lambda: operation(
                color=self.color, on_output=on_output, on_error=on_error, on_event=recorder, **options
            ),
            wait_seconds=wait_seconds,
        )
        return result, recorder.steps
