"""Turns an instance's settings and the bootstrap script into EC2 userdata.

The userdata is a small wrapper (``linux/userdata.tmpl``, ``windows/userdata.tmpl``)
that writes a settings file and the script to disk and runs the script, so the
script can be run again by hand later. The Linux wrapper holds the script as it is;
the Windows one holds it gzip-compressed in base64 (`packed_script`) and unpacks it. Every value is quoted for the shell that
reads it and validated first: a value that could end its quoting, a line or the
userdata block is refused, never escaped "well enough".

The registration key is not a setting: the instance reads it from SSM at boot, so
no rendering of these settings can ever contain it.

EC2 takes at most 16 KB of userdata. Linux userdata goes gzip-compressed, which
cloud-init unpacks before it runs the script (cloud-init's user-data formats:
"Gzip compressed content"); EC2Launch on Windows reads only plain text, so there
only the script inside is compressed.
"""

from __future__ import annotations

import base64
import gzip
import re
import unicodedata
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from bootstrap import health

#: EC2 refuses userdata larger than this (before base64 encoding).
USERDATA_LIMIT_BYTES = 16384

PLATFORMS = ("linux", "windows")

_HERE = Path(__file__).resolve().parent
_SCRIPTS = {"linux": _HERE / "linux" / "bootstrap.sh", "windows": _HERE / "windows" / "bootstrap.ps1"}
_WRAPPERS = {"linux": _HERE / "linux" / "userdata.tmpl", "windows": _HERE / "windows" / "userdata.tmpl"}
_PLACEHOLDER = re.compile(r"__PHOENIX_(VERSION|SETTINGS|SCRIPT)__")

# Characters no value may hold on either platform: quotes that Windows' native
# argument passing mangles, path separators it misreads before a closing quote,
# and the angle brackets that end EC2Launch's <powershell> block.
_FORBIDDEN = frozenset('"\\<>')
_API_KEY = re.compile(r"API-[A-Z0-9]{16,}")
_POWERSHELL_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_MAX_NAME = 200

_SSM_PARAMETER = re.compile(r"/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
_HOOK_NAME = re.compile(r"[A-Za-z0-9_/-]{1,255}")
_ASG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_MACHINE_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")


class BootstrapSettingsError(ValueError):
    """A setting that cannot go into userdata; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"bootstrap setting {field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class BootstrapSettings:
    """What one instance needs at boot; validated on construction."""

    server_url: str
    """Octopus Server URL the Tentacle registers with."""
    space: str
    """Octopus space name."""
    environment: str
    """Octopus environment the machine joins."""
    roles: tuple[str, ...]
    """Target roles the machine gets (the project's steps target them)."""
    tenant: str
    """The feature's tenant; the machine takes part in tenanted deployments only."""
    machine_policy: str
    """Machine policy name (cleans up machines left unavailable)."""
    registration_key_parameter: str
    """Name of the SSM SecureString parameter holding the registration key, never the key."""
    health_url: str
    """The app's local health URL: healthy once Octopus has deployed the app."""
    health_timeout_seconds: int
    """How long the instance waits for a healthy app before it abandons the launch."""
    lifecycle_hook_name: str
    """The launch lifecycle hook the instance completes."""
    termination_hook_name: str
    """The termination lifecycle hook the instance completes once its machine is out of Octopus."""
    asg_name: str
    """The auto scaling group the instance belongs to."""
    region: str
    """AWS region the settings were rendered for."""
    infrastructure_version: str
    """Stamp of this infrastructure; a new one means new userdata and a refresh."""
    tentacle_package_source: str
    """Linux: the Tentacle package repository base URL; Windows: the Tentacle MSI URL."""
    machine_name_prefix: str
    """Machine names are ``<prefix>-<instance id>``."""
    health_interval_seconds: int = 5
    """Pause between health checks."""
    healthy_status_codes: str = health.DEFAULT
    """The codes that mean healthy, in the load balancer matcher's syntax (`bootstrap.health`)."""
    heartbeat_interval_seconds: int = 60
    """How often the launch hook's heartbeat is recorded: a fraction of its timeout."""

    def __post_init__(self) -> None:
        if isinstance(self.roles, list):
            object.__setattr__(self, "roles", tuple(self.roles))
        _validate(self)


def script_source(platform: str) -> str:
    """The bootstrap script as shipped, embedded verbatim in the userdata."""
    return _read(_SCRIPTS[_check_platform(platform)])


def wrapper_source(platform: str) -> str:
    """The userdata template the settings and the script are put into."""
    return _read(_WRAPPERS[_check_platform(platform)])


def render_userdata(settings: BootstrapSettings, platform: str = "linux") -> str:
    """The complete userdata for ``platform``: wrapper, quoted settings and the script."""
    platform = _check_platform(platform)
    if not isinstance(settings, BootstrapSettings):
        raise TypeError(f"render_userdata needs BootstrapSettings, not {type(settings).__name__}")
    script = script_source(platform)
    _check_embeddable(script, platform)
    if platform == "linux":
        rendered_settings = "\n".join(_bash_assignment(name, value) for name, value in _items(settings))
    else:
        rendered_settings = "\n".join(
            ["@{", *(_powershell_entry(name, value) for name, value in _items(settings)), "}"]
        )
    parts = {
        "VERSION": settings.infrastructure_version,
        "SETTINGS": rendered_settings,
        "SCRIPT": script.rstrip("\n") if platform == "linux" else packed_script(script),
    }
    # One pass: text put in for a placeholder is never searched for another one.
    return _PLACEHOLDER.sub(lambda match: parts[match.group(1)], wrapper_source(platform))


def packed_script(script: str) -> str:
    """The Windows script as its wrapper holds it: gzip (no timestamp, so the same every time) in base64."""
    return base64.b64encode(gzip.compress(script.rstrip("\n").encode("utf-8"), mtime=0)).decode("ascii")


def unpacked_script(packed: str) -> str:
    return gzip.decompress(base64.b64decode(packed)).decode("utf-8")


def userdata_bytes(settings: BootstrapSettings, platform: str = "linux") -> bytes:
    """The userdata as EC2 stores it: gzip on Linux (the same bytes for the same text: no timestamp), plain
    text on Windows; refused over EC2's limit."""
    text = render_userdata(settings, platform).encode("utf-8")
    data = gzip.compress(text, mtime=0) if platform == "linux" else text
    if len(data) > USERDATA_LIMIT_BYTES:
        packed = " compressed" if platform == "linux" else ""
        raise ValueError(
            f"{platform} userdata is {len(data)} bytes{packed}, over EC2's limit of {USERDATA_LIMIT_BYTES}; "
            "shorten the settings"
        )
    return data


def userdata_text(data: bytes) -> str:
    """What an instance runs, from the bytes EC2 holds (`userdata_bytes`)."""
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8")


def bash_variable(field: str) -> str:
    """The variable the Linux script reads a setting from."""
    return "PHOENIX_" + field.upper()


def powershell_key(field: str) -> str:
    """The settings-file key the Windows script reads a setting from."""
    return "".join(part.capitalize() for part in field.split("_"))


def bash_quote(value: str) -> str:
    """Single quotes: bash expands nothing inside them; a quote ends, escapes and restarts them."""
    return "'" + value.replace("'", "'\\''") + "'"


def powershell_quote(value: str) -> str:
    """Single quotes: PowerShell expands nothing inside; each of its five single-quote characters is doubled."""
    return "'" + "".join(c * 2 if c in _POWERSHELL_SINGLE_QUOTES else c for c in value) + "'"


def _items(settings: BootstrapSettings) -> list[tuple[str, str | int | tuple[str, ...]]]:
    return [(f.name, getattr(settings, f.name)) for f in fields(settings)]


def _bash_assignment(name: str, value: str | int | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        return f"{bash_variable(name)}=({' '.join(bash_quote(item) for item in value)})"
    if isinstance(value, int):
        return f"{bash_variable(name)}={value}"
    return f"{bash_variable(name)}={bash_quote(value)}"


def _powershell_entry(name: str, value: str | int | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        rendered = "@(" + ", ".join(powershell_quote(item) for item in value) + ")"
    elif isinstance(value, int):
        rendered = str(value)
    else:
        rendered = powershell_quote(value)
    return f"    {powershell_key(name)} = {rendered}"


def _check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
    return platform


def _check_embeddable(script: str, platform: str) -> None:
    """The Linux wrapper embeds the script verbatim; a line that ends the embedding would cut it short.
    (The Windows one holds base64, which cannot end its string.)"""
    if platform == "linux" and "PHOENIX_SCRIPT" in script.splitlines():
        raise ValueError("the Linux script contains the line that ends its here-document")


@lru_cache(maxsize=None)
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _validate(settings: BootstrapSettings) -> None:
    for name in ("server_url", "health_url", "tentacle_package_source"):
        _check_url(name, getattr(settings, name))
    for name in ("space", "environment", "tenant", "machine_policy"):
        _check_name(name, getattr(settings, name))
    roles = settings.roles
    if not isinstance(roles, tuple) or not roles:
        raise BootstrapSettingsError("roles", "must be a non-empty list of role names")
    for role in roles:
        _check_name("roles", role)
    patterns = {
        "registration_key_parameter": (_SSM_PARAMETER, "an SSM parameter name such as /phoenix/octopus/registration-key"),
        "lifecycle_hook_name": (_HOOK_NAME, "1-255 letters, digits, '-', '_' or '/'"),
        "termination_hook_name": (_HOOK_NAME, "1-255 letters, digits, '-', '_' or '/'"),
        "asg_name": (_ASG_NAME, "letters, digits, '.', '_' or '-', at most 255"),
        "region": (_REGION, "an AWS region such as eu-west-1"),
        "infrastructure_version": (_VERSION, "letters, digits, '.', '_', '+' or '-', at most 128"),
        "machine_name_prefix": (_MACHINE_PREFIX, "letters, digits, '.', '_' or '-', at most 64"),
    }
    for name, (pattern, expected) in patterns.items():
        value = getattr(settings, name)
        _check_text(name, value)
        if not pattern.fullmatch(value):
            raise BootstrapSettingsError(name, f"{value!r} is not valid: expected {expected}")
    if len(settings.registration_key_parameter) > 2048:
        raise BootstrapSettingsError("registration_key_parameter", "longer than SSM's 2048 characters")
    _check_seconds("health_timeout_seconds", settings.health_timeout_seconds, 86400)
    _check_seconds("health_interval_seconds", settings.health_interval_seconds, settings.health_timeout_seconds)
    _check_seconds("heartbeat_interval_seconds", settings.heartbeat_interval_seconds, 7200)
    _check_text("healthy_status_codes", settings.healthy_status_codes)
    try:
        normal = health.normalized(settings.healthy_status_codes)
    except ValueError as error:
        raise BootstrapSettingsError("healthy_status_codes", str(error)) from None
    if normal != settings.healthy_status_codes:
        raise BootstrapSettingsError("healthy_status_codes", f"write {settings.healthy_status_codes!r} as {normal!r}")


def _check_text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise BootstrapSettingsError(field, f"must be a string, not {type(value).__name__}")
    if not value:
        raise BootstrapSettingsError(field, "must not be empty")
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise BootstrapSettingsError(field, f"contains the control character U+{ord(char):04X}")
        if char in _FORBIDDEN:
            raise BootstrapSettingsError(field, f"contains {char!r}, which userdata cannot carry safely")
    if _API_KEY.search(value):
        raise BootstrapSettingsError(
            field, "looks like an Octopus API key; userdata never holds one (the instance reads it from SSM)"
        )
    return value


def _check_name(field: str, value: object) -> None:
    value = _check_text(field, value)
    if value != value.strip():
        raise BootstrapSettingsError(field, f"{value!r} has leading or trailing spaces, which Octopus trims")
    if len(value) > _MAX_NAME:
        raise BootstrapSettingsError(field, f"longer than {_MAX_NAME} characters")


def _check_url(field: str, value: object) -> None:
    value = _check_text(field, value)
    if not _URL_CHARS.fullmatch(value):
        raise BootstrapSettingsError(field, f"{value!r} has characters a URL cannot hold unencoded")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BootstrapSettingsError(field, f"{value!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise BootstrapSettingsError(field, "must not carry credentials")


def _check_seconds(field: str, value: object, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BootstrapSettingsError(field, f"must be a whole number of seconds, not {type(value).__name__}")
    if not 1 <= value <= maximum:
        raise BootstrapSettingsError(field, f"{value} is outside 1..{maximum}")
