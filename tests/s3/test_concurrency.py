"""Six runners, twelve features, one bucket: creates, updates, destroys and a reap at once.

Each runner is its own sequence of `python -m automation` processes (its own
work dir and PULUMI_HOME); the six sequences run side by side, and some of
them reach for the same features, so locks are contended and `--wait-lock`
is what lets them through. Afterwards the bucket's stacks, their exported
state and Octopus must agree: nothing pending, lost, orphaned or doubled,
and no lock or heartbeat left.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import pytest

from bench.soak import Reconciliation, census_of_emulator, census_of_state, exported_deployments
from tests.engine.projects.octopus.program import PROJECT_NAME
from tests.engine.test_cli_end_to_end import PROJECT, overrides
from tests.s3_emulator import PREFIX

pytestmark = pytest.mark.engine

FEATURES = [f"f{n:02d}" for n in range(1, 13)]
WAIT = ("--wait-lock", "600", "--quiet")


def run_all(runners, plans: Sequence[Sequence[Sequence[str]]]) -> list[str]:
    """Run each runner's commands in order, the runners side by side; the failures, as text."""
    def one(runner, commands) -> list[str]:
        failures = []
        for command in commands:
            done = runner.run(*command, timeout=900)
            if done.returncode != 0:
                failures.append(f"{runner.name}: {' '.join(command)} exited {done.returncode}: {done.stderr[-1500:]}")
        return failures

    with ThreadPoolExecutor(max_workers=len(runners)) as pool:
        return [f for found in pool.map(one, runners, plans) for f in found]


def test_six_runners_on_twelve_features_leave_state_and_octopus_agreeing(world, tmp_path) -> None:
    octopus, s3 = world.octopus, world.s3
    releases = {}
    for feature in FEATURES:
        releases[feature] = octopus.seed_release(PROJECT, f"1.0.0-{feature}")["Id"]
    updated = FEATURES[4:8]
    for feature in updated:
        releases[feature] = octopus.seed_release(PROJECT, f"1.0.1-{feature}")["Id"]
    runners = [world.runner(f"runner-{n}") for n in range(6)]

    # Each runner creates two features, then creates its neighbour's first one as well:
    # the same feature from two runners at once.
    creates = [
        [("create", f"1.0.0-{FEATURES[2 * n]}", *WAIT), ("create", f"1.0.0-{FEATURES[2 * n + 1]}", *WAIT),
         ("create", f"1.0.0-{FEATURES[(2 * n + 2) % 12]}", *WAIT)]
        for n in range(6)
    ]
    assert run_all(runners, creates) == []
    assert s3.stacks(PROJECT_NAME) == set(FEATURES)

    keep = tmp_path / "live-branches.txt"
    keep.write_text("\n".join(FEATURES[4:]) + "\n")
    destroyed = FEATURES[:4] + FEATURES[8:10]
    churn = [
        [("destroy", "f01", *WAIT), ("destroy", "f02", *WAIT)],
        [("destroy", "f03", *WAIT), ("destroy", "f04", *WAIT)],
        [("create", "1.0.1-f05", *WAIT), ("create", "1.0.1-f06", *WAIT)],
        [("create", "1.0.1-f07", *WAIT), ("create", "1.0.1-f08", *WAIT)],
        # The nightly reap expires f01-f04 too, while runners 0 and 1 destroy them.
        [("reap", "--older-than", "0s", "--keep-file", str(keep), "--parallel", "2", *WAIT)],
        [("destroy", "f09", *WAIT), ("destroy", "f10", *WAIT), ("list", "--json")],
    ]
    assert run_all(runners, churn) == []

    survivors = sorted(set(FEATURES) - set(destroyed))
    assert sorted(s3.stacks(PROJECT_NAME)) == survivors
    assert sorted(t["Name"] for t in octopus.tenants()) == survivors
    tenant_ids = {t["Name"]: t["Id"] for t in octopus.tenants()}
    assert sorted((o["TenantId"], o["ReleaseId"]) for o in overrides(octopus)) == sorted(
        (tenant_ids[f], releases[f]) for f in survivors
    )
    reconciliation = Reconciliation(
        census_of_state(exported_deployments(runners[0].work_dir, runners[0].env)),
        census_of_emulator(octopus),
    )
    assert reconciliation.ok, reconciliation.problems
    assert reconciliation.matched_tenants == reconciliation.matched_overrides == len(survivors)
    assert reconciliation.matched_variables == 3 * len(survivors)  # URL, id and package version
    assert s3.keys(f"{PREFIX}/.pulumi/locks/") == [] and s3.keys(f"{PREFIX}/.phoenix/") == []
