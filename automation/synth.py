"""Offline synth: a feature environment's resources and picture, with no credentials.

Pulumi has no `synth`, so phoenix runs its own program in-process under
Pulumi's mocks with the stack config `create` would write (secrets replaced by
a marker) and records every resource it registers. Nothing reaches AWS,
Octopus, the network or a Pulumi CLI. Values only the cloud knows (zone names,
AMI ids, ids and ARNs) become marked placeholders such as `<az-1>` or
`<LoadBalancer:phoenix-fleet-alb.dnsName>`, so the output is the same on every machine and the
JSON form can serve as a golden file.

Each run happens on its own thread with a fresh context and event loop, so
Pulumi's global runtime state (settings, config, root stack) never leaks from
one synth into the next, nor into the caller.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import gzip
import hashlib
import json
import logging
import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from automation.errors import PhoenixError
from automation.pulumi_cli import PROJECT_ROOT

FORMATS = ("tree", "json", "mermaid")
PROJECT = "phoenix"
PROGRAM = "__main__.py"
#: How a secret appears in synth output: the same mask the other commands print.
SECRET_MARKER = "[secret]"
#: Bumped when the JSON document's shape changes, so golden files say what they hold.
DOCUMENT_VERSION = 1

#: Placeholders for what only AWS knows, explained under every output.
PLACEHOLDERS = {
    "<az-N>": "availability zone names AWS picks for the region",
    "<ami-id>": "the newest AMI matching fleet.amiNamePattern at create time",
    "<account-id>": "the AWS account the credentials belong to",
    "<Type:NAME.id>, <Type:NAME.prop>": "an id or attribute assigned when resource NAME is created",
    "<random>": "the random suffix Pulumi appends to an auto-named resource",
    SECRET_MARKER: "a secret: never read or printed by synth",
}

#: Pulumi's auto-naming: the logical name, a hyphen and seven random hex digits.
AUTONAME_SUFFIX = "-<random>"


class SynthError(PhoenixError):
    """The program could not be synthesized offline; the message says why."""


# ---------------------------------------------------------------------------
# The model


@dataclass(frozen=True, kw_only=True)
class SynthResource:
    """One resource the program registered, as the engine would have received it."""

    urn: str
    type: str
    name: str
    parent: Optional[str]
    """URN of the parent; None for the stack itself."""
    custom: bool
    inputs: Mapping[str, Any]
    """Inputs as sent to the engine, secrets masked, the dynamic provider's pickle left out."""
    dependencies: Mapping[str, tuple[str, ...]]
    """Input property -> URNs of the resources its value came from."""
    physical_name: Optional[str]


@dataclass(frozen=True, kw_only=True)
class Synthesis:
    """What one feature's program would create, with no cloud call made."""

    project: str
    stack: str
    config: Mapping[str, Any]
    """The stack config the program ran with, secrets masked."""
    resources: tuple[SynthResource, ...]
    outputs: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    """What the program logged as warnings while it ran."""
    notes: tuple[str, ...] = ()
    """What synth assumed that create would not (shown in the tree, not in the JSON)."""

    def by_urn(self) -> dict[str, SynthResource]:
        return {resource.urn: resource for resource in self.resources}

    def children(self, urn: Optional[str]) -> list[SynthResource]:
        """Direct children of `urn`, in a stable order (type, then name)."""
        return sorted(
            (r for r in self.resources if r.parent == urn), key=lambda r: (r.type, r.name)
        )

    def of_type(self, type_: str) -> list[SynthResource]:
        return sorted((r for r in self.resources if r.type == type_), key=lambda r: r.name)

    def root(self) -> SynthResource:
        return next(r for r in self.resources if r.parent is None)


# ---------------------------------------------------------------------------
# What `python -m automation synth FEATURE` runs


def placeholder_version(feature_id: str) -> str:
    """The package version synth assumes when none is given (create would ask Octopus)."""
    return f"0.0.0-{feature_id}"


def secret_stand_in(key: str, value: Optional[str]) -> Optional[str]:
    """What synth holds for secret `key`: the marker where create would have one, else None.

    The required API key is always "set" (create refuses to run without it),
    even on a fresh machine; an optional one only when it was given.
    """
    from automation.config import REQUIRED_SECRETS

    return SECRET_MARKER if key in REQUIRED_SECRETS or (value or "").strip() else None


def masked_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment with each secret variable create reads replaced by its stand-in."""
    from automation.config import SECRET_ENV

    masked = dict(environ)
    for key, variable in SECRET_ENV.items():
        stand_in = secret_stand_in(key, environ.get(variable))
        if stand_in is None:
            masked.pop(variable, None)
        else:
            masked[variable] = stand_in
    return masked


def synth_feature(
    feature: Any,
    *,
    sources: Any,
    work_dir: Path = PROJECT_ROOT,
    environ: Optional[Mapping[str, str]] = None,
) -> Synthesis:
    """Synthesize one feature (`automation.feature.Feature`) from the config create would write.

    `sources` are defaults.yaml and the --set overrides (`automation.config.load`),
    as create reads them. Without a package version synth uses
    `placeholder_version` and says so: create would look the release up in
    Octopus, which synth never calls.
    """
    from automation import config

    version = feature.package_version or placeholder_version(feature.id)
    stack_config = config.build(
        sources,
        feature,
        package_version=version,
        environ=masked_environ(os.environ if environ is None else environ),
    )
    synthesis = synthesize(stack_config.flat(), stack=feature.stack_name, work_dir=Path(work_dir))
    if feature.package_version is None:
        note = (
            f"package version {version} is a stand-in: pass --version (create finds the "
            "feature's newest release in Octopus instead)"
        )
        synthesis = dataclasses.replace(synthesis, notes=synthesis.notes + (note,))
    return synthesis


def run_cli(args: Any, *, console: Any, session: Any) -> int:
    """`python -m automation synth FEATURE [--version V] [--format F] [--output FILE]`."""
    from automation.feature import parse_feature

    feature = parse_feature(args.feature, getattr(args, "package_version", None))
    synthesis = synth_feature(
        feature, sources=session.sources, work_dir=session.options.work_dir, environ=session.environ
    )
    text = render(synthesis, args.format)
    if args.format != "tree":
        for note in synthesis.notes:
            console.log(f"[{feature.id}] note: {note}")
    if args.output and args.output != "-":
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        console.log(f"[{feature.id}] wrote the {args.format} synth to {path}")
    else:
        console.out(text.rstrip("\n"))
    return 0


# ---------------------------------------------------------------------------
# Running the program under mocks


def mask_config(stack_config: Mapping[str, Any]) -> dict[str, Any]:
    """The stack config synth runs with: every secret replaced by its stand-in."""
    from components.settings import SECRET_KEYS

    masked = {key: value for key, value in stack_config.items() if key not in SECRET_KEYS}
    for key in SECRET_KEYS:
        stand_in = secret_stand_in(key, stack_config.get(key))
        if stand_in is not None:
            masked[key] = stand_in
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
                "answer offline; teach automation/synth.py a placeholder answer for it"
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

        monitor = _recording_monitor_class()(_offline_mocks_class()(self), self)
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


@functools.lru_cache(maxsize=None)
def _recording_monitor_class() -> type:
    """Built on first use: importing `pulumi.runtime.mocks` is too heavy for --help."""
    from pulumi.runtime import mocks, rpc

    class RecordingMonitor(mocks.MockMonitor):
        """Pulumi's mock monitor, also recording each registration's inputs and wiring."""

        def __init__(self, mocks_: Any, run: _Run) -> None:
            super().__init__(mocks_)
            self._run = run

        def RegisterResource(self, request):  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            inputs = _plain(rpc.deserialize_properties(request.object))
            inputs.pop("__provider", None)
            dependencies = {
                key: tuple(sorted(value.urns))
                for key, value in sorted(request.propertyDependencies.items())
                if value.urns
            }
            self._run.registrations.append(
                {
                    "urn": response.urn,
                    "type": request.type,
                    "name": request.name,
                    "parent": request.parent or None,
                    "custom": bool(request.custom),
                    "inputs": dict(sorted(inputs.items())),
                    "dependencies": dependencies,
                    "physical_name": physical_name(
                        request.type, request.name, inputs, custom=bool(request.custom)
                    ),
                }
            )
            return response

        def RegisterResourceOutputs(self, request):  # noqa: N802 - gRPC method name
            if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
                self._run.outputs.update(_plain(rpc.deserialize_properties(request.outputs)))
            return super().RegisterResourceOutputs(request)

    return RecordingMonitor


@functools.lru_cache(maxsize=None)
def _offline_mocks_class() -> type:
    """Built on first use, like the monitor."""
    from pulumi.runtime import mocks

    class OfflineMocks(mocks.Mocks):
        """Answers the engine's questions with marked placeholders instead of AWS."""

        def __init__(self, run: _Run) -> None:
            self._run = run

        def new_resource(self, args):
            if not args.custom:
                return "", {}
            state = dict(args.inputs)
            for prop in computed_outputs(args.typ):
                state.setdefault(prop, placeholder(args.typ, args.name, prop))
            if autonamed(args.typ) and not state.get("name") and not state.get("namePrefix"):
                state["name"] = f"{args.name}{AUTONAME_SUFFIX}"
            return placeholder(args.typ, args.name, "id"), state

        def call(self, args):
            answer = data_source_answer(
                args.token, args.args, az_count=self._run.az_count, region=self._run.region
            )
            if answer is None:
                self._run.unanswered.append(args.token)
                raise SynthError(f"no offline answer for {args.token}")
            return answer, []

    return OfflineMocks


def data_source_answer(
    token: str, args: Mapping[str, Any], *, az_count: int, region: str
) -> Optional[dict[str, Any]]:
    """What a data source returns offline: placeholders for what only AWS knows; None if unknown."""
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        count = max(az_count, 2)
        return {
            "id": region,
            "names": [f"<az-{index}>" for index in range(1, count + 1)],
            "zoneIds": [f"<az-id-{index}>" for index in range(1, count + 1)],
            "groupNames": [region],
            "state": args.get("state", "available"),
        }
    if token == "aws:ec2/getAmi:getAmi":
        return {
            "id": "<ami-id>",
            "imageId": "<ami-id>",
            "name": "<ami-name>",
            "architecture": "x86_64",
            "owners": list(args.get("owners") or []),
            "mostRecent": bool(args.get("mostRecent")),
        }
    if token == "aws:index/getRegion:getRegion":
        return {"id": region, "name": region, "region": region, "endpoint": f"ec2.{region}.amazonaws.com"}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "id": "<account-id>",
            "accountId": "<account-id>",
            "arn": "<caller-arn>",
            "userId": "<caller-user-id>",
        }
    if token == "aws:index/getPartition:getPartition":
        return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}
    return None


# ---------------------------------------------------------------------------
# What a resource type computes and how it is named (from the SDK's own classes)


def resource_class(type_: str) -> Optional[type]:
    """The Python class behind a type token, when it is importable here."""
    import importlib

    if type_.startswith("pulumi-python:"):
        from pulumi.dynamic import Resource

        wanted = type_.split(":", 1)[1]
        pending = list(Resource.__subclasses__())
        while pending:
            cls = pending.pop()
            if getattr(cls, "_resource_type_name", None) == wanted:
                return cls
            pending.extend(cls.__subclasses__())
        return None
    try:
        package, module, name = type_.split(":")
    except ValueError:
        return None
    if package == "pulumi":
        return None
    first = module.split("/")[0]
    path = f"pulumi_{package.replace('-', '_')}" + ("" if first == "index" else f".{first}")
    try:
        return getattr(importlib.import_module(path), name, None)
    except ImportError:
        return None


@functools.lru_cache(maxsize=None)
def _wire_properties(cls: Optional[type]) -> tuple[str, ...]:
    """The engine-side names of a class's `@pulumi.getter` properties."""
    if cls is None:
        return ()
    names = []
    for attr in dir(cls):
        prop = getattr(cls, attr, None)
        wire = getattr(getattr(prop, "fget", None), "_pulumi_name", None)
        if isinstance(prop, property) and wire:
            names.append(wire)
    return tuple(names)


def computed_outputs(type_: str) -> list[str]:
    """Output properties the cloud assigns (not inputs of the type): placeholders offline."""
    cls = resource_class(type_)
    if cls is None:
        return []
    if type_.startswith("pulumi-python:"):
        annotations: dict[str, Any] = {}
        for base in reversed(cls.__mro__):
            annotations.update(getattr(base, "__annotations__", {}))
        return sorted(name for name, hint in annotations.items() if "Output" in str(hint))
    inputs = set(_wire_properties(_args_class(cls)))
    return sorted(set(_wire_properties(cls)) - inputs - {"tagsAll", "id", "urn"})


def autonamed(type_: str) -> bool:
    """Pulumi names the resource itself (`name` plus a random suffix) unless told a name."""
    if type_.startswith("pulumi-python:"):
        return False
    return "name" in _wire_properties(_args_class(resource_class(type_)))


def _args_class(cls: Optional[type]) -> Optional[type]:
    """`LoadBalancer` -> `LoadBalancerArgs`: the generated class holding the type's inputs."""
    return getattr(sys.modules[cls.__module__], f"{cls.__name__}Args", None) if cls else None


def placeholder(type_: str, name: str, prop: str) -> str:
    """`<Subnet:ryan0001-public-0.id>`: a value the cloud assigns, naming who assigns it.

    The type is part of it because Pulumi lets two types share a logical name
    (a subnet and its route table association, an EIP and its NAT gateway).
    """
    return f"<{short_type(type_)}:{name}.{prop}>"


def short_type(type_: str) -> str:
    """`aws:ec2/subnet:Subnet` -> `Subnet`."""
    return type_.rsplit(":", 1)[-1]


#: Inputs that name what a dynamic resource manages where it lives (the Octopus tenant).
DYNAMIC_NAME_INPUTS = ("tenant_name",)


def physical_name(type_: str, name: str, inputs: Mapping[str, Any], *, custom: bool) -> Optional[str]:
    """The name the resource will have where it lives, as far as it is known offline."""
    if not custom:
        return None
    if isinstance(inputs.get("name"), str) and inputs["name"]:
        return inputs["name"]
    if isinstance(inputs.get("namePrefix"), str) and inputs["namePrefix"]:
        return f"{inputs['namePrefix']}<random>"
    if type_.startswith("pulumi-python:"):
        found = [inputs[key] for key in DYNAMIC_NAME_INPUTS if isinstance(inputs.get(key), str)]
        return found[0] if found else None
    if autonamed(type_):
        return f"{name}{AUTONAME_SUFFIX}"
    tags = inputs.get("tags")
    if isinstance(tags, Mapping) and isinstance(tags.get("Name"), str):
        return f"{placeholder(type_, name, 'id')} tagged Name={tags['Name']}"
    return placeholder(type_, name, "id")


# ---------------------------------------------------------------------------
# Making recorded values plain and stable


def _plain(value: Any) -> Any:
    """Recorded values as JSON-ready data: secrets masked, references named, nothing random."""
    from pulumi import Resource
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return SECRET_MARKER
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == rpc.UNKNOWN:
        return "<unknown>"
    if isinstance(value, Resource):
        return f"<resource {value._name}>"  # noqa: SLF001 - the logical name, for display
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return f"<{type(value).__name__}>"


def describe_userdata(encoded: str) -> dict[str, Any]:
    """Userdata as a reviewer reads it: size, digest and the script itself, line by line."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raw = encoded.encode("utf-8")
        encoding = "text"
    else:
        encoding = "base64"
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
        encoding += "+gzip"
    text = raw.decode("utf-8", errors="replace")
    return {
        "encoding": encoding,
        "bytes": len(encoded.encode("utf-8")),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "lines": text.splitlines(),
    }


# ---------------------------------------------------------------------------
# Rendering: json (golden files), tree (people), mermaid (GitHub)


def render(synthesis: Synthesis, fmt: str) -> str:
    """The synthesis as `tree`, `json` or `mermaid` text, ending with a newline."""
    renderers = {"tree": render_tree, "json": render_json, "mermaid": render_mermaid}
    if fmt not in renderers:
        raise ValueError(f"unknown synth format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return renderers[fmt](synthesis)


def address(resource: SynthResource) -> str:
    """`Subnet:ryan0001-public-0`: how documents and placeholders refer to a resource."""
    return f"{short_type(resource.type)}:{resource.name}"


def document(synthesis: Synthesis) -> dict[str, Any]:
    """The JSON document: sorted, free of random ids and timestamps, userdata readable."""
    by_urn = synthesis.by_urn()

    def node(resource: SynthResource) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": resource.type, "name": resource.name}
        if resource.physical_name is not None:
            entry["physicalName"] = resource.physical_name
        if resource.inputs:
            entry["inputs"] = readable_inputs(resource.inputs)
        if resource.dependencies:
            entry["dependsOn"] = {
                key: sorted(address(by_urn[urn]) for urn in urns if urn in by_urn)
                for key, urns in resource.dependencies.items()
            }
        children = synthesis.children(resource.urn)
        if children:
            entry["children"] = [node(child) for child in children]
        return entry

    return {
        "synth": DOCUMENT_VERSION,
        "project": synthesis.project,
        "stack": synthesis.stack,
        "config": _sorted(dict(synthesis.config)),
        "resources": node(synthesis.root()),
        "outputs": _sorted(dict(synthesis.outputs)),
        "warnings": list(synthesis.warnings),
        "placeholders": PLACEHOLDERS,
    }


def readable_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs with userdata decoded into lines, so a golden-file diff reads like the script."""
    return {
        key: describe_userdata(value) if key in USERDATA_KEYS and isinstance(value, str) else _sorted(value)
        for key, value in sorted(inputs.items())
    }


USERDATA_KEYS = ("userData", "user_data")


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def render_json(synthesis: Synthesis) -> str:
    return json.dumps(document(synthesis), indent=2, ensure_ascii=False) + "\n"


#: The few inputs that matter per type, shown in the tree (the JSON has them all).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "mapPublicIpOnLaunch"),
    "aws:ec2/natGateway:NatGateway": ("subnetId",),
    "aws:ec2/routeTable:RouteTable": ("routes",),
    "aws:ec2/securityGroup:SecurityGroup": ("ingress", "egress"),
    "aws:lb/loadBalancer:LoadBalancer": ("loadBalancerType", "internal", "subnets"),
    "aws:lb/targetGroup:TargetGroup": ("port", "protocol", "healthCheck.path", "healthCheck.matcher"),
    "aws:lb/listener:Listener": ("port", "protocol", "defaultActions"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("instanceType", "imageId", "description", "userData"),
    "aws:autoscaling/group:Group": (
        "minSize",
        "maxSize",
        "desiredCapacity",
        "launchTemplate.version",
        "vpcZoneIdentifiers",
        "targetGroupArns",
        "healthCheckType",
        "instanceRefresh.preferences.minHealthyPercentage",
        "initialLifecycleHooks",
    ),
    "aws:ssm/parameter:Parameter": ("type", "value"),
    "pulumi-python:dynamic/octopus:Tenant": ("tenant_name", "projects", "environments", "space"),
    "pulumi-python:dynamic/octopus:AutoDeployOverride": (
        "project",
        "environment",
        "release_version",
        "tenant_id",
    ),
    "pulumi-python:dynamic/rollout:RolloutGate": ("asg_name", "launch_template_version", "timeout_minutes"),
}


def lookup(inputs: Mapping[str, Any], path: str) -> Any:
    """`healthCheck.path` -> inputs["healthCheck"]["path"]; None where absent."""
    value: Any = inputs
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def compact(value: Any) -> str:
    """One line for a value in the tree."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {compact(item)}" for key, item in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(compact(item) for item in value) + "]"
    return str(value)


def _userdata_line(encoded: str, stamp: Optional[str]) -> str:
    described = describe_userdata(encoded)
    text = "\n".join(described["lines"])
    line = (
        f"{described['bytes']} bytes {described['encoding']}, {len(described['lines'])} lines, "
        f"sha256 {described['sha256'][:12]}"
    )
    if stamp and stamp in text:
        line += f", stamped {stamp}"
    return line


def render_tree(synthesis: Synthesis) -> str:
    """The resource tree: component -> children, with type, names and the inputs that matter."""
    config = synthesis.config
    stamp = synthesis.outputs.get("infrastructure_version")
    stamp = stamp if isinstance(stamp, str) and not stamp.startswith("<") else None
    lines = [
        f"{synthesis.project} · stack {synthesis.stack} — synthesized offline under Pulumi mocks; nothing was created",
        "  "
        + " · ".join(
            part
            for part in (
                f"package {config.get('phoenix:packageVersion')}" if config.get("phoenix:packageVersion") else "",
                f"region {config.get('aws:region')}" if config.get("aws:region") else "",
                (
                    f"Octopus {config.get('octopus:serverUrl')} (space {config.get('octopus:space') or 'Default'})"
                    if config.get("octopus:serverUrl")
                    else ""
                ),
            )
            if part
        ),
        "",
    ]

    def walk(resource: SynthResource, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(f"{prefix}{branch}{short_type(resource.type)} {resource.name}  [{resource.type}]")
        inner = prefix if top else prefix + ("    " if last else "│   ")
        children = synthesis.children(resource.urn)
        detail = inner + ("│   " if children else "    ")
        if resource.physical_name is not None:
            lines.append(f"{detail}name: {resource.physical_name}")
        for path in KEY_INPUTS.get(resource.type, ()):
            value = lookup(resource.inputs, path)
            if value is None:
                continue
            if path in USERDATA_KEYS and isinstance(value, str):
                lines.append(f"{detail}{path}: {_userdata_line(value, stamp)}")
            else:
                lines.append(f"{detail}{path}: {compact(value)}")
        for index, child in enumerate(children):
            walk(child, inner, index == len(children) - 1, False)

    walk(synthesis.root(), "", True, True)
    lines += ["", "outputs"]
    lines += [f"  {key}: {compact(value)}" for key, value in sorted(synthesis.outputs.items())]
    if synthesis.warnings:
        lines += ["", "warnings"] + [f"  {warning}" for warning in synthesis.warnings]
    if synthesis.notes:
        lines += ["", "notes"] + [f"  {note}" for note in synthesis.notes]
    lines += ["", "placeholders (values only AWS or Octopus know)"]
    width = max(len(key) for key in PLACEHOLDERS)
    lines += [f"  {key.ljust(width)}  {meaning}" for key, meaning in PLACEHOLDERS.items()]
    version = config.get("phoenix:packageVersion")
    lines += [
        "",
        f"{sum(r.custom for r in synthesis.resources)} resources in "
        f"{sum(not r.custom and r.parent is not None for r in synthesis.resources)} components.",
        "To create it for real (needs AWS credentials and OCTOPUS_API_KEY): "
        f"python -m automation create {synthesis.stack}"
        + (f" --version {version}" if version and version != placeholder_version(synthesis.stack) else ""),
    ]
    return "\n".join(lines) + "\n"


VPC_TYPE = "aws:ec2/vpc:Vpc"
GROUP_TYPE = "aws:autoscaling/group:Group"
TENANT_TYPE = "pulumi-python:dynamic/octopus:Tenant"
OVERRIDE_TYPE = "pulumi-python:dynamic/octopus:AutoDeployOverride"
PARAMETER_TYPE = "aws:ssm/parameter:Parameter"
#: Resources the diagram draws, with the facts its node shows; the VPC is a box around them.
DRAWN: dict[str, tuple[str, ...]] = {
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone"),
    "aws:ec2/internetGateway:InternetGateway": (),
    "aws:ec2/natGateway:NatGateway": (),
    "aws:lb/loadBalancer:LoadBalancer": ("loadBalancerType",),
    "aws:lb/listener:Listener": ("protocol", "port"),
    "aws:lb/targetGroup:TargetGroup": ("protocol", "port", "healthCheck.path"),
    GROUP_TYPE: ("minSize", "desiredCapacity", "maxSize", "launchTemplate.version"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("instanceType", "imageId", "description"),
    PARAMETER_TYPE: ("type",),
    TENANT_TYPE: ("tenant_name", "environments"),
    OVERRIDE_TYPE: ("environment", "release_version"),
    "pulumi-python:dynamic/rollout:RolloutGate": ("launch_template_version", "timeout_minutes"),
}
MERMAID_STYLES = (
    "classDef aws fill:#fff4e5,stroke:#d97706,color:#111",
    "classDef octopus fill:#e8f1fb,stroke:#2f6fba,color:#111",
    "classDef gate fill:#eefaf0,stroke:#2f8a3d,color:#111",
    "classDef flow fill:#f4f4f5,stroke:#71717a,color:#111,stroke-dasharray:4 3",
)


def mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label, with no entity codes.

    Mermaid leaves entity codes such as `#lt;` undecoded in flowchart labels
    that sit beside subgraphs or classes, so placeholders keep their look with
    look-alike angle quotes (`‹az-1›`) and double quotes become single ones.
    """
    text = text.replace("<", "‹").replace(">", "›").replace('"', "'")
    return re.sub(r"#(\w+;)", r"# \1", text)


def mermaid_label(*lines: str) -> str:
    return '"' + "<br/>".join(mermaid_text(line) for line in lines if line) + '"'


def node_id(resource: SynthResource) -> str:
    return "r_" + re.sub(r"[^A-Za-z0-9_]", "_", address(resource))


def inside_vpc(synthesis: Synthesis, vpc: SynthResource) -> list[SynthResource]:
    """Drawn resources that live in the VPC: those wired to it, or to something drawn in it."""
    inside = {vpc.urn}
    drawn = [r for r in synthesis.resources if r.type in DRAWN and r.type.startswith("aws:")]
    changed = True
    while changed:
        changed = False
        for resource in drawn:
            if resource.urn in inside:
                continue
            if any(urn in inside for urns in resource.dependencies.values() for urn in urns):
                inside.add(resource.urn)
                changed = True
    return [r for r in sorted(drawn, key=lambda r: (r.type, r.name)) if r.urn in inside]


def render_mermaid(synthesis: Synthesis) -> str:
    """A flowchart of the environment and of how an instance becomes healthy; renders on GitHub."""
    by_urn = synthesis.by_urn()
    drawn = sorted((r for r in synthesis.resources if r.type in DRAWN), key=lambda r: (r.type, r.name))
    region = synthesis.config.get("aws:region") or "region"
    server = synthesis.config.get("octopus:serverUrl") or "Octopus"
    space = synthesis.config.get("octopus:space") or "Default"

    def node(resource: SynthResource, indent: str) -> str:
        facts = []
        for path in DRAWN[resource.type]:
            value = lookup(resource.inputs, path)
            if value is not None:
                facts.append(f"{path}: {compact(value)}")
        shape = ("[", "]") if resource.custom else ("[[", "]]")
        cls = "aws" if resource.type.startswith("aws:") else (
            "octopus" if resource.type.startswith("pulumi-python:dynamic/octopus:") else "gate"
        )
        label = mermaid_label(f"{short_type(resource.type)} {resource.name}", *facts)
        return f"{indent}{node_id(resource)}{shape[0]}{label}{shape[1]}:::{cls}"

    lines = [
        f"%% phoenix synth of stack {synthesis.stack}, offline: ‹...› values are assigned by AWS or Octopus",
        "flowchart TB",
    ]
    placed: set[str] = set()
    lines.append(f'  subgraph aws[{mermaid_label(f"AWS {region}")}]')
    for vpc in synthesis.of_type(VPC_TYPE):
        cidr = vpc.inputs.get("cidrBlock", "")
        lines.append(f'    subgraph {node_id(vpc)}[{mermaid_label(f"VPC {vpc.name}", str(cidr))}]')
        for resource in inside_vpc(synthesis, vpc):
            if resource.urn not in placed:
                lines.append(node(resource, "      "))
                placed.add(resource.urn)
        lines.append("    end")
    for resource in drawn:
        if resource.type.startswith("aws:") and resource.urn not in placed:
            lines.append(node(resource, "    "))
            placed.add(resource.urn)
    lines.append("  end")
    lines.append(f'  subgraph octopus[{mermaid_label(f"Octopus {server} · space {space}")}]')
    for resource in drawn:
        if resource.type.startswith("pulumi-python:dynamic/octopus:"):
            lines.append(node(resource, "    "))
            placed.add(resource.urn)
    flow = _flow(synthesis)
    if flow:
        lines.append(f'    flow_deploy(["{flow["deploy"]}"]):::flow')
    lines.append("  end")
    for resource in drawn:
        if resource.urn not in placed:
            lines.append(node(resource, "  "))
            placed.add(resource.urn)

    edges: dict[tuple[str, str], list[str]] = {}
    for resource in drawn:
        for prop, urns in resource.dependencies.items():
            for urn in urns:
                source = by_urn.get(urn)
                if source is not None and source.type in DRAWN and source.urn != resource.urn:
                    edges.setdefault((node_id(source), node_id(resource)), []).append(prop)
    for (source, target), props in sorted(edges.items()):
        lines.append(f'  {source} -->|{mermaid_label(", ".join(sorted(set(props))))}| {target}')

    if flow:
        lines += [
            f'  flow_tentacle(["{flow["tentacle"]}"]):::flow',
            f'  flow_health{{{{"{flow["health"]}"}}}}:::flow',
        ]
        for source, target, text in flow["edges"]:
            lines.append(f"  {source} -.->|{mermaid_label(text)}| {target}")
    lines += ["  " + style for style in MERMAID_STYLES]
    return "\n".join(lines) + "\n"


def _flow(synthesis: Synthesis) -> Optional[dict[str, Any]]:
    """How a new instance becomes healthy: Tentacle -> Octopus -> deployment -> health -> signal."""
    groups, tenants, overrides = (synthesis.of_type(t) for t in (GROUP_TYPE, TENANT_TYPE, OVERRIDE_TYPE))
    if not (groups and tenants and overrides):
        return None
    group, tenant, override = groups[0], tenants[0], overrides[0]
    wiring = synthesis.config.get("phoenix:octopus")
    wiring = wiring if isinstance(wiring, Mapping) else {}
    fleet = synthesis.config.get("phoenix:fleet")
    fleet = fleet if isinstance(fleet, Mapping) else {}
    roles = ", ".join(str(role) for role in wiring.get("roles") or [])
    release = override.inputs.get("release_version", "the release")
    environment = override.inputs.get("environment", "")
    health = f"http://127.0.0.1:{fleet.get('appPort', 80)}{fleet.get('healthCheckPath', '/')}"
    edges = [
        (node_id(group), "flow_tentacle", "1 launches an instance; the launch hook holds it"),
        (
            "flow_tentacle",
            node_id(tenant),
            f"2 registers: tenant {tenant.inputs.get('tenant_name', '')}, environment {environment}, roles {roles}",
        ),
        (node_id(tenant), "flow_deploy", "3 project trigger fires for the new machine"),
        (node_id(override), "flow_deploy", f"picks release {release}"),
        ("flow_deploy", "flow_health", "4 deploys to the instance"),
        ("flow_health", node_id(group), "5 healthy: complete-lifecycle-action CONTINUE"),
    ]
    parameters = synthesis.of_type(PARAMETER_TYPE)
    if parameters:
        edges.insert(1, (node_id(parameters[0]), "flow_tentacle", "registration key"))
    return {
        "tentacle": mermaid_text("Tentacle on each new instance"),
        "deploy": mermaid_text(f"Deployment of {release}"),
        "health": mermaid_text(f"instance polls {health}"),
        "edges": edges,
    }
