"""What a person sees of the engine's output, and the run log that keeps all of it."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from automation.engine_view import TerminalView
from automation.run_log import RunLog, log_dir, log_name, prune

#: A destroy whose provider raised, as the engine prints it (stdout, non-interactive, no colour).
FAILED_DESTROY = """\
Destroying (ryan0001):
 -  pulumi-python:dynamic/octopus:AutoDeployOverride ryan0001-override deleting (0s)
@ destroying....
 -  pulumi-python:dynamic/octopus:AutoDeployOverride ryan0001-override deleting (0s) error: Traceback (most recent call last):
 -  pulumi-python:dynamic/octopus:AutoDeployOverride ryan0001-override **deleting failed** error: Traceback (most recent call last):
    pulumi:pulumi:Stack phoenix-octopus-ryan0001  error: update failed
    pulumi:pulumi:Stack phoenix-octopus-ryan0001 **failed** 1 error
Diagnostics:
  pulumi-python:dynamic/octopus:AutoDeployOverride (ryan0001-override):
    error: Traceback (most recent call last):
      File "/x/components/octopus/client.py", line 213, in _resolve_space
        return self._get(f"/api/spaces/{space}")["Id"]
    components.octopus.errors.OctopusAuthError: GET /api/spaces/Spaces-1 -> 401: You must be logged in.
    warning: a provider warning worth seeing
  pulumi:pulumi:Stack (phoenix-octopus-ryan0001):
    error: update failed
Resources:
    2 errored
Duration: 1s"""

#: A destroy that succeeded: the engine ends with a hint phoenix has already acted on.
DESTROYED = """\
Destroying (ryan0001):
 -  pulumi-python:dynamic/octopus:Tenant ryan0001-tenant deleted (0.05s)
    pulumi:pulumi:Stack phoenix-octopus-ryan0001
Resources:
    - 3 deleted
Duration: 2s
The resources in the stack have been deleted, but the history and configuration associated with the stack are still maintained.
If you want to remove the stack completely, run `pulumi stack rm ryan0001`."""

STALE_LOCK = """\
error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.
  file:///s/.pulumi/locks/o/p/ryan0001/x.json: created by ci@runner (pid 4242) at 2026-01-01T00:00:00Z"""


def shown(text: str, *, stderr: bool = False) -> list[str]:
    view = TerminalView()
    return [line for line in (view.show(raw, stderr=stderr) for raw in text.splitlines()) if line is not None]


def test_a_failed_step_keeps_its_status_and_loses_every_error_and_traceback() -> None:
    lines = shown(FAILED_DESTROY)
    assert lines == [
        "Destroying (ryan0001):",
        " -  pulumi-python:dynamic/octopus:AutoDeployOverride ryan0001-override deleting (0s)",
        " -  pulumi-python:dynamic/octopus:AutoDeployOverride ryan0001-override **deleting failed**",
        "    pulumi:pulumi:Stack phoenix-octopus-ryan0001 **failed** 1 error",
        "warning: a provider warning worth seeing",
        "Resources:",
        "    2 errored",
        "Duration: 1s",
    ]
    assert not any("error:" in line or "Traceback" in line or "File " in line for line in lines)


def test_hints_for_commands_phoenix_runs_itself_and_rows_without_news_are_dropped() -> None:
    assert shown(DESTROYED) == [
        "Destroying (ryan0001):",
        " -  pulumi-python:dynamic/octopus:Tenant ryan0001-tenant deleted (0.05s)",
        "Resources:",
        "    - 3 deleted",
        "Duration: 2s",
    ]


def test_the_engines_stderr_shows_only_warnings() -> None:
    assert shown(STALE_LOCK, stderr=True) == []
    assert shown("warning: plugin cache is old\nerror: boom", stderr=True) == ["warning: plugin cache is old"]


def test_colour_codes_do_not_hide_an_error_or_a_section() -> None:
    coloured = "\x1b[38;5;13m\x1b[1mDiagnostics:\x1b[0m\n    \x1b[31merror: \x1b[0mboom\nResources:\n    1 errored"
    assert shown(coloured) == ["Resources:", "    1 errored"]
    assert shown(" +  Tenant t creating (0s) \x1b[31merror: \x1b[0mboom") == []


def test_the_run_log_is_made_on_the_first_line_redacted_and_without_colour(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "logs", "a.log", redact=lambda text: text.replace("API-SECRET1", "[secret]"))
    assert log.path is None and not (tmp_path / "logs").exists(), "nothing until the engine writes"
    log.write("\x1b[31merror:\x1b[0m key API-SECRET1 refused")
    log.write("second")
    log.close()
    assert log.path == tmp_path / "logs" / "a.log"
    assert log.path.read_text() == "error: key [secret] refused\nsecond\n"


def test_an_unwritable_log_folder_falls_back_to_a_temp_folder(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    log = RunLog(blocked / "logs", f"fallback-{os.getpid()}.log")
    log.write("line")
    log.close()
    assert log.path is not None and log.path.parent.name.startswith("phoenix-logs-")
    assert log.path.read_text() == "line\n"
    log.path.unlink()


def test_log_names_sort_by_time_and_old_logs_are_pruned(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 30, 7, 42, 16, tzinfo=timezone.utc)
    assert log_name("destroy", "ryan0001", moment, 42) == "20261130T074216Z-destroy-ryan0001-42.log"
    assert log_name("reap", None, moment, 42) == "20261130T074216Z-reap-42.log"
    for second in range(5):
        (tmp_path / log_name("create", "a", moment.replace(second=second), 1)).write_text("")
    removed = prune(tmp_path, keep=2)
    assert [p.name for p in removed] == [log_name("create", "a", moment.replace(second=s), 1) for s in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        log_name("create", "a", moment.replace(second=s), 1) for s in (3, 4)
    ]


def test_the_log_folder_is_the_work_dirs_git_ignored_state_unless_phoenix_log_dir_says(tmp_path: Path) -> None:
    assert log_dir(tmp_path, {}) == tmp_path.resolve() / ".state" / "logs"
    assert log_dir(tmp_path, {"PHOENIX_LOG_DIR": str(tmp_path / "elsewhere")}) == tmp_path / "elsewhere"
