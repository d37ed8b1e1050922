"""defaults.yaml + command-line flags -> the validated stack config of one feature.

Every command that touches a stack rebuilds its config this way (CI workspaces
are thrown away), so a stack's config is always derived, never hand-edited.
Validation happens here, before any stack is touched: a bad value fails with
the file (or flag, or variable) it came from, the key and the reason.
Secrets come only from the environment and are kept out of reprs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from automation.feature import Feature

DEFAULTS_FILE = Path("stacks") / "defaults.yaml"

#: Secret stack-config keys and the only variables they are read from.
SECRET_ENV = {
    "octopus:apiKey": "OCTOPUS_API_KEY",
    "octopus:registrationApiKey": "OCTOPUS_REGISTRATION_API_KEY",
}
REQUIRED_SECRETS = ("octopus:apiKey",)
#: The sensitive tenant variable values (JSON), read from the variables that
#: defaults.yaml names under octopus.tenantVariables.sensitive.
TENANT_VARIABLE_SECRETS = "phoenix:tenantVariableSecrets"

#: defaults.yaml section -> (stack-config key for the whole section as an
#: object, {file key -> stack-config key} for keys lifted out of it).
_SECTIONS: dict[str, tuple[Optional[str], dict[str, str]]] = {
    "aws": (None, {"region": "aws:region"}),
    "octopus": ("phoenix:octopus", {"serverUrl": "octopus:serverUrl", "space": "octopus:space"}),
    "feature": (None, {"ttl": "phoenix:ttl", "maxTtl": "phoenix:maxTtl", "maxCostPerDay": "phoenix:maxCostPerDay",
                          "awakeHours": "phoenix:awakeHours"}),
    "network": ("phoenix:network", {}),
    "fleet": ("phoenix:fleet", {}),
    "tags": ("phoenix:tags", {}),
    "dns": ("phoenix:dns", {}),
}
_FEATURE_KEYS = ("phoenix:feature", "phoenix:packageVersion")


class ConfigError(ValueError):
    """A bad setting: where it came from, which key, and why."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")


Origin = tuple[str, str]
"""(source, key as written there): ("stacks/defaults.yaml", "network.nat"), ("--set", "aws:region")."""


def describe(origin: Origin) -> str:
    return f"{origin[0]}: {origin[1]}"


@dataclass(frozen=True)
class Sources:
    """Merged defaults and --set overrides, before the feature is known."""

    values: dict[str, Any]
    origins: dict[str, Origin]
    """Config key (or dotted path into an object) -> where it was written."""
    defaults_path: Path

    def origin(self, key: str) -> Optional[Origin]:
        """Where a key came from; a key inside an object inherits the object's origin."""
        probe, suffix = key, ""
        while probe:
            if probe in self.origins:
                source, written = self.origins[probe]
                return source, written + suffix
            cut = max(probe.rfind("."), probe.rfind("["))
            if cut <= 0:
                return None
            probe, suffix = probe[:cut], probe[cut:] + suffix
        return None

    def octopus_target(self) -> tuple[str, str, str]:
        """(server URL, space, project) for looking up the feature's releases."""
        octopus = self.values.get("phoenix:octopus")
        project = octopus.get("project") if isinstance(octopus, dict) else None
        return (
            str(self.values.get("octopus:serverUrl") or ""),
            str(self.values.get("octopus:space") or "Default"),
            str(project or ""),
        )

    @property
    def ttl(self) -> Optional[str]:
        value = self.values.get("phoenix:ttl")
        return value if isinstance(value, str) else None

    @property
    def max_ttl(self) -> Optional[str]:
        value = self.values.get("phoenix:maxTtl")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class StackConfig:
    """The full config written to one feature's stack, already validated."""

    values: dict[str, Any]
    """Plain (non-secret) config: str, bool, numbers, lists and objects."""
    secrets: dict[str, str] = field(repr=False)
    """Secret config, written encrypted; never printed."""
    sources: dict[str, str]
    """Config key -> "<source>: <key>", for messages and doctor."""
    settings: Any = field(repr=False, default=None)
    """The typed `FeatureSettings` that `components.settings.parse_settings` returned."""

    def flat(self) -> dict[str, Any]:
        """The mapping `parse_settings` and doctor read: plain values and secrets together."""
        merged: dict[str, Any] = dict(self.values)
        for key in SECRET_ENV:
            merged[key] = self.secrets.get(key)
        merged.update({key: value for key, value in self.secrets.items() if key not in SECRET_ENV})
        return merged

    def plain_json(self) -> str:
        """Plain values in `pulumi config set-all --json` form (objects stay objects)."""
        document: dict[str, Any] = {}
        for key, value in self.values.items():
            if isinstance(value, (dict, list)):
                document[key] = {"value": json.dumps(value), "objectValue": value, "secret": False}
            else:
                document[key] = {"value": _scalar_text(value), "secret": False}
        return json.dumps(document)

    def keys(self) -> set[str]:
        return set(self.values) | set(self.secrets)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def defaults_path(work_dir: Path, explicit: Optional[str] = None) -> Path:
    """--defaults, else the work dir's stacks/defaults.yaml, else this repository's."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    own = Path(work_dir) / DEFAULTS_FILE
    if own.is_file():
        return own.resolve()
    from automation.pulumi_cli import PROJECT_ROOT

    return (PROJECT_ROOT / DEFAULTS_FILE).resolve()


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_defaults(path: Path) -> dict[str, Any]:
    shown = _display(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(shown, "", "file not found (pass --defaults FILE)") from None
    except IsADirectoryError:
        raise ConfigError(shown, "", "is a folder, not a file (pass --defaults FILE)") from None
    except OSError as error:
        raise ConfigError(shown, "", f"cannot be read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            shown, f"line {line}",
            f"is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); save the file as UTF-8",
        ) from None
    import yaml

    try:
        document = load_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError(shown, where, problem) from None
    if document is None:
        raise ConfigError(
            shown, "", f"is empty: it holds the sections {', '.join(_SECTIONS)} "
            "(copy stacks/defaults.yaml of this repository and edit it)",
        )
    if not isinstance(document, dict):
        raise ConfigError(shown, "", "must be a mapping of sections (aws, octopus, feature, ...)")
    return document


_DECIMAL_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_DECIMAL_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")


def load_yaml(text: str) -> Any:
    """YAML as phoenix reads settings: a key given twice is an error naming both lines, and a
    number must be written in decimal (YAML 1.1 would read 0x10 as 16, 010 as 8 and 1:20 as 80)."""
    import yaml

    class Refused(yaml.MarkedYAMLError):
        pass

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        loader.flatten_mapping(node)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
                seen.setdefault(key, line)
            except TypeError:
                continue  # an unhashable key: the base constructor says so
            if first is not None:
                raise Refused(
                    None, None,
                    f"duplicate key {key!r} (also on line {first}): a later value would silently replace "
                    "the earlier one",
                    key_node.start_mark,
                )
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    def number(kind: str, pattern: re.Pattern, base: Any) -> Any:
        def construct(loader: Any, node: Any) -> Any:
            text = loader.construct_scalar(node)
            if not pattern.match(text):
                read = base(loader, node)
                raise Refused(
                    None, None,
                    f"{text!r} is not a decimal {kind} (YAML would read it as {read!r}); write it in decimal, "
                    "or quote it if it is text",
                    node.start_mark,
                )
            return base(loader, node)

        return construct

    StrictLoader.add_constructor("tag:yaml.org,2002:map", mapping)
    StrictLoader.add_constructor(
        "tag:yaml.org,2002:int", number("number", _DECIMAL_INT, yaml.SafeLoader.construct_yaml_int)
    )
    StrictLoader.add_constructor(
        "tag:yaml.org,2002:float", number("number", _DECIMAL_FLOAT, yaml.SafeLoader.construct_yaml_float)
    )
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


def _from_defaults(document: Mapping[str, Any], path: Path) -> tuple[dict[str, Any], dict[str, Origin]]:
    shown = _display(path)
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for section, body in document.items():
        if section not in _SECTIONS:
            raise ConfigError(
                shown, str(section), f"unknown section; expected one of {', '.join(_SECTIONS)}"
            )
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ConfigError(shown, section, f"must be a mapping, not {type(body).__name__}")
        object_key, lifted = _SECTIONS[section]
        rest: dict[str, Any] = {}
        for key, value in body.items():
            if key in lifted:
                values[lifted[key]] = value
                origins[lifted[key]] = (shown, f"{section}.{key}")
            elif object_key is None:
                raise ConfigError(
                    shown, f"{section}.{key}",
                    f"unknown key; expected one of {', '.join(lifted)}",
                )
            else:
                rest[str(key)] = value
                origins[f"{object_key}.{key}"] = (shown, f"{section}.{key}")
        if object_key is not None:
            values[object_key] = rest
            origins[object_key] = (shown, section)
    return values, origins


def _override_value(raw: str, current: Any, key: str = "") -> Any:
    """A --set value, typed like the value it replaces.

    Replacing text keeps the text; replacing a number, flag, list or object
    reads YAML, with numbers in decimal only and no key twice. A key the
    defaults do not hold is text unless it is plainly a flag or a YAML
    list/object: `007` stays `007`, as a tag value must.
    """
    if isinstance(current, str):
        return raw
    import yaml

    try:
        parsed = load_yaml(raw) if raw.strip() else ""
    except yaml.MarkedYAMLError as error:
        if current is None or not getattr(error, "problem", None):
            return raw
        if "duplicate key" not in error.problem and "decimal" not in error.problem:
            return raw
        raise ConfigError("--set", key, error.problem) from None
    except yaml.YAMLError:
        return raw
    if current is None:
        return parsed if isinstance(parsed, (bool, list, dict)) else raw
    if isinstance(parsed, (str, bool, int, float, list, dict)) or parsed is None:
        return parsed
    return raw


def parse_override(item: str) -> tuple[str, list[str], str]:
    """`ns:key.path=value` -> (top key, path below it, raw value)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("--set", item, "expected KEY=VALUE, e.g. phoenix:fleet.minSize=2")
    top, *path = key.split(".")
    namespace, colon, name = top.partition(":")
    if not colon or not namespace or not name or any(not part for part in path):
        raise ConfigError(
            "--set", key, "keys are namespaced stack-config keys, e.g. aws:region or phoenix:network.nat"
        )
    if top in SECRET_ENV:
        raise ConfigError(
            "--set", key,
            f"a secret is never taken from the command line; set {SECRET_ENV[top]} instead",
        )
    if top == TENANT_VARIABLE_SECRETS:
        raise ConfigError(
            "--set", key, "a secret is never taken from the command line; name its environment "
            "variable in octopus.tenantVariables.sensitive",
        )
    if top in _FEATURE_KEYS:
        raise ConfigError("--set", key, "comes from FEATURE and --version, not --set")
    from components.settings import IMAGE_KEY

    if top == IMAGE_KEY:
        raise ConfigError("--set", key, "is pinned by create (--refresh-image moves it); choose an image with "
                          "phoenix:fleet.amiId")
    return top, path, raw


def _apply_override(values: dict[str, Any], origins: dict[str, Origin], item: str) -> None:
    top, path, raw = parse_override(item)
    full = ".".join([top, *path])
    # What the value replaces no longer comes from where it came from: a key missing below it
    # now is the --set's doing, not the defaults file's.
    for key in [key for key in origins if key.startswith((full + ".", full + "["))]:
        del origins[key]
    if not path:
        values[top] = _override_value(raw, values.get(top), full)
        origins[top] = ("--set", full)
        return
    node = values.setdefault(top, {})
    if not isinstance(node, dict):
        raise ConfigError("--set", full, f"{top} is not an object")
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError("--set", full, f"{part} is not an object")
        node = child
    node[path[-1]] = _override_value(raw, node.get(path[-1]), full)
    origins[full] = ("--set", full)


def load(work_dir: Path, overrides: Sequence[str] = (), explicit_defaults: Optional[str] = None) -> Sources:
    """Read defaults.yaml and apply --set overrides (structure only; values validated later)."""
    path = defaults_path(work_dir, explicit_defaults)
    values, origins = _from_defaults(read_defaults(path), path)
    for item in overrides:
        _apply_override(values, origins, item)
    return Sources(values=values, origins=origins, defaults_path=path)


def read_secrets(environ: Mapping[str, str], *, require: bool) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for key, variable in SECRET_ENV.items():
        value = (environ.get(variable) or "").strip()
        if value:
            secrets[key] = value
        elif require and key in REQUIRED_SECRETS:
            raise ConfigError(
                "environment", variable,
                f"is not set; it holds the Octopus API key written to the stack as the secret {key}",
            )
    return secrets


def tenant_variable_secrets(
    values: Mapping[str, Any], environ: Mapping[str, str], *, stand_in: Optional[str] = None
) -> Optional[str]:
    """The sensitive tenant variable values as the secret config holds them (JSON), or None.

    Only those whose variable is set: a missing one is the settings' error to
    report, with the template and the variable it names. With `stand_in`, every
    template gets that text instead: what a command that never runs the
    program (destroy, reap) validates, so it needs none of the variables.
    """
    octopus = values.get("phoenix:octopus")
    section = octopus.get("tenantVariables") if isinstance(octopus, dict) else None
    sensitive = section.get("sensitive") if isinstance(section, dict) else None
    if not isinstance(sensitive, dict) or not sensitive:
        return None
    found = {
        str(name): stand_in or environ[variable]
        for name, variable in sensitive.items()
        if isinstance(variable, str) and (stand_in or environ.get(variable))
    }
    return json.dumps(found, sort_keys=True)


def _validate(flat: Mapping[str, Any], sources: Sources) -> Any:
    from components.settings import SettingsError, parse_settings

    try:
        return parse_settings(flat)
    except SettingsError as error:
        key = getattr(error, "key", "") or ""
        reason = getattr(error, "reason", "") or str(error)
        origin = sources.origin(key) or _FIXED_ORIGINS.get(key) or ("stack config", key)
        raise ConfigError(origin[0], origin[1], reason) from None


_FIXED_ORIGINS: dict[str, Origin] = {
    "phoenix:feature": ("FEATURE", "phoenix:feature"),
    "phoenix:packageVersion": ("FEATURE or --version", "phoenix:packageVersion"),
    **{key: ("environment", variable) for key, variable in SECRET_ENV.items()},
}


def collect(
    sources: Sources,
    feature: Optional[Feature],
    *,
    package_version: Optional[str],
    environ: Mapping[str, str],
    require_api_key: bool = True,
    image_id: Optional[str] = None,
) -> StackConfig:
    """The config of one feature's stack, not yet validated (`settings` is None).

    `build` validates what this returns; doctor reads it as it is, so that a
    bad value, a missing API key or a feature not named yet are findings it
    reports (with `require_api_key=False`, a missing key is left None).
    """
    values = json.loads(json.dumps(sources.values, default=str))
    if feature is not None:
        values["phoenix:feature"] = feature.id
    if package_version:
        values["phoenix:packageVersion"] = package_version
    if image_id:
        from components.settings import IMAGE_KEY

        values[IMAGE_KEY] = image_id  # pinned by automation/image.py, never by --set
    origins = {**_FIXED_ORIGINS, **sources.origins}
    secrets = read_secrets(environ, require=require_api_key)
    sensitive = tenant_variable_secrets(values, environ)
    if sensitive is not None:
        secrets[TENANT_VARIABLE_SECRETS] = sensitive
    return StackConfig(
        values=values,
        secrets=secrets,
        sources={key: describe(origin) for key, origin in origins.items()},
    )


def build(
    sources: Sources,
    feature: Feature,
    *,
    package_version: Optional[str],
    environ: Mapping[str, str],
    require_api_key: bool = True,
    runs_program: bool = True,
    image_id: Optional[str] = None,
) -> StackConfig:
    """The validated config of one feature's stack.

    Without a package version (destroy of a stack that never recorded one) the
    key is left out of the stack and a stand-in is validated in its place:
    destroy never runs the program that would read it. For the same reason a
    command that does not run the program (`runs_program=False`: destroy, reap)
    needs no registration key: a stand-in is validated, none is written.
    """
    config = collect(
        sources, feature, package_version=package_version, environ=environ,
        require_api_key=require_api_key, image_id=image_id,
    )
    flat = config.flat()
    flat.setdefault("phoenix:packageVersion", f"0.0.0-{feature.id}")
    if not runs_program:
        flat["octopus:registrationApiKey"] = REGISTRATION_STAND_IN
        stand_ins = tenant_variable_secrets(config.values, {}, stand_in=REGISTRATION_STAND_IN)
        if stand_ins is not None:
            flat[TENANT_VARIABLE_SECRETS] = stand_ins
    return replace(config, settings=_validate(flat, sources))


#: What a command that never runs the program validates in place of the registration key.
REGISTRATION_STAND_IN = "not-read-by-this-command"


def find_package_version(sources: Sources, feature: Feature, api_key: str) -> str:
    """The newest release of the Octopus project whose pre-release tag names the feature."""
    from automation.errors import InputError
    from automation.feature import newest_version
    from components.octopus.client import OctopusClient
    from components.octopus.errors import OctopusNotFound

    server_url, space, project_name = sources.octopus_target()
    if not server_url or not project_name:
        raise ConfigError(
            _display(sources.defaults_path), "octopus.serverUrl / octopus.project",
            "needed to find the feature's release; or pass --version",
        )
    with OctopusClient(server_url, api_key, space) as client:
        try:
            project = client.find_project(project_name)
        except OctopusNotFound as error:
            raise InputError(f"cannot find the feature's release: {error}") from None
        versions = [release.get("Version", "") for release in client.releases(project["Id"])]
    version = newest_version(versions, feature.id)
    if version is None:
        raise InputError(
            f"no release of Octopus project {project_name!r} has a pre-release tag naming "
            f"{feature.id!r} (e.g. 1.0.0-{feature.id}); build and publish one, or pass --version"
        )
    return version
