"""`python -m pulumi.dynamic` as the engine runs it: a subprocess spoken to over gRPC.

The engine starts the dynamic-provider plugin, reads the port it prints, sends
Configure with the stack config, then Check/Diff/Create/Read/Update/Delete with
properties that carry the pickled provider under `__provider`. This does the
same with the SDK's own protobuf stubs and (de)serialisers.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "__provider"
#: A wrapped secret, as the engine sends a secret config value.
SECRET = {rpc._special_sig_key: rpc._special_secret_sig}


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct, keep_unknowns=True))


def secret(value: str) -> dict[str, Any]:
    return {**SECRET, "value": value}


class DynamicProviderProcess:
    """One provider plugin process; its stdout and stderr are kept for leak checks."""

    def __init__(self, log_dir: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env["PULUMI_PROJECT"] = "phoenix"
        for name in ("OCTOPUS_URL", "OCTOPUS_API_KEY"):
            env.pop(name, None)  # only Configure may tell it where Octopus is
        self._stderr_path = log_dir / "provider.stderr"
        self._stderr = self._stderr_path.open("wb")
        self._stdout_rest = ""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=str(log_dir),
        )
        line = self.process.stdout.readline().decode().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the provider printed {line!r} instead of its port: {self.output()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

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
        """Everything the process wrote after its port line (complete once stopped)."""
        if not self._stderr.closed:
            self._stderr.flush()
        return self._stdout_rest + self._stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stdout_rest = self.process.stdout.read().decode(errors="replace")
        self.process.stdout.close()
        self._stderr.close()


def serialized(provider_class: type) -> str:
    """The `__provider` value Pulumi writes for a resource of this provider."""
    return serialize_provider(provider_class())


def _with(provider: Optional[str], props: dict) -> dict:
    return {**props, PROVIDER_KEY: provider} if provider is not None else dict(props)


def _outs(struct: struct_pb2.Struct) -> dict:
    outs = from_struct(struct)
    outs.pop(PROVIDER_KEY, None)
    return outs
