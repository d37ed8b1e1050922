"""Exit codes and the one place that turns an exception into a message and a code.

CI scripts branch on these codes, so each failure family has its own and a
traceback is never the answer. The Automation API classes are matched by name
so that `--help` and input errors never import `pulumi.automation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Optional


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    CHANGES = 3
    LOCKED = 4
    INTERRUPTED = 130


EXIT_CODES_HELP = """exit codes:
  0    success
  1    the operation failed (engine or cloud error; the engine's own message is shown)
  2    bad input or config (nothing was touched)
  3    preview --expect-no-changes found changes
  4    the stack is locked by another update (--wait-lock SECONDS retries)
  130  interrupted (SIGINT/SIGTERM); the running update was cancelled cleanly"""


class PhoenixError(Exception):
    """An error the command line reports as a message and an exit code."""

    code = ExitCode.FAILED


class InputError(PhoenixError):
    """Bad arguments, config or environment, found before anything was touched."""

    code = ExitCode.BAD_INPUT


class ChangesFound(PhoenixError):
    """`preview --expect-no-changes` saw changes."""

    code = ExitCode.CHANGES


class StackLocked(PhoenixError):
    """Another update holds the stack's lock."""

    code = ExitCode.LOCKED

    def __init__(self, stack: str, detail: str = "") -> None:
        self.stack = stack
        self.detail = detail
        message = f"stack {stack!r} is locked by another update"
        if detail:
            message += f" ({detail})"
        super().__init__(message + "; retry later or pass --wait-lock SECONDS")


class OperationFailed(PhoenixError):
    """The engine or the cloud said no; the message is the engine's own."""

    code = ExitCode.FAILED


class Interrupted(PhoenixError):
    """A signal cancelled the running operation."""

    code = ExitCode.INTERRUPTED


@dataclass(frozen=True)
class Failure:
    code: ExitCode
    message: str


_ERROR_LINE = re.compile(r"^\s*error:\s*(?P<text>.+)$", re.IGNORECASE)
_NOISE = (
    "Resources:",
    "Duration:",
    "Updating (",
    "Previewing update (",
    "Destroying (",
    "Refreshing (",
    "View in Browser",
    "View Live:",
)


def engine_message(stdout: str, stderr: str, limit: int = 40) -> str:
    """The engine's own explanation of a failure, without its progress noise.

    Prefer the `error:` lines (what `pulumi` itself prints last); a Python
    traceback there (a dynamic provider's exception) is reduced to its last
    line. Fall back to the tail of stderr, then stdout.
    """
    lines = [line.rstrip() for line in (stderr or "").splitlines() + (stdout or "").splitlines()]
    errors: list[str] = []
    for index, line in enumerate(lines):
        match = _ERROR_LINE.match(line)
        if not match:
            continue
        text = match.group("text").strip()
        if text.startswith(_TRACEBACK):
            indent = len(line) - len(line.lstrip())
            text = _exception_line(lines[index + 1:], indent) or text
        if text not in errors:
            errors.append(text)
    if errors:
        return "\n".join(errors[-limit:])
    for text in (stderr, stdout):
        tail = [
            line for line in (text or "").splitlines()
            if line.strip() and not line.strip().startswith(_NOISE)
        ]
        if tail:
            return "\n".join(tail[-limit:])
    return "the Pulumi CLI failed without a message"


_TRACEBACK = "Traceback (most recent call last)"
_MODULE_PATH = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Z]\w*: )")


def _exception_line(following: list[str], indent: int) -> Optional[str]:
    """The `Type: message` line that ends a traceback printed under an `error:` line."""
    for line in following:
        stripped = line.strip()
        if not stripped:
            continue
        if len(line) - len(line.lstrip()) <= indent:
            if stripped.startswith(_NOISE) or _ERROR_LINE.match(line):
                return None
            return _MODULE_PATH.sub("", stripped)
    return None


def lock_holder(stderr: str) -> Optional[str]:
    """`user@host, pid N, taken 3m ago at <time> UTC` of each lock the message names, or None."""
    from automation.locks import holders_text

    return holders_text(stderr)


def classify(error: BaseException, *, stack: Optional[str] = None) -> Failure:
    """Map any exception to (exit code, message); the only such mapping."""
    if isinstance(error, PhoenixError):
        return Failure(error.code, str(error))
    if isinstance(error, KeyboardInterrupt):
        return Failure(ExitCode.INTERRUPTED, "interrupted")
    names = {cls.__name__ for cls in type(error).__mro__}
    module = type(error).__module__
    if "CommandError" in names and module.startswith("pulumi.automation"):
        stdout, stderr = _command_output(error)
        if "ConcurrentUpdateError" in names:
            return Failure(
                ExitCode.LOCKED,
                str(StackLocked(stack or "?", lock_holder(stderr) or "")),
            )
        if "StackNotFoundError" in names:
            return Failure(
                ExitCode.FAILED,
                f"stack {stack!r} does not exist" if stack else engine_message(stdout, stderr),
            )
        prefix = f"{stack}: " if stack else ""
        return Failure(ExitCode.FAILED, prefix + engine_message(stdout, stderr))
    if "PulumiCliMissing" in names:
        return Failure(ExitCode.BAD_INPUT, str(error))
    if "InvalidVersionError" in names:
        return Failure(ExitCode.BAD_INPUT, f"unusable Pulumi CLI: {error}")
    if "SettingsError" in names or "FeatureError" in names or "ConfigError" in names:
        return Failure(ExitCode.BAD_INPUT, str(error))
    if "OctopusError" in names:
        if "OctopusAuthError" in names:
            return Failure(ExitCode.BAD_INPUT, f"Octopus refused the API key: {error}")
        return Failure(ExitCode.FAILED, f"Octopus: {error}")
    if isinstance(error, OSError):
        return Failure(ExitCode.FAILED, f"{type(error).__name__}: {error}")
    return Failure(ExitCode.FAILED, f"unexpected error: {type(error).__name__}: {error}")


def _command_output(error: BaseException) -> tuple[str, str]:
    """stdout and stderr of a failed `pulumi` run.

    The engine module attaches the CommandResult; otherwise they are read back
    from CommandError's text ("\n code: N\n stdout: ...\n stderr: ...").
    """
    result = getattr(error, "command_result", None)
    if result is not None:
        return result.stdout or "", result.stderr or ""
    text = str(error)
    marker_out, marker_err = "\n stdout: ", "\n stderr: "
    if marker_out in text and marker_err in text:
        _, _, rest = text.partition(marker_out)
        stdout, _, stderr = rest.partition(marker_err)
        return stdout, stderr
    return "", text
