"""The S3 stand-ins, checked with a real S3 client (boto3): moto's IAM enforcement, the fault proxy, the store.

The other real client is the Pulumi CLI's Go SDK, which every engine test
in this folder drives through the same emulator and proxy.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from automation.backend_store import S3Location, S3Store, StoreError
from tests.s3_emulator import BUCKET, PREFIX, REGION, backend_url, readme_policy


def client(endpoint: str, identity, attempts: int = 1):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=identity.access_key_id,
        aws_secret_access_key=identity.secret_access_key,
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}, s3={"addressing_style": "path"}),
    )


@pytest.fixture
def runner(s3_emulator):
    identity = s3_emulator.runner("ci-runner", readme_policy())
    s3_emulator.enforce_iam()
    return identity


def code_of(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def test_moto_enforces_signatures_and_the_runners_policy(s3_emulator, runner) -> None:
    s3 = client(s3_emulator.endpoint, runner)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/.pulumi/x", Body=b"1")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")["KeyCount"] == 1
    with pytest.raises(ClientError) as outside:
        s3.put_object(Bucket=BUCKET, Key="elsewhere/x", Body=b"1")
    assert code_of(outside.value) == "AccessDenied"
    with pytest.raises(ClientError) as configure:
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    assert code_of(configure.value) == "AccessDenied"
    forged = type(runner)("forged", runner.access_key_id, "not-the-secret")
    with pytest.raises(ClientError) as unsigned:
        client(s3_emulator.endpoint, forged).get_object(Bucket=BUCKET, Key=f"{PREFIX}/.pulumi/x")
    assert code_of(unsigned.value) == "SignatureDoesNotMatch"


def test_the_proxy_relays_signed_requests_and_answers_s3_errors(s3_emulator, runner, s3_proxy) -> None:
    s3 = client(s3_proxy.url, runner)
    key = f"{PREFIX}/.pulumi/stacks/p/s.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 2
    s3_proxy.fail_next("GET", r"/s\.json$", status=503)
    with pytest.raises(ClientError) as slow_down:
        s3.get_object(Bucket=BUCKET, Key=key)
    assert (code_of(slow_down.value), slow_down.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("SlowDown", 503)
    s3_proxy.fail_next("GET", r"/s\.json$", status=500, count=2)
    assert client(s3_proxy.url, runner, attempts=3).get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"{}"
    assert s3_proxy.count("GET", r"/s\.json$", status=500) == 2
    s3_proxy.slow_seconds = 0.2
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"{}"


def test_a_dropped_connection_loses_the_answer_before_or_after_s3_acted(s3_emulator, runner, s3_proxy) -> None:
    s3 = client(s3_proxy.url, runner)
    lost = (ConnectionClosedError, EndpointConnectionError)
    s3_proxy.fail_next("PUT", r"/before$", drop=True)
    with pytest.raises(lost):
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/before", Body=b"1")
    s3_proxy.fail_next("PUT", r"/after$", drop=True, processed=True)
    with pytest.raises(lost):
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/after", Body=b"1")
    assert s3_emulator.keys(f"{PREFIX}/") == [f"{PREFIX}/after"]
    assert [r.status for r in s3_proxy.log.records()] == [0, 0]


def test_the_proxy_is_bounded(s3_emulator) -> None:
    from tests.s3_emulator import FaultProxy

    with FaultProxy(s3_emulator.endpoint, max_body=10) as proxy:
        s3 = client(proxy.url, type("Admin", (), {"access_key_id": "testing", "secret_access_key": "testing"})())
        with pytest.raises(ClientError) as too_big:
            s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/big", Body=b"x" * 11)
        assert too_big.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert s3_emulator.keys(f"{PREFIX}/") == []


def test_phoenixs_store_reads_the_bucket_through_the_urls_options(s3_emulator, runner, s3_proxy, monkeypatch) -> None:
    for name, value in runner.env().items():
        monkeypatch.setenv(name, value)
    url = backend_url(s3_proxy.url)
    store = S3Store(url, S3Location.parse(url))
    store.write(".phoenix/heartbeats/a.json", b"beat")
    assert store.read(".phoenix/heartbeats/a.json") == b"beat" and store.read(".phoenix/none") is None
    assert [item.key for item in store.list(".phoenix/")] == [".phoenix/heartbeats/a.json"]
    assert s3_emulator.keys(f"{PREFIX}/") == [f"{PREFIX}/.phoenix/heartbeats/a.json"], "below the URL's prefix"
    assert store.delete(".phoenix/heartbeats/a.json") and not store.delete(".phoenix/heartbeats/a.json")
    s3_proxy.fail_next("GET", r"/x$", status=503, count=100)
    with pytest.raises(StoreError) as failed:
        store.read(".phoenix/x")
    assert "read s3://phoenix-state/phoenix/.phoenix/x: SlowDown" in str(failed.value)
