"""The Octopus checks against the emulator: each passes on a ready server and fails on what breaks a feature."""

from __future__ import annotations

import time

import pytest

from automation import doctor
from tests.doctor.conftest import (
    ENVIRONMENT, FEATURE, POLICY, PROJECT, ROLE, VERSION,
    assert_named, check_named, run_one,
)
from tests.octopus_emulator.fixtures import TEST_API_KEY

OCTOPUS_CHECKS = [spec.name for spec in doctor.CHECKS if spec.name.startswith("octopus.")]


def test_a_ready_octopus_passes_every_check(ready_octopus, make_context) -> None:
    checks = doctor.run_checks(make_context(), only=OCTOPUS_CHECKS)
    statuses = {check.name: check.status for check in checks}
    assert set(statuses.values()) == {"ok"}, checks
    assert "Projects-1" in check_named(checks, "octopus.project").found
    assert "Releases-1" in check_named(checks, "octopus.release").found


def test_api_key_missing_fails_and_octopus_only_sees_the_anonymous_root(ready_octopus, make_context) -> None:
    ready_octopus.clear_log()
    checks = doctor.run_checks(make_context(api_key=None, registration_key=None), only=OCTOPUS_CHECKS)
    api_key = check_named(checks, "octopus.apiKey")
    assert api_key.status == "fail"
    assert_named(api_key.found + api_key.fix, "OCTOPUS_API_KEY")
    assert check_named(checks, "octopus.trigger").found.startswith("not checked")
    # Reachability needs no key; nothing that needs one is asked for.
    assert check_named(checks, "octopus.server").status == "ok"
    assert check_named(checks, "octopus.user").found == "not checked: octopus.apiKey did not pass"
    assert [(r.method, r.path) for r in ready_octopus.request_log] == [("GET", "/api")]


def test_server_reachable(ready_octopus, make_context) -> None:
    check = run_one(make_context(), "octopus.server")
    assert check.status == "ok"
    assert ready_octopus.url in check.found


def test_server_is_checked_without_an_api_key(ready_octopus, make_context) -> None:
    ready_octopus.clear_log()
    checks = doctor.run_checks(make_context(api_key=None), only=["octopus.server"])
    assert [c.name for c in checks] == ["settings", "octopus.server"], "the key is no prerequisite"
    server = check_named(checks, "octopus.server")
    assert server.status == "ok"
    assert_named(server.found, "Octopus Deploy", ready_octopus.url)
    assert [(r.method, r.path, r.status) for r in ready_octopus.request_log] == [("GET", "/api", 200)]


def test_server_answer_does_not_depend_on_the_key(ready_octopus, make_context) -> None:
    # A refused key sent along would make the emulator answer 401 instead of its root document.
    with_wrong_key = run_one(make_context(api_key="API-WRONGKEY0000000000000000001"), "octopus.server")
    without_key = run_one(make_context(api_key=None), "octopus.server")
    assert with_wrong_key == without_key
    assert with_wrong_key.status == "ok" and "answered" not in with_wrong_key.found


def test_server_that_wants_a_key_for_its_root_is_reachable(ready_octopus, make_context) -> None:
    ready_octopus.allow_anonymous_root = False
    check = run_one(make_context(api_key=None), "octopus.server")
    assert (check.status, check.found) == ("ok", f"{ready_octopus.url} answered (its /api needs a key)")


def test_server_without_an_octopus_root_fails(ready_octopus, make_context) -> None:
    ready_octopus.fail_next("GET", r"^/api$", status=404, count=3)
    check = run_one(make_context(api_key=None), "octopus.server")
    assert check.status == "fail"
    assert_named(check.found, "no Octopus API at /api", "404")
    assert_named(check.fix, "octopus:serverUrl")


def test_unreachable_server_fails_fast_and_blocks_the_rest(ready_octopus, make_context) -> None:
    url = ready_octopus.url
    ready_octopus.stop()
    started = time.monotonic()
    checks = doctor.run_checks(make_context(server_url=url), only=OCTOPUS_CHECKS)
    assert time.monotonic() - started < 10
    server = check_named(checks, "octopus.server")
    assert server.status == "fail"
    assert_named(server.found, url, "did not answer")
    assert_named(server.fix, "octopus:serverUrl", "--set")
    for name in ("octopus.user", "octopus.project", "octopus.trigger", "octopus.release"):
        blocked = check_named(checks, name)
        assert (blocked.status, blocked.found.startswith("not checked")) == ("warn", True)
    assert doctor.exit_code(checks) == 2


def test_server_that_keeps_failing_is_a_failure_not_a_traceback(ready_octopus, make_context) -> None:
    ready_octopus.fail_next("GET", r"^/api$", status=503, count=10, html=True)
    check = run_one(make_context(), "octopus.server")
    assert check.status == "fail"


def test_valid_key_names_its_user(ready_octopus, make_context) -> None:
    check = run_one(make_context(), "octopus.user")
    assert (check.status, "'phoenix'" in check.found) == ("ok", True)


def test_refused_key_fails_naming_its_variable_and_never_shows_the_key(ready_octopus, make_context) -> None:
    wrong = "API-WRONGKEY0000000000000000001"
    checks = doctor.run_checks(make_context(api_key=wrong), only=OCTOPUS_CHECKS)
    user = check_named(checks, "octopus.user")
    assert user.status == "fail"
    assert_named(user.found, "OCTOPUS_API_KEY", "401")
    assert check_named(checks, "octopus.project").found.startswith("not checked")
    for rendered in (doctor.render_json(checks), doctor.render_table(checks)):
        assert wrong not in rendered


def test_space_found(ready_octopus, make_context) -> None:
    assert run_one(make_context(), "octopus.space").found == "'Default' is Spaces-1"


def test_missing_space_lists_near_matches(ready_octopus, make_context) -> None:
    ready_octopus.seed_space("Features")
    check = run_one(make_context("octopus:space=Feature"), "octopus.space")
    assert check.status == "fail"
    assert_named(check.found, "'Feature'", "near matches: 'Features'")
    assert_named(check.fix, "octopus:space")


def test_project_found_by_name_in_another_case(ready_octopus, make_context) -> None:
    check = run_one(make_context("phoenix:octopus.project=phoenix web"), "octopus.project")
    assert (check.status, check.found) == ("ok", f"{PROJECT!r} is Projects-1")


def test_missing_project_names_the_setting_its_source_and_near_matches(ready_octopus, make_context) -> None:
    ready_octopus.seed_project("Billing")
    check = run_one(make_context("phoenix:octopus.project=Phoenix Wbe"), "octopus.project")
    assert check.status == "fail"
    assert_named(check.found, "no project named 'Phoenix Wbe'", "near matches: 'Phoenix Web'")
    assert "Billing" not in check.found
    assert_named(check.fix, "phoenix:octopus.project", "--set")


def test_missing_project_from_defaults_names_the_file(ready_octopus, make_context) -> None:
    ctx = make_context()
    sources = dict(ctx.sources)
    sources["phoenix:octopus.project"] = "stacks/defaults.yaml: octopus.project"
    config = dict(ctx.config)
    config["phoenix:octopus"] = {**config["phoenix:octopus"], "project": "Nothing Alike"}
    ctx = doctor.DoctorContext(
        config=config, sources=sources, package_version=VERSION,
        backend_url=ctx.backend_url, work_dir=ctx.work_dir, feature=FEATURE,
    )
    check = run_one(ctx, "octopus.project")
    assert check.status == "fail"
    assert_named(check.found, "it has 'Phoenix Web'")
    assert_named(check.fix, "stacks/defaults.yaml: octopus.project")


def test_disabled_project_fails(octopus_emulator, make_context) -> None:
    octopus_emulator.seed_project(PROJECT, IsDisabled=True)
    check = run_one(make_context(), "octopus.project")
    assert (check.status, "disabled" in check.found) == ("fail", True)


def test_untenanted_project_fails(octopus_emulator, make_context) -> None:
    octopus_emulator.seed_project(PROJECT, tenanted_mode="Untenanted")
    check = run_one(make_context(), "octopus.tenantedMode")
    assert check.status == "fail"
    assert_named(check.found, PROJECT, "Untenanted")
    assert_named(check.fix, "TenantedOrUntenanted")


@pytest.mark.parametrize("mode", ["Tenanted", "TenantedOrUntenanted"])
def test_tenanted_project_passes(octopus_emulator, make_context, mode: str) -> None:
    octopus_emulator.seed_project(PROJECT, tenanted_mode=mode)
    check = run_one(make_context(), "octopus.tenantedMode")
    assert (check.status, mode in check.found) == ("ok", True)


def test_environment_found(ready_octopus, make_context) -> None:
    assert run_one(make_context(), "octopus.environment").status == "ok"


def test_missing_environment_lists_near_matches(ready_octopus, make_context) -> None:
    check = run_one(make_context("phoenix:octopus.environment=Featur"), "octopus.environment")
    assert check.status == "fail"
    assert_named(check.found, "'Featur'", "near matches: 'Feature'")
    assert_named(check.fix, "phoenix:octopus.environment")


def test_machine_policy_that_cleans_up(ready_octopus, make_context) -> None:
    check = run_one(make_context(), "octopus.machinePolicy")
    assert check.status == "ok"
    assert_named(check.found, POLICY, "00:20:00")


def test_missing_machine_policy_fails(octopus_emulator, make_context) -> None:
    check = run_one(make_context(), "octopus.machinePolicy")
    assert check.status == "fail"
    # The space's default policy is a near enough name to suggest.
    assert_named(check.found, f"no machine policy named {POLICY!r}", "Default Machine Policy")


def test_machine_policy_that_keeps_dead_machines_warns(octopus_emulator, make_context) -> None:
    octopus_emulator.seed_machine_policy(POLICY)
    check = run_one(make_context(), "octopus.machinePolicy")
    assert (check.status, "keeps unavailable machines" in check.found) == ("warn", True)


def test_matching_trigger_passes(ready_octopus, make_context) -> None:
    check = run_one(make_context(), "octopus.trigger")
    assert check.status == "ok"
    assert_named(check.found, ENVIRONMENT, ROLE)


def test_no_trigger_fails_naming_project_environment_and_role(octopus_emulator, make_context) -> None:
    octopus_emulator.seed_project(PROJECT)
    octopus_emulator.seed_environment(ENVIRONMENT)
    check = run_one(make_context(), "octopus.trigger")
    assert check.status == "fail"
    assert_named(check.found, repr(PROJECT), repr(ENVIRONMENT), repr(ROLE), "never get a deployment")
    assert_named(check.fix, "Deployment target trigger", repr(ENVIRONMENT), repr(ROLE))


@pytest.mark.parametrize(
    "trigger, reason",
    [
        (dict(environments=[ENVIRONMENT], roles=[ROLE], enabled=False), "is disabled"),
        (dict(environments=[ENVIRONMENT], roles=["api"]), "covers other roles (api)"),
        (dict(environments=["Production"], roles=[ROLE]), "covers other environments"),
        (
            dict(environments=[ENVIRONMENT], roles=[ROLE], event_groups=["MachineUnavailableForDeployment"]),
            "not when a machine becomes available",
        ),
    ],
    ids=["disabled", "other-role", "other-environment", "other-event"],
)
def test_trigger_that_would_not_fire_fails_and_says_why(
    octopus_emulator, make_context, trigger: dict, reason: str
) -> None:
    octopus_emulator.seed_project(PROJECT)
    octopus_emulator.seed_environment(ENVIRONMENT)
    octopus_emulator.seed_environment("Production")
    octopus_emulator.seed_trigger(PROJECT, name="Keep targets up to date", **trigger)
    check = run_one(make_context(), "octopus.trigger")
    assert check.status == "fail"
    assert_named(check.found, "'Keep targets up to date'", reason)


def test_trigger_without_environment_or_role_filter_covers_every_machine(octopus_emulator, make_context) -> None:
    octopus_emulator.seed_project(PROJECT)
    octopus_emulator.seed_environment(ENVIRONMENT)
    octopus_emulator.seed_trigger(PROJECT)
    assert run_one(make_context(), "octopus.trigger").status == "ok"


@pytest.mark.parametrize(
    "trigger",
    [
        dict(environments=[ENVIRONMENT], roles=[ROLE]),
        dict(environments=[ENVIRONMENT], roles=["api"]),
        dict(environments=["Production"], roles=[ROLE]),
        dict(environments=[ENVIRONMENT], roles=[ROLE], enabled=False),
        dict(environments=[ENVIRONMENT], roles=[ROLE], event_groups=["MachineHealthChanged"]),
        dict(),
    ],
)
def test_the_verdict_agrees_with_what_the_server_then_deploys(
    octopus_emulator, make_context, trigger: dict
) -> None:
    emu = octopus_emulator
    emu.seed_project(PROJECT)
    emu.seed_environment(ENVIRONMENT)
    emu.seed_environment("Production")
    emu.seed_release(PROJECT, VERSION)
    emu.seed_trigger(PROJECT, **trigger)
    emu.seed_tenant(FEATURE, [PROJECT], [ENVIRONMENT])
    verdict = run_one(make_context(), "octopus.trigger").status

    emu.deploy(PROJECT, VERSION, ENVIRONMENT, FEATURE)
    emu.auto_deploy = True
    before = len(emu.deployments())
    emu.register_machine(f"{FEATURE}-i-1", environments=[ENVIRONMENT], roles=[ROLE], tenants=[FEATURE])
    deployed = len(emu.deployments()) > before
    assert (verdict == "ok") == deployed


def test_release_of_the_package_version(ready_octopus, make_context) -> None:
    check = run_one(make_context(), "octopus.release")
    assert (check.status, check.found) == ("ok", f"{VERSION} is Releases-1")


def test_missing_release_fails_and_lists_the_feature_releases(octopus_emulator, make_context) -> None:
    octopus_emulator.seed_project(PROJECT)
    octopus_emulator.seed_release(PROJECT, "1.0.0-ryan0001.1")
    check = run_one(make_context(version="1.0.0-ryan0001.2"), "octopus.release")
    assert check.status == "fail"
    assert_named(check.found, "no release '1.0.0-ryan0001.2'", "'1.0.0-ryan0001.1'")
    assert_named(check.fix, "1.0.0-ryan0001.2", PROJECT)


def test_release_derived_from_the_feature_is_its_newest(octopus_emulator, make_context) -> None:
    octopus_emulator.seed_project(PROJECT)
    for version in ("1.0.0-ryan0001.1", "1.0.0-ryan0001.2", "1.0.0-other0002"):
        octopus_emulator.seed_release(PROJECT, version)
    check = run_one(make_context(version=None), "octopus.release")
    assert (check.status, check.found.split()[0]) == ("ok", "1.0.0-ryan0001.2")


def test_feature_without_any_release_fails(octopus_emulator, make_context) -> None:
    octopus_emulator.seed_project(PROJECT)
    octopus_emulator.seed_release(PROJECT, "1.0.0-other0002")
    check = run_one(make_context(version=None), "octopus.release")
    assert check.status == "fail"
    assert_named(check.found, repr(FEATURE), PROJECT)


def test_release_not_checked_without_a_feature(ready_octopus, make_context) -> None:
    check = run_one(make_context(feature=None, version=None), "octopus.release")
    assert (check.status, check.found.startswith("not checked")) == ("ok", True)


@pytest.mark.parametrize(
    ("registration", "said"), [(None, "is not set"), (TEST_API_KEY, "is the deploy key itself")],
    ids=["missing", "the-deploy-key"],
)
def test_no_separate_registration_key_fails_with_the_fix(ready_octopus, make_context, registration, said) -> None:
    ready_octopus.clear_log()
    checks = doctor.run_checks(make_context(registration_key=registration), only=OCTOPUS_CHECKS)
    check = check_named(checks, "octopus.registrationKey")
    assert check.status == "fail"
    assert_named(check.found, "octopus:registrationApiKey", said, "deploy key")
    assert_named(check.fix, "OCTOPUS_REGISTRATION_API_KEY")
    # Every other check still runs: the settings check does not fail for it.
    assert {c.status for c in checks if c.name != "octopus.registrationKey"} == {"ok"}
    assert doctor.exit_code(checks) == 2
    assert all(r.method == "GET" for r in ready_octopus.request_log), "doctor writes nothing"
    assert TEST_API_KEY not in doctor.render_json(checks)


@pytest.mark.parametrize("registration", [None, TEST_API_KEY], ids=["missing", "the-deploy-key"])
def test_the_orgs_opt_in_turns_the_failure_into_a_warning_on_every_run(ready_octopus, make_context, registration) -> None:
    for _ in range(2):
        context = make_context("phoenix:octopus.shareDeployKeyWithInstances=true", registration_key=registration)
        check = run_one(context, "octopus.registrationKey")
        assert check.status == "warn"
        assert_named(check.found, "deploy key", "phoenix:octopus.shareDeployKeyWithInstances", "unsafe")
        assert_named(check.fix, "OCTOPUS_REGISTRATION_API_KEY")


def test_registration_only_key_passes_and_names_its_user(ready_octopus, make_context) -> None:
    check = run_one(make_context(), "octopus.registrationKey")
    assert check.status == "ok"
    assert_named(check.found, "'tentacle-registrar'", "OCTOPUS_REGISTRATION_API_KEY", "only register and delete machines")


def test_a_registration_key_that_cannot_delete_machines_warns_that_stopped_instances_linger(
        ready_octopus, make_context) -> None:
    from tests.octopus_emulator.ready import REGISTRATION_ONLY

    key = "API-REGISTERONLY0000000000001"
    spaces = {k: v for k, v in REGISTRATION_ONLY["SpacePermissions"].items() if k != "MachineDelete"}
    ready_octopus.add_api_key(key, username="register-only", permissions={**REGISTRATION_ONLY, "SpacePermissions": spaces})
    check = run_one(make_context(registration_key=key), "octopus.registrationKey")
    assert check.status == "warn"
    assert_named(check.found, "'register-only'", "lacks MachineDelete", "unavailable")
    assert_named(check.fix, "MachineDelete", "'register-only'")


def test_a_registration_key_with_more_rights_warns_with_their_names(ready_octopus, make_context) -> None:
    key = "API-REGISTERPLUS0000000000001"
    ready_octopus.add_api_key(key, username="too-powerful", permissions={
        "SpacePermissions": {name: [{"SpaceId": "Spaces-1"}] for name in
                             ("MachineCreate", "EnvironmentView", "TenantDelete", "ReleaseCreate")},
        "SystemPermissions": ["SpaceView", "AdministerSystem"],
    })
    check = run_one(make_context(registration_key=key), "octopus.registrationKey")
    assert check.status == "warn"
    assert check.found.endswith("more than machine-registration rights: AdministerSystem, ReleaseCreate, TenantDelete")
    assert_named(check.fix, "'too-powerful'", "MachineCreate")


def test_permissions_the_api_does_not_show_are_not_judged(ready_octopus, make_context, monkeypatch) -> None:
    from components.octopus.client import OctopusClient
    from components.octopus.errors import OctopusAuthError

    def forbidden(self, user):
        raise OctopusAuthError("You do not have permission to perform this action.", method="GET",
                               path="/api/users/x/permissions", status=403)

    monkeypatch.setattr(OctopusClient, "user_permissions", forbidden)
    check = run_one(make_context(), "octopus.registrationKey")
    assert (check.status, check.found.endswith("not readable with it (403): not checked")) == ("ok", True)


def test_the_emulator_shows_a_user_only_its_own_permissions(ready_octopus) -> None:
    """As Octopus: a user reads its own permission set; another user's needs UserView."""
    from components.octopus.client import OctopusClient
    from components.octopus.errors import OctopusAuthError
    from tests.octopus_emulator.fixtures import TEST_REGISTRATION_KEY

    with OctopusClient(ready_octopus.url, TEST_REGISTRATION_KEY, "Default") as registrar:
        own = registrar.current_user()
        permissions = registrar.user_permissions(own)
        assert "MachineCreate" in permissions["SpacePermissions"] and permissions["IsPermissionsComplete"]
    with OctopusClient(ready_octopus.url, TEST_API_KEY, "Default") as deployer:
        with pytest.raises(OctopusAuthError) as caught:
            deployer.user_permissions(own)
        assert caught.value.status == 403


def test_refused_registration_key_fails_and_is_never_shown(ready_octopus, make_context) -> None:
    key = "API-REVOKEDREGISTRATION0000001"
    checks = doctor.run_checks(make_context(registration_key=key), only=["octopus.registrationKey"])
    check = check_named(checks, "octopus.registrationKey")
    assert check.status == "fail"
    assert_named(check.found, "OCTOPUS_REGISTRATION_API_KEY", "could not register")
    assert key not in doctor.render_json(checks)
