"""MachinePolicyProvider against the emulated Octopus, and the requirement check on a policy."""

from __future__ import annotations

import pytest

from components.octopus.machine_policy import (
    MachinePolicyNameTaken,
    MachinePolicyProvider,
    cleanup_problems,
)
from tests.providers.conftest import World

NAME = "Feature environments"


def created(world: World, **changes):
    provider = world.make(MachinePolicyProvider)
    result = provider.check({}, {"policy_name": NAME, **changes})
    assert result.failures == []
    made = provider.create(result.inputs)
    return provider, result.inputs, made.id, made.outs


def policy(world: World, policy_id: str) -> dict:
    with world.make(MachinePolicyProvider).client() as client:
        return client.get_machine_policy(policy_id)


def test_create_makes_a_policy_that_deletes_unavailable_machines(world: World) -> None:
    _, inputs, policy_id, outs = created(world, delete_unavailable_after_minutes=30)
    live = policy(world, policy_id)
    assert live["Name"] == NAME
    assert live["MachineCleanupPolicy"]["DeleteMachinesBehavior"] == "DeleteUnavailableMachines"
    assert live["MachineCleanupPolicy"]["DeleteMachinesElapsedTimeSpan"] == "00:30:00"
    assert live["IsDefault"] is False
    assert cleanup_problems(live, max_minutes=30) == []
    assert outs["policy_id"] == policy_id and inputs["delete_unavailable_after_minutes"] == 30


def test_the_default_wait_is_twenty_minutes_and_days_use_the_day_form(world: World) -> None:
    _, inputs, policy_id, _ = created(world)
    assert inputs["delete_unavailable_after_minutes"] == 20
    provider, _, other_id, _ = created(world, policy_name="Long lived", delete_unavailable_after_minutes=2 * 24 * 60)
    assert policy(world, other_id)["MachineCleanupPolicy"]["DeleteMachinesElapsedTimeSpan"] == "2.00:00:00"


def test_check_rejects_bad_fields_each_once(world: World) -> None:
    result = world.make(MachinePolicyProvider).check(
        {}, {"policy_name": "", "delete_unavailable_after_minutes": 0, "description": 7}
    )
    assert sorted(f.property for f in result.failures) == [
        "delete_unavailable_after_minutes", "description", "policy_name",
    ]


def test_an_existing_policy_of_that_name_is_not_taken_over(world: World) -> None:
    world.emulator.seed_machine_policy(NAME)
    provider = world.make(MachinePolicyProvider)
    inputs = provider.check({}, {"policy_name": NAME}).inputs
    with pytest.raises(MachinePolicyNameTaken, match=NAME):
        provider.create(inputs)


def test_read_reports_cleanup_switched_off_as_drift_and_update_repairs_it(world: World) -> None:
    provider, inputs, policy_id, outs = created(world)
    assert provider.read(policy_id, outs).outs == outs
    with provider.client() as client:
        live = client.get_machine_policy(policy_id)
        live["MachineCleanupPolicy"]["DeleteMachinesBehavior"] = "DoNotDelete"
        client.modify_machine_policy(live)
    read = provider.read(policy_id, outs)
    assert read.inputs["delete_unavailable_after_minutes"] == 0
    assert provider.diff(policy_id, read.outs, inputs).changes is True
    provider.update(policy_id, read.outs, inputs)
    assert cleanup_problems(policy(world, policy_id)) == []


def test_delete_removes_it_and_read_then_reports_it_gone(world: World) -> None:
    provider, _, policy_id, outs = created(world)
    provider.delete(policy_id, outs)
    assert provider.read(policy_id, outs).id == ""
    provider.delete(policy_id, outs)


def test_cleanup_problems_explain_a_policy_that_keeps_dead_machines() -> None:
    keeps = {"Name": "Default Machine Policy", "MachineCleanupPolicy": {"DeleteMachinesBehavior": "DoNotDelete"}}
    [problem] = cleanup_problems(keeps)
    assert "Default Machine Policy" in problem and "DeleteUnavailableMachines" in problem
    slow = {
        "Name": "Slow",
        "MachineCleanupPolicy": {
            "DeleteMachinesBehavior": "DeleteUnavailableMachines",
            "DeleteMachinesElapsedTimeSpan": "48:00:00",
        },
    }
    assert cleanup_problems(slow, max_minutes=60) and "2880" in cleanup_problems(slow, max_minutes=60)[0]
    assert cleanup_problems(slow, max_minutes=3000) == []
