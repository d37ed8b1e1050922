"""A machine policy that deletes deployment targets unavailable for too long.

Destroying a feature deregisters its machines (see tenant.py); an instance that
died without a clean destroy stays registered, unavailable. Octopus removes such
machines during health checks when their policy says DeleteUnavailableMachines.

The requirement on the policy the Tentacles register with (the one named by
`phoenix:octopus.machinePolicy`): `MachineCleanupPolicy.DeleteMachinesBehavior`
is `DeleteUnavailableMachines`, with an elapsed time no longer than a feature
may wait for. Either create it with `MachinePolicy` (one stack owns it: it is
shared by every feature, so feature stacks must not), or check an existing one
with `cleanup_problems`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.octopus.inputs import InputCheck, diff_inputs
from components.octopus.provider import OctopusProvider
from components.octopus.timespan import format_timespan, parse_timespan

INPUTS = ("policy_name", "description", "delete_unavailable_after_minutes", "space")
REPLACING = ("space",)
DELETE_BEHAVIOR = "DeleteUnavailableMachines"
DEFAULT_MINUTES = 20
#: A year: anything longer is a typo, not a cleanup policy.
MAX_MINUTES = 365 * 24 * 60


class MachinePolicyNameTaken(ValueError):
    """A policy with the wanted name exists; it is not taken over silently."""


def cleanup_problems(policy: dict, *, max_minutes: Optional[int] = None) -> list[str]:
    """Why `policy` would leave dead feature machines behind; empty when it will not."""
    cleanup = policy.get("MachineCleanupPolicy") or {}
    name = policy.get("Name", policy.get("Id", "the machine policy"))
    if cleanup.get("DeleteMachinesBehavior") != DELETE_BEHAVIOR:
        return [
            f"machine policy {name!r} does not delete unavailable machines"
            f" (MachineCleanupPolicy.DeleteMachinesBehavior is"
            f" {cleanup.get('DeleteMachinesBehavior')!r}, needs {DELETE_BEHAVIOR!r})"
        ]
    minutes = elapsed_minutes(cleanup.get("DeleteMachinesElapsedTimeSpan"))
    if minutes is None:
        return [f"machine policy {name!r} has no readable DeleteMachinesElapsedTimeSpan"]
    if max_minutes is not None and minutes > max_minutes:
        return [
            f"machine policy {name!r} deletes unavailable machines only after {minutes} minutes;"
            f" at most {max_minutes} are wanted"
        ]
    return []


def elapsed_minutes(text: Any) -> Optional[int]:
    try:
        return int(parse_timespan(text).total_seconds() // 60)
    except ValueError:
        return None


class MachinePolicyProvider(OctopusProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        check = InputCheck(news, INPUTS)
        check.name("policy_name", created=True)
        check.text("description")
        check.integer(
            "delete_unavailable_after_minutes", default=DEFAULT_MINUTES, minimum=1, maximum=MAX_MINUTES
        )
        check.space("space", self.default_space())
        return check.result()

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_inputs(olds, news, compared=INPUTS, replacing=REPLACING)

    def create(self, props: dict[str, Any]) -> CreateResult:
        from components.octopus.errors import OctopusNotFound

        name = props["policy_name"]
        with self.client(props["space"]) as client:
            try:
                existing = client.find_machine_policy(name)
            except OctopusNotFound:
                existing = None
            if existing is not None:
                raise MachinePolicyNameTaken(
                    f"an Octopus machine policy named {name!r} already exists"
                    f" ({existing['Id']}) in space {props['space']!r}; pick another name,"
                    " or check that one with cleanup_problems() instead of creating it"
                )
            policy = client.create_machine_policy(_desired(client.machine_policy_template(), props))
            outs = _outputs(props, policy, client.space_id)
        return CreateResult(policy["Id"], outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.octopus.errors import OctopusNotFound

        try:
            with self.client(self.recorded_space(props)) as client:
                policy = client.get_machine_policy(id_)
                space_id = client.space_id
        except OctopusNotFound:
            return ReadResult("", {})
        cleanup = policy.get("MachineCleanupPolicy") or {}
        live = {key: props.get(key) for key in INPUTS}
        live.update(
            policy_name=policy.get("Name"),
            description=policy.get("Description") or "",
            # A policy switched to DoNotDelete reads as 0 minutes: drift the next `up` repairs.
            delete_unavailable_after_minutes=(
                elapsed_minutes(cleanup.get("DeleteMachinesElapsedTimeSpan"))
                if cleanup.get("DeleteMachinesBehavior") == DELETE_BEHAVIOR
                else 0
            ),
        )
        return ReadResult(id_, _outputs(live, policy, space_id), inputs=live)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with self.client(self.recorded_space(olds)) as client:
            current = client.get_machine_policy(id_)
            policy = client.modify_machine_policy(_desired(current, news))
            return UpdateResult(_outputs(news, policy, client.space_id))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from components.octopus.errors import OctopusNotFound

        try:
            with self.client(self.recorded_space(props)) as client:
                client.delete_machine_policy(id_)
        except OctopusNotFound:
            pass


def _desired(base: dict, props: dict[str, Any]) -> dict:
    body = dict(base)
    body["Name"] = props["policy_name"]
    body["Description"] = props.get("description") or ""
    cleanup = dict(body.get("MachineCleanupPolicy") or {})
    cleanup["DeleteMachinesBehavior"] = DELETE_BEHAVIOR
    cleanup["DeleteMachinesElapsedTimeSpan"] = format_timespan(
        timedelta(minutes=props["delete_unavailable_after_minutes"])
    )
    body["MachineCleanupPolicy"] = cleanup
    return body


def _outputs(props: dict[str, Any], policy: dict, space_id: str) -> dict[str, Any]:
    outs = {key: props.get(key) for key in INPUTS}
    outs.update(policy_id=policy["Id"], space_id=space_id)
    return outs


class MachinePolicy(Resource, module="octopus", name="MachinePolicy"):
    """A machine policy whose cleanup deletes machines unavailable for the given time."""

    policy_id: pulumi.Output[str]
    policy_name: pulumi.Output[str]
    space_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        policy_name: pulumi.Input[str],
        delete_unavailable_after_minutes: pulumi.Input[int] = DEFAULT_MINUTES,
        description: pulumi.Input[str] = "",
        space: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {
            "policy_name": policy_name,
            "description": description,
            "delete_unavailable_after_minutes": delete_unavailable_after_minutes,
            "space": space,
            "policy_id": None,
            "space_id": None,
        }
        super().__init__(MachinePolicyProvider(), resource_name, props, opts)
