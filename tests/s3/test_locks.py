"""Locks across runners on the S3 backend: who holds one, waiting for it, and `unlock`.

A runner on another host is simulated where only the host could differ: the
lock object a killed runner left is rewritten with another host name (the
CLI writes exactly these fields), and its age and heartbeat with times
hours away, which a test cannot wait for.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest

from automation.locks import Beat
from tests.engine.projects.octopus.program import PROJECT_NAME
from tests.engine.test_cli_end_to_end import (
    HOLD_SECONDS,
    PROJECT,
    an_init_that_never_reaps,
    kill_with_descendants,
    overrides,
    wait_for,
)
from tests.s3_emulator import PREFIX

pytestmark = pytest.mark.engine

STACK_PATH = f"organization/{PROJECT_NAME}/ryan0001"
HEARTBEAT = f"{PREFIX}/.phoenix/heartbeats/{STACK_PATH}.json"


def lock_of(s3) -> tuple[str, dict]:
    [key] = s3.locks(PROJECT_NAME, "ryan0001")
    return key, json.loads(s3.read(key))


def test_a_second_runner_is_told_who_holds_the_lock_and_since_when_or_waits(world) -> None:
    octopus, s3 = world.octopus, world.s3
    octopus.seed_release(PROJECT, "1.0.0-ryan0001")
    # The holder's update stays running while the gate is shut: each of its Octopus writes waits
    # (less than the client's 30 s read timeout, so nothing is retried). The others only read.
    gate = threading.Event()
    for method in ("POST", "PUT"):
        octopus.after_next(method, "", lambda: gate.wait(HOLD_SECONDS), count=10_000)
    holder = world.runner("holder", PHOENIX_HEARTBEAT_SECONDS="1").start("create", "1.0.0-ryan0001")
    wait_for(lambda: s3.locks(PROJECT_NAME, "ryan0001") or holder.poll() is not None, what="the holder's lock")
    wait_for(lambda: s3.keys(HEARTBEAT) or holder.poll() is not None, what="the holder's heartbeat")
    assert holder.poll() is None, "the first create ended before the others could start"
    key, lock = lock_of(s3)
    beat = Beat.decode(s3.read(HEARTBEAT))
    assert (beat.hostname, beat.pid, beat.lock) == (lock["hostname"], lock["pid"], key[len(PREFIX) + 1:])
    waiting = world.runner("waiting").start("create", "1.0.0-ryan0001", "--wait-lock", "300")

    refused = world.runner("refused").run("create", "1.0.0-ryan0001")
    assert refused.returncode == 4, refused.stderr[-3000:]
    [message] = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert f"is locked by another update ({lock['username']}@{socket.gethostname()}, pid {lock['pid']}, taken " in message
    assert " ago at " in message and "--wait-lock" in message

    # The update is running: unlock refuses, even for a lock "older than 0s".
    unlocking = world.runner("unlocking").run("unlock", "ryan0001", "--older-than", "0s")
    assert unlocking.returncode == 4, unlocking.stderr[-3000:]
    assert f"the update of {lock['username']}@{socket.gethostname()}, pid {lock['pid']} is running" in unlocking.stderr
    assert s3.locks(PROJECT_NAME, "ryan0001") == [key]

    gate.set()
    out, err = holder.communicate(timeout=300)
    assert holder.returncode == 0, err[-3000:]
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err[-3000:]
    assert "locked by another update; retrying" in err and "4 unchanged" in out
    assert [t["Name"] for t in octopus.tenants()] == ["ryan0001"] and len(overrides(octopus)) == 1
    assert s3.locks(PROJECT_NAME, "ryan0001") == [] and s3.keys(HEARTBEAT) == []


def kill_mid_update(world, runner, killed: list[int]) -> None:
    """Start a create and kill the whole runner once Octopus made the tenant (and a heartbeat was written)."""
    process = runner.start("create", "1.0.0-ryan0001")

    def kill() -> None:
        wait_for(lambda: world.s3.keys(HEARTBEAT), what="a heartbeat before the kill")
        killed.extend(kill_with_descendants(process.pid))

    world.octopus.after_next("POST", r"/tenants$", kill)
    process.communicate(timeout=300)
    assert process.returncode == -signal.SIGKILL
    assert [t["Name"] for t in world.octopus.tenants()] == ["ryan0001"] and overrides(world.octopus) == []


def as_if_from(s3, host: str, *, taken: datetime, beat_at: datetime, every: float = 30) -> dict:
    """Rewrite the lock and heartbeat the killed runner left as a runner on `host` would have written them."""
    key, lock = lock_of(s3)
    lock.update(hostname=host, timestamp=taken.isoformat().replace("+00:00", "Z"))
    s3.write(key, json.dumps(lock).encode())
    s3.write(HEARTBEAT, Beat(host, lock["pid"], key[len(PREFIX) + 1:], beat_at, every).encode())
    return lock


def test_a_lock_left_on_this_host_is_removed_by_the_next_run(world) -> None:
    world.octopus.seed_release(PROJECT, "1.0.0-ryan0001")
    killed: list[int] = []
    with an_init_that_never_reaps(killed):
        kill_mid_update(world, world.runner("dies", PHOENIX_HEARTBEAT_SECONDS="1"), killed)
        assert world.s3.locks(PROJECT_NAME, "ryan0001"), "a hard kill leaves the stack locked"
        healed = world.runner("next").run("create", "1.0.0-ryan0001", "--json")
    assert healed.returncode == 0, healed.stderr[-3000:]
    assert "removing a stale lock" in healed.stderr and "pending operations" in healed.stderr
    [tenant] = world.octopus.tenants()
    assert json.loads(healed.stdout)["outputs"]["tenant_id"] == tenant["Id"]
    assert [o["TenantId"] for o in overrides(world.octopus)] == [tenant["Id"]]


def test_unlock_removes_only_an_old_lock_whose_update_stopped_and_the_next_create_heals(world) -> None:
    s3, octopus = world.s3, world.octopus
    octopus.seed_release(PROJECT, "1.0.0-ryan0001")
    killed: list[int] = []
    with an_init_that_never_reaps(killed):
        kill_mid_update(world, world.runner("dies-elsewhere", PHOENIX_HEARTBEAT_SECONDS="1"), killed)
    now = datetime.now(timezone.utc)
    operator = world.runner("operator")

    # Died a moment ago on another host: no pid can prove it dead, and it is young.
    lock = as_if_from(s3, "runner-elsewhere", taken=now, beat_at=now - timedelta(minutes=5))
    young = operator.run("unlock", "ryan0001")
    assert young.returncode == 4, young.stderr[-3000:]
    assert f"@runner-elsewhere, pid {lock['pid']}, taken " in young.stderr
    assert "is younger than 6h" in young.stderr
    locked = operator.run("create", "1.0.0-ryan0001")
    assert locked.returncode == 4 and "@runner-elsewhere" in locked.stderr, locked.stderr[-3000:]
    assert "removing a stale lock" not in locked.stderr

    # Old, but its runner still beats: its update is running.
    as_if_from(s3, "runner-elsewhere", taken=now - timedelta(hours=7), beat_at=now)
    running = operator.run("unlock", "ryan0001")
    assert running.returncode == 4, running.stderr[-3000:]
    assert "is running: its heartbeat is" in running.stderr
    assert s3.locks(PROJECT_NAME, "ryan0001"), "a refused unlock removes nothing"

    # Old and silent for an hour: gone.
    as_if_from(s3, "runner-elsewhere", taken=now - timedelta(hours=7), beat_at=now - timedelta(hours=1))
    removed = operator.run("unlock", "ryan0001")
    assert removed.returncode == 0, removed.stderr[-3000:]
    assert f"ryan0001: removed the lock of {lock['username']}@runner-elsewhere, pid {lock['pid']}, taken 7h" in removed.stdout
    assert s3.locks(PROJECT_NAME, "ryan0001") == [] and s3.keys(HEARTBEAT) == []
    assert operator.json("unlock", "ryan0001")["result"] == "not locked"

    healed = operator.run("create", "1.0.0-ryan0001", "--json")
    assert healed.returncode == 0, healed.stderr[-3000:]
    assert "pending operations" in healed.stderr
    [tenant] = octopus.tenants()
    assert json.loads(healed.stdout)["outputs"]["tenant_id"] == tenant["Id"]
    assert [o["TenantId"] for o in overrides(octopus)] == [tenant["Id"]]
    assert operator.json("create", "1.0.0-ryan0001")["changes"] == {"same": 4}
