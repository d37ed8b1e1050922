"""One run of the program under Pulumi's mocks, and the `Synthesis` it leaves.

Each run happens on its own thread with a fresh context and event loop, so
Pulumi's global runtime state (settings, config, root stack) never leaks from
one synth into the next, nor into the caller.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from automation.errors import PhoenixError
from automation.pulumi_cli import PROJECT_ROOT
from automation.synth.model import SynthError, SynthResource, Synthesis
from automation.synth.monitor import offline_mocks_class, recording_monitor_class
from automation.synth.placeholders import secret_stand_ins, shares_deploy_key


PROJECT = "phoenix"
PROGRAM = "__main__.py"


def mask_config(stack_config: Mapping[str, Any]) -> dict[str, Any]:
    """The stack config synth runs with: every secret replaced by its stand-in."""
    from components.settings import SECRET_KEYS

    masked = {key: value for key, value in stack_config.items() if key not in SECRET_KEYS}
    masked.update(
        secret_stand_ins(
            {key: stack_config.get(key) for key in SECRET_KEYS},
            shares_deploy_key=shares_deploy_key(stack_config.get("phoenix:octopus")),
        )
    )
    return masked


def config_text(value: Any) -> str:
    """A config value as Pulumi hands it to a program: text, objects and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def synthesize(
    stack_config: Mapping[str, Any],
    *,
    stack: str,
    work_dir: Path = PROJECT_ROOT,
    program: Optional[Callable[[], Any]] = None,
) -> Synthesis:
    """Run the program under mocks with `stack_config` and record what it registers.

    `stack_config` is the flat mapping `components.settings.parse_settings`
    reads (objects as dicts); it is validated first, so bad input fails here
    naming the key, before the program runs. `program` defaults to the
    project's `__main__.py` in `work_dir`.
    """
    from components.settings import SECRET_KEYS, parse_settings

    config = mask_config(stack_config)
    settings = parse_settings(config)
    if program is None:
        program = _main_program(Path(work_dir))
    run = _Run(
        config={key: config_text(value) for key, value in config.items() if value is not None},
        secret_keys=[key for key in SECRET_KEYS if key in config],
        stack=stack,
        work_dir=Path(work_dir),
        az_count=settings.network.az_count,
        region=settings.region,
    )
    run.start(program)
    return Synthesis(
        project=PROJECT,
        stack=stack,
        config=config,
        resources=run.resources(),
        outputs=run.stack_outputs(),
        warnings=tuple(run.warnings),
    )


def _main_program(work_dir: Path) -> Callable[[], Any]:
    path = work_dir / PROGRAM
    if not path.is_file():
        raise SynthError(f"no Pulumi program at {path}")

    def main() -> None:
        import runpy

        runpy.run_path(str(path), run_name="__main__")

    return main


class _Run:
    """One program run under mocks, on its own thread, and what it registered."""

    def __init__(
        self,
        *,
        config: dict[str, str],
        secret_keys: list[str],
        stack: str,
        work_dir: Path,
        az_count: int,
        region: str,
    ) -> None:
        self.config = config
        self.secret_keys = secret_keys
        self.stack = stack
        self.work_dir = work_dir
        self.az_count = az_count
        self.region = region
        self.registrations: list[dict[str, Any]] = []
        self.outputs: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.error: Optional[BaseException] = None
        self.unanswered: list[str] = []

    def start(self, program: Callable[[], Any]) -> None:
        thread = threading.Thread(target=self._thread, args=(program,), name="phoenix-synth")
        thread.start()
        thread.join()
        if self.unanswered:
            raise SynthError(
                f"the program called the data source {self.unanswered[0]}, which synth cannot "
                "answer offline; teach automation/synth/placeholders.py a placeholder answer for it"
            )
        if self.error is not None:
            error = self.error
            if _is_input_error(error):
                # Bad input the program itself rejected (a zone count the region
                # cannot meet): keep its type, so the CLI reports it as bad input.
                raise error
            raise SynthError(f"the program failed under mocks: {type(error).__name__}: {error}") from error

    def _thread(self, program: Callable[[], Any]) -> None:
        # A new thread starts with an empty context: Pulumi's settings, config and
        # root stack all live in context variables, so this run sees none of the
        # caller's and leaves none behind.
        try:
            self._run(program)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            self.error = error

    def _run(self, program: Callable[[], Any]) -> None:
        import asyncio

        from pulumi.runtime import config as runtime_config
        from pulumi.runtime import mocks, settings
        from pulumi.runtime.stack import run_in_stack

        monitor = recording_monitor_class()(offline_mocks_class()(self), self)
        features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
        settings.ROOT.set(None)
        settings.configure(
            mocks.MockSettings(
                monitor=monitor,
                monitor_features=features,
                engine=mocks.MockEngine(_WarningCollector(self.warnings)),
                project=PROJECT,
                stack=self.stack,
                organization="organization",
                root_directory=str(self.work_dir),
                dry_run=False,
                parallel=None,
                legacy_apply_enabled=False,
                outputs=set(),
                lock=threading.Lock(),
                package_refs={},
                callbacks=None,
            )
        )
        runtime_config.set_all_config(dict(self.config), list(self.secret_keys))
        # The mock monitor runs on executor threads and makes itself an event loop
        # on each; giving every worker one up front lets the run close them all.
        worker_loops: list[asyncio.AbstractEventLoop] = []

        def worker_loop() -> None:
            worker_loops.append(asyncio.new_event_loop())
            asyncio.set_event_loop(worker_loops[-1])

        loop = asyncio.new_event_loop()
        loop.set_default_executor(
            ThreadPoolExecutor(thread_name_prefix="phoenix-synth-rpc", initializer=worker_loop)
        )
        asyncio.set_event_loop(loop)
        saved_path = list(sys.path)
        if str(self.work_dir) not in sys.path:
            sys.path.insert(0, str(self.work_dir))
        try:
            loop.run_until_complete(run_in_stack(program))
        finally:
            sys.path[:] = saved_path
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(loop.shutdown_default_executor())
            asyncio.set_event_loop(None)
            loop.close()
            for worker in worker_loops:
                worker.close()

    def resources(self) -> tuple[SynthResource, ...]:
        return tuple(
            SynthResource(**registration)
            for registration in sorted(self.registrations, key=lambda r: r["urn"])
        )

    def stack_outputs(self) -> dict[str, Any]:
        return dict(sorted(self.outputs.items()))


def _is_input_error(error: BaseException) -> bool:
    from components.settings import SettingsError

    from automation.config import ConfigError

    return isinstance(error, (SettingsError, ConfigError)) or (
        isinstance(error, PhoenixError) and not isinstance(error, SynthError)
    )


class _WarningCollector(logging.Logger):
    """Where `pulumi.log` messages of the run go: kept for the report, not printed."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__("phoenix.synth", logging.WARNING)
        self._sink = sink

    def handle(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self._sink.append(record.getMessage())
