"""The Windows bootstrap and its userdata, checked with a PowerShell grammar (no PowerShell engine runs here)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bootstrap.render import BootstrapSettings, powershell_key, render_userdata, script_source, unpacked_script
from tests.bootstrap import powershell as ps
from tests.bootstrap.samples import HOSTILE_NAME, sample_settings

SETTINGS_VARIABLES = {"$loaded", "$s", "$script:Settings"}
OUTPUT_COMMANDS = {"Write-Log", "Write-Host", "Write-Output", "Write-Verbose", "Write-Warning", "Write-Error",
                   "Add-Content", "Set-Content", "Out-File", "Tee-Object"}


def script_tree():
    return ps.parse(script_source("windows"))


def function_body(name: str) -> str:
    for function in ps.nodes(script_tree(), "function_statement"):
        if ps.text(function.child_by_field_name("name") or ps.nodes(function, "function_name")[0]) == name:
            return ps.text(function)
    raise AssertionError(f"no function {name}")


def userdata_parts(settings: BootstrapSettings) -> tuple[str, str]:
    """The settings file as the userdata's here-string holds it, and the script its packed string unpacks to."""
    userdata = render_userdata(settings, "windows")
    inner = userdata.removeprefix("<powershell>\n").removesuffix("</powershell>\n")
    tree = ps.parse(inner)
    assert ps.syntax_errors(tree) == []
    [here_string] = [ps.text(node) for node in ps.nodes(tree, "verbatim_here_string_characters")]
    [packed] = [ps.verbatim_value(ps.text(node)) for node in ps.nodes(tree, "verbatim_string_characters")
                if re.fullmatch(r"[A-Za-z0-9+/]{100,}={0,2}", ps.verbatim_value(ps.text(node)))]
    return ps.here_string_body(here_string), unpacked_script(packed)


def settings_values(psd1: str) -> dict[str, object]:
    tree = ps.parse(psd1)
    assert ps.syntax_errors(tree) == []
    values: dict[str, object] = {}
    for entry in ps.nodes(tree, "hash_entry"):
        key = ps.text(ps.nodes(entry, "key_expression")[0])
        strings = [ps.verbatim_value(ps.text(n)) for n in ps.nodes(entry, "verbatim_string_characters")]
        if ps.nodes(entry, "array_expression"):
            values[key] = tuple(strings)
        elif strings:
            [values[key]] = strings
        else:
            values[key] = int(ps.text(ps.nodes(entry, "decimal_integer_literal")[0]))
    return values


def test_the_script_parses_without_errors() -> None:
    assert ps.syntax_errors(script_tree()) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [("    $result = 'CONTINUE'\n", "    $result = 'CONTINUE\n"), ("        return\n    }\n", "        return\n")],
    ids=["unterminated-string", "missing-brace"],
)
def test_the_parser_catches_a_broken_script(old: str, new: str) -> None:
    source = script_source("windows")
    assert old in source

    assert ps.syntax_errors(ps.parse(source.replace(old, new, 1))) != []


def test_userdata_embeds_the_script_unchanged() -> None:
    _, script = userdata_parts(sample_settings(tenant=HOSTILE_NAME))

    assert script == script_source("windows").rstrip("\n")


def test_every_setting_reaches_powershell_exactly() -> None:
    chosen = sample_settings(tenant=HOSTILE_NAME, environment="QA \u2019s 'env'", roles=("web", "it's \u201aodd\u201b"),
                             space="Dev $env:PATH", machine_policy="`$(Stop-Computer)`")
    psd1, _ = userdata_parts(chosen)

    values = settings_values(psd1)

    expected = {powershell_key(f.name): getattr(chosen, f.name) for f in dataclasses.fields(BootstrapSettings)}
    assert values == expected


def test_the_script_reads_exactly_the_rendered_settings() -> None:
    tree = script_tree()
    rendered = set(settings_values(userdata_parts(sample_settings())[0]))
    read = {
        ps.text(node.children[-1])
        for node in ps.nodes(tree, "member_access")
        if ps.text(node.children[0]) in SETTINGS_VARIABLES
    }
    required = next(n for n in ps.nodes(tree, "assignment_expression") if ps.text(n).startswith("$RequiredSettings"))

    assert read <= rendered, read - rendered
    assert {ps.verbatim_value(ps.text(n)) for n in ps.nodes(required, "verbatim_string_characters")} == rendered


def test_registration_is_polling_tenanted_and_never_forced() -> None:
    register = function_body("Register-Tentacle")
    configuration = function_body("Set-TentacleConfiguration")

    for expected in ("'register-with'", "'--server', $s.ServerUrl", "'--apiKey', $script:RegistrationKey",
                     "'--space', $s.Space", "'--name', $MachineName", "'--environment', $s.Environment",
                     "@('--role', $role)", "'--tenant', $s.Tenant", "'--tenanted-deployment-participation', 'Tenanted'",
                     "'--policy', $s.MachinePolicy", "'--comms-style', 'TentacleActive'"):
        assert expected in register, expected
    assert "--force" not in register
    assert "'--noListen', 'True'" in configuration
    assert "'--instance', $TentacleInstance, '--console'" in function_body("Invoke-Tentacle")


def test_the_key_is_never_written_or_logged() -> None:
    for command in ps.nodes(script_tree(), "command"):
        name = ps.text(command.children[0])
        if name in OUTPUT_COMMANDS:
            assert "RegistrationKey" not in ps.text(command), ps.text(command)
    assert "$script:RegistrationKey = ''" in function_body("Register-Tentacle")


def test_failures_abandon_through_try_finally() -> None:
    source = script_source("windows")
    top_level_try = [n for n in ps.nodes(script_tree(), "try_statement")
                     if n.start_point[1] == 0 and ps.nodes(n, "finally_clause")]

    assert len(top_level_try) == 1
    body = ps.text(top_level_try[0])
    assert "finally" in body and "Send-LifecycleSignal -Result $result" in body.split("finally", 1)[1]
    assert body.rstrip().split("catch", 1)[0].rstrip().endswith("$result = 'CONTINUE'\n    $exitCode = 0\n}")
    assert source.index("$ErrorActionPreference = 'Stop'") < source.index("function ")
    assert source.index("$result = 'ABANDON'") < source.index(ps.text(top_level_try[0]))
    signal = function_body("Send-LifecycleSignal")
    for parameter in ("-AutoScalingGroupName $s.AsgName", "-LifecycleHookName $s.LifecycleHookName",
                      "-InstanceId $script:InstanceId", "-LifecycleActionResult $Result", "-Region $script:Region"):
        assert parameter in signal


def test_web_calls_use_basic_parsing_and_imds_v2_tokens() -> None:
    commands = [n for n in ps.nodes(script_tree(), "command")
                if ps.text(n.children[0]) in ("Invoke-WebRequest", "Invoke-RestMethod")]
    metadata = function_body("Get-Metadata")

    assert len(commands) >= 4
    assert all("-UseBasicParsing" in ps.text(command) for command in commands)
    assert "-Method Put -Uri \"$Imds/api/token\"" in metadata
    assert "-Headers @{ 'X-aws-ec2-metadata-token' = $token }" in metadata
    assert function_body("Read-Metadata").count("Get-Metadata '") == 2


def test_heartbeats_are_sent_at_each_step_and_while_the_deployment_is_awaited() -> None:
    heartbeat = function_body("Send-Heartbeat")
    wait = function_body("Wait-Health")

    for parameter in ("Write-ASLifecycleActionHeartbeat", "-AutoScalingGroupName $s.AsgName",
                      "-LifecycleHookName $s.LifecycleHookName", "-InstanceId $script:InstanceId",
                      "-Region $script:Region", "$s.HeartbeatIntervalSeconds"):
        assert parameter in heartbeat, parameter
    assert "catch" in heartbeat, "a failed heartbeat must not fail the boot"
    assert "Send-Heartbeat" in function_body("Enter-Step")
    assert wait.index("Send-Heartbeat") < wait.index("Start-Sleep"), "a heartbeat between two health checks"


def test_the_health_wait_uses_the_load_balancers_codes() -> None:
    wait = function_body("Wait-Health")

    assert "\"$($script:Settings.HealthyStatusCodes)\".Split(',') | Where-Object {" in wait and "-ge 200" not in wait
    assert "$bounds = $_.Split('-'); $code -ge $bounds[0] -and $code -le $bounds[-1]" in wait


def test_boot_registers_the_termination_watch_as_a_task_that_outlives_it() -> None:
    register = function_body("Register-TerminationWatch")

    for expected in ("-File \"{0}\" -SettingsPath \"{1}\" -WatchTermination", "$PSCommandPath, $SettingsPath",
                     "-ExecutionTimeLimit ([TimeSpan]::Zero)", "-RestartCount 3", "New-ScheduledTaskTrigger -AtStartup",
                     "-User 'SYSTEM'", "Start-ScheduledTask -TaskName $WatchTask"):
        assert expected in register, expected
    source = script_source("windows")
    assert source.index("Register-TerminationWatch\n    Enter-Step 'health'") > source.index("'service', '--install'")


def test_the_watch_deletes_the_machine_then_continues_the_termination_hook() -> None:
    watch = function_body("Watch-Termination")

    assert "(Get-Metadata 'autoscaling/target-lifecycle-state') -eq 'Terminated'" in watch
    deregister = watch.index("'deregister-from', '--server', $s.ServerUrl, '--apiKey', $script:RegistrationKey, "
                             "'--space', $s.Space")
    complete = watch.index("Complete-ASLifecycleAction")
    assert watch.index("Read-RegistrationKey") < deregister < watch.index("catch", deregister) < complete, \
        "a failed deletion is caught, so the termination always continues"
    for parameter in ("-AutoScalingGroupName $s.AsgName", "-LifecycleHookName $s.TerminationHookName",
                      "-InstanceId $script:InstanceId", "-LifecycleActionResult 'CONTINUE'", "-Region $script:Region"):
        assert parameter in watch[complete:], parameter
    assert "finally { $script:RegistrationKey = '' }" in watch
    assert "Send-LifecycleSignal" not in watch and "Send-Heartbeat" not in watch, "the launch hook is not the watch's"
    source = script_source("windows")
    assert source.index("if ($WatchTermination)") < source.index("$lock = New-Object"), \
        "the watch never takes the boot's lock nor signals the launch hook"
