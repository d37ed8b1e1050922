"""`OctopusEmulator`: start a local Octopus Server stand-in, seed it, steer it, inspect it.

Seeding goes straight to the state (not through HTTP), so the request log
holds only what the code under test sent; it still passes the same
validation an API call would.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from components.octopus.timespan import format_timespan
from tests.octopus_emulator.faults import Fault, FaultPlan, Hook, LoggedRequest, RequestLog
from tests.octopus_emulator.server import Router, serve
from tests.octopus_emulator.state import OctopusState
from tests.octopus_emulator.variables import PROJECT_VARIABLES_TOGGLE

ProjectLinks = Union[Mapping[str, Sequence[str]], Sequence[str]]


class OctopusEmulator:
    """A real HTTP server on 127.0.0.1 that answers like Octopus Server.

    `auto_deploy` makes a machine that becomes available run the project
    triggers that match it (off by default: tests that do not expect
    deployments get none). `allow_anonymous_root` lets `GET /api` through
    without a key, as many servers do. `project_variables` serves the
    per-project tenant variable API of 2025.2 (on by default); off, the server
    is one before it (see `feature_toggles`).
    """

    def __init__(
        self,
        api_key: str = "API-TEST",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        space: str = "Default",
        auto_deploy: bool = False,
        allow_anonymous_root: bool = True,
        project_variables: bool = True,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.state = OctopusState()
        self.state.auto_deploy = auto_deploy
        self.state.add_api_key(api_key, username="phoenix")
        self.default_space = self.state.add_space(space, is_default=True)
        self.allow_anonymous_root = allow_anonymous_root
        #: What `GET /api/configuration/feature-toggles` lists; None: a server too old to have it (404).
        self.feature_toggles: Optional[dict[str, bool]] = {PROJECT_VARIABLES_TOGGLE: project_variables}
        #: Seconds every request waits before it is handled (outside the state lock).
        self.latency = 0.0
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.router = Router(self)
        self._server = None
        self._thread = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> "OctopusEmulator":
        if self._server is None:
            self._server, self._thread = serve(self, self.host, self.port)
            self.port = self._server.server_address[1]
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_all()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> "OctopusEmulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        where = self.url if self._server else "stopped"
        return f"OctopusEmulator({where})"

    # -- behaviour switches ----------------------------------------------------

    @property
    def auto_deploy(self) -> bool:
        return self.state.auto_deploy

    @auto_deploy.setter
    def auto_deploy(self, value: bool) -> None:
        self.state.auto_deploy = value

    @property
    def deployment_outcome(self) -> str:
        """The State every auto-deployment's task ends in ("Success", "Failed", ...)."""
        return self.state.deployment_outcome

    @deployment_outcome.setter
    def deployment_outcome(self, value: str) -> None:
        self.state.deployment_outcome = value

    @property
    def project_variables(self) -> bool:
        """Whether the per-project tenant variable endpoints are served (their toggle is on)."""
        return bool((self.feature_toggles or {}).get(PROJECT_VARIABLES_TOGGLE))

    @project_variables.setter
    def project_variables(self, value: bool) -> None:
        self.feature_toggles = {**(self.feature_toggles or {}), PROJECT_VARIABLES_TOGGLE: value}

    def add_api_key(
        self, key: str, *, read_only: bool = False, username: str = "reader",
        permissions: Optional[dict] = None,
    ) -> dict:
        """Another key; a read-only one gets 403 on every write, as a key without permission.

        `permissions` is what `GET /api/users/{id}/permissions` answers for its user:
        {"SpacePermissions": {"MachineCreate": [{"SpaceId": ...}]}, "SystemPermissions": [...]}.
        """
        return self.state.add_api_key(key, username=username, read_only=read_only, permissions=permissions)

    def revoke_api_key(self, key: str) -> None:
        """From now on the key is refused with 401, as after revoking it on the user's API keys page."""
        self.state.revoke_api_key(key)

    # -- seeding ----------------------------------------------------------------

    def _space(self, space: Optional[str]) -> str:
        return self.state.space_by_name(space)

    def seed_space(self, name: str, *, description: str = "") -> dict:
        return self.state.add_space(name, description=description)

    def seed_environment(self, name: str, *, space: Optional[str] = None, **fields: Any) -> dict:
        return self.state.create(self._space(space), "environments", {"Name": name, **fields})

    def seed_project(
        self,
        name: str,
        tenanted_mode: str = "TenantedOrUntenanted",
        *,
        space: Optional[str] = None,
        **fields: Any,
    ) -> dict:
        body = {"Name": name, "TenantedDeploymentMode": tenanted_mode, **fields}
        return self.state.create(self._space(space), "projects", body)

    def seed_project_template(
        self,
        project: str,
        name: str,
        *,
        sensitive: bool = False,
        default: Any = None,
        label: str = "",
        space: Optional[str] = None,
    ) -> dict:
        """A project variable template, as added in Project > Variables > Project Templates."""
        space_id = self._space(space)
        current = self.state.resolve(space_id, "projects", project)
        template = {
            "Name": name, "Label": label or name, "HelpText": None, "DefaultValue": default,
            "DisplaySettings": {"Octopus.ControlType": "Sensitive" if sensitive else "SingleLineText"},
        }
        current["Templates"] = [*current.get("Templates", []), template]
        updated = self.state.modify(space_id, "projects", current["Id"], current)
        return next(t for t in updated["Templates"] if t["Name"] == name)

    def seed_release(
        self, project: str, version: str, *, space: Optional[str] = None, **fields: Any
    ) -> dict:
        space_id = self._space(space)
        project_id = self.state.resolve(space_id, "projects", project)["Id"]
        body = {"ProjectId": project_id, "Version": version, **fields}
        return self.state.create(space_id, "releases", body)

    def seed_machine_policy(
        self,
        name: str,
        *,
        delete_unavailable_after: Optional[timedelta] = None,
        space: Optional[str] = None,
        **fields: Any,
    ) -> dict:
        body: dict[str, Any] = {"Name": name, **fields}
        if delete_unavailable_after is not None:
            body["MachineCleanupPolicy"] = {
                "DeleteMachinesBehavior": "DeleteUnavailableMachines",
                "DeleteMachinesElapsedTimeSpan": format_timespan(delete_unavailable_after),
            }
        return self.state.create(self._space(space), "machinepolicies", body)

    def seed_trigger(
        self,
        project: str,
        environments: Sequence[str] = (),
        roles: Sequence[str] = (),
        enabled: bool = True,
        *,
        name: Optional[str] = None,
        event_groups: Sequence[str] = ("MachineAvailableForDeployment",),
        redeploy: bool = False,
        space: Optional[str] = None,
    ) -> dict:
        """A deployment-target trigger (MachineFilter + AutoDeploy), as the docs recommend."""
        space_id = self._space(space)
        project_id = self.state.resolve(space_id, "projects", project)["Id"]
        body = {
            "Name": name or "Auto deploy to new deployment targets",
            "ProjectId": project_id,
            "IsDisabled": not enabled,
            "Filter": {
                "FilterType": "MachineFilter",
                "EnvironmentIds": [
                    self.state.resolve(space_id, "environments", e)["Id"] for e in environments
                ],
                "Roles": list(roles),
                "EventGroups": list(event_groups),
                "EventCategories": [],
            },
            "Action": {
                "ActionType": "AutoDeploy",
                "ShouldRedeployWhenMachineHasBeenDeployedTo": redeploy,
            },
        }
        return self.state.create(space_id, "projecttriggers", body)

    def seed_tenant(
        self,
        name: str,
        projects: ProjectLinks = (),
        environments: Sequence[str] = (),
        *,
        tags: Sequence[str] = (),
        description: str = "",
        space: Optional[str] = None,
    ) -> dict:
        """A tenant connected by names: `projects` maps project → environments, or
        lists projects that all connect to `environments`."""
        space_id = self._space(space)
        links = projects if isinstance(projects, Mapping) else {p: environments for p in projects}
        body = {
            "Name": name,
            "Description": description,
            "TenantTags": list(tags),
            "ProjectEnvironments": {
                self.state.resolve(space_id, "projects", project)["Id"]: [
                    self.state.resolve(space_id, "environments", e)["Id"] for e in envs
                ]
                for project, envs in links.items()
            },
        }
        return self.state.create(space_id, "tenants", body)

    # -- what happens on the server's side --------------------------------------

    def register_machine(
        self,
        name: str,
        environments: Sequence[str],
        roles: Sequence[str],
        tenants: Sequence[str] = (),
        machine_policy: Optional[str] = None,
        *,
        participation: Optional[str] = None,
        comms_style: str = "TentacleActive",
        health: str = "Healthy",
        force: bool = False,
        space: Optional[str] = None,
    ) -> dict:
        """A machine as `Tentacle register-with` leaves it (names resolved, then health-checked).

        Unknown names raise LookupError with the registration tool's wording.
        """
        return self.state.register_machine(
            self._space(space), name, environments=environments, roles=roles, tenants=tenants,
            machine_policy=machine_policy, participation=participation, comms_style=comms_style,
            health=health, force=force,
        )

    def set_machine_health(self, machine: str, status: str, *, space: Optional[str] = None) -> dict:
        space_id = self._space(space)
        current = self.state.resolve(space_id, "machines", machine)
        return self.state.modify(space_id, "machines", current["Id"], {"HealthStatus": status, **{
            field: current[field] for field in ("EnvironmentIds", "Roles", "TenantIds", "TenantTags")
        }})

    def run_health_checks(self, now: Optional[datetime] = None) -> list[str]:
        """Apply cleanup policies to machines unavailable since before `now`; names deleted."""
        return self.state.run_health_checks(now)

    def deploy(
        self,
        project: str,
        version: str,
        environment: str,
        tenant: Optional[str] = None,
        *,
        outcome: str = "Success",
        space: Optional[str] = None,
    ) -> dict:
        """A finished deployment, as if someone deployed by hand."""
        space_id = self._space(space)
        project_doc = self.state.resolve(space_id, "projects", project)
        release = next(
            r for r in self.state.query(space_id, "releases", {}, where={"ProjectId": project_doc["Id"]})
            if r["Version"] == version
        )
        environment_id = self.state.resolve(space_id, "environments", environment)["Id"]
        tenant_id = self.state.resolve(space_id, "tenants", tenant)["Id"] if tenant else None
        return self.state.deploy(
            space_id, project_doc["Id"], release["Id"], environment_id, tenant_id, outcome=outcome
        )

    # -- faults ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 503,
        count: int = 1,
        drop: bool = False,
        retry_after: Optional[float] = None,
        *,
        processed: bool = False,
        html: bool = False,
        errors: Sequence[str] = (),
    ) -> None:
        """The next `count` requests matching fail; see `Fault` for the forms."""
        self.faults.add(
            Fault(
                method=method.upper(), pattern=re.compile(path_regex), status=status,
                remaining=count, drop=drop, retry_after=retry_after, processed=processed,
                html=html, errors=tuple(errors),
            )
        )

    def after_next(
        self, method: str, path_regex: str, action: Callable[[], Any], count: int = 1
    ) -> None:
        """Run `action` right after the next matching request(s) are handled, before the
        answer goes out: how a test puts another writer between two calls."""
        self.faults.add_hook(
            Hook(method=method.upper(), pattern=re.compile(path_regex), action=action, remaining=count)
        )

    # -- inspection ----------------------------------------------------------------

    @property
    def request_log(self) -> list[LoggedRequest]:
        return self.log.records()

    def clear_log(self) -> None:
        self.log.clear()

    def count(self, method: str = "*", path_regex: str = "") -> int:
        """How many logged requests match `method` and `path_regex`."""
        return self.log.count(method.upper() if method != "*" else method, path_regex)

    def _all(self, kind: str, space: Optional[str]) -> list[dict]:
        return self.state.query(self._space(space), kind, {})

    def tenants(self, space: Optional[str] = None) -> list[dict]:
        return self._all("tenants", space)

    def projects(self, space: Optional[str] = None) -> list[dict]:
        return self._all("projects", space)

    def project(self, name: str, space: Optional[str] = None) -> dict:
        return self.state.resolve(self._space(space), "projects", name)

    def machines(self, space: Optional[str] = None) -> list[dict]:
        return self._all("machines", space)

    def machine_policies(self, space: Optional[str] = None) -> list[dict]:
        return self._all("machinepolicies", space)

    def deployments(self, space: Optional[str] = None) -> list[dict]:
        return self._all("deployments", space)

    def tenant_values(self, tenant: str, space: Optional[str] = None) -> list[dict]:
        """The server's side of a tenant's variables, sensitive values in clear (names, not ids)."""
        space_id = self._space(space)
        return self.state.stored_tenant_values(space_id, self.state.resolve(space_id, "tenants", tenant)["Id"])

    def task(self, task_id: str) -> dict:
        return self.state.find_task(task_id)
