"""The pure renderer: every value quoted for its shell, hostile values refused or inert, within EC2's limit."""

from __future__ import annotations

import dataclasses
import difflib
import gzip
import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from bootstrap import render
from bootstrap.render import (
    USERDATA_LIMIT_BYTES,
    BootstrapSettings,
    BootstrapSettingsError,
    bash_variable,
    render_userdata,
    packed_script,
    script_source,
    unpacked_script,
    userdata_bytes,
    userdata_text,
)
from tests.bootstrap.samples import HOSTILE_NAME
from tests.bootstrap.samples import sample_settings as settings

REPO = Path(__file__).resolve().parents[2]


def linux_settings_block(userdata: str) -> str:
    match = re.search(r"<<'PHOENIX_SETTINGS'\n(.*?)\nPHOENIX_SETTINGS\n", userdata, re.DOTALL)
    assert match, "the settings here-document is missing"
    return match.group(1)


def values_as_bash_sees_them(block: str, tmp_path: Path) -> dict[str, list[str]]:
    """Sources the settings like the script does and prints every variable back, NUL-separated."""
    settings_file = tmp_path / "bootstrap.env"
    settings_file.write_text(block)
    names = [bash_variable(field.name) for field in dataclasses.fields(BootstrapSettings)]
    program = 'source "$1"\n' + "".join(f'printf "%s\\0" {name} "${{{name}[@]}}"; printf "\\n"\n' for name in names)
    done = subprocess.run(["bash", "-c", program, "bash", str(settings_file)], capture_output=True, text=True,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}, check=True)
    result = {}
    for line in done.stdout.rstrip("\n").split("\n"):
        name, *values = line.split("\0")[:-1]
        result[name] = values
    return result


def test_every_setting_reaches_bash_exactly(tmp_path: Path) -> None:
    chosen = settings(tenant=HOSTILE_NAME, environment="Feature 'QA'", roles=("web server", HOSTILE_NAME),
                      space="Dev $PATH", machine_policy="`reboot`")

    seen = values_as_bash_sees_them(linux_settings_block(render_userdata(chosen, "linux")), tmp_path)

    for field in dataclasses.fields(BootstrapSettings):
        value = getattr(chosen, field.name)
        expected = list(value) if isinstance(value, tuple) else [str(value)]
        assert seen[bash_variable(field.name)] == expected, field.name
    assert list(tmp_path.rglob("pwned")) == []


def test_the_script_requires_exactly_the_rendered_settings() -> None:
    match = re.search(r"^REQUIRED_SETTINGS=\((.*?)\)", script_source("linux"), re.DOTALL | re.MULTILINE)
    required = {"PHOENIX_" + name for name in match.group(1).split()}

    rendered = {field_name_of(line) for line in linux_settings_block(render_userdata(settings())).splitlines()}

    assert required | {"PHOENIX_ROLES"} == rendered


def field_name_of(line: str) -> str:
    return line.split("=", 1)[0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tenant", "ryan0001\ntouch /tmp/pwned"),
        ("space", "Default\r"),
        ("environment", "Feature\x00"),
        ("machine_policy", "Feature \u2028environments"),
        ("tenant", "ryan\u202e1000"),
        ("environment", 'Feature"; rm -rf /; "'),
        ("environment", "Feature\\"),
        ("tenant", "</powershell><powershell>Remove-Item C:\\"),
        ("space", " Default"),
        ("space", ""),
        ("asg_name", "fleet$(reboot)"),
        ("asg_name", "fleet`reboot`"),
        ("lifecycle_hook_name", "launch;reboot"),
        ("region", "eu-west-1'"),
        ("registration_key_parameter", "/phoenix/key name"),
        ("registration_key_parameter", "API-ABCDEFGHIJKLMNOPQRSTUV1234"),
        ("tenant", "API-ABCDEFGHIJKLMNOPQRSTUV1234"),
        ("infrastructure_version", "1.0.0 && reboot"),
        ("machine_name_prefix", "-rf"),
        ("server_url", "https://user:secret@octopus.example.com"),
        ("server_url", "file:///etc/passwd"),
        ("server_url", "https://octopus.example.com/$(reboot) x"),
        ("health_url", "http://127.0.0.1/health\n"),
        ("tentacle_package_source", "octopus.example.com"),
        ("health_timeout_seconds", 0),
        ("health_timeout_seconds", True),
        ("health_timeout_seconds", "900"),
        ("health_interval_seconds", 901),
        ("roles", ()),
        ("roles", "web"),
        ("roles", ("web", "")),
        ("space", 42),
    ],
)
def test_values_that_could_break_out_are_refused(field: str, value: object) -> None:
    with pytest.raises(BootstrapSettingsError) as raised:
        settings(**{field: value})

    assert raised.value.field == field
    assert field in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_roles_given_as_a_list_become_a_tuple() -> None:
    assert settings(roles=["web", "api"]).roles == ("web", "api")


@pytest.mark.parametrize("platform", ["linux", "windows"])
def test_realistic_userdata_fits_and_holds_no_key(platform: str) -> None:
    stored = userdata_bytes(settings(), platform)
    userdata = userdata_text(stored)

    assert len(stored) <= USERDATA_LIMIT_BYTES
    assert userdata == render_userdata(settings(), platform)
    assert not re.search(r"API-[A-Z0-9]{16,}", userdata)
    if platform == "linux":
        assert script_source(platform).rstrip("\n") in userdata
    else:
        assert packed_script(script_source(platform)) in userdata


def test_linux_userdata_is_gzip_that_cloud_init_unpacks_and_the_same_bytes_every_time() -> None:
    stored = userdata_bytes(settings(), "linux")

    assert stored[:2] == b"\x1f\x8b", "cloud-init recognizes gzip by its magic number"
    assert gzip.decompress(stored).decode() == render_userdata(settings(), "linux")
    assert userdata_bytes(settings(), "linux") == stored, "a timestamp in the header would change every template"
    assert len(render_userdata(settings(), "linux").encode()) > USERDATA_LIMIT_BYTES > len(stored)


def test_windows_userdata_is_plain_text_for_ec2launch() -> None:
    assert userdata_bytes(settings(), "windows") == render_userdata(settings(), "windows").encode()


@pytest.mark.parametrize("platform", ["linux", "windows"])
def test_userdata_over_the_limit_is_refused(platform: str) -> None:
    # Digests, so compression cannot bring them under the limit.
    many_roles = tuple(f"role-{index:03d}-" + hashlib.sha512(str(index).encode()).hexdigest()
                       for index in range(250))

    with pytest.raises(ValueError, match=f"over EC2's limit of {USERDATA_LIMIT_BYTES}"):
        userdata_bytes(settings(roles=many_roles), platform)


@pytest.mark.parametrize("platform", ["linux", "windows"])
def test_a_new_infrastructure_version_changes_only_the_version(platform: str) -> None:
    before = render_userdata(settings(infrastructure_version="1.0.0-ryan0001+aaaa"), platform).splitlines()
    after = render_userdata(settings(infrastructure_version="1.0.0-ryan0001+bbbb"), platform).splitlines()

    changed = [line for line in difflib.unified_diff(before, after, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]

    assert len(changed) == 4
    assert all("1.0.0-ryan0001+" in line for line in changed)


def test_a_placeholder_in_a_value_is_not_expanded() -> None:
    userdata = render_userdata(settings(tenant="__PHOENIX_SCRIPT__"), "linux")

    assert userdata.count("Boots one fleet instance") == 1
    assert "PHOENIX_TENANT='__PHOENIX_SCRIPT__'" in userdata


def test_a_script_that_would_end_its_embedding_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(render, "script_source", lambda _platform: "#!/bin/bash\necho one\nPHOENIX_SCRIPT\necho two\n")

    with pytest.raises(ValueError, match="ends its here"):
        render_userdata(settings(), "linux")


def test_a_windows_script_travels_packed_whatever_it_holds(monkeypatch) -> None:
    script = "Write-Host 1\n'@\n</powershell>\nWrite-Host 2"
    monkeypatch.setattr(render, "script_source", lambda _platform: script)

    userdata = render_userdata(settings(), "windows")

    assert "'@\n</powershell>" not in userdata
    assert unpacked_script(re.search(r"FromBase64String\('([A-Za-z0-9+/=]+)'\)", userdata).group(1)) == script


def test_script_source_is_the_shipped_script() -> None:
    assert script_source("linux") == (REPO / "bootstrap/linux/bootstrap.sh").read_text()
    assert script_source("windows") == (REPO / "bootstrap/windows/bootstrap.ps1").read_text()


def test_unknown_platform_and_wrong_argument_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown platform 'macos'"):
        render_userdata(settings(), "macos")
    with pytest.raises(ValueError, match="unknown platform"):
        script_source("Linux")
    with pytest.raises(TypeError, match="BootstrapSettings"):
        render_userdata({"server_url": "https://octopus.example.com"}, "linux")


def test_windows_userdata_is_one_powershell_block() -> None:
    userdata = render_userdata(settings(tenant=HOSTILE_NAME), "windows")

    assert userdata.startswith("<powershell>\n") and userdata.endswith("</powershell>\n")
    assert userdata.count("</powershell>") == 1 and userdata.count("<powershell>") == 1
