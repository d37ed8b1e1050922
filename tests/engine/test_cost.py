"""The estimate through the real CLI and engine: create and preview carry it, list accrues it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.test_cli_end_to_end import ENVIRONMENT, PROJECT, Cli, cli  # noqa: F401 - the fixture

pytestmark = pytest.mark.engine


def test_under_the_budget_create_proceeds_and_list_shows_the_estimate(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    cli.emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    summary = tmp_path / "summary.md"
    # This project declares only the Octopus half: every resource is free, well under any budget.
    created = cli.run("create", "1.0.0-ryan0001", "--json", "--summary", str(summary),
                      "--set", "phoenix:maxCostPerDay=0.01")
    assert created.returncode == 0, created.stderr[-3000:]
    report = json.loads(created.stdout)
    assert report["result"] == "succeeded"
    estimate = report["estimate"]
    assert (estimate["perDay"], estimate["currency"], estimate["region"]) == (0.0, "USD", "eu-west-1")
    assert estimate["prices"]["taken"] and estimate["lines"] == []
    assert "[ryan0001] estimated cost: 0.000 USD/hour" in created.stderr
    assert "**Estimated cost** (eu-west-1, USD, prices of" in summary.read_text()

    [row] = cli.json("list")
    assert row["estimate"] == {"perDay": 0.0, "accumulated": 0.0, "currency": "USD"}
    listed = cli.run("list")
    header, line = listed.stdout.splitlines()
    assert header.endswith("USD/DAY  USD SO FAR") and line.split()[-2:] == ["0.000", "0.000"]

    previewed = cli.json("preview", "ryan0001", "--version", "1.0.0-ryan0001")
    assert previewed["estimate"]["perDay"] == 0.0


def test_sleep_and_wake_are_ordinary_updates_recorded_in_the_stack_config(cli: Cli) -> None:  # noqa: F811
    emulator = cli.emulator
    emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    absent = cli.run("sleep", "ryan0001")
    assert absent.returncode == 2 and "has no stack: create it first" in absent.stderr
    assert cli.run("create", "1.0.0-ryan0001", "--quiet").returncode == 0
    # What the Tentacles of two instances leave in Octopus, and one machine another tenant shares.
    emulator.seed_tenant("other", projects={PROJECT: [ENVIRONMENT]})
    for name, tenants in (("ryan0001-i-1", ["ryan0001"]), ("ryan0001-i-2", ["ryan0001"]),
                          ("shared-1", ["ryan0001", "other"])):
        emulator.register_machine(name, environments=[ENVIRONMENT], roles=["web"], tenants=tenants)
    emulator.seed_release(PROJECT, "1.0.1-ryan0001")  # a newer release must not be picked up by wake

    asleep = cli.json("sleep", "ryan0001")
    assert (asleep["command"], asleep["result"], asleep["packageVersion"]) == ("sleep", "succeeded", "1.0.0-ryan0001")
    assert sorted(m["Name"] for m in emulator.machines()) == ["shared-1"], "the feature's own machines went"
    assert [t["Name"] for t in emulator.tenants() if t["Name"] == "ryan0001"], "the tenant stays"
    [row] = [r for r in cli.json("list") if r["feature"] == "ryan0001"]
    assert row["status"] == "asleep"
    assert "phoenix:asleep: \"true\"" in (cli.work_dir / "Pulumi.ryan0001.yaml").read_text()

    again = cli.json("sleep", "ryan0001")
    assert set(again["changes"]) == {"same"}, "a second sleep changes nothing"
    unchanged = cli.run("preview", "ryan0001", "--version", "1.0.0-ryan0001", "--expect-no-changes")
    assert unchanged.returncode == 0, unchanged.stderr[-3000:]

    awake = cli.json("wake", "ryan0001")
    assert (awake["command"], awake["result"], awake["packageVersion"]) == ("wake", "succeeded", "1.0.0-ryan0001")
    [row] = [r for r in cli.json("list") if r["feature"] == "ryan0001"]
    assert row["status"] == "live"
    assert "phoenix:asleep" not in (cli.work_dir / "Pulumi.ryan0001.yaml").read_text()
    assert set(cli.json("wake", "ryan0001")["changes"]) == {"same"}
    unchanged = cli.run("preview", "ryan0001", "--version", "1.0.0-ryan0001", "--expect-no-changes")
    assert unchanged.returncode == 0, unchanged.stderr[-3000:]
