"""Preflight checks: are Pulumi, AWS and Octopus ready for a feature environment?

A feature whose Octopus project is not set up for it only fails fifteen
minutes later, when its first instance times out and the group rolls back.
These checks find the same problems in seconds, before a stack is touched,
and name the setting to change and the file or variable it came from.

`report` holds a check's result and its renderings; `probe` what the checks
read and share; `settings_check`, `pulumi_checks` (with `plugins`),
`aws_checks` and `octopus_checks` the checks; `runner` their order and the
preflight; `command` the contexts of `doctor`, `create` and `preview`.
boto3, the Octopus client (requests) and the engine are imported inside the
checks that use them: `python -m automation --help` stays fast.
"""

from automation.doctor.aws_checks import known_regions
from automation.doctor.command import context_for_doctor, context_for_stack, run_cli
from automation.doctor.octopus_checks import judge_triggers
from automation.doctor.probe import DoctorContext, near_matches
from automation.doctor.pulumi_checks import judge_cli_version, judge_plugins, sdk_version
from automation.doctor.report import (
    FAIL, JSON_SCHEMA, OK, STATUSES, WARN, Check, exit_code, render_failures, render_json,
    render_table, summary_line,
)
from automation.doctor.runner import CHECKS, SCOPES, PreflightFailed, preflight, run_checks

__all__ = [
    "CHECKS", "FAIL", "JSON_SCHEMA", "OK", "SCOPES", "STATUSES", "WARN",
    "Check", "DoctorContext", "PreflightFailed",
    "context_for_doctor", "context_for_stack", "exit_code", "judge_cli_version", "judge_plugins",
    "judge_triggers", "known_regions", "near_matches", "preflight", "render_failures", "render_json",
    "render_table", "run_checks", "run_cli", "sdk_version", "summary_line",
]
