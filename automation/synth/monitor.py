"""Pulumi's mock monitor and mocks, taught to record each registration and answer offline.

The classes are built on first use: importing `pulumi.runtime.mocks` is too
heavy for `python -m automation --help`.
"""

from __future__ import annotations

import functools
from typing import Any

from automation.synth.model import SynthError
from automation.synth.placeholders import (
    AUTONAME_SUFFIX,
    SECRET_MARKER,
    autonamed,
    computed_outputs,
    data_source_answer,
    physical_name,
    placeholder,
    structured_outputs,
)


@functools.lru_cache(maxsize=None)
def recording_monitor_class() -> type:
    """The monitor class: registrations go to `run.registrations`, stack outputs to `run.outputs`."""
    from pulumi.runtime import mocks, rpc

    class RecordingMonitor(mocks.MockMonitor):
        """Pulumi's mock monitor, also recording each registration's inputs and wiring."""

        def __init__(self, mocks_: Any, run: Any) -> None:
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
def offline_mocks_class() -> type:
    """The mocks class: placeholders for computed values, data sources answered for `run`'s region."""
    from pulumi.runtime import mocks

    class OfflineMocks(mocks.Mocks):
        """Answers the engine's questions with marked placeholders instead of AWS."""

        def __init__(self, run: Any) -> None:
            self._run = run

        def new_resource(self, args):
            if not args.custom:
                return "", {}
            state = dict(args.inputs)
            state.update(structured_outputs(args.typ, args.name, state))
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
