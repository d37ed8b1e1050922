"""`python -m pulumi.dynamic` as the engine runs it: a subprocess spoken to over gRPC.

The engine starts the dynamic-provider host with its plugin environment, reads
the port it prints, sends Configure with the stack config, then
Check/Diff/Create/Read/Update/Delete with properties that carry the pickled
provider under `__provider`. This does the same with the SDK's own protobuf
stubs and (de)serialisers, so the provider tiers test what the engine runs.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

from automation import pulumi_cli

PROVIDER_KEY = "__provider"
#: A wrapped secret, as the engine sends a secret config value.
SECRET = {rpc._special_sig_key: rpc._special_secret_sig}
#: Where only Configure may say what the provider talks to: never inherited from the caller.
WITHHELD_ENV = ("OCTOPUS_URL", "OCTOPUS_API_KEY")


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    """Properties as the engine sends them (unknowns and secrets in their wire form)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(dict(props), {}))
    finally:
        loop.close()


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct, keep_unknowns=True))


def secret(value: str) -> dict[str, Any]:
    return {**SECRET, "value": value}


def serialized(provider_class: type) -> str:
    """The `__provider` value Pulumi writes for a resource of this provider."""
    return serialize_provider(provider_class())


class DynamicProviderHost:
    """One provider host process and a stub to call it; what it prints is kept for leak checks.

    `env` adds to the engine's plugin environment (`pulumi_cli.engine_env`),
    e.g. where the AWS stand-in listens. The process runs in `log_dir`, so it
    finds the provider classes through PYTHONPATH, as under the engine.
    """

    def __init__(self, log_dir: Path, *, env: Optional[Mapping[str, str]] = None) -> None:
        environ = pulumi_cli.engine_env(extra={"PULUMI_PROJECT": "phoenix", **(env or {})})
        for name in WITHHELD_ENV:
            environ.pop(name, None)
        self._stderr_path = log_dir / "provider.stderr"
        self._stdout_rest = ""
        self.channel: Optional[grpc.Channel] = None
        with self._stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pulumi.dynamic"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=environ,
                cwd=str(log_dir),
            )
        line = self.process.stdout.readline().decode().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the provider printed {line!r} instead of its port: {self.output()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def __enter__(self) -> DynamicProviderHost:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def configure(self, config: dict[str, Any]) -> Any:
        return self.stub.Configure(
            proto.ConfigureRequest(args=to_struct(config), acceptSecrets=True, acceptResources=True)
        )

    def check(self, urn: str, provider: Any, olds: dict, news: dict) -> tuple[dict, list]:
        response = self.stub.Check(
            proto.CheckRequest(
                urn=urn,
                olds=to_struct(_with(provider, olds)) if olds else to_struct({}),
                news=to_struct(_with(provider, news)),
            )
        )
        inputs = from_struct(response.inputs)
        inputs.pop(PROVIDER_KEY)
        return inputs, [(f.property, f.reason) for f in response.failures]

    def diff(self, urn: str, provider: Any, id_: str, olds: dict, news: dict) -> Any:
        return self.stub.Diff(
            proto.DiffRequest(
                id=id_, urn=urn, olds=to_struct(_with(provider, olds)), news=to_struct(_with(provider, news))
            )
        )

    def create(self, urn: str, provider: Any, props: dict) -> tuple[str, dict]:
        response = self.stub.Create(
            proto.CreateRequest(urn=urn, properties=to_struct(_with(provider, props)))
        )
        return response.id, _outs(response.properties)

    def read(self, urn: str, provider: Any, id_: str, props: dict) -> tuple[str, dict, dict]:
        response = self.stub.Read(
            proto.ReadRequest(id=id_, urn=urn, properties=to_struct(_with(provider, props)))
        )
        return response.id, _outs(response.properties), _outs(response.inputs)

    def update(self, urn: str, provider: Any, id_: str, olds: dict, news: dict) -> dict:
        response = self.stub.Update(
            proto.UpdateRequest(
                id=id_, urn=urn, olds=to_struct(_with(provider, olds)), news=to_struct(_with(provider, news))
            )
        )
        return _outs(response.properties)

    def delete(self, urn: str, provider: Any, id_: str, props: dict) -> None:
        self.stub.Delete(proto.DeleteRequest(id=id_, urn=urn, properties=to_struct(_with(provider, props))))

    def output(self) -> str:
        """Everything the process wrote after its port line so far (complete once stopped)."""
        return self._stdout_rest + self._stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.process.stdout.closed:
            self._stdout_rest = self.process.stdout.read().decode(errors="replace")
            self.process.stdout.close()


def _with(provider: Optional[str], props: dict) -> dict:
    return {**props, PROVIDER_KEY: provider} if provider is not None else dict(props)


def _outs(struct: struct_pb2.Struct) -> dict:
    outs = from_struct(struct)
    outs.pop(PROVIDER_KEY, None)
    return outs
