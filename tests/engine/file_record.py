"""A minimal dynamic resource with a real side effect (a file), for the engine smoke test.

It lives in an importable module because the provider process that the engine
starts imports the provider class by module, as it will for phoenix's own providers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider


class FileRecordProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        path = Path(props["path"])
        path.write_text(props["content"])
        return CreateResult(id_=str(path), outs={"path": str(path), "content": props["content"]})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        path = Path(id_)
        content = path.read_text() if path.exists() else None
        return ReadResult(id_=id_, outs={"path": id_, "content": content})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = [key for key in ("path", "content") if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changes), replaces=["path"] if "path" in changes else [])

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]):
        Path(id_).write_text(news["content"])
        from pulumi.dynamic import UpdateResult

        return UpdateResult(outs={"path": id_, "content": news["content"]})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        Path(id_).unlink(missing_ok=True)


class FileRecord(Resource, module="smoke", name="FileRecord"):
    path: pulumi.Output[str]
    content: pulumi.Output[str]

    def __init__(self, name: str, *, path: str, content: str, opts=None):
        super().__init__(FileRecordProvider(), name, {"path": path, "content": content}, opts)
