"""Every command on the S3 backend, from runners that share nothing but the bucket."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.engine.projects.octopus.program import PROJECT_NAME
from tests.engine.test_cli_end_to_end import PROJECT, overrides
from tests.octopus_emulator.fixtures import TEST_REGISTRATION_KEY
from tests.s3_emulator import BUCKET, PREFIX, backend_url, readme_policy

pytestmark = pytest.mark.engine


def test_a_feature_created_on_one_runner_is_read_changed_and_destroyed_from_another(world) -> None:
    octopus, s3 = world.octopus, world.s3
    first = octopus.seed_release(PROJECT, "1.0.0-ryan0001")
    a, b = world.runner("runner-a"), world.runner("runner-b")

    planned = a.json("preview", "ryan0001")
    assert (planned["result"], planned["changes"]) == ("changes", {"create": 4})
    assert s3.stacks(PROJECT_NAME) == set(), "preview left no stack in the bucket"

    created = a.json("create", "ryan0001")
    [tenant] = octopus.tenants()
    assert (created["result"], created["outputs"]["tenant_id"]) == ("succeeded", tenant["Id"])
    assert s3.stacks(PROJECT_NAME) == {"ryan0001"}
    assert s3.locks(PROJECT_NAME, "ryan0001") == [], "the lock went with the update"
    assert not s3.keys(f"{PREFIX}/.phoenix/"), "the heartbeat went with the update"

    # Runner b has never seen the stack: no Pulumi.ryan0001.yaml, an empty PULUMI_HOME.
    assert not (b.work_dir / "Pulumi.ryan0001.yaml").exists()
    [row] = b.json("list")
    assert (row["feature"], row["packageVersion"], row["ttl"]) == ("ryan0001", "1.0.0-ryan0001", "72h")
    assert datetime.now(timezone.utc) - datetime.fromisoformat(row["lastUpdate"]) < timedelta(minutes=10)
    assert b.json("outputs", "ryan0001") == created["outputs"]
    unchanged = b.run("preview", "ryan0001", "--expect-no-changes")
    assert unchanged.returncode == 0, unchanged.stderr[-3000:]

    second = octopus.seed_release(PROJECT, "1.0.1-ryan0001")
    updated = b.json("create", "ryan0001", "--version", "1.0.1-ryan0001")
    assert updated["changes"] == {"same": 2, "update": 2}
    assert [o["ReleaseId"] for o in overrides(octopus)] == [second["Id"]] != [first["Id"]]

    # Versioning keeps every checkpoint the updates overwrote.
    checkpoint = f"{PREFIX}/.pulumi/stacks/{PROJECT_NAME}/ryan0001.json"
    assert len(s3.versions(checkpoint)) >= 3
    # The keys are secrets in the state: never in plain text in any object.
    for key in s3.keys(PREFIX):
        assert octopus.api_key.encode() not in s3.read(key), key
        assert TEST_REGISTRATION_KEY.encode() not in s3.read(key), key

    destroyed = a.run("destroy", "ryan0001")
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    assert s3.stacks(PROJECT_NAME) == set()
    assert octopus.tenants() == [] and overrides(octopus) == []
    assert b.json("list") == []


def test_reap_on_one_runner_destroys_what_others_created(world) -> None:
    octopus = world.octopus
    creators = [world.runner(f"creator-{n}") for n in range(2)]
    for runner, feature in zip(creators, ("alpha", "beta")):
        octopus.seed_release(PROJECT, f"1.0.0-{feature}")
        done = runner.run("create", f"1.0.0-{feature}", "--quiet")
        assert done.returncode == 0, done.stderr[-3000:]

    reaper = world.runner("nightly")
    planned = reaper.json("reap", "--dry-run", "--older-than", "0s")
    assert {o["feature"]: o["action"] for o in planned} == {"alpha": "planned", "beta": "planned"}
    reaped = reaper.json("reap", "--older-than", "0s", "--keep", "alpha", "--parallel", "2")
    assert {o["feature"]: o["action"] for o in reaped} == {"alpha": "kept", "beta": "destroyed"}
    assert world.s3.stacks(PROJECT_NAME) == {"alpha"}
    assert [t["Name"] for t in octopus.tenants()] == ["alpha"]
    assert len(overrides(octopus)) == 1


def test_doctor_checks_the_bucket_with_the_urls_endpoint_and_the_runners_rights(world) -> None:
    def backend_check(runner, *args: str) -> dict:
        done = runner.run("doctor", "--json", *args)
        return next(c for c in json.loads(done.stdout)["checks"] if c["name"] == "pulumi.backend")

    runner = world.runner("doctor")
    check = backend_check(runner)
    assert check["status"] == "ok", check
    assert f"bucket '{BUCKET}' reachable" in check["found"]
    assert world.s3.keys(PREFIX) == [], "the probe was deleted"

    missing = backend_check(runner, "--backend", backend_url(world.s3.endpoint, bucket="no-such-bucket"))
    assert missing["status"] == "fail" and "'no-such-bucket'" in missing["found"], missing

    # A role that may read the state but not write it fails here, before any update.
    policy = readme_policy()
    policy["Statement"][1]["Action"] = ["s3:GetObject"]
    reader = world.s3.runner("read-only", policy)
    read_only = world.runner("read-only", **reader.env())
    check = backend_check(read_only)
    assert check["status"] == "fail" and "may not write under phoenix/" in check["found"], check
