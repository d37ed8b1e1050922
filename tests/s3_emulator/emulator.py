"""`S3Emulator`: moto's S3 in server mode, a state bucket, and a runner allowed only what it needs.

moto runs as its own process (`python -m tests.s3_emulator`), as a real S3
endpoint would: the Pulumi CLI's S3 backend (Go, aws-sdk-go-v2) and phoenix
(boto3) both reach it over HTTP on 127.0.0.1. With `enforce_iam()` moto
checks every request's SigV4 signature and the caller's IAM policy, as S3
does (moto's `INITIAL_NO_AUTH_ACTION_COUNT`, set through its `/moto-api/reset-auth`
endpoint): a runner given the README's policy proves that policy suffices.

Nothing in phoenix knows this is moto: runners get a backend URL with the
endpoint and path-style options the CLI's gocloud.dev opener documents,
and credentials and region in the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

REGION = "us-east-1"
ADMIN_KEY = ("AKIAPHOENIXADMIN0001", "phoenix-admin-secret")
BUCKET = "phoenix-state"
PREFIX = "phoenix"
#: Statements of an administrator that sets the world up and inspects it.
_ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Identity:
    """An IAM user's access key, as a runner gets it in its environment."""

    name: str
    access_key_id: str
    secret_access_key: str = ""

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }


def readme_policy() -> dict:
    """The runner's IAM policy exactly as the README's "Sharing state between runners" lists it."""
    root = Path(__file__).resolve().parents[2]
    section = (root / "README.md").read_text(encoding="utf-8").split("## Sharing state between runners", 1)[1]
    return json.loads(section.split("```json", 1)[1].split("```", 1)[0])


def backend_url(endpoint: str, bucket: str = BUCKET, prefix: str = PREFIX) -> str:
    """The backend URL a runner gets: the bucket, and the endpoint options of the CLI's S3 opener.

    `response_checksum_validation=when_required`: moto sends no response
    checksums, and the SDK would warn on every read (S3 itself sends them).
    """
    options = f"endpoint={quote(endpoint, safe='')}&use_path_style=true&region={REGION}"
    return f"s3://{bucket}/{prefix}?{options}&response_checksum_validation=when_required"


class S3Emulator:
    """One moto server process; `reset()` gives each test an empty world."""

    def __init__(self) -> None:
        self._process: Optional[subprocess.Popen] = None
        self.endpoint = ""
        self._admin: Any = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout: float = 60) -> "S3Emulator":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "TEST_SERVER_MODE"))}
        root = Path(__file__).resolve().parents[2]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.s3_emulator", "--port", "0"], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self._first_line(timeout)
        if not line.startswith("moto server listening on "):
            self.stop()
            raise RuntimeError(f"the moto server did not start: {line!r}")
        self.endpoint = line.rsplit(" ", 1)[1].strip()
        return self

    def _first_line(self, timeout: float) -> str:
        assert self._process is not None and self._process.stdout is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return found[0] if found else ""

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> "S3Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the world -------------------------------------------------------------

    def _post(self, path: str, data: bytes = b"") -> bytes:
        # Not a form: moto reads the raw body (Flask keeps form posts out of it).
        request = urllib.request.Request(f"{self.endpoint}{path}", data=data, method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.read()

    def reset(self, *, bucket: str = BUCKET, versioning: bool = True) -> None:
        """Empty every backend, stop checking IAM, then make the administrator and the bucket."""
        self._post("/moto-api/reset-auth", b"inf")
        self._post("/moto-api/reset")
        iam = self.client("iam", ("testing", "testing"))
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="admin", PolicyDocument=json.dumps(_ADMIN_POLICY))
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        self._admin = (key["AccessKeyId"], key["SecretAccessKey"])
        s3 = self.s3
        s3.create_bucket(Bucket=bucket)
        if versioning:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def runner(self, name: str, policy: dict) -> Identity:
        """An IAM user with exactly `policy` and an access key: a CI runner's identity."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="phoenix-state", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Identity(name, key["AccessKeyId"], key["SecretAccessKey"])

    def enforce_iam(self) -> None:
        """From now on every request must be signed by a known key and allowed by its policy."""
        self._post("/moto-api/reset-auth", b"0")

    # -- inspecting ------------------------------------------------------------

    def client(self, service: str, key: Optional[tuple[str, str]] = None) -> Any:
        import boto3

        key_id, secret = key or self._admin or ("testing", "testing")
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    @property
    def s3(self) -> Any:
        return self.client("s3")

    def keys(self, prefix: str = "", bucket: str = BUCKET) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents") or ())

    def stacks(self, project: str, prefix: str = PREFIX, bucket: str = BUCKET) -> set[str]:
        """Stacks the backend holds (a removed stack leaves only its .bak)."""
        folder = f"{prefix}/.pulumi/stacks/{project}/"
        return {key[len(folder):-len(".json")] for key in self.keys(folder, bucket) if key.endswith(".json")}

    def locks(self, project: str, stack: str, prefix: str = PREFIX, bucket: str = BUCKET) -> list[str]:
        return self.keys(f"{prefix}/.pulumi/locks/organization/{project}/{stack}/", bucket)

    def read(self, key: str, bucket: str = BUCKET) -> bytes:
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def write(self, key: str, data: bytes, bucket: str = BUCKET) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=data)

    def versions(self, key: str, bucket: str = BUCKET) -> list[dict]:
        answer = self.s3.list_object_versions(Bucket=bucket, Prefix=key)
        return [v for v in answer.get("Versions") or () if v["Key"] == key]

