"""S3 faults between the Pulumi CLI and the bucket, and what the CLI and phoenix make of them.

The runners reach the emulator through the fault proxy. Findings, one test each:
- a few 503s, dropped connections (before or after S3 acted) and slow answers
  are retried by the CLI's SDK: the run succeeds;
- a checkpoint write that keeps failing after Octopus made the tenant fails the
  run with exit 1 and the CLI's message; that checkpoint is lost (the state
  still records the step as pending), and the next run recovers it: it clears
  the pending operation, refreshes and adopts the tenant, with a warning;
- a history write that keeps failing after a good update fails the run
  (exit 1); the state is current, and a rerun changes nothing;
- a lock delete that fails leaves the lock behind after a successful update
  (the CLI says so and exits 0): phoenix deletes it right away, or, when S3
  still refuses, the next run on this host proves it stale and removes it;
- a listing of the lock folder that keeps failing stops the run before it
  changes anything.
"""

from __future__ import annotations

import json

import pytest

from automation.run_log import LOG_SUBDIR
from tests.engine.projects.octopus.program import PROJECT_NAME
from tests.engine.test_cli_end_to_end import PROJECT, overrides
from tests.engine.test_day_two import one_failure

pytestmark = pytest.mark.engine

CHECKPOINT = rf"/\.pulumi/stacks/{PROJECT_NAME}/ryan0001\.json$"
LOCKS = rf"/\.pulumi/locks/organization/{PROJECT_NAME}/ryan0001/"


def test_a_few_503s_drops_and_slow_answers_are_retried(world, s3_proxy) -> None:
    world.octopus.seed_release(PROJECT, "1.0.0-ryan0001")
    runner = world.runner("flaky", endpoint=s3_proxy.url)
    s3_proxy.slow_seconds = 0.05
    s3_proxy.fail_next("PUT", CHECKPOINT, status=503, count=2)
    s3_proxy.fail_next("GET", CHECKPOINT, status=500)
    s3_proxy.fail_next("PUT", CHECKPOINT, drop=True)
    s3_proxy.fail_next("PUT", CHECKPOINT, drop=True, processed=True)
    s3_proxy.fail_next("DELETE", LOCKS, drop=True, processed=True)

    created = runner.run("create", "1.0.0-ryan0001", "--json")
    assert created.returncode == 0, created.stderr[-3000:]
    assert s3_proxy.faults.pending() == 0, "every planned fault was met"
    assert s3_proxy.count("PUT", CHECKPOINT, status=503) == 2 and s3_proxy.count("*", "", status=0) == 3
    [tenant] = world.octopus.tenants()
    assert json.loads(created.stdout)["outputs"]["tenant_id"] == tenant["Id"]
    assert world.s3.locks(PROJECT_NAME, "ryan0001") == []
    assert runner.json("create", "1.0.0-ryan0001")["changes"] == {"same": 4}


def test_a_checkpoint_lost_after_octopus_acted_fails_the_run_and_the_next_one_recovers(world, s3_proxy) -> None:
    octopus = world.octopus
    octopus.seed_release(PROJECT, "1.0.0-ryan0001")
    runner = world.runner("unlucky", endpoint=s3_proxy.url)
    # From the moment Octopus created the tenant, S3 refuses every checkpoint write.
    octopus.after_next("POST", r"/tenants$", lambda: s3_proxy.fail_next("PUT", CHECKPOINT, status=503, count=1000))

    failed = runner.run("create", "1.0.0-ryan0001")
    assert failed.returncode == 1, failed.stderr[-3000:]
    error, hint, log = one_failure(failed.stderr)
    assert error.startswith("error: ryan0001: ") and "failed to save snapshot" in error, error
    assert "run the same command again" in hint
    assert "StatusCode: 503" in log.read_text(encoding="utf-8")
    # The CLI's own retries: 12 writes of 3 attempts each, over about a minute, before it gave up.
    assert s3_proxy.count("PUT", CHECKPOINT, status=503) >= 36
    assert [t["Name"] for t in octopus.tenants()] == ["ryan0001"], "Octopus has the tenant..."
    state = json.loads(world.s3.read(f"phoenix/.pulumi/stacks/{PROJECT_NAME}/ryan0001.json"))
    resources = [r["type"] for r in state["checkpoint"]["latest"].get("resources") or ()]
    assert not any(t.endswith("octopus:Tenant") for t in resources), "...the state lost it"
    assert [op["type"] for op in state["checkpoint"]["latest"]["pending_operations"]] == ["creating"]

    s3_proxy.faults.clear()
    healed = runner.run("create", "1.0.0-ryan0001", "--json")
    assert healed.returncode == 0, healed.stderr[-3000:]
    assert "pending operations" in healed.stderr and "adopts it" in healed.stderr
    [tenant] = octopus.tenants()
    assert json.loads(healed.stdout)["outputs"]["tenant_id"] == tenant["Id"]
    assert [o["TenantId"] for o in overrides(octopus)] == [tenant["Id"]]
    assert runner.json("create", "1.0.0-ryan0001")["changes"] == {"same": 4}


def test_a_history_write_that_fails_after_a_good_update_fails_the_run_and_a_rerun_changes_nothing(
    world, s3_proxy
) -> None:
    world.octopus.seed_release(PROJECT, "1.0.0-ryan0001")
    runner = world.runner("forgetful", endpoint=s3_proxy.url)
    s3_proxy.fail_next("PUT", rf"/\.pulumi/history/{PROJECT_NAME}/ryan0001/", status=503, count=1000)
    failed = runner.run("create", "1.0.0-ryan0001")
    s3_proxy.faults.clear()
    assert failed.returncode == 1, failed.stderr[-3000:]
    error, _, log = one_failure(failed.stderr)
    assert "saving update info" in error, error
    assert "StatusCode: 503" in log.read_text(encoding="utf-8")
    [tenant] = world.octopus.tenants()
    again = runner.json("create", "1.0.0-ryan0001")
    assert (again["changes"], again["outputs"]["tenant_id"]) == ({"same": 4}, tenant["Id"])


def test_a_lock_the_cli_could_not_delete_is_deleted_by_phoenix_or_the_next_run(world, s3_proxy) -> None:
    octopus = world.octopus
    octopus.seed_release(PROJECT, "1.0.0-ryan0001")
    runner = world.runner("leaky", endpoint=s3_proxy.url)

    def refuse_lock_deletes(count: int) -> None:
        """Once the update wrote its last Octopus change, S3 refuses the next `count` lock deletes."""
        octopus.after_next("PUT", r"/projects/", lambda: s3_proxy.fail_next("DELETE", LOCKS, status=503, count=count))

    # The CLI tries 3 times, 3 SDK attempts each, then exits 0 with the lock left: phoenix deletes it.
    refuse_lock_deletes(9)
    created = runner.run("create", "1.0.0-ryan0001")
    assert created.returncode == 0, created.stderr[-3000:]
    # The CLI's own warning goes to the run log; the terminal gets phoenix's.
    [log] = (runner.work_dir / LOG_SUBDIR).glob("*-create-ryan0001-*.log")
    assert "manual clean up may be required" in log.read_text(encoding="utf-8")
    assert s3_proxy.count("DELETE", LOCKS, status=503) == 9
    assert "could not delete its lock; phoenix removed it" in created.stderr
    assert world.s3.locks(PROJECT_NAME, "ryan0001") == []

    # S3 refuses every delete for a while: the lock stays, and the next run on this host removes it.
    octopus.seed_release(PROJECT, "1.0.1-ryan0001")
    refuse_lock_deletes(1000)
    leaked = runner.run("create", "1.0.1-ryan0001")
    s3_proxy.faults.clear()
    assert leaked.returncode == 0, leaked.stderr[-3000:]
    assert "nor could phoenix: the next run on this host removes it" in leaked.stderr
    assert world.s3.locks(PROJECT_NAME, "ryan0001"), "the lock stayed"
    again = runner.run("create", "1.0.1-ryan0001", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "removing a stale lock" in again.stderr
    assert json.loads(again.stdout)["changes"] == {"same": 4}
    assert world.s3.locks(PROJECT_NAME, "ryan0001") == []


def test_a_lock_folder_that_cannot_be_listed_stops_the_run_before_any_change(world, s3_proxy) -> None:
    world.octopus.seed_release(PROJECT, "1.0.0-ryan0001")
    runner = world.runner("blind", endpoint=s3_proxy.url)
    s3_proxy.fail_next("GET", r"^/phoenix-state$", status=503, count=1000)
    failed = runner.run("create", "1.0.0-ryan0001")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "503" in failed.stderr and "Traceback" not in failed.stderr
    assert world.octopus.tenants() == [] and world.octopus.count("POST") == 0
