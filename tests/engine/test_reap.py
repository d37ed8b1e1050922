"""Reaping through the real engine: a cap over many features, orphans on both sides, a TTL people move.

Stacks are made by the bare Automation API (`bench.raw_up`, the test project's tenant and
override, two processes side by side) to save time; everything after that is the real
command line, its file backend and the Octopus emulator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Sequence

import pytest

from automation.pulumi_cli import PROJECT_ROOT
from components.octopus.client import OctopusClient
from components.octopus.tenant import phoenix_description
from tests.engine.test_cli_end_to_end import (  # noqa: F401 - `cli` is a fixture
    ENVIRONMENT, PROJECT, Cli, cli, overrides,
)

pytestmark = pytest.mark.engine

PROCESSES = 2


def populate(cli: Cli, features: Sequence[str]) -> None:
    """`up` each feature (tenant + override), in order: the first made is the first to expire."""
    for feature in features:
        cli.emulator.seed_release(PROJECT, f"1.0.0-{feature}")
    chunks = [list(features[i::PROCESSES]) for i in range(PROCESSES)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.raw_up", "--work-dir", str(cli.work_dir), "--server-url", cli.emulator.url,
             "--project", PROJECT, "--environment", ENVIRONMENT, *(f"{f}=1.0.0-{f}" for f in chunk)],
            env=cli.env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for chunk in chunks if chunk
    ]
    for process in processes:
        _, err = process.communicate(timeout=900)
        assert process.returncode == 0, err[-3000:]


def tenant_names(cli: Cli) -> list[str]:
    return sorted(tenant["Name"] for tenant in cli.emulator.tenants())


def writes(cli: Cli) -> list[str]:
    return [f"{r.method} {r.path}" for r in cli.emulator.request_log if r.method not in ("GET", "HEAD")]


def test_reap_caps_what_one_run_destroys_and_reports_the_rest(cli: Cli) -> None:
    features = [f"cap{index:04d}" for index in range(1, 13)]
    populate(cli, features)
    # Made in order two at a time: the first of each process is older than everything after it.
    ages = {row["feature"]: row["lastUpdate"] for row in cli.json("list")}
    oldest = sorted(features, key=lambda f: (ages[f], f))

    reaped = cli.run("reap", "--older-than", "0s", "--max-destroy", "4", "--parallel", "2", "--quiet", "--json")
    assert reaped.returncode == 0, reaped.stderr[-3000:]
    outcomes = {o["feature"]: o for o in json.loads(reaped.stdout)}
    assert sorted(f for f, o in outcomes.items() if o["action"] == "destroyed") == sorted(oldest[:4])
    assert sorted(f for f, o in outcomes.items() if o["action"] == "left") == sorted(oldest[4:])
    assert all("left for the next run (--max-destroy 4)" in outcomes[f]["reason"] for f in oldest[4:])
    assert tenant_names(cli) == sorted(oldest[4:])
    assert [f for f in features if cli.has_stack(f)] == [f for f in features if f in oldest[4:]]

    # The keep-list fails closed: empty, or keeping none of the 8 that are left.
    empty = cli.work_dir / "live.txt"
    empty.write_text("# the SCM answered: no open branches\n")
    cli.emulator.clear_log()
    for args in (("--keep-file", str(empty)), ("--keep", "nobody0001")):
        refused = cli.run("reap", "--older-than", "0s", *args)
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert "--allow-empty-keep-list" in refused.stderr and "refuses" in refused.stderr
    assert writes(cli) == [] and [f for f in features if cli.has_stack(f)] == [f for f in features if f in oldest[4:]]

    allowed = cli.json("reap", "--older-than", "0s", "--keep-file", str(empty), "--allow-empty-keep-list",
                       "--max-destroy", "1", "--dry-run")
    assert [o["feature"] for o in allowed if o["action"] == "planned"] == [oldest[4]]


def test_orphans_on_both_sides_are_listed_then_cleaned_once(cli: Cli) -> None:
    emulator = cli.emulator
    populate(cli, ["gone0001", "live0001"])
    ghost = emulator.seed_tenant("ghost0001", projects=[PROJECT], environments=[ENVIRONMENT],
                                 description=phoenix_description("ghost0001"))
    emulator.register_machine("ghost-web-1", [ENVIRONMENT], ["web"], tenants=["ghost0001"])
    manual = emulator.seed_tenant("manual", projects=[PROJECT], environments=[ENVIRONMENT],
                                  description="Made by hand for the demo")
    copied = emulator.seed_tenant("copy0001", projects=[PROJECT], environments=[ENVIRONMENT],
                                  description=phoenix_description("live0001"))  # another feature's mark
    gone = next(t for t in emulator.tenants() if t["Name"] == "gone0001")
    with OctopusClient(emulator.url, emulator.api_key) as client:
        client.delete_tenant(gone["Id"])  # by hand, as in the web portal
    before = tenant_names(cli)

    emulator.clear_log()
    planned = cli.json("reap", "--dry-run", "--orphans")
    found = {(o["kind"], o["feature"]): o for o in planned}
    assert {key for key, o in found.items() if o["action"] == "planned"} == {
        ("stack", "gone0001"), ("tenant", "ghost0001"),
    }
    assert gone["Id"] in found["stack", "gone0001"]["reason"] and "deleted in Octopus" in found["stack", "gone0001"]["reason"]
    assert ghost["Id"] in found["tenant", "ghost0001"]["reason"] and "no stack" in found["tenant", "ghost0001"]["reason"]
    assert found["stack", "live0001"]["action"] == "skipped"
    assert writes(cli) == [] and tenant_names(cli) == before

    cleaned = cli.run("reap", "--orphans", "--quiet")
    assert cleaned.returncode == 0, cleaned.stderr[-3000:]
    assert "gone0001: destroyed" in cleaned.stdout and "ghost0001 (orphan tenant): destroyed" in cleaned.stdout
    assert "already deleted outside phoenix: Tenant gone0001-tenant" in cleaned.stderr
    assert tenant_names(cli) == ["copy0001", "live0001", "manual"]
    assert [m["Name"] for m in emulator.machines()] == [], "the orphan's machine went with it"
    assert {t["Id"] for t in emulator.tenants()} >= {manual["Id"], copied["Id"]}
    assert [row["feature"] for row in cli.json("list")] == ["live0001"]

    emulator.clear_log()
    again = cli.json("reap", "--orphans")
    assert [(o["feature"], o["action"]) for o in again] == [("live0001", "skipped")]
    assert writes(cli) == [], "a second run changes nothing"
    soak_check = cli.json("reap", "--dry-run", "--orphans")
    assert [o["action"] for o in soak_check] == ["skipped"]


def test_destroy_after_the_tenant_was_deleted_by_hand_exits_0_and_says_so(cli: Cli) -> None:
    populate(cli, ["hand0001"])
    [tenant] = cli.emulator.tenants()
    with OctopusClient(cli.emulator.url, cli.emulator.api_key) as client:
        client.delete_tenant(tenant["Id"])
    destroyed = cli.run("destroy", "hand0001", "--json")
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    report = json.loads(destroyed.stdout)
    assert report["result"] == "destroyed"
    assert report["message"] == "stack removed; already deleted outside phoenix: Tenant hand0001-tenant"
    assert not cli.has_stack("hand0001") and overrides(cli.emulator) == []


#: `python -m automation` with its one clock (automation/lifetime.py) frozen at argv[1].
FROZEN = (
    "import sys; from datetime import datetime; import automation.lifetime as lifetime; "
    "moment = datetime.fromisoformat(sys.argv[1]); lifetime.utcnow = lambda: moment; "
    "from automation.cli import main; sys.exit(main(sys.argv[2:]))"
)


def at(cli: Cli, moment: datetime, command: str, *args: str) -> subprocess.CompletedProcess:
    """Run a command with the clock frozen at `moment` (the engine's own timestamps stay real)."""
    argv = [sys.executable, "-c", FROZEN, moment.isoformat(), *cli.argv(command, *args)[3:]]
    return subprocess.run(argv, cwd=PROJECT_ROOT, env=cli.env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=240)


def at_json(cli: Cli, moment: datetime, command: str, *args: str):
    result = at(cli, moment, command, *args, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_extend_keep_unkeep_and_list_expiring_with_a_frozen_clock(cli: Cli) -> None:
    populate(cli, ["ttl0001", "ttl0002"])
    made = {row["feature"]: datetime.fromisoformat(row["lastUpdate"]) for row in cli.json("list")}
    # 70h after the later update: ttl0002's default 72h TTL has 2h left, ttl0001's a little more.
    now = (max(made.values()) + timedelta(hours=70)).replace(microsecond=0)

    assert [row["feature"] for row in at_json(cli, now, "list", "--expiring", "3h")] == ["ttl0001", "ttl0002"]
    extended = at_json(cli, now, "extend", "ttl0001", "5d")
    assert datetime.fromisoformat(extended["expires"]) == now + timedelta(days=5)
    rows = {row["feature"]: row for row in at_json(cli, now, "list", "--expiring", "3h")}
    assert list(rows) == ["ttl0002"], "the extension is read back from the backend"
    assert datetime.fromisoformat(rows["ttl0002"]["expires"]) == made["ttl0002"] + timedelta(hours=72)

    too_long = at(cli, now, "extend", "ttl0002", "30d")
    assert too_long.returncode == 2 and "feature.maxTtl 14d" in too_long.stderr

    assert at_json(cli, now, "keep", "ttl0002")["pinned"] is True
    later = now + timedelta(days=6)  # past both the TTL and the extension
    decided = {o["feature"]: o["action"] for o in at_json(cli, later, "reap", "--dry-run")}
    assert decided == {"ttl0001": "planned", "ttl0002": "kept"}
    assert at_json(cli, later, "list", "--expiring", "1h")[0]["feature"] == "ttl0001", "a pinned one never expires"

    assert at_json(cli, now, "unkeep", "ttl0002")["pinned"] is False
    assert {o["feature"]: o["action"] for o in at_json(cli, later, "reap", "--dry-run")} == {
        "ttl0001": "planned", "ttl0002": "planned",
    }
    missing = at(cli, now, "extend", "nope0001", "1d")
    assert missing.returncode == 2 and "has no stack" in missing.stderr


def test_activity_restarts_the_ttl_from_now_for_every_runner(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `wake` calls: stacks.record_activity, with the clock frozen in this process."""
    from automation import lifetime, stacks
    from automation.feature import parse_feature

    populate(cli, ["wake0001"])
    [row] = cli.json("list")
    now = (datetime.fromisoformat(row["lastUpdate"]) + timedelta(hours=71)).replace(microsecond=0)
    monkeypatch.setattr(lifetime, "utcnow", lambda: now)
    session = stacks.Session(stacks.Options(work_dir=cli.work_dir, needs_passphrase=False),
                             environ=cli.env, log=lambda line: None)
    woke = stacks.record_activity(session, parse_feature("wake0001"))
    assert woke.expires == now + timedelta(hours=72) and not woke.pinned
    [row] = cli.json("list")
    assert datetime.fromisoformat(row["expires"]) == now + timedelta(hours=72), "recorded in the backend"
