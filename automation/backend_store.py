"""The objects of a self-managed state backend, read and written directly.

Pulumi's self-managed ("diy") backend keeps a stack's checkpoint, history and
lock as objects under the backend URL (`.pulumi/stacks/`, `.pulumi/locks/`).
No CLI command shows who holds a lock or since when, and `pulumi cancel`
deletes every lock of a stack, one a live runner took a moment ago included.
So phoenix reads the lock objects itself, deletes exactly the ones it judged
dead, and keeps its own records (heartbeats) in `.phoenix/` beside `.pulumi/`,
where the CLI never looks.

An `s3://` URL is read with the options of the opener the CLI itself uses
(gocloud.dev's `blob/s3blob.URLOpener` and `aws.V2ConfigFromURLParams`):
`region`, `endpoint`, `profile`, `use_path_style` (or `s3ForcePathStyle`) and
`disable_https`; credentials come from the environment, as they do for the
CLI. boto3 is imported only when an S3 store is opened.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from automation.errors import InputError, OperationFailed

#: Where phoenix keeps its own records, beside Pulumi's `.pulumi/`.
PHOENIX_DIR = ".phoenix"


@dataclass(frozen=True)
class StoredObject:
    key: str
    """the object's key below the backend's root, `/`-separated"""
    modified: datetime
    """when the store last wrote it (UTC)"""


class Store(Protocol):
    """A backend's objects, addressed by keys relative to the backend URL."""

    url: str

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object whose key starts with `prefix` (no folder entries)."""

    def read(self, key: str) -> Optional[bytes]:
        """The object's bytes, or None when it does not exist."""

    def write(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> bool:
        """Delete the object; False when it was already gone."""


# --- s3:// ----------------------------------------------------------------------------------------


def _flag(query: dict[str, list[str]], *names: str) -> Optional[bool]:
    for name in names:
        if query.get(name):
            value = query[name][0].strip().lower()
            if value in ("1", "t", "true"):
                return True
            if value in ("0", "f", "false"):
                return False
            raise InputError(f"state backend URL: {name}={query[name][0]!r} is not true or false")
    return None


@dataclass(frozen=True)
class S3Location:
    """An `s3://bucket/prefix?options` backend URL, read as the Pulumi CLI reads it."""

    bucket: str
    prefix: str
    """the folder inside the bucket, '' or ending in '/'"""
    region: Optional[str] = None
    endpoint: Optional[str] = None
    profile: Optional[str] = None
    path_style: bool = False

    @classmethod
    def parse(cls, url: str) -> "S3Location":
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise InputError(f"{url!r} is not an s3://bucket[/prefix] URL")
        query = parse_qs(parts.query)
        first = {name: values[0] for name, values in query.items() if values}
        endpoint = first.get("endpoint")
        if endpoint and "://" not in endpoint:
            # The SDK resolves a bare host with https unless disable_https=true.
            scheme = "http" if _flag(query, "disable_https") else "https"
            endpoint = f"{scheme}://{endpoint}"
        prefix = unquote(parts.path).strip("/")
        return cls(
            bucket=parts.netloc,
            prefix=f"{prefix}/" if prefix else "",
            region=first.get("region"),
            endpoint=endpoint,
            profile=first.get("profile"),
            path_style=bool(_flag(query, "use_path_style", "s3ForcePathStyle")),
        )

    def client(self, config: Any = None) -> Any:
        """A boto3 S3 client for this location (credentials from the environment, as for the CLI)."""
        import boto3
        from botocore.config import Config

        base = Config(s3={"addressing_style": "path" if self.path_style else "auto"})
        # The CLI's SDK also reads AWS_REGION; botocore only AWS_DEFAULT_REGION and the profile.
        region = self.region or os.environ.get("AWS_REGION") or None
        session = boto3.session.Session(profile_name=self.profile, region_name=region)
        return session.client("s3", endpoint_url=self.endpoint, config=base.merge(config) if config else base)


class StoreError(OperationFailed):
    """The backend's storage refused or failed a request (after the SDK's own retries)."""


_MISSING = ("NoSuchKey", "404", "NotFound")


def _code(error: Any) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


class S3Store:
    def __init__(self, url: str, location: S3Location, client: Any = None) -> None:
        self.url = url
        self.location = location
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.location.client()
        return self._client

    def _key(self, key: str) -> str:
        return self.location.prefix + key

    @contextmanager
    def _calling(self, what: str, key: str) -> Iterator[None]:
        """botocore's errors as StoreError naming the object; the caller handles "missing" first."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as error:
            detail = error.response.get("Error", {})
            raise StoreError(
                f"{what} s3://{self.location.bucket}/{self._key(key)}: {detail.get('Code', '?')} "
                f"{detail.get('Message', '')}".rstrip()
            ) from None
        except BotoCoreError as error:
            raise StoreError(f"{what} s3://{self.location.bucket}/{self._key(key)}: {error}") from None

    def list(self, prefix: str) -> list[StoredObject]:
        found: list[StoredObject] = []
        with self._calling("list", prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                for item in page.get("Contents") or ():
                    if not item["Key"].endswith("/"):
                        found.append(StoredObject(item["Key"][len(self.location.prefix):], item["LastModified"]))
        return found

    def _exists(self, call: Any, key: str) -> Any:
        """`call()`'s answer, or None when the object does not exist."""
        from botocore.exceptions import ClientError

        try:
            return call()
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise

    def read(self, key: str) -> Optional[bytes]:
        with self._calling("read", key):
            answer = self._exists(lambda: self.client.get_object(Bucket=self.location.bucket, Key=self._key(key)), key)
            return None if answer is None else answer["Body"].read()

    def write(self, key: str, data: bytes) -> None:
        with self._calling("write", key):
            self.client.put_object(Bucket=self.location.bucket, Key=self._key(key), Body=data)

    def delete(self, key: str) -> bool:
        # S3 answers a delete of a missing key with success: look first, so the caller
        # can tell that another runner removed it in between.
        with self._calling("delete", key):
            bucket, name = self.location.bucket, self._key(key)
            if self._exists(lambda: self.client.head_object(Bucket=bucket, Key=name), key) is None:
                return False
            self.client.delete_object(Bucket=bucket, Key=name)
        return True


# --- file:// ----------------------------------------------------------------------------------------


class FileStore:
    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def list(self, prefix: str) -> list[StoredObject]:
        folder, _, _ = prefix.rpartition("/")
        base = self._path(folder) if folder else self.root
        found = []
        if base.is_dir():
            for path in base.rglob("*"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and path.is_file():
                    modified = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
                    found.append(StoredObject(key, modified))
        return sorted(found, key=lambda item: item.key)

    def read(self, key: str) -> Optional[bytes]:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)  # atomic: a reader sees the old record or the new one

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True


def open_store(url: str) -> Store:
    """The store of a file:// or s3:// backend URL; other backends keep their locks elsewhere."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        return S3Store(url, S3Location.parse(url))
    if parts.scheme == "file":
        raw = unquote(parts.netloc + parts.path)
        return FileStore(url, Path(raw).expanduser())
    raise InputError(
        f"{url}: phoenix reads locks of file:// and s3:// backends only "
        "(a Pulumi Cloud stack is unlocked with `pulumi cancel`)"
    )
