"""Locks across runners: reading Pulumi's lock objects, heartbeats, the unlock rule, and `unlock` itself.

The backend here is a folder laid out as the CLI lays out a file backend
(`.pulumi/meta.yaml`, `.pulumi/locks/organization/<project>/<stack>/<uuid>.json`),
the same layout an S3 backend has under its prefix.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from automation.backend_store import FileStore, S3Location, open_store
from automation.cli import main
from automation.errors import InputError
from automation.feature import parse_feature
from automation.locks import (
    Beat,
    Heartbeat,
    Lock,
    beating,
    heartbeat_key,
    heartbeat_seconds,
    judge,
    locks_in_message,
    read_locks,
    stack_path,
)
from automation.unlock import UnlockRefused, default_older_than, unlock

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
PATH = "organization/phoenix-octopus/ryan0001"


def write_lock(root: Path, *, host: str = "runner-7", pid: int = 4242, taken: datetime = NOW,
               name: str = "1b2c", user: str = "ci", nanoseconds: str = "") -> str:
    """A lock object exactly as the CLI writes one (pkg/backend/diy/lock.go: Go's RFC 3339, nanoseconds)."""
    key = f".pulumi/locks/{PATH}/{name}.json"
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = taken.isoformat().replace("+00:00", f"{nanoseconds}Z")
    path.write_text(json.dumps({"pid": pid, "username": user, "hostname": host, "timestamp": stamp}))
    return key


@pytest.fixture
def backend(tmp_path: Path) -> Path:
    root = tmp_path / "state"
    (root / ".pulumi").mkdir(parents=True)
    (root / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    return root


def lock(age: timedelta, *, host: str = "runner-7", pid: int = 4242, key: str = "k") -> Lock:
    return Lock("ci", host, pid, NOW - age, key)


def decide(locks, beat=None, older_than=timedelta(hours=6), alive=lambda pid: False):
    return judge(locks, beat, now=NOW, older_than=older_than, hostname="here", alive=alive)


# --- the rule ---------------------------------------------------------------------------------------


def test_only_an_old_lock_with_no_sign_of_life_may_go() -> None:
    old = lock(timedelta(hours=7))
    assert decide([old]).removable
    young = decide([lock(timedelta(minutes=20))])
    assert not young.removable and "ci@runner-7, pid 4242, taken 20m ago" in young.refusals[0]
    assert "younger than 6h" in young.refusals[0]
    assert not decide([old, lock(timedelta(minutes=1), key="k2")]).removable, "one young lock keeps both"
    assert not decide([Lock("ci", "runner-7", 1, None, "k")]).removable, "an undated lock is never old"


def test_a_fresh_heartbeat_naming_the_lock_means_its_update_runs() -> None:
    old = lock(timedelta(hours=7))
    fresh = Beat("runner-7", 4242, "k", NOW - timedelta(seconds=100), every=30)
    refused = decide([old], fresh)
    assert not refused.removable and "is running: its heartbeat is 1m40s old (one every 30 s)" in refused.refusals[0]
    assert decide([old], Beat("runner-7", 4242, "k", NOW - timedelta(seconds=121), every=30)).removable
    # A beat from another lock's holder (say, a runner that waited) says nothing about this one.
    assert decide([old], Beat("runner-8", 4242, "k", NOW, every=30)).removable
    assert decide([old], Beat("runner-7", 4242, "other", NOW, every=30)).removable


def test_on_this_host_a_live_pid_means_its_update_runs() -> None:
    here = lock(timedelta(hours=7), host="here", pid=77)
    refused = decide([here], alive=lambda pid: pid == 77)
    assert not refused.removable and "pid 77 is a live Pulumi process here" in refused.refusals[0]
    assert decide([here], alive=lambda pid: False).removable
    assert decide([lock(timedelta(hours=7), pid=77)], alive=lambda pid: True).removable, "another host's pid"


def test_the_default_age_stays_well_above_the_rollout_timeout() -> None:
    assert default_older_than({"rolloutTimeoutMinutes": 30}) == timedelta(hours=6)
    assert default_older_than({"rolloutTimeoutMinutes": 600}) == timedelta(hours=40)
    assert default_older_than({"rolloutTimeoutMinutes": "soon"}) == timedelta(hours=6)
    assert default_older_than(None) == timedelta(hours=6)


# --- reading locks and beats -------------------------------------------------------------------------


def test_the_cli_lock_message_and_lock_objects_read_alike(backend: Path) -> None:
    key = write_lock(backend, taken=NOW, nanoseconds=".123456789")
    message = (
        "error: the stack is currently locked by 1 lock(s). Either wait...\n"
        f"  file://{backend}/{key}: created by ci@runner-7 (pid 4242) at 2026-11-30T12:00:00.123456789Z"
    )
    [from_message] = locks_in_message(message)
    [from_object] = read_locks(FileStore("", backend), PATH)
    assert from_object == Lock("ci", "runner-7", 4242, NOW + timedelta(microseconds=123456), key)
    assert (from_message.holder, from_message.taken) == (from_object.holder, from_object.taken)


def test_an_unreadable_lock_object_still_counts_as_a_lock(backend: Path) -> None:
    path = backend / f".pulumi/locks/{PATH}/junk.json"
    path.parent.mkdir(parents=True)
    path.write_text("not json")
    [found] = read_locks(FileStore("", backend), PATH)
    assert (found.holder, found.key) == ("?@?, pid 0", f".pulumi/locks/{PATH}/junk.json")
    assert found.taken is not None, "dated by the store instead"


def test_stack_paths_follow_the_backends_layout(tmp_path: Path, backend: Path) -> None:
    assert stack_path(FileStore("", backend), "phoenix-octopus", "ryan0001") == PATH
    legacy = tmp_path / "legacy"
    (legacy / ".pulumi" / "stacks").mkdir(parents=True)
    (legacy / ".pulumi" / "stacks" / "ryan0001.json").write_text("{}")
    assert stack_path(FileStore("", legacy), "phoenix-octopus", "ryan0001") == "ryan0001"
    assert stack_path(FileStore("", tmp_path / "new"), "phoenix-octopus", "ryan0001") == PATH


def test_a_beat_round_trips_and_junk_is_no_beat() -> None:
    beat = Beat("runner-7", 4242, "k", NOW, 30.0)
    assert Beat.decode(beat.encode()) == beat
    for junk in (None, b"", b"{}", b"[]", b'{"hostname": "h", "pid": "x", "lock": "k", "at": "now", "every": 1}'):
        assert Beat.decode(junk) is None
    assert heartbeat_seconds({"PHOENIX_HEARTBEAT_SECONDS": "2.5"}) == 2.5
    assert heartbeat_seconds({"PHOENIX_HEARTBEAT_SECONDS": "-1"}) == heartbeat_seconds({}) == 30.0


def test_the_heartbeat_names_only_the_lock_its_own_cli_holds(backend: Path) -> None:
    store = FileStore("", backend)
    write_lock(backend, host="here", pid=111, name="theirs")
    heartbeat = Heartbeat(store, PATH, pids=lambda: [222], every=0.05, hostname="here", clock=lambda: NOW)
    assert not heartbeat.beat() and store.read(heartbeat_key(PATH)) is None, "not ours"
    mine = write_lock(backend, host="here", pid=222, name="mine")
    with beating(heartbeat):
        deadline = time.monotonic() + 30
        while heartbeat.beats < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        beat = Beat.decode(store.read(heartbeat_key(PATH)))
    assert heartbeat.beats >= 2 and (beat.hostname, beat.pid, beat.lock, beat.every) == ("here", 222, mine, 0.05)
    assert store.read(heartbeat_key(PATH)) is None, "the beat goes with the operation"


def test_a_failing_store_never_fails_the_heartbeat() -> None:
    class Broken:
        def list(self, prefix):
            raise InputError("S3 is down")

    heartbeat = Heartbeat(Broken(), PATH, pids=lambda: [1], hostname="here")
    assert not heartbeat.beat() and heartbeat.errors == 1


# --- unlock ----------------------------------------------------------------------------------------


def test_unlock_removes_exactly_the_judged_locks_and_their_beat(backend: Path) -> None:
    store = FileStore("", backend)
    feature = parse_feature("ryan0001")
    assert unlock(store, "phoenix-octopus", feature, older_than=timedelta(hours=6), now=NOW).removed == ()
    key = write_lock(backend, taken=NOW - timedelta(hours=2))
    store.write(heartbeat_key(PATH), Beat("runner-7", 4242, key, NOW - timedelta(hours=2), 30).encode())
    with pytest.raises(UnlockRefused) as refused:
        unlock(store, "phoenix-octopus", feature, older_than=timedelta(hours=6), now=NOW, hostname="here")
    assert "stack 'ryan0001' stays locked: the lock of ci@runner-7, pid 4242, taken 2h ago" in str(refused.value)
    assert refused.value.code == 4 and store.read(key) is not None
    done = unlock(store, "phoenix-octopus", feature, older_than=timedelta(hours=1), now=NOW, hostname="here")
    assert [lock.key for lock in done.removed] == [key]
    assert store.read(key) is None and store.read(heartbeat_key(PATH)) is None
    assert done.as_json()["result"] == "unlocked" and done.as_json()["olderThan"] == "1h"
    assert done.lines()[0] == "ryan0001: removed the lock of ci@runner-7, pid 4242, taken 2h ago at 2026-11-30 10:00:00 UTC"


def test_the_unlock_command_on_a_file_backend(tmp_path: Path, backend: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    work = tmp_path / "project"
    work.mkdir()
    (work / "Pulumi.yaml").write_text("name: phoenix-octopus\nruntime: python\n")
    where = ["--work-dir", str(work), "--backend", f"file://{backend}"]
    key = write_lock(backend, taken=datetime.now(timezone.utc) - timedelta(hours=7), host="gone-runner")

    assert main(["unlock", "ryan0001", *where, "--older-than", "8h"]) == 4
    assert "is younger than 8h" in capsys.readouterr().err and (backend / key).exists()
    assert main(["unlock", "1.0.0-ryan0001", *where, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["result"], document["removed"][0]["hostname"]) == ("unlocked", "gone-runner")
    assert not (backend / key).exists()
    assert main(["unlock", "ryan0001", *where]) == 0
    assert capsys.readouterr().out == "ryan0001: not locked\n"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["unlock", "ryan0001", "--older-than", "soon"], "--older-than"),
        (["unlock", "Not/A/Feature"], "feature id"),
        (["unlock", "ryan0001", "--backend", "https://api.pulumi.example"], "pulumi cancel"),
        (["unlock", "ryan0001", "--backend", "s3://bucket?use_path_style=maybe"], "use_path_style"),
    ],
)
def test_unlock_refuses_bad_input_with_exit_2(argv, needle, tmp_path: Path, capsys) -> None:
    work = tmp_path / "project"
    work.mkdir()
    (work / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    assert main([*argv, "--work-dir", str(work)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


# --- the backend's URL ---------------------------------------------------------------------------------


def test_s3_urls_read_as_the_clis_opener_reads_them() -> None:
    location = S3Location.parse(
        "s3://phoenix-state/ci/phoenix/?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A9000"
        "&use_path_style=true&profile=ci&response_checksum_validation=when_required"
    )
    assert location == S3Location("phoenix-state", "ci/phoenix/", "eu-west-1", "http://127.0.0.1:9000", "ci", True)
    assert S3Location.parse("s3://b?s3ForcePathStyle=1").path_style
    assert S3Location.parse("s3://b?endpoint=minio:9000&disable_https=true").endpoint == "http://minio:9000"
    assert S3Location.parse("s3://b?endpoint=s3.example").endpoint == "https://s3.example"
    assert S3Location.parse("s3://b").prefix == ""
    for bad in ("s3:///prefix", "file:///x", "s3://b?use_path_style=maybe"):
        with pytest.raises(InputError):
            S3Location.parse(bad)


def test_file_urls_open_the_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert open_store(f"file://{tmp_path}/state?no_tmp_dir=true").root == tmp_path / "state"
    assert open_store("file://~/state").root == tmp_path / "state"
    store = open_store(f"file://{tmp_path}/state")
    store.write("a/b/c.json", b"1")
    assert [item.key for item in store.list("a/")] == ["a/b/c.json"] and store.list("z/") == []
    assert store.delete("a/b/c.json") and not store.delete("a/b/c.json")
    assert not [name for name in os.listdir(tmp_path / "state" / "a" / "b")], "no temporary file left"


# --- the engine's own lock handling -------------------------------------------------------------------


def test_the_engine_deletes_exactly_the_locks_it_judged_and_what_its_cli_left(
    tmp_path: Path, backend: Path, monkeypatch, pulumi_bin
) -> None:
    import socket

    from automation.engine import Backend, Engine, _lock_user

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "phrase")
    work = tmp_path / "project"
    work.mkdir()
    (work / "Pulumi.yaml").write_text("name: phoenix-octopus\nruntime: python\n")
    logged: list[str] = []
    engine = Engine(work, Backend(f"file://{backend}", local_default=False), log=logged.append)

    class Stack:
        name = "ryan0001"

        def cancel(self) -> None:
            raise AssertionError("`pulumi cancel` deletes every lock; phoenix deletes the ones it judged")

    here, me = socket.gethostname(), _lock_user()
    gone = write_lock(backend, host=here, user=me, pid=2**22 + 7, name="left-by-our-cli")
    elsewhere = write_lock(backend, host="runner-8", user=me, pid=2**22 + 7, name="another-runners")
    engine.release_left_lock(Stack(), "all good")
    assert (backend / gone).exists(), "nothing said the CLI left a lock"
    engine.release_left_lock(Stack(), "error: there was a problem deleting the lock at file://..., manual clean up")
    assert not (backend / gone).exists() and (backend / elsewhere).exists()
    assert "phoenix removed it" in logged[-1] and f"{me}@{here}" in logged[-1]

    engine.remove_locks(Stack(), [Lock(me, "runner-8", 2**22 + 7, None)])
    assert not (backend / elsewhere).exists()
